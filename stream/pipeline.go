package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/retry"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// Consumer is the source side of the pipeline; a GroupConsumer (what
// sagewall run uses) and a kafka-go *kafka.Reader in consumer-group mode
// satisfy it. The pipeline uses FetchMessage and
// CommitMessages (never ReadMessage, which would commit before the outputs
// exist).
type Consumer interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Pipeline consumes, encodes, micro-batches, scores, writes and commits.
type Pipeline struct {
	consumer    Consumer
	scorer      Scorer
	fallback    FallbackScorer // scorer, when it reports fallback rows
	sinks       []Sink
	deadLetters DeadLetterSink
	cfg         config
	width       int
	trackers    *offsetTrackers
	stats       counters
}

type config struct {
	spec            *etl.Spec
	encoderOptions  []etl.Option
	model           scoring.Info
	threshold       float64
	batchRecords    int
	batchBytes      int
	batchWait       time.Duration
	maxInFlight     int
	commitInterval  time.Duration
	shutdownTimeout time.Duration
	metrics         *Metrics
	logger          *slog.Logger
	sinkList        []Sink
	deadLetters     DeadLetterSink
	groupClient     *kafka.Client
	group           string
	conn            *connConfig // connection logs; nil: NSL-KDD records only
	sensorHeader    string
	sensorFromKey   bool
	rebuildClient   *kafka.Client
	rebuildRecords  int
	passthrough     []string
	health          *Health
	explain         *explainConfig // WithExplanations; nil: none
	explainPerBatch int
}

// Option configures a Pipeline.
type Option func(*config)

// WithSpec sets the feature layout the records are encoded with; it must
// be the scorer's (default etl.DefaultSpec()).
func WithSpec(spec *etl.Spec) Option { return func(c *config) { c.spec = spec } }

// WithEncoderOptions passes options to the etl encoder.
func WithEncoderOptions(opts ...etl.Option) Option {
	return func(c *config) { c.encoderOptions = append(c.encoderOptions, opts...) }
}

// WithModel sets the model identity and threshold copied into every verdict
// (a FallbackScorer's fallback rows carry its FallbackInfo instead).
func WithModel(info scoring.Info, threshold float64) Option {
	return func(c *config) { c.model, c.threshold = info, threshold }
}

// WithBatch sets when a micro-batch is closed: at records records, at bytes
// bytes of input, or wait after its first record, whichever comes first
// (default 512, 1 MiB, 2 ms).
func WithBatch(records, bytes int, wait time.Duration) Option {
	return func(c *config) { c.batchRecords, c.batchBytes, c.batchWait = records, bytes, wait }
}

// WithMaxInFlight bounds the micro-batches being scored or written at once
// (default 16). With the reader's queue it bounds memory: when every batch
// is in flight, fetching stops until one is acknowledged.
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithCommitInterval sets the minimum time between offset commits
// (default 100 ms).
func WithCommitInterval(d time.Duration) Option { return func(c *config) { c.commitInterval = d } }

// WithShutdownTimeout bounds how long Run waits, after its context ends,
// for in-flight batches to be acknowledged and committed (default 10 s).
func WithShutdownTimeout(d time.Duration) Option { return func(c *config) { c.shutdownTimeout = d } }

// WithSinks adds verdict sinks; each batch goes to all of them.
func WithSinks(s ...Sink) Option { return func(c *config) { c.sinkList = append(c.sinkList, s...) } }

// WithDeadLetters sets where records that fail to encode go.
func WithDeadLetters(d DeadLetterSink) Option { return func(c *config) { c.deadLetters = d } }

// WithGroupCheck makes every commit first read the group's committed
// offsets through client and commit only partitions where this process is
// ahead of them. Without it a member that lost a partition in a rebalance
// can commit its older offset over the new owner's (kafka-go has no
// revocation callback); with it such a commit is skipped, and a member that
// still owns a partition re-commits it (checked every second) if someone
// moved it back.
func WithGroupCheck(client *kafka.Client, group string) Option {
	return func(c *config) { c.groupClient, c.group = client, group }
}

