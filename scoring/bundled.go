package scoring

import (
	"embed"
	"fmt"
	"io/fs"
)

// bundledFiles are the models embedded in the binary, trained on NSL-KDD
// KDDTrain+ by deploy/train/train.sh (bundled-connlog with --features
// connlog).
//
//go:embed bundled/binary.json.gz bundled/category.json.gz bundled/spec.json bundled/manifest.json
//go:embed bundled-connlog/binary.json.gz bundled-connlog/category.json.gz bundled-connlog/spec.json bundled-connlog/manifest.json
var bundledFiles embed.FS

// Bundled returns the detector for the default model embedded in the
// binary (sagewall-nslkdd: a binary model and a category model of the 4
// attack classes over the KDDTrain+ feature layout, all 41 features).
func Bundled(opts ...Option) (*Detector, error) { return loadBundled("bundled", opts) }

// BundledConnLog returns the detector for the embedded connection-log model
// (sagewall-nslkdd-connlog): the same recipe and layout, trained with the 15
// features a connection log cannot carry (wrong_fragment, urgent and the 13
// content features) at 0, as the feature deriver sets them. Its
// ZeroedFeatures names them and its Features the other 26, which it uses.
func BundledConnLog(opts ...Option) (*Detector, error) { return loadBundled("bundled-connlog", opts) }

func loadBundled(name string, opts []Option) (*Detector, error) {
	dir, err := fs.Sub(bundledFiles, name)
	if err != nil {
		return nil, fmt.Errorf("loading bundled model %s: %w", name, err)
	}
	d, err := loadDirectory(dir, name, opts)
	if err != nil {
		return nil, fmt.Errorf("loading bundled model %s: %w", name, err)
	}
	return d, nil
}
