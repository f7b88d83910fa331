//go:build e2e

package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
)

// withheldEntry wraps the real SNS client: on the first PublishBatch it
// withholds the last entry from moto and reports it Failed in an otherwise
// successful response, as SNS does for a partial failure.
type withheldEntry struct {
	*sns.Client
	calls    atomic.Int64
	withheld atomic.Int64
}

func (w *withheldEntry) PublishBatch(ctx context.Context, in *sns.PublishBatchInput, optFns ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	if w.calls.Add(1) > 1 || len(in.PublishBatchRequestEntries) < 2 {
		return w.Client.PublishBatch(ctx, in, optFns...)
	}
	entries := in.PublishBatchRequestEntries
	last := entries[len(entries)-1]
	sent := *in
	sent.PublishBatchRequestEntries = entries[:len(entries)-1]
	out, err := w.Client.PublishBatch(ctx, &sent, optFns...)
	if err != nil {
		return nil, err
	}
	w.withheld.Add(1)
	out.Failed = append(out.Failed, snstypes.BatchResultErrorEntry{Id: last.Id, Code: aws.String("InternalError"), Message: aws.String("injected"), SenderFault: false})
	return out, nil
}

func TestE2ESNSAlertsToSQS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := testenv.AWSConfig(ctx, t)
	snsc := sns.NewFromConfig(cfg)
	sqsc := sqs.NewFromConfig(cfg)

	topicARN, queueURL := subscribedQueue(ctx, t, snsc, sqsc, false)

	client := &withheldEntry{Client: snsc}
	sink := runSink(ctx, t, client, topicARN)

	// 20 000 verdicts in batches of 500 over 12 (category, service) groups;
	// scores cycle so that some are below the threshold.
	categories := []etl.Class{etl.DoS, etl.Probe, etl.R2L}
	services := []string{"http", "private", "ftp_data", "smtp"}
	wantCounts := map[string]int{}
	var wg sync.WaitGroup
	var failed atomic.Int64
	offset := int64(0)
	for range 40 {
		batch := make([]Verdict, 500)
		for i := range batch {
			score := float32(0.85 + float64(offset%16)*0.01) // 0.85 .. 1.00
			c, s := categories[offset%3], services[offset%4]
			batch[i] = verdict(offset, score, c, s)
			if float64(score) >= DefaultAlertThreshold {
				wantCounts[c.String()+"/"+s]++
			}
			offset++
		}
		wg.Add(1)
		sink.Publish(ctx, alertsOf(batch), func(err error) {
			if err != nil {
				failed.Add(1)
				t.Errorf("batch failed: %v", err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if client.withheld.Load() != 1 {
		t.Fatalf("the partial failure was not injected (%d)", client.withheld.Load())
	}

	// Every alert is in exactly one accepted message: counts add up per group.
	gotCounts := map[string]int{}
	total := 0
	for total < 20000 && ctx.Err() == nil {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			attr := readEnvelope(t, m).MessageAttributes
			n, err := strconv.Atoi(attr["count"].Value)
			if err != nil || attr["count"].Type != "Number" || attr["score"].Type != "Number" || attr["severity"].Value == "" {
				t.Fatalf("attributes %v", attr)
			}
			gotCounts[attr["category"].Value+"/"+attr["service"].Value] += n
			total++
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkGroupCounts(t, gotCounts, wantCounts)
	if total > 12*10 {
		t.Errorf("%d messages for 12 groups: aggregation did not hold", total)
	}
	t.Logf("%d alerts in %d messages", sum(wantCounts), total)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// acceptedThenFailed wraps the real SNS client: its first PublishBatch reaches
// moto and is accepted, but the sink is told it failed, as after a timeout,
// so the sink sends the same entries again.
type acceptedThenFailed struct {
	*sns.Client
	calls    atomic.Int64
	accepted atomic.Int64 // entries moto accepted in the call reported failed
}

func (a *acceptedThenFailed) PublishBatch(ctx context.Context, in *sns.PublishBatchInput, optFns ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	out, err := a.Client.PublishBatch(ctx, in, optFns...)
	if a.calls.Add(1) > 1 || err != nil {
		return out, err
	}
	a.accepted.Add(int64(len(out.Successful)))
	return nil, errors.New("injected: response lost after SNS accepted the batch")
}

// On a FIFO topic every alert arrives once, in its (category, service) group,
// even when the sink resends a batch SNS had already accepted.
//
// What moto 5.2.5 enforces, and so what this test proves: PublishBatch to a
// FIFO topic without MessageGroupId on every entry is refused (the sink
// before FIFO support failed here), and an entry without
// MessageDeduplicationId on a topic without content-based deduplication is
// refused. moto's SNS does not deduplicate itself; it passes the
// MessageDeduplicationId on to a FIFO SQS subscription, whose queue drops a
// message whose id matches one still in the queue (real SNS drops it at the
// topic, for 5 minutes). The duplicate here is sent before anything is
// received, so the queue still holds the first copy and the count check below
// does test the id.
func TestE2ESNSFIFOAlertsToSQS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := testenv.AWSConfig(ctx, t)
	snsc := sns.NewFromConfig(cfg)
	sqsc := sqs.NewFromConfig(cfg)

	topicARN, queueURL := subscribedQueue(ctx, t, snsc, sqsc, true)

	// moto refuses what real SNS refuses, so the rest is not vacuous.
	plain := snstypes.PublishBatchRequestEntry{Id: aws.String("0"), Message: aws.String("probe")}
	if _, err := snsc.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: topicARN, PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{plain}}); err == nil || !strings.Contains(err.Error(), "MessageGroupId") {
		t.Fatalf("PublishBatch without MessageGroupId: %v, want refused", err)
	}
	grouped := plain
	grouped.MessageGroupId = aws.String("g")
	out, err := snsc.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: topicARN, PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{grouped}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failed) != 1 || !out.Failed[0].SenderFault {
		t.Fatalf("entry without MessageDeduplicationId: failed %+v, successful %+v, want refused", out.Failed, out.Successful)
	}

	client := &acceptedThenFailed{Client: snsc}
	sink := runSink(ctx, t, client, topicARN)

	// Three rounds, each settled before the next, so that every group has a
	// message per window and the order within a group can be checked. The
	// space in "ftp data" is not allowed in a MessageGroupId.
	categories := []etl.Class{etl.DoS, etl.Probe}
	services := []string{"http", "ftp data"}
	wantGroups := map[string]string{"dos/http": "dos/http", "dos/ftp data": "dos/ftp_data", "probe/http": "probe/http", "probe/ftp data": "probe/ftp_data"}
	wantCounts := map[string]int{}
	offset := int64(0)
	for range 3 {
		var wg sync.WaitGroup
		for range 4 {
			batch := make([]Verdict, 100)
			for i := range batch {
				c, s := categories[offset%2], services[(offset/2)%2]
				batch[i] = verdict(offset, 0.95, c, s)
				wantCounts[c.String()+"/"+s]++
				offset++
			}
			wg.Add(1)
			sink.Publish(ctx, alertsOf(batch), func(err error) {
				if err != nil {
					t.Errorf("batch failed: %v", err)
				}
				wg.Done()
			})
		}
		wg.Wait()
	}
	if client.accepted.Load() != 4 || client.calls.Load() < 2 {
		t.Fatalf("the lost response was not injected: %d calls, %d entries accepted by the first", client.calls.Load(), client.accepted.Load())
	}

	gotCounts := map[string]int{}
	lastFirst := map[string]time.Time{}
	messages := 0
	for ctx.Err() == nil {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameMessageGroupId}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			env := readEnvelope(t, m)
			attr := env.MessageAttributes
			g := attr["category"].Value + "/" + attr["service"].Value
			if got, want := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)], wantGroups[g]; got != want || want == "" {
				t.Errorf("group %s: MessageGroupId %q, want %q", g, got, want)
			}
			n, err := strconv.Atoi(attr["count"].Value)
			if err != nil {
				t.Fatalf("count attribute %v", attr)
			}
			gotCounts[g] += n
			messages++
			// Windows follow one another, so within a group each message's
			// alerts come after the previous message's.
			first, err := firstAlertTime(env.Message)
			if err != nil {
				t.Fatal(err)
			}
			if !first.After(lastFirst[g]) {
				t.Errorf("group %s: message starting %v after one starting %v", g, first, lastFirst[g])
			}
			lastFirst[g] = first
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The resent entries of the first call would double those groups' counts.
	checkGroupCounts(t, gotCounts, wantCounts)
	t.Logf("%d alerts in %d messages, %d PublishBatch calls", sum(wantCounts), messages, client.calls.Load())
}

