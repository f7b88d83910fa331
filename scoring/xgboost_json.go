package scoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// decodeJSON decodes a JSON model into the generic document form shared with
// UBJSON: map[string]any, []any, string, json.Number, bool, nil.
func decodeJSON(data []byte) (any, error) {
	if n := countJSONValues(data, maxJSONValues); n > maxJSONValues {
		return nil, fmt.Errorf("more than %d values (the limit for JSON models: convert larger ones to UBJSON)", maxJSONValues)
	}
	data, err := quoteNonFinite(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// nonFinitePrefix marks a string that quoteNonFinite made from a bare
// NaN, Infinity or -Infinity token: no key or value of a model starts with
// a NUL character.
const nonFinitePrefix = "\x00"

// quoteNonFinite rewrites the bare tokens NaN, Infinity and -Infinity,
// which XGBoost's JSON writer emits for non-finite floats and its reader
// accepts but JSON does not, as strings "\u0000NaN", ..., which the
// number readers turn back into floats. Outside strings no other JSON
// token starts with N or I, so the scan needs to know only where strings
// are. Data without such a token is returned as is. Each token is a value,
// so more than maxJSONValues of them is refused before the copy (each grows
// by 8 bytes) is made.
func quoteNonFinite(data []byte) ([]byte, error) {
	var out []byte
	for pass := 0; pass < 2; pass++ {
		tokens, last := 0, 0
		for i := 0; i < len(data); i++ {
			c := data[i]
			var token string
			switch {
			case c == '"':
				i = closingQuote(data, i)
				continue
			case c == 'N' && bytes.HasPrefix(data[i:], []byte("NaN")):
				token = "NaN"
			case c == 'I' && bytes.HasPrefix(data[i:], []byte("Infinity")):
				token = "Infinity"
			case c == '-' && bytes.HasPrefix(data[i:], []byte("-Infinity")):
				token = "-Infinity"
			default:
				continue
			}
			tokens++
			if pass == 1 {
				out = append(out, data[last:i]...)
				out = append(out, `"\u0000`...)
				out = append(out, token...)
				out = append(out, '"')
			}
			i += len(token) - 1
			last = i + 1
		}
		switch {
		case tokens == 0:
			return data, nil
		case tokens > maxJSONValues:
			return nil, fmt.Errorf("more than %d NaN/Infinity values (the limit for JSON models)", maxJSONValues)
		case pass == 0:
			out = make([]byte, 0, len(data)+8*tokens)
		default:
			out = append(out, data[last:]...)
		}
	}
	return out, nil
}

// modelFromDocument extracts the parts of an XGBoost model document (JSON or
// UBJSON, schema of XGBoost 1.0 to 3.x) that prediction needs.
func modelFromDocument(doc any) (*rawModel, error) {
	root, err := asObject(doc, "")
	if err != nil {
		return nil, err
	}
	m := &rawModel{}
	if v, ok := root["version"]; ok {
		parts, err := asInt64s(v, "version")
		if err != nil {
			return nil, err
		}
		strs := make([]string, len(parts))
		for i, p := range parts {
			strs[i] = strconv.FormatInt(p, 10)
		}
		m.version = strings.Join(strs, ".")
	}
	learner, err := objectField(root, "learner", "")
	if err != nil {
		return nil, err
	}
	param, err := objectField(learner, "learner_model_param", "learner")
	if err != nil {
		return nil, err
	}
	if m.numFeature, err = intField(param, "num_feature", "learner.learner_model_param"); err != nil {
		return nil, err
	}
	if m.numClass, err = intField(param, "num_class", "learner.learner_model_param"); err != nil {
		return nil, err
	}
	bs, err := stringField(param, "base_score", "learner.learner_model_param")
	if err != nil {
		return nil, err
	}
	if m.baseScore, err = parseBaseScore(bs); err != nil {
		return nil, fmt.Errorf("learner.learner_model_param.base_score: %w", err)
	}
	objective, err := objectField(learner, "objective", "learner")
	if err != nil {
		return nil, err
	}
	if m.objective, err = stringField(objective, "name", "learner.objective"); err != nil {
		return nil, err
	}
	booster, err := objectField(learner, "gradient_booster", "learner")
	if err != nil {
		return nil, err
	}
	if m.booster, err = stringField(booster, "name", "learner.gradient_booster"); err != nil {
		return nil, err
	}
	if m.booster != "gbtree" {
		return m, nil // newForest names the unsupported booster
	}
	model, err := objectField(booster, "model", "learner.gradient_booster")
	if err != nil {
		return nil, err
	}
	const modelPath = "learner.gradient_booster.model"
	treesValue, ok := model["trees"]
	if !ok {
		return nil, fmt.Errorf("%s: missing field \"trees\"", modelPath)
	}
	trees, ok := treesValue.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.trees: expected an array, got %s", modelPath, typeName(treesValue))
	}
	if v, ok := model["tree_info"]; ok {
		info, err := asInt64s(v, modelPath+".tree_info")
		if err != nil {
			return nil, err
		}
		m.treeInfo = make([]int32, len(info))
		for i, g := range info {
			if g < 0 || g > math.MaxInt32 {
				return nil, fmt.Errorf("%s.tree_info[%d]: value %d out of range", modelPath, i, g)
			}
			m.treeInfo[i] = int32(g)
		}
	}
	// XGBoost refuses a model whose declared counts disagree with its
	// arrays; so does this reader, naming the field and both values.
	if v, ok := model["gbtree_model_param"]; ok {
		param, err := asObject(v, modelPath+".gbtree_model_param")
		if err != nil {
			return nil, err
		}
		if _, ok := param["num_trees"]; ok {
			n, err := intField(param, "num_trees", modelPath+".gbtree_model_param")
			if err != nil {
				return nil, err
			}
			if n != len(trees) {
				return nil, fmt.Errorf("%s.gbtree_model_param.num_trees: value %d, but trees holds %d trees", modelPath, n, len(trees))
			}
		}
	}
	if m.treeInfo != nil && len(m.treeInfo) != len(trees) {
		return nil, fmt.Errorf("%s.tree_info: %d entries, but trees holds %d trees", modelPath, len(m.treeInfo), len(trees))
	}
	m.trees = make([]rawTree, len(trees))
	placed := make([]bool, len(trees))
	for i, tv := range trees {
		p := fmt.Sprintf("%s.trees[%d]", modelPath, i)
		t, err := asObject(tv, p)
		if err != nil {
			return nil, err
		}
		// XGBoost puts each tree at the position its id names.
		slot := i
		if _, ok := t["id"]; ok {
			id, err := intField(t, "id", p)
			if err != nil {
				return nil, err
			}
			if id < 0 || id >= len(trees) {
				return nil, fmt.Errorf("%s.id: value %d out of range [0, %d)", p, id, len(trees))
			}
			slot = id
		}
		if placed[slot] {
			return nil, fmt.Errorf("%s.id: value %d: two trees have this id", p, slot)
		}
		placed[slot] = true
		if err := readTree(t, p, &m.trees[slot]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readTree reads one tree's node arrays.
func readTree(t map[string]any, p string, out *rawTree) error {
	if tp, ok := t["tree_param"]; ok {
		param, err := asObject(tp, p+".tree_param")
		if err != nil {
			return err
		}
		if _, ok := param["size_leaf_vector"]; ok {
			n, err := intField(param, "size_leaf_vector", p+".tree_param")
			if err != nil {
				return err
			}
			if n > 1 {
				return fmt.Errorf("%s: size_leaf_vector %d: %w: vector-leaf (multi_output_tree) trees", p, n, errUnsupported)
			}
		}
	}
	var err error
	if out.left, err = int32sField(t, "left_children", p); err != nil {
		return err
	}
	if tp, ok := t["tree_param"]; ok {
		param, _ := tp.(map[string]any) // checked above
		if _, ok := param["num_nodes"]; ok {
			n, err := intField(param, "num_nodes", p+".tree_param")
			if err != nil {
				return err
			}
			if n != len(out.left) {
				return fmt.Errorf("%s.tree_param.num_nodes: value %d, but left_children holds %d nodes", p, n, len(out.left))
			}
		}
	}
	if out.right, err = int32sField(t, "right_children", p); err != nil {
		return err
	}
	v, ok := t["split_indices"]
	if !ok {
		return fmt.Errorf("%s: missing field \"split_indices\"", p)
	}
	if out.splitIndex, err = asInt64s(v, p+".split_indices"); err != nil {
		return err
	}
	v, ok = t["split_conditions"]
	if !ok {
		return fmt.Errorf("%s: missing field \"split_conditions\"", p)
	}
	if out.splitCond, err = asFloat32s(v, p+".split_conditions"); err != nil {
		return err
	}
	v, ok = t["default_left"]
	if !ok {
		return fmt.Errorf("%s: missing field \"default_left\"", p)
	}
	if out.defaultLeft, err = asBools(v, p+".default_left"); err != nil {
		return err
	}
	if v, ok := t["sum_hessian"]; ok {
		if out.sumHess, err = asFloat32s(v, p+".sum_hessian"); err != nil {
			return err
		}
	}
	if v, ok := t["split_type"]; ok {
		types, err := asInt64s(v, p+".split_type")
		if err != nil {
			return err
		}
		for _, st := range types {
			if st != 0 {
				out.categorical = true
			}
		}
	}
	return nil
}

// parseBaseScore reads base_score: "5E-1" before XGBoost 3.1, a JSON-like
// array string "[5E-1]" (one value per output) from 3.1 on.
func parseBaseScore(s string) ([]float32, error) {
	trimmed := strings.TrimSpace(s)
	if strings.HasPrefix(trimmed, "[") {
		if !strings.HasSuffix(trimmed, "]") {
			return nil, fmt.Errorf("value %q: unterminated array", s)
		}
		trimmed = trimmed[1 : len(trimmed)-1]
	}
	parts := strings.Split(trimmed, ",")
	scores := make([]float32, len(parts))
	for i, part := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 32)
		if err != nil {
			return nil, fmt.Errorf("value %q: not a number", s)
		}
		scores[i] = float32(v)
	}
	return scores, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any, []float32, []float64, []int64, []uint8:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

func join(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}

func asObject(v any, p string) (map[string]any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected an object, got %s", orRoot(p), typeName(v))
	}
	return obj, nil
}

func orRoot(p string) string {
	if p == "" {
		return "model"
	}
	return p
}

func objectField(obj map[string]any, key, p string) (map[string]any, error) {
	v, ok := obj[key]
	if !ok {
		return nil, fmt.Errorf("%s: missing field %q", orRoot(p), key)
	}
	return asObject(v, join(p, key))
}

func stringField(obj map[string]any, key, p string) (string, error) {
	v, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("%s: missing field %q", orRoot(p), key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: expected a string, got %s", join(p, key), typeName(v))
	}
	return s, nil
}

// intField reads an integer parameter, which XGBoost stores as a string
// ("122") but which is accepted as a number too.
func intField(obj map[string]any, key, p string) (int, error) {
	v, ok := obj[key]
	if !ok {
		return 0, fmt.Errorf("%s: missing field %q", orRoot(p), key)
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return 0, fmt.Errorf("%s: expected an integer, got %s", join(p, key), typeName(v))
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: value %q: not a 32-bit integer", join(p, key), s)
	}
	return int(n), nil
}

func int32sField(obj map[string]any, key, p string) ([]int32, error) {
	v, ok := obj[key]
	if !ok {
		return nil, fmt.Errorf("%s: missing field %q", p, key)
	}
	wide, err := asInt64s(v, p+"."+key)
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(wide))
	for i, x := range wide {
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("%s.%s[%d]: value %d out of range", p, key, i, x)
		}
		out[i] = int32(x)
	}
	return out, nil
}

