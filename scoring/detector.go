package scoring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sagewall/sagewall/etl"
)

// Info identifies the model behind a Detector's verdicts.
type Info struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"` // of the model bytes as stored; see Detector.Info
}

// Result is the verdict on one row.
type Result struct {
	Score  float32 // P(attack), from the binary model (1 - P(normal) for a detector of a single 5-class model)
	Attack bool    // Score >= threshold
	// Category is, for a flagged row, the category model's most likely
	// attack class (FlaggedCategory), and Normal for a row that is not
	// flagged. A flagged row with Category Normal is an unclassified attack
	// (CategoryName): a category model with a normal class called it
	// normal, or there is no category model.
	Category etl.Class
	// CategoryProb is the probability of Category: for a flagged row the
	// category model's P(class | attack), for a row that is not flagged
	// 1 - Score, and 0 for a flagged row of a detector without a category
	// model (it cannot tell the class).
	CategoryProb float32
}

// Unclassified names the category of a flagged row no category could be
// given to: the binary model says attack, the category model says normal
// (or there is none). Calling such a row "normal" made verdicts and findings
// contradict themselves ("Network intrusion: normal").
const Unclassified = "unclassified"

// CategoryName is the verdict's category as verdicts, findings, alerts and
// the dashboard name it: normal for a row that is not flagged (whatever the
// category), the class name of a flagged row, or Unclassified for a flagged
// row whose Category is Normal.
func (r Result) CategoryName() string {
	switch {
	case !r.Attack:
		return etl.Normal.String()
	case r.Category == etl.Normal:
		return Unclassified
	}
	return r.Category.String()
}

// Option configures a Detector.
type Option func(*options)

type options struct {
	threshold    float64
	hasThreshold bool
}

// DefaultThreshold is the score from which a row counts as an attack when
// neither the caller nor the model's manifest chooses one.
const DefaultThreshold = 0.5

// WithThreshold sets the score from which a row counts as an attack (0 to 1),
// overriding the operating point of the model's manifest.
func WithThreshold(threshold float64) Option {
	return func(o *options) { o.threshold, o.hasThreshold = threshold, true }
}

// OperatingPoint is the threshold a Detector uses and where it came from.
type OperatingPoint struct {
	Threshold float64 `json:"threshold"`
	// Source is "manifest" (the model's own operating point), "option" (set
	// by the caller: a flag or setting) or "default" (DefaultThreshold: the
	// model has none).
	Source string `json:"source"`
	// Rule says how the manifest's threshold was chosen; empty otherwise.
	Rule string `json:"rule,omitempty"`
}

// Detector pairs the binary model, the category model and the feature spec.
// It is immutable, so one Detector may score from many goroutines.
//
// A detector loaded from a single model file has one of the two: a binary
// model (its flagged rows have no category), or a 5-class category model,
// whose P(attack) is 1 - P(normal).
//
// The category model of a model directory may have any of the classes, in
// any order, as its manifest names them: the bundled ones have the four
// attack classes alone, since they only ever answer which attack a flagged
// row is.
type Detector struct {
	spec     *etl.Spec
	width    int
	binary   scorer // absent for a detector of a single 5-class model
	category scorer // absent for a detector of a single binary model
	// classes are the category model's classes in its output order
	// (manifest models.category.classes, else etl.Classes()); nil without
	// a category model.
	classes   []etl.Class
	info      Info
	operating OperatingPoint
	zeroed    []string // features held at 0 in training (manifest zeroed_features)
	features  []string // the features the model can use, file order; nil for all 41
}

// numCategories is the width of a category model without a manifest naming
// its classes (a single model file): one probability per etl.Class.
const numCategories = 5

// Layout of a model directory (and of the bundled model).
const (
	binaryModel   = "binary"   // binary.json.gz, binary.json, ...: see modelNames
	categoryModel = "category" // the category model: classes as the manifest says, else the 5 of etl.Classes()
	specName      = "spec.json"
	manifestName  = "manifest.json"
)

// modelNames lists the file names a model may have in a directory, in the
// order they are looked for: XGBoost JSON or UBJSON, optionally gzipped.
func modelNames(model string) []string {
	return []string{model + ".json.gz", model + ".json", model + ".ubj.gz", model + ".ubj"}
}

