package scoring

// The fast evaluator. Every tree is padded to a complete binary tree of the
// forest's depth, so a walk takes exactly depth steps with no data-dependent
// branch: split i has children 2i+1 and 2i+2, and the walk ends on leaf
// i - (2^depth - 1). Trees are walked eight at a time so that their
// independent load-compare chains overlap in the CPU (a single walk is one
// long chain of dependent loads), and the eight trees of a group are
// interleaved in memory (entry j of tree k at 8j+k) so that a few slices
// and eight indices stay in registers. Rows without missing values
// (every encoded NSL-KDD record) skip the NaN test.

// maxPerfectDepth bounds the padding: a tree takes 2^depth split slots (7
// bytes each) and 2^depth leaves (4 bytes each), under 3 KB at depth 8.
// Deeper forests use the node walker.
const maxPerfectDepth = 8

// perfectGroup is the number of trees walked together.
const perfectGroup = 8

// perfectMaxFeatures bounds the feature count of forests laid out padded,
// whose feature indices are stored in 16 bits.
const perfectMaxFeatures = 1 << 16

// perfectForest holds the trees in groups of perfectGroup: group g's
// splits start at g*perfectGroup*stride, split j of its tree k at
// perfectGroup*j+k further, and likewise for leaves. The last group is
// completed with trees whose leaves are 0, which leave every margin
// unchanged (x+0 is exactly x).
type perfectForest struct {
	numGroups int
	depth     int
	stride    int // 1 << depth
	// Splits, as parallel arrays so that every load is one instruction.
	thresholds  []float32
	features    []uint16
	defaultLeft []uint8 // 1 when a missing value goes left
	leaves      []float32
	classes     []int32 // output group of each tree, 0 for the padding trees
}

// buildPerfect lays the forest out as padded trees, or returns nil when a
// tree is deeper than maxPerfectDepth, the forest has more than
// perfectMaxFeatures features, or padding would blow the size up.
func (f *Forest) buildPerfect() *perfectForest {
	if f.numFeature > perfectMaxFeatures {
		return nil
	}
	depth := int32(0)
	for t := range f.roots {
		d := f.treeDepth(t)
		if d > maxPerfectDepth {
			return nil
		}
		depth = max(depth, d)
	}
	stride := 1 << depth
	groups := (len(f.roots) + perfectGroup - 1) / perfectGroup
	if groups*perfectGroup*stride > 4*len(f.nodes)+4096 {
		return nil // mostly waste: many trees far shallower than the deepest
	}
	p := &perfectForest{
		numGroups:   groups,
		depth:       int(depth),
		stride:      stride,
		thresholds:  make([]float32, groups*perfectGroup*stride),
		features:    make([]uint16, groups*perfectGroup*stride),
		defaultLeft: make([]uint8, groups*perfectGroup*stride),
		leaves:      make([]float32, groups*perfectGroup*stride),
		classes:     make([]int32, groups*perfectGroup),
	}
	copy(p.classes, f.groups)
	for t, root := range f.roots {
		f.fillPerfect(p, t, root, 0, 0)
	}
	return p
}

// treeDepth returns the number of splits on the longest path of tree t.
// Nodes are in breadth-first order, so a parent's level is known before
// its children's.
func (f *Forest) treeDepth(t int) int32 {
	end := int32(len(f.nodes))
	if t+1 < len(f.roots) {
		end = f.roots[t+1]
	}
	root := f.roots[t]
	level := make([]int32, end-root)
	var deepest int32
	for k, n := range f.nodes[root:end] {
		if n.left == 0 {
			deepest = max(deepest, level[k])
			continue
		}
		child := n.left - root
		level[child] = level[k] + 1
		level[child+1] = level[k] + 1
	}
	return deepest
}

// slot is the index of entry j of tree t in splits or leaves.
func (p *perfectForest) slot(t, j int) int {
	return (t/perfectGroup)*perfectGroup*p.stride + perfectGroup*j + t%perfectGroup
}

// fillPerfect copies the subtree at node i to position pos (at level level)
// of padded tree t.
func (f *Forest) fillPerfect(p *perfectForest, t int, i int32, level, pos int) {
	n := f.nodes[i]
	if n.left == 0 {
		// Every leaf slot below this position gets the value; the splits
		// above them keep their zero value (feature 0, threshold 0), which
		// is harmless since both of their outcomes reach the same value.
		below := p.depth - level
		first := (pos+1)<<below - p.stride
		for k := range 1 << below {
			p.leaves[p.slot(t, first+k)] = n.value
		}
		return
	}
	slot := p.slot(t, pos)
	p.thresholds[slot] = n.value
	p.features[slot] = uint16(n.feature &^ defaultLeftBit)
	if n.feature&defaultLeftBit != 0 {
		p.defaultLeft[slot] = 1
	}
	f.fillPerfect(p, t, n.left, level+1, 2*pos+1)
	f.fillPerfect(p, t, n.left+1, level+1, 2*pos+2)
}