// WithMetrics records Prometheus metrics.
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }

// WithHealth reports the state of the pipeline's dependencies to h: the
// broker it fetches from ("kafka_fetch"), each verdict sink (its Name, or
// "sink<i>"), the dead-letter sink ("dead_letters") and the scorer
// ("scorer"). Whatever h's outage timeout, a failing dependency is retried
// with capped, jittered backoff; with a timeout the pipeline stops once an
// outage outlasts it.
func WithHealth(h *Health) Option { return func(c *config) { c.health = h } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// New returns a pipeline reading from consumer and scoring with scorer.
// At least one sink and a dead-letter sink are required.
func New(consumer Consumer, scorer Scorer, opts ...Option) (*Pipeline, error) {
	cfg := config{
		spec:            etl.DefaultSpec(),
		threshold:       0.5,
		batchRecords:    512,
		batchBytes:      1 << 20,
		batchWait:       2 * time.Millisecond,
		maxInFlight:     16,
		commitInterval:  100 * time.Millisecond,
		shutdownTimeout: 10 * time.Second,
		logger:          slog.Default(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case consumer == nil:
		return nil, errors.New("creating pipeline: no consumer")
	case scorer == nil:
		return nil, errors.New("creating pipeline: no scorer")
	case len(cfg.sinkList) == 0:
		return nil, errors.New("creating pipeline: no verdict sink")
	case cfg.deadLetters == nil:
		return nil, errors.New("creating pipeline: no dead-letter sink")
	case cfg.batchRecords < 1:
		return nil, fmt.Errorf("creating pipeline: batch records %d, want >= 1", cfg.batchRecords)
	case cfg.batchBytes < 1:
		return nil, fmt.Errorf("creating pipeline: batch bytes %d, want >= 1", cfg.batchBytes)
	case cfg.batchWait <= 0:
		return nil, fmt.Errorf("creating pipeline: batch wait %s, want > 0", cfg.batchWait)
	case cfg.maxInFlight < 1:
		return nil, fmt.Errorf("creating pipeline: max in-flight batches %d, want >= 1", cfg.maxInFlight)
	}
	if cfg.health == nil {
		cfg.health = NewHealth(WithHealthLogger(cfg.logger))
	}
	fallback, _ := scorer.(FallbackScorer)
	return &Pipeline{
		consumer:    consumer,
		scorer:      scorer,
		fallback:    fallback,
		sinks:       cfg.sinkList,
		deadLetters: cfg.deadLetters,
		cfg:         cfg,
		width:       cfg.spec.Width(),
		trackers:    newOffsetTrackers(),
	}, nil
}

// Stats is a snapshot of the pipeline's counters.
type Stats struct {
	Consumed  uint64 // records fetched
	Rejected  uint64 // dead letters acknowledged
	Verdicts  uint64 // verdicts acknowledged by every sink
	Attacks   uint64 // of Verdicts, scored as attacks
	Committed uint64 // offset commits that succeeded
	InFlight  int    // records fetched but not yet released for commit
}

type counters struct {
	consumed, rejected, verdicts, attacks, committed atomic.Uint64
}

// Stats returns the current counters.
func (p *Pipeline) Stats() Stats {
	return Stats{
		Consumed:  p.stats.consumed.Load(),
		Rejected:  p.stats.rejected.Load(),
		Verdicts:  p.stats.verdicts.Load(),
		Attacks:   p.stats.attacks.Load(),
		Committed: p.stats.committed.Load(),
		InFlight:  p.trackers.inFlight(),
	}
}

// batch is one micro-batch; a fixed pool of them bounds memory.
type batch struct {
	n        int // encoded records: verdicts[:n], rows[:n*width]
	rows     []float32
	results  []scoring.Result
	fellBack []bool // rows scored by the fallback model; nil without a FallbackScorer
	verdicts []sinks.Verdict
	letters  []sinks.DeadLetter
	offsets  []trackedOffset // every record of the batch, fetch order
	bytes    int
	pending  atomic.Int32
	failed   atomic.Pointer[error]
}

func (b *batch) reset() {
	b.n, b.bytes = 0, 0
	clear(b.letters)
	b.letters = b.letters[:0]
	b.offsets = b.offsets[:0]
	b.failed.Store(nil)
}

func (b *batch) records() int { return len(b.offsets) }

// run is the state of one Run call.
type run struct {
	p        *Pipeline
	encoder  *etl.Encoder
	free     chan *batch
	inFlight sync.WaitGroup
	commitCh chan struct{}
	// drainedCh is signalled when an acknowledgement leaves no fetched
	// record in flight.
	drainedCh chan struct{}
	writeMu   sync.Mutex // held while an output's Write runs
	fatal     chan error
	workCtx   context.Context

	// The consume stage's state (its goroutine only).
	cur      *batch    // being filled; nil between batches
	sendAt   time.Time // when cur is sent, full or not
	out      chan<- *batch
	conns    *connState      // nil unless the pipeline reads connection logs
	identity *connlog.Parser // reads the identity keys of NSL-KDD JSON records
	consumed uint64          // records fetched since countConsumed
}

// Run consumes until ctx ends, then stops fetching, lets in-flight batches
// finish, commits and returns nil (call it once per Pipeline). A failing
// fetch, scorer or output is an outage: it is retried with backoff for as
// long as it lasts (WithHealth reports it), the batches holding their
// offsets meanwhile, so Run returns an error only when the reader was closed,
// an outage outlasted the health's timeout, or in-flight batches were not
// acknowledged within the shutdown timeout. A record that fails to encode
// is not an error: it goes to the dead-letter sink.
func (p *Pipeline) Run(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	fetchCtx, stopFetching := context.WithCancel(workCtx)
	defer stopFetching()

	r := &run{
		p:         p,
		encoder:   etl.NewEncoder(p.cfg.spec, p.cfg.encoderOptions...),
		free:      make(chan *batch, p.cfg.maxInFlight),
		commitCh:  make(chan struct{}, 1),
		drainedCh: make(chan struct{}, 1),
		fatal:     make(chan error, 1),
		workCtx:   workCtx,
	}
	for _, name := range []string{DependencyFetch, DependencyScorer, DependencyDeadLetters} {
		p.cfg.health.Register(name)
	}
	r.identity = connlog.NewParser(connlog.Auto)
	if p.cfg.conn != nil {
		r.conns = newConnState(&p.cfg)
	}
	for range p.cfg.maxInFlight {
		b := &batch{
			rows:     make([]float32, p.cfg.batchRecords*p.width),
			results:  make([]scoring.Result, p.cfg.batchRecords),
			verdicts: make([]sinks.Verdict, p.cfg.batchRecords),
			offsets:  make([]trackedOffset, 0, p.cfg.batchRecords),
		}
		if p.fallback != nil {
			b.fellBack = make([]bool, p.cfg.batchRecords)
		}
		r.free <- b
	}

	batches := make(chan *batch, p.cfg.maxInFlight)
	var stages sync.WaitGroup
	stages.Add(2)
	go func() { defer stages.Done(); r.consume(fetchCtx, batches) }()
	go func() { defer stages.Done(); r.score(batches) }()
	commitDone := make(chan struct{})
	commitCtx, stopCommitting := context.WithCancel(workCtx)
	go func() { defer close(commitDone); r.commitLoop(commitCtx) }()

	stagesDone := make(chan struct{})
	go func() { stages.Wait(); r.inFlight.Wait(); close(stagesDone) }()

	var err error
	select {
	case <-ctx.Done():
		p.cfg.logger.Info("stopping: finishing in-flight batches", "in_flight_records", p.trackers.inFlight())
	case err = <-r.fatal:
	case <-stagesDone:
	}
	stopFetching()
	// One budget for draining and the final commit, so the process exits
	// within shutdownTimeout (plus a floor for the commit itself).
	deadline := time.Now().Add(p.cfg.shutdownTimeout)
	if err == nil {
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-stagesDone:
		case err = <-r.fatal:
		case <-timer.C:
			err = fmt.Errorf("shutting down: in-flight batches not acknowledged within %s", p.cfg.shutdownTimeout)
		}
		timer.Stop()
	}
	stopCommitting()
	<-commitDone
	// A final commit of everything acknowledged, even after a failure: it
	// only ever covers records whose outputs all exist.
	finalCtx, cancelFinal := context.WithDeadline(context.WithoutCancel(ctx), later(deadline, time.Now().Add(minCommitTime)))
	if cerr := r.commit(finalCtx); cerr != nil && err == nil {
		err = cerr
	}
	cancelFinal()
	cancelWork()
	stages.Wait()
	return err
}

// minCommitTime is the least the final commit gets, even when draining
// used up the shutdown budget: committing what is acknowledged saves
// redelivering it.
const minCommitTime = 500 * time.Millisecond

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fail records the first fatal error.
func (r *run) fail(err error) {
	select {
	case r.fatal <- err:
	default:
	}
}

// Dependency names of the pipeline's own steps, as WithHealth reports them.
const (
	DependencyFetch       = "kafka_fetch"
	DependencyScorer      = "scorer"
	DependencyDeadLetters = "dead_letters"
)

// The backoff between attempts at a failing dependency: full jitter from
// 100 ms, doubling up to 10 s, so a long outage costs one attempt per ~5 s
// per dependency and a short one is over within a second of its end.
const (
	retryBase = 100 * time.Millisecond
	retryMax  = 10 * time.Second
)

// consume fetches messages and groups them into micro-batches: a batch is
// sent when it holds batchRecords records or batchBytes bytes, or batchWait
// after its first record arrived. Fetching and batching share this one
// goroutine: a hand-off per message between two of them (a channel send, a
// four-way select) cost more CPU than encoding the record. The batch's
// wait, and a connection deriver's next flush, are the deadline of the
// fetch's context, created once per deadline rather than per message.
func (r *run) consume(ctx context.Context, out chan<- *batch) {
	defer close(out)
	cfg := &r.p.cfg
	health := cfg.health
	r.out = out
	failures := 0
	unknown := uint64(0)
	var fetch deadlineContext
	defer fetch.stop()
	for {
		fetchCtx := fetch.until(ctx, r.nextDeadline())
		m, err := r.p.consumer.FetchMessage(fetchCtx)
		if err != nil {
			r.countConsumed()
			switch {
			case ctx.Err() != nil:
				if r.cur != nil && r.workCtx.Err() == nil {
					r.send()
				}
				return
			case fetchCtx.Err() != nil:
				r.due(time.Now())
				continue
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe):
				r.fail(fmt.Errorf("fetching from kafka: the reader was closed: %w", err))
				return
			}
			// An outage: the reader reconnects by itself; wait and ask again.
			failures++
			health.Down(DependencyFetch, err)
			if xerr := health.Expired(DependencyFetch); xerr != nil {
				r.fail(fmt.Errorf("fetching from kafka: %w", xerr))
				return
			}
			if retry.Sleep(ctx, retry.Backoff(failures, retryBase, retryMax)) != nil {
				return
			}
			continue
		}
		if failures > 0 {
			failures = 0
			health.Up(DependencyFetch)
		}
		r.consumed++
		r.add(&m)
		if u := r.encoder.UnknownServices(); u != unknown {
			cfg.metrics.addUnknownServices(u - unknown)
			unknown = u
		}
	}
}