// manifest is the part of manifest.json a Detector reads.
type manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// ZeroedFeatures are the features the training data held at 0 (a
	// connection-log model's content features): the model never uses them.
	ZeroedFeatures []string `json:"zeroed_features"`
	// UsedFeatures are the features of the 41 the model can use: the others
	// are ZeroedFeatures. (The manifest's "features" is the vector width, a
	// number; it is not read.) Absent from manifests of all-41 models.
	UsedFeatures []string `json:"used_features"`
	// OperatingPoint is the threshold chosen in training, and how.
	OperatingPoint *struct {
		Threshold *float64 `json:"threshold"`
		Rule      string   `json:"rule"`
	} `json:"operating_point"`
	Models struct {
		Category struct {
			// Classes name the category model's outputs, in order.
			Classes []string `json:"classes"`
		} `json:"category"`
	} `json:"models"`
}

// categoryClasses parses the manifest's models.category.classes: nil when
// it names none.
func (m *manifest) categoryClasses() ([]etl.Class, error) {
	if m.Models.Category.Classes == nil {
		return nil, nil
	}
	classes, err := ParseCategoryClasses(m.Models.Category.Classes)
	if err != nil {
		return nil, fmt.Errorf("%s: models.category.classes: %w", manifestName, err)
	}
	return classes, nil
}

// ParseCategoryClasses reads the class names of a category model's
// outputs, in order, and checks them as CheckCategoryClasses does.
func ParseCategoryClasses(names []string) ([]etl.Class, error) {
	classes := make([]etl.Class, len(names))
	for i, name := range names {
		c, err := etl.ParseClass(name)
		if err != nil {
			return nil, err
		}
		classes[i] = c
	}
	if err := CheckCategoryClasses(classes); err != nil {
		return nil, err
	}
	return classes, nil
}

// CheckCategoryClasses checks the classes of a category model's outputs, as
// FlaggedCategory takes them: each at most once, and at least one attack
// class.
func CheckCategoryClasses(classes []etl.Class) error {
	for i, c := range classes {
		if slices.Contains(classes[:i], c) {
			return fmt.Errorf("checking category classes %v: %v twice", classes, c)
		}
	}
	if !slices.ContainsFunc(classes, func(c etl.Class) bool { return c != etl.Normal }) {
		return fmt.Errorf("checking category classes %v: no attack class", classes)
	}
	return nil
}

// operatingPoint checks the manifest's operating point: nil when it has none.
func (m *manifest) operatingPoint() (*OperatingPoint, error) {
	if m.OperatingPoint == nil {
		return nil, nil
	}
	t := m.OperatingPoint.Threshold
	if t == nil {
		return nil, fmt.Errorf("%s: operating_point: no threshold", manifestName)
	}
	if math.IsNaN(*t) || *t <= 0 || *t >= 1 {
		return nil, fmt.Errorf("%s: operating_point: threshold %v: want strictly between 0 and 1", manifestName, *t)
	}
	return &OperatingPoint{Threshold: *t, Source: "manifest", Rule: m.OperatingPoint.Rule}, nil
}

