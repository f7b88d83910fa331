package scoring

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Explanations: exact per-feature contributions by path-dependent TreeSHAP
// (Lundberg, Erion and Lee, "Consistent individualized feature attribution
// for tree ensembles", Algorithm 2), the algorithm behind XGBoost's
// Booster.predict(pred_contribs=True). A row's contributions, plus the bias
// (the model's expected margin over the training data), add up to its margin,
// the log-odds before the sigmoid. Two implementations give the same
// numbers: the exact walk follows XGBoost's src/predictor/treeshap.cc
// (3.2.0) step for step in float32 (within 1.1e-7 of XGBoost on the
// bundled model), and the block tables of explain_tables.go, 15 times
// faster, which Explain uses whenever the forest suits them (within 1.9e-6).

// errNoCover marks a model that cannot be explained because its file does
// not record each node's cover (the hessian sum of the training rows that
// reached it), which TreeSHAP weighs the branches by.
var errNoCover = errors.New("the model file does not record node covers (sum_hessian)")

// cover holds each node's cover, parallel to Forest.nodes, as appendTree
// lays the nodes out.
type cover struct {
	values  []float32
	missing bool // some tree had no sum_hessian: values is nil
}

// appendTree records the covers of the nodes appendTree just appended:
// appended node k came from source node queue[k].
func (c *cover) appendTree(t *rawTree, queue []int32) {
	if c.missing {
		return
	}
	if len(t.sumHess) != len(t.left) {
		c.missing, c.values = true, nil
		return
	}
	for _, src := range queue {
		c.values = append(c.values, t.sumHess[src])
	}
}

// pathElement is one unique feature on the path from the root, as in
// XGBoost's PathElement: pweight is the permutation weight of the subsets
// with i-1 features present, zero the fraction of the training data (by
// cover) that the path's splits on this feature keep, one whether the row
// follows all of them (1) or not (0).
type pathElement struct {
	feature int32 // -1 for the root's placeholder
	zero    float32
	one     float32
	pweight float32
}

// Explainer computes a Forest's TreeSHAP contributions one row at a time,
// allocation-free: it holds the model's per-node expected values and its own
// scratch space. It is not safe for concurrent use; use one per goroutine
// (Forest.NewExplainer builds the tables, 408 KB for the bundled binary
// model; Clone shares them).
type Explainer struct {
	f     *Forest
	cover []float32 // the forest's, parallel to f.nodes
	mean  []float32 // each node's expected value: its leaves weighed by cover
	bias  float32   // the trees' root means summed, then the base margin

	// treeFeatures[treeFeatureStart[t]:treeFeatureStart[t+1]] are the
	// distinct features tree t splits on: the only entries of tree it touches.
	treeFeatures     []int32
	treeFeatureStart []int32

	columns []column    // names and words per column: the spec's, or f<index>
	tables  *leafTables // the fast path (explain_tables.go); nil: the exact walk only

	path []pathElement // triangular scratch: depth d's path starts at d(d+1)/2
	tree []float32     // one tree's contributions, zero between trees
	row  []float32     // a short row padded with NaN
	phi  []float32     // Top's contributions
	top  []int32       // Top's selection

	acc   []float64   // the fast path's sums
	stack []tableStep // the fast path's branches still to walk
}

