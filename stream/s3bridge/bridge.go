// Package s3bridge moves NSL-KDD files dropped in S3 onto the raw Kafka topic:
// it long-polls SQS for S3 ObjectCreated notifications, streams each object
// (gunzipping .gz files), produces one Kafka message per line, and deletes
// the SQS message only once Kafka has acknowledged every line.
package s3bridge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/retry"
	"github.com/sagewall/sagewall/stream"
)

// SQSAPI is the part of the SQS client the bridge uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// S3API is the part of the S3 client the bridge uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Writer produces messages and returns once Kafka has acknowledged them
// (a synchronous kafka-go Writer, as NewWriter returns).
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Header keys of every produced message.
const (
	HeaderBucket  = "s3-bucket"
	HeaderKey     = "s3-key"
	HeaderVersion = "s3-version" // version ID, or the ETag of an unversioned object
	HeaderLine    = "s3-line"
)

// NewWriter returns the raw-topic producer: acks from all in-sync replicas,
// key-hashed partitions, and batches sized for whole chunks of lines.
// transport may be nil (plaintext, no authentication).
func NewWriter(brokers []string, topic string, transport *kafka.Transport) *kafka.Writer {
	w := &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              1000,
		BatchBytes:             4 << 20,
		BatchTimeout:           5 * time.Millisecond,
		Compression:            kafka.Lz4,
		AllowAutoTopicCreation: false,
		// As for the verdict writer (sinks.NewKafka): kafka-go caches metadata
		// for 6 s, and ten attempts with the default 1 s backoff cap give up
		// on a topic whose metadata is not cached yet; a 2 s cap spans ~13 s.
		WriteBackoffMax: 2 * time.Second,
	}
	if transport != nil {
		w.Transport = transport
	}
	return w
}

// Bridge is the S3 → Kafka bridge. Run it with Run.
type Bridge struct {
	sqs      SQSAPI
	s3       S3API
	writer   Writer
	queueURL string

	maxObjectBytes int64
	maxLineBytes   int
	chunkLines     int
	visibility     time.Duration
	waitTime       time.Duration
	workers        int
	logger         *slog.Logger
	registerer     prometheus.Registerer
	dedupeSize     int
	connInput      *connlog.Input // connection logs: rewrite to Zeek JSON keyed by destination host

	dedupe  *dedupe
	metrics *metrics
	ready   atomic.Bool
	health  *stream.Health
}

// dependencySQS is the queue's name in the bridge's Health.
const dependencySQS = "sqs"

// Option configures a Bridge.
type Option func(*Bridge)

// WithHealth reports the queue's state to h as dependency "sqs": a failing
// ReceiveMessage is logged once when it starts failing and once when it
// works again, not once per attempt (default: a Health of its own on the
// bridge's logger).
func WithHealth(h *stream.Health) Option { return func(b *Bridge) { b.health = h } }

// WithMaxObjectBytes caps an object's (decompressed) size; larger objects fail (default 1 GiB).
func WithMaxObjectBytes(n int64) Option { return func(b *Bridge) { b.maxObjectBytes = n } }

// WithMaxLineBytes caps one line (default 1 MiB, Kafka's default message size).
func WithMaxLineBytes(n int) Option { return func(b *Bridge) { b.maxLineBytes = n } }

// WithChunkLines sets how many lines go to Kafka per acknowledged write (default 1000).
func WithChunkLines(n int) Option { return func(b *Bridge) { b.chunkLines = n } }

// WithVisibility sets the visibility timeout the bridge holds on a message;
// it is extended every half of it while the message's objects are in progress (default 60s).
func WithVisibility(d time.Duration) Option { return func(b *Bridge) { b.visibility = d } }

// WithWaitTime sets the SQS long-poll wait (default 20s, the maximum).
func WithWaitTime(d time.Duration) Option { return func(b *Bridge) { b.waitTime = d } }

// WithWorkers sets how many messages are processed at once (default 2).
func WithWorkers(n int) Option { return func(b *Bridge) { b.workers = n } }

// WithDedupeSize sets how many finished objects are remembered to skip duplicate notifications (default 10000).
func WithDedupeSize(n int) Option { return func(b *Bridge) { b.dedupeSize = n } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *Bridge) { b.logger = l } }