// asInt64s reads an integer array from JSON ([]any of json.Number) or from a
// UBJSON typed or untyped array.
func asInt64s(v any, p string) ([]int64, error) {
	switch x := v.(type) {
	case []int64:
		return x, nil
	case []uint8:
		out := make([]int64, len(x))
		for i, b := range x {
			out[i] = int64(b)
		}
		return out, nil
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			n, err := scalarInt(e)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", p, i, err)
			}
			out[i] = n
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: expected an integer array, got %s", p, typeName(v))
	}
}

func scalarInt(e any) (int64, error) {
	switch n := e.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("value %q: not an integer", string(n))
		}
		return i, nil
	case int64:
		return n, nil
	case string:
		if token, ok := strings.CutPrefix(n, nonFinitePrefix); ok {
			return 0, fmt.Errorf("value %s: not an integer", token)
		}
		return 0, fmt.Errorf("expected an integer, got %s", typeName(e))
	case bool:
		if n {
			return 1, nil
		}
		return 0, nil
	default:
		return 0, fmt.Errorf("expected an integer, got %s", typeName(e))
	}
}

// asFloat32s reads a float array; JSON literals are parsed straight to
// float32 so the thresholds equal the float32 values XGBoost saved.
func asFloat32s(v any, p string) ([]float32, error) {
	switch x := v.(type) {
	case []float32:
		return x, nil
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil
	case []any:
		out := make([]float32, len(x))
		for i, e := range x {
			f, err := scalarFloat32(e)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", p, i, err)
			}
			out[i] = f
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: expected a number array, got %s", p, typeName(v))
	}
}

