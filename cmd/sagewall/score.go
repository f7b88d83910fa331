package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// sampleRecords are a few KDDTrain+ lines (six normal, one of each of ten
// attack types), scored when `sagewall score` is run with no input.
//
//go:embed testdata/sample.csv
var sampleRecords []byte

// scoreBatchRows is how many rows go to Detector.Score at a time.
const scoreBatchRows = 1024

func runScore(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(io.err)
	model := fs.String("model", "", "model `PATH`: a directory like scoring/bundled, a model file (XGBoost JSON, UBJSON or legacy binary, LightGBM text; binary or 5-class; optionally gzipped), a model.tar.gz, or embedded:nslkdd / embedded:connlog (default: embedded:connlog for zeek and vpcflow input, else embedded:nslkdd)")
	threshold := fs.Float64("threshold", scoring.DefaultThreshold, "score from which a record counts as an attack (default: the model's operating point, 0.5 for a model without one)")
	derive := addDeriveFlags(fs, "input format: auto (per line), nslkdd, zeek (conn.log, JSON or TSV) or vpcflow")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: sagewall score [--model PATH] [--threshold T] [--format auto] [FILE|-|embedded:train|embedded:train20]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Scores NSL-KDD records (CSV or JSON lines, with or without label, or encoded")
		fmt.Fprintln(io.err, "122-value vectors) and writes one JSON verdict per valid line, in input order:")
		fmt.Fprintln(io.err, "the verdict `run` writes, its source the file and line (sinks/verdict.schema.json).")
		fmt.Fprintln(io.err, "A numeric value may be missing: an empty CSV field, NaN, or JSON null.")
		fmt.Fprintln(io.err, "Bad lines are reported on stderr and skipped. With no FILE and a terminal on")
		fmt.Fprintln(io.err, "stdin, scores a few bundled sample records. Connection logs (Zeek conn.log,")
		fmt.Fprintln(io.err, "VPC Flow Logs) get their NSL-KDD features derived and are printed in the")
		fmt.Fprintln(io.err, "order of their start time.")
		fmt.Fprintln(io.err)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError{err}
	}
	if len(files) > 1 {
		return usageError{fmt.Errorf("want at most one FILE, got %d arguments", len(files))}
	}

	in, err := derive.lineInput()
	if err != nil {
		return err
	}
	detector, err := loadDetector(*model, flagThreshold(fs, *threshold), *derive.format)
	if err != nil {
		return err
	}
	if isModelFile(*model) {
		fmt.Fprintf(io.err, "sagewall score: %s: %s\n", *model, detector.Describe())
	}
	input, name, closeInput, err := openScoreInput(files, io.in, io.inIsTTY, io.err)
	if err != nil {
		return err
	}
	defer closeInput()

	out := bufio.NewWriterSize(io.out, 64<<10)
	var line []byte
	var bad int
	progress := newProgress(io, "scored")
	start := time.Now()
	// The verdict `run` writes (sinks.JSONFormat, compact), located by file
	// and line instead of topic position, timed when it was scored.
	verdict := sinks.Verdict{Threshold: detector.Threshold(), Model: detector.Info()}
	stats, err := scoreLines(ctx, input, detector, in, progress.update, func(s *scoredRecord) error {
		verdict.Source = sinks.Source{File: name, Line: s.line}
		verdict.Time = time.Now()
		verdict.Record, verdict.Result, verdict.Conn = s.record, s.result, s.conn
		verdict.FeaturesSource = s.conn.Format.Source()
		line = append(sinks.JSONFormat{}.Append(line[:0], &verdict), '\n')
		_, err := out.Write(line)
		return err
	}, func(lineErr etl.LineError) {
		bad++
		fmt.Fprintf(io.err, "sagewall score: %s: %v\n", name, lineErr)
	})
	progress.done()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing verdicts: %w", ferr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "sagewall score: %d records scored, %d flagged as attacks (threshold %v), %d bad lines, %d blank lines skipped, %.2fs\n",
		stats.scored, stats.flagged, detector.Threshold(), bad, stats.blank, time.Since(start).Seconds())
	if stats.scored == 0 {
		return errors.New("no record could be read")
	}
	return nil
}

