package scoring

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/dmitryikh/leaves"
)

// LightGBM is a LightGBM text model (binary or multiclass) evaluated by
// github.com/dmitryikh/leaves, which reads LightGBM's own format correctly.
// (XGBoost files are never given to leaves: see LoadXGBoost.)
type LightGBM struct {
	ensemble   *leaves.Ensemble // multiclass: the raw scores, which Predict turns into probabilities
	objective  string           // "binary" or "multiclass", as LightGBM names them
	numClass   int
	numFeature int
	scratch    sync.Pool // *lightGBMScratch: leaves works in float64
}

type lightGBMScratch struct {
	row, out []float64
}

// LoadLightGBM reads a LightGBM text model file (Booster.save_model).
func LoadLightGBM(path string) (*LightGBM, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading LightGBM model: %w", err)
	}
	m, err := ParseLightGBM(data)
	if err != nil {
		return nil, fmt.Errorf("loading LightGBM model %s: %w", path, err)
	}
	return m, nil
}

// ParseLightGBM decodes a LightGBM text model. The model is validated first
// (split features within max_feature_idx, children in range and each
// reached once, no categorical or linear trees) because leaves trusts its
// input and would panic on a corrupt file while loading or predicting.
// Files of format v4 (LightGBM 4) are handed to leaves, which knows v3, once
// no tree uses v4's linear leaves.
func ParseLightGBM(data []byte) (m *LightGBM, err error) {
	text, objective, err := validateLightGBM(data)
	if err != nil {
		return nil, fmt.Errorf("reading LightGBM model: %w", err)
	}
	defer func() {
		// Defence in depth: validation should leave leaves nothing to
		// panic on, but a loader bug must not take the process down.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("reading LightGBM model: leaves failed: %v", r)
		}
	}()
	ens, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(text)), true)
	if err != nil {
		return nil, fmt.Errorf("reading LightGBM model: %w", err)
	}
	m = &LightGBM{ensemble: ens, objective: objective, numClass: ens.NOutputGroups(), numFeature: ens.NFeatures()}
	if m.numClass > 1 {
		// leaves' softmax exponentiates the raw scores as they are, which
		// overflows to +Inf/+Inf = NaN once one passes ~709; Predict
		// applies a softmax that subtracts the largest score first, as
		// LightGBM does.
		m.ensemble = ens.EnsembleWithRawPredictions()
	}
	m.scratch.New = func() any {
		return &lightGBMScratch{row: make([]float64, m.numFeature), out: make([]float64, m.numClass)}
	}
	return m, nil
}

// NumClass reports the number of probabilities Predict writes (1 for binary).
func (m *LightGBM) NumClass() int { return m.numClass }

// NumFeature reports the width of the feature vector (max_feature_idx + 1).
func (m *LightGBM) NumFeature() int { return m.numFeature }

// Objective reports the model's objective as LightGBM names it: "binary" or
// "multiclass".
func (m *LightGBM) Objective() string { return m.objective }

// Predict writes the model's probabilities for one row into out, which must
// hold at least NumClass() values; like Forest.Predict, NaN is missing and
// absent trailing features are missing.
func (m *LightGBM) Predict(row []float32, out []float32) {
	out = out[:m.numClass]
	s := m.scratch.Get().(*lightGBMScratch)
	defer m.scratch.Put(s)
	for i := range s.row {
		if i < len(row) {
			s.row[i] = float64(row[i])
		} else {
			s.row[i] = math.NaN()
		}
	}
	// Predict fails only when out is shorter than the output groups, which
	// the scratch never is.
	_ = m.ensemble.Predict(s.row, 0, s.out)
	if m.numClass > 1 {
		softmax64(s.out)
	}
	for i, p := range s.out {
		out[i] = float32(p)
	}
}