// featureSets checks a manifest's zeroed_features and used_features and
// returns both, the used ones in file order: nil, nil when the manifest
// names neither (a model of all 41). A zeroed feature must be a numeric
// column of spec (the one-hot categoricals cannot be held at 0), and when
// the manifest names both, they must split the 41 between them.
func (m *manifest) featureSets(spec *etl.Spec) (zeroed, used []string, err error) {
	if m.ZeroedFeatures == nil && m.UsedFeatures == nil {
		return nil, nil, nil
	}
	all := etl.FieldNames()
	inUsed := map[string]bool{}
	for _, name := range m.UsedFeatures {
		if !slices.Contains(all, name) {
			return nil, nil, fmt.Errorf("%s: used_features: %q is not an NSL-KDD feature", manifestName, name)
		}
		if inUsed[name] {
			return nil, nil, fmt.Errorf("%s: used_features: %q twice", manifestName, name)
		}
		inUsed[name] = true
	}
	inZeroed := map[string]bool{}
	for _, name := range m.ZeroedFeatures {
		if !slices.Contains(spec.Numeric, name) {
			return nil, nil, fmt.Errorf("%s: zeroed_features: %q is not a numeric feature of the spec", manifestName, name)
		}
		if inZeroed[name] {
			return nil, nil, fmt.Errorf("%s: zeroed_features: %q twice", manifestName, name)
		}
		if m.UsedFeatures != nil && inUsed[name] {
			return nil, nil, fmt.Errorf("%s: %q is in both zeroed_features and used_features", manifestName, name)
		}
		inZeroed[name] = true
	}
	for _, name := range all {
		switch {
		case m.UsedFeatures == nil:
			if !inZeroed[name] {
				used = append(used, name)
			}
		case inUsed[name]:
			used = append(used, name)
		case m.ZeroedFeatures == nil:
			if !slices.Contains(spec.Numeric, name) {
				return nil, nil, fmt.Errorf("%s: used_features leaves out %q, which is not a numeric feature of the spec", manifestName, name)
			}
			zeroed = append(zeroed, name)
		case !inZeroed[name]:
			return nil, nil, fmt.Errorf("%s: %q is in neither zeroed_features nor used_features", manifestName, name)
		}
	}
	if m.ZeroedFeatures != nil {
		zeroed = m.ZeroedFeatures
	}
	if len(used) == len(all) {
		return nil, nil, nil // all 41: the manifest only spelt that out
	}
	return zeroed, used, nil
}

// LoadDetector loads a model directory (binary model, optional category
// model, optional spec.json and manifest.json, named as in scoring/bundled)
// or a single model file of any format ParseModel reads (XGBoost JSON,
// UBJSON, legacy binary, LightGBM text, gzipped or in a SageMaker
// model.tar.gz), with etl.DefaultSpec(). A single binary model gives a
// binary-only detector: its flagged rows have Category Normal and
// CategoryProb 0. A single 5-class model (classes in etl.Classes order)
// gives a category-only detector: a row's Score is 1 - P(normal), and a
// flagged row's category is AttackCategory's.
func LoadDetector(path string, opts ...Option) (*Detector, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loading detector: %w", err)
	}
	if st.IsDir() {
		d, err := loadDirectory(os.DirFS(path), filepath.Base(path), opts)
		if err != nil {
			return nil, fmt.Errorf("loading detector from %s: %w", path, err)
		}
		return d, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading detector: %w", err)
	}
	model, err := parseModel(filepath.Base(path), data)
	if err != nil {
		return nil, fmt.Errorf("loading detector from %s: %w", path, err)
	}
	var binary, category Model
	switch k := model.NumClass(); k {
	case 1:
		binary = model
	case numCategories:
		category = model
	default:
		return nil, fmt.Errorf("loading detector from %s: %d classes (objective %s): a single multi-class model must have the %d categories %v, in that order",
			path, k, model.Objective(), numCategories, etl.Classes())
	}
	sum := sha256.Sum256(data)
	info := Info{Name: filepath.Base(path), SHA256: hex.EncodeToString(sum[:])}
	d, err := newDetector(etl.DefaultSpec(), binary, category, nil, info, nil, opts)
	if err != nil {
		return nil, fmt.Errorf("loading detector from %s: %w", path, err)
	}
	return d, nil
}