// NewExplainer prepares TreeSHAP for the forest. It fails for a model whose
// file lacks node covers (hand-written JSON without sum_hessian), a
// multi-class model (refused: verdicts explain the binary model), or covers that cannot weigh a split
// (not positive and finite).
func (f *Forest) NewExplainer() (*Explainer, error) {
	if f.numGroup != 1 {
		return nil, fmt.Errorf("preparing explanations: %d output groups: %w: only binary models are explained", f.numGroup, errUnsupported)
	}
	if f.cover.missing || len(f.cover.values) != len(f.nodes) {
		return nil, fmt.Errorf("preparing explanations: %w", errNoCover)
	}
	e := &Explainer{
		f:                f,
		cover:            f.cover.values,
		mean:             make([]float32, len(f.nodes)),
		treeFeatureStart: make([]int32, 1, len(f.roots)+1),
		tree:             make([]float32, f.numFeature+1),
		row:              make([]float32, f.numFeature),
		phi:              make([]float32, f.numFeature+1),
		columns:          make([]column, f.numFeature),
	}
	for j := range e.columns {
		name := "f" + strconv.Itoa(j)
		e.columns[j] = column{feature: name, why: name, whyNot: name}
	}
	for i, n := range f.nodes {
		if n.left == 0 {
			continue
		}
		if c := e.cover[i]; !(c > 0 && c <= math.MaxFloat32) {
			return nil, fmt.Errorf("preparing explanations: node %d: cover %v: want positive and finite", i, c)
		}
		for _, child := range [2]int32{n.left, n.left + 1} {
			if c := e.cover[child]; !(c >= 0 && c <= math.MaxFloat32) {
				return nil, fmt.Errorf("preparing explanations: node %d: cover %v: want non-negative and finite", child, c)
			}
		}
	}
	// Nodes come in breadth-first order with children after their parent,
	// so a backward pass sees both children before the parent. This is
	// XGBoost's FillNodeMeanValues, operation for operation.
	for i := len(f.nodes) - 1; i >= 0; i-- {
		n := f.nodes[i]
		if n.left == 0 {
			e.mean[i] = n.value
			continue
		}
		l, r := n.left, n.left+1
		result := float32(e.mean[l] * e.cover[l])
		result += float32(e.mean[r] * e.cover[r])
		e.mean[i] = result / e.cover[i]
	}
	depth := int32(0)
	seen := make([]bool, f.numFeature)
	for t, root := range f.roots {
		e.bias += e.mean[root]
		depth = max(depth, f.treeDepth(t))
		end := int32(len(f.nodes))
		if t+1 < len(f.roots) {
			end = f.roots[t+1]
		}
		first := len(e.treeFeatures)
		for _, n := range f.nodes[root:end] {
			if feature := n.feature &^ defaultLeftBit; n.left != 0 && !seen[feature] {
				seen[feature] = true
				e.treeFeatures = append(e.treeFeatures, int32(feature))
			}
		}
		for _, feature := range e.treeFeatures[first:] {
			seen[feature] = false
		}
		e.treeFeatureStart = append(e.treeFeatureStart, int32(len(e.treeFeatures)))
	}
	e.bias += f.baseMargin[0]
	maxd := int(depth) + 2
	e.path = make([]pathElement, maxd*(maxd+1)/2)
	e.tables = buildLeafTables(f, e.cover)
	e.acc = make([]float64, f.numFeature)
	e.stack = make([]tableStep, 0, depth+1)
	return e, nil
}

// Clone returns an Explainer of the same model with scratch space of its
// own, for another goroutine; the model's tables are shared, not copied.
func (e *Explainer) Clone() *Explainer {
	c := *e
	c.path = make([]pathElement, len(e.path))
	c.tree = make([]float32, len(e.tree))
	c.row = make([]float32, len(e.row))
	c.phi = make([]float32, len(e.phi))
	c.top = nil
	c.acc = make([]float64, len(e.acc))
	c.stack = make([]tableStep, 0, cap(e.stack))
	return &c
}

// NumFeature is the number of feature contributions Explain writes before
// the bias.
func (e *Explainer) NumFeature() int { return e.f.numFeature }

// Bias is the model's expected margin, the same for every row: the sum of
// the trees' expected values and the base margin.
func (e *Explainer) Bias() float32 { return e.bias }

// Explain writes row's contributions into phi, which must hold at least
// NumFeature()+1 values (a shorter phi is a programming error and panics):
// phi[j] is feature j's contribution to the margin and phi[NumFeature()] the
// bias, so that their sum is the model's margin for the row, as XGBoost's
// pred_contribs. Rows are read as Predict reads them: NaN is missing and
// follows the split's default direction, a short row misses its absent
// features. It does not allocate.
func (e *Explainer) Explain(row []float32, phi []float32) {
	f := e.f
	width := f.numFeature
	phi = phi[:width+1]
	if len(row) < width {
		n := copy(e.row, row)
		for i := n; i < width; i++ {
			e.row[i] = float32(math.NaN())
		}
		row = e.row
	}
	row = row[:width]
	clear(phi)
	if e.tables != nil {
		acc := e.acc
		clear(acc)
		for _, root := range f.roots {
			e.stack = e.tables.addTree(f.nodes, root, row, acc, e.stack)
		}
		for j, v := range acc[:width] {
			phi[j] = float32(v)
		}
	} else {
		e.exactTrees(row, phi)
	}
	phi[width] = e.bias
}

