package scoring

import (
	"fmt"
	"unsafe"
)

// The vector evaluator, for CPUs with AVX-512 or AVX2
// (forest_vector_amd64.s). It scores blockRows rows at once, one 16-lane
// register (or two of 8 lanes) per feature, and never walks a tree: every
// split of a tree is compared for all sixteen rows, and the leaf each row reaches is found with bit masks, as in
// QuickScorer (Lucchese et al., SIGIR 2015). A tree's leaves are numbered
// left to right in the bits of a 32-bit word; a split that sends a row
// right rules out the leaves of its left subtree, so the row's word starts
// with every bit set, is ANDed with the "keep" mask of each split that
// sends the row right, and the row's leaf is the lowest bit left. The order
// of the ANDs does not matter, so splits whose missing values go left and
// those whose missing values go right are compared in two runs with two
// comparisons, and NaNs follow XGBoost's default directions exactly. A
// tree costs about four instructions per split for sixteen rows with
// AVX-512 (twice as many with AVX2, the same time on AMD Zen 4) where the
// padded walker (forest_perfect.go) costs about a dozen per level per row,
// and the margins are still summed in tree order, so the results are
// bit-identical to Predict's.

// vectorKernel names an implementation of the kernel.
type vectorKernel uint8

const (
	kernelAVX512 vectorKernel = iota + 1
	kernelAVX2
)

func (k vectorKernel) String() string {
	switch k {
	case kernelAVX512:
		return "avx512"
	case kernelAVX2:
		return "avx2"
	}
	return fmt.Sprintf("vectorKernel(%d)", uint8(k))
}

// maxVectorLeaves is the most leaves a tree may have: one bit each in a
// 32-bit lane (max_depth 5 trees have at most 32).
const maxVectorLeaves = 32

// maxVectorColumns bounds the distinct features a forest may split on, so
// that a block's columns fit in a fixed array on the stack (8 KB).
const maxVectorColumns = 128

// maxVectorGroups bounds the output groups (classes) of a forest, whose
// block margins also live on the stack.
const maxVectorGroups = 8

// vectorForest is the forest laid out for the vector kernel.
type vectorForest struct {
	kernel  vectorKernel
	columns []int32 // feature index of each column, the features the forest splits on
	nodes   []vectorNode
	trees   []vectorTree
	leaves  []float32 // maxVectorLeaves per tree, reversed: leaf b of tree t at t*32 + 31-b
}

// vectorNode is one split as the kernel reads it (12 bytes).
type vectorNode struct {
	column    uint32 // byte offset of the split feature's column in a block: column index * 4 * blockRows
	threshold float32
	keep      uint32 // every leaf bit set but those of the left subtree
}

// vectorTree is one tree as the kernel reads it (20 bytes): its splits are
// nodes[first:first+right] (missing values go right) followed by
// left more (missing values go left).
type vectorTree struct {
	first  uint32
	right  uint32
	left   uint32
	leaves uint32 // byte offset of the tree's leaves in vectorForest.leaves
	margin uint32 // byte offset of the tree's output group in a block's margins: group * 4 * blockRows
}

// buildVector lays the forest out for the fastest vector kernel of the
// CPU, or returns nil when the CPU has none or the forest does not fit the
// layout (a tree with more than maxVectorLeaves leaves, more than
// maxVectorColumns split features or maxVectorGroups output groups).
func (f *Forest) buildVector() *vectorForest {
	kernels := vectorKernels()
	if len(kernels) == 0 || f.numGroup > maxVectorGroups || len(f.roots) == 0 {
		return nil
	}
	v := &vectorForest{
		kernel: kernels[0],
		trees:  make([]vectorTree, len(f.roots)),
		leaves: make([]float32, len(f.roots)*maxVectorLeaves),
	}
	columnOf := map[uint32]int{}
	var right, left []vectorNode
	for t, root := range f.roots {
		right, left = right[:0], left[:0]
		var treeLeaves []float32
		var visit func(i int32) uint32 // appends the subtree's leaves, returns their bits
		visit = func(i int32) uint32 {
			if len(treeLeaves) > maxVectorLeaves {
				return 0 // too many: the forest is left to the other evaluators
			}
			n := f.nodes[i]
			if n.left == 0 {
				treeLeaves = append(treeLeaves, n.value)
				if len(treeLeaves) > maxVectorLeaves {
					return 0
				}
				return 1 << (len(treeLeaves) - 1)
			}
			leftLeaves := visit(n.left)
			rightLeaves := visit(n.left + 1)
			feature := n.feature &^ defaultLeftBit
			c, ok := columnOf[feature]
			if !ok {
				c = len(v.columns)
				columnOf[feature] = c
				v.columns = append(v.columns, int32(feature))
			}
			split := vectorNode{column: uint32(c * 4 * blockRows), threshold: n.value, keep: ^leftLeaves}
			if n.feature&defaultLeftBit != 0 {
				left = append(left, split)
			} else {
				right = append(right, split)
			}
			return leftLeaves | rightLeaves
		}
		visit(root)
		if len(treeLeaves) > maxVectorLeaves || len(v.columns) > maxVectorColumns {
			return nil
		}
		for b, value := range treeLeaves {
			v.leaves[t*maxVectorLeaves+maxVectorLeaves-1-b] = value
		}
		v.trees[t] = vectorTree{
			first:  uint32(len(v.nodes)),
			right:  uint32(len(right)),
			left:   uint32(len(left)),
			leaves: uint32(t * maxVectorLeaves * 4),
			margin: uint32(f.groups[t]) * 4 * blockRows,
		}
		v.nodes = append(append(v.nodes, right...), left...)
	}
	return v
}

// addBlockMargins adds to each row's margins (out[i*groups:], groups per
// row) the leaves the row reaches in every tree, in tree order.
func (v *vectorForest) addBlockMargins(rows [][]float32, groups int, out []float32) {
	var columns [maxVectorColumns * blockRows]float32
	for i, row := range rows {
		for c, feature := range v.columns {
			columns[c*blockRows+i] = row[feature]
		}
	}
	var margins [maxVectorGroups * blockRows]float32
	for i := range rows {
		for g := range groups {
			margins[g*blockRows+i] = out[i*groups+g]
		}
	}
	vectorMargins(v.kernel, unsafe.SliceData(v.nodes), unsafe.SliceData(v.trees), len(v.trees),
		&columns[0], unsafe.SliceData(v.leaves), &margins[0])
	for i := range rows {
		for g := range groups {
			out[i*groups+g] = margins[g*blockRows+i]
		}
	}
}
