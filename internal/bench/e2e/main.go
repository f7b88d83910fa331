// Command e2e benchmarks `sagewall run` end to end on a real Kafka broker
// against kcat piping the same records consume→produce with no work, and
// against the original stack's Python consumer (internal/bench/python).
//
// Three phases, each on fresh topics and a fresh consumer group:
//
//  1. kcat throughput: N pre-filled records, `kcat -C -G … -e | kcat -P -X acks=all`,
//     wall time from starting both until the producer has exited (every
//     message acknowledged).
//  2. sagewall throughput: the same N records, `sagewall run`, wall time
//     from starting the process until the group has committed all N; the
//     Python consumer likewise, once per batch size.
//  3. paced latency: a producer at a fixed rate (default: half of sagewall's
//     measured rate) for a fixed time into a raw topic, with sagewall, then
//     kcat, then Python, consuming it; latency is the output record's broker append time
//     minus the source record's broker append time (every topic is created
//     with message.timestamp.type=LogAppendTime, so both come from the one
//     broker's clock and neither depends on a client's batching). With
//     --hog, each system runs a second time with a CPU hog on one core
//     (hog.go).
//
// Every throughput run also records the CPU time per record and the peak
// RSS of the system measured and the broker's CPU time per record
// (usage.go). Each paced run records a timeline (timeline.go): latency per 100 ms
// window beside what the machine was doing. Every run's topics are deleted
// once it is measured. The results are appended as one line to a JSON-lines
// file (record.go), from which --render prints the tables again.
//
// With --tuned, phases 2 and 3 also run for a second sagewall configuration
// in the same run. Every phase is bounded by a timeout; everything runs on the brokers given
// (127.0.0.1 in scripts/bench-e2e.sh).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/captures"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
)

