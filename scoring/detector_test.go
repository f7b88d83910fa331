package scoring

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
)

// readGoldens reads XGBoost's own predictions for a bundled model, written
// by deploy/train/train.py: perRow float32 values a row, P(attack) then the
// category model's probabilities.
func readGoldens(t testing.TB, model string, perRow int) []float32 {
	t.Helper()
	data := testenv.Gunzip(t, "testdata/"+model+"/predictions.f32.gz")
	if len(data) != nslkdd.TrainRecords*perRow*4 {
		t.Fatalf("goldens hold %d bytes, want %d rows of %d float32", len(data), nslkdd.TrainRecords, perRow)
	}
	values := make([]float32, len(data)/4)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return values
}

// encodeTrain encodes the first n lines of KDDTrain+ (all when n < 0) with
// the detector's spec, returning the flat rows and the records.
func encodeTrain(t testing.TB, spec *etl.Spec, n int) ([]float32, []etl.Record) {
	t.Helper()
	r, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	enc := etl.NewEncoder(spec)
	width := spec.Width()
	var rows []float32
	var records []etl.Record
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan() && (n < 0 || len(records) < n); line++ {
		rows = append(rows, make([]float32, width)...)
		var rec etl.Record
		if err := enc.Encode(sc.Bytes(), &rec, rows[len(rows)-width:]); err != nil {
			t.Fatal(etl.LineError{Line: line, Err: err})
		}
		records = append(records, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, records
}

func bundled(t testing.TB, opts ...Option) *Detector {
	t.Helper()
	d, err := Bundled(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBundledMatchesXGBoost checks every KDDTrain+ row against the
// predictions of XGBoost itself, for both bundled models: the binary score
// through Detector.Score, and the four attack classes' probabilities through
// the category forest directly. The connection-log model is fed the rows as it
// was trained, its zeroed features at 0.
func TestBundledMatchesXGBoost(t *testing.T) {
	for model, load := range map[string]func(...Option) (*Detector, error){"bundled": Bundled, "bundled-connlog": BundledConnLog} {
		t.Run(model, func(t *testing.T) {
			d, err := load()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.CategoryClasses(), []etl.Class{etl.DoS, etl.Probe, etl.R2L, etl.U2R}; !slices.Equal(got, want) {
				t.Fatalf("CategoryClasses() = %v, want %v", got, want)
			}
			matchesXGBoost(t, d, readGoldens(t, model, 1+len(d.classes)))
		})
	}
}

func matchesXGBoost(t *testing.T, d *Detector, goldens []float32) {
	rows, _ := encodeTrain(t, d.Spec(), -1)
	for _, name := range d.ZeroedFeatures() {
		col := slices.Index(d.spec.Numeric, name)
		for r := 0; r < len(rows); r += d.width {
			rows[r+col] = 0
		}
	}
	if len(rows) != nslkdd.TrainRecords*d.width {
		t.Fatalf("encoded %d rows, want %d", len(rows)/d.width, nslkdd.TrainRecords)
	}
	results := make([]Result, nslkdd.TrainRecords)
	if err := d.Score(context.Background(), rows, results); err != nil {
		t.Fatal(err)
	}
	const tolerance = 1e-6
	var worstScore, worstCategory float64
	probs := make([]float32, len(d.classes))
	perRow := 1 + len(probs)
	failures := 0
	for i, r := range results {
		want := goldens[i*perRow : (i+1)*perRow]
		if diff := math.Abs(float64(r.Score) - float64(want[0])); diff > tolerance {
			failures++
			if failures <= 10 {
				t.Errorf("row %d: score %v, XGBoost %v (diff %.3g)", i+1, r.Score, want[0], diff)
			}
		} else {
			worstScore = max(worstScore, diff)
		}
		d.category.predict(rows[i*d.width:(i+1)*d.width], probs)
		for k, p := range probs {
			if diff := math.Abs(float64(p) - float64(want[1+k])); diff > tolerance {
				failures++
				if failures <= 10 {
					t.Errorf("row %d: P(%v) %v, XGBoost %v (diff %.3g)", i+1, d.classes[k], p, want[1+k], diff)
				}
			} else {
				worstCategory = max(worstCategory, diff)
			}
		}
	}
	if failures > 0 {
		t.Fatalf("%d values differ from XGBoost by more than %g", failures, tolerance)
	}
	t.Logf("largest difference from XGBoost: score %.3g, category probability %.3g", worstScore, worstCategory)
}

// fiveClassDir is a model directory whose category model has a normal class
// (the 5 of etl.Classes(), no manifest naming them), as a user may bring:
// the bundled binary model beside the compat fixtures' 5-class model.
func fiveClassDir(t *testing.T) string {
	t.Helper()
	dir := modelDir(t, "category.json.gz", "manifest.json")
	writeFile(t, filepath.Join(dir, "category.json"), testenv.Gunzip(t, "testdata/compat/xgb-3.2.0-softprob.json.gz"))
	return dir
}

// TestScoreGatesTheCategoryModel checks how Score fills Result at different
// thresholds: the category model only for flagged rows, its likeliest attack
// class then; for a category model with a normal class, unclassified when
// normal is its likeliest.
func TestScoreGatesTheCategoryModel(t *testing.T) {
	rows, records := encodeTrain(t, etl.DefaultSpec(), 2000)
	for _, tc := range []struct {
		name    string
		load    func(t *testing.T, opts ...Option) *Detector
		classes []etl.Class
	}{
		{"bundled: the attack classes", func(t *testing.T, opts ...Option) *Detector { return bundled(t, opts...) },
			[]etl.Class{etl.DoS, etl.Probe, etl.R2L, etl.U2R}},
		{"a 5-class category model", func(t *testing.T, opts ...Option) *Detector {
			d, err := LoadDetector(fiveClassDir(t), opts...)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}, etl.Classes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hasNormal := slices.Contains(tc.classes, etl.Normal)
			for _, threshold := range []float64{0, 0.5, 0.9, 1} {
				d := tc.load(t, WithThreshold(threshold))
				if !slices.Equal(d.CategoryClasses(), tc.classes) {
					t.Fatalf("CategoryClasses() = %v, want %v", d.CategoryClasses(), tc.classes)
				}
				results := make([]Result, len(records))
				if err := d.Score(context.Background(), rows, results); err != nil {
					t.Fatal(err)
				}
				flagged, unclassified, right := gateResults(t, d, threshold, rows, records, results)
				switch {
				case threshold == 0 && flagged != len(results):
					t.Errorf("threshold 0 flagged %d of %d rows", flagged, len(results))
				// Every row is flagged: a model with a normal class calls
				// the normal ones normal, so unclassified; one without
				// gives each an attack class.
				case threshold == 0 && hasNormal && unclassified < len(results)/3:
					t.Errorf("threshold 0: %d of %d rows unclassified", unclassified, len(results))
				case !hasNormal && unclassified != 0:
					t.Errorf("threshold %v: %d rows unclassified by a model without a normal class", threshold, unclassified)
				// The bundled models are accurate on their training data:
				// most of the rows they flag are attacks of their label's class.
				case threshold == 0.5 && !hasNormal && (flagged == 0 || float64(right) < 0.95*float64(flagged)):
					t.Errorf("threshold 0.5: %d of %d flagged rows have their label's class", right, flagged)
				}
			}
		})
	}
}

// gateResults checks each result of a Score at threshold against the
// category model's own probabilities, and counts the flagged rows, those
// left unclassified and those given their label's class.
func gateResults(t *testing.T, d *Detector, threshold float64, rows []float32, records []etl.Record, results []Result) (flagged, unclassified, right int) {
	t.Helper()
	probs := make([]float32, len(d.classes))
	for i, r := range results {
		if r.Attack != (float64(r.Score) >= threshold) {
			t.Fatalf("threshold %v, row %d: Attack %v with score %v", threshold, i+1, r.Attack, r.Score)
		}
		if !r.Attack {
			if r.Category != etl.Normal || r.CategoryProb != 1-r.Score {
				t.Fatalf("threshold %v, row %d not flagged: category %v (%v), want normal (%v)", threshold, i+1, r.Category, r.CategoryProb, 1-r.Score)
			}
			continue
		}
		flagged++
		d.category.predict(rows[i*d.width:(i+1)*d.width], probs)
		var pNormal, pCategory float32
		for k, c := range d.classes {
			switch c {
			case etl.Normal:
				pNormal = probs[k]
			case r.Category:
				pCategory = probs[k]
			}
		}
		// Unclassified: only when normal is the likeliest class.
		if r.Category == etl.Normal {
			if !slices.Contains(d.classes, etl.Normal) {
				t.Fatalf("threshold %v, row %d: unclassified by a category model without a normal class", threshold, i+1)
			}
			for k, c := range d.classes {
				if probs[k] > pNormal {
					t.Fatalf("threshold %v, row %d: unclassified, but P(%v) = %v > P(normal) = %v", threshold, i+1, c, probs[k], pNormal)
				}
			}
			if r.CategoryProb != pNormal {
				t.Fatalf("threshold %v, row %d: unclassified with probability %v, want P(normal) %v", threshold, i+1, r.CategoryProb, pNormal)
			}
			unclassified++
			continue
		}
		// Else the likeliest attack class, with P(class | attack).
		for k, c := range d.classes {
			if c != etl.Normal && probs[k] > pCategory {
				t.Fatalf("threshold %v, row %d: category %v (P %v), but P(%v) = %v", threshold, i+1, r.Category, pCategory, c, probs[k])
			}
		}
		if want := min(pCategory/(1-pNormal), 1); r.CategoryProb != want {
			t.Fatalf("threshold %v, row %d: category probability %v, want P(%v | attack) = %v", threshold, i+1, r.CategoryProb, r.Category, want)
		}
		if class, _ := etl.ClassOfLabel(records[i].Label); r.Category == class {
			right++
		}
	}
	return flagged, unclassified, right
}

func TestBundledInfoAndSpec(t *testing.T) {
	d := bundled(t)
	if op := d.OperatingPoint(); op.Threshold != 0.5508 || op.Source != "manifest" || !d.HasCategory() {
		t.Errorf("OperatingPoint() = %+v, HasCategory() = %v", op, d.HasCategory())
	}
	hash := sha256.New()
	for _, name := range []string{"binary.json.gz", "category.json.gz", "spec.json"} {
		data, err := os.ReadFile(filepath.Join("bundled", name))
		if err != nil {
			t.Fatal(err)
		}
		hash.Write(data)
	}
	want := Info{Name: "sagewall-nslkdd", Version: "3.0.0", SHA256: hex.EncodeToString(hash.Sum(nil))}
	if d.Info() != want {
		t.Errorf("Info() = %+v, want %+v", d.Info(), want)
	}
	// The training script derives the layout from KDDTrain+ itself; it must be etl's default.
	if !reflect.DeepEqual(d.Spec(), etl.DefaultSpec()) {
		t.Errorf("bundled spec differs from etl.DefaultSpec():\n%+v", d.Spec())
	}
	d.Spec().Service[0] = "changed"
	if d.Spec().Service[0] == "changed" {
		t.Error("Spec() shares its vocabulary with the detector")
	}
}

// TestBundledLabelMapMatchesETL checks that the training script grouped the
// attack names into classes as etl.ClassOfLabel does.
func TestBundledLabelMapMatchesETL(t *testing.T) {
	data, err := os.ReadFile("bundled/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ClassOfLabel map[string]string `json:"class_of_label"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.ClassOfLabel) != 23 {
		t.Errorf("manifest maps %d labels, want the 23 of KDDTrain+", len(m.ClassOfLabel))
	}
	for label, class := range m.ClassOfLabel {
		got, ok := etl.ClassOfLabel(label)
		if !ok || got.String() != class {
			t.Errorf("label %q: training used %s, etl.ClassOfLabel gives %v (%v)", label, class, got, ok)
		}
	}
}

// modelDir writes the bundled model's files into a fresh directory, minus skip.
func modelDir(t *testing.T, skip ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"binary.json.gz", "category.json.gz", "spec.json", "manifest.json"} {
		if contains(skip, name) {
			continue
		}
		data, err := os.ReadFile(filepath.Join("bundled", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), data)
	}
	return dir
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDetector(t *testing.T) {
	binaryJSON := testenv.Gunzip(t, "bundled/binary.json.gz")
	categoryJSON := testenv.Gunzip(t, "bundled/category.json.gz")
	manifestJSON, err := os.ReadFile("bundled/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	// withClasses is a model directory whose manifest names these category classes.
	withClasses := func(classes string) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir := modelDir(t, "manifest.json")
			m := strings.Replace(string(manifestJSON), `"classes": [
        "dos",
        "probe",
        "r2l",
        "u2r"
      ]`, `"classes": `+classes, 1)
			if m == string(manifestJSON) {
				t.Fatal("the bundled manifest's category classes are not where the test looks")
			}
			writeFile(t, filepath.Join(dir, "manifest.json"), []byte(m))
			return dir
		}
	}
	sum := func(data []byte) string { s := sha256.Sum256(data); return hex.EncodeToString(s[:]) }

	tests := []struct {
		name         string
		setup        func(t *testing.T) string // returns the path to load
		opts         []Option
		wantErr      string // substring; "" for success
		wantInfo     *Info
		wantCategory bool
		// otherCategory: the category model is not the bundled one, so
		// only the scores are compared.
		otherCategory bool
	}{
		{
			name:         "bundled layout in a directory",
			setup:        func(t *testing.T) string { return modelDir(t) },
			wantCategory: true,
		},
		{
			name: "plain JSON models, no spec",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "binary.json"), binaryJSON)
				writeFile(t, filepath.Join(dir, "category.json"), categoryJSON)
				writeFile(t, filepath.Join(dir, "manifest.json"), manifestJSON)
				return dir
			},
			wantCategory: true,
		},
		{
			name: "attack-class category model without a manifest naming its classes",
			setup: func(t *testing.T) string {
				return modelDir(t, "manifest.json")
			},
			wantErr: "category model: 4 classes, want 5 ([normal dos probe r2l u2r]), or its classes named in manifest.json",
		},
		{
			name:          "5-class category model, no manifest: etl.Classes() order",
			setup:         fiveClassDir,
			wantCategory:  true,
			otherCategory: true,
		},
		{
			name:    "manifest names more classes than the category model has",
			setup:   withClasses(`["normal", "dos", "probe", "r2l", "u2r"]`),
			wantErr: "category model: 4 classes, but manifest.json names 5",
		},
		{
			name:    "manifest names an unknown class",
			setup:   withClasses(`["dos", "probe", "r2l", "x"]`),
			wantErr: `models.category.classes: parsing class: "x"`,
		},
		{
			name:    "manifest names a class twice",
			setup:   withClasses(`["dos", "probe", "dos", "u2r"]`),
			wantErr: "dos twice",
		},
		{
			name:    "manifest names no attack class",
			setup:   withClasses(`["normal"]`),
			wantErr: "no attack class",
		},
		{
			name:  "directory with only the binary model",
			setup: func(t *testing.T) string { return modelDir(t, "category.json.gz") },
		},
		{
			name: "single JSON file",
			setup: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "xgboost-model.json")
				writeFile(t, path, binaryJSON)
				return path
			},
			wantInfo: &Info{Name: "xgboost-model.json", SHA256: sum(binaryJSON)},
		},
		{
			name: "SageMaker model.tar.gz",
			setup: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "model.tar.gz")
				writeFile(t, path, testenv.TarGz(t, "xgboost-model", binaryJSON))
				return path
			},
		},
		{
			name: "gzipped single JSON file",
			setup: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "binary.json.gz")
				data, err := os.ReadFile("bundled/binary.json.gz")
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, data)
				return path
			},
		},
		{
			name:    "missing path",
			setup:   func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			wantErr: "no such file",
		},
		{
			name:    "directory without a binary model",
			setup:   func(t *testing.T) string { return modelDir(t, "binary.json.gz") },
			wantErr: "finding the binary model",
		},
		{
			name: "category model as the binary model",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "binary.json"), categoryJSON)
				return dir
			},
			wantErr: "binary model: 4 classes",
		},
		{
			name: "binary model as the category model",
			setup: func(t *testing.T) string {
				dir := modelDir(t, "category.json.gz")
				writeFile(t, filepath.Join(dir, "category.json"), binaryJSON)
				return dir
			},
			wantErr: "category model: 1 classes, but manifest.json names 4",
		},
		{
			name: "spec narrower than the model",
			setup: func(t *testing.T) string {
				dir := modelDir(t, "spec.json")
				spec := etl.DefaultSpec()
				spec.Flag = spec.Flag[1:]
				data, err := json.Marshal(spec)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "spec.json"), data)
				return dir
			},
			wantErr: "binary model: 122 features, but the feature spec is 121 wide",
		},
		{
			name: "corrupt model",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "binary.json"), binaryJSON[:len(binaryJSON)/2])
				return dir
			},
			wantErr: "parsing binary.json",
		},
		{
			name:    "threshold above 1",
			setup:   func(t *testing.T) string { return modelDir(t) },
			opts:    []Option{WithThreshold(1.5)},
			wantErr: "threshold 1.5: must be between 0 and 1",
		},
		{
			name:    "NaN threshold",
			setup:   func(t *testing.T) string { return modelDir(t) },
			opts:    []Option{WithThreshold(math.NaN())},
			wantErr: "threshold NaN",
		},
	}
	rows, _ := encodeTrain(t, etl.DefaultSpec(), 50)
	reference := make([]Result, 50)
	if err := bundled(t).Score(context.Background(), rows, reference); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadDetector(tt.setup(t), tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.HasCategory() != tt.wantCategory {
				t.Errorf("HasCategory() = %v, want %v", d.HasCategory(), tt.wantCategory)
			}
			if tt.wantInfo != nil && d.Info() != *tt.wantInfo {
				t.Errorf("Info() = %+v, want %+v", d.Info(), *tt.wantInfo)
			}
			results := make([]Result, len(reference))
			if err := d.Score(context.Background(), rows, results); err != nil {
				t.Fatal(err)
			}
			for i, r := range results {
				want := reference[i]
				if !tt.wantCategory && want.Attack {
					// Without a category model a flagged row cannot be categorised.
					want.Category, want.CategoryProb = etl.Normal, 0
				}
				if tt.otherCategory && want.Attack {
					want.Category, want.CategoryProb = r.Category, r.CategoryProb
				}
				if r != want {
					t.Fatalf("row %d: %+v, bundled detector gives %+v", i+1, r, want)
				}
			}
		})
	}
}