// loadDirectory reads a model directory. Info.SHA256 covers the files as
// stored, binary model then category model then spec, so
// `cat binary.json.gz category.json.gz spec.json | sha256sum` reproduces it.
func loadDirectory(dir fs.FS, defaultName string, opts []Option) (*Detector, error) {
	hash := sha256.New()
	binaryName, binaryData, err := readFirst(dir, modelNames(binaryModel))
	if err != nil {
		return nil, err
	}
	if binaryData == nil {
		return nil, fmt.Errorf("finding the binary model: none of %s", strings.Join(modelNames(binaryModel), ", "))
	}
	hash.Write(binaryData)
	categoryName, categoryData, err := readFirst(dir, modelNames(categoryModel))
	if err != nil {
		return nil, err
	}
	// The two models parse on two cores: decoding the JSON is most of a
	// start's CPU before the first fetch.
	var category Model
	categoryErr := make(chan error, 1)
	if categoryData != nil {
		hash.Write(categoryData)
		go func() {
			var err error
			category, err = parseModel(categoryName, categoryData)
			categoryErr <- err
		}()
	} else {
		categoryErr <- nil
	}
	binary, err := parseModel(binaryName, binaryData)
	if cerr := <-categoryErr; err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	spec := etl.DefaultSpec()
	if specData, err := readOptional(dir, specName); err != nil {
		return nil, err
	} else if specData != nil {
		hash.Write(specData)
		if spec, err = etl.ReadSpec(bytes.NewReader(specData)); err != nil {
			return nil, fmt.Errorf("reading %s: %w", specName, err)
		}
	}

	info := Info{Name: defaultName, SHA256: hex.EncodeToString(hash.Sum(nil))}
	var zeroed, used []string
	var classes []etl.Class
	var op *OperatingPoint
	if manifestData, err := readOptional(dir, manifestName); err != nil {
		return nil, err
	} else if manifestData != nil {
		var m manifest
		if err := json.Unmarshal(manifestData, &m); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", manifestName, err)
		}
		if m.Name != "" {
			info.Name = m.Name
		}
		info.Version = m.Version
		if zeroed, used, err = m.featureSets(spec); err != nil {
			return nil, err
		}
		if op, err = m.operatingPoint(); err != nil {
			return nil, err
		}
		if classes, err = m.categoryClasses(); err != nil {
			return nil, err
		}
	}
	d, err := newDetector(spec, binary, category, classes, info, op, opts)
	if err != nil {
		return nil, err
	}
	d.zeroed, d.features = zeroed, used
	return d, nil
}

// readFirst returns the first of names present in dir; nil data when none is.
func readFirst(dir fs.FS, names []string) (string, []byte, error) {
	for _, name := range names {
		data, err := readOptional(dir, name)
		if err != nil || data != nil {
			return name, data, err
		}
	}
	return "", nil, nil
}