// deadlineContext is a context with a deadline, made anew only when the
// deadline moves.
type deadlineContext struct {
	ctx    context.Context
	cancel context.CancelFunc
	at     time.Time
}

// until returns a context of parent that ends at at (zero: parent itself).
func (d *deadlineContext) until(parent context.Context, at time.Time) context.Context {
	if d.ctx != nil && at.Equal(d.at) {
		return d.ctx
	}
	d.stop()
	d.at = at
	if at.IsZero() {
		d.ctx = parent
		return parent
	}
	d.ctx, d.cancel = context.WithDeadline(parent, at)
	return d.ctx
}

func (d *deadlineContext) stop() {
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
	}
}

// nextDeadline is when the fetch must give up waiting: the current batch's
// send time or the connection derivers' next flush, whichever is first
// (zero: neither).
func (r *run) nextDeadline() time.Time {
	d := r.sendAt
	if r.cur == nil {
		d = time.Time{}
	}
	if r.conns != nil && !r.conns.nextFlush.IsZero() && (d.IsZero() || r.conns.nextFlush.Before(d)) {
		d = r.conns.nextFlush
	}
	return d
}

// due sends the current batch and flushes the derivers when their times
// have come.
func (r *run) due(now time.Time) {
	if r.cur != nil && !now.Before(r.sendAt) {
		r.send()
	}
	if r.conns != nil && !r.conns.nextFlush.IsZero() && !now.Before(r.conns.nextFlush) {
		r.flushDue(now)
	}
}

