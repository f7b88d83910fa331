package scoring

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// checkProbabilities scores a few rows (all zero, all missing, and values
// taken from data) and fails unless every output is a probability and a
// multi-class row sums to 1.
func checkProbabilities(t *testing.T, numClass, numFeature int, predict func(row, out []float32), data []byte) {
	rows := [][]float32{make([]float32, numFeature), make([]float32, numFeature), make([]float32, numFeature), nil}
	for j := range numFeature {
		rows[1][j] = float32(math.NaN())
		if len(data) > 0 {
			rows[2][j] = float32(int(data[j%len(data)])-128) / 16
		}
	}
	out := make([]float32, numClass)
	for i, row := range rows {
		predict(row, out)
		var sum float64
		for k, p := range out {
			if !(p >= 0 && p <= 1) {
				t.Fatalf("row %d class %d: probability %v", i, k, p)
			}
			sum += float64(p)
		}
		if numClass > 1 && math.Abs(sum-1) > 1e-4 {
			t.Fatalf("row %d: probabilities sum to %v", i, sum)
		}
	}
}

func addFuzzSeeds(f *testing.F, pattern string) {
	paths, err := filepath.Glob(filepath.Join(fixtureDir, pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds match %s: %v", pattern, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzParseXGBoost feeds arbitrary bytes to the model readers (seeded with
// tiny real models in every format): they must return a model or an error,
// never panic, and any model they accept must score any row without
// panicking, into probabilities.
func FuzzParseXGBoost(f *testing.F) {
	addFuzzSeeds(f, "tiny-*")
	f.Fuzz(func(t *testing.T, data []byte) {
		forest, err := ParseXGBoost(data)
		if err != nil {
			return
		}
		if forest.NumFeature() > 1<<12 || forest.NumClass() > 1<<12 {
			return // a valid but wide model: scoring it is slow, not interesting
		}
		checkProbabilities(t, forest.NumClass(), forest.NumFeature(), forest.Predict, data)
		general := *forest
		general.perfect = nil
		checkProbabilities(t, forest.NumClass(), forest.NumFeature(), general.Predict, data)
	})
}

// FuzzParseLightGBM does the same for the LightGBM wrapper, whose
// validation stands between arbitrary input and leaves.
func FuzzParseLightGBM(f *testing.F) {
	f.Add([]byte("tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\ntree_sizes=1\n\n" +
		"Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=0.5 1.5\ndecision_type=10 8\nleft_child=1 -1\nright_child=-3 -2\nleaf_value=0.1 -0.2 0.3\nis_linear=0\nshrinkage=1\n\n\nend of trees\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseLightGBM(data)
		if err != nil {
			return
		}
		if m.NumFeature() > 1<<12 {
			return
		}
		checkProbabilities(t, m.NumClass(), m.NumFeature(), m.Predict, data)
	})
}
