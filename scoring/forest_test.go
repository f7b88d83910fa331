package scoring

import (
	"bufio"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dmitryikh/leaves"

	"github.com/sagewall/sagewall/internal/testenv"
)

// lightGBMText writes a binary Forest out as the same forest in LightGBM's
// text format, so leaves can evaluate exactly the trees Forest evaluates.
// LightGBM goes left iff x <= threshold where XGBoost tests x < t; for a
// float32 x those agree when the threshold is the float32 just below t.
// The base margin becomes a one-leaf tree.
func lightGBMText(f *Forest) (string, error) {
	if f.NumClass() != 1 {
		return "", fmt.Errorf("converting a %d-class forest: only binary forests are converted", f.NumClass())
	}
	var trees strings.Builder
	sizes := make([]string, 0, len(f.roots)+1)
	writeTree := func(index int, body string) {
		block := fmt.Sprintf("Tree=%d\n%s\n", index, body)
		sizes = append(sizes, strconv.Itoa(len(block)))
		trees.WriteString(block)
	}
	writeTree(0, fmt.Sprintf("num_leaves=1\nnum_cat=0\nleaf_value=%s\n", formatFloat64(float64(f.baseMargin[0]))))
	for t, root := range f.roots {
		var features, thresholds, decisions, lefts, rights, leafValues []string
		// visit numbers internal nodes in visiting order (the root is 0) and
		// returns a child reference: an internal index, or ^leaf index.
		var visit func(i int32) int
		visit = func(i int32) int {
			n := f.nodes[i]
			if n.left == 0 {
				leafValues = append(leafValues, formatFloat64(float64(n.value)))
				return ^(len(leafValues) - 1)
			}
			k := len(features)
			decision := 2 << 2 // missing type NaN
			if n.feature&defaultLeftBit != 0 {
				decision |= 1 << 1
			}
			features = append(features, strconv.Itoa(int(n.feature&^defaultLeftBit)))
			thresholds = append(thresholds, formatFloat64(float64(math.Nextafter32(n.value, float32(math.Inf(-1))))))
			decisions = append(decisions, strconv.Itoa(decision))
			lefts = append(lefts, "")
			rights = append(rights, "")
			lefts[k] = strconv.Itoa(visit(n.left))
			rights[k] = strconv.Itoa(visit(n.left + 1))
			return k
		}
		visit(root)
		body := fmt.Sprintf("num_leaves=%d\nnum_cat=0\n", len(leafValues))
		if len(features) > 0 {
			body += fmt.Sprintf("split_feature=%s\nthreshold=%s\ndecision_type=%s\nleft_child=%s\nright_child=%s\n",
				strings.Join(features, " "), strings.Join(thresholds, " "), strings.Join(decisions, " "),
				strings.Join(lefts, " "), strings.Join(rights, " "))
		}
		body += fmt.Sprintf("leaf_value=%s\n", strings.Join(leafValues, " "))
		writeTree(t+1, body)
	}
	header := fmt.Sprintf("tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=%d\nobjective=binary sigmoid:1\ntree_sizes=%s\n\n",
		f.NumFeature()-1, strings.Join(sizes, " "))
	return header + trees.String() + "end of trees\n", nil
}

func formatFloat64(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// leavesForest loads the 50-tree depth-5 binary fixture and the same forest
// converted for leaves.
func leavesForest(t testing.TB) (*Forest, *leaves.Ensemble) {
	t.Helper()
	f := loadFixture(t, goldenCase{model: "xgb-3.2.0-binary.ubj.gz"})
	text, err := lightGBMText(f)
	if err != nil {
		t.Fatal(err)
	}
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(strings.NewReader(text)), true)
	if err != nil {
		t.Fatalf("leaves reading the converted forest: %v", err)
	}
	return f, ens
}

// TestLightGBMConversionIsTheSameForest proves the benchmark compares like
// with like: leaves on the converted forest predicts what Forest predicts.
func TestLightGBMConversionIsTheSameForest(t *testing.T) {
	f, ens := leavesForest(t)
	if ens.NEstimators() != f.NumTrees()+1 {
		t.Fatalf("leaves has %d trees, want %d (+1 for the base margin)", ens.NEstimators(), f.NumTrees()+1)
	}
	var out [1]float32
	for i, row := range testRows(t) {
		f.Predict(row, out[:])
		want := ens.PredictSingle(float64s(row), 0)
		if diff := math.Abs(float64(out[0]) - want); diff > goldenTolerance {
			t.Errorf("row %d: Forest %v, leaves %v", i, out[0], want)
		}
	}
}

