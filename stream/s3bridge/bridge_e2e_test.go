//go:build e2e

package s3bridge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
)

// e2eAWS is moto with a bucket notifying a queue of created objects.
type e2eAWS struct {
	s3       *s3.Client
	sqs      *sqs.Client
	bucket   string
	queueURL string
}

func newE2EAWS(ctx context.Context, t *testing.T) e2eAWS {
	t.Helper()
	cfg := testenv.AWSConfig(ctx, t)
	e := e2eAWS{s3: s3.NewFromConfig(cfg, testenv.S3PathStyle), sqs: sqs.NewFromConfig(cfg)}
	q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName(t))})
	if err != nil {
		t.Fatalf("creating SQS queue: %v", err)
	}
	e.queueURL = aws.ToString(q.QueueUrl)
	t.Cleanup(func() { _, _ = e.sqs.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	attrs, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading queue ARN: %v", err)
	}
	e.bucket = testenv.UniqueName(t)
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.bucket)}); err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket)})
		if list != nil {
			for _, o := range list.Contents {
				_, _ = e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: o.Key})
			}
		}
		_, _ = e.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(e.bucket)})
	})
	_, err = e.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(e.bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
			Events:   []s3types.Event{s3types.EventS3ObjectCreated},
		}}},
	})
	if err != nil {
		t.Fatalf("configuring bucket notifications: %v", err)
	}
	return e
}

// queueDepth is the visible plus in-flight messages of the queue.
func (e e2eAWS) queueDepth(ctx context.Context, t *testing.T) int {
	t.Helper()
	out, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("reading queue depth: %v", err)
	}
	visible, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	hidden, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible + hidden
}

