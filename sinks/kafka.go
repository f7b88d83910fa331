package sinks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/retry"
)

// Kafka writes verdicts to the output topic through a producer of its own
// on kafka-go's Client (producer.go) and dead letters to the dead-letter
// topic through an asynchronous kafka-go Writer, both with RequiredAcks=all.
// A batch is acknowledged (done called) when the broker has acknowledged
// every message of it.
type Kafka struct {
	producer *producer
	// deadLetterWriter is the dead letters' own writer: its record batches
	// are capped at the dead-letter limit, which may be below the verdicts'.
	deadLetterWriter *kafka.Writer
	topic            string
	deadLetterTopic  string
	format           Format
	// verdictBytes is the size of the last batch's buffer per verdict, so
	// a new buffer is allocated once rather than grown by append (a JSON
	// verdict is ~1.3 KB, an OCSF one more). Write is called from one
	// goroutine.
	verdictBytes int
	// attacksOnly writes only the verdicts of attacks (output.emit attacks).
	attacksOnly bool
	// buffers recycles the encoded verdicts of acknowledged batches and
	// their records: they were most of the allocations of `sagewall run`,
	// and the garbage collection they caused set its tail latency.
	buffers sync.Pool // of *verdictBuffer
	// ends (where each key and value ends in the buffer) is reused by
	// every Write.
	ends []int
	// partitioner picks each verdict's partition; Write is called from
	// one goroutine.
	partitioner sourcePartitioner
	// maxAttempts bounds the tries of a dead-letter write the writer
	// refuses at once with a temporary error (see produce).
	maxAttempts int
	// batchBytes caps a produce request (message.max.bytes).
	batchBytes int
	// deadLetterMaxBytes is the most a dead letter may take on the wire
	// (key, value and headers); larger values are cut to fit.
	deadLetterMaxBytes int
	// dropped is called for a dead letter the broker refused for good
	// (its size or form): it is dropped, not retried.
	dropped func(DeadLetter, error)
}

// KafkaOption configures a Kafka sink.
type KafkaOption func(*kafkaConfig)

type kafkaConfig struct {
	format          Format
	deadLetterTopic string
	transport       *kafka.Transport
	batchBytes      int64
	maxAttempts     int
	compression     kafka.Compression
	deadLetterMax   int
	dropped         func(DeadLetter, error)
	attacksOnly     bool
}

// WithFormat sets the verdict encoding (default JSONFormat).
func WithFormat(f Format) KafkaOption { return func(c *kafkaConfig) { c.format = f } }

// WithAttacksOnly makes Write produce only the verdicts of attacks
// (output.emit: attacks): a SIEM's findings are then all signal. A batch of
// benign verdicts is acknowledged at once, so its offsets still commit.
func WithAttacksOnly() KafkaOption { return func(c *kafkaConfig) { c.attacksOnly = true } }

// WithDeadLetterTopic sets the topic for records that could not be encoded.
func WithDeadLetterTopic(topic string) KafkaOption {
	return func(c *kafkaConfig) { c.deadLetterTopic = topic }
}

// WithTransport sets the connection settings (TLS, SASL) of the writer.
func WithTransport(t *kafka.Transport) KafkaOption { return func(c *kafkaConfig) { c.transport = t } }

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

// WithDeadLetterMaxBytes caps a dead letter's size on the wire (key, value
// and headers): a longer value is cut to fit and marked (see
// WriteDeadLetters). It defaults to the produce batch's byte limit, which
// the writer enforces anyway; set it to the dead-letter topic's
// max.message.bytes when that is lower.
func WithDeadLetterMaxBytes(n int) KafkaOption { return func(c *kafkaConfig) { c.deadLetterMax = n } }

// WithDroppedDeadLetter sets what is done with a dead letter the broker
// refuses for good even after it was cut to fit (a topic limit below the
// configured one, a record the broker calls invalid): it is dropped rather
// than retried forever, which would stall its partition, and f is called
// with it (to count and log it). Without f such letters are dropped
// silently; outages (temporary errors) are never dropped.
func WithDroppedDeadLetter(f func(DeadLetter, error)) KafkaOption {
	return func(c *kafkaConfig) { c.dropped = f }
}

