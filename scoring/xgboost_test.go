package scoring

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/internal/testenv"
)

// goldenTolerance is the largest difference from XGBoost's own float32
// prediction accepted on any row.
const goldenTolerance = 1e-6

// fixtureDir holds the models and golden predictions made by real XGBoost
// (scoring/testdata/gen/gen.sh).
const fixtureDir = "testdata/xgb"

// readFloatCSV reads a gzipped CSV of float32 values ("nan" for missing).
func readFloatCSV(t testing.TB, name string) [][]float32 {
	t.Helper()
	return parseFloatCSV(t, name, testenv.GunzipIn(t, fixtureDir, name))
}

// parseFloatCSV parses CSV lines of float32 values; an empty value or NaN
// (any case, as strconv reads it) is missing.
func parseFloatCSV(t testing.TB, name string, data []byte) [][]float32 {
	t.Helper()
	var rows [][]float32
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Split(line, ",")
		row := make([]float32, len(fields))
		for j, field := range fields {
			if field == "" {
				row[j] = float32(math.NaN())
				continue
			}
			v, err := strconv.ParseFloat(field, 32)
			if err != nil {
				t.Fatalf("%s: line %d: field %d: value %q: %v", name, i+1, j+1, field, err)
			}
			row[j] = float32(v)
		}
		rows = append(rows, row)
	}
	return rows
}

func testRows(t testing.TB) [][]float32 {
	t.Helper()
	rows := readFloatCSV(t, "rows.csv.gz")
	for i, row := range rows {
		if len(row) != 122 {
			t.Fatalf("rows.csv.gz: line %d has %d values, want 122", i+1, len(row))
		}
	}
	return rows
}

type goldenCase struct {
	model      string // fixture file
	golden     string // XGBoost's predictions for testRows
	version    string
	objective  string
	numClass   int
	viaLoadXGB bool // read through LoadXGBoost from the file as is (model.tar.gz)
}

func goldenCases() []goldenCase {
	var cases []goldenCase
	for _, v := range []struct {
		version string
		formats []string
	}{
		{"1.7.4", []string{"json", "ubj", "bin"}},
		{"3.2.0", []string{"json", "ubj"}},
	} {
		for _, format := range v.formats {
			version := v.version
			if format == "bin" {
				version = "1.7" // the legacy format records major.minor only
			}
			cases = append(cases,
				goldenCase{
					model: "xgb-" + v.version + "-binary." + format + ".gz", golden: "xgb-" + v.version + "-binary." + format + ".golden.gz",
					version: version, objective: ObjectiveBinaryLogistic, numClass: 1,
				},
				goldenCase{
					model: "xgb-" + v.version + "-multi." + format + ".gz", golden: "xgb-" + v.version + "-multi." + format + ".golden.gz",
					version: version, objective: ObjectiveMultiSoftprob, numClass: 5,
				})
		}
	}
	return append(cases,
		goldenCase{
			model: "xgb-1.7.4-binary.model.tar.gz", golden: "xgb-1.7.4-binary.bin.golden.gz",
			version: "1.7", objective: ObjectiveBinaryLogistic, numClass: 1, viaLoadXGB: true,
		},
		goldenCase{
			model: "xgb-3.2.0-binary.model.tar.gz", golden: "xgb-3.2.0-binary.ubj.golden.gz",
			version: "3.2.0", objective: ObjectiveBinaryLogistic, numClass: 1, viaLoadXGB: true,
		},
		// Saved as SageMaker's 1.5-1 and 3.0 containers save (gen.py sagemaker).
		goldenCase{
			model: "xgb-1.5.2-sagemaker.model.tar.gz", golden: "xgb-1.5.2-sagemaker.golden.gz",
			version: "1.5", objective: ObjectiveBinaryLogistic, numClass: 1, viaLoadXGB: true,
		},
		goldenCase{
			model: "xgb-3.0.5-sagemaker.model.tar.gz", golden: "xgb-3.0.5-sagemaker.golden.gz",
			version: "3.0.5", objective: ObjectiveBinaryLogistic, numClass: 1, viaLoadXGB: true,
		})
}

