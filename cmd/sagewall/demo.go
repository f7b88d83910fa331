package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/captures"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
)

// Demo topics and group, created on the in-process broker.
const (
	demoRawTopic        = "nslkdd.raw"
	demoVerdictTopic    = "nslkdd.verdicts"
	demoDeadLetterTopic = "nslkdd.dead-letters"
	demoGroup           = "sagewall-demo"
)

type demoFlags struct {
	source     string
	records    int
	rate       int
	badEvery   int
	partitions int
	port       int
	httpAddr   string
	format     string
	jsonOut    bool
	hold       bool
	logFormat  string
	logLevel   string
	dashboard  bool
}

// runDemo is `sagewall demo`: an in-process Kafka-protocol broker, the
// bundled NSL-KDD records replayed into it, and the same pipeline as
// `sagewall run` over them, until every record is committed.
func runDemo(ctx context.Context, args []string, io stdio) error {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.StringVar(&f.source, "source", "nslkdd", "what to replay: nslkdd (KDDTrain+ records) or zeek (a real, labelled 24-hour Zeek conn.log, its features derived in the pipeline)")
	fs.IntVar(&f.records, "records", 0, "records to replay, cycling the source (default: 200000 NSL-KDD records, or the Zeek capture's 5,663 connections once)")
	fs.IntVar(&f.rate, "rate", 0, "records per second to replay (0: as fast as possible)")
	fs.IntVar(&f.badEvery, "bad-every", 0, "replace every Nth record with a malformed one, to show the dead-letter path (0: none)")
	fs.IntVar(&f.partitions, "partitions", 4, "partitions of each topic")
	fs.IntVar(&f.port, "port", 0, "broker port on 127.0.0.1 (0: any free port)")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:0", "address of /metrics, /healthz and /readyz (port 0: any free port)")
	fs.StringVar(&f.format, "format", "json", "verdict format: json or ocsf")
	fs.BoolVar(&f.jsonOut, "json", false, "print the final summary as one JSON object on stdout")
	fs.BoolVar(&f.hold, "hold", false, "keep the broker running after the replay until interrupted (for kcat and friends)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: json or text")
	fs.StringVar(&f.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	fs.BoolVar(&f.dashboard, "dashboard", true, "serve the web dashboard at /dashboard/ on --http-addr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case f.source != "nslkdd" && f.source != "zeek":
		return usageError{fmt.Errorf("--source %q: want nslkdd or zeek", f.source)}
	case f.records < 0:
		return usageError{fmt.Errorf("--records %d: want at least 1", f.records)}
	case f.rate < 0:
		return usageError{fmt.Errorf("--rate %d: want 0 or more", f.rate)}
	case f.badEvery < 0:
		return usageError{fmt.Errorf("--bad-every %d: want 0 or more", f.badEvery)}
	case f.partitions < 1 || f.partitions > 256:
		return usageError{fmt.Errorf("--partitions %d: want 1 to 256", f.partitions)}
	case f.port < 0 || f.port > 65535:
		return usageError{fmt.Errorf("--port %d: want 0 to 65535", f.port)}
	}
	if _, err := sinks.ParseFormat(f.format, ""); err != nil {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	if f.logFormat != "json" && f.logFormat != "text" {
		return usageError{fmt.Errorf("--log-format %q: want json or text", f.logFormat)}
	}
	if _, err := parseLogLevel(f.logLevel); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)}
	}
	logger := newLogger(io.err, f.logFormat, f.logLevel)
	var conns []connlog.Conn
	if f.source == "zeek" {
		var err error
		if conns, err = captures.Conns(demoCapture); err != nil {
			return err
		}
	}
	if f.records == 0 {
		f.records = 200000
		if f.source == "zeek" {
			f.records = len(conns)
		}
	}
	return demo(ctx, f, conns, io, logger)
}