// WithMaxAttempts sets how many times a produce request is tried before the
// batch fails (default 10).
func WithMaxAttempts(n int) KafkaOption { return func(c *kafkaConfig) { c.maxAttempts = n } }

// The dead-letter writer's batching: a produce request is sent when 1000
// messages or 1 MB are queued, or after 1 ms (kafka-go's own defaults, 100
// messages and 1 s, would add up to a second per write). The byte limit,
// also the verdict producer's, stays under the broker's message.max.bytes
// (1 MiB by default): a record batch is one message to the broker. The
// count was 10000, and kafka-go's make([]Message, 0, BatchSize) per batch
// then zeroed 1.5 MB for every ~128-message batch: 12% of the CPU of
// `sagewall run` at full speed, when verdicts went through a Writer too.
const (
	defaultProduceBatchSize  = 1000
	defaultProduceBatchBytes = 1_000_000
	produceBatchTimeout      = time.Millisecond
)

// NewKafka returns a sink writing verdicts to topic on brokers.
func NewKafka(brokers []string, topic string, opts ...KafkaOption) *Kafka {
	cfg := kafkaConfig{
		format:      JSONFormat{},
		batchBytes:  defaultProduceBatchBytes,
		maxAttempts: 10,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.deadLetterMax <= 0 || int64(cfg.deadLetterMax) > cfg.batchBytes {
		cfg.deadLetterMax = int(cfg.batchBytes)
	}
	// The broker measures a whole record batch, header included.
	cfg.deadLetterMax -= recordBatchOverhead
	k := &Kafka{topic: topic, deadLetterTopic: cfg.deadLetterTopic, format: cfg.format, verdictBytes: 1024, attacksOnly: cfg.attacksOnly,
		maxAttempts: cfg.maxAttempts, batchBytes: int(cfg.batchBytes), deadLetterMaxBytes: cfg.deadLetterMax, dropped: cfg.dropped}
	var next kafka.RoundTripper = kafka.DefaultTransport
	if cfg.transport != nil {
		next = cfg.transport
	}
	newWriter := func(batchBytes int64) *kafka.Writer {
		w := &kafka.Writer{
			Addr:         kafka.TCP(brokers...),
			Balancer:     SourcePartitionBalancer{},
			RequiredAcks: kafka.RequireAll,
			Async:        true,
			Completion:   complete,
			BatchSize:    defaultProduceBatchSize,
			BatchBytes:   batchBytes,
			BatchTimeout: produceBatchTimeout,
			MaxAttempts:  cfg.maxAttempts,
			Compression:  cfg.compression,
			// kafka-go's transport caches metadata for 6 s: with the default 1 s
			// backoff cap, ten attempts at a topic whose metadata is not cached yet
			// (just created, or a new partition leader) give up before the cache
			// refreshes. A 2 s cap spans about 13 s.
			WriteBackoffMax: 2 * time.Second,
		}
		w.Transport = newMetadataCache(next, metadataCacheTTL)
		return w
	}
	// The records are bounded before compression, which lz4 may grow by a
	// fraction of a percent on incompressible data.
	maxRecords := int(cfg.batchBytes) - recordBatchOverhead
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: newMetadataCache(next, metadataCacheTTL)}
	k.producer = newProducer(client, topic, cfg, maxRecords)
	k.deadLetterWriter = newWriter(int64(k.deadLetterMaxBytes))
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
	// dropPermanent, when set, takes a message the broker refused for good:
	// the message counts as settled without error.
	dropPermanent func(m *kafka.Message, err error)
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
			if err != nil && a.dropPermanent != nil && refusedForGood(err) {
				a.dropPermanent(&msgs[i], err)
				a.settle(1, nil)
				continue
			}
			a.settle(1, err)
		}
	}
}

// refusedForGood reports whether the broker or the writer refused a message
// for what it is (too large, invalid), so that sending it again cannot help.
func refusedForGood(err error) bool {
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.InvalidRecord)
}