// readOptional returns nil data when the file does not exist.
func readOptional(dir fs.FS, name string) ([]byte, error) {
	data, err := fs.ReadFile(dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return data, nil
}

// parseModel decodes a model file (ParseModel decompresses a gzipped one
// under its ratio cap).
func parseModel(name string, data []byte) (Model, error) {
	m, err := ParseModel(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	return m, nil
}

// newDetector checks that the parts fit together. The threshold is the
// caller's (WithThreshold), else the manifest's operating point op, else
// DefaultThreshold. classes are the category model's, in output order; nil
// means the 5 of etl.Classes(), which a category model without a binary one
// must have.
func newDetector(spec *etl.Spec, binary, category Model, classes []etl.Class, info Info, op *OperatingPoint, opts []Option) (*Detector, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	operating := OperatingPoint{Threshold: DefaultThreshold, Source: "default"}
	switch {
	case o.hasThreshold:
		operating = OperatingPoint{Threshold: o.threshold, Source: "option"}
	case op != nil:
		operating = *op
	}
	if math.IsNaN(operating.Threshold) || operating.Threshold < 0 || operating.Threshold > 1 {
		return nil, fmt.Errorf("threshold %v: must be between 0 and 1", operating.Threshold)
	}
	width := spec.Width()
	if binary == nil && category == nil {
		return nil, errors.New("no model")
	}
	if binary != nil && binary.NumClass() != 1 {
		return nil, fmt.Errorf("binary model: %d classes (objective %s), want a binary model (binary:logistic, reg:logistic or binary:logitraw)", binary.NumClass(), binary.Objective())
	}
	if binary != nil && binary.NumFeature() != width {
		return nil, fmt.Errorf("binary model: %d features, but the feature spec is %d wide", binary.NumFeature(), width)
	}
	if category != nil {
		switch {
		case classes == nil && category.NumClass() != numCategories:
			return nil, fmt.Errorf("category model: %d classes, want %d (%v), or its classes named in %s (models.category.classes)",
				category.NumClass(), numCategories, etl.Classes(), manifestName)
		case classes == nil:
			classes = etl.Classes()
		case category.NumClass() != len(classes):
			return nil, fmt.Errorf("category model: %d classes, but %s names %d (%v)", category.NumClass(), manifestName, len(classes), classes)
		}
		if category.NumFeature() != width {
			return nil, fmt.Errorf("category model: %d features, but the feature spec is %d wide", category.NumFeature(), width)
		}
	}
	d := &Detector{spec: spec, width: width, classes: classes, info: info, operating: operating}
	var err error
	if d.binary, err = newScorer(binary); err != nil {
		return nil, fmt.Errorf("binary model: %w", err)
	}
	if d.category, err = newScorer(category); err != nil {
		return nil, fmt.Errorf("category model: %w", err)
	}
	return d, nil
}

// scorer is one of a Detector's models with its concrete type kept, so
// that Score calls it statically: a slice passed through a Model interface
// escapes, and Score's stack buffer of probabilities would cost an
// allocation per call. The zero scorer is an absent model.
type scorer struct {
	forest *Forest
	lgbm   *LightGBM
}

func newScorer(m Model) (scorer, error) {
	switch m := m.(type) {
	case nil:
		return scorer{}, nil
	case *Forest:
		return scorer{forest: m}, nil
	case *LightGBM:
		return scorer{lgbm: m}, nil
	}
	return scorer{}, fmt.Errorf("a %T: not a model type sagewall reads", m)
}

// model returns the model, nil when it is absent.
func (s scorer) model() Model {
	switch {
	case s.forest != nil:
		return s.forest
	case s.lgbm != nil:
		return s.lgbm
	}
	return nil
}

func (s scorer) present() bool { return s.forest != nil || s.lgbm != nil }

// predictBlock scores up to blockRows rows of the model's width: row i's
// probabilities go to out[i*NumClass():].
func (s scorer) predictBlock(rows [][]float32, out []float32) {
	if s.forest != nil {
		s.forest.predictBlock(rows, out)
		return
	}
	k := s.lgbm.NumClass()
	for i, row := range rows {
		s.lgbm.Predict(row, out[i*k:(i+1)*k])
	}
}

func (s scorer) predict(row, out []float32) {
	if s.forest != nil {
		s.forest.Predict(row, out)
		return
	}
	s.lgbm.Predict(row, out)
}

// ZeroedFeatures names the features the model was trained with at 0 and so
// never uses (the manifest's zeroed_features; nil for a model of all 41).
// The caller may keep and change the slice.
func (d *Detector) ZeroedFeatures() []string { return append([]string(nil), d.zeroed...) }

// Features names the features of the 41 the model can use, in file order:
// the manifest's used_features (or all but its zeroed_features). It is nil
// for a model of all 41, including one loaded without a manifest. For the
// connection-log model these are the 26 a connection log supplies. The
// caller may keep and change the slice.
func (d *Detector) Features() []string { return append([]string(nil), d.features...) }

// Spec returns the feature layout the models were trained on (a copy the caller may keep).
func (d *Detector) Spec() *etl.Spec {
	s := *d.spec
	s.Numeric = append([]string(nil), d.spec.Numeric...)
	s.ProtocolType = append([]string(nil), d.spec.ProtocolType...)
	s.Service = append([]string(nil), d.spec.Service...)
	s.Flag = append([]string(nil), d.spec.Flag...)
	return &s
}

// Info identifies the model. SHA256 is the hash of the model file for a
// detector loaded from one file, and of the binary model, category model and
// spec files as stored, in that order, for a model directory or the bundled model.
func (d *Detector) Info() Info { return d.info }

// Threshold is the score from which a row counts as an attack.
func (d *Detector) Threshold() float64 { return d.operating.Threshold }

// OperatingPoint is the threshold and where it came from: the caller, the
// model's manifest or the default.
func (d *Detector) OperatingPoint() OperatingPoint { return d.operating }

// WithThreshold returns a detector sharing d's models that flags from
// threshold (as the WithThreshold option does at load), without loading
// the models again.
func (d *Detector) WithThreshold(threshold float64) (*Detector, error) {
	if math.IsNaN(threshold) || threshold < 0 || threshold > 1 {
		return nil, fmt.Errorf("threshold %v: must be between 0 and 1", threshold)
	}
	c := *d
	c.operating = OperatingPoint{Threshold: threshold, Source: "option"}
	return &c, nil
}

// HasCategory reports whether the detector has a category model (a
// detector loaded from a single binary model file has none).
func (d *Detector) HasCategory() bool { return d.category.present() }

// CategoryClasses are the category model's classes in its output order: the
// 4 attack classes for the bundled models, etl.Classes() for a 5-class
// model; nil without a category model. The caller may keep and change the
// slice.
func (d *Detector) CategoryClasses() []etl.Class { return slices.Clone(d.classes) }

// primary is the model whose outputs NumClass counts: the binary model, or
// the category model of a detector that has no binary one.
func (d *Detector) primary() Model {
	if d.binary.present() {
		return d.binary.model()
	}
	return d.category.model()
}

// NumClass is the number of probabilities PredictProba writes per row: 1
// (P(attack)) for a detector with a binary model, 5 for a detector loaded
// from a single 5-class model.
func (d *Detector) NumClass() int { return d.primary().NumClass() }

// Objective is the objective of the model NumClass counts the outputs of,
// as its library names it (e.g. "binary:logistic", "multi:softmax",
// LightGBM's "multiclass").
func (d *Detector) Objective() string { return d.primary().Objective() }

// Describe names the objective of each model and what sagewall makes of
// it where that differs from the library's predict (binary:logitraw,
// multi:softmax), for start-up logs: e.g. "binary model: binary:logistic;
// category model: multi:softprob, 5 classes".
func (d *Detector) Describe() string {
	var parts []string
	if d.binary.present() {
		parts = append(parts, "binary model: "+describeModel(d.binary.model()))
	}
	if d.category.present() {
		role := "category model: "
		if !d.binary.present() {
			role = "category model, P(attack) = 1 - P(normal): "
		}
		parts = append(parts, fmt.Sprintf("%s%s %v", role, describeModel(d.category.model()), d.classes))
	}
	return strings.Join(parts, "; ")
}

// PredictProba writes NumClass() probabilities for each of len(out)/NumClass()
// rows laid out flat in rows: P(attack) from the binary model, or the class
// probabilities of a detector loaded from a single multi-class model
// (etl.Classes order). It is what `sagewall serve` answers.
func (d *Detector) PredictProba(ctx context.Context, rows []float32, out []float32) error {
	m := d.primary()
	k := m.NumClass()
	n := len(out) / k
	if len(out) != n*k || len(rows) != n*d.width {
		return fmt.Errorf("predicting: %d values are not %d rows of %d features, or out (%d) not %d per row", len(rows), n, d.width, len(out), k)
	}
	for i := range n {
		if i%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("predicting: %w", err)
			}
		}
		m.Predict(rows[i*d.width:(i+1)*d.width], out[i*k:(i+1)*k])
	}
	return nil
}