func scalarFloat32(e any) (float32, error) {
	switch n := e.(type) {
	case string:
		if token, ok := strings.CutPrefix(n, nonFinitePrefix); ok {
			f, err := strconv.ParseFloat(token, 32)
			if err != nil {
				return 0, fmt.Errorf("value %q: not a number", token)
			}
			return float32(f), nil
		}
		return 0, fmt.Errorf("expected a number, got %s", typeName(e))
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 32)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("value %q: not a number", string(n))
		}
		return float32(f), nil
	case float64:
		return float32(n), nil
	case float32:
		return n, nil
	case int64:
		return float32(n), nil
	default:
		return 0, fmt.Errorf("expected a number, got %s", typeName(e))
	}
}

// asBools reads default_left: integers 0/1 in JSON, a uint8 array in UBJSON.
func asBools(v any, p string) ([]bool, error) {
	ints, err := asInt64s(v, p)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(ints))
	for i, n := range ints {
		if n != 0 && n != 1 {
			return nil, fmt.Errorf("%s[%d]: value %d: expected 0 or 1", p, i, n)
		}
		out[i] = n == 1
	}
	return out, nil
}

// closingQuote returns the index of the quote that ends the JSON string
// opening at data[open], skipping escaped characters (len(data) when the
// string does not end).
func closingQuote(data []byte, open int) int {
	for i := open + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data)
}

// countJSONValues counts the values of a JSON text, near enough to bound
// what decoding it allocates (every value is followed by a comma or closes
// a container, or opens one), stopping past limit. It reads strings by their
// quotes and escapes only; the decoder validates the rest.
func countJSONValues(data []byte, limit int) int {
	n := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = closingQuote(data, i)
		case ',', '[', '{':
			n++
			if n > limit {
				return n
			}
		}
	}
	return n
}