type options struct {
	brokers      string
	sagewall     string
	kcat         string
	records      int
	partitions   int
	rate         int
	pacedFor     time.Duration
	repeat       int
	warmup       time.Duration
	timeout      time.Duration
	sagewallArgs string
	tuned        string
	out          string
	skipKcat     bool
	storage      string
	brokerPID    int
	zeek         bool
	// inputCodec compresses the input topics' batches as a producer
	// would (the S3 bridge writes lz4); none by default, as in the runs
	// recorded before it existed.
	inputCodec kafka.Compression
	code       string
	hog        bool
	// The Python peer: the interpreter (of the venv scripts/bench-e2e.sh
	// makes), consumer.py, and the batch sizes measured.
	skipPython     bool
	python         string
	pythonConsumer string
	pythonBatches  []int
	// render prints the table of a recorded run (renderRun, or the last)
	// of this JSON-lines file instead of measuring.
	render, renderRun string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == spinArg {
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-e2e:", err)
			os.Exit(2)
		}
		spin(d)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench-e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.brokers, "brokers", "127.0.0.1:19092", "Kafka bootstrap address")
	fs.StringVar(&o.sagewall, "sagewall", "sagewall", "sagewall binary")
	fs.StringVar(&o.kcat, "kcat", "kcat", "kcat binary")
	fs.IntVar(&o.records, "records", 500000, "records for the throughput runs (bundled KDDTrain+, cycled)")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of every topic")
	fs.IntVar(&o.repeat, "repeat", 5, "throughput runs of each system, interleaved; the figures are their medians")
	fs.IntVar(&o.rate, "rate", 0, "records/s of the paced run (0: half of sagewall's measured throughput)")
	fs.DurationVar(&o.pacedFor, "paced-for", 20*time.Second, "duration of the paced run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "start of the paced run left out of the latency figures")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "limit of each phase")
	fs.StringVar(&o.sagewallArgs, "sagewall-args", "", "extra flags for sagewall run, space-separated (e.g. \"--batch-records 1024\")")
	fs.StringVar(&o.tuned, "tuned", "", "also measure sagewall with these settings in the same run: flags of sagewall run and NAME=VALUE environment variables, space-separated (e.g. \"GOGC=400 --batch-records 1024\")")
	fs.BoolVar(&o.skipKcat, "skip-kcat", false, "measure sagewall only (tuning runs)")
	fs.IntVar(&o.brokerPID, "broker-pid", 0, "process of the broker, for the timeline's CPU split (0: the first process running kafka.Kafka)")
	fs.BoolVar(&o.zeek, "zeek", false, "also measure sagewall on Zeek connection logs in the same run (the bundled capture as Zeek JSON keyed by destination host, features derived), throughput only, against the NSL-KDD path")
	fs.StringVar(&o.storage, "broker-storage", "", "what the broker's log directory is on (e.g. \"ext4\", \"tmpfs\"), for the record")
	fs.StringVar(&o.code, "code", "", "the code measured, for the record (scripts/bench-e2e.sh: git rev-parse --short HEAD, \"-dirty\" when the tree is)")
	fs.BoolVar(&o.hog, "hog", true, "also run each system's paced run with a CPU hog spinning on one core (loaded latency)")
	fs.BoolVar(&o.skipPython, "skip-python", false, "leave out the Python consumer (internal/bench/python)")
	fs.StringVar(&o.python, "python", "", "Python interpreter with internal/bench/python/requirements.txt installed")
	fs.StringVar(&o.pythonConsumer, "python-consumer", "internal/bench/python/consumer.py", "the Python consumer")
	inputCompression := fs.String("input-compression", "none", "codec of the input topics' record batches, as their producer writes them: none, gzip, snappy, lz4 or zstd (the S3 bridge writes lz4)")
	batches := fs.String("python-batches", "1000,10000", "batch sizes of the Python consumer's throughput runs, comma-separated; the first is also paced")
	fs.StringVar(&o.out, "out", "", "append the results as one line of JSON to this file")
	fs.StringVar(&o.render, "render", "", "print the tables of a run recorded in this JSON-lines file (the last, or --run) and exit")
	fs.StringVar(&o.renderRun, "run", "", "with --render: the run id (e.g. 20261125-173258)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var err error
	if o.pythonBatches, err = parseBatches(*batches); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.inputCodec, err = sinks.ParseCompression(*inputCompression); err != nil {
		return fmt.Errorf("%w: --input-compression: %w", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case o.render != "":
		f, err := os.Open(o.render)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := readRecord(f, o.renderRun)
		if err != nil {
			return fmt.Errorf("%s: %w", o.render, err)
		}
		res.printTable(stdout)
		return nil
	case o.records < 1, o.partitions < 1, o.repeat < 1, o.rate < 0, o.pacedFor <= 0, o.warmup < 0, o.warmup >= o.pacedFor:
		return fmt.Errorf("%w: want --records, --partitions, --repeat >= 1, --rate >= 0, 0 <= --warmup < --paced-for", errUsage)
	case !o.skipPython && o.python == "":
		return fmt.Errorf("%w: want --python (scripts/bench-e2e.sh makes its venv) or --skip-python", errUsage)
	}
	b := &bench{opts: o, log: stderr, client: stream.NewClient([]string{o.brokers}, nil), runID: time.Now().Format("150405"),
		broker: brokerMeter{newProcessCPU(o.brokerPID).brokerPID}}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	res.Code = o.code
	res.Flags = flagsOf(fs, "brokers", "sagewall", "kcat", "out", "broker-pid", "broker-storage", "code", "python", "python-consumer")
	res.printTable(stdout)
	if o.out != "" {
		return appendRecord(o.out, res)
	}
	return nil
}

type bench struct {
	opts   options
	log    io.Writer
	client *kafka.Client
	runID  string
	broker brokerMeter
	lines  [][]byte
	// zeek: the bundled capture's connections as the S3 bridge writes them.
	zeekLines, zeekKeys [][]byte
	zeekSpan            time.Duration
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s bench-e2e: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// results is what one benchmark run measured: one line of
// docs/bench/e2e.jsonl.
type results struct {
	Run           string      `json:"run"`             // UTC start time, e.g. 20261125-173258
	Code          string      `json:"code,omitempty"`  // git commit measured, "-dirty" if the tree was
	Flags         string      `json:"flags,omitempty"` // the flags given, less where things are
	Records       int         `json:"records"`
	Partitions    int         `json:"partitions"`
	BrokerStorage string      `json:"broker_storage,omitempty"`
	SagewallArgs  string      `json:"sagewall_args,omitempty"`
	Tuned         string      `json:"tuned,omitempty"`
	SagewallTuned *throughput `json:"sagewall_tuned,omitempty"`
	TunedRatio    float64     `json:"ratio_tuned_to_kcat,omitempty"`
	TunedPaced    *latencyRun `json:"sagewall_tuned_paced,omitempty"`
	Sagewall      *throughput `json:"sagewall"`
	SagewallZeek  *throughput `json:"sagewall_zeek,omitempty"`
	ZeekRatio     float64     `json:"ratio_zeek_to_nslkdd,omitempty"`
	Kcat          *throughput `json:"kcat,omitempty"`
	Ratio         float64     `json:"ratio_sagewall_to_kcat,omitempty"`
	PacedRate     int         `json:"paced_rate"`
	PacedFor      string      `json:"paced_for"`
	Warmup        string      `json:"warmup"`
	SagewallPaced *latencyRun `json:"sagewall_paced"`
	KcatPaced     *latencyRun `json:"kcat_paced,omitempty"`
	// The Python consumer: one throughput per batch size (--python-batches),
	// the check of its verdicts against sagewall's scoring, and its paced
	// runs (first batch size; its own rate if lower than PacedRate).
	Python      []*throughput `json:"python,omitempty"`
	PythonCheck *verdictCheck `json:"python_check,omitempty"`
	PythonPaced *latencyRun   `json:"python_paced,omitempty"`
	// The paced runs again with a CPU hog on one core (--hog).
	SagewallHog *latencyRun `json:"sagewall_paced_hog,omitempty"`
	TunedHog    *latencyRun `json:"sagewall_tuned_paced_hog,omitempty"`
	KcatHog     *latencyRun `json:"kcat_paced_hog,omitempty"`
	PythonHog   *latencyRun `json:"python_paced_hog,omitempty"`
	LoadAverage string      `json:"load_average"`
	Started     time.Time   `json:"started"`
	Phases      []phaseTime `json:"phases"`
}

// throughput is one system's repeated throughput runs: the medians, and
// every run.
type throughput struct {
	Batch         int             `json:"batch,omitempty"`         // the Python consumer's batch size
	RecordsPerSec float64         `json:"records_per_sec"`         // median
	SteadyPerSec  float64         `json:"steady_records_per_sec"`  // median
	CPUus         float64         `json:"cpu_us,omitempty"`        // median
	BrokerCPUus   float64         `json:"broker_cpu_us,omitempty"` // median
	PeakRSSMB     float64         `json:"peak_rss_mb,omitempty"`   // median
	Runs          []throughputRun `json:"runs"`
}

type throughputRun struct {
	Seconds       float64 `json:"seconds"`         // process start to done (commit or producer exit)
	RecordsPerSec float64 `json:"records_per_sec"` // records / seconds
	// SteadyPerSec is records over the span between the first and the last
	// output record's broker append time: the rate without process start
	// and group join.
	SteadyPerSec float64 `json:"steady_records_per_sec"`
	Outputs      int64   `json:"outputs"` // records in the output topic
	// CPUus is the CPU time (user + system) of the system's processes, from
	// start to exit, per record in µs: sagewall's one process, kcat's two
	// summed, the Python consumer's one. BrokerCPUus is the broker's, from
	// start to done. PeakRSSMB is the peak resident memory, the sum of the
	// two peaks for kcat.
	CPUus       float64 `json:"cpu_us,omitempty"`
	BrokerCPUus float64 `json:"broker_cpu_us,omitempty"`
	PeakRSSMB   float64 `json:"peak_rss_mb,omitempty"`
}

// add appends a run and updates the medians.
func (t *throughput) add(r throughputRun) {
	t.Runs = append(t.Runs, r)
	t.RecordsPerSec = median(t.Runs, func(r throughputRun) float64 { return r.RecordsPerSec })
	t.SteadyPerSec = median(t.Runs, func(r throughputRun) float64 { return r.SteadyPerSec })
	t.CPUus = median(t.Runs, func(r throughputRun) float64 { return r.CPUus })
	t.BrokerCPUus = median(t.Runs, func(r throughputRun) float64 { return r.BrokerCPUus })
	t.PeakRSSMB = median(t.Runs, func(r throughputRun) float64 { return r.PeakRSSMB })
}

// spread returns the lowest and highest of field over the runs.
func (t *throughput) spread(field func(throughputRun) float64) (lo, hi float64) {
	for i, r := range t.Runs {
		v := field(r)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

// median is the middle value of field over runs (the mean of the two middle
// ones for an even count).
func median(runs []throughputRun, field func(throughputRun) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = field(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

type latencyRun struct {
	Produced int64   `json:"produced"`
	Measured int     `json:"measured"` // outputs after the warm-up, matched to their source
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Maxms    float64 `json:"max_ms"`
	// AfterStop counts outputs appended only after the system was told to
	// stop (kcat -P's last lines); they are not in the figures.
	AfterStop int `json:"after_stop"`
	// Rate is the records/s this run was paced at (before it was recorded
	// per run: results.PacedRate).
	Rate int `json:"rate,omitempty"`
	// HogCores is how many cores the CPU hog kept busy on average; 0 for a
	// run without it.
	HogCores float64 `json:"hog_cores,omitempty"`
	// Behind counts the records with no output 10 s after the producer
	// stopped: the system did not sustain the rate, and there are no
	// latency figures.
	Behind int64 `json:"behind,omitempty"`
	// Timeline is the run by 100 ms windows of source append time, with
	// what the machine was doing in each.
	Timeline []windowStat `json:"timeline,omitempty"`
}

type phaseTime struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
}

func (b *bench) run(ctx context.Context) (*results, error) {
	o := b.opts
	res := &results{Records: o.records, Partitions: o.partitions, BrokerStorage: o.storage, SagewallArgs: o.sagewallArgs, Tuned: o.tuned, PacedFor: o.pacedFor.String(),
		Warmup: o.warmup.String(), LoadAverage: loadAverage(), Started: time.Now().UTC()}
	res.Run = res.Started.Format(runIDLayout)
	if err := b.loadLines(); err != nil {
		return nil, err
	}
	defaults := &variant{name: "sagewall", args: strings.Fields(o.sagewallArgs)}
	tuned := parseVariant("sagewall-tuned", o.tuned)
	phase := func(name string, fn func(context.Context) error) error {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		b.logf("%s", name)
		if err := fn(pctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res.Phases = append(res.Phases, phaseTime{name, time.Since(start).Seconds()})
		return nil
	}
	raw := b.topic("raw")
	if err := phase("filling "+raw, func(ctx context.Context) error {
		if err := b.createTopics(ctx, raw); err != nil {
			return err
		}
		return b.fill(ctx, raw, o.records)
	}); err != nil {
		return nil, err
	}
	defer b.deleteTopics(ctx, raw)
	var zeekRaw string
	var zeek *variant
	if o.zeek {
		if err := b.loadZeek(); err != nil {
			return nil, err
		}
		zeekRaw = b.topic("zeek-raw")
		// The hold time only matters at the end of the pre-filled topic,
		// where the last connections wait for it.
		zeek = &variant{name: "sagewall-zeek", args: append(strings.Fields(o.sagewallArgs), "--input-format", "zeek", "--input-hold-time", "100ms")}
		res.SagewallZeek = &throughput{}
		if err := phase("filling "+zeekRaw, func(ctx context.Context) error {
			if err := b.createTopics(ctx, zeekRaw); err != nil {
				return err
			}
			return b.fillZeek(ctx, zeekRaw, o.records)
		}); err != nil {
			return nil, err
		}
		defer b.deleteTopics(ctx, zeekRaw)
	}
	// The broker's JIT compiles the request paths each client exercises (kafka-go
	// and librdkafka use different API versions) during the first run of each:
	// without this the first of two identical sagewall runs measured 20–25%
	// fewer records/s than the second.
	if err := phase("warm-up (not measured)", func(ctx context.Context) error {
		if !o.skipKcat {
			if _, err := b.kcatThroughput(ctx, raw, "warmup-kcat"); err != nil {
				return err
			}
		}
		if _, err := b.sagewallThroughput(ctx, raw, &variant{name: "warmup-sagewall", args: defaults.args}); err != nil {
			return err
		}
		if o.skipPython {
			return nil
		}
		// Also the check that the Python consumer does the real work: its
		// verdicts on the first records of each partition against sagewall's
		// scoring of the same records.
		_, err := b.pythonThroughput(ctx, raw, "warmup-python", o.pythonBatches[0], func(ctx context.Context, out string) (err error) {
			res.PythonCheck, err = b.checkVerdicts(ctx, raw, out, 100)
			if err == nil {
				b.logf("Python verdicts on %d records agree with sagewall's scoring (largest score difference %.2g)",
					res.PythonCheck.Records, res.PythonCheck.MaxScoreDiff)
			}
			return err
		})
		return err
	}); err != nil {
		return nil, err
	}
	// kcat's throughput varies by up to 3× from run to run on this machine
	// (122k–310k records/s in six consecutive runs), so each system runs
	// --repeat times, interleaved, and the medians are compared.
	res.Sagewall = &throughput{}
	if !o.skipKcat {
		res.Kcat = &throughput{}
	}
	if tuned != nil {
		res.SagewallTuned = &throughput{}
	}
	if !o.skipPython {
		for _, batch := range o.pythonBatches {
			res.Python = append(res.Python, &throughput{Batch: batch})
		}
	}
	for round := range o.repeat {
		if res.Kcat != nil {
			if err := phase(fmt.Sprintf("kcat throughput %d/%d", round+1, o.repeat), func(ctx context.Context) error {
				r, err := b.kcatThroughput(ctx, raw, fmt.Sprintf("kcat-%d", round))
				if err == nil {
					res.Kcat.add(*r)
				}
				return err
			}); err != nil {
				return nil, err
			}
		}
		for _, v := range []struct {
			v   *variant
			raw string
			res *throughput
		}{{defaults, raw, res.Sagewall}, {tuned, raw, res.SagewallTuned}, {zeek, zeekRaw, res.SagewallZeek}} {
			if v.v == nil {
				continue
			}
			if err := phase(fmt.Sprintf("%s throughput %d/%d", v.v.name, round+1, o.repeat), func(ctx context.Context) error {
				r, err := b.sagewallThroughput(ctx, v.raw, v.v.inRound(round))
				if err == nil {
					v.res.add(*r)
				}
				return err
			}); err != nil {
				return nil, err
			}
		}
		for _, py := range res.Python {
			if err := phase(fmt.Sprintf("python batch %d throughput %d/%d", py.Batch, round+1, o.repeat), func(ctx context.Context) error {
				r, err := b.pythonThroughput(ctx, raw, fmt.Sprintf("python-%d-%d", py.Batch, round), py.Batch, nil)
				if err == nil {
					py.add(*r)
				}
				return err
			}); err != nil {
				return nil, err
			}
		}
	}
	if res.Kcat != nil {
		res.Ratio = res.Sagewall.RecordsPerSec / res.Kcat.RecordsPerSec
		if tuned != nil {
			res.TunedRatio = res.SagewallTuned.RecordsPerSec / res.Kcat.RecordsPerSec
		}
	}
	if res.SagewallZeek != nil {
		res.ZeekRatio = res.SagewallZeek.RecordsPerSec / res.Sagewall.RecordsPerSec
	}
	res.PacedRate = o.rate
	if res.PacedRate == 0 {
		res.PacedRate = int(res.Sagewall.RecordsPerSec / 2)
	}
	// Small, paced produce and fetch requests take other paths through the
	// broker than the throughput runs' large ones; the first paced run after
	// the throughput runs measured a p99 2–3× the next one's.
	if err := phase("paced warm-up (not measured)", func(ctx context.Context) error {
		_, err := b.paced(ctx, "warmup-sagewall", res.PacedRate, min(o.pacedFor, 10*time.Second), b.startSagewall(defaults), false)
		return err
	}); err != nil {
		return nil, err
	}
	// Every system at the same rate, quiet; then each again with the hog.
	// The Python consumer at half its own median if that is lower: a rate
	// it cannot sustain would measure its backlog, not its latency.
	type pacedRun struct {
		name  string
		rate  int
		start starter
		quiet **latencyRun
		hog   **latencyRun
	}
	runs := []pacedRun{{"sagewall", res.PacedRate, b.startSagewall(defaults), &res.SagewallPaced, &res.SagewallHog}}
	if tuned != nil {
		runs = append(runs, pacedRun{"sagewall-tuned", res.PacedRate, b.startSagewall(tuned), &res.TunedPaced, &res.TunedHog})
	}
	if !o.skipKcat {
		runs = append(runs, pacedRun{"kcat", res.PacedRate, b.startKcat, &res.KcatPaced, &res.KcatHog})
	}
	if !o.skipPython {
		rate := max(1, min(res.PacedRate, int(res.Python[0].RecordsPerSec/2)))
		runs = append(runs, pacedRun{"python", rate, b.startPython(res.Python[0].Batch), &res.PythonPaced, &res.PythonHog})
	}
	for _, hog := range []bool{false, true} {
		if hog && !o.hog {
			break
		}
		for _, r := range runs {
			name, into := r.name, r.quiet
			if hog {
				name, into = r.name+"-hog", r.hog
			}
			if err := phase(name+" paced", func(ctx context.Context) (err error) {
				*into, err = b.paced(ctx, name, r.rate, o.pacedFor, r.start, hog)
				return err
			}); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// topic names a topic of this run; runs never share topics or groups.
func (b *bench) topic(name string) string { return "bench-" + b.runID + "-" + name }

func (b *bench) loadLines() error {
	rc, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		return err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		b.lines = append(b.lines, slices.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the bundled records: %w", err)
	}
	return nil
}

// loadZeek parses the bundled labelled capture and renders its
// connections as the S3 bridge writes them.
func (b *bench) loadZeek() error {
	conns, err := captures.Conns("ctu-normal-40-day1.conn.log.labeled.gz")
	if err != nil {
		return err
	}
	for i := range conns {
		b.zeekLines = append(b.zeekLines, connlog.AppendZeekJSON(nil, &conns[i]))
		b.zeekKeys = append(b.zeekKeys, conns[i].RespAddr.AppendTo(nil))
	}
	b.zeekSpan = captures.ReplaySpan(conns)
	return nil
}

// fillZeek writes n connections of the capture, cycled, keyed by
// destination host; each pass is shifted forward by the capture's span so
// event time keeps moving (the timestamps are rewritten in place).
func (b *bench) fillZeek(ctx context.Context, topic string, n int) error {
	w := b.writer(topic)
	w.Balancer = &kafka.Hash{}
	defer w.Close()
	parser := connlog.NewParser(connlog.Zeek)
	const chunk = 10000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < n; {
		msgs = msgs[:0]
		for ; len(msgs) < chunk && i < n; i++ {
			k := i % len(b.zeekLines)
			value := b.zeekLines[k]
			if pass := i / len(b.zeekLines); pass > 0 {
				var c connlog.Conn
				if _, err := parser.Parse(value, &c); err != nil {
					return err
				}
				c.Start = c.Start.Add(time.Duration(pass) * b.zeekSpan)
				c.UID += "-" + strconv.Itoa(pass)
				value = connlog.AppendZeekJSON(nil, &c)
			}
			msgs = append(msgs, kafka.Message{Key: b.zeekKeys[k], Value: value})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("writing connections to %s: %w", topic, err)
		}
	}
	return nil
}

// createTopics creates topics whose records carry the broker's append time.
func (b *bench) createTopics(ctx context.Context, topics ...string) error {
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: b.opts.partitions, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "message.timestamp.type", ConfigValue: "LogAppendTime"}}})
	}
	resp, err := b.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("creating topics %v: %w", topics, err)
	}
	for t, err := range resp.Errors {
		if err != nil {
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	// A new topic's partitions answer once they have a leader; until then
	// consumers log errors and back off, which would show up as latency.
	for _, t := range topics {
		for {
			if _, err = b.partitionEnds(ctx, t); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for topic %s: %w (last: %w)", t, ctx.Err(), err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// deleteTopics deletes the topics of a finished run. A full run writes
// over 10 GB; kept, it would fill a broker on tmpfs and leave later runs
// less free memory than earlier ones. A failure is logged: the figures
// stand without it.
func (b *bench) deleteTopics(ctx context.Context, topics ...string) {
	resp, err := b.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err == nil {
		for _, e := range resp.Errors {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		b.logf("deleting topics %v: %v", topics, err)
	}
}

// fill writes n records (acks=all) as fast as the writer goes; keys carry the
// record's sequence number.
func (b *bench) fill(ctx context.Context, topic string, n int) error {
	w := b.writer(topic)
	defer w.Close()
	const chunk = 10000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < n; {
		msgs = msgs[:0]
		for ; len(msgs) < chunk && i < n; i++ {
			msgs = append(msgs, kafka.Message{Key: strconv.AppendInt(nil, int64(i), 10), Value: b.lines[i%len(b.lines)]})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("writing records to %s: %w", topic, err)
		}
	}
	return nil
}

func (b *bench) writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(b.opts.brokers),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    10000,
		BatchBytes:   1_000_000,
		BatchTimeout: time.Millisecond,
		Compression:  b.opts.inputCodec,
	}
}

// kcatThroughput pipes raw through kcat into a new topic and times it.
func (b *bench) kcatThroughput(ctx context.Context, raw, name string) (*throughputRun, error) {
	out := b.topic(name + "-out")
	if err := b.createTopics(ctx, out); err != nil {
		return nil, err
	}
	b.flushPageCache(name + " throughput")
	broker := b.broker.jiffies()
	start := time.Now()
	pipe, err := b.startKcatPipe(ctx, raw, out, b.topic(name+"-group"), true)
	if err != nil {
		return nil, err
	}
	if err := pipe.wait(); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	c := cost{usageOf(pipe.consumer, pipe.producer), b.broker.since(broker)}
	defer b.deleteTopics(ctx, out)
	t, err := b.throughputOf(ctx, out, elapsed)
	if err != nil {
		return nil, err
	}
	c.fill(t, b.opts.records)
	return t, nil
}

// flushPageCache writes the dirty page cache to disk before a measured
// phase. Each phase writes up to GBs through the broker's page cache; without
// this the kernel's writeback of one phase lands in the next one's
// measurement (of two identical paced runs, the second measured 3 ms lower
// p99).
func (b *bench) flushPageCache(phase string) {
	start := time.Now()
	syscall.Sync()
	b.logf("%s: synced the file systems in %s", phase, time.Since(start).Round(time.Millisecond))
}

// variant is how sagewall run is started: extra flags and environment.
type variant struct {
	name string
	args []string
	env  []string
}

// inRound returns v named for one throughput round, so every run has its
// own topics and group.
func (v *variant) inRound(round int) *variant {
	r := *v
	r.name = fmt.Sprintf("%s-%d", v.name, round)
	return &r
}

// parseVariant splits spec into NAME=VALUE environment variables and flags;
// nil for an empty spec.
func parseVariant(name, spec string) *variant {
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return nil
	}
	v := &variant{name: name}
	for _, f := range fields {
		if !strings.HasPrefix(f, "-") && strings.Contains(f, "=") {
			v.env = append(v.env, f)
		} else {
			v.args = append(v.args, f)
		}
	}
	return v
}

// sagewallThroughput runs sagewall over raw until the group has committed
// every record.
func (b *bench) sagewallThroughput(ctx context.Context, raw string, v *variant) (*throughputRun, error) {
	out, group, deadLetters := b.topic(v.name+"-verdicts"), b.topic(v.name+"-group"), b.topic(v.name+"-dead-letters")
	return b.committedThroughput(ctx, v.name, raw, out, group, []string{deadLetters}, func(ctx context.Context) (*process, error) {
		return b.startSagewallOn(ctx, raw, out, group, v)
	}, nil)
}

// committedThroughput creates out (and the other topics), starts a
// process consuming raw in group into out, waits until the group has
// committed every record, stops it and measures; check, if not nil, is
// given out before it is deleted.
func (b *bench) committedThroughput(ctx context.Context, name, raw, out, group string, other []string,
	start func(context.Context) (*process, error), check func(ctx context.Context, out string) error) (*throughputRun, error) {
	topics := append([]string{out}, other...)
	if err := b.createTopics(ctx, topics...); err != nil {
		return nil, err
	}
	b.flushPageCache(name + " throughput")
	broker := b.broker.jiffies()
	began := time.Now()
	proc, err := start(ctx)
	if err != nil {
		return nil, err
	}
	defer proc.stop()
	if err := b.waitCommitted(ctx, group, raw, int64(b.opts.records), proc); err != nil {
		return nil, err
	}
	elapsed := time.Since(began)
	brokerCPU := b.broker.since(broker)
	if err := proc.stop(); err != nil {
		return nil, err
	}
	defer b.deleteTopics(ctx, topics...)
	t, err := b.throughputOf(ctx, out, elapsed)
	if err != nil {
		return nil, err
	}
	cost{usageOf(proc), brokerCPU}.fill(t, b.opts.records)
	if check != nil {
		if err := check(ctx, out); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (b *bench) throughputOf(ctx context.Context, out string, elapsed time.Duration) (*throughputRun, error) {
	n, err := b.endOffsets(ctx, out)
	if err != nil {
		return nil, err
	}
	if n < int64(b.opts.records) {
		return nil, fmt.Errorf("topic %s holds %d records, want %d", out, n, b.opts.records)
	}
	first, last, err := b.appendSpan(ctx, out)
	if err != nil {
		return nil, err
	}
	t := &throughputRun{Seconds: elapsed.Seconds(), RecordsPerSec: float64(b.opts.records) / elapsed.Seconds(), Outputs: n}
	if span := last.Sub(first); span > 0 {
		t.SteadyPerSec = float64(b.opts.records) / span.Seconds()
	}
	return t, nil
}

// waitCommitted polls the group's committed offsets until they sum to n.
func (b *bench) waitCommitted(ctx context.Context, group, topic string, n int64, proc *process) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		offsets, err := stream.GroupOffsets(ctx, b.client, group, topic)
		if err == nil {
			var sum int64
			for _, p := range offsets {
				sum += max(0, p.Committed)
			}
			if sum >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for group %s to commit %d records: %w", group, n, ctx.Err())
		case <-proc.exited:
			return fmt.Errorf("waiting for group %s to commit %d records: %s exited: %w", group, n, proc.name, proc.err)
		case <-tick.C:
		}
	}
}

func (b *bench) endOffsets(ctx context.Context, topic string) (int64, error) {
	offsets, err := stream.GroupOffsets(ctx, b.client, b.topic("none"), topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range offsets {
		sum += p.End
	}
	return sum, nil
}

// appendSpan returns the earliest first and the latest last append time over
// the partitions of topic (its topics are fresh, so each starts at offset 0).
func (b *bench) appendSpan(ctx context.Context, topic string) (first, last time.Time, err error) {
	ends, err := b.partitionEnds(ctx, topic)
	if err != nil {
		return first, last, err
	}
	firsts, lasts := map[int32]offsetRange{}, map[int32]offsetRange{}
	for p, end := range ends {
		if end > 0 {
			firsts[p], lasts[p] = offsetRange{0, 1}, offsetRange{end - 1, end}
		}
	}
	err = b.readRanges(ctx, topic, firsts, func(r *kgo.Record) {
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
	})
	if err == nil {
		err = b.readRanges(ctx, topic, lasts, func(r *kgo.Record) {
			if r.Timestamp.After(last) {
				last = r.Timestamp
			}
		})
	}
	return first, last, err
}

func (b *bench) partitionEnds(ctx context.Context, topic string) (map[int32]int64, error) {
	offsets, err := stream.GroupOffsets(ctx, b.client, b.topic("none"), topic)
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	for _, p := range offsets {
		ends[int32(p.Partition)] = p.End
	}
	return ends, nil
}

type offsetRange struct{ from, to int64 }

// readRanges calls fn with every record of the given offset ranges of topic.
// It reads with franz-go because kafka-go reports a record's own timestamp
// even when the topic uses LogAppendTime (it ignores the batch attribute),
// and the broker's append time is what the latency is measured on.
func (b *bench) readRanges(ctx context.Context, topic string, ranges map[int32]offsetRange, fn func(*kgo.Record)) error {
	if len(ranges) == 0 {
		return nil
	}
	starts := map[int32]kgo.Offset{}
	for p, r := range ranges {
		starts[p] = kgo.NewOffset().At(r.from)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.opts.brokers),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("creating a client for %s: %w", topic, err)
	}
	defer cl.Close()
	left := len(ranges)
	done := map[int32]bool{}
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("reading %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			rg := ranges[r.Partition]
			if done[r.Partition] || r.Offset < rg.from || r.Offset >= rg.to {
				return
			}
			fn(r)
			if r.Offset == rg.to-1 {
				done[r.Partition] = true
				left--
			}
		})
	}
	return nil
}

// process is a started child process.
type process struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error
	stopped atomic.Bool
	// peakKB is the process's VmHWM, sampled until it exits. Not rusage's
	// ru_maxrss: a child started with CLONE_VM|CLONE_VFORK (as Go's
	// os/exec does) inherits the parent's peak through exec, so every
	// process measured the harness's ~200 MB.
	peakKB atomic.Int64
}

func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, exited: make(chan struct{})}
	go p.samplePeak(rssSampleEvery)
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// rssSampleEvery is how often a process's VmHWM is read: it only grows, so
// the last read before exit is the peak but for growth within this span.
const rssSampleEvery = 20 * time.Millisecond

// samplePeak records the process's VmHWM every interval until it exits.
func (p *process) samplePeak(every time.Duration) {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		if data, err := os.ReadFile(path); err == nil {
			if kb, ok := vmHWM(data); ok && kb > p.peakKB.Load() {
				p.peakKB.Store(kb)
			}
		}
		select {
		case <-p.exited:
			return
		case <-ticker.C:
		}
	}
}

// stop sends SIGTERM, waits up to 30 s, then kills.
func (p *process) stop() error {
	if !p.stopped.CompareAndSwap(false, true) {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM", p.name)
	}
	var exit *exec.ExitError
	if p.err != nil && !(errors.As(p.err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled()) {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}

func (b *bench) startSagewallOn(ctx context.Context, raw, out, group string, v *variant) (*process, error) {
	args := []string{"run", "--kafka-brokers", b.opts.brokers, "--input-topic", raw, "--input-group", group,
		"--output-topic", out, "--output-dead-letter-topic", b.topic(v.name + "-dead-letters"),
		"--http-addr", "127.0.0.1:0", "--log-level", "warn"}
	args = append(args, v.args...)
	cmd := exec.CommandContext(ctx, b.opts.sagewall, args...)
	cmd.Env = append(os.Environ(), v.env...)
	cmd.Stderr = b.log
	return startProcess("sagewall run", cmd)
}

// kcatPipe is `kcat -C | kcat -P`.
type kcatPipe struct{ consumer, producer *process }

func (b *bench) startKcatPipe(ctx context.Context, raw, out, group string, exitAtEnd bool) (*kcatPipe, error) {
	// Balanced consumer group, like sagewall (it joins a group and commits);
	// keys travel with the values so the paced run can match records.
	cargs := []string{"-C", "-b", b.opts.brokers, "-G", group, "-o", "beginning", "-q", "-f", "%k\t%s\n"}
	if exitAtEnd {
		cargs = append(cargs, "-e")
	} else {
		// A paced consumer's output must reach the producer at once, not
		// when stdio's pipe buffer fills.
		cargs = append(cargs, "-u")
	}
	cargs = append(cargs, raw)
	consumer := exec.CommandContext(ctx, b.opts.kcat, cargs...)
	producer := exec.CommandContext(ctx, b.opts.kcat, "-P", "-b", b.opts.brokers, "-t", out, "-K", "\t",
		"-X", "acks=all", "-X", "linger.ms=5")
	r, err := consumer.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("piping kcat: %w", err)
	}
	producer.Stdin = r
	consumer.Stderr, producer.Stderr = b.log, b.log
	pp, err := startProcess("kcat -P", producer)
	if err != nil {
		return nil, err
	}
	cp, err := startProcess("kcat -C", consumer)
	if err != nil {
		_ = pp.stop()
		return nil, err
	}
	return &kcatPipe{consumer: cp, producer: pp}, nil
}

// wait waits for both ends to exit by themselves (the consumer at the end
// of the topic, then the producer at the end of its input).
func (k *kcatPipe) wait() error {
	<-k.consumer.exited
	<-k.producer.exited
	if k.consumer.err != nil {
		return fmt.Errorf("kcat -C: %w", k.consumer.err)
	}
	if k.producer.err != nil {
		return fmt.Errorf("kcat -P: %w", k.producer.err)
	}
	return nil
}

// stop ends the consumer; the producer then flushes and exits.
func (k *kcatPipe) stop() error {
	err := k.consumer.stop()
	select {
	case <-k.producer.exited:
	case <-time.After(30 * time.Second):
		return k.producer.stop()
	}
	if k.producer.err != nil {
		return fmt.Errorf("kcat -P: %w", k.producer.err)
	}
	return err
}

// starter starts a system consuming raw into out under group and returns
// how to stop it.
type starter func(ctx context.Context, raw, out, group string) (stop func() error, exited <-chan struct{}, err error)

// startSagewall starts sagewall for a paced run. Its dead-letter topic is
// created here and deleted when it has stopped, like the run's other
// topics (sagewall would create it, and it was left behind).
func (b *bench) startSagewall(v *variant) starter {
	return func(ctx context.Context, raw, out, group string) (func() error, <-chan struct{}, error) {
		deadLetters := b.topic(v.name + "-dead-letters")
		if err := b.createTopics(ctx, deadLetters); err != nil {
			return nil, nil, err
		}
		p, err := b.startSagewallOn(ctx, raw, out, group, v)
		if err != nil {
			b.deleteTopics(ctx, deadLetters)
			return nil, nil, err
		}
		var once sync.Once
		return func() error {
			err := p.stop()
			once.Do(func() { b.deleteTopics(ctx, deadLetters) })
			return err
		}, p.exited, nil
	}
}

func (b *bench) startKcat(ctx context.Context, raw, out, group string) (func() error, <-chan struct{}, error) {
	p, err := b.startKcatPipe(ctx, raw, out, group, false)
	if err != nil {
		return nil, nil, err
	}
	return p.stop, p.consumer.exited, nil
}

// paced starts the system, waits until its group is stable, produces at
// rate for d, waits for every output and measures latency. With hog, a CPU
// hog spins on one core from before the first record until the outputs are
// in.
func (b *bench) paced(ctx context.Context, name string, rate int, d time.Duration, start starter, hog bool) (*latencyRun, error) {
	raw, out, group := b.topic(name+"-paced-raw"), b.topic(name+"-paced-out"), b.topic(name+"-paced-group")
	if err := b.createTopics(ctx, raw, out); err != nil {
		return nil, err
	}
	b.flushPageCache(name + " paced")
	stop, exited, err := start(ctx, raw, out, group)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stop() }()
	if err := b.waitStable(ctx, group, exited); err != nil {
		return nil, err
	}
	var h *process
	var hogStarted time.Time
	hogPID := 0
	if hog {
		if h, err = startHog(ctx, b.opts.timeout); err != nil {
			return nil, err
		}
		defer h.stop()
		hogStarted, hogPID = time.Now(), h.cmd.Process.Pid
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	samples := make(chan []machineSample, 1)
	go func() { samples <- sampleMachine(sampleCtx, b.broker.pid, hogPID) }()
	defer stopSampling()
	produceStart := time.Now()
	produced, err := b.produceAt(ctx, raw, rate, d)
	if err != nil {
		return nil, err
	}
	b.logf("%s paced: %d records in %s (%.0f/s)", name, produced, time.Since(produceStart).Round(time.Millisecond),
		float64(produced)/time.Since(produceStart).Seconds())
	// kcat -P forwards the last lines of its input only at end of input, so
	// the wait is bounded and stopping the consumer delivers the rest.
	settleCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = b.waitOutputs(settleCtx, out, produced, exited)
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, err
	}
	stoppedAt := time.Now()
	stopSampling()
	machine := <-samples
	run := &latencyRun{Produced: produced, Rate: rate}
	if h != nil {
		if err := h.stop(); err != nil {
			return nil, err
		}
		run.HogCores = hogCores(h, time.Since(hogStarted))
	}
	if err := stop(); err != nil {
		return nil, err
	}
	got, err := b.endOffsets(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("%s paced: counting the records in %s: %w", name, out, err)
	}
	defer b.deleteTopics(ctx, raw, out)
	measured, afterStop, err := b.latencies(ctx, raw, out, produceStart.Add(b.opts.warmup), stoppedAt)
	if err != nil {
		return nil, err
	}
	run.Measured, run.AfterStop, run.Timeline = len(measured), afterStop, timeline(produceStart, measured, machine)
	if got < produced {
		// Not an error: the record says the rate was not sustained, and
		// the table shows no latency for it.
		run.Behind = produced - got
		b.logf("%s paced: did not keep up at %d/s: %d of %d records out", name, rate, got, produced)
		return run, nil
	}
	if len(measured) == 0 {
		return nil, fmt.Errorf("no %s outputs after the warm-up", name)
	}
	lat := make([]time.Duration, len(measured))
	for i, m := range measured {
		lat[i] = m.latency
	}
	slices.Sort(lat)
	run.P50ms, run.P99ms, run.Maxms = ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99)), ms(lat[len(lat)-1])
	return run, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// waitStable waits until the group is Stable (which a group is only with
// members), so the paced records do not wait for the group join.
func (b *bench) waitStable(ctx context.Context, group string, exited <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// The state alone: kafka-go fails to decode the member metadata that
		// newer librdkafka clients (the Python consumer's 2.16) join with, and
		// then reports the group's state with an error and no members.
		resp, err := b.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for group %s to be stable: %w", group, ctx.Err())
		case <-exited:
			return fmt.Errorf("waiting for group %s to be stable: the consumer exited", group)
		case <-tick.C:
		}
	}
}