// classPredictor is a model that can say which class XGBoost's
// multi:softmax predicts (Forest).
type classPredictor interface {
	PredictClass(row []float32) int
}

// PredictClass writes, for each of len(out) rows laid out flat in rows, the
// class a multi-class model predicts: for an XGBoost model the index of the
// largest margin (what multi:softmax's predict returns), for another the
// most likely class. For a binary detector it is 1 for P(attack) > 0.5.
func (d *Detector) PredictClass(ctx context.Context, rows []float32, out []int) error {
	if len(rows) != len(out)*d.width {
		return fmt.Errorf("predicting: %d values are not %d rows of %d features", len(rows), len(out), d.width)
	}
	m := d.primary()
	cp, exact := m.(classPredictor)
	probs := make([]float32, m.NumClass())
	for i := range out {
		if i%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("predicting: %w", err)
			}
		}
		row := rows[i*d.width : (i+1)*d.width]
		if exact {
			out[i] = cp.PredictClass(row)
			continue
		}
		m.Predict(row, probs)
		if len(probs) == 1 {
			out[i] = int(boolToInt32(probs[0] > 0.5))
			continue
		}
		best := 0
		for k, p := range probs {
			if p > probs[best] {
				best = k
			}
		}
		out[i] = best
	}
	return nil
}

// AttackCategory is the category of a row flagged by a model that also
// gives its class probabilities (a single 5-class model, etl.Classes
// order): the most likely of the attack classes, with its probability given
// that the row is an attack, P(class) / (1 - P(normal)). The model itself
// said attack, so the question left is which one.
func AttackCategory(probs []float32) (etl.Class, float32) {
	best := int(etl.Normal) + 1
	for k := best + 1; k < len(probs); k++ {
		if probs[k] > probs[best] {
			best = k
		}
	}
	p := probs[best]
	if attack := 1 - probs[etl.Normal]; attack > 0 {
		p = min(p/attack, 1)
	}
	return etl.Class(best), p
}

