package scoring

// The fast path of Explain. Path-dependent TreeSHAP gives leaf l, reached
// through the unique features F (d of them), the contribution to feature
// i in F
//
//	v_l (o_i - z_i) sum over S in F\{i} of |S|! (d-|S|-1)! / d! prod_{j in S} o_j prod_{j not in S, j != i} z_j
//
// where z_j is the share of the training data (by cover) that the path's
// splits on j keep, and o_j is 1 when the row satisfies all of them, else
// 0 (Lundberg et al. 2018). Everything but the o's is fixed by the model,
// so the contributions are tabulated when the explainer is made (in
// float64): a tree is cut into blocks, subtrees small enough that the
// pattern of o's of the path above a block and the outcomes of the
// block's own splits (at most maxBlockBits bits in all) index a table row
// that holds the sum of all the block's leaves' contributions. Explaining a
// row walks the splits above the blocks, carrying the pattern down (each
// split sets or clears one bit), and per block tests its splits and adds
// one row: a few nanoseconds a block instead of XGBoost's O(d^2) path
// unwinding with divisions at every leaf. The sums are the same numbers,
// rounded differently: TestExplainMatchesXGBoost holds both paths to
// XGBoost within 1e-5.

// maxBlockBits bounds a block's index: the unique features on the path
// above it plus its own splits. A leaf whose path has more unique features
// than this cannot be tabulated, and its forest keeps the exact walk.
const maxBlockBits = 8

// maxTableValues bounds the tables' total size (16 MB).
const maxTableValues = 4 << 20

// leafTables holds the blocks of a forest. It is immutable once built.
type leafTables struct {
	// Per node (indexed like Forest.nodes): for a split walked above the
	// blocks, set has the bit of its feature's position on the path when
	// the feature is new there (its pattern bit starts at 1), bit the bit
	// of that position (cleared for the branch the row does not take);
	// block is 1 + the index of the block rooted at the node, 0 for none.
	set, bit []uint32
	block    []int32
	blocks   []tableBlock
	splits   []int32   // the blocks' splits, each block's in index bit order
	columns  []int32   // the blocks' features
	values   []float32 // the blocks' rows
}

// tableBlock is a subtree tabulated whole: its splits are
// splits[split0:split0+numSplits], its columns columns[col0:col0+numCols],
// and the row for index p | outcomes<<depth (p the pattern above it,
// outcomes its splits' goRight bits) is values[val0+index*numCols:][:numCols].
type tableBlock struct {
	split0, col0, val0 int32
	numSplits, numCols int32
	depth              uint32 // unique features on the path above it
}

// pathFeature is one unique feature on a path while building the tables.
type pathFeature struct {
	feature int32
	zero    float64 // product of the cover shares of the path's splits on it
}

// tableBuilder carries the forest and the tables while building them.
type tableBuilder struct {
	f       *Forest
	cover   []float32
	t       *leafTables
	weights [][]float64
}

// buildLeafTables tabulates every tree, or returns nil when a leaf's path
// has more than maxBlockBits unique features or the tables would exceed
// maxTableValues.
func buildLeafTables(f *Forest, cover []float32) *leafTables {
	b := &tableBuilder{
		f:     f,
		cover: cover,
		t: &leafTables{
			set:   make([]uint32, len(f.nodes)),
			bit:   make([]uint32, len(f.nodes)),
			block: make([]int32, len(f.nodes)),
		},
		weights: shapWeights(maxBlockBits),
	}
	var path [maxBlockBits + 1]pathFeature
	for _, root := range f.roots {
		if !b.walk(root, path[:0]) {
			return nil
		}
	}
	return b.t
}

// walk makes node idx a block if it fits, else a walked split whose
// children are built in turn; path is the unique features above idx.
func (b *tableBuilder) walk(idx int32, path []pathFeature) bool {
	if splits, ok := b.fits(idx, len(path)); ok {
		return b.addBlock(idx, path, splits)
	}
	n := b.f.nodes[idx]
	if n.left == 0 || len(path) == maxBlockBits {
		return false // a leaf too deep in unique features
	}
	pos, path := b.split(idx, path)
	saved := path[pos]
	for _, child := range [2]int32{n.left, n.left + 1} {
		path[pos].zero = saved.zero * (float64(b.cover[child]) / float64(b.cover[idx]))
		if !b.walk(child, path) {
			return false
		}
	}
	path[pos] = saved
	return true
}

