package scoring

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The legacy binary format of XGBoost 1.x (Booster.save_model to a name
// without .json/.ubj, and SageMaker's xgboost-model up to the 1.7 containers)
// is the little-endian dump of fixed C structs:
//
//	"binf"
//	LearnerModelParamLegacy   136 bytes (base_score f32, num_feature u32, num_class i32, ..., major, minor)
//	objective, booster        u64 length + bytes each
//	GBTreeModelParam          160 bytes (num_trees i32, ...)
//	per tree: TreeParam       148 bytes (num_roots, num_nodes, num_deleted, max_depth, num_feature, size_leaf_vector)
//	          Node            20 bytes each (parent, left, right i32; split index u32 with default-left in bit 31; value f32)
//	          RTreeNodeStat   16 bytes each (training statistics: only sum_hess is kept)
//	tree_info                 i32 per tree
//
// Attributes and metric names follow; prediction does not need them.
const (
	legacyMagic            = "binf"
	legacyLearnerParamSize = 136
	legacyGBTreeParamSize  = 160
	legacyTreeParamSize    = 148
	legacyNodeSize         = 20
	legacyNodeStatSize     = 16
)

// legacyReader reads little-endian fields with bounds checks, naming the
// field and offset of any truncation.
type legacyReader struct {
	data []byte
	pos  int
}

func (r *legacyReader) take(n int, field string) ([]byte, error) {
	if n < 0 || n > len(r.data)-r.pos {
		return nil, fmt.Errorf("%s at offset %d: truncated (need %d bytes, have %d)", field, r.pos+len(legacyMagic), n, len(r.data)-r.pos)
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

func (r *legacyReader) str(field string) (string, error) {
	b, err := r.take(8, field+" length")
	if err != nil {
		return "", err
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(r.data)-r.pos) {
		return "", fmt.Errorf("%s at offset %d: length %d exceeds the %d bytes left", field, r.pos+len(legacyMagic), n, len(r.data)-r.pos)
	}
	s, err := r.take(int(n), field)
	return string(s), err
}

func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// decodeLegacy decodes a legacy binary model; data starts after "binf".
func decodeLegacy(data []byte) (*rawModel, error) {
	r := &legacyReader{data: data}
	param, err := r.take(legacyLearnerParamSize, "learner parameters")
	if err != nil {
		return nil, err
	}
	m := &rawModel{
		baseScore:  []float32{math.Float32frombits(le32(param, 0))},
		numFeature: int(int32(le32(param, 4))),
		numClass:   int(int32(le32(param, 8))),
	}
	major, minor := le32(param, 20), le32(param, 24)
	m.version = fmt.Sprintf("%d.%d", major, minor)
	if major < 1 {
		// Before 1.0 base_score was saved already transformed to a margin.
		return nil, fmt.Errorf("model saved by XGBoost %s: %w: only files written by XGBoost 1.x are read", m.version, errUnsupported)
	}
	if m.objective, err = r.str("objective"); err != nil {
		return nil, err
	}
	if m.booster, err = r.str("booster"); err != nil {
		return nil, err
	}
	if m.booster != "gbtree" {
		return m, nil // newForest names the unsupported booster
	}
	gbParam, err := r.take(legacyGBTreeParamSize, "gbtree parameters")
	if err != nil {
		return nil, err
	}
	numTrees := int(int32(le32(gbParam, 0)))
	if numTrees < 0 || numTrees > (len(data)-r.pos)/legacyTreeParamSize {
		return nil, fmt.Errorf("gbtree parameters: num_trees %d does not fit the %d bytes left", numTrees, len(data)-r.pos)
	}
	m.trees = make([]rawTree, numTrees)
	for i := range m.trees {
		if err := readLegacyTree(r, &m.trees[i]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	info, err := r.take(4*numTrees, "tree_info")
	if err != nil {
		return nil, err
	}
	m.treeInfo = make([]int32, numTrees)
	for i := range m.treeInfo {
		m.treeInfo[i] = int32(le32(info, 4*i))
	}
	return m, nil
}

func readLegacyTree(r *legacyReader, t *rawTree) error {
	param, err := r.take(legacyTreeParamSize, "tree parameters")
	if err != nil {
		return err
	}
	numNodes := int(int32(le32(param, 4)))
	if leafVector := int32(le32(param, 20)); leafVector > 1 {
		return fmt.Errorf("size_leaf_vector %d: %w: vector-leaf trees", leafVector, errUnsupported)
	}
	perNode := legacyNodeSize + legacyNodeStatSize
	if numNodes <= 0 {
		return fmt.Errorf("num_nodes %d: out of range", numNodes)
	}
	if left := len(r.data) - r.pos; numNodes > left/perNode {
		return fmt.Errorf("num_nodes %d: truncated (%d nodes need %d bytes, have %d)", numNodes, numNodes, int64(numNodes)*int64(perNode), left)
	}
	nodes, err := r.take(numNodes*legacyNodeSize, "nodes")
	if err != nil {
		return err
	}
	stats, err := r.take(numNodes*legacyNodeStatSize, "node statistics")
	if err != nil {
		return err
	}
	t.left = make([]int32, numNodes)
	t.right = make([]int32, numNodes)
	t.splitIndex = make([]int64, numNodes)
	t.splitCond = make([]float32, numNodes)
	t.defaultLeft = make([]bool, numNodes)
	t.sumHess = make([]float32, numNodes)
	for i := range numNodes {
		n := nodes[i*legacyNodeSize:]
		t.left[i] = int32(le32(n, 4))
		t.right[i] = int32(le32(n, 8))
		sindex := le32(n, 12)
		t.splitIndex[i] = int64(sindex &^ defaultLeftBit)
		t.defaultLeft[i] = sindex&defaultLeftBit != 0
		t.splitCond[i] = math.Float32frombits(le32(n, 16))
		t.sumHess[i] = math.Float32frombits(le32(stats, i*legacyNodeStatSize+4)) // RTreeNodeStat: loss_chg, sum_hess, base_weight, leaf_child_cnt
	}
	return nil
}