// current returns the batch being filled, taking one from the pool (and
// waiting for one) when none is; nil when the pipeline is stopping.
func (r *run) current() *batch {
	if r.cur != nil {
		return r.cur
	}
	select {
	case r.cur = <-r.free:
	case <-r.workCtx.Done():
		return nil
	}
	r.inFlight.Add(1)
	r.sendAt = time.Now().Add(r.p.cfg.batchWait)
	return r.cur
}

// fullCheck sends the current batch when it reached its record or byte
// limit. Every record adds at most one verdict and one offset, so a batch
// never overflows its preallocated room.
func (r *run) fullCheck() {
	if b := r.cur; b != nil && (b.records() >= r.p.cfg.batchRecords || b.bytes >= r.p.cfg.batchBytes) {
		r.send()
	}
}

// send hands the current batch to the scorer.
func (r *run) send() {
	r.p.cfg.metrics.addEncoded(r.cur.n)
	r.countConsumed()
	r.out <- r.cur // out has room for every batch of the pool
	r.cur = nil
}

// countConsumed adds the records fetched since it was last called to the
// statistics and metrics. They are counted per batch and when a fetch
// waits, not per record: an atomic add per record and counter was 2-3 % of
// a record's CPU.
func (r *run) countConsumed() {
	if r.consumed > 0 {
		r.p.stats.consumed.Add(r.consumed)
		r.p.cfg.metrics.addConsumed(int(r.consumed))
		r.consumed = 0
	}
}

