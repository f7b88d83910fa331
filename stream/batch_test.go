package stream

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// chanConsumer hands out the messages sent on its channel, one per fetch,
// until ctx ends: the batching stage's input without a broker, so that its
// timing can be tested to the millisecond.
type chanConsumer chan kafka.Message

func (c chanConsumer) FetchMessage(ctx context.Context) (kafka.Message, error) {
	select {
	case m, ok := <-c:
		if !ok {
			return kafka.Message{}, io.EOF // as a closed reader
		}
		return m, nil
	case <-ctx.Done():
		return kafka.Message{}, ctx.Err()
	}
}

func (chanConsumer) CommitMessages(context.Context, ...kafka.Message) error { return nil }

// batcher runs the pipeline's consume stage alone: messages in, batches out.
type batcher struct {
	r   *run
	in  chanConsumer
	out chan *batch
	// stopFetching ends the fetch as Run does when its context ends: the
	// partial batch is sent.
	stopFetching context.CancelFunc
	sent         []int64
}

func startBatcher(t *testing.T, records, bytes int, wait time.Duration, maxInFlight int) *batcher {
	t.Helper()
	spec := etl.DefaultSpec()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := make(chanConsumer, 1024)
	p := &Pipeline{
		consumer: in,
		cfg: config{spec: spec, batchRecords: records, batchBytes: bytes, batchWait: wait, maxInFlight: maxInFlight,
			logger: logger, health: NewHealth(WithHealthLogger(logger))},
		width:    spec.Width(),
		trackers: newOffsetTrackers(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &run{p: p, encoder: etl.NewEncoder(spec), free: make(chan *batch, maxInFlight), workCtx: ctx}
	for range maxInFlight {
		r.free <- &batch{
			rows:     make([]float32, records*p.width),
			results:  make([]scoring.Result, records),
			verdicts: make([]sinks.Verdict, records),
		}
	}
	fetchCtx, stopFetching := context.WithCancel(ctx)
	b := &batcher{r: r, in: in, out: make(chan *batch, maxInFlight), stopFetching: stopFetching}
	go r.consume(fetchCtx, b.out)
	return b
}

func (b *batcher) send(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		off := int64(len(b.sent))
		b.sent = append(b.sent, off)
		b.in <- kafka.Message{Topic: "raw", Partition: 0, Offset: off, Value: []byte(l)}
	}
}

func (b *batcher) next(t *testing.T, within time.Duration) *batch {
	t.Helper()
	select {
	case got, ok := <-b.out:
		if !ok {
			t.Fatal("batcher closed its output")
		}
		return got
	case <-time.After(within):
		t.Fatalf("no batch within %s", within)
		return nil
	}
}

// taken waits until the batcher has fetched every message sent. A fetched
// message is added to the batch before the next fetch, which is where the
// end of fetching is noticed.
func (b *batcher) taken(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(b.in) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages not fetched within %s", len(b.in), within)
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *batcher) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case got := <-b.out:
		t.Fatalf("unexpected batch of %d records", got.records())
	case <-time.After(within):
	}
}

const goodLine = "0,tcp,http,SF,215,45076,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,0,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,normal,21"

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestBatcherClosesOnCount(t *testing.T) {
	b := startBatcher(t, 4, 1<<20, time.Hour, 3)
	b.send(t, repeat(goodLine, 10)...)
	for _, want := range []int{4, 4} {
		if got := b.next(t, 5*time.Second); got.records() != want || got.n != want {
			t.Fatalf("batch of %d (%d encoded), want %d", got.records(), got.n, want)
		}
	}
	// Only once the batcher has taken every message: a fetch that finds
	// both a message and the end of fetching may pick either.
	b.taken(t, 5*time.Second)
	b.stopFetching() // the end of fetching sends the partial batch
	if got := b.next(t, 5*time.Second); got.records() != 2 {
		t.Fatalf("final batch of %d, want 2", got.records())
	}
}

func TestBatcherClosesOnBytes(t *testing.T) {
	b := startBatcher(t, 100, 2*len(goodLine), time.Hour, 2)
	b.send(t, repeat(goodLine, 5)...)
	for range 2 {
		if got := b.next(t, 5*time.Second); got.records() != 2 || got.bytes != 2*len(goodLine) {
			t.Fatalf("batch of %d records / %d bytes, want 2 / %d", got.records(), got.bytes, 2*len(goodLine))
		}
	}
}

func TestBatcherClosesOnWait(t *testing.T) {
	const wait = 30 * time.Millisecond
	b := startBatcher(t, 100, 1<<20, wait, 2)
	start := time.Now()
	b.send(t, repeat(goodLine, 3)...)
	got := b.next(t, 5*time.Second)
	if got.records() != 3 {
		t.Fatalf("batch of %d, want 3", got.records())
	}
	if waited := time.Since(start); waited < wait {
		t.Fatalf("batch closed after %s, before the %s wait", waited, wait)
	}
}

func TestBatcherDeadLettersRideAlong(t *testing.T) {
	b := startBatcher(t, 4, 1<<20, time.Hour, 2)
	b.send(t, goodLine, "0,tcp,http,XX", goodLine, "")
	got := b.next(t, 5*time.Second)
	if got.records() != 4 || got.n != 2 || len(got.letters) != 2 {
		t.Fatalf("batch: %d records, %d encoded, %d dead letters; want 4, 2, 2", got.records(), got.n, len(got.letters))
	}
	if got.verdicts[0].Source.Offset != 0 || got.verdicts[1].Source.Offset != 2 {
		t.Fatalf("verdict offsets %d, %d; want 0, 2", got.verdicts[0].Source.Offset, got.verdicts[1].Source.Offset)
	}
	l := got.letters[0]
	if l.Source.Offset != 1 || string(l.Value) != "0,tcp,http,XX" || l.Reason != "wrong_number_of_fields" || l.Err == "" {
		t.Fatalf("dead letter = %+v", l)
	}
	if got.letters[1].Source.Offset != 3 || got.letters[1].Reason != "empty_line" {
		t.Fatalf("second dead letter = %+v", got.letters[1])
	}
}

func TestBatcherBackpressure(t *testing.T) {
	b := startBatcher(t, 2, 1<<20, time.Hour, 1)
	b.send(t, repeat(goodLine, 5)...)
	first := b.next(t, 5*time.Second)
	// The only batch is in flight: the batcher must wait for it, not
	// allocate another.
	b.none(t, 100*time.Millisecond)
	b.r.release(first)
	if got := b.next(t, 5*time.Second); got.records() != 2 {
		t.Fatalf("batch after release: %d records, want 2", got.records())
	}
}
