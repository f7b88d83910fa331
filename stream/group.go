package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/retry"
)

// GroupConsumer is a consumer-group member that hands the pipeline its
// messages in chunks: one goroutine per assigned partition fetches through
// its own connection to the partition's leader and sends the decoded
// messages as slices of up to chunkSize over one channel; FetchMessage pops
// them from the current slice with no lock or channel operation. It
// satisfies Consumer and costs less CPU per record than a kafka-go
// *kafka.Reader, which sets the connection's read deadline, updates its
// statistics under a mutex and makes a channel hand-over per message.
//
// Semantics the pipeline relies on, as the Reader's:
//   - each partition's messages come in offset order (across partitions,
//     interleaved by fetch);
//   - a partition with no committed offset starts at the start offset
//     (WithStartOffset, default the first one), one with a commit at it;
//   - when a generation of the group ends (a rebalance, the coordinator
//     lost), its partitions' fetch loops stop and the messages they fetched
//     but FetchMessage has not returned are dropped; the next generation
//     resumes each partition from its committed offset, so records after it
//     are delivered again (at least once; the pipeline re-tracks rewound
//     partitions);
//   - CommitMessages commits, per partition, the highest offset given + 1
//     in the current generation; offsets of partitions the generation does
//     not assign to this member are logged and dropped (not committed over
//     their new owner's), and between generations it waits for the next;
//   - during an outage the partitions' loops and the group retry by
//     themselves; a FetchMessage waiting for messages returns an error,
//     which the caller may retry, once joining the group or connecting to a
//     partition's leader has failed maxAttempts times in a row, or a fetch
//     failed with an error of the broker's (failures while it is not
//     waiting are not kept for later, unlike the Reader's queued errors);
//   - after Close, FetchMessage returns io.EOF and CommitMessages
//     io.ErrClosedPipe.
//
// FetchMessage must not be called concurrently with itself (the pipeline
// calls it from one goroutine); CommitMessages and Close may be called from
// any goroutine. Memory: at most len(assignments)+batchQueue chunks of
// chunkSize messages wait, besides the one being popped.
type GroupConsumer struct {
	cfg       kafka.ReaderConfig
	dialer    *kafka.Dialer // cfg.Dialer, its connections' reads buffered (fetchDialer)
	topic     string
	group     *kafka.ConsumerGroup
	batches   chan fetched
	free      chan []kafka.Message // chunks FetchMessage is done with, for reuse
	errs      chan error           // unbuffered: a failure reaches FetchMessage only while it waits
	live      atomic.Int64
	closed    chan struct{}
	stop      context.CancelFunc
	done      chan struct{} // run returned
	closeOnce sync.Once

	mu      sync.Mutex
	current *generation   // nil between generations
	begun   chan struct{} // closed when the next generation begins

	// FetchMessage's state: the batch being popped.
	cur    []kafka.Message
	pos    int
	curGen int64
}

// fetched is a chunk of one partition's messages, in offset order.
type fetched struct {
	gen  int64 // generation.seq of the fetch loop
	msgs []kafka.Message
}

// generation is the group generation this member consumes in.
type generation struct {
	seq   int64 // 1, 2, ... in this process; never 0
	gen   *kafka.Generation
	owned map[topicPartition]bool
}

const (
	// chunkSize is how many messages a partition's loop hands over at
	// once (fewer at the end of a fetch).
	chunkSize = 256
	// batchQueue is how many chunks wait for FetchMessage beyond the one
	// each partition's loop holds while its send blocks: 1024 messages,
	// the Reader's QueueCapacity.
	batchQueue = 4
	// maxAttempts is how many times in a row joining the group or
	// connecting to a leader fails before FetchMessage reports it (the
	// Reader's default MaxAttempts).
	maxAttempts = 3
	// fetchReadTimeout bounds reading a fetch's response beyond its
	// MaxWait (the Reader's default ReadBatchTimeout).
	fetchReadTimeout = 10 * time.Second
	// Backoff between failed connections or fetches of a partition (the
	// Reader's defaults).
	fetchBackoffMin = 100 * time.Millisecond
	fetchBackoffMax = time.Second
)