// add tracks m's offset and encodes it into the current batch, makes it a
// dead letter, or (connection logs) hands it to its partition's deriver.
func (r *run) add(m *kafka.Message) {
	tp := topicPartition{m.Topic, m.Partition}
	tracker, rewound := r.p.trackers.track(tp, m.Offset)
	if rewound {
		r.p.cfg.metrics.addRewind()
		r.p.cfg.logger.Info("partition rewound: records re-delivered after a rebalance",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
	}
	offset := trackedOffset{tracker, m.Offset}
	if r.conns != nil {
		p, fresh := r.conns.partition(tp, rewound)
		if fresh {
			r.rebuild(p, tp, m.Offset)
		}
		if r.conns.wants(p, m.Value) {
			r.addConn(p, tp, offset, m)
			return
		}
	}
	b := r.current()
	if b == nil {
		return // stopping: not acknowledged, so fetched again
	}
	b.offsets = append(b.offsets, offset)
	b.bytes += len(m.Value)
	v := &b.verdicts[b.n]
	err := r.encoder.Encode(m.Value, &v.Record, b.rows[b.n*r.p.width:(b.n+1)*r.p.width])
	if err == nil {
		v.Source, v.Time = sinks.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}, m.Time
		v.FeaturesSource = ""
		r.identify(&v.Conn, m)
		b.n++
	} else {
		r.deadLetter(b, m, err)
	}
	r.fullCheck()
}

