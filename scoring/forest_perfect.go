package scoring

// The fast evaluator. Every tree is padded to a complete binary tree of the
// forest's depth, so a walk takes exactly depth steps with no data-dependent
// branch: split i has children 2i+1 and 2i+2, and the walk ends on leaf
// i - (2^depth - 1). Four trees are walked together so that their
// independent load-compare chains overlap in the CPU. Rows without missing
// values (every encoded NSL-KDD record) skip the NaN test.

// maxPerfectDepth bounds the padding: each tree takes 2^depth splits (8
// bytes) and 2^depth leaves (4 bytes), 3 KB at depth 8. Deeper forests use
// the node walker.
const maxPerfectDepth = 8

// perfectSplit is a split of a padded tree (8 bytes).
type perfectSplit struct {
	threshold float32
	feature   uint32 // feature index | defaultLeftBit
}

// perfectForest holds tree t's splits in splits[t*stride:] and its leaves
// in leaves[t*stride:].
type perfectForest struct {
	numTrees int
	depth    int
	stride   int // 1 << depth
	splits   []perfectSplit
	leaves   []float32
}

// buildPerfect lays the forest out as padded trees, or returns nil when a
// tree is deeper than maxPerfectDepth or padding would blow the size up.
func (f *Forest) buildPerfect() *perfectForest {
	depth := int32(0)
	for t := range f.roots {
		d := f.treeDepth(t)
		if d > maxPerfectDepth {
			return nil
		}
		depth = max(depth, d)
	}
	stride := 1 << depth
	if len(f.roots)*stride > 4*len(f.nodes)+4096 {
		return nil // padding would mostly be waste: many trees far shallower than the deepest
	}
	p := &perfectForest{
		numTrees: len(f.roots),
		depth:    int(depth),
		stride:   stride,
		splits:   make([]perfectSplit, len(f.roots)*stride),
		leaves:   make([]float32, len(f.roots)*stride),
	}
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
			p.leaves[t*p.stride+first+k] = n.value
		}
		return
	}
	p.splits[t*p.stride+pos] = perfectSplit{threshold: n.value, feature: n.feature}
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
	t := 0
	for ; t+4 <= p.numTrees; t += 4 {
		l := p.walk4(t, row, missing)
		margin += l[0]
		margin += l[1]
		margin += l[2]
		margin += l[3]
	}
	for ; t < p.numTrees; t++ {
		margin += p.walk1(t, row)
	}
	return margin
}

// addGroupMargins adds each tree's leaf value to its output group's margin,
// in tree order.
func (p *perfectForest) addGroupMargins(row []float32, groups []int32, out []float32) {
	missing := hasMissing(row)
	t := 0
	for ; t+4 <= p.numTrees; t += 4 {
		l := p.walk4(t, row, missing)
		out[groups[t]] += l[0]
		out[groups[t+1]] += l[1]
		out[groups[t+2]] += l[2]
		out[groups[t+3]] += l[3]
	}
	for ; t < p.numTrees; t++ {
		out[groups[t]] += p.walk1(t, row)
	}
}

// walk4 walks trees t to t+3 and returns their leaf values.
func (p *perfectForest) walk4(t int, row []float32, missing bool) [4]float32 {
	w := p.stride
	s0 := p.splits[t*w : t*w+w]
	s1 := p.splits[t*w+w : t*w+2*w]
	s2 := p.splits[t*w+2*w : t*w+3*w]
	s3 := p.splits[t*w+3*w : t*w+4*w]
	var i0, i1, i2, i3 int
	if missing {
		for range p.depth {
			a, b, c, d := s0[i0], s1[i1], s2[i2], s3[i3]
			i0 = 2*i0 + 1 + int(goRight(row[a.feature&^defaultLeftBit], a.threshold, a.feature))
			i1 = 2*i1 + 1 + int(goRight(row[b.feature&^defaultLeftBit], b.threshold, b.feature))
			i2 = 2*i2 + 1 + int(goRight(row[c.feature&^defaultLeftBit], c.threshold, c.feature))
			i3 = 2*i3 + 1 + int(goRight(row[d.feature&^defaultLeftBit], d.threshold, d.feature))
		}
	} else {
		for range p.depth {
			a, b, c, d := s0[i0], s1[i1], s2[i2], s3[i3]
			i0 = 2*i0 + 1 + int(boolToInt32(!(row[a.feature&^defaultLeftBit] < a.threshold)))
			i1 = 2*i1 + 1 + int(boolToInt32(!(row[b.feature&^defaultLeftBit] < b.threshold)))
			i2 = 2*i2 + 1 + int(boolToInt32(!(row[c.feature&^defaultLeftBit] < c.threshold)))
			i3 = 2*i3 + 1 + int(boolToInt32(!(row[d.feature&^defaultLeftBit] < d.threshold)))
		}
	}
	leaves := p.leaves[t*w : t*w+4*w]
	first := w - 1 // a walk ends at i >= first; its leaf is i - first
	return [4]float32{leaves[i0-first], leaves[w+i1-first], leaves[2*w+i2-first], leaves[3*w+i3-first]}
}

// walk1 walks tree t alone (the forest's last trees when there are not four).
func (p *perfectForest) walk1(t int, row []float32) float32 {
	w := p.stride
	s := p.splits[t*w : t*w+w]
	i := 0
	for range p.depth {
		a := s[i]
		i = 2*i + 1 + int(goRight(row[a.feature&^defaultLeftBit], a.threshold, a.feature))
	}
	return p.leaves[t*w+i-(w-1)]
}