func demo(ctx context.Context, f demoFlags, conns []connlog.Conn, io stdio, logger *slog.Logger) error {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(f.port),
		kfake.SeedTopics(int32(f.partitions), demoRawTopic, demoVerdictTopic, demoDeadLetterTopic))
	if err != nil {
		return fmt.Errorf("starting the in-process broker: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	fmt.Fprintf(io.err, "sagewall demo: Kafka-protocol broker on %s (topics %s, %s, %s; %d partitions each)\n",
		brokers[0], demoRawTopic, demoVerdictTopic, demoDeadLetterTopic, f.partitions)
	lives := "while the replay runs (--hold keeps them up after it)"
	if f.hold {
		lives = "until interrupted"
	}
	fmt.Fprintf(io.err, "  e.g. kcat -b %s -C -t %s -o -5 -e   (the broker, metrics and dashboard live %s)\n", brokers[0], demoVerdictTopic, lives)

	cfg := defaultRunConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Input.Topic, cfg.Input.Group = demoRawTopic, demoGroup
	cfg.Output.Topic, cfg.Output.DeadLetterTopic, cfg.Output.Format = demoVerdictTopic, demoDeadLetterTopic, f.format
	cfg.HTTP.Addr = f.httpAddr
	if f.source == "zeek" {
		cfg.Input.Format = "zeek"
		// The replay ends: the last connections wait for the hold time,
		// not for later ones that never come.
		cfg.Input.HoldTime = time.Second
	}
	cfg.HTTP.Dashboard = f.dashboard
	confusion := sinks.NewConfusion(0.90)
	svc, err := newService(ctx, cfg, logger, withExtraSinks(confusion), withLagInterval(250*time.Millisecond))
	if err != nil {
		return err
	}
	info, op := svc.detector.Info(), svc.detector.OperatingPoint()
	fmt.Fprintf(io.err, "  model %s %s, threshold %v: %s\n", info.Name, info.Version, op.Threshold, describeOperatingPoint(op))
	fmt.Fprintf(io.err, "  metrics on http://%s/metrics\n", svc.listener.Addr())
	if f.dashboard {
		fmt.Fprintf(io.err, "  dashboard on http://%s%s/\n", svc.listener.Addr(), dashboardPrefix)
	}

	start := time.Now()
	pipeCtx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- svc.run(pipeCtx) }()

	produced := make(chan error, 1)
	var sent atomic.Int64
	go func() {
		if conns != nil {
			produced <- replayConns(pipeCtx, brokers, f, conns, &sent)
			return
		}
		produced <- replay(pipeCtx, brokers, f, &sent)
	}()

	status := time.NewTicker(500 * time.Millisecond)
	defer status.Stop()
	// Once the replay is done, the group's commits are read from the broker
	// every 20 ms: the lag monitor's view is up to 250 ms old and the status
	// line's tick 500 ms apart, which made the summary's duration a multiple
	// of half a second rather than the time the records took.
	var (
		doneCheck <-chan time.Time
		finished  bool
		pipeErr   error
		pipeEnded bool
		lastLine  time.Time
	)
	for !pipeEnded {
		select {
		case err := <-produced:
			if err != nil && ctx.Err() == nil {
				stopPipeline()
				<-pipeDone
				return fmt.Errorf("replaying records: %w", err)
			}
			ticker := time.NewTicker(20 * time.Millisecond)
			defer ticker.Stop()
			doneCheck = ticker.C
		case pipeErr = <-pipeDone:
			pipeEnded = true
		case <-doneCheck:
			checkCtx, cancel := context.WithTimeout(ctx, time.Second)
			offsets, err := stream.GroupOffsets(checkCtx, svc.client, demoGroup, demoRawTopic)
			cancel()
			if err != nil || !allCommitted(offsets, int64(f.records)) {
				continue
			}
			finished, doneCheck = true, nil // with --hold, the broker stays up until interrupted
			if !f.hold {
				stopPipeline()
			} else {
				fmt.Fprintf(io.err, "\nall %d records committed; holding the broker on %s until interrupted\n", f.records, brokers[0])
			}
		case <-status.C:
			offsets := svc.offsets()
			if io.errIsTTY || time.Since(lastLine) >= 5*time.Second {
				printStatus(io, svc, confusion, offsets, sent.Load(), time.Since(start))
				lastLine = time.Now()
			}
		}
	}
	elapsed := time.Since(start)
	if io.errIsTTY {
		fmt.Fprintln(io.err)
	}
	if pipeErr != nil {
		return pipeErr
	}
	// The verdict of record: what the group committed, read back from the
	// broker after the pipeline stopped.
	offsetsCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	offsets, err := stream.GroupOffsets(offsetsCtx, svc.client, demoGroup, demoRawTopic)
	if err != nil {
		return fmt.Errorf("reading the committed offsets: %w", err)
	}
	summary := newDemoSummary(svc.pipeline.Stats(), confusion.Matrix(), offsets, elapsed)
	summary.LatencyP50, summary.LatencyP99 = latencyQuantiles(svc.registry)
	if f.jsonOut {
		enc := json.NewEncoder(io.out)
		if err := enc.Encode(summary); err != nil {
			return fmt.Errorf("writing the summary: %w", err)
		}
	} else {
		summary.print(io.out)
	}
	if !finished && ctx.Err() == nil {
		return errors.New("the pipeline stopped before every record was committed")
	}
	return nil
}