// openScoreInput opens FILE (gzipped or not, or embedded:train /
// embedded:train20), stdin for "-" or no argument, or the bundled sample
// records when there is no argument and stdin is a terminal.
func openScoreInput(args []string, stdin io.Reader, stdinIsTTY bool, stderr io.Writer) (r io.Reader, name string, closeInput func(), err error) {
	switch {
	case len(args) == 1 && args[0] != "-":
		r, closeInput, err := openEvalInput(args[0], stdin) // a file (gzipped or not) or embedded:train(20)
		if err != nil {
			return nil, "", nil, err
		}
		return r, args[0], closeInput, nil
	case len(args) == 0 && stdinIsTTY:
		fmt.Fprintln(stderr, "sagewall score: no input given; scoring the bundled sample records (KDDTrain+ lines).")
		fmt.Fprintln(stderr, "Give a FILE or pipe records in: sagewall score records.csv")
		return bytes.NewReader(sampleRecords), "sample", func() {}, nil
	default:
		r, err := maybeGunzip(stdin)
		if err != nil {
			return nil, "", nil, err
		}
		return r, "stdin", func() {}, nil
	}
}

// loadDetector returns the detector of the model at path, or the embedded
// default for the input format (see openModel).
func loadDetector(path string, threshold *float64, format string) (*scoring.Detector, error) {
	if threshold != nil && (*threshold < 0 || *threshold > 1 || math.IsNaN(*threshold)) {
		return nil, usageError{fmt.Errorf("--threshold %v: must be between 0 and 1", *threshold)}
	}
	return openModel(path, format, threshold)
}

// isModelFile reports whether --model names a model on disk rather than an
// embedded one: its objectives are worth a line on stderr.
func isModelFile(path string) bool {
	return path != "" && path != embeddedModel && path != embeddedConnLogModel
}

// flagThreshold is the --threshold given on the command line, or nil when it
// was not: the model's operating point applies.
func flagThreshold(fs *flag.FlagSet, value float64) *float64 {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "threshold" })
	if !set {
		return nil
	}
	return &value
}

// Names of the models embedded in the binary, for --model and model.path.
const (
	embeddedModel        = "embedded:nslkdd"  // all 41 features
	embeddedConnLogModel = "embedded:connlog" // the 26 a connection log can supply
)

// isConnLogInput reports whether input.format names a connection log, for
// which the connection-log model is the default.
func isConnLogInput(format string) bool { return format == "zeek" || format == "vpcflow" }

// openModel loads the model at path: a directory or file, one of the
// embedded models by name, or, when path is empty, the default for the
// input format — the connection-log model for zeek and vpcflow input. A nil
// threshold keeps the model's operating point.
func openModel(path, inputFormat string, threshold *float64) (*scoring.Detector, error) {
	var opts []scoring.Option
	if threshold != nil {
		opts = append(opts, scoring.WithThreshold(*threshold))
	}
	switch {
	case path == embeddedConnLogModel, path == "" && isConnLogInput(inputFormat):
		return scoring.BundledConnLog(opts...)
	case path == embeddedModel, path == "":
		return scoring.Bundled(opts...)
	}
	return scoring.LoadDetector(path, opts...)
}

// scoredRecord is one valid input line with its verdict.
type scoredRecord struct {
	line   int
	record etl.Record
	result scoring.Result
	conn   connlog.Conn // the connection of a connection-log line; zero for NSL-KDD records
}

// lineInput says which formats scoreLines reads: NSL-KDD records only
// (conn false), or connection logs too (their features derived by a
// features.Deriver, verdicts in event-time order).
type lineInput struct {
	conn   bool
	input  connlog.Input
	derive []features.Option
}

// scoreStats counts what scoreLines saw.
type scoreStats struct {
	scored, flagged, blank int
}

// maxReadLine is the longest line scoreLines buffers; a longer line is
// reported as too long (etl rejects lines much shorter than this) and skipped.
const maxReadLine = 64 << 10

