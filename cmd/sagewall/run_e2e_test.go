//go:build e2e

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/stream"
)

// TestE2EKillAndRestart runs the real binary against the real broker,
// SIGKILLs it mid-stream, starts it again and checks that every record got
// a verdict, that duplicates stay within what was in flight, and that
// SIGTERM then stops it cleanly.
func TestE2EKillAndRestart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	bin := buildSagewall(t)
	raw, verdicts, dead := testenv.NewTopic(t, brokers, 4), testenv.NewTopic(t, brokers, 4), testenv.NewTopic(t, brokers, 1)
	group := testenv.UniqueName(t)
	const n = 300_000
	produceLines(t, brokers, raw, n)

	env := append(os.Environ(),
		"SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+group,
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_HTTP_ADDR=127.0.0.1:0", "SAGEWALL_LOG_LEVEL=warn",
	)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--shutdown-timeout", "20s")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	committed := groupCommitted(brokers, group, raw)
	waitUntil := func(what string, cond func() bool) { waitWithin(t, 5*time.Minute, what, cond) }

	first := start()
	waitUntil("first run commits a third", func() bool { return committed() >= n/3 })
	if err := first.Process.Kill(); err != nil { // SIGKILL: no shutdown, no final commit
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill := committed()

	second := start()
	waitUntil("second run commits everything", func() bool { return committed() == n })
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(25 * time.Second):
		_ = second.Process.Kill()
		t.Fatal("no exit within the shutdown timeout after SIGTERM")
	}

	counts := map[string]int{}
	testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) { counts[string(m.Key)]++ })
	duplicates := 0
	for _, c := range counts {
		duplicates += c - 1
	}
	t.Logf("killed at %d committed; %d verdicts for %d records, %d duplicates", atKill, len(counts)+duplicates, len(counts), duplicates)
	if len(counts) != n {
		t.Fatalf("%d records have verdicts, want %d", len(counts), n)
	}
	// Redelivered: what the killed process processed past its last
	// commit — at most the records it had fetched (batches in flight,
	// the fetch buffer, the reader's queue) plus a commit interval's worth.
	if limit := n - int(atKill); duplicates > limit {
		t.Fatalf("%d duplicates, more than the %d records not committed at the kill", duplicates, limit)
	}
}

// buildSagewall builds the binary under test.
func buildSagewall(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sagewall")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building sagewall: %v\n%s", err, out)
	}
	return bin
}

// groupCommitted returns a function reading how many records of topic the
// group has committed (0 while it cannot tell).
func groupCommitted(brokers []string, group, topic string) func() int64 {
	client := stream.NewClient(brokers, nil)
	return func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offsets, err := stream.GroupOffsets(ctx, client, group, topic)
		if err != nil {
			return 0
		}
		var sum int64
		for _, p := range offsets {
			sum += max(p.Committed, 0)
		}
		return sum
	}
}

// waitWithin polls cond until it holds, failing the test after limit.
func waitWithin(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func produceLines(t testing.TB, brokers []string, topic string, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll, BatchSize: 5000, BatchBytes: 1_000_000, BatchTimeout: 2 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rc, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	msgs := make([]kafka.Message, 0, 20000)
	for i := 0; i < n; i++ {
		if !sc.Scan() {
			rc.Close()
			if rc, err = nslkdd.Open(nslkdd.Train); err != nil {
				t.Fatal(err)
			}
			sc = bufio.NewScanner(rc)
			sc.Scan()
		}
		msgs = append(msgs, kafka.Message{Value: append([]byte(nil), sc.Bytes()...)})
		if len(msgs) == cap(msgs) || i == n-1 {
			err := testenv.WriteToNewTopic(ctx, w, msgs...)
			if err != nil {
				t.Fatalf("producing: %v", err)
			}
			msgs = msgs[:0]
		}
	}
}
