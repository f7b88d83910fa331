package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
)

// The bundled model at its operating point on the sample records
// (testdata/sample.csv): it flags the ten attacks of lines 3, 7 and 9-16 with
// their right category and passes the six normal records. (Model 1.0.0, at
// 0.5 and without weights, missed the buffer_overflow of line 16.)
func TestEvalSample(t *testing.T) {
	out, stderr, err := runCommand(t, runEval, nil, string(sampleRecords), "--json", "-")
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	want := map[string]any{
		"accuracy":         1.0,
		"precision":        1.0,
		"recall":           1.0,
		"false_alarm_rate": 0.0,
		"f1":               1.0,
		"roc_auc":          1.0,
		"confusion":        map[string]any{"tn": 6.0, "fp": 0.0, "fn": 0.0, "tp": 10.0},
		"records":          16.0,
		"operating_point": map[string]any{"threshold": 0.5508, "source": "manifest",
			"rule": "lowest threshold (4 decimal places) with out-of-fold false-alarm rate <= 0.0025 (5-fold cross-validation on KDDTrain+)"},
	}
	for key, w := range want {
		if !approxEqual(got[key], w) {
			t.Errorf("%s = %v, want %v", key, got[key], w)
		}
	}
	multi, _ := got["multiclass"].(map[string]any)
	wantMulti := map[string]any{
		"accuracy": 1.0,
		"confusion": []any{
			[]any{6.0, 0.0, 0.0, 0.0, 0.0},
			[]any{0.0, 3.0, 0.0, 0.0, 0.0},
			[]any{0.0, 0.0, 4.0, 0.0, 0.0},
			[]any{0.0, 0.0, 0.0, 2.0, 0.0},
			[]any{0.0, 0.0, 0.0, 0.0, 1.0},
		},
		"per_class_recall": map[string]any{"normal": 1.0, "dos": 1.0, "probe": 1.0, "r2l": 1.0, "u2r": 1.0},
	}
	for key, w := range wantMulti {
		if !approxEqual(multi[key], w) {
			t.Errorf("multiclass.%s = %v, want %v", key, multi[key], w)
		}
	}
}

