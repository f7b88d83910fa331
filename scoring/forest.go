package scoring

import (
	"errors"
	"fmt"
	"math"
)

// Objectives a Forest can evaluate. The three binary ones share one loss
// (logistic) and so one meaning of the margin, the log-odds; they differ
// only in what XGBoost's predict returns, and Predict returns the
// probability for all three. multi:softmax and multi:softprob likewise share
// their trees and differ only in predict's output: the class index for
// softmax (PredictClass), the class probabilities for softprob (Predict, for
// both).
const (
	ObjectiveBinaryLogistic = "binary:logistic"
	ObjectiveRegLogistic    = "reg:logistic"    // predicts as binary:logistic
	ObjectiveBinaryLogitRaw = "binary:logitraw" // XGBoost predicts the margin; Predict applies the sigmoid
	ObjectiveMultiSoftprob  = "multi:softprob"
	ObjectiveMultiSoftmax   = "multi:softmax" // XGBoost predicts the class index; Predict gives the probabilities
)

// maxForestNodes bounds the total node count so that int32 node indices
// never overflow; real models are orders of magnitude smaller.
const maxForestNodes = 1 << 30

// maxNumClass bounds a multi-class model's class count, which sizes its
// outputs; NSL-KDD has 5 categories.
const maxNumClass = 1 << 16

// maxNumFeature bounds a model's feature count, which sizes per-row
// buffers; NSL-KDD vectors have 122.
const maxNumFeature = 1 << 20

// maxLeafMagnitude bounds leaf values and base margins so that summing any
// model's trees (at most maxForestNodes) stays finite in float32; real
// leaves are small (learning rate times a Newton step).
const maxLeafMagnitude = 1e28

// defaultLeftBit marks, in node.feature, a split whose missing values go left.
const defaultLeftBit = 1 << 31

// node is one tree node in a Forest's flat array (12 bytes). Children of a
// split are adjacent: the right child is left+1, and both come after their
// parent, so walking a tree only moves forward through memory.
type node struct {
	value   float32 // split threshold, or the leaf value
	feature uint32  // split feature index | defaultLeftBit
	left    int32   // index of the left child; 0 marks a leaf (index 0 is a root, never a child)
}

// Forest is an XGBoost gbtree model (one of the Objective* objectives),
// validated at load time so that evaluating it needs no checks and cannot
// panic on any row.
type Forest struct {
	objective  string
	version    string
	numFeature int
	numGroup   int       // outputs: 1 for binary, the class count for multi:softprob
	baseMargin []float32 // initial margin per output group
	nodes      []node
	roots      []int32 // root node index of each tree
	groups     []int32 // output group of each tree
	cover      cover   // each node's hessian sum, parallel to nodes, for explanations (explain.go)

	// perfect is the same forest laid out for fast evaluation, or nil when
	// the forest does not suit that layout (see buildPerfect).
	perfect *perfectForest
	// vector is the layout for the vector kernel that scores blocks of
	// rows, or nil without that kernel or when the forest does not suit it
	// (see buildVector).
	vector *vectorForest
}

// NumClass reports the number of probabilities Predict writes: 1 for a
// binary model (P(positive class)), k for a k-class multi:softprob or
// multi:softmax model.
func (f *Forest) NumClass() int { return f.numGroup }

// NumFeature reports the width of the feature vector the model was trained on.
func (f *Forest) NumFeature() int { return f.numFeature }

// NumTrees reports the number of trees in the model.
func (f *Forest) NumTrees() int { return len(f.roots) }

// Objective reports the model's objective, e.g. "binary:logistic".
func (f *Forest) Objective() string { return f.objective }

// Version reports the XGBoost version that saved the model: "3.2.0" from
// JSON and UBJSON, major.minor ("1.7") from the legacy binary format, ""
// when the file does not record it.
func (f *Forest) Version() string { return f.version }

// Predict writes the model's probabilities for one row into out, which must
// hold at least NumClass() values (a shorter out is a programming error and
// panics like an index out of range). Any row values are fine: NaN is a
// missing value, a row shorter than NumFeature() misses the absent features
// (and costs an allocation), extra trailing values are ignored.
func (f *Forest) Predict(row []float32, out []float32) {
	out = out[:f.numGroup]
	if len(row) < f.numFeature {
		row = padMissing(row, f.numFeature)
	}
	f.predictRow(row[:f.numFeature], out)
}