// trainLines returns the first n lines of KDDTrain+ (20%).
func trainLines(t *testing.T, n int) []string {
	t.Helper()
	f, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for len(lines) < n && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// consumeAll waits until topic holds n messages and reads them, partition by partition.
func consumeAll(ctx context.Context, t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	waitFor(ctx, t, strconv.Itoa(n)+" messages on "+topic, func() bool { return topicSize(ctx, t, brokers, topic) >= int64(n) })
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	partitions, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for _, p := range partitions {
		leader, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := leader.ReadLastOffset()
		if err != nil {
			t.Fatal(err)
		}
		for offset := int64(0); offset < last; {
			if _, err := leader.Seek(offset, kafka.SeekAbsolute); err != nil {
				t.Fatal(err)
			}
			batch := leader.ReadBatch(1, 16<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				msgs = append(msgs, m)
				offset = m.Offset + 1
			}
			batch.Close()
		}
		leader.Close()
	}
	if len(msgs) != n {
		t.Fatalf("read %d messages from %s, want %d", len(msgs), topic, n)
	}
	return msgs
}

// topicSize is the number of messages in topic (sum of high watermarks).
func topicSize(ctx context.Context, t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range meta.Topics[0].Partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
	}
	out, err := client.ListOffsets(ctx, req)
	if err != nil {
		t.Fatalf("listing offsets of %s: %v", topic, err)
	}
	var total int64
	for _, p := range out.Topics[topic] {
		total += p.LastOffset
	}
	return total
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestE2EBridgeS3ToKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env := newE2EAWS(ctx, t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.NewTopic(t, brokers, 3)

	// A gzipped file whose key needs form-decoding, and a plain one.
	lines := trainLines(t, 3000)
	gzKey, plainKey := "drop/day 1+2/KDDTrain.txt.gz", "drop/plain.csv"
	if _, err := env.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.bucket), Key: aws.String(gzKey),
		Body: bytes.NewReader(gzipped(t, strings.Join(lines[:2000], "\n")+"\n"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.bucket), Key: aws.String(plainKey),
		Body: strings.NewReader(strings.Join(lines[2000:], "\r\n"))}); err != nil {
		t.Fatal(err)
	}

	// Peek at the notifications (leaving them visible) to replay one later.
	var created []string
	waitFor(ctx, t, "the ObjectCreated notifications", func() bool {
		out, err := env.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(env.queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 0})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			// Visible again at once (moto reads VisibilityTimeout 0 as the queue default).
			if _, err := env.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(env.queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
			if body := aws.ToString(m.Body); strings.Contains(body, "ObjectCreated") && !slices.Contains(created, body) {
				created = append(created, body)
			}
		}
		return len(created) == 2
	})

	writer := NewWriter(brokers, topic, nil)
	defer writer.Close()
	reg := prometheus.NewRegistry()
	bridge, err := New(env.sqs, env.s3, writer, env.queueURL, WithWaitTime(time.Second), WithVisibility(4*time.Second),
		WithChunkLines(500), WithRegisterer(reg), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- bridge.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-stopped; err != nil {
			t.Errorf("bridge: %v", err)
		}
	}()

	msgs := consumeAll(ctx, t, brokers, topic, 3000)
	seen := map[string]bool{}
	for _, m := range msgs {
		key := header(m, HeaderKey)
		lineNo, err := strconv.Atoi(header(m, HeaderLine))
		if err != nil || header(m, HeaderBucket) != env.bucket || header(m, HeaderVersion) == "" {
			t.Fatalf("message %q: headers %v", m.Key, m.Headers)
		}
		want := lines[lineNo-1]
		if key == plainKey {
			want = lines[2000+lineNo-1]
		} else if key != gzKey {
			t.Fatalf("message from unexpected key %q", key)
		}
		if string(m.Value) != want || string(m.Key) != env.bucket+"/"+key+":"+strconv.Itoa(lineNo) {
			t.Fatalf("message %q = %q, want line %d %q", m.Key, m.Value, lineNo, want)
		}
		if seen[string(m.Key)] {
			t.Fatalf("line %q produced twice", m.Key)
		}
		seen[string(m.Key)] = true
	}
	// Every notification (and the s3:TestEvent) is deleted once its lines are acknowledged.
	waitFor(ctx, t, "the queue to drain", func() bool { return env.queueDepth(ctx, t) == 0 })

	// A duplicate notification of the gzipped object produces nothing more,
	// and a poison message is left for the redrive policy without stopping the bridge.
	for _, body := range []string{created[0], "not json"} {
		if _, err := env.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(env.queueURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(ctx, t, "the duplicate to be handled", func() bool {
		return counterValue(t, reg, "sagewall_bridge_errors_total", "parse") >= 1 && env.queueDepth(ctx, t) == 1
	})
	if got := topicSize(ctx, t, brokers, topic); got != 3000 {
		t.Errorf("topic holds %d messages after a duplicate notification, want 3000", got)
	}
	if got := counterValue(t, reg, "sagewall_bridge_lines_total", ""); got != 3000 {
		t.Errorf("lines metric %v, want 3000", got)
	}
	if got := counterValue(t, reg, "sagewall_bridge_objects_total", ""); got != 2 {
		t.Errorf("objects metric %v, want 2", got)
	}
	if gzKeyMsgs := countKey(msgs, gzKey); gzKeyMsgs != 2000 {
		t.Errorf("%d lines from the gzipped object, want 2000", gzKeyMsgs)
	}
	if errors.Is(runCtx.Err(), context.Canceled) {
		t.Fatal("bridge stopped early")
	}
}

func countKey(msgs []kafka.Message, key string) int {
	n := 0
	for _, m := range msgs {
		if header(m, HeaderKey) == key {
			n++
		}
	}
	return n
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, typeLabel string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if typeLabel == "" {
				return m.GetCounter().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "type" && lp.GetValue() == typeLabel {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// slowWriter delays every acknowledged write, as a slow or distant cluster would.
type slowWriter struct {
	Writer
	delay time.Duration
}

func (w slowWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	time.Sleep(w.delay)
	return w.Writer.WriteMessages(ctx, msgs...)
}

// An object that takes longer than the visibility timeout keeps its message
// hidden (the bridge extends it), so a second worker never takes it over.
func TestE2EBridgeExtendsVisibility(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env := newE2EAWS(ctx, t)
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.NewTopic(t, brokers, 1)
	kw := NewWriter(brokers, topic, nil)
	defer kw.Close()
	reg := prometheus.NewRegistry()
	bridge, err := New(env.sqs, env.s3, slowWriter{kw, 400 * time.Millisecond}, env.queueURL, WithWaitTime(time.Second),
		WithVisibility(2*time.Second), WithChunkLines(100), WithWorkers(2), WithRegisterer(reg), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = bridge.Run(runCtx) }()

	lines := trainLines(t, 1500) // 15 chunks × 400 ms ≈ 6 s, three visibility timeouts
	if _, err := env.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.bucket), Key: aws.String("slow.csv"),
		Body: strings.NewReader(strings.Join(lines, "\n"))}); err != nil {
		t.Fatal(err)
	}
	consumeAll(ctx, t, brokers, topic, len(lines))
	waitFor(ctx, t, "the queue to drain", func() bool { return env.queueDepth(ctx, t) == 0 })
	time.Sleep(3 * time.Second) // a takeover would have produced by now
	if got := topicSize(ctx, t, brokers, topic); got != int64(len(lines)) {
		t.Errorf("topic holds %d messages, want %d: the message was taken over mid-object", got, len(lines))
	}
	if got := counterValue(t, reg, "sagewall_bridge_errors_total", "visibility"); got != 0 {
		t.Errorf("%v visibility extension errors", got)
	}
}
