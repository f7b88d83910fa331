package stream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// trainLines returns the first n lines of the embedded KDDTrain+ data.
func trainLines(t testing.TB, n int) [][]byte {
	t.Helper()
	rc, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	var lines [][]byte
	for len(lines) < n && sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// produce writes values to topic, spread over its partitions, with a header
// on every record so dead letters can be checked for it.
func produce(t testing.TB, brokers []string, topic string, values [][]byte) {
	t.Helper()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: v, Headers: []kafka.Header{{Key: "origin", Value: []byte("test-" + strconv.Itoa(i))}}}
	}
	produceMessages(t, brokers, topic, &kafka.RoundRobin{}, msgs)
}

// readAll reads every record of topic, by partition, in offset order.
func readAll(t testing.TB, brokers []string, topic string) map[int][]kafka.Message {
	t.Helper()
	out := map[int][]kafka.Message{}
	testenv.ScanTopic(t, brokers, topic, func(m kafka.Message) { out[m.Partition] = append(out[m.Partition], m) })
	return out
}

// duplicateVerdicts counts the verdicts beyond the first of each record.
func duplicateVerdicts(counts map[[2]int64]int) int {
	n := 0
	for _, c := range counts {
		n += c - 1
	}
	return n
}

// verdictCounts counts verdicts per source record and checks that each
// source partition's first verdicts come in source order.
func verdictCounts(t *testing.T, brokers []string, topic string) map[[2]int64]int {
	counts := map[[2]int64]int{}
	last := map[[2]int]int64{} // (source partition, output partition) → last offset
	testenv.ScanTopic(t, brokers, topic, func(m kafka.Message) {
		p, o := sourceOf(t, m.Key)
		k := [2]int{p, m.Partition}
		if prev, ok := last[k]; ok && o <= prev && counts[[2]int64{int64(p), o}] == 0 {
			t.Fatalf("verdict for %s out of source order (after offset %d)", m.Key, prev)
		}
		last[k] = max(last[k], o)
		counts[[2]int64{int64(p), o}]++
	})
	return counts
}

// topics names a pipeline's input, verdict and dead-letter topics.
type topics struct{ raw, verdicts, dlq string }

var defaultTopics = topics{"raw", "verdicts", "dlq"}

// testPipeline runs a pipeline over brokers' raw topic into verdicts and dlq.
type testPipeline struct {
	p      *Pipeline
	reader io.Closer
	sink   *sinks.Kafka
	cancel context.CancelFunc
	done   chan error
}

func startPipeline(t testing.TB, brokers []string, group string, wrap func(Sink) Sink, opts ...Option) *testPipeline {
	t.Helper()
	return startPipelineOn(t, brokers, defaultTopics, group, wrap, opts...)
}

