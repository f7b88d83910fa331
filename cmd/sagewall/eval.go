package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/evaluate"
)

// Shortcuts for the NSL-KDD files embedded in the binary.
const (
	embeddedTrain   = "embedded:train"
	embeddedTrain20 = "embedded:train20"
)

func runEval(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(io.err)
	model := fs.String("model", "", "model `PATH`: a directory like scoring/bundled, a model file (XGBoost JSON, UBJSON or legacy binary, LightGBM text; binary or 5-class; optionally gzipped), a model.tar.gz, or embedded:nslkdd / embedded:connlog (default: embedded:connlog for zeek and vpcflow input, else embedded:nslkdd)")
	threshold := fs.Float64("threshold", scoring.DefaultThreshold, "score from which a record counts as an attack (default: the model's operating point, 0.5 for a model without one)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	plots := fs.String("plots", "", "write confusion-matrix and ROC-curve SVG images into `DIR`")
	derive := addDeriveFlags(fs, "input format: auto (per line), nslkdd, zeek (conn.log with a label column) or vpcflow")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: sagewall eval [--model PATH] [--json] [--plots DIR] [--threshold T] FILE")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Measures a model on labelled NSL-KDD records. FILE may be gzipped, '-' for")
		fmt.Fprintf(io.err, "stdin, or %s / %s for the NSL-KDD training data in the binary\n", embeddedTrain, embeddedTrain20)
		fmt.Fprintln(io.err, "(measuring the bundled model on its own training data overstates its accuracy).")
		fmt.Fprintln(io.err)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError{err}
	}
	if len(files) != 1 {
		return usageError{fmt.Errorf("want one FILE (or -, %s, %s), got %d arguments", embeddedTrain, embeddedTrain20, len(files))}
	}
	in, err := derive.lineInput()
	if err != nil {
		return err
	}
	detector, err := loadDetector(*model, flagThreshold(fs, *threshold), *derive.format)
	if err != nil {
		return err
	}
	raw, closeInput, err := openEvalInput(files[0], io.in)
	if err != nil {
		return err
	}
	defer closeInput()
	training, err := loadTrainingLines()
	if err != nil {
		return err
	}
	input := &trainingLineCounter{r: raw, set: training}

	var bad int
	progress := newProgress(io, "evaluated")
	ev := newEvalTally(detector)
	stats, err := scoreLines(ctx, input, detector, in, progress.update, func(s *scoredRecord) error {
		ev.add(s)
		return nil
	}, func(lineErr etl.LineError) {
		bad++
		fmt.Fprintf(io.err, "sagewall eval: %s: %v\n", files[0], lineErr)
	})
	progress.done()
	if err != nil {
		return err
	}
	report := ev.report(files[0], bad, stats.blank)
	report.Warning = input.warning()
	if report.Records == 0 {
		return fmt.Errorf("no labelled record in %s (%d read without a label, %d bad lines)", files[0], report.Unlabelled, bad)
	}
	if *plots != "" {
		if err := writePlots(*plots, ev, report); err != nil {
			return err
		}
	}
	out := bufio.NewWriter(io.out)
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("encoding report: %w", err)
		}
	} else {
		writeEvalText(out, report, *plots)
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// openEvalInput opens a file (gzipped or not), stdin for "-", or an embedded data set.
func openEvalInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	switch name {
	case embeddedTrain, embeddedTrain20:
		file := nslkdd.Train
		if name == embeddedTrain20 {
			file = nslkdd.Train20
		}
		r, err := nslkdd.Open(file)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	case "-":
		r, err := maybeGunzip(stdin)
		return r, func() {}, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("opening input: %w", err)
	}
	r, err := maybeGunzip(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("opening %s: %w", name, err)
	}
	return r, func() { f.Close() }, nil
}

// maybeGunzip decompresses r when it starts with the gzip magic bytes.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("decompressing input: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// evalTally accumulates verdicts against labels.
type evalTally struct {
	detector      *scoring.Detector
	binary        evaluate.Confusion
	scores        []evaluate.Scored
	multiclass    *evaluate.Multiclass
	unclassified  int64 // flagged records of known class the category model called normal
	unlabelled    int
	unknownLabels map[string]int
}

func newEvalTally(d *scoring.Detector) *evalTally {
	return &evalTally{
		detector:      d,
		multiclass:    evaluate.NewMulticlass(len(etl.Classes())),
		unknownLabels: map[string]int{},
	}
}

func (e *evalTally) add(s *scoredRecord) {
	label := strings.TrimSuffix(s.record.Label, ".")
	if label == "" {
		e.unlabelled++
		return
	}
	attack := label != etl.Normal.String()
	e.binary.Add(attack, s.result.Attack)
	e.scores = append(e.scores, evaluate.Scored{Score: s.result.Score, Attack: attack})
	class, known := etl.ClassOfLabel(label)
	if !known {
		// An attack name outside the NSL-KDD taxonomy still counts as an
		// attack above, but has no class to compare the category with.
		e.unknownLabels[label]++
		return
	}
	e.multiclass.Add(int(class), int(s.result.Category))
	if s.result.CategoryName() == scoring.Unclassified {
		e.unclassified++
	}
}

