package sinks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
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
	// the next buffer is allocated once rather than grown by append (a
	// JSON verdict is ~1.3 KB, an OCSF one more). Write is called from one
	// goroutine.
	verdictBytes int
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
	k := &Kafka{topic: topic, deadLetterTopic: cfg.deadLetterTopic, format: cfg.format, verdictBytes: 1024}
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
	if a.remaining.Add(-int64(n)) == 0 {
		if p := a.failed.Load(); p != nil {
			a.done(*p)
			return
		}
		a.done(nil)
	}
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
	msgs := make([]kafka.Message, len(verdicts))
	// One buffer per batch holds every key and value; the messages slice
	// into it after it has stopped growing.
	buf := make([]byte, 0, len(verdicts)*k.verdictBytes)
	ends := make([]int, 0, 2*len(verdicts))
	for i := range verdicts {
		v := &verdicts[i]
		buf = v.Source.AppendKey(buf)
		ends = append(ends, len(buf))
		buf = k.format.Append(buf, v)
		ends = append(ends, len(buf))
	}
	k.verdictBytes = len(buf)/len(verdicts) + 64
	start := 0
	for i := range verdicts {
		keyEnd, valueEnd := ends[2*i], ends[2*i+1]
		msgs[i] = kafka.Message{
			Topic:      k.topic,
			Key:        buf[start:keyEnd:keyEnd],
			Value:      buf[keyEnd:valueEnd:valueEnd],
			Time:       time.Now(),
			WriterData: ack,
		}
		start = valueEnd
	}
	k.produce(ctx, msgs, ack)
}

// produce hands msgs to the async writer; a synchronous refusal (closed
// writer, oversized message) settles them all at once.
func (k *Kafka) produce(ctx context.Context, msgs []kafka.Message, ack *batchAck) {
	if err := k.writer.WriteMessages(ctx, msgs...); err != nil {
		ack.settle(len(msgs), fmt.Errorf("queueing %d messages for kafka: %w", len(msgs), err))
	}
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
// "topic/partition/offset" to an output partition chosen by hashing
// "topic/partition", so the verdicts of one source partition stay in one
// output partition, in order. Other keys are hashed whole.
type SourcePartitionBalancer struct{}

// Balance implements kafka.Balancer.
func (SourcePartitionBalancer) Balance(msg kafka.Message, partitions ...int) int {
	key := msg.Key
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			key = key[:i]
			break
		}
	}
	h := fnv.New32a()
	h.Write(key)
	return partitions[int(h.Sum32()%uint32(len(partitions)))]
}