// WithConnLogs makes the bridge read connection logs (input: connlog.Zeek,
// connlog.VPC, or connlog.Auto, which passes NSL-KDD lines on unchanged).
// Header lines (Zeek's #fields, a flow log's field names) are consumed,
// since they apply only to the lines after them in the object, and every
// connection is produced as one self-describing Zeek JSON line keyed by
// its destination host: any instance can parse any line, and all the
// connections to a host meet in one partition, where the pipeline's
// per-partition deriver computes the host-based features. A line that
// does not parse is passed on as it was, with the reason in the
// sagewall-parse-error header, to become a dead letter in the pipeline.
func WithConnLogs(input connlog.Input) Option {
	return func(b *Bridge) { b.connInput = &input }
}

// WithRegisterer registers the bridge's metrics.
func WithRegisterer(reg prometheus.Registerer) Option { return func(b *Bridge) { b.registerer = reg } }

// New returns a bridge from queueURL to writer.
func New(sqsClient SQSAPI, s3Client S3API, writer Writer, queueURL string, opts ...Option) (*Bridge, error) {
	b := &Bridge{
		sqs: sqsClient, s3: s3Client, writer: writer, queueURL: queueURL,
		maxObjectBytes: 1 << 30,
		maxLineBytes:   1 << 20,
		chunkLines:     1000,
		visibility:     60 * time.Second,
		waitTime:       20 * time.Second,
		workers:        2,
		dedupeSize:     10000,
		logger:         slog.Default(),
	}
	for _, opt := range opts {
		opt(b)
	}
	if b.health == nil {
		b.health = stream.NewHealth(stream.WithHealthLogger(b.logger))
	}
	b.health.Register(dependencySQS)
	switch {
	case writer == nil:
		return nil, errors.New("creating s3 bridge: nil writer")
	case b.maxObjectBytes <= 0 || b.maxLineBytes <= 0 || b.chunkLines <= 0 || b.workers <= 0:
		return nil, fmt.Errorf("creating s3 bridge: max object bytes %d, max line bytes %d, chunk lines %d and workers %d must be positive",
			b.maxObjectBytes, b.maxLineBytes, b.chunkLines, b.workers)
	case b.visibility < 2*time.Second || b.waitTime < 0 || b.waitTime > 20*time.Second:
		return nil, fmt.Errorf("creating s3 bridge: visibility %v must be at least 2s and wait time %v within 0-20s", b.visibility, b.waitTime)
	}
	m, err := newMetrics(b.registerer)
	if err != nil {
		return nil, fmt.Errorf("registering s3 bridge metrics: %w", err)
	}
	b.metrics = m
	b.dedupe = newDedupe(b.dedupeSize)
	return b, nil
}

// Run polls the queue until ctx ends. A message whose objects fail is left on
// the queue: it becomes visible again and, after the queue's maxReceiveCount,
// moves to its dead-letter queue (redrive policy).
func (b *Bridge) Run(ctx context.Context) error {
	if b.sqs == nil || b.s3 == nil || b.queueURL == "" {
		return errors.New("running s3 bridge: SQS client, S3 client and queue URL are required")
	}
	slots := make(chan struct{}, b.workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	failures := 0
	for ctx.Err() == nil {
		free := cap(slots) - len(slots)
		if free == 0 {
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
			}
			continue
		}
		out, err := b.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(b.queueURL),
			MaxNumberOfMessages:         int32(min(free, 10)),
			WaitTimeSeconds:             int32(b.waitTime / time.Second),
			VisibilityTimeout:           int32(b.visibility / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		b.ready.Store(err == nil)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			b.metrics.errors.WithLabelValues("receive").Inc()
			b.health.Down(dependencySQS, fmt.Errorf("receiving from SQS queue %s: %w", b.queueURL, err))
			if retry.Sleep(ctx, retry.Backoff(failures, time.Second, 30*time.Second)) != nil {
				break
			}
			continue
		}
		failures = 0
		b.health.Up(dependencySQS)
		for _, msg := range out.Messages {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				b.handleMessage(ctx, msg)
			}()
		}
	}
	return nil
}

// Ready reports whether the last poll of the queue succeeded.
func (b *Bridge) Ready() bool { return b.ready.Load() }

