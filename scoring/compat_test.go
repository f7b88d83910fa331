package scoring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/sagewall/sagewall/internal/testenv"
)

// compatDir holds the models of every objective and format a SageMaker user
// brings, with the libraries' own predictions on compatRows
// (scoring/testdata/gen/compat.sh).
const compatDir = "testdata/compat"

// compatModel is one model file of compatDir and what its library predicts.
type compatModel struct {
	file      string // in compatDir
	library   string // "xgboost 3.2.0", "lightgbm 4.7.0"
	objective string
	format    string // json, ubj, bin (legacy binary), model.tar.gz, txt (LightGBM)
	numClass  int
	predict   string // the library's predict output: probabilities, the logitraw margin, the softmax class
	proba     string // the probabilities sagewall scores (== predict for most objectives)
}

// compatObjectives maps a fixture's name to its objective and class count.
var compatObjectives = map[string]struct {
	objective string
	numClass  int
}{
	"logistic":    {ObjectiveBinaryLogistic, 1},
	"reglogistic": {ObjectiveRegLogistic, 1},
	"logitraw":    {ObjectiveBinaryLogitRaw, 1},
	"softprob":    {ObjectiveMultiSoftprob, 5},
	"softmax":     {ObjectiveMultiSoftmax, 5},
	"nonfinite":   {ObjectiveBinaryLogistic, 1},
}

// compatModels lists the model files of compatDir with what their names
// say (testenv.CompatModels) and the goldens of their predictions.
func compatModels(t testing.TB) []compatModel {
	t.Helper()
	var models []compatModel
	for _, c := range testenv.CompatModels(t, compatDir) {
		m := compatModel{file: c.File, format: c.Format, predict: c.Prefix + ".golden.gz"}
		if c.Library == "lgb" {
			m.library, m.objective, m.numClass = "lightgbm "+c.Version, "binary", 1
			if strings.HasPrefix(c.Base, "multi") {
				m.objective, m.numClass = "multiclass", 5
			}
		} else {
			o, ok := compatObjectives[c.Base]
			if !ok {
				t.Fatalf("%s: unknown fixture name %q", c.File, c.Base)
			}
			m.library, m.objective, m.numClass = "xgboost "+c.Version, o.objective, o.numClass
		}
		m.proba = m.predict
		if _, err := os.Stat(filepath.Join(compatDir, c.Prefix+".proba.golden.gz")); err == nil {
			m.proba = c.Prefix + ".proba.golden.gz"
		}
		models = append(models, m)
	}
	return models
}

// readCompatCSV reads a gzipped CSV of float32 values of compatDir; an
// empty value or NaN (any case) is NaN, as the SageMaker container reads CSV.
func readCompatCSV(t testing.TB, name string) [][]float32 {
	t.Helper()
	return parseFloatCSV(t, name, testenv.GunzipIn(t, compatDir, name))
}

// compatRows are the 200 test rows: 122-value vectors that every entry
// point accepts, with missing values written as "", "NaN" and "nan".
func compatRows(t testing.TB) [][]float32 {
	t.Helper()
	rows := readCompatCSV(t, "rows.csv.gz")
	if len(rows) != 200 {
		t.Fatalf("rows.csv.gz has %d rows, want 200", len(rows))
	}
	return rows
}