func startPipelineOn(t testing.TB, brokers []string, tp topics, group string, wrap func(Sink) Sink, opts ...Option) *testPipeline {
	t.Helper()
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	// The consumer sagewall run uses.
	reader, err := NewGroupConsumer(Conn{Brokers: brokers}, group, tp.raw)
	if err != nil {
		t.Fatal(err)
	}
	sink := sinks.NewKafka(brokers, tp.verdicts, sinks.WithDeadLetterTopic(tp.dlq), sinks.WithFormat(sinks.JSONFormat{Record: true}))
	var verdictSink Sink = sink
	if wrap != nil {
		verdictSink = wrap(sink)
	}
	opts = append([]Option{
		WithGroupCheck(NewClient(brokers, nil), group),
		WithSpec(det.Spec()),
		WithModel(det.Info(), det.Threshold()),
		WithSinks(verdictSink),
		WithDeadLetters(sink),
		WithCommitInterval(10 * time.Millisecond),
	}, opts...)
	p, err := New(reader, det, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &testPipeline{p: p, reader: reader, sink: sink, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- p.Run(ctx) }()
	return run
}

// stop cancels the pipeline and returns Run's error.
func (tp *testPipeline) stop(t testing.TB) error {
	t.Helper()
	tp.cancel()
	var err error
	select {
	case err = <-tp.done:
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30 s")
	}
	tp.sink.Close()
	tp.reader.Close()
	return err
}

// waitCommitted waits until the group has committed every partition of raw
// to its end.
func waitCommitted(t testing.TB, brokers []string, group string, tp *testPipeline, within time.Duration) {
	t.Helper()
	waitCommittedOn(t, brokers, "raw", group, tp, within)
}

func waitCommittedOn(t testing.TB, brokers []string, topic, group string, tp *testPipeline, within time.Duration) {
	t.Helper()
	client := NewClient(brokers, nil)
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		offsets, err := GroupOffsets(ctx, client, group, topic)
		cancel()
		if err == nil {
			all := true
			for _, p := range offsets {
				all = all && p.Committed == p.End
			}
			if all {
				return
			}
		}
		select {
		case err := <-tp.done:
			t.Fatalf("pipeline stopped before committing everything: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s has not committed everything within %s: %+v (err %v)", group, within, offsets, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sourceOf parses a verdict key "raw/partition/offset".
func sourceOf(t *testing.T, key []byte) (int, int64) {
	t.Helper()
	parts := strings.Split(string(key), "/")
	if len(parts) != 3 {
		t.Fatalf("verdict key %q: want raw/partition/offset", key)
	}
	p, err1 := strconv.Atoi(parts[1])
	o, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("verdict key %q: bad number", key)
	}
	return p, o
}

func TestPipelineEndToEnd(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(3, "raw", "verdicts", "dlq"))
	const n = 3000
	lines := trainLines(t, n)
	bad := map[int]string{
		100:  "not,a,record",
		1500: strings.Replace(string(lines[1500]), ",tcp,", ",xtp,", 1),
		2999: "",
	}
	for i, v := range bad {
		lines[i] = []byte(v)
	}
	produce(t, brokers, "raw", lines)

	tp := startPipeline(t, brokers, "e2e", nil)
	waitCommitted(t, brokers, "e2e", tp, 60*time.Second)
	if err := tp.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := tp.p.Stats()
	if st.Consumed != n || st.Verdicts != n-uint64(len(bad)) || st.Rejected != uint64(len(bad)) || st.InFlight != 0 {
		t.Fatalf("stats = %+v, want %d consumed, %d verdicts, %d rejected, none in flight", st, n, n-len(bad), len(bad))
	}

	raw := readAll(t, brokers, "raw")
	badOffsets := map[[2]int64]bool{}
	for p, msgs := range raw {
		for _, m := range msgs {
			if len(m.Value) == 0 || strings.Count(string(m.Value), ",") < 40 || strings.Contains(string(m.Value), ",xtp,") {
				badOffsets[[2]int64{int64(p), m.Offset}] = true
			}
		}
	}
	if len(badOffsets) != len(bad) {
		t.Fatalf("found %d bad records in raw, want %d", len(badOffsets), len(bad))
	}

	// Every good source record has exactly one verdict (no crash, so no
	// duplicates), and each source partition's verdicts are in order.
	seen := map[[2]int64]bool{}
	last := map[int]int64{}
	total := 0
	for _, msgs := range readAll(t, brokers, "verdicts") {
		for _, m := range msgs {
			p, o := sourceOf(t, m.Key)
			if prev, ok := last[p]; ok && o <= prev {
				t.Fatalf("verdict for raw/%d/%d after raw/%d/%d: out of source order", p, o, p, prev)
			}
			last[p] = o
			if seen[[2]int64{int64(p), o}] {
				t.Fatalf("duplicate verdict for raw/%d/%d", p, o)
			}
			seen[[2]int64{int64(p), o}] = true
			if !strings.Contains(string(m.Value), `"id":"`+string(m.Key)+`"`) {
				t.Fatalf("verdict %s does not carry its id: %.200s", m.Key, m.Value)
			}
			total++
		}
	}
	for p, msgs := range raw {
		for _, m := range msgs {
			k := [2]int64{int64(p), m.Offset}
			if !seen[k] && !badOffsets[k] {
				t.Fatalf("raw/%d/%d has no verdict", p, m.Offset)
			}
		}
	}
	if total != n-len(bad) {
		t.Fatalf("%d verdicts, want %d", total, n-len(bad))
	}

	// Dead letters keep the original bytes and headers and say why.
	letters := 0
	for _, msgs := range readAll(t, brokers, "dlq") {
		for _, m := range msgs {
			letters++
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			p, _ := strconv.Atoi(h[sinks.HeaderSourcePartition])
			o, _ := strconv.ParseInt(h[sinks.HeaderSourceOffset], 10, 64)
			if h[sinks.HeaderSourceTopic] != "raw" || !badOffsets[[2]int64{int64(p), o}] {
				t.Fatalf("dead letter with headers %v is not one of the bad records", h)
			}
			if !strings.HasPrefix(h["origin"], "test-") || h[sinks.HeaderReason] == "" || h[sinks.HeaderError] == "" {
				t.Fatalf("dead letter headers %v: want the original header, a reason and an error", h)
			}
			if !strings.Contains(h[sinks.HeaderError], fmt.Sprintf("raw/%d/%d", p, o)) {
				t.Fatalf("dead letter error %q does not name its source record", h[sinks.HeaderError])
			}
			var orig []byte
			for _, m2 := range raw[p] {
				if m2.Offset == o {
					orig = m2.Value
				}
			}
			if string(m.Value) != string(orig) {
				t.Fatalf("dead letter value %q, want the original %q", m.Value, orig)
			}
		}
	}
	if letters != len(bad) {
		t.Fatalf("%d dead letters, want %d", letters, len(bad))
	}
}

// stallingSink passes the first limit verdicts' batches to the real sink and
// then writes but never acknowledges, like a process that dies with writes
// in flight.
type stallingSink struct {
	Sink
	limit   int64
	written atomic.Int64
}

func (s *stallingSink) Write(ctx context.Context, verdicts []sinks.Verdict, done func(error)) {
	if s.written.Add(int64(len(verdicts))) <= s.limit {
		s.Sink.Write(ctx, verdicts, done)
		return
	}
	s.Sink.Write(ctx, verdicts, func(error) {})
}

func TestPipelineCrashRestart(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(2, "raw", "verdicts", "dlq"))
	const n = 5000
	produce(t, brokers, "raw", trainLines(t, n))

	var stall *stallingSink
	first := startPipeline(t, brokers, "crash", func(s Sink) Sink {
		stall = &stallingSink{Sink: s, limit: 2000}
		return stall
	}, WithShutdownTimeout(200*time.Millisecond), WithBatch(100, 1<<20, 5*time.Millisecond), WithMaxInFlight(4))
	deadline := time.Now().Add(30 * time.Second)
	for first.p.Stats().Consumed < 2500 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	err := first.stop(t)
	if err == nil {
		t.Fatal("first run: want a shutdown timeout error with unacknowledged batches")
	}
	t.Logf("first run stopped: %v (stats %+v)", err, first.p.Stats())

	second := startPipeline(t, brokers, "crash", nil)
	t.Cleanup(func() { t.Logf("second run stats %+v", second.p.Stats()) })
	waitCommitted(t, brokers, "crash", second, 60*time.Second)
	if err := second.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}

	counts := verdictCounts(t, brokers, "verdicts")
	duplicates := 0
	for _, msgs := range readAll(t, brokers, "raw") {
		for _, m := range msgs {
			c := counts[[2]int64{int64(m.Partition), m.Offset}]
			if c == 0 {
				t.Fatalf("raw/%d/%d has no verdict after restart", m.Partition, m.Offset)
			}
			duplicates += c - 1
		}
	}
	// Only records fetched but not committed by the first run can repeat:
	// at most the in-flight batches plus the reader's queue beyond the
	// acknowledged prefix.
	limit := int(first.p.Stats().Consumed) - 2000 + 100
	t.Logf("%d duplicates (bound %d)", duplicates, limit)
	if duplicates == 0 || duplicates > limit {
		t.Fatalf("%d duplicate verdicts, want between 1 and %d", duplicates, limit)
	}
}

