//go:build e2e && chaos

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/stream"
)

// TestChaosSIGTERMWithAlerts stops `sagewall run` with SIGTERM in the middle
// of a backlog, alerts on and SNS up. It must exit 0 within its shutdown
// timeout having drained: every input offset it committed has a verdict,
// every verdict it wrote is for a committed offset (nothing left in flight
// uncommitted), every alert-worthy committed record is in the alert topic,
// and the notifier committed the alert topic only for alerts SNS accepted.
func TestChaosSIGTERMWithAlerts(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sub := newAlertSubscriber(ctx, t)
	bin := buildSagewall(t)
	raw, verdicts, dead, alerts := testenv.NewTopic(t, brokers, 4), testenv.NewTopic(t, brokers, 4), testenv.NewTopic(t, brokers, 1), testenv.NewTopic(t, brokers, 2)
	const n = 300_000
	produceLines(t, brokers, raw, n)
	cmd := exec.Command(bin, "run", "--shutdown-timeout", "15s")
	cmd.Env = append(os.Environ(), "SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+raw, "SAGEWALL_INPUT_FORMAT=nslkdd",
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_ALERTS_SNS_TOPIC_ARN="+sub.topicARN, "SAGEWALL_ALERTS_TOPIC="+alerts,
		"SAGEWALL_ALERTS_ENDPOINT_URL="+testenv.AWSEndpoint(t), "SAGEWALL_ALERTS_WINDOW=1s",
		"SAGEWALL_HTTP_ADDR=127.0.0.1:0", "SAGEWALL_LOG_LEVEL=info", "SAGEWALL_LOG_FORMAT=text")
	cmd.Stderr = os.Stderr
	sw := startSagewall(t, cmd)

	committed := groupCommitted(brokers, raw, raw)
	waitWithin(t, 60*time.Second, "30,000 records committed", func() bool { return committed() >= 30_000 })
	stopped := time.Now()
	sw.sigtermExits0()
	t.Logf("exit 0 %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))

	client := stream.NewClient(brokers, nil)
	offsets, err := stream.GroupOffsets(ctx, client, raw, raw)
	if err != nil {
		t.Fatal(err)
	}
	commit := map[int]int64{}
	var total int64
	for _, p := range offsets {
		commit[p.Partition] = max(p.Committed, 0)
		total += commit[p.Partition]
	}
	if total >= n {
		t.Fatalf("all %d records committed before SIGTERM took effect: the test stopped nothing mid-backlog", n)
	}

	// Verdicts: one for every committed offset, none beyond.
	judged := map[int]map[int64]bool{}
	alertWorthy := map[string]bool{}
	testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) {
		var v struct {
			Source struct {
				Partition int   `json:"partition"`
				Offset    int64 `json:"offset"`
			} `json:"source"`
			Score float64 `json:"score"`
			ID    string  `json:"id"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("verdict %s: %v", m.Value, err)
		}
		p, o := v.Source.Partition, v.Source.Offset
		if o >= commit[p] {
			t.Errorf("verdict for %s, but partition %d is committed only up to %d: left in flight", v.ID, p, commit[p])
		}
		if judged[p] == nil {
			judged[p] = map[int64]bool{}
		}
		judged[p][o] = true
		if v.Score >= 0.9 {
			alertWorthy[v.ID] = true
		}
	})
	for p, c := range commit {
		for o := range c {
			if !judged[p][o] {
				t.Fatalf("partition %d offset %d committed without a verdict", p, o)
			}
		}
	}

	// Alerts: every alert-worthy committed record is in the alert topic, and
	// the notifier committed only what SNS accepted: the alerts in the
	// messages below its commit point are at most those the queue received.
	notifierOffsets, err := stream.GroupOffsets(ctx, client, raw+".alerts", alerts)
	if err != nil {
		t.Fatal(err)
	}
	upTo := map[int]int64{}
	for _, p := range notifierOffsets {
		upTo[p.Partition] = max(p.Committed, 0)
	}
	inTopic := map[string]bool{}
	alertMessages, committedAlerts := 0, 0
	testenv.ScanTopic(t, brokers, alerts, func(m kafka.Message) {
		alertMessages++
		for line := range bytes.SplitSeq(bytes.TrimSpace(m.Value), []byte{'\n'}) {
			var a struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(line, &a); err != nil {
				t.Fatalf("alert line %s: %v", line, err)
			}
			inTopic[a.ID] = true
			if m.Offset < upTo[m.Partition] {
				committedAlerts++
			}
		}
	})
	for id := range alertWorthy {
		if !inTopic[id] {
			t.Fatalf("alert-worthy record %s committed, but not in the alert topic", id)
		}
	}
	delivered := sub.receive(ctx, t, 0, 20*time.Second, func() {})
	if delivered < committedAlerts {
		t.Errorf("the notifier committed %d alerts but SNS delivered %d", committedAlerts, delivered)
	}
	verdictCount := 0
	for _, offsets := range judged {
		verdictCount += len(offsets)
	}
	t.Logf("SIGTERM at %d of %d committed: %d verdicts, %d alerts in %d messages, notifier committed %d alerts, SNS delivered %d",
		total, n, verdictCount, len(inTopic), alertMessages, committedAlerts, delivered)
}
