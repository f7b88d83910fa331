//go:build e2e

package sinks

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
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

	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testenv.UniqueName(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = snsc.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName(t))})
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

	client := &withheldEntry{Client: snsc}
	sink, err := NewSNS(client, aws.ToString(topic.TopicArn), WithAlertWindow(300*time.Millisecond), WithAlertExamples(3),
		WithPublishRetry(5, 50*time.Millisecond, 200*time.Millisecond), WithSNSLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sink.Run(runCtx)

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
		sink.Write(ctx, batch, func(err error) {
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
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			var env struct {
				Subject           string
				Message           string
				MessageAttributes map[string]struct{ Type, Value string }
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatalf("not an SNS envelope: %v: %s", err, aws.ToString(m.Body))
			}
			attr := env.MessageAttributes
			n, err := strconv.Atoi(attr["count"].Value)
			if err != nil || attr["count"].Type != "Number" || attr["score"].Type != "Number" || attr["severity"].Value == "" {
				t.Fatalf("attributes %v", attr)
			}
			if want := "SAGEWALL ALERT: " + attr["count"].Value + " " + attr["category"].Value + " on " + attr["service"].Value; env.Subject != want {
				t.Errorf("subject %q, want %q", env.Subject, want)
			}
			gotCounts[attr["category"].Value+"/"+attr["service"].Value] += n
			total++
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(gotCounts) != len(wantCounts) {
		t.Fatalf("alert groups %v, want %v", gotCounts, wantCounts)
	}
	for g, n := range wantCounts {
		if gotCounts[g] != n {
			t.Errorf("group %s: %d alerts published, want %d", g, gotCounts[g], n)
		}
	}
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