// NewGroupConsumer returns a member of group consuming topic, configured
// as NewReader (the same options and defaults: the group's timeouts, fetch
// sizes and wait, start offset, client ID and error log). It joins the
// group in the background; Close leaves it.
func NewGroupConsumer(conn Conn, group, topic string, opts ...ReaderOption) (*GroupConsumer, error) {
	cfg := readerConfig(conn, group, topic, opts)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     cfg.GroupID,
		Brokers:                cfg.Brokers,
		Dialer:                 cfg.Dialer,
		Topics:                 []string{topic},
		GroupBalancers:         cfg.GroupBalancers,
		HeartbeatInterval:      cfg.HeartbeatInterval,
		PartitionWatchInterval: cfg.PartitionWatchInterval,
		WatchPartitionChanges:  cfg.WatchPartitionChanges,
		SessionTimeout:         cfg.SessionTimeout,
		RebalanceTimeout:       cfg.RebalanceTimeout,
		JoinGroupBackoff:       cfg.JoinGroupBackoff,
		RetentionTime:          cfg.RetentionTime,
		StartOffset:            cfg.StartOffset,
		Logger:                 cfg.Logger,
		ErrorLogger:            cfg.ErrorLogger,
	})
	if err != nil {
		return nil, fmt.Errorf("creating consumer group %q: %w", group, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &GroupConsumer{
		cfg:     cfg,
		dialer:  fetchDialer(cfg.Dialer),
		topic:   topic,
		group:   cg,
		batches: make(chan fetched, batchQueue),
		free:    make(chan []kafka.Message, batchQueue+2),
		errs:    make(chan error),
		closed:  make(chan struct{}),
		stop:    stop,
		done:    make(chan struct{}),
		begun:   make(chan struct{}),
	}
	go c.run(ctx)
	return c, nil
}

// FetchMessage returns the next message: from the current batch without
// blocking, else the next batch of the live generation, waiting for one
// until ctx ends (ctx.Err()), the consumer is closed (io.EOF) or a failure
// is reported (see GroupConsumer).
func (c *GroupConsumer) FetchMessage(ctx context.Context) (kafka.Message, error) {
	done := ctx.Done()
	for {
		if c.pos < len(c.cur) {
			if c.live.Load() == c.curGen {
				select {
				case <-done:
					return kafka.Message{}, ctx.Err()
				default:
				}
				c.pos++
				return c.cur[c.pos-1], nil
			}
			c.pos = len(c.cur) // its generation ended: fetched again from the commit
		}
		if c.cur != nil {
			// Every message of it was returned (copied): reuse it.
			select {
			case c.free <- c.cur[:0]:
			default:
			}
			c.cur, c.pos = nil, 0
		}
		select {
		case b := <-c.batches:
			c.cur, c.pos, c.curGen = b.msgs, 0, b.gen // of an ended generation: dropped above
		case err := <-c.errs:
			return kafka.Message{}, err
		case <-done:
			return kafka.Message{}, ctx.Err()
		case <-c.closed:
			return kafka.Message{}, io.EOF
		}
	}
}

// CommitMessages commits, for each partition of msgs, its highest offset
// + 1 in the current generation, waiting for one if the group is between
// generations. Partitions the generation does not assign to this member
// are logged and left out; a commit the coordinator refuses (a generation
// that ended meanwhile) is an error, to be retried.
func (c *GroupConsumer) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	g, err := c.generation(ctx)
	if err != nil {
		return err
	}
	offsets := map[string]map[int]int64{}
	for _, m := range msgs {
		if !g.owned[topicPartition{m.Topic, m.Partition}] {
			c.logf("dropping the commit of %s/%d at offset %d: generation %d of group %s does not assign the partition to this member",
				m.Topic, m.Partition, m.Offset+1, g.gen.ID, c.cfg.GroupID)
			continue
		}
		byPartition := offsets[m.Topic]
		if byPartition == nil {
			byPartition = map[int]int64{}
			offsets[m.Topic] = byPartition
		}
		if o, ok := byPartition[m.Partition]; !ok || m.Offset+1 > o {
			byPartition[m.Partition] = m.Offset + 1
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	// CommitOffsets takes no context: it is bounded by the coordinator
	// connection's timeout, and ctx by returning early.
	errc := make(chan error, 1)
	go func() { errc <- g.gen.CommitOffsets(offsets) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("committing offsets of group %s in generation %d: %w", c.cfg.GroupID, g.gen.ID, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// generation returns the current generation, waiting for one to begin.
func (c *GroupConsumer) generation(ctx context.Context) (*generation, error) {
	for {
		c.mu.Lock()
		g, begun := c.current, c.begun
		c.mu.Unlock()
		if g != nil {
			return g, nil
		}
		select {
		case <-begun:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return nil, io.ErrClosedPipe
		}
	}
}

// Close leaves the group, stops the fetch loops and waits for them.
// FetchMessage then returns io.EOF.
func (c *GroupConsumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		c.stop()
		err = c.group.Close()
		<-c.done
	})
	if err != nil {
		return fmt.Errorf("closing consumer group %s: %w", c.cfg.GroupID, err)
	}
	return nil
}

// run takes each generation of the group in turn and starts a fetch loop
// per assigned partition in it, until ctx ends.
func (c *GroupConsumer) run(ctx context.Context) {
	defer close(c.done)
	failures := 0
	var seq int64
	for {
		gen, err := c.group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			// The group logs the failure and backs off by itself
			// (JoinGroupBackoff).
			failures++
			if failures >= maxAttempts {
				c.report(fmt.Errorf("joining consumer group %s: %w", c.cfg.GroupID, err))
			}
			continue
		}
		failures = 0
		seq++
		g := &generation{seq: seq, gen: gen, owned: map[topicPartition]bool{}}
		for _, a := range gen.Assignments[c.topic] {
			g.owned[topicPartition{c.topic, a.ID}] = true
		}
		c.begin(g)
		for _, a := range gen.Assignments[c.topic] {
			gen.Start(func(ctx context.Context) { c.consume(ctx, g.seq, a.ID, a.Offset) })
		}
		// Ends with the generation (which ends when any of its functions
		// returns, and the group waits for all of them).
		gen.Start(func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-c.closed:
			}
			c.end(g)
		})
	}
}