func float64s(row []float32) []float64 {
	out := make([]float64, len(row))
	for i, v := range row {
		out[i] = float64(v)
	}
	return out
}

func TestForestValidation(t *testing.T) {
	// A minimal tree: node 0 splits feature 0 at 1.0 into leaves 1 and 2.
	valid := func() *rawModel {
		return &rawModel{
			objective: ObjectiveBinaryLogistic, booster: "gbtree", numFeature: 2, baseScore: []float32{0.5},
			trees: []rawTree{{
				left: []int32{1, -1, -1}, right: []int32{2, -1, -1}, splitIndex: []int64{0, 0, 0},
				splitCond: []float32{1, -2, 3}, defaultLeft: []bool{true, false, false},
			}},
			treeInfo: []int32{0},
		}
	}
	tests := []struct {
		name   string
		mutate func(m *rawModel)
		want   string
	}{
		{"valid", func(*rawModel) {}, ""},
		{"no nodes", func(m *rawModel) { m.trees[0] = rawTree{} }, "no nodes"},
		{"array lengths", func(m *rawModel) { m.trees[0].splitCond = m.trees[0].splitCond[:2] }, "differ in length"},
		{"negative child", func(m *rawModel) { m.trees[0].right[0] = -5 }, "child -5 out of range"},
		{"self loop", func(m *rawModel) { m.trees[0].left[0] = 0 }, "reached twice"},
		{"shared child", func(m *rawModel) { m.trees[0].right[0] = 1 }, "reached twice"},
		{"feature range", func(m *rawModel) { m.trees[0].splitIndex[0] = 2 }, "split index 2 out of range"},
		{"NaN threshold", func(m *rawModel) { m.trees[0].splitCond[0] = float32(math.NaN()) }, "NaN"},
		{"base score", func(m *rawModel) { m.baseScore = []float32{1} }, "outside (0, 1)"},
		{"base score count", func(m *rawModel) { m.baseScore = []float32{0.5, 0.5} }, "base_score has 2 values"},
		{"num_feature", func(m *rawModel) { m.numFeature = 0 }, "num_feature 0"},
		{"softprob classes", func(m *rawModel) { m.objective = ObjectiveMultiSoftprob; m.numClass = 1 }, "num_class in [2, 65536]"},
		{"huge num_class", func(m *rawModel) { m.objective = ObjectiveMultiSoftprob; m.numClass = 808464432 }, "num_class in [2, 65536]"},
		{"tree_info length", func(m *rawModel) { m.treeInfo = nil }, "tree_info has 0 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.mutate(m)
			f, err := newForest(m)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				var out [1]float32
				for _, c := range []struct {
					x    float32
					leaf float32
				}{{0.5, -2}, {1, 3}, {float32(math.NaN()), -2}, {float32(math.Inf(1)), 3}} {
					f.Predict([]float32{c.x, 0}, out[:])
					if want := sigmoid(c.leaf); out[0] != want {
						t.Errorf("x=%v: got %v, want sigmoid(%v) = %v", c.x, out[0], c.leaf, want)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// BenchmarkPredict compares Forest with leaves on the same 50-tree depth-5
// forest, one record per op. rows=complete are the golden rows with
// missing values set to 0 (like every encoded NSL-KDD record); rows=missing
// are the golden rows as they are, nearly all holding NaNs.
// engine=sagewall-nodewalk is Forest without its padded layout.
func BenchmarkPredict(b *testing.B) {
	f, ens := leavesForest(b)
	nodeWalk := *f
	nodeWalk.perfect = nil
	for _, rowSet := range []string{"complete", "missing"} {
		rows := testRows(b)
		if rowSet == "complete" {
			for _, row := range rows {
				for j, v := range row {
					if v != v {
						row[j] = 0
					}
				}
			}
		}
		rows64 := make([][]float64, len(rows))
		for i, row := range rows {
			rows64[i] = float64s(row)
		}
		for _, engine := range []struct {
			name    string
			predict func(i int)
		}{
			{"sagewall", func(i int) {
				var out [1]float32
				f.Predict(rows[i], out[:])
			}},
			{"sagewall-nodewalk", func(i int) {
				var out [1]float32
				nodeWalk.Predict(rows[i], out[:])
			}},
			{"leaves", func(i int) { ens.PredictSingle(rows64[i], 0) }},
		} {
			b.Run("rows="+rowSet+"/engine="+engine.name, func(b *testing.B) {
				lockThread()
				defer unlockThread()
				start := threadCPUTime()
				i := 0
				for b.Loop() {
					engine.predict(i)
					i++
					if i == len(rows) {
						i = 0
					}
				}
				b.ReportMetric(float64((threadCPUTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/record")
			})
		}
	}
}

// BenchmarkPredictBatch reports the per-record cost of PredictBatch on
// the bundled model's two forests over 4,096 encoded KDDTrain+ rows, with
// each vector kernel the CPU runs and with the padded walker that CPUs
// without one use:
//
//	go test ./scoring -run '^$' -bench PredictBatch -count 6 | benchstat -col /evaluator -
func BenchmarkPredictBatch(b *testing.B) {
	d := bundled(b)
	const n = 4096
	rows, _ := encodeTrain(b, d.Spec(), n)
	for _, model := range []struct {
		name   string
		forest *Forest
	}{{"binary", d.binary.forest}, {"category", d.category.forest}} {
		for _, evaluator := range []string{"avx512", "avx2", "padded"} {
			b.Run("model="+model.name+"/evaluator="+evaluator, func(b *testing.B) {
				f := *model.forest
				if evaluator == "padded" {
					f.vector = nil
				} else {
					i := slices.IndexFunc(vectorKernels(), func(k vectorKernel) bool { return k.String() == evaluator })
					if i < 0 || f.vector == nil {
						b.Skip("no " + evaluator + " kernel on this CPU")
					}
					v := *f.vector
					v.kernel = vectorKernels()[i]
					f.vector = &v
				}
				out := make([]float32, n*f.NumClass())
				lockThread()
				defer unlockThread()
				start := threadCPUTime()
				for b.Loop() {
					f.PredictBatch(rows, n, out)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
				b.ReportMetric(float64((threadCPUTime()-start).Nanoseconds())/float64(b.N*n), "cpu-ns/record")
			})
		}
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	rows := testRows(t)
	for _, name := range []string{"xgb-3.2.0-binary.ubj.gz", "xgb-3.2.0-multi.ubj.gz"} {
		f := loadFixture(t, goldenCase{model: name})
		out := make([]float32, len(rows)*f.NumClass())
		flat := make([]float32, 0, len(rows)*f.NumFeature())
		for _, row := range rows {
			flat = append(flat, row...)
		}
		if n := testing.AllocsPerRun(20, func() { f.Predict(rows[7], out) }); n != 0 {
			t.Errorf("%s: Predict allocates %v times per row", name, n)
		}
		if n := testing.AllocsPerRun(5, func() { f.PredictBatch(flat, len(rows), out) }); n != 0 {
			t.Errorf("%s: PredictBatch allocates %v times per batch", name, n)
		}
	}
}

// TestPredictConcurrently shares one Forest and one LightGBM model between
// goroutines (run with -race): both are read-only after loading.
func TestPredictConcurrently(t *testing.T) {
	rows := testRows(t)
	f := loadFixture(t, goldenCase{model: "xgb-1.7.4-multi.bin.gz"})
	m, err := ParseLightGBM(testenv.GunzipIn(t, fixtureDir, "lgb-4.7.0-multi.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	want := make([][2][5]float32, len(rows))
	for i, row := range rows {
		f.Predict(row, want[i][0][:])
		m.Predict(row, want[i][1][:])
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			var got [2][5]float32
			for i, row := range rows {
				f.Predict(row, got[0][:])
				m.Predict(row, got[1][:])
				if got != want[i] {
					errs <- fmt.Sprintf("row %d: got %v, want %v", i, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