// handleMessage produces the message's objects and deletes it; on any
// failure it leaves the message for redelivery.
func (b *Bridge) handleMessage(ctx context.Context, msg sqstypes.Message) {
	log := b.logger.With("message_id", aws.ToString(msg.MessageId), "receive_count", msg.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	objects, err := ParseNotification([]byte(aws.ToString(msg.Body)))
	if err != nil {
		// A poison message: left for the redrive policy, never retried in a loop here.
		b.metrics.errors.WithLabelValues("parse").Inc()
		log.ErrorContext(ctx, "skipping unparseable notification", "err", err, "body", truncate(aws.ToString(msg.Body), 512))
		return
	}
	stop := b.keepInvisible(ctx, msg.ReceiptHandle, log)
	defer stop()
	for _, o := range objects {
		done, skip, err := b.dedupe.claim(ctx, o)
		if err != nil {
			return // shutting down: the message is redelivered later
		}
		if skip {
			b.metrics.duplicates.Inc()
			log.InfoContext(ctx, "skipping duplicate notification", "bucket", o.Bucket, "key", o.Key, "version", o.Version())
			continue
		}
		err = b.produceObject(ctx, o)
		done(err == nil)
		if err != nil {
			if ctx.Err() == nil {
				b.metrics.errors.WithLabelValues(errorType(err)).Inc()
			}
			log.ErrorContext(ctx, "producing object; leaving the message for redelivery", "bucket", o.Bucket, "key", o.Key, "err", err)
			return
		}
	}
	stop()
	if _, err := b.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.queueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
		// Redelivered later; the dedupe cache (or the idempotent keys) absorb it.
		b.metrics.errors.WithLabelValues("delete").Inc()
		log.ErrorContext(ctx, "deleting SQS message", "err", err)
	}
}

// keepInvisible extends the message's visibility every half timeout until stop is called.
func (b *Bridge) keepInvisible(ctx context.Context, receipt *string, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(b.visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_, err := b.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(b.queueURL), ReceiptHandle: receipt, VisibilityTimeout: int32(b.visibility / time.Second),
			})
			if err != nil && ctx.Err() == nil {
				b.metrics.errors.WithLabelValues("visibility").Inc()
				log.WarnContext(ctx, "extending SQS message visibility", "err", err)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// ObjectTooLargeError reports an object over the size cap.
type ObjectTooLargeError struct {
	Bucket, Key string
	Limit       int64
}

func (e *ObjectTooLargeError) Error() string {
	return fmt.Sprintf("object s3://%s/%s is over the %d-byte cap", e.Bucket, e.Key, e.Limit)
}

func (b *Bridge) produceObject(ctx context.Context, o Object) error {
	if o.Size > b.maxObjectBytes {
		return &ObjectTooLargeError{Bucket: o.Bucket, Key: o.Key, Limit: b.maxObjectBytes}
	}
	in := &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)}
	if o.VersionID != "" {
		in.VersionId = aws.String(o.VersionID)
	}
	obj, err := b.s3.GetObject(ctx, in)
	if err != nil {
		return &stageError{"get_object", fmt.Errorf("getting s3://%s/%s: %w", o.Bucket, o.Key, err)}
	}
	defer obj.Body.Close()
	if o.ETag == "" {
		o.ETag = strings.Trim(aws.ToString(obj.ETag), `"`)
	}
	body := io.Reader(obj.Body)
	if strings.HasSuffix(o.Key, ".gz") || strings.EqualFold(aws.ToString(obj.ContentEncoding), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return &stageError{"read", fmt.Errorf("decompressing s3://%s/%s: %w", o.Bucket, o.Key, err)}
		}
		defer zr.Close()
		body = zr
	}
	lines, err := b.produceLines(ctx, o, body)
	if err != nil {
		return err
	}
	b.metrics.objects.Inc()
	b.logger.InfoContext(ctx, "object produced", "bucket", o.Bucket, "key", o.Key, "version", o.Version(), "lines", lines)
	return nil
}

// LineTooLongError names the line over the cap.
type LineTooLongError struct {
	Bucket, Key string
	Line        int
	Limit       int
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("s3://%s/%s: line %d: longer than %d bytes", e.Bucket, e.Key, e.Line, e.Limit)
}