// Write implements the stream's Sink: one message per verdict, keyed by
// "topic/partition/offset" of its source record, in order.
func (k *Kafka) Write(ctx context.Context, verdicts []Verdict, done func(error)) {
	written := len(verdicts)
	if k.attacksOnly {
		written = 0
		for i := range verdicts {
			if verdicts[i].Result.Attack {
				written++
			}
		}
	}
	if written == 0 {
		done(nil)
		return
	}
	ack := newBatchAck(written, done)
	// One buffer per batch holds every key and value; the records slice
	// into it after it has stopped growing.
	vb := k.buffer(written * k.verdictBytes)
	ack.release = func() { k.buffers.Put(vb) }
	buf := vb.buf
	ends := k.ends[:0]
	for i := range verdicts {
		v := &verdicts[i]
		if k.attacksOnly && !v.Result.Attack {
			continue
		}
		buf = v.Source.AppendKey(buf)
		ends = append(ends, len(buf))
		buf = k.format.Append(buf, v)
		ends = append(ends, len(buf))
	}
	vb.buf, k.ends = buf, ends
	k.verdictBytes = len(buf)/written + 64
	records := vb.records[:0]
	start := 0
	for i := range written {
		keyEnd, valueEnd := ends[2*i], ends[2*i+1]
		records = append(records, record{key: buf[start:keyEnd:keyEnd], value: buf[keyEnd:valueEnd:valueEnd]})
		start = valueEnd
	}
	vb.records = records
	k.producer.put(ctx, records, k.partitioner.partition, ack.settle)
}

// writeMessages produces msgs' keys and values to the sink's topic and
// calls done once the broker has them all.
func (k *Kafka) writeMessages(ctx context.Context, msgs []kafka.Message, done func(error)) {
	records := make([]record, len(msgs))
	for i := range msgs {
		records[i] = record{key: msgs[i].Key, value: msgs[i].Value}
	}
	k.producer.put(ctx, records, k.partitioner.partition, newBatchAck(len(records), done).settle)
}

// verdictBuffer is one batch's encoded verdicts and their records.
type verdictBuffer struct {
	buf     []byte
	records []record
}

// buffer returns an empty buffer from the pool, or a new one of capacity n.
func (k *Kafka) buffer(n int) *verdictBuffer {
	if vb, ok := k.buffers.Get().(*verdictBuffer); ok {
		vb.buf = vb.buf[:0]
		return vb
	}
	return &verdictBuffer{buf: make([]byte, 0, n)}
}

// produce hands dead letters to the async writer. The writer looks up every
// message's topic in its transport's metadata cache, refreshed every 6 s,
// and refuses the whole call at once when the topic is not in it: a topic
// created since the last refresh is "unknown" for up to 6 s. Such temporary
// refusals are retried with backoff, up to the writer's attempts (the
// default 10 wait 0.1, 0.2, 0.4 … s up to 2 s each, ~11 s in all);
// anything else (closed writer, oversized message, a topic still missing)
// settles the batch with the error. An async kafka-go Writer queues nothing
// when it refuses, so a retry duplicates nothing and the batch's buffer is
// free again either way.
func (k *Kafka) produce(ctx context.Context, w *kafka.Writer, msgs []kafka.Message, ack *batchAck) {
	err := w.WriteMessages(ctx, msgs...)
	// The writer refuses a whole call for one message above its byte
	// limit; such a message is dropped (when the batch allows it) and the
	// rest are sent.
	var tooLarge kafka.MessageTooLargeError
	for err != nil && ack.dropPermanent != nil && errors.As(err, &tooLarge) {
		ack.dropPermanent(&tooLarge.Message, err)
		ack.settle(1, nil)
		msgs = tooLarge.Remaining
		if len(msgs) == 0 {
			return
		}
		err = w.WriteMessages(ctx, msgs...)
	}
	for attempt := 1; err != nil && temporary(err) && attempt < k.maxAttempts; attempt++ {
		// Deterministic, unlike retry.Backoff: jitter could end the attempts
		// before the next metadata refresh. One writer goroutine retries,
		// so there is no herd to spread.
		wait := produceBackoff(attempt, w.WriteBackoffMax)
		if sleepErr := retry.Sleep(ctx, wait); sleepErr != nil {
			break
		}
		err = w.WriteMessages(ctx, msgs...)
	}
	if err != nil {
		ack.settle(len(msgs), fmt.Errorf("queueing %d messages for kafka: %w", len(msgs), err))
	}
}