// exactTrees adds every tree's contributions to phi as XGBoost does: each
// tree's in a buffer of its own, added to phi after the tree.
func (e *Explainer) exactTrees(row, phi []float32) {
	for t, root := range e.f.roots {
		e.treeShap(row, root, 0, 0, 1, 1, -1)
		for _, j := range e.treeFeatures[e.treeFeatureStart[t]:e.treeFeatureStart[t+1]] {
			phi[j] += e.tree[j]
			e.tree[j] = 0
		}
	}
}

// treeShap is XGBoost's TreeShap for node nidx (condition 0: no feature
// fixed), accumulating into e.tree. parent is the path down to the parent,
// uniqueDepth elements long plus the root's placeholder, stored at
// e.path[pathStart:].
func (e *Explainer) treeShap(row []float32, nidx int32, pathStart, uniqueDepth int, parentZero, parentOne float32, parentFeature int32) {
	parent := e.path[pathStart : pathStart+uniqueDepth+1]
	start := pathStart + uniqueDepth + 1
	path := e.path[start : start+uniqueDepth+2]
	copy(path, parent)
	extendPath(path, uniqueDepth, parentZero, parentOne, parentFeature)

	n := e.f.nodes[nidx]
	if n.left == 0 {
		for i := 1; i <= uniqueDepth; i++ {
			w := unwoundPathSum(path, uniqueDepth, i)
			el := &path[i]
			e.tree[el.feature] += float32(float32(w*(el.one-el.zero)) * n.value)
		}
		return
	}
	feature := int32(n.feature &^ defaultLeftBit)
	hot := n.left + goRight(row[feature], n.value, n.feature)
	cold := n.left + n.left + 1 - hot
	w := e.cover[nidx]
	hotZero := e.cover[hot] / w
	coldZero := e.cover[cold] / w
	incomingZero, incomingOne := float32(1), float32(1)

	// A feature split on before is unwound so that this split redoes it.
	pathIndex := 0
	for ; pathIndex <= uniqueDepth; pathIndex++ {
		if path[pathIndex].feature == feature {
			break
		}
	}
	if pathIndex != uniqueDepth+1 {
		incomingZero = path[pathIndex].zero
		incomingOne = path[pathIndex].one
		unwindPath(path, uniqueDepth, pathIndex)
		uniqueDepth--
	}
	e.treeShap(row, hot, start, uniqueDepth+1, hotZero*incomingZero, incomingOne, feature)
	e.treeShap(row, cold, start, uniqueDepth+1, coldZero*incomingZero, 0, feature)
}

// extendPath is XGBoost's ExtendPath: it appends a feature with the given
// fractions at path[uniqueDepth] and updates the permutation weights.
func extendPath(path []pathElement, uniqueDepth int, zero, one float32, feature int32) {
	path[uniqueDepth] = pathElement{feature: feature, zero: zero, one: one}
	if uniqueDepth == 0 {
		path[0].pweight = 1
	}
	d1 := float32(uniqueDepth + 1)
	for i := uniqueDepth - 1; i >= 0; i-- {
		path[i+1].pweight += float32(float32(one*path[i].pweight)*float32(i+1)) / d1
		path[i].pweight = float32(float32(zero*path[i].pweight)*float32(uniqueDepth-i)) / d1
	}
}

// unwindPath is XGBoost's UnwindPath: it removes path[pathIndex] and
// restores the permutation weights without it.
func unwindPath(path []pathElement, uniqueDepth, pathIndex int) {
	one := path[pathIndex].one
	zero := path[pathIndex].zero
	nextOnePortion := path[uniqueDepth].pweight
	d1 := float32(uniqueDepth + 1)
	for i := uniqueDepth - 1; i >= 0; i-- {
		if one != 0 {
			tmp := path[i].pweight
			path[i].pweight = float32(nextOnePortion*d1) / float32(float32(i+1)*one)
			nextOnePortion = tmp - float32(float32(float32(path[i].pweight*zero)*float32(uniqueDepth-i))/d1)
		} else {
			path[i].pweight = float32(path[i].pweight*d1) / float32(zero*float32(uniqueDepth-i))
		}
	}
	for i := pathIndex; i < uniqueDepth; i++ {
		path[i].feature = path[i+1].feature
		path[i].zero = path[i+1].zero
		path[i].one = path[i+1].one
	}
}

