package scoring

// The fast evaluator. Every tree is padded to a complete binary tree of the
// forest's depth, so a walk takes exactly depth steps with no data-dependent
// branch: split i has children 2i+1 and 2i+2, and the walk ends on leaf
// i - (2^depth - 1). Trees are walked eight at a time so that their
// independent load-compare chains overlap in the CPU (a single walk is one
// long chain of dependent loads), and the eight trees of a group are
// interleaved in memory (entry j of tree k at 8j+k) so that one slice and
// eight indices stay in registers. Rows without missing values
// (every encoded NSL-KDD record) skip the NaN test.

// maxPerfectDepth bounds the padding: a tree takes 2^depth splits (8 bytes)
// and 2^depth leaves (4 bytes), 3 KB at depth 8. Deeper forests use the
// node walker.
const maxPerfectDepth = 8

// perfectGroup is the number of trees walked together.
const perfectGroup = 8

// perfectSplit is a split of a padded tree (8 bytes).
type perfectSplit struct {
	threshold   float32
	feature     uint16
	defaultLeft uint16 // 1 when a missing value goes left
}

// perfectForest holds the trees in groups of perfectGroup: group g's
// splits are splits[g*perfectGroup*stride:], split j of its tree k at
// perfectGroup*j+k, and likewise for leaves. The last group is completed
// with trees whose leaves are 0, which leave every margin unchanged (x+0 is
// exactly x).
type perfectForest struct {
	numGroups int
	depth     int
	stride    int // 1 << depth
	splits    []perfectSplit
	leaves    []float32
	classes   []int32 // output group of each tree, 0 for the padding trees
}

// buildPerfect lays the forest out as padded trees, or returns nil when a
// tree is deeper than maxPerfectDepth, a feature index does not fit in 16
// bits, or padding would blow the size up.
func (f *Forest) buildPerfect() *perfectForest {
	if f.numFeature > 1<<16 {
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
		numGroups: groups,
		depth:     int(depth),
		stride:    stride,
		splits:    make([]perfectSplit, groups*perfectGroup*stride),
		leaves:    make([]float32, groups*perfectGroup*stride),
		classes:   make([]int32, groups*perfectGroup),
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
	split := perfectSplit{threshold: n.value, feature: uint16(n.feature &^ defaultLeftBit)}
	if n.feature&defaultLeftBit != 0 {
		split.defaultLeft = 1
	}
	p.splits[p.slot(t, pos)] = split
	f.fillPerfect(p, t, n.left, level+1, 2*pos+1)
	f.fillPerfect(p, t, n.left+1, level+1, 2*pos+2)
}

// hasMissing reports whether row may hold a NaN: a NaN anywhere makes the
// sum NaN. (Infinities of both signs also do, which only costs the slower
// path.) Four sums keep the additions independent.
func hasMissing(row []float32) bool {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(row); i += 4 {
		s0 += row[i]
		s1 += row[i+1]
		s2 += row[i+2]
		s3 += row[i+3]
	}
	for ; i < len(row); i++ {
		s0 += row[i]
	}
	s := s0 + s1 + s2 + s3
	return s != s
}

// addMargin returns margin plus the leaf values row reaches, added in tree
// order as XGBoost does.
func (p *perfectForest) addMargin(margin float32, row []float32) float32 {
	missing := hasMissing(row)
	size := perfectGroup * p.stride
	first := p.stride - 1 // a walk ends at i >= first, on leaf i - first
	for g := range p.numGroups {
		splits := p.splits[g*size : g*size+size]
		var i0, i1, i2, i3, i4, i5, i6, i7 int
		if missing {
			i0, i1, i2, i3, i4, i5, i6, i7 = walkMissing(splits, row, p.depth)
		} else {
			i0, i1, i2, i3, i4, i5, i6, i7 = walkComplete(splits, row, p.depth)
		}
		leaves := p.leaves[g*size : g*size+size]
		margin += leaves[8*(i0-first)]
		margin += leaves[8*(i1-first)+1]
		margin += leaves[8*(i2-first)+2]
		margin += leaves[8*(i3-first)+3]
		margin += leaves[8*(i4-first)+4]
		margin += leaves[8*(i5-first)+5]
		margin += leaves[8*(i6-first)+6]
		margin += leaves[8*(i7-first)+7]
	}
	return margin
}

// addGroupMargins adds each tree's leaf value to its output group's margin
// (out), in tree order.
func (p *perfectForest) addGroupMargins(row []float32, out []float32) {
	missing := hasMissing(row)
	size := perfectGroup * p.stride
	first := p.stride - 1
	for g := range p.numGroups {
		splits := p.splits[g*size : g*size+size]
		var end [perfectGroup]int
		if missing {
			end[0], end[1], end[2], end[3], end[4], end[5], end[6], end[7] = walkMissing(splits, row, p.depth)
		} else {
			end[0], end[1], end[2], end[3], end[4], end[5], end[6], end[7] = walkComplete(splits, row, p.depth)
		}
		leaves := p.leaves[g*size : g*size+size]
		classes := p.classes[g*perfectGroup : g*perfectGroup+perfectGroup]
		for k, i := range end {
			out[classes[k]] += leaves[perfectGroup*(i-first)+k]
		}
	}
}

// walkComplete walks the eight interleaved trees of a group for a row
// without NaNs, where XGBoost's "not x < t" is simply "t <= x", and returns
// where each walk ends.
func walkComplete(s []perfectSplit, row []float32, depth int) (i0, i1, i2, i3, i4, i5, i6, i7 int) {
	for range depth {
		a := &s[8*i0]
		i0 = 2*i0 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i1+1]
		i1 = 2*i1 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i2+2]
		i2 = 2*i2 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i3+3]
		i3 = 2*i3 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i4+4]
		i4 = 2*i4 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i5+5]
		i5 = 2*i5 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i6+6]
		i6 = 2*i6 + 1 + boolToInt(a.threshold <= row[a.feature])
		a = &s[8*i7+7]
		i7 = 2*i7 + 1 + boolToInt(a.threshold <= row[a.feature])
	}
	return
}

// walkMissing is walkComplete for rows that may hold NaNs.
func walkMissing(s []perfectSplit, row []float32, depth int) (i0, i1, i2, i3, i4, i5, i6, i7 int) {
	for range depth {
		a := &s[8*i0]
		i0 = 2*i0 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i1+1]
		i1 = 2*i1 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i2+2]
		i2 = 2*i2 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i3+3]
		i3 = 2*i3 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i4+4]
		i4 = 2*i4 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i5+5]
		i5 = 2*i5 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i6+6]
		i6 = 2*i6 + 1 + splitRight(a, row[a.feature])
		a = &s[8*i7+7]
		i7 = 2*i7 + 1 + splitRight(a, row[a.feature])
	}
	return
}

// splitRight is XGBoost's decision for a value that may be missing, without
// branches: right iff not x < threshold, except that a NaN goes left when
// the split's default is left.
func splitRight(s *perfectSplit, x float32) int {
	return boolToInt(!(x < s.threshold)) &^ (boolToInt(x != x) & int(s.defaultLeft))
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