// PredictBatch scores n rows laid out flat in rows, each len(rows)/n values
// wide (at least NumFeature()), and writes NumClass() probabilities per row
// into out (row i at out[i*NumClass():]). It does not allocate. Shapes that
// do not fit (rows not n equal rows wide enough, out too short) are a
// programming error and panic with a message saying so.
func (f *Forest) PredictBatch(rows []float32, n int, out []float32) {
	if n <= 0 {
		return
	}
	stride := len(rows) / n
	if stride < f.numFeature || len(rows) != stride*n {
		panic(fmt.Sprintf("scoring: PredictBatch: %d values do not form %d rows of at least %d features", len(rows), n, f.numFeature))
	}
	k := f.numGroup
	if len(out) < n*k {
		panic(fmt.Sprintf("scoring: PredictBatch: out holds %d values, need %d", len(out), n*k))
	}
	var block [blockRows][]float32
	for lo := 0; lo < n; lo += blockRows {
		m := min(blockRows, n-lo)
		for i := range m {
			block[i] = rows[(lo+i)*stride : (lo+i)*stride+f.numFeature]
		}
		f.predictBlock(block[:m], out[lo*k:(lo+m)*k])
	}
}

// PredictClass returns the class XGBoost's multi:softmax predicts for row:
// the index of the largest margin, the first on a tie. For a binary model
// it is 1 when P(positive class) > 0.5 (the margin is positive), else 0.
// Rows are read as by Predict.
func (f *Forest) PredictClass(row []float32) int {
	if len(row) < f.numFeature {
		row = padMissing(row, f.numFeature)
	}
	var small [8]float32
	margins := small[:0]
	if f.numGroup > len(small) {
		margins = make([]float32, f.numGroup)
	}
	margins = margins[:f.numGroup]
	f.margins(row[:f.numFeature], margins)
	if f.numGroup == 1 {
		return int(boolToInt32(margins[0] > 0))
	}
	best := 0
	for k, m := range margins {
		if m > margins[best] {
			best = k
		}
	}
	return best
}

// padMissing returns row extended to n values with missing (NaN) ones.
func padMissing(row []float32, n int) []float32 {
	padded := make([]float32, n)
	copied := copy(padded, row)
	for i := copied; i < n; i++ {
		padded[i] = float32(math.NaN())
	}
	return padded
}

// predictRow evaluates a row of exactly numFeature values into out
// (numGroup values). Arithmetic follows XGBoost: float32 margins summed
// in tree order starting from the base margin, then the link function.
func (f *Forest) predictRow(row []float32, out []float32) {
	f.margins(row, out)
	if f.numGroup == 1 {
		out[0] = sigmoid(out[0])
		return
	}
	softmax(out)
}

// margins writes the row's margin of each output group into out (numGroup
// values): the base margin plus every tree of the group, in tree order.
func (f *Forest) margins(row []float32, out []float32) {
	if f.numGroup == 1 {
		margin := f.baseMargin[0]
		if p := f.perfect; p != nil {
			margin = p.addMargin(margin, row)
		} else {
			for _, root := range f.roots {
				margin += f.leaf(root, row)
			}
		}
		out[0] = margin
		return
	}
	copy(out, f.baseMargin)
	if p := f.perfect; p != nil {
		p.addGroupMargins(row, out)
	} else {
		for t, root := range f.roots {
			out[f.groups[t]] += f.leaf(root, row)
		}
	}
}

// goRight is XGBoost's decision, without branches: right iff not x < t,
// except that a missing (NaN) x goes left when the split's default is left.
func goRight(x, threshold float32, feature uint32) int32 {
	missingLeft := boolToInt32(x != x) & int32(feature>>31)
	return boolToInt32(!(x < threshold)) &^ missingLeft
}