func TestScoreErrors(t *testing.T) {
	d := bundled(t)
	rows, _ := encodeTrain(t, d.Spec(), 3)
	if err := d.Score(context.Background(), rows[:len(rows)-1], make([]Result, 3)); err == nil ||
		!strings.Contains(err.Error(), "365 values are not 3 rows of 122 features") {
		t.Errorf("short rows: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Score(ctx, rows, make([]Result, 3)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
	if err := d.Score(context.Background(), nil, nil); err != nil {
		t.Errorf("no rows: err = %v", err)
	}
}

func TestNumCategoriesIsOnePerClass(t *testing.T) {
	if numCategories != len(etl.Classes()) {
		t.Fatalf("numCategories = %d, etl has %d classes", numCategories, len(etl.Classes()))
	}
}

// BenchmarkDetectorScore compares Detector.Score, which runs the category
// model only on flagged rows, with running both models on every row, on the
// first 4096 rows of KDDTrain+ (47 % attacks; real traffic has far fewer,
// so the gain there is larger). Each iteration times both, interleaved, so
// that load from other processes weighs on both alike; it reports ns/row of
// each and their ratio.
func BenchmarkDetectorScore(b *testing.B) {
	d := bundled(b)
	const n = 4096
	rows, _ := encodeTrain(b, d.Spec(), n)
	results := make([]Result, n)
	probs := make([]float32, len(d.classes))
	var gated, both time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := d.Score(context.Background(), rows, results); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		for i := range n {
			row := rows[i*d.width : (i+1)*d.width]
			d.binary.predict(row, probs[:1])
			d.category.predict(row, probs)
		}
		gated += mid.Sub(start)
		both += time.Since(mid)
	}
	rowsScored := float64(b.N * n)
	b.ReportMetric(float64(gated.Nanoseconds())/rowsScored, "gated-ns/row")
	b.ReportMetric(float64(both.Nanoseconds())/rowsScored, "both-models-ns/row")
	b.ReportMetric(float64(both)/float64(gated), "speedup")
}

// TestScoreConcurrently shares one Detector between goroutines, as the
// pipeline and the SageMaker server do; run with -race.
func TestScoreConcurrently(t *testing.T) {
	d := bundled(t)
	rows, _ := encodeTrain(t, d.Spec(), 512)
	want := make([]Result, 512)
	if err := d.Score(context.Background(), rows, want); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got := make([]Result, 512)
			err := d.Score(context.Background(), rows, got)
			if err == nil && !reflect.DeepEqual(got, want) {
				err = errors.New("concurrent Score gave different results")
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestConnLogModelUsesNoZeroedFeature: the connection-log model names the
// 15 features a connection log cannot carry, and no node of either of its
// forests splits on one, so the deriver's zeros cannot sway it.
func TestConnLogModelUsesNoZeroedFeature(t *testing.T) {
	d, err := BundledConnLog()
	if err != nil {
		t.Fatal(err)
	}
	if d.Info().Name != "sagewall-nslkdd-connlog" {
		t.Fatalf("name %q", d.Info().Name)
	}
	zeroed := d.ZeroedFeatures()
	want := []string{"wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
		"root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
		"num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login"}
	if !slices.Equal(zeroed, want) {
		t.Fatalf("zeroed features %v, want %v", zeroed, want)
	}
	columns := map[uint32]string{}
	for _, name := range zeroed {
		columns[uint32(slices.Index(d.spec.Numeric, name))] = name
	}
	for model, f := range map[string]*Forest{"binary": d.binary.forest, "category": d.category.forest} {
		splits := 0
		for _, n := range f.nodes {
			if n.left == 0 {
				continue // a leaf
			}
			splits++
			if name, ok := columns[n.feature&^defaultLeftBit]; ok {
				t.Fatalf("%s model splits on %s", model, name)
			}
		}
		if splits == 0 {
			t.Fatalf("%s model has no split", model)
		}
	}
	if b, err := Bundled(); err != nil || b.ZeroedFeatures() != nil || b.Features() != nil {
		t.Fatalf("the default model zeroes %v and uses %v (%v), want nil, nil", b.ZeroedFeatures(), b.Features(), err)
	}
}

// TestBundledConnLogInfoAndFeatures: the connection-log model identifies
// itself, hashes its files as the default model does, shares its layout,
// and uses exactly the 41 features less the zeroed 15, in file order.
func TestBundledConnLogInfoAndFeatures(t *testing.T) {
	d, err := BundledConnLog()
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.New()
	for _, name := range []string{"binary.json.gz", "category.json.gz", "spec.json"} {
		data, err := os.ReadFile(filepath.Join("bundled-connlog", name))
		if err != nil {
			t.Fatal(err)
		}
		hash.Write(data)
	}
	want := Info{Name: "sagewall-nslkdd-connlog", Version: "3.0.0", SHA256: hex.EncodeToString(hash.Sum(nil))}
	if d.Info() != want {
		t.Errorf("Info() = %+v, want %+v", d.Info(), want)
	}
	if d.Info().SHA256 == bundled(t).Info().SHA256 {
		t.Error("the connection-log model hashes like the default one")
	}
	if !reflect.DeepEqual(d.Spec(), etl.DefaultSpec()) || !d.HasCategory() || d.Threshold() != 0.6046 {
		t.Errorf("spec %+v, HasCategory() = %v, Threshold() = %v", d.Spec(), d.HasCategory(), d.Threshold())
	}
	features := d.Features()
	if len(features) != 26 {
		t.Fatalf("Features() = %v: %d, want 26", features, len(features))
	}
	var rest []string
	for _, name := range etl.FieldNames() {
		if !slices.Contains(d.ZeroedFeatures(), name) {
			rest = append(rest, name)
		}
	}
	if !slices.Equal(features, rest) {
		t.Errorf("Features() = %v, want the 41 less the zeroed: %v", features, rest)
	}
	features[0] = "changed"
	if d.Features()[0] == "changed" {
		t.Error("Features() shares its slice with the detector")
	}
}

// TestManifestFeatureSets loads a model directory whose manifest names the
// zeroed features, the used ones, both or neither.
func TestManifestFeatureSets(t *testing.T) {
	connlog, err := BundledConnLog()
	if err != nil {
		t.Fatal(err)
	}
	zeroed, used := connlog.ZeroedFeatures(), connlog.Features()
	quote := func(list []string) string {
		data, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	tests := []struct {
		name       string
		manifest   string // extra manifest keys, after name and version
		wantZeroed []string
		wantUsed   []string
		wantErr    string
	}{
		{name: "neither (an old manifest, features the width)", manifest: `"features": 122`},
		{name: "zeroed only", manifest: `"zeroed_features": ` + quote(zeroed), wantZeroed: zeroed, wantUsed: used},
		{name: "used only", manifest: `"used_features": ` + quote(used), wantZeroed: zeroed, wantUsed: used},
		{name: "both, as train.py writes them", manifest: `"features": 122, "zeroed_features": ` + quote(zeroed) + `, "used_features": ` + quote(used),
			wantZeroed: zeroed, wantUsed: used},
		{name: "used in another order", manifest: `"used_features": ` + quote(slices.Concat(used[10:], used[:10])), wantZeroed: zeroed, wantUsed: used},
		{name: "all 41 spelt out", manifest: `"zeroed_features": [], "used_features": ` + quote(etl.FieldNames())},
		{name: "one zeroed", manifest: `"zeroed_features": ["urgent"]`, wantZeroed: []string{"urgent"},
			wantUsed: slices.DeleteFunc(etl.FieldNames(), func(s string) bool { return s == "urgent" })},
		{name: "unknown used", manifest: `"used_features": ["duration", "bogus"]`, wantErr: `used_features: "bogus" is not an NSL-KDD feature`},
		{name: "unknown zeroed", manifest: `"zeroed_features": ["bogus"]`, wantErr: `zeroed_features: "bogus" is not a numeric feature`},
		{name: "categorical zeroed", manifest: `"zeroed_features": ["service"]`, wantErr: `zeroed_features: "service" is not a numeric feature`},
		{name: "categorical left out of used", manifest: `"used_features": ` + quote(slices.Delete(slices.Clone(used), 2, 3)),
			wantErr: `used_features leaves out "service"`},
		{name: "used twice", manifest: `"used_features": ["duration", "duration"]`, wantErr: `used_features: "duration" twice`},
		{name: "zeroed twice", manifest: `"zeroed_features": ["urgent", "urgent"]`, wantErr: `zeroed_features: "urgent" twice`},
		{name: "in both", manifest: `"zeroed_features": ` + quote(zeroed) + `, "used_features": ` + quote(append(slices.Clone(used), "urgent")),
			wantErr: `"urgent" is in both`},
		{name: "in neither", manifest: `"zeroed_features": ` + quote(zeroed[1:]) + `, "used_features": ` + quote(used),
			wantErr: `"wrong_fragment" is in neither`},
		{name: "not a list", manifest: `"used_features": 26`, wantErr: "decoding manifest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Without the category model, whose classes a manifest must name.
			dir := modelDir(t, "manifest.json", "category.json.gz")
			writeFile(t, filepath.Join(dir, "manifest.json"), []byte(`{"name": "m", "version": "1", `+tt.manifest+"}"))
			d, err := LoadDetector(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.ZeroedFeatures(), tt.wantZeroed) || (d.ZeroedFeatures() == nil) != (tt.wantZeroed == nil) {
				t.Errorf("ZeroedFeatures() = %#v, want %#v", d.ZeroedFeatures(), tt.wantZeroed)
			}
			if !slices.Equal(d.Features(), tt.wantUsed) || (d.Features() == nil) != (tt.wantUsed == nil) {
				t.Errorf("Features() = %#v, want %#v", d.Features(), tt.wantUsed)
			}
			if d.Info().Name != "m" {
				t.Errorf("name %q", d.Info().Name)
			}
		})
	}
}

func TestAttackCategory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		probs []float32 // normal, dos, probe, r2l, u2r
		want  etl.Class
		prob  float32
	}{
		{"an attack class leads", []float32{0.1, 0.6, 0.2, 0.05, 0.05}, etl.DoS, 0.6 / 0.9},
		{"normal leads: the likeliest attack class", []float32{0.9, 0.02, 0.06, 0.01, 0.01}, etl.Probe, 0.06 / 0.1},
		{"u2r", []float32{0, 0, 0, 0.25, 0.75}, etl.U2R, 0.75},
		{"certain normal: the first attack class at its own probability", []float32{1, 0, 0, 0, 0}, etl.DoS, 0},
	} {
		got, p := AttackCategory(tc.probs)
		if got != tc.want || math.Abs(float64(p-tc.prob)) > 1e-6 {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, p, tc.want, tc.prob)
		}
	}
}

