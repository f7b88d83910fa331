package scoring

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"path/filepath"
	"strings"
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
	addNonFiniteSeeds(f)
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
		general.perfect, general.vector = nil, nil
		checkProbabilities(t, forest.NumClass(), forest.NumFeature(), general.Predict, data)
		checkBatchMatches(t, forest, &general, fuzzRows(forest.NumFeature(), data))
	})
}

// fuzzRows makes 20 rows (a full block and a partial one) of values taken
// from data, every seventh one missing.
func fuzzRows(width int, data []byte) [][]float32 {
	rows := make([][]float32, 20)
	for i := range rows {
		rows[i] = make([]float32, width)
		for j := range rows[i] {
			if len(data) > 0 {
				rows[i][j] = float32(int(data[(i*width+j)%len(data)])-128) / 16
			}
			if (i*width+j)%7 == 3 {
				rows[i][j] = float32(math.NaN())
			}
		}
	}
	return rows
}

// addNonFiniteSeeds adds the tiny JSON models with XGBoost's NaN,
// Infinity and -Infinity tokens in a statistic, a threshold and a leaf.
func addNonFiniteSeeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "tiny-*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no tiny JSON models: %v", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, edit := range [][2]string{
			{`"loss_changes":[`, `"loss_changes":[NaN,`},
			{`"split_conditions":[`, `"split_conditions":[Infinity,`},
			{`"split_conditions":[`, `"split_conditions":[-Infinity,`},
		} {
			f.Add(bytes.Replace(data, []byte(edit[0]), []byte(edit[1]), 1))
		}
	}
}

// FuzzParseModel feeds arbitrary bytes to ParseModel, which tells XGBoost
// and LightGBM files apart (seeded with both, gzipped too): any model it
// accepts must score any row into probabilities.
func FuzzParseModel(f *testing.F) {
	addFuzzSeeds(f, "tiny-*")
	addNonFiniteSeeds(f)
	f.Add([]byte(lightGBMSeed))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(lightGBMSeed))
	_ = zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseModel(data)
		if err != nil {
			return
		}
		if m.NumFeature() > 1<<12 || m.NumClass() > 1<<12 {
			return
		}
		checkProbabilities(t, m.NumClass(), m.NumFeature(), m.Predict, data)
		if forest, ok := m.(*Forest); ok {
			row := make([]float32, forest.NumFeature())
			if c := forest.PredictClass(row); c < 0 || c >= max(forest.NumClass(), 2) {
				t.Fatalf("PredictClass = %d for %d classes", c, forest.NumClass())
			}
		}
	})
}

// lightGBMSeed is a two-feature, one-tree binary LightGBM model.
const lightGBMSeed = "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\ntree_sizes=1\n\n" +
	"Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=0.5 1.5\ndecision_type=10 8\nleft_child=1 -1\nright_child=-3 -2\nleaf_value=0.1 -0.2 0.3\nis_linear=0\nshrinkage=1\n\n\nend of trees\n"

// FuzzParseLightGBM does the same for the LightGBM wrapper, whose
// validation stands between arbitrary input and leaves.
func FuzzParseLightGBM(f *testing.F) {
	f.Add([]byte(lightGBMSeed))
	f.Add([]byte(strings.Replace(strings.Replace(lightGBMSeed, "binary sigmoid:1", "multiclass num_class:2", 1), "num_class=1", "num_class=2", 1)))
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