// deadLetter adds m to b's dead letters with the reason err gives.
func (r *run) deadLetter(b *batch, m *kafka.Message, err error) {
	source := sinks.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	reason, field := rejection(err)
	headers := make([]sinks.Header, len(m.Headers))
	for i, h := range m.Headers {
		headers[i] = sinks.Header{Key: h.Key, Value: h.Value}
	}
	b.letters = append(b.letters, sinks.DeadLetter{
		Source:  source,
		Time:    m.Time,
		Key:     m.Key,
		Value:   m.Value,
		Headers: headers,
		Reason:  reason,
		Err:     fmt.Sprintf("%s/%d/%d: %v", m.Topic, m.Partition, m.Offset, err),
	})
	r.p.cfg.metrics.addRejected(reason, field)
}

// rejection names why a record failed to encode: the etl sentinel as a
// label ("unknown_value", "line_too_long", ...) and the field, both from
// bounded sets so they can be metric labels.
func rejection(err error) (reason, field string) {
	if reason, field, ok := connRejection(err); ok {
		return reason, field
	}
	var fieldErr *etl.FieldError
	if !errors.As(err, &fieldErr) {
		return "invalid", ""
	}
	reason = "invalid"
	if fieldErr.Err != nil {
		reason = strings.ReplaceAll(fieldErr.Err.Error(), " ", "_")
	}
	return reason, fieldErr.Field
}

// output is one place every batch goes: a verdict sink or the dead letters.
type output struct {
	name  string
	write func(ctx context.Context, b *batch, done func(error))
}

// outputs lists the verdict sinks and the dead letters, with the names their
// outages are reported under.
func (p *Pipeline) outputs() (verdictOutputs []*output, deadLetters *output) {
	for i, s := range p.sinks {
		name := fmt.Sprintf("sink%d", i)
		if n, ok := s.(interface{ Name() string }); ok {
			name = n.Name()
		}
		verdictOutputs = append(verdictOutputs, &output{name, func(ctx context.Context, b *batch, done func(error)) {
			s.Write(ctx, b.verdicts[:b.n], done)
		}})
	}
	deadLetters = &output{DependencyDeadLetters, func(ctx context.Context, b *batch, done func(error)) {
		p.deadLetters.WriteDeadLetters(ctx, b.letters, done)
	}}
	return verdictOutputs, deadLetters
}

// score scores each batch and hands it to the outputs, in order.
func (r *run) score(batches <-chan *batch) {
	p := r.p
	var fallbackModel scoring.Info
	if p.fallback != nil {
		fallbackModel = p.fallback.FallbackInfo()
	}
	verdictOutputs, deadLetters := p.outputs()
	for b := range batches {
		if b.n > 0 {
			start := time.Now()
			if err := r.scoreWithRetry(b); err != nil {
				r.fail(fmt.Errorf("scoring a batch of %d records: %w", b.n, err))
				r.release(b)
				continue
			}
			took := time.Since(start)
			p.cfg.metrics.observeBatch(b.records(), took.Seconds())
			if p.cfg.logger.Enabled(r.workCtx, slog.LevelDebug) {
				p.cfg.logger.Debug("batch scored", "records", b.records(), "verdicts", b.n,
					"dead_letters", len(b.letters), "scoring_ms", float64(took.Microseconds())/1000)
			}
			for i := range b.n {
				v := &b.verdicts[i]
				v.Result, v.Threshold, v.Model = b.results[i], p.cfg.threshold, p.cfg.model
				if b.fellBack != nil && b.fellBack[i] {
					v.Model = fallbackModel
				}
			}
			r.explain(b)
		}
		// Count the outputs before handing the batch out: the last
		// acknowledgement resets it, possibly before Write returns.
		hasVerdicts, hasLetters := b.n > 0, len(b.letters) > 0
		outputs := 0
		if hasVerdicts {
			outputs += len(verdictOutputs)
		}
		if hasLetters {
			outputs++
		}
		if outputs == 0 {
			// Only header lines: nothing to write, their offsets are done.
			b.pending.Store(1)
			r.settle(b, nil)
			continue
		}
		b.pending.Store(int32(outputs))
		r.writeMu.Lock()
		if hasVerdicts {
			for _, o := range verdictOutputs {
				r.write(b, o, 1)
			}
		}
		if hasLetters {
			r.write(b, deadLetters, 1)
		}
		r.writeMu.Unlock()
	}
}

