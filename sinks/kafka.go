package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/retry"
)

// Kafka writes verdicts to the output topic and dead letters to the
// dead-letter topic through one asynchronous kafka-go Writer with
// RequiredAcks=all. A batch is acknowledged (done called) when the broker has
// acknowledged every message of it.
type Kafka struct {
	writer          *kafka.Writer
	topic           string
	deadLetterTopic string
	format          Format
	// verdictBytes is the size of the last batch's buffer per verdict, so
	// a new buffer is allocated once rather than grown by append (a JSON
	// verdict is ~1.3 KB, an OCSF one more). Write is called from one
	// goroutine.
	verdictBytes int
	// buffers recycles the encoded verdicts of acknowledged batches: they
	// were most of the allocations of `sagewall run`, and the garbage
	// collection they caused set its tail latency.
	buffers sync.Pool // of *[]byte
	// msgs and ends (where each key and value ends in the buffer) are
	// reused by every Write: the writer copies the messages it is given
	// before WriteMessages returns.
	msgs []kafka.Message
	ends []int
	// maxAttempts bounds the tries of a write the writer refuses at once
	// with a temporary error (see produce).
	maxAttempts int
}

// KafkaOption configures a Kafka sink.
type KafkaOption func(*kafkaConfig)

type kafkaConfig struct {
	format          Format
	deadLetterTopic string
	transport       *kafka.Transport
	batchSize       int
	batchBytes      int64
	batchTimeout    time.Duration
	maxAttempts     int
	compression     kafka.Compression
}

// WithFormat sets the verdict encoding (default JSONFormat).
func WithFormat(f Format) KafkaOption { return func(c *kafkaConfig) { c.format = f } }

// WithDeadLetterTopic sets the topic for records that could not be encoded.
func WithDeadLetterTopic(topic string) KafkaOption {
	return func(c *kafkaConfig) { c.deadLetterTopic = topic }
}

// WithTransport sets the connection settings (TLS, SASL) of the writer.
func WithTransport(t *kafka.Transport) KafkaOption { return func(c *kafkaConfig) { c.transport = t } }

// WithProduceBatch sets the producer's per-partition batching: a produce
// request is sent when size messages or bytes are queued, or after timeout.
// The defaults (1000 messages, 1 MB, 1 ms) keep latency low while letting
// whole micro-batches travel in one request; kafka-go's own defaults (100
// messages, 1 s) would add up to a second per write. bytes must stay under
// the broker's message.max.bytes (1 MiB by default): a record batch is one
// message to the broker. kafka-go allocates room for size messages with
// every batch it opens (per partition, each linger), so size should not be
// far above what bytes admits: 1 MB holds about 770 JSON verdicts.
func WithProduceBatch(size int, bytes int64, timeout time.Duration) KafkaOption {
	return func(c *kafkaConfig) { c.batchSize, c.batchBytes, c.batchTimeout = size, bytes, timeout }
}

// WithCompression sets the codec of the produce batches (default none).
func WithCompression(c kafka.Compression) KafkaOption {
	return func(cfg *kafkaConfig) { cfg.compression = c }
}

