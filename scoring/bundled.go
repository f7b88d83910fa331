package scoring

import (
	"embed"
	"fmt"
	"io/fs"
)

// bundledFiles is the default model, trained on NSL-KDD KDDTrain+ by
// deploy/train/train.sh.
//
//go:embed bundled/binary.json.gz bundled/category.json.gz bundled/spec.json bundled/manifest.json
var bundledFiles embed.FS

// Bundled returns the detector for the model embedded in the binary
// (sagewall-nslkdd: binary and 5-class category models over the KDDTrain+
// feature layout).
func Bundled(opts ...Option) (*Detector, error) {
	dir, err := fs.Sub(bundledFiles, "bundled")
	if err != nil {
		return nil, fmt.Errorf("loading bundled model: %w", err)
	}
	d, err := loadDirectory(dir, "bundled", opts)
	if err != nil {
		return nil, fmt.Errorf("loading bundled model: %w", err)
	}
	return d, nil
}