// write hands b to o (the caller holds writeMu: sinks are written by one
// goroutine at a time). A failed write is an outage, not the end: it is
// retried with backoff, the batch keeping its slot and its offsets
// uncommitted, until o accepts it — or the pipeline is stopping, or the
// outage outlasts the health's timeout, when the batch fails.
func (r *run) write(b *batch, o *output, attempt int) {
	health := r.p.cfg.health
	o.write(r.workCtx, b, func(err error) {
		if err == nil {
			health.Up(o.name)
			r.settle(b, nil)
			return
		}
		if r.workCtx.Err() != nil {
			r.settle(b, err)
			return
		}
		health.Down(o.name, err)
		if xerr := health.Expired(o.name); xerr != nil {
			r.settle(b, xerr)
			return
		}
		time.AfterFunc(retry.Backoff(attempt, retryBase, retryMax), func() {
			r.writeMu.Lock()
			defer r.writeMu.Unlock()
			r.write(b, o, attempt+1)
		})
	})
}

// scoreWithRetry scores b, retrying a failing scorer (a SageMaker endpoint
// without fallback) with backoff until it answers, the pipeline stops or the
// outage outlasts the health's timeout.
func (r *run) scoreWithRetry(b *batch) error {
	health := r.p.cfg.health
	for attempt := 1; ; attempt++ {
		err := r.scoreBatch(b)
		if err == nil {
			if attempt > 1 {
				health.Up(DependencyScorer)
			}
			return nil
		}
		if r.workCtx.Err() != nil {
			return err
		}
		health.Down(DependencyScorer, err)
		if xerr := health.Expired(DependencyScorer); xerr != nil {
			return xerr
		}
		if serr := retry.Sleep(r.workCtx, retry.Backoff(attempt, retryBase, retryMax)); serr != nil {
			return err
		}
	}
}

// scoreBatch scores b's encoded rows, noting which rows a fallback model
// scored when the scorer reports that.
func (r *run) scoreBatch(b *batch) error {
	p := r.p
	rows, results := b.rows[:b.n*p.width], b.results[:b.n]
	if p.fallback == nil {
		return p.scorer.Score(r.workCtx, rows, results)
	}
	fellBack := b.fellBack[:b.n]
	clear(fellBack)
	return p.fallback.ScoreWithSource(r.workCtx, rows, results, fellBack)
}

// settle is one output's acknowledgement of b; the last one releases b's
// offsets for commit.
func (r *run) settle(b *batch, err error) {
	if err != nil {
		b.failed.CompareAndSwap(nil, &err)
	}
	if b.pending.Add(-1) != 0 {
		return
	}
	if perr := b.failed.Load(); perr != nil {
		r.fail(fmt.Errorf("writing outputs: %w", *perr))
		r.release(b)
		return
	}
	p := r.p
	now := time.Now()
	attacks := 0
	for i := range b.n {
		if b.verdicts[i].Result.Attack {
			attacks++
		}
	}
	p.cfg.metrics.observeEndToEnd(now, b.verdicts[:b.n])
	p.cfg.metrics.addVerdicts(attacks, b.n-attacks)
	p.stats.verdicts.Add(uint64(b.n))
	p.stats.attacks.Add(uint64(attacks))
	p.stats.rejected.Add(uint64(len(b.letters)))
	advanced, err := p.trackers.ack(b.offsets)
	r.release(b)
	if err != nil {
		r.fail(fmt.Errorf("acknowledging offsets: %w", err))
		return
	}
	if advanced {
		if p.trackers.inFlight() == 0 {
			signal(r.drainedCh)
		}
		signal(r.commitCh)
	}
}