// FlaggedCategory is the category a separate category model, whose outputs
// probs are the probabilities of classes, gives a row the binary model
// flagged: the most likely attack class, with its probability given that
// the row is an attack, P(class) / (1 - P(normal)). A model of the attack
// classes alone (the bundled ones) gives that directly. When the model has
// a normal class and it is the most likely, the two models disagree, and
// the row stays Normal with P(normal), which verdicts name Unclassified
// (Result.CategoryName) rather than present the least unlikely attack class
// as an answer. classes must hold an attack class.
func FlaggedCategory(classes []etl.Class, probs []float32) (etl.Class, float32) {
	best := -1
	var normal float32
	for k, c := range classes {
		switch {
		case c == etl.Normal:
			normal = probs[k]
		case best < 0 || probs[k] > probs[best]:
			best = k
		}
	}
	if normal > probs[best] {
		return etl.Normal, normal
	}
	p := probs[best]
	if attack := 1 - normal; attack > 0 {
		p = min(p/attack, 1)
	}
	return classes[best], p
}

// ctxCheckRows is how many rows Score scores between looks at its context.
const ctxCheckRows = 1024

// Score scores len(out) rows laid out flat in rows (len(rows) ==
// len(out)*Spec().Width()). Every row goes through the binary model; only the
// rows it flags go through the category model, so normal traffic costs one
// forest, not two. A detector of a single 5-class model scores each row
// once, with that model.
func (d *Detector) Score(ctx context.Context, rows []float32, out []Result) error {
	if len(rows) != len(out)*d.width {
		return fmt.Errorf("scoring: %d values are not %d rows of %d features", len(rows), len(out), d.width)
	}
	// Rows go through each model a block at a time (forest_block.go); the
	// flagged rows go through the category model in blocks of their own,
	// filled across the binary model's blocks.
	var (
		block, flagged [blockRows][]float32
		flaggedAt      [blockRows]int
		nf             int
		probs          [blockRows * numCategories]float32 // on the stack: a category model has at most 5 classes
	)
	for lo := 0; lo < len(out); lo += blockRows {
		if lo%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scoring: %w", err)
			}
		}
		n := min(blockRows, len(out)-lo)
		for i := range n {
			block[i] = rows[(lo+i)*d.width : (lo+i+1)*d.width]
		}
		if !d.binary.present() {
			// A single 5-class model: the classes' probabilities are
			// computed once and serve both the score and the category.
			d.category.predictBlock(block[:n], probs[:n*numCategories])
			for i := range n {
				p := probs[i*numCategories : (i+1)*numCategories]
				r := Result{Score: 1 - p[etl.Normal], Category: etl.Normal}
				r.Attack = float64(r.Score) >= d.operating.Threshold
				if r.Attack {
					r.Category, r.CategoryProb = AttackCategory(p)
				} else {
					r.CategoryProb = 1 - r.Score
				}
				out[lo+i] = r
			}
			continue
		}
		d.binary.predictBlock(block[:n], probs[:n])
		for i := range n {
			r := Result{Score: probs[i], Category: etl.Normal}
			r.Attack = float64(r.Score) >= d.operating.Threshold
			if !r.Attack {
				r.CategoryProb = 1 - r.Score
			}
			out[lo+i] = r
			if !r.Attack || !d.category.present() {
				continue
			}
			flagged[nf], flaggedAt[nf] = block[i], lo+i
			if nf++; nf == blockRows {
				d.categorize(flagged[:nf], flaggedAt[:nf], out)
				nf = 0
			}
		}
	}
	if nf > 0 {
		d.categorize(flagged[:nf], flaggedAt[:nf], out)
	}
	return nil
}

// categorize runs the category model on a block of flagged rows and sets
// the category of their results (out[at[j]] for rows[j]).
func (d *Detector) categorize(rows [][]float32, at []int, out []Result) {
	var probs [blockRows * numCategories]float32
	k := len(d.classes)
	d.category.predictBlock(rows, probs[:len(rows)*k])
	for j, i := range at {
		out[i].Category, out[i].CategoryProb = FlaggedCategory(d.classes, probs[j*k:(j+1)*k])
	}
}
