package scoring

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/internal/testenv"
)

func TestLightGBMMatchesLightGBMGoldens(t *testing.T) {
	rows := testRows(t)
	for _, c := range []struct {
		model    string
		numClass int
	}{
		{"lgb-4.7.0-binary.txt.gz", 1},
		{"lgb-4.7.0-multi.txt.gz", 5},
	} {
		t.Run(c.model, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), strings.TrimSuffix(c.model, ".gz"))
			if err := os.WriteFile(path, testenv.GunzipIn(t, fixtureDir, c.model), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := LoadLightGBM(path)
			if err != nil {
				t.Fatal(err)
			}
			if m.NumClass() != c.numClass || m.NumFeature() != 122 {
				t.Fatalf("NumClass %d, NumFeature %d; want %d, 122", m.NumClass(), m.NumFeature(), c.numClass)
			}
			golden := readFloatCSV(t, strings.TrimSuffix(c.model, ".gz")+".golden.gz")
			out := make([]float32, m.NumClass())
			var worst float64
			for i, row := range rows {
				m.Predict(row, out)
				for k, want := range golden[i] {
					diff := math.Abs(float64(out[k]) - float64(want))
					worst = max(worst, diff)
					if !(diff <= goldenTolerance) {
						t.Errorf("row %d class %d: got %v, LightGBM %v", i, k, out[k], want)
					}
				}
			}
			t.Logf("%d rows, largest difference from LightGBM %.3g", len(rows), worst)
		})
	}
}

func TestParseLightGBMErrors(t *testing.T) {
	model := testenv.GunzipIn(t, fixtureDir, "lgb-4.7.0-binary.txt.gz")
	replace := func(old, new string) []byte {
		if !bytes.Contains(model, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(model, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no \"tree\" header"},
		{"XGBoost JSON", testenv.GunzipIn(t, fixtureDir, "xgb-1.7.4-binary.json.gz"), "no \"tree\" header"},
		{"version", replace("version=v4", "version=v9"), "version \"v9\""},
		{"feature beyond max", replace("split_feature=2 38", "split_feature=200 38"), "feature 200 outside [0, 121]"},
		{"child out of range", replace("left_child=1 5", "left_child=99 5"), "child 99 out of range"},
		{"leaf out of range", replace("left_child=1 5", "left_child=-99 5"), "child -99 out of range"},
		{"cycle", replace("left_child=1 5", "left_child=0 5"), "reached twice"},
		{"categorical", replace("decision_type=8 2", "decision_type=9 2"), "decision type 9"},
		{"linear", replace("is_linear=0", "is_linear=1"), "linear trees"},
		{"leaf count", replace("num_leaves=16", "num_leaves=17"), "leaf_value has 16 values, want 17"},
		{"tree count", replace("tree_sizes=1811 ", "tree_sizes="), "tree_sizes lists 19 trees"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLightGBM(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