// firstAlertTime reads the "first:" line of an alert message.
func firstAlertTime(msg string) (time.Time, error) {
	for line := range strings.Lines(msg) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "first: "); ok {
			return time.Parse(time.RFC3339Nano, v)
		}
	}
	return time.Time{}, errors.New("parsing alert message: no first: line")
}

// snsEnvelope is an SNS notification as its SQS subscription receives it.
type snsEnvelope struct {
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// readEnvelope decodes m's body and checks that its subject names the
// alert's count, category and service.
func readEnvelope(t *testing.T, m sqstypes.Message) snsEnvelope {
	t.Helper()
	var env snsEnvelope
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
		t.Fatalf("not an SNS envelope: %v: %s", err, aws.ToString(m.Body))
	}
	attr := env.MessageAttributes
	if want := "SAGEWALL ALERT: " + attr["count"].Value + " " + attr["category"].Value + " on " + attr["service"].Value; env.Subject != want {
		t.Errorf("subject %q, want %q", env.Subject, want)
	}
	return env
}

// checkGroupCounts compares the alerts delivered per category/service group
// with those expected.
func checkGroupCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("alert groups %v, want %v", got, want)
	}
	for g, n := range want {
		if got[g] != n {
			t.Errorf("group %s: %d alerts delivered, want %d", g, got[g], n)
		}
	}
}