// produceBackoff is the wait before try attempt+1 of a produce: 0.1, 0.2,
// 0.4 … s up to limit.
func produceBackoff(attempt int, limit time.Duration) time.Duration {
	return min(100*time.Millisecond<<min(attempt-1, 10), limit)
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
	// Set only on a dead letter whose value was cut to fit the topic: the
	// original value's size in bytes and SHA-256 (hex), so the record can
	// be found and checked at its source.
	HeaderTruncated      = "sagewall.truncated"
	HeaderOriginalSize   = "sagewall.original.size"
	HeaderOriginalSHA256 = "sagewall.original.sha256"
	// Set when the original headers did not fit beside the dead letter's
	// own: how many were left out.
	HeaderHeadersDropped = "sagewall.headers.dropped"
)

// ErrNoDeadLetterTopic is returned (through done) when a dead letter arrives
// but no dead-letter topic was configured.
var ErrNoDeadLetterTopic = errors.New("no dead-letter topic configured")

// Room a dead letter keeps below deadLetterMaxBytes for the record's
// framing (attributes, varint lengths, timestamp deltas) and for the
// truncation headers themselves.
const (
	recordBatchOverhead = 1024
	deadLetterFraming   = 512
	maxDeadLetterError  = 4 << 10 // the error header: the reason, not a copy of the record
	maxDeadLetterKey    = 4 << 10
)

// WriteDeadLetters implements the stream's DeadLetterSink: the original key,
// value and headers, plus headers for the reason, error and source position.
//
// A dead letter always fits: when it would exceed the dead-letter limit
// (WithDeadLetterMaxBytes), its value is cut to fit and it carries
// sagewall.truncated=true with the original value's size and SHA-256; the
// original headers are left out (and counted in sagewall.headers.dropped)
// when they alone would not fit. If the broker still refuses one for good
// (the topic's limit was lowered below the sink's), the letters of that
// produce request are dropped and each reported (WithDroppedDeadLetter)
// instead of failing the batch, so one record can never stop its partition.
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
		msgs[i] = k.deadLetterMessage(&letters[i])
		msgs[i].WriterData = ack
	}
	ack.dropPermanent = func(m *kafka.Message, err error) {
		if k.dropped == nil {
			return
		}
		for i := range msgs {
			// The writer hands back copies; the source position identifies it.
			if sameHeader(msgs[i].Headers, m.Headers, HeaderSourceOffset) &&
				sameHeader(msgs[i].Headers, m.Headers, HeaderSourcePartition) &&
				sameHeader(msgs[i].Headers, m.Headers, HeaderSourceTopic) {
				k.dropped(letters[i], err)
				return
			}
		}
	}
	k.produce(ctx, k.deadLetterWriter, msgs, ack)
}

func sameHeader(a, b []kafka.Header, key string) bool {
	return bytes.Equal(headerValue(a, key), headerValue(b, key))
}