// ParseCompression maps a codec name (none, gzip, snappy, lz4, zstd) to
// kafka-go's value.
func ParseCompression(name string) (kafka.Compression, error) {
	switch name {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// WithMaxAttempts sets how many times a produce request is tried before the
// batch fails (default 10).
func WithMaxAttempts(n int) KafkaOption { return func(c *kafkaConfig) { c.maxAttempts = n } }

// defaultProduceBatchSize caps a produce batch by count. It was 10000, and
// kafka-go's make([]Message, 0, BatchSize) per batch then zeroed 1.5 MB for
// every ~128-message batch: 12% of the CPU of `sagewall run` at full speed.
const defaultProduceBatchSize = 1000

// NewKafka returns a sink writing verdicts to topic on brokers.
func NewKafka(brokers []string, topic string, opts ...KafkaOption) *Kafka {
	cfg := kafkaConfig{
		format:       JSONFormat{},
		batchSize:    defaultProduceBatchSize,
		batchBytes:   1_000_000,
		batchTimeout: time.Millisecond,
		maxAttempts:  10,
	}
	for _, o := range opts {
		o(&cfg)
	}
	k := &Kafka{topic: topic, deadLetterTopic: cfg.deadLetterTopic, format: cfg.format, verdictBytes: 1024, maxAttempts: cfg.maxAttempts}
	k.writer = &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     SourcePartitionBalancer{},
		RequiredAcks: kafka.RequireAll,
		Async:        true,
		Completion:   complete,
		BatchSize:    cfg.batchSize,
		BatchBytes:   cfg.batchBytes,
		BatchTimeout: cfg.batchTimeout,
		MaxAttempts:  cfg.maxAttempts,
		Compression:  cfg.compression,
		// kafka-go's transport caches metadata for 6 s: with the default 1 s
		// backoff cap, ten attempts at a topic whose metadata is not cached yet
		// (just created, or a new partition leader) give up before the cache
		// refreshes, and the pipeline stops. A 2 s cap spans about 13 s.
		WriteBackoffMax: 2 * time.Second,
	}
	if cfg.transport != nil {
		k.writer.Transport = cfg.transport
	}
	return k
}

// batchAck counts the messages of one Write still awaiting the broker.
type batchAck struct {
	remaining atomic.Int64
	failed    atomic.Pointer[error]
	done      func(error)
	// release, when set, recycles the batch's buffer once the writer is
	// done with every message of it.
	release func()
}

func newBatchAck(n int, done func(error)) *batchAck {
	a := &batchAck{done: done}
	a.remaining.Store(int64(n))
	return a
}

func (a *batchAck) settle(n int, err error) {
	if err != nil {
		a.failed.CompareAndSwap(nil, &err)
	}
	if a.remaining.Add(-int64(n)) != 0 {
		return
	}
	if a.release != nil {
		a.release()
	}
	if p := a.failed.Load(); p != nil {
		a.done(*p)
		return
	}
	a.done(nil)
}

// complete is the writer's Completion callback: it is called once per
// produce request, possibly with messages of several sink batches.
func complete(msgs []kafka.Message, err error) {
	if err != nil {
		err = fmt.Errorf("producing to kafka: %w", err)
	}
	for i := range msgs {
		if a, ok := msgs[i].WriterData.(*batchAck); ok {
			a.settle(1, err)
		}
	}
}

// Write implements the stream's Sink: one message per verdict, keyed by
// "topic/partition/offset" of its source record, in order.
func (k *Kafka) Write(ctx context.Context, verdicts []Verdict, done func(error)) {
	if len(verdicts) == 0 {
		done(nil)
		return
	}
	ack := newBatchAck(len(verdicts), done)
	// One buffer per batch holds every key and value; the messages slice
	// into it after it has stopped growing.
	bufp := k.buffer(len(verdicts) * k.verdictBytes)
	ack.release = func() { k.buffers.Put(bufp) }
	buf := *bufp
	ends := k.ends[:0]
	for i := range verdicts {
		v := &verdicts[i]
		buf = v.Source.AppendKey(buf)
		ends = append(ends, len(buf))
		buf = k.format.Append(buf, v)
		ends = append(ends, len(buf))
	}
	*bufp, k.ends = buf, ends
	k.verdictBytes = len(buf)/len(verdicts) + 64
	if cap(k.msgs) < len(verdicts) {
		k.msgs = make([]kafka.Message, len(verdicts))
	}
	msgs := k.msgs[:len(verdicts)]
	now := time.Now()
	start := 0
	for i := range msgs {
		keyEnd, valueEnd := ends[2*i], ends[2*i+1]
		msgs[i] = kafka.Message{
			Topic:      k.topic,
			Key:        buf[start:keyEnd:keyEnd],
			Value:      buf[keyEnd:valueEnd:valueEnd],
			Time:       now,
			WriterData: ack,
		}
		start = valueEnd
	}
	k.produce(ctx, msgs, ack)
	clear(msgs) // the writer holds copies; drop the references to buf
}

// buffer returns an empty buffer from the pool, or a new one of capacity n.
func (k *Kafka) buffer(n int) *[]byte {
	if p, ok := k.buffers.Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, n)
	return &b
}

// produce hands msgs to the async writer. The writer looks up every
// message's topic in its transport's metadata cache, refreshed every 6 s,
// and refuses the whole call at once when the topic is not in it: a topic
// created since the last refresh is "unknown" for up to 6 s. Such temporary
// refusals are retried with backoff, up to the writer's attempts (the
// default 10 wait 0.1, 0.2, 0.4 … s up to 2 s each, ~11 s in all);
// anything else (closed writer, oversized message, a topic still missing)
// settles the batch with the error. An async kafka-go Writer queues nothing
// when it refuses, so a retry duplicates nothing and the batch's buffer is
// free again either way.
func (k *Kafka) produce(ctx context.Context, msgs []kafka.Message, ack *batchAck) {
	err := k.writer.WriteMessages(ctx, msgs...)
	for attempt := 1; err != nil && temporary(err) && attempt < k.maxAttempts; attempt++ {
		// Deterministic, unlike retry.Backoff: jitter could end the attempts
		// before the next metadata refresh. One writer goroutine retries,
		// so there is no herd to spread.
		wait := min(100*time.Millisecond<<min(attempt-1, 10), k.writer.WriteBackoffMax)
		if sleepErr := retry.Sleep(ctx, wait); sleepErr != nil {
			break
		}
		err = k.writer.WriteMessages(ctx, msgs...)
	}
	if err != nil {
		ack.settle(len(msgs), fmt.Errorf("queueing %d messages for kafka: %w", len(msgs), err))
	}
}