func loadFixture(t testing.TB, c goldenCase) *Forest {
	t.Helper()
	var f *Forest
	var err error
	if c.viaLoadXGB {
		f, err = LoadXGBoost(filepath.Join(fixtureDir, c.model))
	} else {
		f, err = ParseXGBoost(testenv.GunzipIn(t, fixtureDir, c.model))
	}
	if err != nil {
		t.Fatalf("loading %s: %v", c.model, err)
	}
	return f
}

func TestForestMatchesXGBoostGoldens(t *testing.T) {
	rows := testRows(t)
	for _, c := range goldenCases() {
		t.Run(c.model, func(t *testing.T) {
			f := loadFixture(t, c)
			if f.NumClass() != c.numClass || f.NumFeature() != 122 || f.Objective() != c.objective || f.Version() != c.version {
				t.Fatalf("got NumClass %d, NumFeature %d, Objective %q, Version %q; want %d, 122, %q, %q",
					f.NumClass(), f.NumFeature(), f.Objective(), f.Version(), c.numClass, c.objective, c.version)
			}
			golden := readFloatCSV(t, c.golden)
			if len(golden) != len(rows) {
				t.Fatalf("%s has %d rows, want %d", c.golden, len(golden), len(rows))
			}
			if f.perfect == nil {
				t.Fatal("the fixture should get the padded layout")
			}
			// Both evaluators: the padded layout and the node walker that
			// serves forests too deep for it.
			nodeWalk := *f
			nodeWalk.perfect = nil
			for _, e := range []struct {
				name   string
				forest *Forest
			}{{"padded", f}, {"node walk", &nodeWalk}} {
				out := make([]float32, f.NumClass())
				var worst float64
				for i, row := range rows {
					e.forest.Predict(row, out)
					for k, want := range golden[i] {
						diff := math.Abs(float64(out[k]) - float64(want))
						worst = max(worst, diff)
						if !(diff <= goldenTolerance) {
							t.Errorf("%s: row %d class %d: got %v, XGBoost %v (diff %.3g)", e.name, i, k, out[k], want, diff)
						}
					}
				}
				t.Logf("%s: %d rows, largest difference from XGBoost %.3g", e.name, len(rows), worst)
			}
			out := make([]float32, f.NumClass())

			flat := make([]float32, 0, len(rows)*122)
			for _, row := range rows {
				flat = append(flat, row...)
			}
			batch := make([]float32, len(rows)*f.NumClass())
			f.PredictBatch(flat, len(rows), batch)
			for i := range rows {
				f.Predict(rows[i], out)
				for k := range out {
					if got := batch[i*f.NumClass()+k]; got != out[k] {
						t.Fatalf("row %d class %d: PredictBatch %v, Predict %v", i, k, got, out[k])
					}
				}
			}
		})
	}
}

// TestFixturesCoverEdgeCases makes sure the golden rows exercise what the
// goldens are meant to prove: values exactly on a threshold (XGBoost goes
// right, as x < t is false), also in rows without NaN (which take the
// evaluator's NaN-free path), and missing values routed both ways.
func TestFixturesCoverEdgeCases(t *testing.T) {
	rows := testRows(t)
	f := loadFixture(t, goldenCase{model: "xgb-3.2.0-binary.json.gz"})
	var onThreshold, missingLeft, missingRight, complete, completeOnThreshold int
	for _, row := range rows {
		if !hasMissing(row) {
			complete++
		}
		for _, root := range f.roots {
			n := f.nodes[root]
			for n.left != 0 {
				x := row[n.feature&^defaultLeftBit]
				switch {
				case x != x && n.feature&defaultLeftBit != 0:
					missingLeft++
				case x != x:
					missingRight++
				case x == n.value:
					onThreshold++
					if !hasMissing(row) {
						completeOnThreshold++
					}
				}
				n = f.nodes[n.left+boolToInt32(!(x < n.value) && !(x != x && n.feature&defaultLeftBit != 0))]
			}
		}
	}
	t.Logf("golden rows: %d without NaN; tree walks: %d on a threshold (%d in rows without NaN), %d missing->left, %d missing->right",
		complete, onThreshold, completeOnThreshold, missingLeft, missingRight)
	if complete < 60 || completeOnThreshold < 100 || onThreshold < 100 || missingLeft < 100 || missingRight < 100 {
		t.Errorf("fixture rows too weak: want >= 60 rows without NaN and >= 100 walks of each kind")
	}
}