// leaf walks one tree from root and returns the leaf value row reaches.
// XGBoost goes left iff value < threshold; a missing (NaN) value follows
// the split's default direction.
func (f *Forest) leaf(root int32, row []float32) float32 {
	nodes := f.nodes
	n := nodes[root]
	for n.left != 0 {
		n = nodes[n.left+goRight(row[n.feature&^defaultLeftBit], n.value, n.feature)]
	}
	return n.value
}

// boolToInt32 compiles to a flag move, keeping the tree walk free of
// data-dependent branches.
func boolToInt32(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// sigmoid is XGBoost's logistic link, computed in float64 and rounded.
func sigmoid(margin float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(margin))))
}

// softmax turns margins into probabilities in place, shifting by the
// maximum as XGBoost does so that large margins cannot overflow.
func softmax(v []float32) {
	maxMargin := v[0]
	for _, m := range v[1:] {
		maxMargin = max(maxMargin, m)
	}
	var sum float64
	for i, m := range v {
		e := math.Exp(float64(m - maxMargin))
		v[i] = float32(e)
		sum += e
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / sum)
	}
}

// rawModel is a decoded model file before validation, common to the JSON,
// UBJSON and legacy binary readers.
type rawModel struct {
	version    string
	objective  string
	booster    string
	numFeature int
	numClass   int       // 0 for binary
	baseScore  []float32 // in probability space (XGBoost >= 1.0); one value or one per class
	trees      []rawTree
	treeInfo   []int32 // output group of each tree
}

// rawTree holds one tree's node arrays as XGBoost stores them.
type rawTree struct {
	left, right []int32
	splitIndex  []int64
	splitCond   []float32
	defaultLeft []bool
	sumHess     []float32 // each node's cover (XGBoost's sum_hessian); nil when the file has none
	categorical bool      // any categorical split
}

// errUnsupported marks models that are well-formed but use a feature the
// evaluator does not implement.
var errUnsupported = errors.New("unsupported model")

