package scoring

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// goldenValues is the number of float32 values per row in the goldens:
// P(attack), then the five category probabilities.
const goldenValues = 1 + numCategories

// readGoldens reads XGBoost's own predictions for a bundled model, written
// by deploy/train/train.py.
func readGoldens(t testing.TB, model string) []float32 {
	t.Helper()
	data := testenv.Gunzip(t, "testdata/"+model+"/predictions.f32.gz")
	if len(data) != nslkdd.TrainRecords*goldenValues*4 {
		t.Fatalf("goldens hold %d bytes, want %d rows of %d float32", len(data), nslkdd.TrainRecords, goldenValues)
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
// through Detector.Score, and the five category probabilities through the
// category forest directly. The connection-log model is fed the rows as it
// was trained, its zeroed features at 0.
func TestBundledMatchesXGBoost(t *testing.T) {
	for model, load := range map[string]func(...Option) (*Detector, error){"bundled": Bundled, "bundled-connlog": BundledConnLog} {
		t.Run(model, func(t *testing.T) {
			d, err := load()
			if err != nil {
				t.Fatal(err)
			}
			matchesXGBoost(t, d, readGoldens(t, model))
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
	probs := make([]float32, numCategories)
	failures := 0
	for i, r := range results {
		want := goldens[i*goldenValues : (i+1)*goldenValues]
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
					t.Errorf("row %d: P(%v) %v, XGBoost %v (diff %.3g)", i+1, etl.Class(k), p, want[1+k], diff)
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

// TestScoreGatesTheCategoryModel checks how Score fills Result at different
// thresholds: the category model only for flagged rows, its argmax then
// (unclassified when that is normal).
func TestScoreGatesTheCategoryModel(t *testing.T) {
	rows, records := encodeTrain(t, etl.DefaultSpec(), 2000)
	for _, threshold := range []float64{0, 0.5, 0.9, 1} {
		d := bundled(t, WithThreshold(threshold))
		results := make([]Result, len(records))
		if err := d.Score(context.Background(), rows, results); err != nil {
			t.Fatal(err)
		}
		probs := make([]float32, numCategories)
		var flagged, unclassified int
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
			// A flagged row gets the likeliest attack class, with P(class |
			// attack), unless the category model says normal (unclassified).
			d.category.predict(rows[i*d.width:(i+1)*d.width], probs)
			if r.Category == etl.Normal {
				for k, p := range probs[1:] {
					if p > probs[etl.Normal] {
						t.Fatalf("threshold %v, row %d: unclassified, but P(%v) = %v > P(normal) = %v", threshold, i+1, etl.Class(k+1), p, probs[etl.Normal])
					}
				}
				if r.CategoryProb != probs[etl.Normal] {
					t.Fatalf("threshold %v, row %d: unclassified with probability %v, want P(normal) %v", threshold, i+1, r.CategoryProb, probs[etl.Normal])
				}
				unclassified++
				continue
			}
			for k, p := range probs[1:] {
				if p > probs[r.Category] {
					t.Fatalf("threshold %v, row %d: category %v (P %v), but P(%v) = %v", threshold, i+1, r.Category, probs[r.Category], etl.Class(k+1), p)
				}
			}
			if want := min(probs[r.Category]/(1-probs[etl.Normal]), 1); r.CategoryProb != want {
				t.Fatalf("threshold %v, row %d: category probability %v, want P(%v | attack) = %v", threshold, i+1, r.CategoryProb, r.Category, want)
			}
		}
		switch threshold {
		case 0:
			if flagged != len(results) {
				t.Errorf("threshold 0 flagged %d of %d rows", flagged, len(results))
			}
			// Every row is flagged: the normal ones are the category
			// model's normal, so unclassified.
			if unclassified < len(results)/3 {
				t.Errorf("threshold 0: %d of %d rows unclassified", unclassified, len(results))
			}
		case 0.5:
			// The model is accurate on its training data: most of the rows
			// it flags are attacks, of the class their label says.
			var right int
			for i, r := range results {
				class, _ := etl.ClassOfLabel(records[i].Label)
				if r.Attack && r.Category == class {
					right++
				}
			}
			if flagged == 0 || float64(right) < 0.95*float64(flagged) {
				t.Errorf("threshold 0.5: %d of %d flagged rows have their label's class", right, flagged)
			}
			if unclassified > flagged/100 {
				t.Errorf("threshold 0.5: %d of %d flagged rows unclassified", unclassified, flagged)
			}
		}
	}
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
	want := Info{Name: "sagewall-nslkdd", Version: "2.0.0", SHA256: hex.EncodeToString(hash.Sum(nil))}
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
	sum := func(data []byte) string { s := sha256.Sum256(data); return hex.EncodeToString(s[:]) }

	tests := []struct {
		name         string
		setup        func(t *testing.T) string // returns the path to load
		opts         []Option
		wantErr      string // substring; "" for success
		wantInfo     *Info
		wantCategory bool
	}{
		{
			name:         "bundled layout in a directory",
			setup:        func(t *testing.T) string { return modelDir(t) },
			wantCategory: true,
		},
		{
			name: "plain JSON models, no manifest, no spec",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "binary.json"), binaryJSON)
				writeFile(t, filepath.Join(dir, "category.json"), categoryJSON)
				return dir
			},
			wantCategory: true,
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
			wantErr: "binary model: 5 classes",
		},
		{
			name: "binary model as the category model",
			setup: func(t *testing.T) string {
				dir := modelDir(t, "category.json.gz")
				writeFile(t, filepath.Join(dir, "category.json"), binaryJSON)
				return dir
			},
			wantErr: "category model: 1 classes, want 5",
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
	var probs [numCategories]float32
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
			d.category.predict(row, probs[:])
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
	want := Info{Name: "sagewall-nslkdd-connlog", Version: "2.0.0", SHA256: hex.EncodeToString(hash.Sum(nil))}
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
			dir := modelDir(t, "manifest.json")
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
	for _, tc := range []struct {
		name  string
		probs []float32 // normal, dos, probe, r2l, u2r
		want  etl.Class
		prob  float32
	}{
		{"an attack class leads", []float32{0.1, 0.6, 0.2, 0.05, 0.05}, etl.DoS, 0.6 / 0.9},
		{"normal leads: unclassified, with P(normal)", []float32{0.9, 0.02, 0.06, 0.01, 0.01}, etl.Normal, 0.9},
		{"normal ties the likeliest attack: the attack", []float32{0.4, 0.4, 0.1, 0.05, 0.05}, etl.DoS, 0.4 / 0.6},
		{"certain normal", []float32{1, 0, 0, 0, 0}, etl.Normal, 1},
	} {
		got, p := FlaggedCategory(tc.probs)
		if got != tc.want || math.Abs(float64(p-tc.prob)) > 1e-6 {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, p, tc.want, tc.prob)
		}
	}
}

func TestCategoryName(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Attack: false, Category: etl.Normal}, "normal"},
		{Result{Attack: true, Category: etl.Normal}, Unclassified},
		{Result{Attack: true, Category: etl.R2L}, "r2l"},
	} {
		if got := tc.r.CategoryName(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}