// begin makes g the live generation.
func (c *GroupConsumer) begin(g *generation) {
	c.mu.Lock()
	c.current = g
	close(c.begun)
	c.begun = make(chan struct{})
	c.mu.Unlock()
	c.live.Store(g.seq)
}

// end retires g: its batches not yet popped are dropped, and commits wait
// for the next generation.
func (c *GroupConsumer) end(g *generation) {
	c.live.CompareAndSwap(g.seq, 0)
	c.mu.Lock()
	if c.current == g {
		c.current = nil
	}
	c.mu.Unlock()
}

// consume fetches partition from offset (absolute, or kafka.FirstOffset or
// kafka.LastOffset) until ctx (the generation) ends, reconnecting to the
// partition's leader after failures.
func (c *GroupConsumer) consume(ctx context.Context, gen int64, partition int, offset int64) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 && retry.Sleep(ctx, retry.Backoff(attempt, fetchBackoffMin, fetchBackoffMax)) != nil {
			return
		}
		conn, start, err := c.connect(ctx, partition, offset)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return
		}
		if err != nil {
			err = fmt.Errorf("connecting to the leader of %s/%d: %w", c.topic, partition, err)
			c.logf("%v", err)
			if attempt >= maxAttempts && !errors.Is(err, kafka.OffsetOutOfRange) {
				c.report(err)
			}
			continue
		}
		attempt = 0
		offset, err = c.fetch(ctx, gen, conn, partition, start)
		conn.Close()
		if ctx.Err() != nil {
			return
		}
		c.logf("fetching %s/%d at offset %d: %v", c.topic, partition, offset, err)
	}
}

// connect dials partition's leader and resolves offset to an absolute one
// at or after the partition's first offset. An offset past the last one is
// an error, retried until records reach it.
func (c *GroupConsumer) connect(ctx context.Context, partition int, offset int64) (*kafka.Conn, int64, error) {
	var err error
	for _, broker := range c.cfg.Brokers {
		var conn *kafka.Conn
		conn, err = c.dialer.DialLeader(ctx, "tcp", broker, c.topic, partition)
		if err != nil {
			continue
		}
		// A connection that does not answer holds the generation's end
		// no longer than it takes to close it.
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		var first, last int64
		if err := conn.SetDeadline(time.Now().Add(fetchReadTimeout)); err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("setting the deadline: %w", err)
		}
		first, last, err = conn.ReadOffsets()
		if err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("reading offsets: %w", err)
		}
		switch {
		case offset == kafka.LastOffset:
			offset = last
		case offset == kafka.FirstOffset || offset < first:
			offset = first
		case offset > last:
			conn.Close()
			return nil, 0, fmt.Errorf("offset %d is past the last offset %d: %w", offset, last, kafka.OffsetOutOfRange)
		}
		if _, err := conn.Seek(offset, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("seeking offset %d: %w", offset, err)
		}
		_ = conn.SetDeadline(time.Time{})
		return conn, offset, nil
	}
	return nil, 0, err
}

