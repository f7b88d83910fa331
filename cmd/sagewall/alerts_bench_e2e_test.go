//go:build e2e

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sagewall/sagewall/internal/testenv"
)

// BenchmarkRunAlerts measures `sagewall run` draining the same 500,000-record
// backlog through the real broker with alerts off, on (SNS on moto, which
// runs on the same cores), and outbox (alerts on, SNS unreachable: the
// pipeline's own cost of the outbox, the alerts waiting in Kafka): one
// iteration is one run from an empty group to every offset committed.
// Compare the records/s of the two with benchstat:
//
//	scripts/e2e.sh -run x -bench BenchmarkRunAlerts -benchtime 1x -count 5 ./cmd/sagewall/ | tee /tmp/alerts.txt
//	benchstat -col /alerts /tmp/alerts.txt
func BenchmarkRunAlerts(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topic, err := sns.NewFromConfig(testenv.AWSConfig(ctx, b)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(testenv.UniqueName(b))})
	if err != nil {
		b.Fatal(err)
	}
	bin := buildSagewall(b)
	const n = 500_000
	raw := testenv.NewTopic(b, brokers, 4)
	produceLines(b, brokers, raw, n)
	topicARN := aws.ToString(topic.TopicArn)
	// One unmeasured run first: the first run after producing the backlog
	// reads it cold (116,000 records/s against ~190,000 for the next ones),
	// which would count against whichever mode comes first.
	runAlertsMode(b, bin, brokers, raw, topicARN, "off", n)
	for _, mode := range []string{"off", "on", "outbox"} {
		b.Run("alerts="+mode, func(b *testing.B) {
			var elapsed time.Duration
			for b.Loop() {
				elapsed += runAlertsMode(b, bin, brokers, raw, topicARN, mode, n)
			}
			b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "records/s")
		})
	}
}

// runAlertsMode runs `sagewall run` on the backlog in a fresh group with
// alerts in mode until all n offsets are committed, stops it with SIGTERM
// and returns the time from its start to the last commit.
func runAlertsMode(b *testing.B, bin string, brokers []string, raw, topicARN, mode string, n int64) time.Duration {
	b.Helper()
	group := testenv.UniqueName(b)
	env := append(os.Environ(), "SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+group, "SAGEWALL_INPUT_FORMAT=nslkdd",
		"SAGEWALL_OUTPUT_TOPIC="+group+".verdicts", "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+group+".dlq",
		"SAGEWALL_HTTP_ADDR=127.0.0.1:0", "SAGEWALL_LOG_LEVEL=warn")
	switch mode {
	case "on":
		env = append(env, "SAGEWALL_ALERTS_SNS_TOPIC_ARN="+topicARN,
			"SAGEWALL_ALERTS_TOPIC="+group+".alerts", "SAGEWALL_ALERTS_ENDPOINT_URL="+testenv.AWSEndpoint(b))
	case "outbox":
		env = append(env, "SAGEWALL_ALERTS_SNS_TOPIC_ARN="+topicARN,
			"SAGEWALL_ALERTS_TOPIC="+group+".alerts", "SAGEWALL_ALERTS_ENDPOINT_URL=http://127.0.0.1:1",
			"SAGEWALL_SHUTDOWN_TIMEOUT=2s")
	}
	cmd := exec.Command(bin, "run")
	cmd.Env = env
	var logs bytes.Buffer // shown on failure; interleaved, it breaks benchstat's input
	cmd.Stderr = &logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	committed := groupCommitted(brokers, group, raw)
	for committed() < n {
		if time.Since(start) > 5*time.Minute {
			_ = cmd.Process.Kill()
			b.Fatalf("alerts %s: %d of %d committed after 5 minutes\n%s", mode, committed(), n, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("alerts %s: exit %v after SIGTERM\n%s", mode, err, logs.String())
	}
	return elapsed
}