// temporary reports whether Kafka marks err as retriable.
func temporary(err error) bool {
	var kerr kafka.Error
	return errors.As(err, &kerr) && kerr.Temporary()
}

// Dead-letter headers added to the original ones.
const (
	HeaderReason          = "sagewall.reason"
	HeaderError           = "sagewall.error"
	HeaderSourceTopic     = "sagewall.source.topic"
	HeaderSourcePartition = "sagewall.source.partition"
	HeaderSourceOffset    = "sagewall.source.offset"
)

// ErrNoDeadLetterTopic is returned (through done) when a dead letter arrives
// but no dead-letter topic was configured.
var ErrNoDeadLetterTopic = errors.New("no dead-letter topic configured")

// WriteDeadLetters implements the stream's DeadLetterSink: the original key,
// value and headers, plus headers for the reason, error and source position.
func (k *Kafka) WriteDeadLetters(ctx context.Context, letters []DeadLetter, done func(error)) {
	if len(letters) == 0 {
		done(nil)
		return
	}
	if k.deadLetterTopic == "" {
		done(ErrNoDeadLetterTopic)
		return
	}
	ack := newBatchAck(len(letters), done)
	msgs := make([]kafka.Message, len(letters))
	for i := range letters {
		l := &letters[i]
		headers := make([]kafka.Header, 0, len(l.Headers)+5)
		for _, h := range l.Headers {
			headers = append(headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		headers = append(headers,
			kafka.Header{Key: HeaderReason, Value: []byte(l.Reason)},
			kafka.Header{Key: HeaderError, Value: []byte(l.Err)},
			kafka.Header{Key: HeaderSourceTopic, Value: []byte(l.Source.Topic)},
			kafka.Header{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(l.Source.Partition), 10)},
			kafka.Header{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, l.Source.Offset, 10)},
		)
		key := l.Key
		if key == nil {
			// Keyless records get the source position so the balancer keeps
			// a partition's dead letters together and in order.
			key = l.Source.AppendKey(nil)
		}
		msgs[i] = kafka.Message{
			Topic:      k.deadLetterTopic,
			Key:        key,
			Value:      l.Value,
			Headers:    headers,
			Time:       l.Time,
			WriterData: ack,
		}
	}
	k.produce(ctx, msgs, ack)
}

// Close flushes pending messages (their done callbacks run) and closes the
// writer.
func (k *Kafka) Close() error {
	if err := k.writer.Close(); err != nil {
		return fmt.Errorf("closing kafka writer: %w", err)
	}
	return nil
}

// SourcePartitionBalancer sends every message whose key is
// "topic/partition/offset" to output partition (hash(topic) + partition) mod
// n, so the verdicts of one source partition stay in one output partition,
// in order, and a topic's partitions spread evenly: with as many output
// partitions as source partitions each gets one. (Hashing "topic/partition"
// whole put two of four source partitions on one output partition more often
// than not, and that partition's producer carried twice the load.) Other keys
// are hashed whole.
type SourcePartitionBalancer struct{}

// Balance implements kafka.Balancer.
func (SourcePartitionBalancer) Balance(msg kafka.Message, partitions ...int) int {
	n := uint32(len(partitions))
	h := fnv.New32a()
	topic, partition, ok := splitSourceKey(msg.Key)
	if !ok {
		h.Write(msg.Key)
		return partitions[h.Sum32()%n]
	}
	h.Write(topic)
	return partitions[(h.Sum32()%n+partition%n)%n]
}

// splitSourceKey parses "topic/partition/offset" into the topic and partition.
func splitSourceKey(key []byte) (topic []byte, partition uint32, ok bool) {
	last := bytes.LastIndexByte(key, '/')
	if last < 0 {
		return nil, 0, false
	}
	mid := bytes.LastIndexByte(key[:last], '/')
	if mid < 0 {
		return nil, 0, false
	}
	p, err := strconv.ParseUint(string(key[mid+1:last]), 10, 31)
	if err != nil {
		return nil, 0, false
	}
	return key[:mid], uint32(p), true
}