func TestFlaggedCategory(t *testing.T) {
	attacks := []etl.Class{etl.DoS, etl.Probe, etl.R2L, etl.U2R}
	for _, tc := range []struct {
		name    string
		classes []etl.Class
		probs   []float32
		want    etl.Class
		prob    float32
	}{
		{"5 classes: an attack class leads", etl.Classes(), []float32{0.1, 0.6, 0.2, 0.05, 0.05}, etl.DoS, 0.6 / 0.9},
		{"5 classes: normal leads: unclassified, with P(normal)", etl.Classes(), []float32{0.9, 0.02, 0.06, 0.01, 0.01}, etl.Normal, 0.9},
		{"5 classes: normal ties the likeliest attack: the attack", etl.Classes(), []float32{0.4, 0.4, 0.1, 0.05, 0.05}, etl.DoS, 0.4 / 0.6},
		{"5 classes: certain normal", etl.Classes(), []float32{1, 0, 0, 0, 0}, etl.Normal, 1},
		{"attack classes: already P(class | attack)", attacks, []float32{0.1, 0.2, 0.6, 0.1}, etl.R2L, 0.6},
		{"attack classes: a tie goes to the first", attacks, []float32{0.25, 0.25, 0.25, 0.25}, etl.DoS, 0.25},
		{"attack classes: u2r", attacks, []float32{0, 0, 0.01, 0.99}, etl.U2R, 0.99},
		{"another order, with normal", []etl.Class{etl.U2R, etl.Normal, etl.Probe}, []float32{0.3, 0.2, 0.5}, etl.Probe, 0.5 / 0.8},
		{"another order, normal leads", []etl.Class{etl.U2R, etl.Normal, etl.Probe}, []float32{0.1, 0.7, 0.2}, etl.Normal, 0.7},
	} {
		got, p := FlaggedCategory(tc.classes, tc.probs)
		if got != tc.want || math.Abs(float64(p-tc.prob)) > 1e-6 {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, p, tc.want, tc.prob)
		}
	}
}