func TestLoadXGBoostFormatsAgree(t *testing.T) {
	// The same booster saved in every format must load to the same forest.
	for _, version := range []string{"1.7.4", "3.2.0"} {
		formats := []string{"json", "ubj"}
		if version == "1.7.4" {
			formats = append(formats, "bin")
		}
		ref := loadFixture(t, goldenCase{model: "xgb-" + version + "-multi.json.gz"})
		for _, format := range formats[1:] {
			f := loadFixture(t, goldenCase{model: "xgb-" + version + "-multi." + format + ".gz"})
			if !equalSlices(f.nodes, ref.nodes) || !equalSlices(f.roots, ref.roots) || !equalSlices(f.groups, ref.groups) || !equalSlices(f.baseMargin, ref.baseMargin) {
				t.Errorf("%s %s: forest differs from the JSON one", version, format)
			}
		}
	}
}

func equalSlices[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPredictShortRowTreatsAbsentFeaturesAsMissing(t *testing.T) {
	f := loadFixture(t, goldenCase{model: "xgb-3.2.0-binary.ubj.gz"})
	row := testRows(t)[3]
	padded := append([]float32(nil), row[:60]...)
	for range 122 - 60 {
		padded = append(padded, float32(math.NaN()))
	}
	var short, full [1]float32
	f.Predict(row[:60], short[:])
	f.Predict(padded, full[:])
	if short != full {
		t.Errorf("short row: %v, NaN-padded row: %v", short, full)
	}
}

func TestParseXGBoostErrors(t *testing.T) {
	binaryJSON := testenv.GunzipIn(t, fixtureDir, "xgb-1.7.4-binary.json.gz")
	legacy := testenv.GunzipIn(t, fixtureDir, "xgb-1.7.4-binary.bin.gz")
	ubj := testenv.GunzipIn(t, fixtureDir, "xgb-3.2.0-binary.ubj.gz")
	replace := func(data []byte, old, new string) []byte {
		if !bytes.Contains(data, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(data, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"unknown format", []byte("PK\x03\x04zip"), "unrecognised format"},
		{"truncated legacy", legacy[:len(legacy)/2], "truncated"},
		{"legacy header only", legacy[:10], "learner parameters"},
		{"truncated JSON", binaryJSON[:len(binaryJSON)/2], "decoding JSON model"},
		{"truncated UBJSON", ubj[:len(ubj)/2], "truncated"},
		{"gblinear", replace(binaryJSON, `"name":"gbtree"`, `"name":"gblinear"`), `booster "gblinear"`},
		{"dart", replace(binaryJSON, `"name":"gbtree"`, `"name":"dart"`), `booster "dart"`},
		{"objective", replace(binaryJSON, `"binary:logistic"`, `"reg:squarederror"`), `objective "reg:squarederror"`},
		{"split index", replace(binaryJSON, `"num_class":"0","num_feature":"122"`, `"num_class":"0","num_feature":"1"`), "split index"},
		{"child out of range", replace(binaryJSON, `"left_children":[1,`, `"left_children":[999,`), "child 999 out of range"},
		{"cycle", replace(binaryJSON, `"left_children":[1,`, `"left_children":[0,`), "reached twice"},
		{"base score", replace(binaryJSON, `"base_score":"`, `"base_score":"x`), "base_score"},
		{"categorical", replace(binaryJSON, `"split_type":[0,`, `"split_type":[1,`), "categorical"},
		{"tree_info", replace(binaryJSON, `"tree_info":[0,`, `"tree_info":[3,`), "tree_info class 3"},
		{"not gzip", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseXGBoost(tt.data)
			if err == nil {
				t.Fatalf("got a forest with %d trees, want an error containing %q", f.NumTrees(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadXGBoostNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(path, []byte(`{"learner":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadXGBoost(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "learner_model_param") {
		t.Errorf("error %v: want the path and the missing field", err)
	}
}