// hasMissing reports whether row may hold a NaN: a NaN anywhere makes the
// sum NaN. (Infinities of both signs also do, which only costs the slower
// path.) Eight sums keep the additions independent.
func hasMissing(row []float32) bool {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(row); i += 8 {
		r := row[i : i+8 : i+8]
		s0 += r[0]
		s1 += r[1]
		s2 += r[2]
		s3 += r[3]
		s4 += r[4]
		s5 += r[5]
		s6 += r[6]
		s7 += r[7]
	}
	for ; i < len(row); i++ {
		s0 += row[i]
	}
	sum := (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
	return sum != sum
}

// addMargin returns margin plus the leaf values row reaches, added in tree
// order as XGBoost does.
func (p *perfectForest) addMargin(margin float32, row []float32) float32 {
	missing := hasMissing(row)
	size := perfectGroup * p.stride
	leafBase := perfectGroup * (p.stride - 1) // a walk ends on slot leafBase + (its leaf's slot)
	for g := range p.numGroups {
		var end [perfectGroup]uint
		p.walk(g, row, missing, &end)
		leaves := p.leaves[g*size : g*size+size]
		for _, slot := range end {
			margin += leaves[slot-uint(leafBase)]
		}
	}
	return margin
}

// addGroupMargins adds each tree's leaf value to its output group's margin
// (out), in tree order.
func (p *perfectForest) addGroupMargins(row []float32, out []float32) {
	missing := hasMissing(row)
	size := perfectGroup * p.stride
	leafBase := perfectGroup * (p.stride - 1)
	for g := range p.numGroups {
		var end [perfectGroup]uint
		p.walk(g, row, missing, &end)
		leaves := p.leaves[g*size : g*size+size]
		classes := p.classes[g*perfectGroup : g*perfectGroup+perfectGroup]
		for k, slot := range end {
			out[classes[k]] += leaves[slot-uint(leafBase)]
		}
	}
}

// walk walks the trees of group g and stores the slot where each ends.
func (p *perfectForest) walk(g int, row []float32, missing bool, end *[perfectGroup]uint) {
	size := perfectGroup * p.stride
	thresholds := p.thresholds[g*size : g*size+size]
	features := p.features[g*size : g*size+size]
	if missing {
		walkMissing(thresholds, features, p.defaultLeft[g*size:g*size+size], row, p.depth, end)
	} else {
		walkComplete(thresholds, features, row, p.depth, end)
	}
}

// walkComplete walks the eight interleaved trees of a group for a row
// without NaNs, where XGBoost's "not x < t" is simply "t <= x", and stores
// the slot where each walk ends. Tree k's split i sits in slot 8i+k, so its
// child 2i+1 (left) or 2i+2 (right) sits in slot 2*slot + 8-k (+8 if right).
// (The bounds checks left in the loop are predicted branches, off the chain
// of dependent loads that bounds the walk's speed; masking the index to
// drop them measured slower.)
func walkComplete(thresholds []float32, features []uint16, row []float32, depth int, end *[perfectGroup]uint) {
	if len(thresholds) == 0 {
		return
	}
	features = features[:len(thresholds)]
	var i0, i1, i2, i3, i4, i5, i6, i7 uint = 0, 1, 2, 3, 4, 5, 6, 7
	for range depth {
		i0 = 2*i0 + 8 + 8*boolToUint(thresholds[i0] <= row[features[i0]])
		i1 = 2*i1 + 7 + 8*boolToUint(thresholds[i1] <= row[features[i1]])
		i2 = 2*i2 + 6 + 8*boolToUint(thresholds[i2] <= row[features[i2]])
		i3 = 2*i3 + 5 + 8*boolToUint(thresholds[i3] <= row[features[i3]])
		i4 = 2*i4 + 4 + 8*boolToUint(thresholds[i4] <= row[features[i4]])
		i5 = 2*i5 + 3 + 8*boolToUint(thresholds[i5] <= row[features[i5]])
		i6 = 2*i6 + 2 + 8*boolToUint(thresholds[i6] <= row[features[i6]])
		i7 = 2*i7 + 1 + 8*boolToUint(thresholds[i7] <= row[features[i7]])
	}
	*end = [perfectGroup]uint{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walkMissing is walkComplete for rows that may hold NaNs.
func walkMissing(thresholds []float32, features []uint16, defaultLeft []uint8, row []float32, depth int, end *[perfectGroup]uint) {
	if len(thresholds) == 0 {
		return
	}
	features = features[:len(thresholds)]
	defaultLeft = defaultLeft[:len(thresholds)]
	var i0, i1, i2, i3, i4, i5, i6, i7 uint = 0, 1, 2, 3, 4, 5, 6, 7
	for range depth {
		i0 = 2*i0 + 8 + 8*splitRight(row[features[i0]], thresholds[i0], defaultLeft[i0])
		i1 = 2*i1 + 7 + 8*splitRight(row[features[i1]], thresholds[i1], defaultLeft[i1])
		i2 = 2*i2 + 6 + 8*splitRight(row[features[i2]], thresholds[i2], defaultLeft[i2])
		i3 = 2*i3 + 5 + 8*splitRight(row[features[i3]], thresholds[i3], defaultLeft[i3])
		i4 = 2*i4 + 4 + 8*splitRight(row[features[i4]], thresholds[i4], defaultLeft[i4])
		i5 = 2*i5 + 3 + 8*splitRight(row[features[i5]], thresholds[i5], defaultLeft[i5])
		i6 = 2*i6 + 2 + 8*splitRight(row[features[i6]], thresholds[i6], defaultLeft[i6])
		i7 = 2*i7 + 1 + 8*splitRight(row[features[i7]], thresholds[i7], defaultLeft[i7])
	}
	*end = [perfectGroup]uint{i0, i1, i2, i3, i4, i5, i6, i7}
}

// splitRight is XGBoost's decision for a value that may be missing, without
// branches: right iff not x < threshold, except that a NaN goes left when
// the split's default is left.
func splitRight(x, threshold float32, defaultLeft uint8) uint {
	return boolToUint(!(x < threshold)) &^ (boolToUint(x != x) & uint(defaultLeft))
}

func boolToUint(b bool) uint {
	if b {
		return 1
	}
	return 0
}