// produceLines streams r to Kafka in acknowledged chunks, one message per
// non-empty line, keyed "bucket/key:line" so a replay overwrites nothing and
// consumers can drop duplicates. It returns the number of lines produced.
func (b *Bridge) produceLines(ctx context.Context, o Object, r io.Reader) (int, error) {
	counted := &countingReader{r: r, limit: b.maxObjectBytes}
	sc := bufio.NewScanner(counted)
	sc.Buffer(make([]byte, 0, 64<<10), b.maxLineBytes+2) // room for "\r\n"
	prefix := o.Bucket + "/" + o.Key + ":"
	version := []byte(o.Version())
	chunk := make([]kafka.Message, 0, b.chunkLines)
	lineNo, produced := 0, 0
	var conns *connLines
	if b.connInput != nil {
		conns = &connLines{input: *b.connInput, parser: connlog.NewParser(*b.connInput)}
	}
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := b.writer.WriteMessages(ctx, chunk...); err != nil {
			return &stageError{"produce", fmt.Errorf("producing s3://%s/%s lines up to %d: %w", o.Bucket, o.Key, lineNo, err)}
		}
		produced += len(chunk)
		b.metrics.lines.Add(float64(len(chunk)))
		chunk = chunk[:0]
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(line) > b.maxLineBytes {
			return produced, &LineTooLongError{Bucket: o.Bucket, Key: o.Key, Line: lineNo, Limit: b.maxLineBytes}
		}
		n := strconv.Itoa(lineNo)
		msg := kafka.Message{
			Key:   []byte(prefix + n),
			Value: bytes.Clone(line),
			Headers: []kafka.Header{
				{Key: HeaderBucket, Value: []byte(o.Bucket)},
				{Key: HeaderKey, Value: []byte(o.Key)},
				{Key: HeaderVersion, Value: version},
				{Key: HeaderLine, Value: []byte(n)},
			},
		}
		if conns != nil && !conns.rewrite(line, &msg) {
			continue // a header line
		}
		chunk = append(chunk, msg)
		if len(chunk) == b.chunkLines {
			if err := flush(); err != nil {
				return produced, err
			}
		}
	}
	b.metrics.bytes.Add(float64(counted.n))
	if err := sc.Err(); err != nil {
		var tooBig *ObjectTooLargeError
		switch {
		case errors.Is(err, bufio.ErrTooLong):
			return produced, &LineTooLongError{Bucket: o.Bucket, Key: o.Key, Line: lineNo + 1, Limit: b.maxLineBytes}
		case errors.As(err, &tooBig):
			tooBig.Bucket, tooBig.Key = o.Bucket, o.Key
			return produced, tooBig
		}
		return produced, fmt.Errorf("reading s3://%s/%s after line %d: %w", o.Bucket, o.Key, lineNo, err)
	}
	if err := flush(); err != nil {
		return produced, err
	}
	return produced, nil
}

// connLines rewrites the connection-log lines of one object.
type connLines struct {
	input     connlog.Input
	parser    *connlog.Parser
	conn      connlog.Conn
	sawHeader bool
}

// rewrite turns msg's line into a Zeek JSON line keyed by destination host;
// it returns false for a header line, which is not produced.
func (c *connLines) rewrite(line []byte, msg *kafka.Message) bool {
	if c.input == connlog.Auto && !c.sawHeader && !connlog.IsConnLogLine(line) {
		return true // an NSL-KDD record: as it is
	}
	ok, err := c.parser.Parse(line, &c.conn)
	switch {
	case err != nil:
		msg.Headers = append(msg.Headers, kafka.Header{Key: connlog.ParseErrorHeader, Value: []byte(err.Error())})
		return true
	case !ok:
		c.sawHeader = true
		return false
	}
	msg.Value = connlog.AppendZeekJSON(make([]byte, 0, len(line)+256), &c.conn)
	if c.conn.RespAddr.IsValid() {
		msg.Key = c.conn.RespAddr.AppendTo(msg.Key[:0])
	}
	return true
}

// countingReader counts bytes and fails past limit, so a small gzip cannot
// expand without bound.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, &ObjectTooLargeError{Limit: c.limit}
	}
	return n, err
}

// stageError tags an error with the step that failed, for the errors metric.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func errorType(err error) string {
	var tooLarge *ObjectTooLargeError
	var tooLong *LineTooLongError
	var stage *stageError
	switch {
	case errors.As(err, &tooLarge):
		return "too_large"
	case errors.As(err, &tooLong):
		return "line_too_long"
	case errors.As(err, &stage):
		return stage.stage
	default:
		return "read"
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