// scoreLines reads lines from r, encodes them for the detector's spec and
// scores them in batches, then calls emit for each valid line (the record is
// reused after emit returns) and bad for each line etl rejects, all in input
// order. Blank lines are skipped. progress is called with the number of
// lines read so far.
func scoreLines(ctx context.Context, r io.Reader, d *scoring.Detector, in lineInput, progress func(lines int),
	emit func(*scoredRecord) error, bad func(etl.LineError)) (scoreStats, error) {
	var stats scoreStats
	enc := etl.NewEncoder(d.Spec())
	width := d.Spec().Width()
	rows := make([]float32, scoreBatchRows*width)
	batch := make([]scoredRecord, scoreBatchRows)
	results := make([]scoring.Result, scoreBatchRows)
	n := 0
	// Rejected lines wait for the batch so that they are reported in order
	// with the verdicts; before is the index of the valid line they precede.
	type rejected struct {
		before int
		err    etl.LineError
	}
	var pending []rejected
	flush := func() error {
		if n > 0 {
			if err := d.Score(ctx, rows[:n*width], results[:n]); err != nil {
				return err
			}
		}
		p := 0
		for i := range n {
			for ; p < len(pending) && pending[p].before == i; p++ {
				bad(pending[p].err)
			}
			batch[i].result = results[i]
			if results[i].Attack {
				stats.flagged++
			}
			if err := emit(&batch[i]); err != nil {
				return err
			}
		}
		for ; p < len(pending); p++ {
			bad(pending[p].err)
		}
		stats.scored += n
		n, pending = 0, pending[:0]
		return nil
	}

	var conns *lineDeriver
	var flushErr error
	identity := connlog.NewParser(connlog.Auto)
	if in.conn {
		conns = newLineDeriver(in.input, in.derive)
	}
	// put adds a released connection to the batch, flushing a full one.
	put := func(line int, dv *features.Derived) {
		if flushErr != nil {
			return
		}
		rec := &batch[n]
		rec.record = dv.Record
		if err := enc.EncodeRecord(&rec.record, rows[n*width:(n+1)*width]); err != nil {
			pending = append(pending, rejected{before: n, err: etl.LineError{Line: line, Err: err}})
		} else {
			rec.line = line
			rec.conn = dv.Conn
			rec.record.Label = connlog.KDDLabel(dv.Conn.Label)
			n++
		}
		if n == scoreBatchRows || len(pending) == scoreBatchRows {
			flushErr = flush()
		}
	}

	br := bufio.NewReaderSize(r, maxReadLine)
	for lineNo := 1; ; lineNo++ {
		text, tooLong, err := readLine(br)
		atEOF := errors.Is(err, io.EOF)
		if err != nil && !atEOF {
			return stats, fmt.Errorf("reading line %d: %w", lineNo, err)
		}
		if atEOF && len(text) == 0 {
			break
		}
		if len(bytes.TrimSpace(text)) == 0 && !tooLong {
			stats.blank++
		} else if conns != nil && conns.wants(text) {
			if err := conns.add(text, lineNo, put); err != nil {
				pending = append(pending, rejected{before: n, err: etl.LineError{Line: lineNo, Err: err}})
			}
			if flushErr != nil {
				return stats, flushErr
			}
		} else if encErr := enc.Encode(text, &batch[n].record, rows[n*width:(n+1)*width]); encErr != nil {
			pending = append(pending, rejected{before: n, err: etl.LineError{Line: lineNo, Err: encErr}})
		} else {
			batch[n].line = lineNo
			// A JSON record may name its connection (src_ip, dst_ip, ...),
			// as it does for run.
			batch[n].conn = connlog.Conn{}
			if text[0] == '{' {
				identity.ParseIdentity(text, &batch[n].conn, nil)
			}
			n++
		}
		if n == scoreBatchRows || len(pending) == scoreBatchRows {
			if err := flush(); err != nil {
				return stats, err
			}
			progress(lineNo)
		}
		if atEOF {
			break
		}
	}
	if conns != nil {
		conns.flushAll(put)
		if flushErr != nil {
			return stats, flushErr
		}
	}
	return stats, flush()
}

// readLine returns the next line without its newline. A line longer than
// the reader's buffer is skipped to its end and returned truncated, with
// tooLong set, so the encoder reports it.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		return line, true, err
	}
	return bytes.TrimSuffix(line, []byte{'\n'}), false, err
}

// progress shows, on a terminal, how far a long run has got: nothing for the
// first two seconds, then a line rewritten every half second.
type progress struct {
	w       io.Writer
	enabled bool
	verb    string
	start   time.Time
	next    time.Time
	shown   bool
}

const (
	progressDelay  = 2 * time.Second
	progressPeriod = 500 * time.Millisecond
)

func newProgress(io stdio, verb string) *progress {
	now := time.Now()
	return &progress{w: io.err, enabled: io.errIsTTY, verb: verb, start: now, next: now.Add(progressDelay)}
}

func (p *progress) update(lines int) {
	if !p.enabled {
		return
	}
	now := time.Now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(progressPeriod)
	elapsed := now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%s %d lines (%.0f lines/s)\x1b[K", p.verb, lines, float64(lines)/elapsed)
	p.shown = true
}

// done clears the progress line.
func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