// TestCompatModelsMatchLibraries is the library's golden test for every
// objective × format: each model file, read through LoadModel as a user's
// file would be, predicts within 1e-6 of what the library that wrote it
// predicts on the same rows (missing values included); a binary:logitraw
// model's margin equals XGBoost's, a multi:softmax model's class equals
// XGBoost's class index.
func TestCompatModelsMatchLibraries(t *testing.T) {
	rows := compatRows(t)
	for _, c := range compatModels(t) {
		t.Run(c.objective+"/"+c.format+"/"+c.library, func(t *testing.T) {
			m, err := LoadModel(filepath.Join(compatDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Objective() != c.objective || m.NumClass() != c.numClass || m.NumFeature() != 122 {
				t.Fatalf("objective %q, %d classes, %d features; want %q, %d, 122", m.Objective(), m.NumClass(), m.NumFeature(), c.objective, c.numClass)
			}
			proba := readCompatCSV(t, c.proba)
			models := map[string]Model{"": m}
			if f, ok := m.(*Forest); ok {
				walker := *f
				walker.perfect, walker.vector = nil, nil
				models["node walk: "] = &walker
				checkBatchMatches(t, f, &walker, rows)
			}
			out := make([]float32, c.numClass)
			for evaluator, m := range models {
				worst := compareRows(t, evaluator, rows, proba, func(row []float32) []float32 { m.Predict(row, out); return out })
				t.Logf("%s%s %s (%s): %d rows, largest difference from %s %.3g", evaluator, c.file, c.objective, c.format, len(rows), c.library, worst)
			}
			f, ok := m.(*Forest)
			switch {
			case c.objective == ObjectiveBinaryLogitRaw:
				margins := readCompatCSV(t, c.predict)
				worst := compareRows(t, "margin: ", rows, margins, func(row []float32) []float32 { f.margins(row, out); return out })
				t.Logf("margin: largest difference from %s's %.3g", c.library, worst)
			case c.objective == ObjectiveMultiSoftmax:
				classes := readCompatCSV(t, c.predict)
				for i, row := range rows {
					if got, want := f.PredictClass(row), int(classes[i][0]); got != want {
						t.Errorf("row %d: class %d, %s %d", i, got, c.library, want)
					}
				}
			case ok && c.predict != c.proba:
				t.Fatalf("%s: unexpected %s", c.file, c.proba)
			}
		})
	}
}

// compareRows checks predict against want on every row within
// goldenTolerance and returns the largest difference.
func compareRows(t *testing.T, what string, rows, want [][]float32, predict func(row []float32) []float32) float64 {
	t.Helper()
	if len(want) != len(rows) {
		t.Fatalf("%d golden rows for %d rows", len(want), len(rows))
	}
	var worst float64
	for i, row := range rows {
		got := predict(row)
		if len(got) != len(want[i]) {
			t.Fatalf("%srow %d: %d values, golden %d", what, i, len(got), len(want[i]))
		}
		for k := range got {
			diff := math.Abs(float64(got[k]) - float64(want[i][k]))
			worst = max(worst, diff)
			if !(diff <= goldenTolerance) {
				t.Errorf("%srow %d class %d: got %v, want %v (diff %.3g)", what, i, k, got[k], want[i][k], diff)
			}
		}
	}
	return worst
}

// TestCompatRowsHaveMissingValues makes sure the golden rows exercise what
// they are for: missing values in all three spellings, missing one-hot
// cells, rows without any missing value and split thresholds hit exactly.
func TestCompatRowsHaveMissingValues(t *testing.T) {
	data := testenv.GunzipIn(t, compatDir, "rows.csv.gz")
	complete, oneHot := 0, 0
	for line := range strings.Lines(string(data)) {
		cells := strings.Split(strings.TrimSuffix(line, "\n"), ",")
		missing := 0
		for j, c := range cells {
			if c == "" || c == "NaN" || c == "nan" {
				missing++
				if j >= 38 {
					oneHot++
				}
			}
		}
		if missing == 0 {
			complete++
		}
	}
	for _, spelling := range []string{",,", ",NaN,", ",nan,"} {
		if !strings.Contains(string(data), spelling) {
			t.Errorf("rows.csv.gz has no missing value written %q", spelling)
		}
	}
	if complete < 60 || oneHot < 100 {
		t.Errorf("%d complete rows, %d missing one-hot cells: want >= 60 and >= 100", complete, oneHot)
	}
}

// TestCompatNonFiniteTokensAsXGBoostWrites checks that the fixture holds
// the bare NaN, Infinity and -Infinity tokens XGBoost wrote (the golden test
// above checks its predictions).
func TestCompatNonFiniteTokensAsXGBoostWrites(t *testing.T) {
	data := testenv.GunzipIn(t, compatDir, "xgb-3.2.0-nonfinite.json.gz")
	for _, token := range []string{"[NaN,", "[Infinity,", ",-Infinity,"} {
		if !bytes.Contains(data, []byte(token)) {
			t.Errorf("fixture lacks %q", token)
		}
	}
	if json.Valid(data) {
		t.Error("fixture is valid JSON: it should carry XGBoost's non-standard tokens")
	}
}

func TestQuoteNonFinite(t *testing.T) {
	tests := []struct{ in, want string }{
		{`[1,2]`, `[1,2]`},
		{`[NaN,Infinity,-Infinity,-1]`, `["\u0000NaN","\u0000Infinity","\u0000-Infinity",-1]`},
		{`{"NaN":"Infinity \"NaN\"","x":[ NaN ]}`, `{"NaN":"Infinity \"NaN\"","x":[ "\u0000NaN" ]}`},
		{`{"a\\":NaN}`, `{"a\\":"\u0000NaN"}`},
	}
	for _, tt := range tests {
		got, err := quoteNonFinite([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("quoteNonFinite(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	// Each token grows by 8 bytes: a file of nothing else is refused before
	// the copy is made.
	hostile := append(append([]byte("{\"a\":["), bytes.Repeat([]byte("NaN"), maxJSONValues+1)...), "]}"...)
	if _, err := ParseXGBoost(hostile); err == nil || !strings.Contains(err.Error(), "NaN/Infinity values") {
		t.Errorf("%d bare NaN tokens: error %v, want the values limit", maxJSONValues+1, err)
	}
	// Only numbers may be non-finite.
	for _, doc := range []string{`{"learner":NaN}`, `{"version":[NaN]}`} {
		if _, err := ParseXGBoost([]byte(doc)); err == nil || !strings.Contains(err.Error(), "NaN") && !strings.Contains(err.Error(), "expected") {
			t.Errorf("%s: error %v", doc, err)
		}
	}
}

// TestCompatInconsistentCountsRefused loads the three files whose declared
// counts disagree with their arrays, which XGBoost refuses (compat.py
// checks that it does; its messages are in xgb-3.2.0-bad.refusals.json):
// each is refused with an error naming the field and both values.
func TestCompatInconsistentCountsRefused(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"xgb-3.2.0-bad-num-trees.json.gz", `learner.gradient_booster.model.gbtree_model_param.num_trees: value 9, but trees holds 8 trees`},
		{"xgb-3.2.0-bad-num-nodes.json.gz", `learner.gradient_booster.model.trees[3].tree_param.num_nodes: value `},
		{"xgb-3.2.0-bad-tree-info.json.gz", `learner.gradient_booster.model.tree_info: 9 entries, but trees holds 8 trees`},
	} {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadModel(filepath.Join(compatDir, tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(tt.file, "num-nodes") && !strings.Contains(err.Error(), "but left_children holds") {
				t.Errorf("error %v does not give the array's length", err)
			}
		})
	}
}

// TestLightGBMSoftmaxIsStable scores the multiclass model whose raw scores
// pass exp's range: leaves' own softmax gives NaN there, LightGBM's (and
// sagewall's) subtracts the largest score first.
func TestLightGBMSoftmaxIsStable(t *testing.T) {
	m, err := LoadModel(filepath.Join(compatDir, "lgb-4.7.0-multi-large.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	rows := compatRows(t)
	out := make([]float32, m.NumClass())
	nan := 0
	for _, row := range rows {
		m.Predict(row, out)
		for _, p := range out {
			if p != p {
				nan++
			}
		}
	}
	if nan > 0 {
		t.Fatalf("%d NaN probabilities", nan)
	}
	// leaves' own softmax, which Predict no longer uses, fails on this model.
	text, _, err := validateLightGBM(testenv.GunzipIn(t, compatDir, "lgb-4.7.0-multi-large.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(text)), true)
	if err != nil {
		t.Fatal(err)
	}
	leavesNaN := 0
	in, probs := make([]float64, 122), make([]float64, 5)
	for _, row := range rows {
		for j, v := range row {
			in[j] = float64(v)
		}
		if err := ens.Predict(in, 0, probs); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(probs, math.IsNaN) {
			leavesNaN++
		}
	}
	t.Logf("leaves' softmax: NaN on %d of %d rows; Predict: none", leavesNaN, len(rows))
	if leavesNaN == 0 {
		t.Error("the fixture no longer overflows leaves' softmax: it tests nothing")
	}
	v := []float64{1000, 0, -1000, 999}
	softmax64(v)
	if math.Abs(v[0]-1/(1+math.Exp(-1))) > 1e-15 || v[1] != math.Exp(-1000)/(1+math.Exp(-1)) || v[2] != 0 {
		t.Errorf("softmax64 = %v", v)
	}
}

// TestDetectorOfOneFile loads single model files as detectors: a 5-class
// file is a category-only detector whose score is 1 - P(normal), any other
// class count is refused naming it, and LightGBM files load like XGBoost's.
func TestDetectorOfOneFile(t *testing.T) {
	rows := compatRows(t)
	flat := make([]float32, 0, len(rows)*122)
	for _, row := range rows {
		flat = append(flat, row...)
	}
	for _, c := range []struct {
		file   string
		golden string
	}{
		{"xgb-3.2.0-softprob.ubj.gz", "xgb-3.2.0-softprob.golden.gz"},
		{"xgb-1.7.6-softmax.model.tar.gz", "xgb-1.7.6-softmax.proba.golden.gz"},
		{"lgb-4.7.0-multi.txt.gz", "lgb-4.7.0-multi.golden.gz"},
	} {
		t.Run(c.file, func(t *testing.T) {
			d, err := LoadDetector(filepath.Join(compatDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if !d.HasCategory() || d.NumClass() != 5 || !strings.Contains(d.Describe(), "1 - P(normal)") {
				t.Fatalf("HasCategory %v, NumClass %d, Describe %q", d.HasCategory(), d.NumClass(), d.Describe())
			}
			golden := readCompatCSV(t, c.golden)
			results := make([]Result, len(rows))
			if err := d.Score(context.Background(), flat, results); err != nil {
				t.Fatal(err)
			}
			probs := make([]float32, len(rows)*5)
			if err := d.PredictProba(context.Background(), flat, probs); err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i, r := range results {
				want := 1 - golden[i][0]
				diff := math.Abs(float64(r.Score - want))
				worst = max(worst, diff)
				if !(diff <= goldenTolerance) || r.Attack != (float64(r.Score) >= d.Threshold()) {
					t.Errorf("row %d: score %v attack %v, want 1 - P(normal) = %v", i, r.Score, r.Attack, want)
				}
				if r.Attack && (r.Category == 0 || r.CategoryProb <= 0) {
					t.Errorf("row %d: flagged with category %v (%v)", i, r.Category, r.CategoryProb)
				}
				for k := range 5 {
					if diff := math.Abs(float64(probs[i*5+k] - golden[i][k])); !(diff <= goldenTolerance) {
						t.Errorf("row %d class %d: PredictProba %v, want %v", i, k, probs[i*5+k], golden[i][k])
					}
				}
			}
			t.Logf("score = 1 - P(normal): largest difference %.3g", worst)
		})
	}
	_, err := LoadDetector(filepath.Join(fixtureDir, "tiny-3.2.0-multi.json"))
	if err == nil || !strings.Contains(err.Error(), "3 classes") {
		t.Errorf("3-class model: error %v, want one naming its 3 classes", err)
	}
	d, err := LoadDetector(filepath.Join(compatDir, "lgb-4.7.0-binary.txt.gz"))
	if err != nil || d.HasCategory() || d.NumClass() != 1 || d.Objective() != "binary" {
		t.Fatalf("LightGBM binary detector: %v", err)
	}
	d, err = LoadDetector(filepath.Join(compatDir, "xgb-3.2.0-logitraw.json.gz"))
	if err != nil || !strings.Contains(d.Describe(), "sigmoid(margin)") {
		t.Fatalf("logitraw detector: %v, %q", err, d.Describe())
	}
}
