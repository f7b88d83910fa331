//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/sinks"
)

// TestE2EOversizedRecords: a 1,040,000-byte and a 5 MB record among good
// ones, on a broker with default limits for the verdict and dead-letter
// topics (which sagewall creates). Neither crashes the process nor stops
// its partition: both become truncated dead letters with their original
// size and SHA-256, every other record gets its verdict, every offset is
// committed, RSS stays bounded, and SIGTERM exits 0.
func TestE2EOversizedRecords(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	bin := buildSagewall(t)
	raw := testenv.UniqueName(t) + "-raw"
	verdicts, dead := testenv.UniqueName(t)+"-verdicts", testenv.UniqueName(t)+"-dlq"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	// The raw topic admits 6 MB records (a producer raised its limit); the
	// outputs get the broker's defaults.
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: raw, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "6291456"}},
	}}})
	if err == nil {
		err = resp.Errors[raw]
	}
	if err != nil {
		t.Fatalf("creating %s: %v", raw, err)
	}
	const good = "0,tcp,http,SF,215,45076,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,0,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,normal,21"
	sizes := map[int64]int{} // offset → size of the oversized records
	var msgs []kafka.Message
	for i := range 2000 {
		value := []byte(good)
		switch i {
		case 500:
			value = bytes.Repeat([]byte("x"), 1_040_000)
		case 1000:
			value = bytes.Repeat([]byte("y"), 5<<20)
		}
		if len(value) > 1000 {
			sizes[int64(i)] = len(value)
		}
		msgs = append(msgs, kafka.Message{Value: value})
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: raw, RequiredAcks: kafka.RequireAll, BatchBytes: 6 << 20, BatchSize: 100}
	for start := 0; start < len(msgs); start += 100 {
		if err := testenv.WriteToNewTopic(ctx, w, msgs[start:start+100]...); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	w.Close()

	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), "SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+raw, "SAGEWALL_INPUT_FORMAT=nslkdd",
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_HTTP_ADDR=127.0.0.1:0", "SAGEWALL_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	committed := groupCommitted(brokers, raw, raw)
	peakRSS := 0
	waitWithin(t, 2*time.Minute, "every offset committed", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("sagewall exited (%v) with %d of 2000 committed", err, committed())
		default:
		}
		peakRSS = max(peakRSS, rssMB(cmd.Process.Pid))
		return committed() == 2000
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0", err)
	}
	t.Logf("peak RSS %d MB", peakRSS)
	if peakRSS > 400 {
		t.Errorf("peak RSS %d MB, want at most 400", peakRSS)
	}

	seen := map[int64]string{}
	testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) {
		_, offset, _ := strings.Cut(strings.TrimPrefix(string(m.Key), raw+"/"), "/")
		n, _ := strconv.ParseInt(offset, 10, 64)
		seen[n] = "verdict"
	})
	testenv.ScanTopic(t, brokers, dead, func(m kafka.Message) {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		offset, _ := strconv.ParseInt(h[sinks.HeaderSourceOffset], 10, 64)
		seen[offset] = "dead letter"
		want, oversized := sizes[offset]
		if !oversized {
			t.Errorf("offset %d dead-lettered (%s), want a verdict", offset, h[sinks.HeaderReason])
			return
		}
		if h[sinks.HeaderTruncated] != "true" || h[sinks.HeaderOriginalSize] != strconv.Itoa(want) ||
			len(h[sinks.HeaderOriginalSHA256]) != 64 || len(m.Value) >= want || len(m.Value) < 500_000 {
			t.Errorf("offset %d: dead letter of %d bytes with headers %v, want a truncated copy of %d bytes", offset, len(m.Value), h, want)
		}
	})
	for offset := range int64(2000) {
		want := "verdict"
		if _, ok := sizes[offset]; ok {
			want = "dead letter"
		}
		if seen[offset] != want {
			t.Fatalf("offset %d: %q, want a %s", offset, seen[offset], want)
		}
	}
}

// rssMB is a process's resident set in MB (0 when it cannot be read).
func rssMB(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}
