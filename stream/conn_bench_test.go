package stream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/internal/captures"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// BenchmarkConnPath measures what the pipeline does per record between
// fetch and verdict, in process and on one goroutine, as it does it:
// micro-batches of 512 rows scored at once, the category model on the
// flagged rows. zeek: derive the 41 features of a real capture's
// connections (cycled, shifted in time each pass) with the stateful
// deriver, encode them and score them with the connection-log model
// (stage=derive+encode: without scoring); nslkdd: encode KDDTrain+ CSV
// lines and score them with the bundled model, the path the real-log one
// is compared with. One op = one record. The capture is 75 % attacks, so
// three rows in four also run the 5-class model; KDDTrain+'s first 20,000
// lines are 47 % attacks.
//
//	go test ./stream -run '^$' -bench ConnPath -cpu 1 -count 6 | benchstat -col /path -
func BenchmarkConnPath(b *testing.B) {
	const batch = 512
	b.Run("path=zeek/stage=derive+encode", func(b *testing.B) {
		enc := etl.NewEncoder(nil)
		row := make([]float32, etl.Width)
		deriveCapture(b, func(dv *features.Derived) error { return enc.EncodeRecord(&dv.Record, row) })
	})
	b.Run("path=zeek", func(b *testing.B) {
		det, err := scoring.BundledConnLog()
		if err != nil {
			b.Fatal(err)
		}
		enc := etl.NewEncoder(det.Spec())
		width := det.Spec().Width()
		rows := make([]float32, batch*width)
		results := make([]scoring.Result, batch)
		n := 0
		deriveCapture(b, func(dv *features.Derived) error {
			if err := enc.EncodeRecord(&dv.Record, rows[n*width:(n+1)*width]); err != nil {
				return err
			}
			if n++; n < batch {
				return nil
			}
			n = 0
			return det.Score(context.Background(), rows, results)
		})
	})
	b.Run("path=nslkdd", func(b *testing.B) {
		det, err := scoring.Bundled()
		if err != nil {
			b.Fatal(err)
		}
		lines := trainLines(b, 20000)
		enc := etl.NewEncoder(det.Spec())
		width := det.Spec().Width()
		rows := make([]float32, batch*width)
		results := make([]scoring.Result, batch)
		var rec etl.Record
		n, i := 0, 0
		for b.Loop() {
			if err := enc.Encode(lines[i%len(lines)], &rec, rows[n*width:(n+1)*width]); err != nil {
				b.Fatal(err)
			}
			i++
			n++
			if n == batch {
				if err := det.Score(context.Background(), rows, results); err != nil {
					b.Fatal(err)
				}
				n = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// deriveCapture runs the benchmark loop: one op derives one connection of
// the labelled capture (cycled, each pass shifted forward in time) and
// hands every released one to use.
func deriveCapture(b *testing.B, use func(*features.Derived) error) {
	conns := captureConns(b, "ctu-normal-40-day1.conn.log.labeled.gz")
	span := captures.ReplaySpan(conns)
	d := features.New()
	var useErr error
	emit := func(dv *features.Derived) {
		if err := use(dv); err != nil && useErr == nil {
			useErr = err
		}
	}
	now := time.Now()
	i := 0
	for b.Loop() {
		c := conns[i%len(conns)]
		c.Start = c.Start.Add(time.Duration(i/len(conns)) * span)
		d.Add(&c, uint64(i), now, emit)
		i++
	}
	if useErr != nil {
		b.Fatal(useErr)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// captureConns parses a bundled capture's connections.
func captureConns(b testing.TB, name string) []connlog.Conn {
	b.Helper()
	conns, err := captures.Conns(name)
	if err != nil {
		b.Fatal(err)
	}
	return conns
}

// BenchmarkPipelineZeek runs the whole pipeline over 22,652 Zeek JSON
// connections (the labelled capture four times, shifted in time) on the
// in-process broker, each iteration with a fresh group, until every offset
// is committed; compare with BenchmarkPipeline/batch=512 (NSL-KDD CSV).
func BenchmarkPipelineZeek(b *testing.B) {
	brokers := testenv.KFake(b, kfake.SeedTopics(4, "raw", "verdicts", "dlq"))
	conns := captureConns(b, "ctu-normal-40-day1.conn.log.labeled.gz")
	var msgs []kafka.Message
	for pass := range 4 {
		for _, c := range conns {
			c.Start = c.Start.Add(time.Duration(pass) * 25 * time.Hour)
			msgs = append(msgs, kafka.Message{Key: c.RespAddr.AppendTo(nil), Value: connlog.AppendZeekJSON(nil, &c)})
		}
	}
	produceMessages(b, brokers, "raw", &kafka.Hash{}, msgs)
	var total time.Duration
	iteration := 0
	for b.Loop() {
		iteration++
		group := fmt.Sprintf("bench-zeek-%d-%d", b.N, iteration)
		start := time.Now()
		run := startPipeline(b, brokers, group, nil, WithConnLogs(connlog.Zeek, nil, features.WithHoldTime(100*time.Millisecond)))
		waitCommitted(b, brokers, group, run, 5*time.Minute)
		total += time.Since(start)
		if err := run.stop(b); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(iteration*len(msgs))/total.Seconds(), "records/s")
}

// BenchmarkConnGlue measures the pipeline's consume stage on connection
// logs without a broker: one op takes one Zeek JSON line of the labelled
// capture (each pass shifted forward in time) through run.add — offset
// tracking, parsing, the held record, the deriver, encoding into a batch —
// the batches being recycled as soon as they are sent. Compare with
// BenchmarkConnPath's stage=derive+encode for what the glue adds.
//
//	go test ./stream -run '^$' -bench ConnGlue -cpu 1 -count 6
func BenchmarkConnGlue(b *testing.B) {
	const records = 512
	conns := captureConns(b, "ctu-normal-40-day1.conn.log.labeled.gz")
	span := captures.ReplaySpan(conns)
	spec := etl.DefaultSpec()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	p := &Pipeline{
		cfg: config{spec: spec, batchRecords: records, batchBytes: 1 << 20, batchWait: time.Hour, maxInFlight: 2,
			logger: logger, health: NewHealth(WithHealthLogger(logger)), metrics: metrics},
		width:    spec.Width(),
		trackers: newOffsetTrackers(),
	}
	WithConnLogs(connlog.Zeek, nil)(&p.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *batch, p.cfg.maxInFlight)
	r := &run{p: p, encoder: etl.NewEncoder(spec), free: make(chan *batch, p.cfg.maxInFlight), workCtx: ctx, out: out}
	r.conns = newConnState(&p.cfg)
	for range p.cfg.maxInFlight {
		r.free <- &batch{
			rows:     make([]float32, records*p.width),
			results:  make([]scoring.Result, records),
			verdicts: make([]sinks.Verdict, records),
			offsets:  make([]trackedOffset, 0, records),
		}
	}
	var msgs []kafka.Message
	pass := 0
	i := 0
	for b.Loop() {
		if i%len(conns) == 0 {
			// The next pass's lines, shifted in time (not measured).
			b.StopTimer()
			msgs = msgs[:0]
			for _, c := range conns {
				c.Start = c.Start.Add(time.Duration(pass) * span)
				msgs = append(msgs, kafka.Message{Topic: "raw", Value: connlog.AppendZeekJSON(nil, &c)})
			}
			pass++
			b.StartTimer()
		}
		m := &msgs[i%len(conns)]
		m.Offset = int64(i)
		r.add(m)
		i++
		for len(out) > 0 {
			sent := <-out
			if _, err := r.p.trackers.ack(sent.offsets); err != nil {
				b.Fatal(err)
			}
			sent.reset()
			r.free <- sent
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
