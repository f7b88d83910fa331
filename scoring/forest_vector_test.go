package scoring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomModel builds a model of random trees: unbalanced, some deeper than
// the padded layout takes and some with more leaves than a vector lane
// holds when maxLeaves allows it, thresholds from a small set so that rows
// land exactly on them, random default directions.
func randomModel(rng *rand.Rand, numFeature, numClass, rounds, maxDepth int, thresholds []float32) *rawModel {
	groups := max(numClass, 1)
	m := &rawModel{objective: ObjectiveBinaryLogistic, booster: "gbtree", numFeature: numFeature, baseScore: []float32{0.3}}
	if numClass > 1 {
		m.objective, m.numClass = ObjectiveMultiSoftprob, numClass
		m.baseScore = []float32{0.5}
	}
	for range rounds {
		for g := range groups {
			var t rawTree
			var grow func(depth int) int32
			grow = func(depth int) int32 {
				id := int32(len(t.left))
				t.left, t.right = append(t.left, -1), append(t.right, -1)
				t.splitIndex = append(t.splitIndex, int64(rng.IntN(numFeature)))
				t.defaultLeft = append(t.defaultLeft, rng.IntN(2) == 0)
				if depth == maxDepth || (depth > 0 && rng.IntN(4) == 0) {
					t.splitCond = append(t.splitCond, float32(rng.NormFloat64()/4))
					return id
				}
				t.splitCond = append(t.splitCond, thresholds[rng.IntN(len(thresholds))])
				left := grow(depth + 1)
				right := grow(depth + 1)
				t.left[id], t.right[id] = left, right
				return id
			}
			grow(0)
			m.trees = append(m.trees, t)
			m.treeInfo = append(m.treeInfo, int32(g))
		}
	}
	return m
}

// randomRows draws rows from the thresholds themselves, values near them,
// NaN (missing) and both infinities.
func randomRows(rng *rand.Rand, n, width int, thresholds []float32) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, width)
		for j := range rows[i] {
			switch rng.IntN(10) {
			case 0:
				rows[i][j] = float32(math.NaN())
			case 1:
				rows[i][j] = float32(math.Inf(1 - 2*rng.IntN(2)))
			case 2, 3, 4:
				rows[i][j] = thresholds[rng.IntN(len(thresholds))]
			default:
				rows[i][j] = thresholds[rng.IntN(len(thresholds))] + float32(rng.NormFloat64())
			}
		}
	}
	return rows
}

// vectorFits says from the raw model, independently of buildVector,
// whether the vector kernel can take it: at most maxVectorLeaves leaves in
// every tree, maxVectorColumns split features and maxVectorGroups groups.
func vectorFits(m *rawModel) bool {
	features := map[int64]bool{}
	for _, t := range m.trees {
		leaves := 0
		for i, left := range t.left {
			if left < 0 {
				leaves++
			} else {
				features[t.splitIndex[i]] = true
			}
		}
		if leaves > maxVectorLeaves {
			return false
		}
	}
	return len(features) <= maxVectorColumns && max(m.numClass, 1) <= maxVectorGroups
}

// TestVectorMatchesNodeWalker checks each vector kernel the CPU runs
// against the node walker, bit for bit, on random forests and rows (NaN,
// infinities, values on thresholds, a partial block), and that the layout
// takes exactly the forests it can evaluate.
func TestVectorMatchesNodeWalker(t *testing.T) {
	kernels := vectorKernels()
	if len(kernels) == 0 {
		t.Skip("no vector kernel on this CPU")
	}
	thresholds := []float32{-1, 0, 0.5, 1, 2.5, 100}
	tests := []struct {
		name                           string
		numFeature, numClass, maxDepth int
	}{
		{"binary, depth 5", 122, 0, 5},
		{"4 classes, depth 5", 122, 4, 5},
		{"binary, depth 1 to 7", 30, 0, 7}, // some trees over 32 leaves
		{"9 classes: more groups than the kernel keeps", 20, 9, 3},
		{"400 features: some forests split on more than 128", 400, 0, 5},
	}
	for _, kernel := range kernels {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s", kernel, tt.name), func(t *testing.T) {
				var taken int
				for seed := range 40 {
					m := randomModel(rng, tt.numFeature, tt.numClass, 1+seed%12, tt.maxDepth, thresholds)
					f, err := newForest(m)
					if err != nil {
						t.Fatal(err)
					}
					if want := vectorFits(m); (f.vector != nil) != want {
						t.Fatalf("seed %d: vector layout %v, want %v", seed, f.vector != nil, want)
					}
					if f.vector == nil {
						continue
					}
					taken++
					f.vector.kernel = kernel
					walker := *f
					walker.perfect, walker.vector = nil, nil
					checkBatchMatches(t, f, &walker, randomRows(rng, 37, tt.numFeature, thresholds)) // two full blocks and a partial one
				}
				t.Logf("%d of 40 forests took the vector layout", taken)
			})
		}
	}
}

// checkBatchMatches scores rows with f.PredictBatch, the block evaluators'
// path, and fails unless every value equals walker's Predict bit for bit.
func checkBatchMatches(t *testing.T, f, walker *Forest, rows [][]float32) {
	t.Helper()
	width, k := f.NumFeature(), f.NumClass()
	flat := make([]float32, 0, len(rows)*width)
	for _, row := range rows {
		flat = append(flat, row[:width]...)
	}
	got := make([]float32, len(rows)*k)
	f.PredictBatch(flat, len(rows), got)
	want := make([]float32, k)
	for i, row := range rows {
		walker.Predict(row, want)
		for c := range k {
			if math.Float32bits(got[i*k+c]) != math.Float32bits(want[c]) {
				t.Fatalf("row %d class %d: PredictBatch %v, node walker %v", i, c, got[i*k+c], want[c])
			}
		}
	}
}
