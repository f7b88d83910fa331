//go:build e2e

package s3bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
)

// TestE2EFullFlow drops an NSL-KDD file in S3 and follows it through every
// AWS edge: notification → bridge → raw topic → pipeline scoring on a
// SageMaker-protocol endpoint (`sagewall serve`'s handler) → verdict topic,
// and alerts → SNS → an SQS subscription. Every record is accounted for.
func TestE2EFullFlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env := newE2EAWS(ctx, t)
	brokers := testenv.KafkaBrokers(t)
	rawTopic, verdictTopic, deadTopic := testenv.NewTopic(t, brokers, 3), testenv.NewTopic(t, brokers, 3), testenv.NewTopic(t, brokers, 1)
	alertTopic := testenv.NewTopic(t, brokers, 1)
	quiet := slog.New(slog.DiscardHandler)
	// The pipeline's and the bridge's warnings and errors show in a failed
	// test's output: they say where a record stopped.
	loud := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}

	// Alerts: SNS topic with an SQS subscription.
	cfg := testenv.AWSConfig(ctx, t)
	snsc := sns.NewFromConfig(cfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testenv.UniqueName(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = snsc.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	alertQueue, err := env.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName(t) + "-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.sqs.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: alertQueue.QueueUrl})
	})
	qattrs, err := env.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: alertQueue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qattrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatal(err)
	}

	// The endpoint: serve's handler behind SageMaker's runtime path.
	handler := serve.NewHandler(det, serve.WithLogger(quiet))
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/invocations"
		handler.ServeHTTP(w, r2)
	}))
	defer endpoint.Close()
	smCfg := cfg.Copy()
	smCfg.BaseEndpoint = nil
	scorer, err := sagemaker.New(sagemaker.NewClientFromConfig(smCfg, endpoint.URL), "sagewall-e2e",
		sagemaker.WithCategorizer(det), sagemaker.WithThreshold(det.Threshold()), sagemaker.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}

	// The pipeline, as `sagewall run` assembles it.
	reader := stream.NewReader(stream.Conn{Brokers: brokers}, rawTopic+"-group", rawTopic)
	defer reader.Close()
	kafkaSink := sinks.NewKafka(brokers, verdictTopic, sinks.WithDeadLetterTopic(deadTopic))
	defer kafkaSink.Close()
	alerts, err := sinks.NewSNS(snsc, aws.ToString(topic.TopicArn), sinks.WithAlertWindow(500*time.Millisecond), sinks.WithSNSLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	// Alerts go through the outbox: the alert topic, then the notifier to SNS.
	alertSink := sinks.NewAlertTopic(sinks.NewKafka(brokers, alertTopic, sinks.WithFormat(sinks.AlertFormat{})), sinks.DefaultAlertThreshold)
	defer alertSink.Close()
	alertReader := stream.NewReader(stream.Conn{Brokers: brokers}, alertTopic+"-group", alertTopic)
	defer alertReader.Close()
	notifier, err := stream.NewNotifier(alertReader, alerts, stream.WithNotifierLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	pipeline, err := stream.New(reader, scorer, stream.WithSpec(det.Spec()), stream.WithModel(scorer.Info(), det.Threshold()),
		stream.WithSinks(kafkaSink, alertSink), stream.WithDeadLetters(kafkaSink), stream.WithLogger(loud))
	if err != nil {
		t.Fatal(err)
	}
	writer := NewWriter(brokers, rawTopic, nil)
	defer writer.Close()
	bridge, err := New(env.sqs, env.s3, writer, env.queueURL, WithWaitTime(time.Second), WithLogger(loud))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// A component that stops early ends the waits below at once, with its
	// error, instead of at the test's deadline.
	ctx, stopped := context.WithCancelCause(ctx)
	defer stopped(nil)
	for name, run := range map[string]func(context.Context) error{"alerts": alerts.Run, "notifier": notifier.Run, "pipeline": pipeline.Run, "bridge": bridge.Run} {
		go func() {
			err := run(runCtx)
			if runCtx.Err() == nil {
				stopped(fmt.Errorf("%s stopped: %w", name, err))
			}
		}()
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// Where the records stood, for the failure's message.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t.Logf("at the failure: raw topic %d records, verdict topic %d, notification queue %d messages; pipeline %+v",
			topicSize(cctx, t, brokers, rawTopic), topicSize(cctx, t, brokers, verdictTopic), env.queueDepth(cctx, t), pipeline.Stats())
	})

	const n = 5000
	lines := trainLines(t, n)
	if _, err := env.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.bucket), Key: aws.String("incoming/KDDTrain+ part1.txt.gz"),
		Body: bytes.NewReader(gzipped(t, strings.Join(lines, "\n")+"\n"))}); err != nil {
		t.Fatal(err)
	}

	// What the alerts must add up to: the local model's scores >= 0.90.
	rows := make([]float32, n*det.Spec().Width())
	enc := etl.NewEncoder(det.Spec())
	services := make([]string, n)
	var rec etl.Record
	for i, l := range lines {
		if err := enc.Encode([]byte(l), &rec, rows[i*det.Spec().Width():(i+1)*det.Spec().Width()]); err != nil {
			t.Fatal(err)
		}
		services[i] = rec.Service
	}
	local := make([]scoring.Result, n)
	if err := det.Score(ctx, rows, local); err != nil {
		t.Fatal(err)
	}
	wantAlerts := map[string]int{}
	wantTotal := 0
	for i, r := range local {
		if float64(r.Score) >= sinks.DefaultAlertThreshold {
			wantAlerts[r.Category.String()+"/"+services[i]]++
			wantTotal++
		}
	}

	// Verdicts: one per line, each scored as the local model scores it.
	verdicts := consumeAll(ctx, t, brokers, verdictTopic, n)
	byID := map[string]float64{} // by source "topic/partition/offset"
	for _, m := range verdicts {
		var v struct {
			ID    string                `json:"id"`
			Score float64               `json:"score"`
			Model struct{ Name string } `json:"model"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("verdict %s: %v", m.Value, err)
		}
		if v.Model.Name != "sagemaker:sagewall-e2e" {
			t.Fatalf("verdict scored by %q", v.Model.Name)
		}
		byID[v.ID] = v.Score
	}
	if len(byID) != n {
		t.Fatalf("%d verdicts, want %d", len(byID), n)
	}
	if size := topicSize(ctx, t, brokers, deadTopic); size != 0 {
		t.Errorf("%d dead letters, want 0", size)
	}
	var scoreSum, wantSum float64
	for _, s := range byID {
		scoreSum += s
	}
	for _, r := range local {
		wantSum += float64(r.Score)
	}
	if math.Abs(scoreSum-wantSum) > 1e-6*n {
		t.Errorf("sum of verdict scores %v, local model %v", scoreSum, wantSum)
	}

	// Alerts: aggregated counts add up to the records above the threshold.
	gotAlerts := map[string]int{}
	gotTotal := 0
	for gotTotal < wantTotal {
		out, err := env.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: alertQueue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receiving alerts after %d of %d: %v", gotTotal, wantTotal, err)
		}
		for _, m := range out.Messages {
			var envl struct {
				MessageAttributes map[string]struct{ Value string }
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &envl); err != nil {
				t.Fatal(err)
			}
			count, _ := strconv.Atoi(envl.MessageAttributes["count"].Value)
			gotAlerts[envl.MessageAttributes["category"].Value+"/"+envl.MessageAttributes["service"].Value] += count
			gotTotal += count
			_, _ = env.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: alertQueue.QueueUrl, ReceiptHandle: m.ReceiptHandle})
		}
	}
	for g, c := range wantAlerts {
		if gotAlerts[g] != c {
			t.Errorf("alerts for %s: %d, want %d", g, gotAlerts[g], c)
		}
	}
	if gotTotal != wantTotal {
		t.Errorf("%d alerts, want %d", gotTotal, wantTotal)
	}
	waitFor(ctx, t, "the notification queue to drain", func() bool { return env.queueDepth(ctx, t) == 0 })
	t.Logf("%d lines → %d verdicts, %d alerts in %d groups", n, len(byID), gotTotal, len(gotAlerts))
}