// signal wakes ch's receiver unless a wake-up is already pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// release returns b to the pool.
func (r *run) release(b *batch) {
	b.reset()
	r.free <- b
	r.inFlight.Done()
}

// commitLoop commits whenever offsets advance, at most once per
// commitInterval, until ctx ends; except that when every fetched record has
// been acknowledged (a backlog or a burst is done) it commits at once rather
// than at the interval's end. Such an early commit is followed by a whole
// interval, so a trickle whose every batch drains the pipeline commits at
// most twice per interval.
func (r *run) commitLoop(ctx context.Context) {
	var recheck <-chan time.Time
	if r.p.cfg.groupClient != nil {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		recheck = ticker.C
	}
	early := false
	for {
		if !early {
			select {
			case <-r.commitCh:
			case <-recheck:
			case <-ctx.Done():
				return
			}
		}
		// Wake-ups signalled before this commit are covered by it.
		for _, ch := range []chan struct{}{r.commitCh, r.drainedCh} {
			select {
			case <-ch:
			default:
			}
		}
		if err := r.commit(ctx); err != nil && ctx.Err() == nil {
			// Not fatal: the next commit covers these offsets too.
			r.p.cfg.logger.Warn("committing offsets", "err", err)
		}
		drained := r.drainedCh
		if early {
			drained = nil
		}
		early = false
		select {
		case <-time.After(r.p.cfg.commitInterval):
		case <-drained:
			early = true
		case <-ctx.Done():
			return
		}
	}
}

// commit commits every partition whose contiguous acknowledged offset moved.
func (r *run) commit(ctx context.Context) error {
	if r.p.cfg.groupClient != nil {
		r.refreshCommitted(ctx)
	}
	commits := r.p.trackers.toCommit()
	if len(commits) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(commits))
	for i, c := range commits {
		// kafka-go commits a message's offset + 1.
		msgs[i] = kafka.Message{Topic: c.topic, Partition: c.partition, Offset: c.offset - 1}
	}
	err := r.p.consumer.CommitMessages(ctx, msgs...)
	r.p.cfg.metrics.addCommit(err)
	if err != nil {
		return fmt.Errorf("committing %d partitions: %w", len(commits), err)
	}
	r.p.trackers.markCommitted(commits)
	r.p.stats.committed.Add(1)
	if r.p.cfg.logger.Enabled(ctx, slog.LevelDebug) {
		committed := make([]string, len(commits))
		for i, c := range commits {
			committed[i] = fmt.Sprintf("%s/%d@%d", c.topic, c.partition, c.offset)
		}
		r.p.cfg.logger.Debug("offsets committed", "partitions", committed)
	}
	return nil
}

// refreshCommitted loads the group's committed offsets of the tracked
// partitions; on failure the local view stays (and commits go ahead).
func (r *run) refreshCommitted(ctx context.Context) {
	tps := r.p.trackers.partitions()
	if len(tps) == 0 {
		return
	}
	resp, err := r.p.cfg.groupClient.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.p.cfg.group, Topics: tps})
	if err == nil && resp.Error != nil && !errors.Is(resp.Error, kafka.GroupIdNotFound) {
		err = resp.Error
	}
	if err != nil {
		r.p.cfg.logger.Debug("reading committed offsets before commit", "err", err)
		return
	}
	for topic, partitions := range resp.Topics {
		for _, p := range partitions {
			if p.Error == nil {
				r.p.trackers.setCommitted(topicPartition{topic, p.Partition}, p.CommittedOffset)
			}
		}
	}
}