// allCommitted reports whether the group committed every one of the
// records on every partition.
func allCommitted(offsets []stream.PartitionOffsets, records int64) bool {
	var committed, end int64
	for _, p := range offsets {
		if p.Committed >= 0 {
			committed += p.Committed
		}
		end += p.End
	}
	return end >= records && committed == end
}

// demoCapture is the bundled Zeek conn.log the zeek demo replays.
const demoCapture = "ctu-normal-40-day1.conn.log.labeled.gz"

// replayConns produces f.records connections of the capture, in the order
// Zeek logged them, as the S3 bridge would: Zeek JSON lines keyed by
// destination host. Each further pass over the capture is shifted by the
// capture's span, so event time keeps moving forward; every badEvery-th
// line is truncated to show the dead-letter path.
func replayConns(ctx context.Context, brokers []string, f demoFlags, conns []connlog.Conn, sent *atomic.Int64) error {
	w := replayWriter(brokers, &kafka.Hash{})
	defer w.Close()
	first, last := conns[0].Start, conns[0].Start
	for _, c := range conns {
		if c.Start.Before(first) {
			first = c.Start
		}
		if end := c.Start.Add(c.Duration); end.After(last) {
			last = end
		}
	}
	span := last.Sub(first) + time.Minute
	const chunk = 1000
	msgs := make([]kafka.Message, 0, chunk)
	start := time.Now()
	for produced := 0; produced < f.records; {
		msgs = msgs[:0]
		n := min(chunk, f.records-produced)
		if f.rate > 0 {
			n = min(n, max(1, f.rate/50))
		}
		for i := produced; i < produced+n; i++ {
			c := conns[i%len(conns)]
			if pass := i / len(conns); pass > 0 {
				c.Start = c.Start.Add(time.Duration(pass) * span)
				c.UID = fmt.Sprintf("%s-%d", c.UID, pass)
			}
			value := connlog.AppendZeekJSON(nil, &c)
			if f.badEvery > 0 && (i+1)%f.badEvery == 0 {
				value = value[:len(value)/2]
			}
			msgs = append(msgs, kafka.Message{Key: c.RespAddr.AppendTo(nil), Value: value})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return err
		}
		produced += n
		sent.Add(int64(n))
		if !pace(ctx, start, produced, f.rate) {
			return nil
		}
	}
	return nil
}

// replayWriter is the demo's producer of the raw topic.
func replayWriter(brokers []string, balancer kafka.Balancer) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        demoRawTopic,
		Balancer:     balancer,
		RequiredAcks: kafka.RequireAll,
		BatchSize:    10000,
		BatchBytes:   1_000_000,
		BatchTimeout: time.Millisecond,
	}
}