// evalReport is what `sagewall eval` prints; its JSON keys are stable.
type evalReport struct {
	Input          string                 `json:"input"`
	Warning        string                 `json:"warning,omitempty"`
	Model          scoring.Info           `json:"model"`
	Threshold      float64                `json:"threshold"`
	OperatingPoint scoring.OperatingPoint `json:"operating_point"` // the threshold, and whether the model, a flag or the default set it
	Records        int                    `json:"records"`         // labelled records evaluated
	Attacks        int64                  `json:"attacks"`
	Accuracy       float64                `json:"accuracy"`
	Precision      float64                `json:"precision"`
	Recall         float64                `json:"recall"`
	FalseAlarmRate float64                `json:"false_alarm_rate"`
	F1             float64                `json:"f1"`
	ROCAUC         *float64               `json:"roc_auc"` // null when only one class is present
	Confusion      evaluate.Confusion     `json:"confusion"`
	Multiclass     multiclassReport       `json:"multiclass"`
	BadLines       int                    `json:"bad_lines"`
	BlankLines     int                    `json:"blank_lines"`
	Unlabelled     int                    `json:"unlabelled"`
	UnknownLabels  map[string]int         `json:"unknown_labels"` // attack names etl.ClassOfLabel does not know
	HasCategory    bool                   `json:"category_model"`
}

type multiclassReport struct {
	Classes        []string            `json:"classes"`
	Records        int64               `json:"records"`
	Accuracy       float64             `json:"accuracy"`
	Confusion      [][]int64           `json:"confusion"` // [true class][predicted class], classes in Classes order
	PerClassRecall map[string]*float64 `json:"per_class_recall"`
	// Unclassified counts the flagged records (of known class) that the
	// category model called normal: verdicts name them "unclassified", and
	// Confusion counts them in the normal column.
	Unclassified int64 `json:"unclassified"`
}

func (e *evalTally) report(input string, bad, blank int) evalReport {
	r := evalReport{
		Input:          input,
		Model:          e.detector.Info(),
		Threshold:      e.detector.Threshold(),
		OperatingPoint: e.detector.OperatingPoint(),
		Records:        len(e.scores),
		Attacks:        e.binary.TP + e.binary.FN,
		Accuracy:       e.binary.Accuracy(),
		Precision:      e.binary.Precision(),
		Recall:         e.binary.Recall(),
		FalseAlarmRate: e.binary.FalseAlarmRate(),
		F1:             e.binary.F1(),
		Confusion:      e.binary,
		BadLines:       bad,
		BlankLines:     blank,
		Unlabelled:     e.unlabelled,
		UnknownLabels:  e.unknownLabels,
		HasCategory:    e.detector.HasCategory(),
		Multiclass: multiclassReport{
			Accuracy:       e.multiclass.Accuracy(),
			Confusion:      e.multiclass.Counts,
			Unclassified:   e.unclassified,
			PerClassRecall: map[string]*float64{},
		},
	}
	if auc, ok := evaluate.ROCAUC(e.scores); ok {
		r.ROCAUC = &auc
	}
	for _, class := range etl.Classes() {
		r.Multiclass.Classes = append(r.Multiclass.Classes, class.String())
		var recall *float64
		if v, ok := e.multiclass.Recall(int(class)); ok {
			recall = &v
		}
		r.Multiclass.PerClassRecall[class.String()] = recall
		for _, n := range e.multiclass.Counts[class] {
			r.Multiclass.Records += n
		}
	}
	return r
}

// writePlots writes the binary and 5-class confusion matrices and the ROC curve as SVG.
func writePlots(dir string, e *evalTally, r evalReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing plots: %w", err)
	}
	title := fmt.Sprintf("%s %s on %s", r.Model.Name, r.Model.Version, r.Input)
	plots := []struct {
		name string
		draw func(io.Writer) error
	}{
		{"confusion.svg", func(w io.Writer) error {
			return evaluate.WriteConfusionSVG(w, title+fmt.Sprintf(" (threshold %v)", r.Threshold),
				[]string{"normal", "attack"}, [][]int64{{r.Confusion.TN, r.Confusion.FP}, {r.Confusion.FN, r.Confusion.TP}})
		}},
		{"confusion-category.svg", func(w io.Writer) error {
			return evaluate.WriteConfusionSVG(w, title+" — category", r.Multiclass.Classes, r.Multiclass.Confusion)
		}},
	}
	if r.ROCAUC != nil {
		points, err := evaluate.ROCCurve(e.scores)
		if err != nil {
			return fmt.Errorf("drawing ROC curve: %w", err)
		}
		plots = append(plots, struct {
			name string
			draw func(io.Writer) error
		}{"roc.svg", func(w io.Writer) error { return evaluate.WriteROCSVG(w, title, points, *r.ROCAUC) }})
	}
	for _, p := range plots {
		path := filepath.Join(dir, p.name)
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("writing plot: %w", err)
		}
		err = p.draw(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing plot %s: %w", path, err)
		}
	}
	return nil
}

