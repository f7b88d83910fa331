//go:build e2e

package stream

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
)

// e2eRecords is how many records the big e2e test replays
// (SAGEWALL_E2E_RECORDS, default 1 000 000).
func e2eRecords(t *testing.T) int {
	if s := os.Getenv("SAGEWALL_E2E_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SAGEWALL_E2E_RECORDS=%q: want a positive integer", s)
		}
		return n
	}
	return 1_000_000
}

// produceReplay writes n KDDTrain+ lines (cycled) to topic; every badEvery-th
// (1-based) is replaced by a malformed line. It returns how many are bad.
func produceReplay(t *testing.T, brokers []string, topic string, n, badEvery int) int {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll, BatchSize: 5000, BatchBytes: 1_000_000, BatchTimeout: 2 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var sc *bufio.Scanner
	bad := 0
	msgs := make([]kafka.Message, 0, 20000)
	for i := 1; i <= n; i++ {
		if sc == nil || !sc.Scan() {
			rc, err := nslkdd.Open(nslkdd.Train)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			sc = bufio.NewScanner(rc)
			sc.Scan()
		}
		v := append([]byte(nil), sc.Bytes()...)
		if badEvery > 0 && i%badEvery == 0 {
			v = []byte(strings.Replace(string(v), ",", ",bogus,", 1))
			bad++
		}
		msgs = append(msgs, kafka.Message{Value: v})
		if len(msgs) == cap(msgs) || i == n {
			err := testenv.WriteToNewTopic(ctx, w, msgs...)
			if err != nil {
				t.Fatalf("producing: %v", err)
			}
			msgs = msgs[:0]
		}
	}
	return bad
}

func newE2ETopics(t *testing.T, brokers []string, partitions int) topics {
	return topics{
		raw:      testenv.NewTopic(t, brokers, partitions),
		verdicts: testenv.NewTopic(t, brokers, partitions),
		dlq:      testenv.NewTopic(t, brokers, 1),
	}
}

func TestE2EMillionRecords(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	n := e2eRecords(t)
	tp := newE2ETopics(t, brokers, 4)
	bad := produceReplay(t, brokers, tp.raw, n, 10007)
	group := testenv.UniqueName(t)

	start := time.Now()
	run := startPipelineOn(t, brokers, tp, group, nil)
	waitCommittedOn(t, brokers, tp.raw, group, run, 15*time.Minute)
	elapsed := time.Since(start)
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := run.p.Stats()
	t.Logf("%d records in %.1f s: %.0f records/s (stats %+v)", n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), st)
	if st.Verdicts != uint64(n-bad) || st.Rejected != uint64(bad) {
		t.Fatalf("stats %+v; want %d verdicts and %d rejected", st, n-bad, bad)
	}

	counts := verdictCounts(t, brokers, tp.verdicts)
	for k, c := range counts {
		if c != 1 {
			t.Fatalf("%s/%d/%d has %d verdicts, want 1 (no failure happened)", tp.raw, k[0], k[1], c)
		}
	}
	letters := 0
	testenv.ScanTopic(t, brokers, tp.dlq, func(m kafka.Message) {
		letters++
		var p, o string
		for _, h := range m.Headers {
			switch h.Key {
			case "sagewall.source.partition":
				p = string(h.Value)
			case "sagewall.source.offset":
				o = string(h.Value)
			}
		}
		pi, _ := strconv.Atoi(p)
		oi, _ := strconv.ParseInt(o, 10, 64)
		if counts[[2]int64{int64(pi), oi}] != 0 {
			t.Fatalf("%s/%s/%s has both a verdict and a dead letter", tp.raw, p, o)
		}
	})
	if len(counts) != n-bad || letters != bad {
		t.Fatalf("%d records with verdicts and %d dead letters; want %d and %d", len(counts), letters, n-bad, bad)
	}
}

// TestE2EJoinAndLeave runs a second instance in the group mid-stream and
// stops the first: every record still gets a verdict, and only records in
// flight during the rebalance may get two.
func TestE2EJoinAndLeave(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	const n = 200_000
	tp := newE2ETopics(t, brokers, 6)
	produceReplay(t, brokers, tp.raw, n/2, 0)
	group := testenv.UniqueName(t)

	first := startPipelineOn(t, brokers, tp, group, nil)
	t.Cleanup(func() { logStatsOnFailure(t, "first", first) })
	waitFor(t, func() bool { return running(t, first) && first.p.Stats().Verdicts >= n/5 })
	second := startPipelineOn(t, brokers, tp, group, nil)
	t.Cleanup(func() { logStatsOnFailure(t, "second", second) })
	// The second half is produced once both instances hold partitions, so the
	// second has work left however fast the first drained the first half.
	waitGroupMembers(t, brokers, group, 2)
	produceReplay(t, brokers, tp.raw, n/2, 0)
	waitFor(t, func() bool { return running(t, first) && running(t, second) && second.p.Stats().Verdicts >= n/20 })
	if err := first.stop(t); err != nil {
		t.Fatalf("first instance leaving: %v", err)
	}
	waitCommittedOn(t, brokers, tp.raw, group, second, 5*time.Minute)
	if err := second.stop(t); err != nil {
		t.Fatalf("second instance: %v", err)
	}
	counts := verdictCounts(t, brokers, tp.verdicts)
	duplicates := duplicateVerdicts(counts)
	t.Logf("first %+v, second %+v, %d duplicates", first.p.Stats(), second.p.Stats(), duplicates)
	if len(counts) != n {
		t.Fatalf("%d records have verdicts, want all %d", len(counts), n)
	}
	if got := first.p.Stats().Verdicts + second.p.Stats().Verdicts; got != uint64(n+duplicates) {
		t.Fatalf("instances acknowledged %d verdicts, topic holds %d", got, n+duplicates)
	}
}

// running fails the test when the pipeline's Run has returned, so a wait
// for its progress ends with the reason instead of a timeout.
func running(t *testing.T, tp *testPipeline) bool {
	t.Helper()
	select {
	case err := <-tp.done:
		tp.done <- err
		t.Fatalf("pipeline stopped early: %v (stats %+v)", err, tp.p.Stats())
	default:
	}
	return true
}

// logStatsOnFailure records where an instance stood when the test failed.
func logStatsOnFailure(t *testing.T, name string, tp *testPipeline) {
	if t.Failed() {
		t.Logf("%s instance at failure: %+v", name, tp.p.Stats())
	}
}

// waitGroupMembers waits until group is stable with members instances that
// each hold at least one partition.
func waitGroupMembers(t *testing.T, brokers []string, group string, members int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	waitFor(t, func() bool {
		resp, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != members {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			assigned := 0
			for _, topic := range m.MemberAssignments.Topics {
				assigned += len(topic.Partitions)
			}
			if assigned == 0 {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