func TestCheckCategoryClasses(t *testing.T) {
	for _, tc := range []struct {
		classes []etl.Class
		wantErr string
	}{
		{etl.Classes(), ""},
		{[]etl.Class{etl.DoS, etl.Probe, etl.R2L, etl.U2R}, ""},
		{[]etl.Class{etl.R2L}, ""},
		{[]etl.Class{etl.DoS, etl.Probe, etl.DoS}, "dos twice"},
		{[]etl.Class{etl.Normal}, "no attack class"},
		{nil, "no attack class"},
	} {
		err := CheckCategoryClasses(tc.classes)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: err = %v, want %q", tc.classes, err, tc.wantErr)
		}
	}
}

func TestCategoryName(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Attack: false, Category: etl.Normal}, "normal"},
		{Result{Attack: false, Category: etl.DoS}, "normal"}, // not flagged: normal, whatever the category
		{Result{Attack: true, Category: etl.Normal}, Unclassified},
		{Result{Attack: true, Category: etl.R2L}, "r2l"},
	} {
		if got := tc.r.CategoryName(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestScoreBlocksMatchRows: Score walks the forests a block of rows at a
// time (forest_block.go); every result must be exactly what scoring each
// row alone gives, for batches that end mid-block, rows with missing
// values, and detectors of two models, one binary model, or one 5-class
// model.
func TestScoreBlocksMatchRows(t *testing.T) {
	rows, _ := encodeTrain(t, etl.DefaultSpec(), 300)
	width := etl.DefaultSpec().Width()
	for i := 0; i < 300; i += 7 { // some missing values
		rows[i*width+i%width] = float32(math.NaN())
	}
	binaryOnly, err := LoadDetector(filepath.Join("bundled", "binary.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	categoryOnly, err := LoadDetector(filepath.Join("testdata", "compat", "xgb-3.2.0-softprob.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	detectors := map[string]*Detector{
		"bundled":           bundled(t, WithThreshold(0.3)),
		"binary only":       binaryOnly,
		"one 5-class model": categoryOnly,
	}
	if len(vectorKernels()) > 0 && (detectors["bundled"].binary.forest.vector == nil || detectors["bundled"].category.forest.vector == nil) {
		t.Fatal("the bundled forests should take the vector layout on this CPU")
	}
	// Each also with the padded walker scoring its blocks, as on CPUs
	// without the vector kernel.
	for name, d := range maps.Clone(detectors) {
		detectors[name+", padded"] = withoutVector(d)
	}
	for name, d := range detectors {
		for _, n := range []int{0, 1, 15, 16, 17, 33, 300} {
			got := make([]Result, n)
			if err := d.Score(context.Background(), rows[:n*width], got); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				var want [1]Result
				if err := d.Score(context.Background(), rows[i*width:(i+1)*width], want[:]); err != nil {
					t.Fatal(err)
				}
				if got[i] != want[0] {
					t.Fatalf("%s, %d rows: row %d scored %+v in the batch, %+v alone", name, n, i, got[i], want[0])
				}
				// And alone it is the model's own prediction for the row.
				var p [numCategories]float32
				if d.binary.present() {
					d.binary.predict(rows[i*width:(i+1)*width], p[:1])
					if p[0] != got[i].Score {
						t.Fatalf("%s: row %d scored %v, Predict %v", name, i, got[i].Score, p[0])
					}
				} else {
					d.category.predict(rows[i*width:(i+1)*width], p[:])
					if 1-p[etl.Normal] != got[i].Score {
						t.Fatalf("%s: row %d scored %v, 1 - Predict's P(normal) %v", name, i, got[i].Score, 1-p[etl.Normal])
					}
				}
			}
		}
	}
}

// withoutVector returns a copy of d whose forests score blocks with the
// padded walker instead of the vector kernel.
func withoutVector(d *Detector) *Detector {
	c := *d
	for _, s := range []*scorer{&c.binary, &c.category} {
		if s.forest != nil {
			f := *s.forest
			f.vector = nil
			s.forest = &f
		}
	}
	return &c
}

// TestDetectorWithThreshold: a detector re-thresholded from a loaded one
// scores as one loaded with that threshold, and refuses what loading does.
func TestDetectorWithThreshold(t *testing.T) {
	rows, _ := encodeTrain(t, etl.DefaultSpec(), 1000)
	base := bundled(t)
	before := base.OperatingPoint()
	for _, threshold := range []float64{0, 0.3, 0.9, 1, -0.1, 1.5, math.NaN()} {
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			got, err := base.WithThreshold(threshold)
			loaded, loadErr := Bundled(WithThreshold(threshold))
			if (err != nil) != (loadErr != nil) {
				t.Fatalf("WithThreshold: %v; loading with the option: %v", err, loadErr)
			}
			if err != nil {
				return
			}
			if got.OperatingPoint() != loaded.OperatingPoint() || base.OperatingPoint() != before {
				t.Errorf("operating point %+v, want %+v; the original's %+v, was %+v", got.OperatingPoint(), loaded.OperatingPoint(), base.OperatingPoint(), before)
			}
			want, have := make([]Result, len(rows)/etl.Width), make([]Result, len(rows)/etl.Width)
			if err := loaded.Score(context.Background(), rows, want); err != nil {
				t.Fatal(err)
			}
			if err := got.Score(context.Background(), rows, have); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(have, want) {
				t.Error("scores differ from a detector loaded with the threshold")
			}
		})
	}
}
