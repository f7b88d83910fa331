package scoring

import (
	"bytes"
	"fmt"
	"os"
)

// Model is a loaded tree ensemble: an XGBoost *Forest or a *LightGBM.
// Predict writes NumClass() probabilities per row (1 for a binary model:
// P(positive class)); a NaN value is missing, and a row shorter than
// NumFeature() misses the absent features. Models are immutable and safe
// for concurrent use.
type Model interface {
	NumClass() int
	NumFeature() int
	// Objective is the training objective as the library names it:
	// "binary:logistic", "multi:softprob", ... for XGBoost, "binary" or
	// "multiclass" for LightGBM.
	Objective() string
	Predict(row []float32, out []float32)
}

// LoadModel reads a model file of any format sagewall reads (see
// ParseModel).
func LoadModel(path string) (Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	m, err := ParseModel(data)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	return m, nil
}

// ParseModel decodes a model of any format sagewall reads: XGBoost JSON,
// UBJSON or legacy binary, or a LightGBM text model, each as is, gzipped or
// as the model of a SageMaker model.tar.gz (see ParseXGBoost for the archive
// rule and the decompression cap). A LightGBM model is told apart by the
// "tree" line that opens LightGBM's text format.
func ParseModel(data []byte) (Model, error) {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		member, err := modelFromGzip(data)
		if err != nil {
			return nil, err
		}
		data = member
	}
	if isLightGBMText(data) {
		return ParseLightGBM(data)
	}
	m, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	return newForest(m)
}

// isLightGBMText reports whether data opens like LightGBM's text model
// format: a first line "tree".
func isLightGBMText(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	return string(bytes.TrimSpace(line)) == "tree"
}

// describeModel names a model's objective, its class count when it has
// several, and, where sagewall's score differs from what XGBoost's predict
// returns, what sagewall does instead: for logs and Detector.Describe.
func describeModel(m Model) string {
	switch m.Objective() {
	case ObjectiveBinaryLogitRaw:
		return m.Objective() + " (XGBoost predicts the margin; sagewall scores sigmoid(margin), the probability the logistic loss was trained for)"
	case ObjectiveMultiSoftmax:
		return fmt.Sprintf("%s, %d classes (XGBoost predicts the class index; sagewall scores the class probabilities behind it, and serve answers the index)", m.Objective(), m.NumClass())
	case ObjectiveMultiSoftprob, "multiclass":
		return fmt.Sprintf("%s, %d classes", m.Objective(), m.NumClass())
	}
	return m.Objective()
}