// subscribedQueue creates an SNS topic and an SQS queue subscribed to it,
// both FIFO when fifo is set, deleted when the test ends.
func subscribedQueue(ctx context.Context, t *testing.T, snsc *sns.Client, sqsc *sqs.Client, fifo bool) (topicARN, queueURL *string) {
	t.Helper()
	name := testenv.UniqueName(t)
	topicIn := &sns.CreateTopicInput{Name: aws.String(name)}
	queueIn := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if fifo {
		topicIn.Name = aws.String(name + ".fifo")
		topicIn.Attributes = map[string]string{"FifoTopic": "true"}
		queueIn.QueueName = aws.String(name + ".fifo")
		queueIn.Attributes = map[string]string{string(sqstypes.QueueAttributeNameFifoQueue): "true"}
	}
	topic, err := snsc.CreateTopic(ctx, topicIn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = snsc.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	q, err := sqsc.CreateQueue(ctx, queueIn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sqsc.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	attrs, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatal(err)
	}
	return topic.TopicArn, q.QueueUrl
}

// runSink starts an alert sink on topicARN through client with 300 ms
// windows and fast retries; it runs until the test ends.
func runSink(ctx context.Context, t *testing.T, client SNSAPI, topicARN *string) *SNS {
	t.Helper()
	sink, err := NewSNS(client, aws.ToString(topicARN), WithAlertWindow(300*time.Millisecond), WithAlertExamples(3),
		WithPublishRetry(5, 50*time.Millisecond, 200*time.Millisecond), WithSNSLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go sink.Run(runCtx)
	return sink
}