// softmax64 turns raw scores into probabilities in place, as LightGBM's
// Common::Softmax does: shifted by the largest score so that exp never
// overflows.
func softmax64(v []float64) {
	largest := v[0]
	for _, x := range v[1:] {
		largest = max(largest, x)
	}
	var sum float64
	for i, x := range v {
		v[i] = math.Exp(x - largest)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}

// validateLightGBM checks what leaves relies on and returns the text to give
// it (with a v4 header relabelled v3) and the objective ("binary" or
// "multiclass").
func validateLightGBM(data []byte) ([]byte, string, error) {
	blocks := lightGBMBlocks(string(data))
	if len(blocks) == 0 || blocks[0].get("tree") == nil {
		return nil, "", errors.New(`not a LightGBM text model: no "tree" header`)
	}
	header := blocks[0]
	version := header.get("version")
	if version == nil {
		return nil, "", errors.New("header: missing version")
	}
	switch *version {
	case "v2", "v3", "v4":
	default:
		return nil, "", fmt.Errorf("header: version %q: unsupported (want v2, v3 or v4)", *version)
	}
	maxFeature, err := header.int("max_feature_idx", 0, maxNumFeature-1)
	if err != nil {
		return nil, "", fmt.Errorf("header: %w", err)
	}
	// Predict promises probabilities: only the objectives whose transform
	// leaves applies (sigmoid, softmax) are accepted.
	objective := header.get("objective")
	if objective == nil || !(*objective == "binary sigmoid:1" || strings.HasPrefix(*objective, "multiclass num_class:")) {
		return nil, "", fmt.Errorf("header: objective %v: only binary and multiclass models are supported", quoted(objective))
	}
	if header.get("average_output") != nil {
		return nil, "", errors.New("header: average_output (random forest mode) is not supported")
	}
	trees := 0
	for _, b := range blocks[1:] {
		name := b.get("Tree")
		if name == nil {
			continue
		}
		trees++
		if err := validateLightGBMTree(b, maxFeature); err != nil {
			return nil, "", fmt.Errorf("tree %s: %w", *name, err)
		}
	}
	sizes := header.get("tree_sizes")
	if sizes == nil {
		return nil, "", errors.New("header: missing tree_sizes")
	}
	if n := len(strings.Fields(*sizes)); n != trees {
		return nil, "", fmt.Errorf("header: tree_sizes lists %d trees, the file has %d", n, trees)
	}
	if *version == "v4" {
		data = bytes.Replace(data, []byte("\nversion=v4\n"), []byte("\nversion=v3\n"), 1)
	}
	name, _, _ := strings.Cut(*objective, " ")
	return data, name, nil
}

func validateLightGBMTree(b lightGBMBlock, maxFeature int) error {
	leaves, err := b.int("num_leaves", 1, math.MaxInt32)
	if err != nil {
		return err
	}
	if cats, err := b.int("num_cat", 0, math.MaxInt32); err != nil {
		return err
	} else if cats != 0 {
		return fmt.Errorf("num_cat %d: categorical splits are not supported", cats)
	}
	if linear := b.get("is_linear"); linear != nil && *linear != "0" {
		return fmt.Errorf("is_linear %q: linear trees are not supported", *linear)
	}
	if _, err := b.numbers("leaf_value", leaves, func(v float64) error {
		if !(math.Abs(v) <= maxLeafMagnitude) {
			return fmt.Errorf("leaf value %v out of range", v)
		}
		return nil
	}); err != nil {
		return err
	}
	if leaves == 1 {
		return nil
	}
	splits := leaves - 1
	if _, err := b.numbers("split_feature", splits, func(v float64) error {
		if v != math.Trunc(v) || v < 0 || v > float64(maxFeature) {
			return fmt.Errorf("feature %v outside [0, %d]", v, maxFeature)
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := b.numbers("threshold", splits, func(v float64) error {
		if v != v {
			return errors.New("threshold is NaN")
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := b.numbers("decision_type", splits, func(v float64) error {
		d := int64(v)
		if float64(d) != v || d < 0 || d > 255 || d&1 != 0 || (d>>2)&3 == 3 {
			return fmt.Errorf("decision type %v unsupported (categorical or unknown missing type)", v)
		}
		return nil
	}); err != nil {
		return err
	}
	reached := make([]bool, splits+leaves) // internal nodes, then leaves
	reached[0] = true
	child := func(v float64) error {
		c := int64(v)
		if float64(c) != v || c < -int64(leaves) || c >= int64(splits) {
			return fmt.Errorf("child %v out of range", v)
		}
		slot := c
		if c < 0 {
			slot = int64(splits) + ^c
		}
		if reached[slot] {
			return fmt.Errorf("child %d is reached twice (not a tree)", c)
		}
		reached[slot] = true
		return nil
	}
	if _, err := b.numbers("left_child", splits, child); err != nil {
		return err
	}
	_, err = b.numbers("right_child", splits, child)
	return err
}

// lightGBMBlock is one blank-line separated block of key=value lines.
type lightGBMBlock map[string]string

func lightGBMBlocks(text string) []lightGBMBlock {
	var blocks []lightGBMBlock
	var cur lightGBMBlock
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			cur = nil
			continue
		}
		if line == "end of trees" {
			break
		}
		if cur == nil {
			cur = lightGBMBlock{}
			blocks = append(blocks, cur)
		}
		key, value, _ := strings.Cut(line, "=")
		cur[key] = value
	}
	return blocks
}

func quoted(s *string) string {
	if s == nil {
		return "(missing)"
	}
	return strconv.Quote(*s)
}

func (b lightGBMBlock) get(key string) *string {
	v, ok := b[key]
	if !ok {
		return nil
	}
	return &v
}

func (b lightGBMBlock) int(key string, lo, hi int) (int, error) {
	v, ok := b[key]
	if !ok {
		return 0, fmt.Errorf("missing %s", key)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: not an integer in [%d, %d]", key, v, lo, hi)
	}
	return n, nil
}

// numbers parses the want space-separated numbers of key, checking each.
func (b lightGBMBlock) numbers(key string, want int, check func(float64) error) ([]float64, error) {
	v, ok := b[key]
	if !ok {
		return nil, fmt.Errorf("missing %s", key)
	}
	fields := strings.Fields(v)
	if len(fields) != want {
		return nil, fmt.Errorf("%s has %d values, want %d", key, len(fields), want)
	}
	out := make([]float64, len(fields))
	for i, field := range fields {
		x, err := strconv.ParseFloat(field, 64)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: value %q: not a number", key, i, field)
		}
		if check != nil {
			if err := check(x); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
			}
		}
		out[i] = x
	}
	return out, nil
}