// unwoundPathSum is XGBoost's UnwoundPathSum: the total permutation weight
// the path would have without path[pathIndex].
func unwoundPathSum(path []pathElement, uniqueDepth, pathIndex int) float32 {
	one := path[pathIndex].one
	zero := path[pathIndex].zero
	nextOnePortion := path[uniqueDepth].pweight
	d1 := float32(uniqueDepth + 1)
	var total float32
	for i := uniqueDepth - 1; i >= 0; i-- {
		switch {
		case one != 0:
			tmp := float32(nextOnePortion*d1) / float32(float32(i+1)*one)
			total += tmp
			nextOnePortion = path[i].pweight - float32(float32(tmp*zero)*(float32(uniqueDepth-i)/d1))
		case zero != 0:
			total += (path[i].pweight / zero) / (float32(uniqueDepth-i) / d1)
		}
	}
	return total
}

// Contribution is one feature's share of a row's margin, for a verdict's
// explanation.
type Contribution struct {
	// Feature is the column: a numeric feature's name ("src_bytes"), or for
	// a one-hot column its field and value ("service=private"). Without a
	// spec (Forest.NewExplainer), XGBoost's default name "f<index>".
	Feature string `json:"feature"`
	// Value is the row's value of the column: 1 or 0 for a one-hot column
	// (the row has that service, or another), NaN when missing.
	Value float32 `json:"value"`
	// Contribution is what the feature adds to the margin (log-odds of
	// attack): positive pushes toward attack, negative toward normal.
	Contribution float32 `json:"contribution"`
	// Why is the feature in plain words ("SYN errors among connections to
	// the same host in the last 2 s"), "not ..." for a one-hot column the
	// row does not have; the column name when no words are known.
	Why string `json:"why"`
}

// NewExplainer prepares explanations of the detector's binary model, with
// its columns named after the spec (see Forest.NewExplainer).
func (d *Detector) NewExplainer() (*Explainer, error) {
	switch {
	case d.binary.lgbm != nil:
		return nil, fmt.Errorf("preparing explanations: LightGBM binary model: %w: only XGBoost forests are explained", errUnsupported)
	case d.binary.forest == nil:
		return nil, errors.New("preparing explanations: the detector has no binary model")
	}
	e, err := d.binary.forest.NewExplainer()
	if err != nil {
		return nil, err
	}
	if cols := specColumns(d.spec); len(cols) == e.NumFeature() {
		e.columns = cols
	}
	return e, nil
}

// Top explains row and appends its k largest contributions by magnitude
// (largest first, ties by column order; columns that contribute exactly 0
// are left out) to dst[:0], which it returns. It allocates only when dst
// lacks room for k.
func (e *Explainer) Top(row []float32, k int, dst []Contribution) []Contribution {
	e.Explain(row, e.phi)
	dst = dst[:0]
	if k <= 0 {
		return dst
	}
	// top holds the indices of the k largest so far, largest first.
	top := e.top[:0]
	if cap(top) < k {
		top = make([]int32, 0, k)
	}
	for j, c := range e.phi[:e.f.numFeature] {
		mag := abs32(c)
		if mag == 0 || (len(top) == k && mag <= abs32(e.phi[top[k-1]])) {
			continue
		}
		if len(top) < k {
			top = append(top, 0)
		}
		i := len(top) - 1
		for ; i > 0 && mag > abs32(e.phi[top[i-1]]); i-- {
			top[i] = top[i-1]
		}
		top[i] = int32(j)
	}
	e.top = top
	for _, j := range top {
		col := &e.columns[j]
		value := float32(math.NaN())
		if int(j) < len(row) {
			value = row[j]
		}
		why := col.why
		if value == 0 {
			why = col.whyNot
		}
		dst = append(dst, Contribution{Feature: col.feature, Value: value, Contribution: e.phi[j], Why: why})
	}
	return dst
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