func (b *bench) waitOutputs(ctx context.Context, out string, n int64, exited <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := b.endOffsets(ctx, out)
		if err == nil && got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d records in %s (have %d): %w", n, out, got, ctx.Err())
		case <-exited:
			return fmt.Errorf("waiting for %d records in %s: the consumer exited", n, out)
		case <-tick.C:
		}
	}
}

// produceAt writes records at rate for d, every 2 ms the number due since
// the start (so rounding and hiccups do not accumulate), asynchronously with
// acks=all.
func (b *bench) produceAt(ctx context.Context, topic string, rate int, d time.Duration) (int64, error) {
	w := b.writer(topic)
	w.Async = true
	// kafka-go allocates room for BatchSize messages with every batch it
	// opens: at the fill's 10000 that was 1.5 MB per ~50-message batch, GBs a
	// second of garbage in this process, which took CPU from the system being
	// measured on the same cores. A tick (2 ms) puts ~50 records on each of 4
	// partitions at 100k/s.
	w.BatchSize = 256
	var failed atomic.Pointer[error]
	w.Completion = func(_ []kafka.Message, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	total := int64(float64(rate) * d.Seconds())
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var sent int64
	for sent < total {
		select {
		case <-ctx.Done():
			w.Close()
			return sent, ctx.Err()
		case <-tick.C:
		}
		due := min(total, int64(time.Since(start).Seconds()*float64(rate)))
		if due <= sent {
			continue
		}
		msgs := make([]kafka.Message, 0, due-sent)
		for i := sent; i < due; i++ {
			msgs = append(msgs, kafka.Message{Key: strconv.AppendInt(nil, i, 10), Value: b.lines[i%int64(len(b.lines))]})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			w.Close()
			return sent, fmt.Errorf("writing to %s: %w", topic, err)
		}
		sent = due
	}
	if err := w.Close(); err != nil {
		return sent, fmt.Errorf("closing the writer of %s: %w", topic, err)
	}
	if p := failed.Load(); p != nil {
		return sent, fmt.Errorf("writing to %s: %w", topic, *p)
	}
	return sent, nil
}

// latencies matches every output to its source record and returns output
// append time minus source append time, for sources appended at or after
// from and outputs appended before stoppedAt (it counts the others). A
// sagewall verdict's key is "raw/partition/offset"; a kcat output's key is
// the source's own key (its sequence number).
func (b *bench) latencies(ctx context.Context, raw, out string, from, stoppedAt time.Time) (lat []latencyAt, afterStop int, err error) {
	sources := map[string]time.Time{}
	if err := b.readAll(ctx, raw, func(r *kgo.Record) {
		sources[string(r.Key)] = r.Timestamp
		sources[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = r.Timestamp
	}); err != nil {
		return nil, 0, err
	}
	seen := map[string]bool{}
	var unmatched int
	if err := b.readAll(ctx, out, func(r *kgo.Record) {
		key := string(r.Key)
		src, ok := sources[key]
		if !ok {
			unmatched++
			return
		}
		if seen[key] || src.Before(from) {
			return // a duplicate's first copy counts
		}
		seen[key] = true
		if r.Timestamp.After(stoppedAt) {
			afterStop++
			return
		}
		lat = append(lat, latencyAt{source: src, latency: r.Timestamp.Sub(src)})
	}); err != nil {
		return nil, 0, err
	}
	if unmatched > 0 {
		return nil, 0, fmt.Errorf("%d records of %s match no source record", unmatched, out)
	}
	return lat, afterStop, nil
}

// readAll reads every partition of topic from the start to its end offset.
func (b *bench) readAll(ctx context.Context, topic string, fn func(*kgo.Record)) error {
	ends, err := b.partitionEnds(ctx, topic)
	if err != nil {
		return err
	}
	ranges := map[int32]offsetRange{}
	for p, end := range ends {
		if end > 0 {
			ranges[p] = offsetRange{0, end}
		}
	}
	return b.readRanges(ctx, topic, ranges, fn)
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}