// pace waits until produced records are due at rate per second since
// start (no wait when rate is 0); false when ctx ended. Pacing against the
// start keeps rounding from accumulating.
func pace(ctx context.Context, start time.Time, produced, rate int) bool {
	if rate <= 0 {
		return true
	}
	due := start.Add(time.Duration(float64(produced) / float64(rate) * float64(time.Second)))
	select {
	case <-time.After(time.Until(due)):
		return true
	case <-ctx.Done():
		return false
	}
}

// replay produces f.records lines of KDDTrain+ (cycling) into the raw topic,
// every badEvery-th replaced by a malformed line, at f.rate per second.
func replay(ctx context.Context, brokers []string, f demoFlags, sent *atomic.Int64) error {
	w := replayWriter(brokers, &kafka.RoundRobin{})
	defer w.Close()
	const chunk = 10000
	var (
		lines    *bufio.Scanner
		closer   io.Closer
		msgs     = make([]kafka.Message, 0, chunk)
		start    = time.Now()
		produced = 0
	)
	defer func() {
		if closer != nil {
			closer.Close()
		}
	}()
	for produced < f.records {
		msgs = msgs[:0]
		n := min(chunk, f.records-produced)
		if f.rate > 0 {
			n = min(n, max(1, f.rate/50))
		}
		for len(msgs) < n {
			if lines == nil {
				rc, err := nslkdd.Open(nslkdd.Train)
				if err != nil {
					return err
				}
				closer, lines = rc, bufio.NewScanner(rc)
			}
			if !lines.Scan() {
				if err := lines.Err(); err != nil {
					return fmt.Errorf("reading the bundled records: %w", err)
				}
				closer.Close()
				lines, closer = nil, nil
				continue
			}
			i := produced + len(msgs) + 1
			value := append([]byte(nil), lines.Bytes()...)
			if f.badEvery > 0 && i%f.badEvery == 0 {
				value = malformed(value, i)
			}
			msgs = append(msgs, kafka.Message{Value: value})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return err
		}
		produced += len(msgs)
		sent.Add(int64(len(msgs)))
		if !pace(ctx, start, produced, f.rate) {
			return nil
		}
	}
	return nil
}

// malformed breaks a record in one of a few ways a real feed does: a
// non-numeric duration, a truncated line, an unknown protocol.
func malformed(line []byte, i int) []byte {
	fields := bytes.SplitN(line, []byte(","), 3)
	switch {
	case len(fields) < 3 || i%3 == 1:
		return line[:len(line)/2]
	case i%3 == 0:
		fields[0] = []byte("n/a")
	default:
		fields[1] = []byte("xtp")
	}
	return bytes.Join(fields, []byte(","))
}