func headerValue(headers []kafka.Header, key string) []byte {
	for _, h := range headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// deadLetterMessage builds l's message, cut to deadLetterMaxBytes.
func (k *Kafka) deadLetterMessage(l *DeadLetter) kafka.Message {
	errText := l.Err
	if len(errText) > maxDeadLetterError {
		errText = errText[:maxDeadLetterError] + "…"
	}
	own := []kafka.Header{
		{Key: HeaderReason, Value: []byte(l.Reason)},
		{Key: HeaderError, Value: []byte(errText)},
		{Key: HeaderSourceTopic, Value: []byte(l.Source.Topic)},
		{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(l.Source.Partition), 10)},
		{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, l.Source.Offset, 10)},
	}
	key := l.Key
	if key == nil {
		// Keyless records get the source position so the balancer keeps
		// a partition's dead letters together and in order.
		key = l.Source.AppendKey(nil)
	}
	if len(key) > maxDeadLetterKey {
		key = key[:maxDeadLetterKey]
	}
	room := k.deadLetterMaxBytes - deadLetterFraming - len(key) - headersSize(own)
	original := make([]kafka.Header, 0, len(l.Headers))
	for _, h := range l.Headers {
		original = append(original, kafka.Header{Key: h.Key, Value: h.Value})
	}
	if headersSize(original) > room/2 {
		own = append(own, kafka.Header{Key: HeaderHeadersDropped, Value: strconv.AppendInt(nil, int64(len(original)), 10)})
		original = nil
	}
	room -= headersSize(original)
	value := l.Value
	if len(value) > room {
		sum := sha256.Sum256(value)
		own = append(own,
			kafka.Header{Key: HeaderTruncated, Value: []byte("true")},
			kafka.Header{Key: HeaderOriginalSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)},
			kafka.Header{Key: HeaderOriginalSHA256, Value: hex.AppendEncode(nil, sum[:])},
		)
		value = value[:max(room-headersSize(own[len(own)-3:]), 0)]
	}
	return kafka.Message{
		Topic:   k.deadLetterTopic,
		Key:     key,
		Value:   value,
		Headers: append(original, own...),
		Time:    l.Time,
	}
}

// headersSize is what headers take in a record, near enough: their keys and
// values plus a varint-length allowance each.
func headersSize(headers []kafka.Header) int {
	n := 0
	for _, h := range headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// SetDeadLetterMaxBytes sets the dead-letter limit as WithDeadLetterMaxBytes
// does, for a limit read from the broker after the sink was made; call it
// before the first WriteDeadLetters.
func (k *Kafka) SetDeadLetterMaxBytes(n int) {
	k.deadLetterMaxBytes = min(n, k.batchBytes) - recordBatchOverhead
	k.deadLetterWriter.BatchBytes = int64(k.deadLetterMaxBytes)
}

// Name is what the pipeline reports the verdict topic's outages under.
func (k *Kafka) Name() string { return "kafka_output" }

// TopicMaxMessageBytes reads topic's max.message.bytes from the broker: the
// largest record batch it accepts (the dead letters' limit).
func TopicMaxMessageBytes(ctx context.Context, client *kafka.Client, topic string) (int, error) {
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"max.message.bytes"},
		}},
	})
	if err != nil {
		return 0, fmt.Errorf("describing topic %s: %w", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return 0, fmt.Errorf("describing topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				n, err := strconv.Atoi(e.ConfigValue)
				if err != nil || n <= 0 {
					return 0, fmt.Errorf("topic %s: max.message.bytes %q is not a positive integer", topic, e.ConfigValue)
				}
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("describing topic %s: no max.message.bytes in the answer", topic)
}

// Close flushes pending messages (their done callbacks run) and closes the
// writer.
func (k *Kafka) Close() error {
	k.producer.close()
	if err := k.deadLetterWriter.Close(); err != nil {
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
	return partitions[sourcePartition(msg.Key, len(partitions))]
}

// sourcePartition is SourcePartitionBalancer's choice among n partitions.
func sourcePartition(key []byte, n int) int {
	topic, partition, ok := splitSourceKey(key)
	if !ok {
		return int(fnv32a(key) % uint32(n))
	}
	return int((fnv32a(topic)%uint32(n) + partition%uint32(n)) % uint32(n))
}

// sourcePartitioner is sourcePartition remembering its last answer: a
// batch's verdicts come in runs of one source partition, whose keys differ
// only after the last '/'.
type sourcePartitioner struct {
	prefix    []byte // the last key up to its last '/'
	n, answer int
}

func (s *sourcePartitioner) partition(key []byte, n int) int {
	cut := bytes.LastIndexByte(key, '/')
	if cut >= 0 && n == s.n && bytes.Equal(key[:cut], s.prefix) {
		return s.answer
	}
	s.answer = sourcePartition(key, n)
	s.n = n
	s.prefix = append(s.prefix[:0], key[:max(cut, 0)]...)
	if cut < 0 {
		s.n = 0 // a key without '/' is hashed whole: remember nothing
	}
	return s.answer
}

// fnv32a is hash/fnv's 32-bit FNV-1a of b, without a hash.Hash per message.
func fnv32a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
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