// split notes the position of split idx's feature on path, appending it
// when new, and returns the position and the path below the split.
func (b *tableBuilder) split(idx int32, path []pathFeature) (int, []pathFeature) {
	feature := int32(b.f.nodes[idx].feature &^ defaultLeftBit)
	pos := 0
	for pos < len(path) && path[pos].feature != feature {
		pos++
	}
	if pos == len(path) {
		b.t.set[idx] = 1 << pos
		path = append(path, pathFeature{feature: feature, zero: 1})
	}
	b.t.bit[idx] = 1 << pos
	return pos, path
}

// fits lists the splits of the subtree at idx when the path's depth plus
// their count fits maxBlockBits.
func (b *tableBuilder) fits(idx int32, depth int) ([]int32, bool) {
	var splits []int32
	stack := []int32{idx}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := b.f.nodes[i]
		if n.left == 0 {
			continue
		}
		splits = append(splits, i)
		if depth+len(splits) > maxBlockBits {
			return nil, false
		}
		stack = append(stack, n.left+1, n.left)
	}
	return splits, true
}

// addBlock tabulates the subtree at idx, whose splits are splits, below path.
func (b *tableBuilder) addBlock(idx int32, path []pathFeature, splits []int32) bool {
	t := b.t
	depth := len(path)
	bits := depth + len(splits)
	blk := tableBlock{
		split0:    int32(len(t.splits)),
		col0:      int32(len(t.columns)),
		val0:      int32(len(t.values)),
		numSplits: int32(len(splits)),
		depth:     uint32(depth),
	}
	t.splits = append(t.splits, splits...)
	for _, p := range path {
		t.columns = append(t.columns, p.feature)
	}
	for _, s := range splits {
		if feature := int32(b.f.nodes[s].feature &^ defaultLeftBit); !containsInt32(t.columns[blk.col0:], feature) {
			t.columns = append(t.columns, feature)
		}
	}
	cols := t.columns[blk.col0:]
	blk.numCols = int32(len(cols))
	if len(t.values)+len(cols)<<bits > maxTableValues {
		return false
	}
	// Each leaf's contributions for every pattern of its path, and the
	// columns they go to.
	leaves := map[int32]leafRows{}
	if !b.leafRows(idx, append([]pathFeature(nil), path...), cols, leaves) {
		return false
	}
	order := map[int32]uint{} // split -> its bit in the index
	for j, s := range splits {
		order[s] = uint(depth + j)
	}
	row := make([]float64, len(cols))
	for index := range 1 << bits {
		clear(row)
		b.sumBlock(idx, uint32(index)&(1<<depth-1), uint32(index), order, leaves, row)
		for _, v := range row {
			t.values = append(t.values, float32(v))
		}
	}
	t.blocks = append(t.blocks, blk)
	t.block[idx] = int32(len(t.blocks))
	return true
}

// leafRows is one leaf's tabulated contributions: for pattern p, the d
// values rows[p*d:][:d] go to columns cols.
type leafRows struct {
	rows []float64
	cols []int
}

// leafRows tabulates the leaves below idx (path: the unique features above
// it), and positions the block's bits on the way as walk does.
func (b *tableBuilder) leafRows(idx int32, path []pathFeature, blockCols []int32, out map[int32]leafRows) bool {
	n := b.f.nodes[idx]
	if n.left == 0 {
		if len(path) > maxBlockBits {
			return false
		}
		lr := leafRows{rows: appendLeafTable(nil, path, float64(n.value), b.weights[len(path)])}
		for _, p := range path {
			for c, feature := range blockCols {
				if feature == p.feature {
					lr.cols = append(lr.cols, c)
				}
			}
		}
		out[idx] = lr
		return true
	}
	if len(path) == maxBlockBits {
		return false
	}
	pos, path := b.split(idx, path)
	saved := path[pos]
	for _, child := range [2]int32{n.left, n.left + 1} {
		path[pos].zero = saved.zero * (float64(b.cover[child]) / float64(b.cover[idx]))
		if !b.leafRows(child, path, blockCols, out) {
			return false
		}
	}
	path[pos] = saved
	return true
}