// newForest validates a decoded model and flattens it for evaluation.
func newForest(m *rawModel) (*Forest, error) {
	if m.booster != "gbtree" {
		return nil, fmt.Errorf("booster %q: %w: only gbtree is supported (not gblinear or dart)", m.booster, errUnsupported)
	}
	f := &Forest{objective: m.objective, version: m.version, numFeature: m.numFeature}
	switch m.objective {
	case ObjectiveBinaryLogistic, ObjectiveRegLogistic, ObjectiveBinaryLogitRaw:
		if m.numClass > 1 {
			return nil, fmt.Errorf("objective %q with num_class %d: expected num_class 0", m.objective, m.numClass)
		}
		f.numGroup = 1
	case ObjectiveMultiSoftprob, ObjectiveMultiSoftmax:
		if m.numClass < 2 || m.numClass > maxNumClass {
			return nil, fmt.Errorf("objective %q with num_class %d: expected num_class in [2, %d]", m.objective, m.numClass, maxNumClass)
		}
		f.numGroup = m.numClass
	default:
		return nil, fmt.Errorf("objective %q: %w: only %s, %s, %s, %s and %s are supported", m.objective, errUnsupported,
			ObjectiveBinaryLogistic, ObjectiveRegLogistic, ObjectiveBinaryLogitRaw, ObjectiveMultiSoftprob, ObjectiveMultiSoftmax)
	}
	if m.numFeature <= 0 || m.numFeature > maxNumFeature {
		return nil, fmt.Errorf("num_feature %d: out of range [1, %d]", m.numFeature, maxNumFeature)
	}
	margin, err := baseMargin(m.objective, m.baseScore, f.numGroup)
	if err != nil {
		return nil, err
	}
	f.baseMargin = margin
	if len(m.treeInfo) != len(m.trees) {
		return nil, fmt.Errorf("tree_info has %d entries for %d trees", len(m.treeInfo), len(m.trees))
	}
	total := 0
	for i := range m.trees {
		total += len(m.trees[i].left)
		if total > maxForestNodes {
			return nil, fmt.Errorf("model has more than %d nodes", maxForestNodes)
		}
	}
	f.nodes = make([]node, 0, total)
	f.roots = make([]int32, len(m.trees))
	f.groups = make([]int32, len(m.trees))
	for i := range m.trees {
		g := m.treeInfo[i]
		if g < 0 || int(g) >= f.numGroup {
			return nil, fmt.Errorf("tree %d: tree_info class %d: out of range [0, %d)", i, g, f.numGroup)
		}
		f.groups[i] = g
		f.roots[i] = int32(len(f.nodes))
		if err := f.appendTree(&m.trees[i]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	f.perfect = f.buildPerfect()
	f.vector = f.buildVector()
	return f, nil
}

// appendTree validates one tree and appends its reachable nodes in
// breadth-first order, placing the two children of every split side by side.
func (f *Forest) appendTree(t *rawTree) error {
	n := len(t.left)
	if n == 0 {
		return errors.New("no nodes")
	}
	if len(t.right) != n || len(t.splitIndex) != n || len(t.splitCond) != n || len(t.defaultLeft) != n {
		return fmt.Errorf("node arrays differ in length: left_children %d, right_children %d, split_indices %d, split_conditions %d, default_left %d",
			n, len(t.right), len(t.splitIndex), len(t.splitCond), len(t.defaultLeft))
	}
	if t.categorical {
		return fmt.Errorf("categorical split: %w", errUnsupported)
	}
	base := int32(len(f.nodes))
	visited := make([]bool, n)
	visited[0] = true
	// queue holds the source index of each appended node: node k of this
	// tree is f.nodes[base+k] and came from source node queue[k].
	queue := make([]int32, 1, n)
	f.nodes = append(f.nodes, node{})
	for k := 0; k < len(queue); k++ {
		src := queue[k]
		l, r := t.left[src], t.right[src]
		if l == -1 { // XGBoost's IsLeaf looks at the left child only
			v := t.splitCond[src]
			if !(math.Abs(float64(v)) <= maxLeafMagnitude) {
				return fmt.Errorf("node %d: leaf value %v out of range", src, v)
			}
			f.nodes[base+int32(k)] = node{value: v}
			continue
		}
		for _, c := range [2]int32{l, r} {
			if c < 0 || int(c) >= n {
				return fmt.Errorf("node %d: child %d out of range [0, %d)", src, c, n)
			}
			if visited[c] {
				return fmt.Errorf("node %d: child %d is reached twice (not a tree)", src, c)
			}
			visited[c] = true
		}
		feature := t.splitIndex[src]
		if feature < 0 || feature >= int64(f.numFeature) {
			return fmt.Errorf("node %d: split index %d out of range [0, %d)", src, feature, f.numFeature)
		}
		cond := t.splitCond[src]
		if cond != cond {
			return fmt.Errorf("node %d: split condition is NaN", src)
		}
		packed := uint32(feature)
		if t.defaultLeft[src] {
			packed |= defaultLeftBit
		}
		f.nodes[base+int32(k)] = node{value: cond, feature: packed, left: base + int32(len(queue))}
		queue = append(queue, l, r)
		f.nodes = append(f.nodes, node{}, node{})
	}
	f.cover.appendTree(t, queue)
	return nil
}

// baseMargin converts the stored base_score (probability space since
// XGBoost 1.0) into the initial margin of every output group, as XGBoost's
// ProbToMargin does: logit for binary:logistic and reg:logistic, identity
// for binary:logitraw (its base_score is a margin: XGBoost reads it so since
// 1.4, whichever version saved the file) and the multi-class objectives.
func baseMargin(objective string, baseScore []float32, groups int) ([]float32, error) {
	switch len(baseScore) {
	case 1, groups:
	default:
		return nil, fmt.Errorf("base_score has %d values for %d outputs", len(baseScore), groups)
	}
	margin := make([]float32, groups)
	for g := range margin {
		p := baseScore[min(g, len(baseScore)-1)]
		if !(math.Abs(float64(p)) <= maxLeafMagnitude) {
			return nil, fmt.Errorf("base_score %v: out of range", p)
		}
		if objective == ObjectiveBinaryLogistic || objective == ObjectiveRegLogistic {
			if p <= 0 || p >= 1 {
				return nil, fmt.Errorf("base_score %v: outside (0, 1) for %s", p, objective)
			}
			p = float32(-math.Log(1/float64(p) - 1))
		}
		margin[g] = p
	}
	return margin, nil
}