// fetch reads conn's partition from offset, one fetch at a time, and sends
// the messages to FetchMessage in chunks of chunkSize as they are decoded
// (a chunk is consumed while it is still in the CPU's cache; a whole
// fetch, 1 MiB, would not be), until ctx ends (the connection is then
// closed, interrupting a fetch) or an error calls for a new connection. It
// returns the offset to resume at.
func (c *GroupConsumer) fetch(ctx context.Context, gen int64, conn *kafka.Conn, partition int, offset int64) (int64, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	readCfg := kafka.ReadBatchConfig{MinBytes: c.cfg.MinBytes, MaxBytes: c.cfg.MaxBytes, MaxWait: c.cfg.MaxWait,
		IsolationLevel: c.cfg.IsolationLevel}
	failures := 0
	for {
		if failures > 0 && retry.Sleep(ctx, retry.Backoff(failures, fetchBackoffMin, fetchBackoffMax)) != nil {
			return offset, ctx.Err()
		}
		// One deadline for the fetch, the broker's wait and the reading,
		// renewed after each chunk's hand-over (which waits for
		// FetchMessage).
		_ = conn.SetReadDeadline(time.Now().Add(c.cfg.MaxWait + fetchReadTimeout))
		batch := conn.ReadBatchWith(readCfg)
		chunk := c.chunk()
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			chunk = append(chunk, m)
			if len(chunk) == chunkSize {
				if !c.send(ctx, gen, chunk) {
					batch.Close()
					return offset, ctx.Err()
				}
				offset = m.Offset + 1
				chunk = c.chunk()
				_ = conn.SetReadDeadline(time.Now().Add(fetchReadTimeout))
			}
		}
		err := batch.Close() // nil at the batch's end
		if n := len(chunk); n > 0 {
			next := chunk[n-1].Offset + 1 // chunk is FetchMessage's once sent
			if !c.send(ctx, gen, chunk) {
				return offset, ctx.Err()
			}
			offset = next
		}
		// Past compacted-away offsets and control records too.
		offset = max(offset, batch.Offset())
		if ctx.Err() != nil {
			return offset, ctx.Err()
		}
		switch {
		case err == nil, errors.Is(err, kafka.RequestTimedOut):
			failures = 0
		case errors.Is(err, kafka.OffsetOutOfRange):
			// The partition's first offset moved past ours (retention),
			// or we are past its last (the log was truncated): a new
			// connection starts again from where the partition is.
			return offset, err
		default:
			var kerr kafka.Error
			if !errors.As(err, &kerr) {
				return offset, err // the connection is broken (Batch.Close closed it)
			}
			switch kerr {
			case kafka.NotLeaderForPartition, kafka.UnknownTopicOrPartition, kafka.LeaderNotAvailable:
				return offset, err // a new connection finds the new leader
			}
			c.logf("fetching %s/%d at offset %d: %v", c.topic, partition, offset, err)
			c.report(fmt.Errorf("fetching %s/%d at offset %d: %w", c.topic, partition, offset, err))
			failures++
		}
	}
}

// chunk returns an empty chunk, one FetchMessage is done with if any.
func (c *GroupConsumer) chunk() []kafka.Message {
	select {
	case chunk := <-c.free:
		return chunk
	default:
		return make([]kafka.Message, 0, chunkSize)
	}
}

// send hands chunk to FetchMessage; false if ctx ended first.
func (c *GroupConsumer) send(ctx context.Context, gen int64, chunk []kafka.Message) bool {
	select {
	case c.batches <- fetched{gen: gen, msgs: chunk}:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetchReadBuffer is the read buffer of a partition's connection. A
// kafka.Conn reads through a bufio.Reader of 4 KiB, a read(2) per 30 or so
// records; beneath it this one makes it one per up to 256 KiB.
const fetchReadBuffer = 256 << 10

// fetchDialer returns a copy of d whose connections buffer their reads in
// fetchReadBuffer bytes (under TLS, if any).
func fetchDialer(d *kafka.Dialer) *kafka.Dialer {
	fd := *d
	dial := d.DialFunc
	if dial == nil {
		dial = (&net.Dialer{
			LocalAddr:     d.LocalAddr,
			FallbackDelay: d.FallbackDelay,
			KeepAlive:     d.KeepAlive,
		}).DialContext
	}
	fd.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &readBufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, fetchReadBuffer)}, nil
	}
	return &fd
}

// readBufferedConn is a net.Conn whose reads go through r.
type readBufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// report hands err to FetchMessage if it is waiting for messages, else
// drops it: a failure is retried and reported again while it lasts, and
// one that ended while FetchMessage was not asking (the pipeline busy) is
// no longer news.
func (c *GroupConsumer) report(err error) {
	select {
	case c.errs <- err:
	default:
	}
}

// logf writes to the error log (WithReaderLogger), if any.
func (c *GroupConsumer) logf(format string, args ...any) {
	if c.cfg.ErrorLogger != nil {
		c.cfg.ErrorLogger.Printf(format, args...)
	}
}