func approxEqual(got, want any) bool {
	switch w := want.(type) {
	case string:
		return got == w
	case float64:
		g, ok := got.(float64)
		return ok && math.Abs(g-w) < 1e-12
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !approxEqual(g[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k := range w {
			if !approxEqual(g[k], w[k]) {
				return false
			}
		}
		return true
	}
	return false
}

// TestEvalThresholdSource checks that eval reports where its threshold came
// from: the model's manifest by default, --threshold when given (even 0.5).
func TestEvalThresholdSource(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the text report's threshold line
	}{
		{nil, "threshold  0.5508: the model's operating point (lowest threshold (4 decimal places) with out-of-fold false-alarm rate <= 0.0025"},
		{[]string{"--threshold", "0.5"}, "threshold  0.5: set by --threshold"},
		{[]string{"--model", "../../scoring/bundled/binary.json.gz"}, "threshold  0.5: the default; the model's manifest has no operating point"},
	} {
		out, stderr, err := runCommand(t, runEval, nil, string(sampleRecords), append(tc.args, "-")...)
		if err != nil {
			t.Fatalf("%v: err = %v, stderr:\n%s", tc.args, err, stderr)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v: report lacks %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// TestEvalOddRecords checks that bad lines, unlabelled records and attack
// names etl does not know are counted and reported, not fatal.
func TestEvalOddRecords(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(sampleRecords)), "\n")
	unknown := strings.Replace(lines[2], ",neptune,", ",zeroday,", 1) // a neptune record under a new name
	unlabelled := strings.Join(strings.Split(lines[0], ",")[:etl.NumFields], ",")
	input := strings.Join(append(lines, unknown, unknown, "broken", unlabelled), "\n")
	out, stderr, err := runCommand(t, runEval, nil, input, "--json", "-")
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	var got struct {
		Records       int            `json:"records"`
		BadLines      int            `json:"bad_lines"`
		Unlabelled    int            `json:"unlabelled"`
		UnknownLabels map[string]int `json:"unknown_labels"`
		Confusion     struct{ TP int }
		Multiclass    struct {
			Records int `json:"records"`
		} `json:"multiclass"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Records != 18 || got.BadLines != 1 || got.Unlabelled != 1 || got.UnknownLabels["zeroday"] != 2 ||
		got.Confusion.TP != 12 || got.Multiclass.Records != 16 {
		t.Errorf("got %+v", got)
	}
	if !strings.Contains(stderr, "line 19: ") {
		t.Errorf("stderr lacks the bad line:\n%s", stderr)
	}

	text, _, err := runCommand(t, runEval, nil, input, "-")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"zeroday (2)", "1 bad lines, 1 records without a label", "18 labelled records (12 attacks, 6 normal)"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func TestEvalInputs(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "records.csv")
	if err := os.WriteFile(plain, sampleRecords, 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(sampleRecords)
	zw.Close()
	gzipped := filepath.Join(dir, "records.txt.gz")
	if err := os.WriteFile(gzipped, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stdin   string
		args    []string
		records float64
	}{
		{"file", "", []string{plain}, 16},
		{"gzipped file", "", []string{gzipped}, 16},
		{"gzipped stdin", gz.String(), []string{"-"}, 16},
		{"embedded 20 % subset", "", []string{embeddedTrain20}, nslkdd.Train20Records},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := runCommand(t, runEval, nil, tt.stdin, append([]string{"--json"}, tt.args...)...)
			if err != nil {
				t.Fatalf("err = %v, stderr:\n%s", err, stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got["records"] != tt.records {
				t.Errorf("records = %v, want %v", got["records"], tt.records)
			}
			if acc, _ := got["accuracy"].(float64); acc < 0.9 {
				t.Errorf("accuracy = %v", got["accuracy"])
			}
		})
	}
}

func TestEvalText(t *testing.T) {
	out, _, err := runCommand(t, runEval, nil, "", embeddedTrain20)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sagewall-nslkdd 3.0.0", "threshold  0.5508: the model's operating point (lowest threshold", "NOTE: 25192 of 25192 lines (100.0 %) are the bundled model's training data", "25192 labelled records",
		"accuracy", "precision", "detection rate", "false-alarm rate", "F1", "ROC-AUC",
		"true \\ predicted", "recall",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestEvalPlots(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plots")
	out, stderr, err := runCommand(t, runEval, nil, string(sampleRecords), "--plots", dir, "-")
	if err != nil {
		t.Fatalf("err = %v, stderr:\n%s", err, stderr)
	}
	for _, name := range []string{"confusion.svg", "confusion-category.svg", "roc.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := dec.Token()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("%s: %v", name, err)
				}
				break
			}
		}
		if !bytes.Contains(data, []byte("<svg")) {
			t.Errorf("%s is not an SVG", name)
		}
	}
	if !strings.Contains(out, "roc.svg") {
		t.Errorf("report does not mention the plots:\n%s", out)
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		args    []string
		usage   bool
		wantErr string
	}{
		{"no file", "", nil, true, "want one FILE"},
		{"two files", "", []string{"a", "b"}, true, "want one FILE"},
		{"bad threshold", "", []string{"--threshold", "-1", "-"}, true, "--threshold -1"},
		{"missing file", "", []string{"/nonexistent.csv"}, false, "no such file"},
		{"no labels", strings.Join(strings.Split(strings.Split(string(sampleRecords), "\n")[0], ",")[:etl.NumFields], ","), []string{"-"}, false, "no labelled record"},
		{"corrupt gzip", "\x1f\x8bnot gzip", []string{"-"}, false, "decompressing input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCommand(t, runEval, nil, tt.input, tt.args...)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &ue) != tt.usage {
				t.Fatalf("err = %v (usage error %v), want %q (usage error %v)", err, errors.As(err, &ue), tt.wantErr, tt.usage)
			}
		})
	}
}

// TestEvalRecognisesTrainingDataByContent: the training-data warning
// follows the lines, not the file's name: a file named like a test set that
// is mostly KDDTrain+ lines (shuffled, some altered) gets it, one of altered
// lines does not.
func TestEvalRecognisesTrainingDataByContent(t *testing.T) {
	lines := trainLines(t, 400)
	altered := func(l string) string { return "7777" + l[strings.IndexByte(l, ','):] } // another duration
	slices.Reverse(lines)
	mixed := slices.Clone(lines)
	for i := 300; i < 400; i++ {
		mixed[i] = altered(mixed[i])
	}
	none := make([]string, len(lines))
	for i, l := range lines {
		none[i] = altered(l)
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"KDDTest+.txt", mixed, "300 of 400 lines (75.0 %) are the bundled model's training data"},
		{"other.txt", none, ""},
	} {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(strings.Join(tt.lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCommand(t, runEval, nil, "", "--json", path)
		if err != nil {
			t.Fatal(err)
		}
		var report struct{ Warning string }
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(report.Warning, tt.want) || (tt.want == "") != (report.Warning == "") {
			t.Errorf("%s: warning %q, want %q", tt.name, report.Warning, tt.want)
		}
	}
}

// TestEvalUnclassified: a model without a category model can say attack,
// not which: every flagged record is unclassified, and the report says so.
func TestEvalUnclassified(t *testing.T) {
	out, stderr, err := runCommand(t, runEval, nil, string(sampleRecords), "--json", "--model", "../../scoring/bundled/binary.json.gz", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var r evalReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if flagged := r.Confusion.TP + r.Confusion.FP; flagged == 0 || r.Multiclass.Unclassified != flagged {
		t.Errorf("%d unclassified, want every one of the %d flagged", r.Multiclass.Unclassified, flagged)
	}
	text, _, err := runCommand(t, runEval, nil, string(sampleRecords), "--model", "../../scoring/bundled/binary.json.gz", "-")
	if err != nil || !strings.Contains(text, "unclassified") {
		t.Errorf("the text report does not mention the unclassified records (%v):\n%s", err, text)
	}
}