// describeOperatingPoint says where the threshold came from.
func describeOperatingPoint(op scoring.OperatingPoint) string {
	switch op.Source {
	case "manifest":
		if op.Rule == "" {
			return "the model's operating point"
		}
		return "the model's operating point (" + op.Rule + ")"
	case "option":
		return "set by --threshold"
	}
	return "the default; the model's manifest has no operating point"
}

func writeEvalText(w io.Writer, r evalReport, plots string) {
	pct := func(v float64) string { return fmt.Sprintf("%8.4f %%", 100*v) }
	fmt.Fprintf(w, "model      %s %s (sha256 %s)\n", r.Model.Name, r.Model.Version, r.Model.SHA256)
	fmt.Fprintf(w, "threshold  %v: %s\n", r.Threshold, describeOperatingPoint(r.OperatingPoint))
	fmt.Fprintf(w, "input      %s: %d labelled records (%d attacks, %d normal)\n", r.Input, r.Records, r.Attacks, int64(r.Records)-r.Attacks)
	if r.Warning != "" {
		fmt.Fprintf(w, "           NOTE: %s\n", r.Warning)
	}
	if r.BadLines+r.Unlabelled > 0 {
		fmt.Fprintf(w, "skipped    %d bad lines, %d records without a label\n", r.BadLines, r.Unlabelled)
	}
	if len(r.UnknownLabels) > 0 {
		names := make([]string, 0, len(r.UnknownLabels))
		for name := range r.UnknownLabels {
			names = append(names, fmt.Sprintf("%s (%d)", name, r.UnknownLabels[name]))
		}
		slices.Sort(names)
		fmt.Fprintf(w, "unknown    attack labels counted as attacks but left out of the category matrix: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "attack vs normal")
	fmt.Fprintf(w, "  accuracy          %s\n", pct(r.Accuracy))
	fmt.Fprintf(w, "  precision         %s   flagged records that are attacks\n", pct(r.Precision))
	fmt.Fprintf(w, "  detection rate    %s   attacks flagged (recall)\n", pct(r.Recall))
	fmt.Fprintf(w, "  false-alarm rate  %s   normal records flagged\n", pct(r.FalseAlarmRate))
	fmt.Fprintf(w, "  F1                %10.6f\n", r.F1)
	if r.ROCAUC != nil {
		fmt.Fprintf(w, "  ROC-AUC           %10.6f\n", *r.ROCAUC)
	} else {
		fmt.Fprintln(w, "  ROC-AUC           undefined (needs both attacks and normal records)")
	}
	fmt.Fprintln(w)
	writeMatrix(w, []string{"normal", "attack"}, [][]int64{{r.Confusion.TN, r.Confusion.FP}, {r.Confusion.FN, r.Confusion.TP}}, nil)
	fmt.Fprintln(w)
	if r.HasCategory {
		fmt.Fprintln(w, "category (for flagged records the category model's likeliest attack class, normal otherwise)")
	} else {
		fmt.Fprintln(w, "category (this model has no category model: every record is predicted normal)")
	}
	if r.Multiclass.Unclassified > 0 {
		fmt.Fprintf(w, "  unclassified      %d flagged records the category model called normal (verdicts say \"unclassified\"; counted as normal below)\n", r.Multiclass.Unclassified)
	}
	fmt.Fprintf(w, "  accuracy          %s over %d records of known class\n", pct(r.Multiclass.Accuracy), r.Multiclass.Records)
	recall := make([]string, len(r.Multiclass.Classes))
	for i, c := range r.Multiclass.Classes {
		recall[i] = "-"
		if v := r.Multiclass.PerClassRecall[c]; v != nil {
			recall[i] = pct(*v)
		}
	}
	writeMatrix(w, r.Multiclass.Classes, r.Multiclass.Confusion, recall)
	if plots != "" {
		fmt.Fprintf(w, "\nplots in %s: confusion.svg, confusion-category.svg", plots)
		if r.ROCAUC != nil {
			fmt.Fprint(w, ", roc.svg")
		}
		fmt.Fprintln(w)
	}
}

// writeMatrix prints a confusion matrix with class names down the side and
// across the top, and an optional recall column.
func writeMatrix(w io.Writer, classes []string, counts [][]int64, recall []string) {
	const corner = "true \\ predicted"
	nameWidth, cellWidth := len(corner), 6
	for i, c := range classes {
		nameWidth, cellWidth = max(nameWidth, len(c)), max(cellWidth, len(c))
		for _, n := range counts[i] {
			cellWidth = max(cellWidth, len(strconv.FormatInt(n, 10)))
		}
	}
	fmt.Fprintf(w, "  %-*s", nameWidth, corner)
	for _, c := range classes {
		fmt.Fprintf(w, "  %*s", cellWidth, c)
	}
	if recall != nil {
		fmt.Fprintf(w, "  %10s", "recall")
	}
	fmt.Fprintln(w)
	for i, c := range classes {
		fmt.Fprintf(w, "  %-*s", nameWidth, c)
		for _, n := range counts[i] {
			fmt.Fprintf(w, "  %*d", cellWidth, n)
		}
		if recall != nil {
			fmt.Fprintf(w, "  %10s", recall[i])
		}
		fmt.Fprintln(w)
	}
}