// flakyScorer fails its first failures calls, then scores with next.
type flakyScorer struct {
	next     Scorer
	failures int32
	calls    atomic.Int32
	err      error
}

func (f *flakyScorer) Score(ctx context.Context, rows []float32, out []scoring.Result) error {
	if f.calls.Add(1) <= f.failures {
		return f.err
	}
	return f.next.Score(ctx, rows, out)
}

// flakySink fails its first failures writes, then writes to next.
type flakySink struct {
	next     Sink
	failures int32
	calls    atomic.Int32
}

func (f *flakySink) Write(ctx context.Context, verdicts []sinks.Verdict, done func(error)) {
	if f.calls.Add(1) <= f.failures {
		done(errors.New("broker unreachable"))
		return
	}
	f.next.Write(ctx, verdicts, done)
}

func (f *flakySink) Name() string { return "flaky" }

// TestPipelineRidesOutOutages: a scorer and a sink that fail for a while
// are retried until they work; nothing is committed before its verdict is
// written, every record gets its verdict, the outage shows in Health, and
// Run keeps going — unless an outage timeout was set, when it stops with
// the dependency's error.
func TestPipelineRidesOutOutages(t *testing.T) {
	boom := errors.New("endpoint unavailable")
	for _, tc := range []struct {
		name          string
		scorerFails   int32
		sinkFails     int32
		outageTimeout time.Duration
		wantErr       bool
	}{
		{name: "scorer", scorerFails: 6},
		{name: "sink", sinkFails: 6},
		{name: "scorer past the outage timeout", scorerFails: 1 << 30, outageTimeout: 300 * time.Millisecond, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := testenv.KFake(t, kfake.SeedTopics(1, "raw", "verdicts", "dlq"))
			const records = 200
			produce(t, brokers, "raw", trainLines(t, records))
			det, err := scoring.Bundled()
			if err != nil {
				t.Fatal(err)
			}
			reader := NewReader(Conn{Brokers: brokers}, "flaky", "raw")
			defer reader.Close()
			kafkaSink := sinks.NewKafka(brokers, "verdicts", sinks.WithDeadLetterTopic("dlq"))
			defer kafkaSink.Close()
			scorer := &flakyScorer{next: det, failures: tc.scorerFails, err: boom}
			sink := &flakySink{next: kafkaSink, failures: tc.sinkFails}
			health := NewHealth(WithOutageTimeout(tc.outageTimeout))
			p, err := New(reader, scorer, WithSpec(det.Spec()), WithSinks(sink), WithDeadLetters(kafkaSink),
				WithBatch(50, 1<<20, time.Millisecond), WithHealth(health))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			runDone := make(chan error, 1)
			go func() { runDone <- p.Run(ctx) }()
			if tc.wantErr {
				select {
				case err := <-runDone:
					if !errors.Is(err, boom) || !strings.Contains(err.Error(), "outage timeout") {
						t.Fatalf("Run = %v, want the scorer's error past the outage timeout", err)
					}
				case <-ctx.Done():
					t.Fatal("Run did not stop after the outage timeout")
				}
				offsets, gerr := GroupOffsets(context.Background(), NewClient(brokers, nil), "flaky", "raw")
				if gerr != nil {
					t.Fatal(gerr)
				}
				if offsets[0].Committed > 0 {
					t.Fatalf("committed %d with the scorer down, want nothing", offsets[0].Committed)
				}
				return
			}
			sawDown := false
			for p.Stats().Verdicts < records {
				if ready, why := health.Ready(); !ready {
					sawDown = true
					if !strings.Contains(why, "down for") {
						t.Errorf("Ready() reason %q does not say what is down", why)
					}
				}
				select {
				case err := <-runDone:
					t.Fatalf("Run returned %v during the outage, want it to ride it out", err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			cancel()
			if err := <-runDone; err != nil {
				t.Fatalf("Run = %v", err)
			}
			if !sawDown {
				t.Error("Health never reported the outage")
			}
			if ready, why := health.Ready(); !ready {
				t.Errorf("still not ready after the outage: %s", why)
			}
			if got := p.Stats().Verdicts; got != records {
				t.Errorf("%d verdicts, want %d", got, records)
			}
			offsets, gerr := GroupOffsets(context.Background(), NewClient(brokers, nil), "flaky", "raw")
			if gerr != nil {
				t.Fatal(gerr)
			}
			if offsets[0].Committed != records {
				t.Errorf("committed %d, want %d", offsets[0].Committed, records)
			}
		})
	}
}

// TestPipelineRebalance adds a second instance to the group mid-stream and
// then stops the first: every record still gets a verdict and every offset
// is committed, with duplicates only from the handover.
func TestPipelineRebalance(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(4, "raw", "verdicts", "dlq"))
	lines := trainLines(t, 25_000)
	produced := 10_000
	produce(t, brokers, "raw", lines[:produced])

	first := startPipeline(t, brokers, "rebalance", nil, WithBatch(64, 1<<20, 5*time.Millisecond))
	waitUntil(t, func() bool { return first.p.Stats().Verdicts >= 2000 })
	second := startPipeline(t, brokers, "rebalance", nil, WithBatch(64, 1<<20, 5*time.Millisecond))
	// Records keep coming while the group rebalances, so the newcomer gets
	// work whichever partitions it is given.
	for second.p.Stats().Verdicts == 0 && produced < len(lines) {
		produce(t, brokers, "raw", lines[produced:produced+250])
		produced += 250
		time.Sleep(100 * time.Millisecond)
	}
	if second.p.Stats().Verdicts == 0 {
		t.Fatalf("the second instance got no records while %d were produced", produced)
	}
	if err := first.stop(t); err != nil {
		t.Fatalf("first instance leaving: %v", err)
	}
	waitCommitted(t, brokers, "rebalance", second, 60*time.Second)
	if err := second.stop(t); err != nil {
		t.Fatalf("second instance: %v", err)
	}
	counts := verdictCounts(t, brokers, "verdicts")
	duplicates := duplicateVerdicts(counts)
	t.Logf("first %+v, second %+v, %d duplicates", first.p.Stats(), second.p.Stats(), duplicates)
	if len(counts) != produced {
		t.Fatalf("%d records have verdicts, want %d", len(counts), produced)
	}
}

func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPipelineDebugLog: at debug level the pipeline says what it does per
// batch and per commit, which --log-level debug promises.
func TestPipelineDebugLog(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "raw", "verdicts", "dlq"))
	produce(t, brokers, "raw", trainLines(t, 50))
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tp := startPipeline(t, brokers, "debug-log", nil, WithLogger(logger))
	waitCommitted(t, brokers, "debug-log", tp, 60*time.Second)
	if err := tp.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, want := range []string{`msg="batch scored" records=`, `msg="offsets committed" partitions=[raw/0@`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("debug log lacks %q:\n%s", want, logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the goroutines that log into it
// (the pipeline's, kafka-go reader's).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf.Bytes())
}

// TestPipelineCommitsWhenDrained: with a commit interval too long to wait
// for, a burst is committed as soon as its last record is acknowledged,
// and a burst right after such an early commit waits for the interval (the
// bound on commits when every batch drains the pipeline), then for the
// final commit at stop.
func TestPipelineCommitsWhenDrained(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "raw", "verdicts", "dlq"))
	lines := trainLines(t, 300)
	committed := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offsets, err := GroupOffsets(ctx, NewClient(brokers, nil), "drained", "raw")
		if err != nil || len(offsets) != 1 {
			return -1
		}
		return offsets[0].Committed
	}
	waitFor := func(want int64, within time.Duration) bool {
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if committed() == want {
				return true
			}
		}
		return false
	}

	// One partition and a batch that waits for the whole burst: each burst
	// is one batch, acknowledged at once.
	tp := startPipeline(t, brokers, "drained", nil, WithCommitInterval(time.Hour), WithBatch(512, 1<<20, 300*time.Millisecond))
	produce(t, brokers, "raw", lines[:100])
	if !waitFor(100, 30*time.Second) {
		t.Fatalf("first burst: committed %d, want 100 (the loop was idle)", committed())
	}
	produce(t, brokers, "raw", lines[100:200])
	if !waitFor(200, 30*time.Second) {
		t.Fatalf("second burst: committed %d, want 200 when the pipeline drained, not after the hour", committed())
	}
	produce(t, brokers, "raw", lines[200:])
	if waitFor(300, 2*time.Second) {
		t.Fatal("third burst committed within 2 s: right after an early commit, the interval applies")
	}
	if err := tp.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := committed(); got != 300 {
		t.Fatalf("after stop: committed %d, want 300", got)
	}
	if st := tp.p.Stats(); st.Committed != 3 {
		t.Errorf("%d commits, want 3 (idle loop, drained, stop)", st.Committed)
	}
}