func printStatus(io stdio, svc *service, confusion *sinks.Confusion, offsets []stream.PartitionOffsets, sent int64, elapsed time.Duration) {
	st := svc.pipeline.Stats()
	m := confusion.Matrix()
	var lag int64
	for _, p := range offsets {
		lag += p.Lag()
	}
	rate := float64(st.Verdicts+st.Rejected) / max(elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("%6.1fs  sent %d  consumed %d  verdicts %d  rejected %d  %.0f rec/s  alerts %d  lag %d  accuracy %.4f",
		elapsed.Seconds(), sent, st.Consumed, st.Verdicts, st.Rejected, rate, m.Alerts, lag, m.Accuracy())
	if io.errIsTTY {
		fmt.Fprintf(io.err, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(io.err, line)
	}
}

// demoSummary is the final report; with --json it is printed as is.
type demoSummary struct {
	Consumed          uint64                `json:"consumed"`
	Verdicts          uint64                `json:"verdicts"`
	Rejected          uint64                `json:"rejected"`
	Committed         int64                 `json:"committed"`
	Partitions        []demoPartition       `json:"partitions"`
	DurationSeconds   float64               `json:"duration_seconds"`
	RecordsPerSecond  float64               `json:"records_per_second"`
	Attacks           uint64                `json:"attacks"`
	Alerts            uint64                `json:"alerts"`
	Confusion         sinks.ConfusionMatrix `json:"confusion"`
	Accuracy          float64               `json:"accuracy"`
	DetectionRate     float64               `json:"detection_rate"`
	FalseAlarmRate    float64               `json:"false_alarm_rate"`
	OffsetCommitCalls uint64                `json:"offset_commits"`
	// End-to-end latency (record timestamp → verdict acknowledged),
	// estimated from the histogram's buckets. Without --rate the replay
	// runs ahead of the pipeline, so this is mostly queueing.
	LatencyP50 float64 `json:"latency_p50_seconds"`
	LatencyP99 float64 `json:"latency_p99_seconds"`
}

// latencyQuantiles estimates the median and 99th percentile of
// sagewall_end_to_end_latency_seconds by interpolating within buckets.
func latencyQuantiles(g prometheus.Gatherer) (p50, p99 float64) {
	families, err := g.Gather()
	if err != nil {
		return 0, 0
	}
	for _, f := range families {
		if f.GetName() != "sagewall_end_to_end_latency_seconds" || len(f.GetMetric()) == 0 {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		return bucketQuantile(h, 0.50), bucketQuantile(h, 0.99)
	}
	return 0, 0
}

func bucketQuantile(h *dto.Histogram, q float64) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, count := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if count >= rank {
			if count == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(count-below)
		}
		lower, below = upper, count
	}
	return lower // beyond the last finite bucket
}

type demoPartition struct {
	Partition int   `json:"partition"`
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
}

func newDemoSummary(st stream.Stats, m sinks.ConfusionMatrix, offsets []stream.PartitionOffsets, elapsed time.Duration) demoSummary {
	s := demoSummary{
		Consumed:          st.Consumed,
		Verdicts:          st.Verdicts,
		Rejected:          st.Rejected,
		DurationSeconds:   elapsed.Seconds(),
		Attacks:           st.Attacks,
		Alerts:            m.Alerts,
		Confusion:         m,
		Accuracy:          m.Accuracy(),
		DetectionRate:     m.DetectionRate(),
		FalseAlarmRate:    m.FalseAlarmRate(),
		OffsetCommitCalls: st.Committed,
	}
	for _, p := range offsets {
		committed := max(p.Committed, 0)
		s.Committed += committed
		s.Partitions = append(s.Partitions, demoPartition{p.Partition, committed, p.End})
	}
	if elapsed > 0 {
		s.RecordsPerSecond = float64(st.Verdicts+st.Rejected) / elapsed.Seconds()
	}
	return s
}

func (s demoSummary) print(w io.Writer) {
	fmt.Fprintf(w, "consumed %d records, %d verdicts, %d dead letters; %d offsets committed in the group\n",
		s.Consumed, s.Verdicts, s.Rejected, s.Committed)
	fmt.Fprintf(w, "%.2f s, %s records/s\n", s.DurationSeconds, strconv.FormatFloat(s.RecordsPerSecond, 'f', 0, 64))
	fmt.Fprintf(w, "attacks %d, alerts (score >= 0.90) %d\n", s.Attacks, s.Alerts)
	fmt.Fprintf(w, "end-to-end latency p50 %.1f ms, p99 %.1f ms\n", s.LatencyP50*1000, s.LatencyP99*1000)
	c := s.Confusion
	fmt.Fprintf(w, "against the labels: accuracy %.4f, detection rate %.4f, false-alarm rate %.4f\n",
		s.Accuracy, s.DetectionRate, s.FalseAlarmRate)
	fmt.Fprintf(w, "                 predicted attack  predicted normal\n")
	fmt.Fprintf(w, "  actual attack  %16d  %16d\n", c.TruePositives, c.FalseNegatives)
	fmt.Fprintf(w, "  actual normal  %16d  %16d\n", c.FalsePositives, c.TrueNegatives)
}