// sumBlock adds to row the contributions of the leaves below idx for the
// block index, the path above having pattern.
func (b *tableBuilder) sumBlock(idx int32, pattern, index uint32, order map[int32]uint, leaves map[int32]leafRows, row []float64) {
	n := b.f.nodes[idx]
	if n.left == 0 {
		lr := leaves[idx]
		d := len(lr.cols)
		for k, c := range lr.cols {
			row[c] += lr.rows[int(pattern)*d+k]
		}
		return
	}
	pattern |= b.t.set[idx]
	hot := n.left + int32(index>>order[idx]&1)
	b.sumBlock(hot, pattern, index, order, leaves, row)
	b.sumBlock(2*n.left+1-hot, pattern&^b.t.bit[idx], index, order, leaves, row)
}

func containsInt32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// shapWeights returns w[d][s] = s! (d-s-1)! / d!, the Shapley weight of a
// subset of s of the other d-1 features, for d up to maxDepth.
func shapWeights(maxDepth int) [][]float64 {
	fact := make([]float64, maxDepth+1)
	fact[0] = 1
	for i := 1; i <= maxDepth; i++ {
		fact[i] = fact[i-1] * float64(i)
	}
	w := make([][]float64, maxDepth+1)
	for d := 1; d <= maxDepth; d++ {
		w[d] = make([]float64, d)
		for s := range d {
			w[d][s] = fact[s] * fact[d-s-1] / fact[d]
		}
	}
	return w
}

// appendLeafTable appends a leaf's 2^d rows of d contributions.
func appendLeafTable(values []float64, path []pathFeature, leaf float64, w []float64) []float64 {
	d := len(path)
	var poly [maxBlockBits]float64
	for pattern := range 1 << d {
		for i := range path {
			// Coefficients of prod_{j != i} (z_j + o_j y): the weight of
			// the subsets of each size.
			poly[0] = 1
			size := 1
			for j, p := range path {
				if j == i {
					continue
				}
				one := float64(pattern >> j & 1)
				poly[size] = 0
				for s := size; s > 0; s-- {
					poly[s] = p.zero*poly[s] + one*poly[s-1]
				}
				poly[0] *= p.zero
				size++
			}
			var sum float64
			for s := range size {
				sum += poly[s] * w[s]
			}
			one := float64(pattern >> i & 1)
			values = append(values, leaf*(one-path[i].zero)*sum)
		}
	}
	return values
}

// tableStep is a subtree still to walk: its root and the pattern above it.
type tableStep struct {
	node    int32
	pattern uint32
}

// addTree adds the contributions of the tree at root to acc, walking the
// hot path down to a block and stacking the cold branches (stack needs room
// for the tree's depth). Accumulating in float64 keeps the sum of the
// table values as close to XGBoost's per-tree sums as its own rounding.
func (t *leafTables) addTree(nodes []node, root int32, row []float32, acc []float64, stack []tableStep) []tableStep {
	stack = append(stack[:0], tableStep{node: root})
	for len(stack) > 0 {
		step := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		idx, pattern := step.node, step.pattern
		for t.block[idx] == 0 {
			n := nodes[idx]
			pattern |= t.set[idx]
			hot := n.left + goRight(row[n.feature&^defaultLeftBit], n.value, n.feature)
			stack = append(stack, tableStep{node: 2*n.left + 1 - hot, pattern: pattern &^ t.bit[idx]})
			idx = hot
		}
		blk := &t.blocks[t.block[idx]-1]
		index := pattern
		for j, s := range t.splits[blk.split0 : blk.split0+blk.numSplits] {
			n := nodes[s]
			index |= uint32(goRight(row[n.feature&^defaultLeftBit], n.value, n.feature)) << (blk.depth + uint32(j))
		}
		cols := t.columns[blk.col0 : blk.col0+blk.numCols]
		base := blk.val0 + int32(index)*blk.numCols
		values := t.values[base : base+blk.numCols]
		for k, j := range cols {
			acc[j] += float64(values[k])
		}
	}
	return stack
}
