package scoring

// Blocked evaluation: a block of rows is walked one group of eight trees
// at a time, so that the group's splits are fetched into the L1 cache once
// for the block rather than once per row. A row-by-row walk streams the
// whole forest through the cache for every row, and with a binary and a
// category forest (~70 KB of splits and leaves for the bundled connection-
// log models) that is more than L1 holds. Each row still adds its trees in
// tree order, so the results are bit-identical to Predict's.

// blockRows is how many rows share a walk of each group: their features
// (122 floats each) and a group's splits fit in L1 together.
const blockRows = 16

// predictBlock is Predict for up to blockRows rows of exactly NumFeature()
// values each: row i's probabilities go to out[i*NumClass():].
func (f *Forest) predictBlock(rows [][]float32, out []float32) {
	k := f.numGroup
	if f.perfect == nil && f.vector == nil {
		for i, row := range rows {
			f.predictRow(row, out[i*k:i*k+k])
		}
		return
	}
	for i := range rows {
		copy(out[i*k:i*k+k], f.baseMargin)
	}
	if f.vector != nil {
		f.vector.addBlockMargins(rows, k, out[:len(rows)*k])
	} else {
		f.perfect.addBlockMargins(rows, k, out[:len(rows)*k])
	}
	for i := range rows {
		if k == 1 {
			out[i] = sigmoid(out[i])
		} else {
			softmax(out[i*k : i*k+k])
		}
	}
}

// addBlockMargins adds to each row's margins (out[i*groups:], groups per
// row) the leaves the row reaches, group of trees by group of trees.
func (p *perfectForest) addBlockMargins(rows [][]float32, groups int, out []float32) {
	var missing [blockRows]bool
	for i, row := range rows {
		missing[i] = hasMissing(row)
	}
	size := perfectGroup * p.stride
	leafBase := uint(perfectGroup * (p.stride - 1))
	for g := range p.numGroups {
		leaves := p.leaves[g*size : g*size+size]
		classes := p.classes[g*perfectGroup : g*perfectGroup+perfectGroup]
		for i, row := range rows {
			var end [perfectGroup]uint
			p.walk(g, row, missing[i], &end)
			if groups == 1 {
				m := out[i]
				for _, slot := range end {
					m += leaves[slot-leafBase]
				}
				out[i] = m
				continue
			}
			margins := out[i*groups : i*groups+groups]
			for k, slot := range end {
				margins[classes[k]] += leaves[slot-leafBase]
			}
		}
	}
}
