// Package nslkdd embeds the NSL-KDD training data (Canadian Institute for
// Cybersecurity, UNB) so the demo, the tests and the training script work
// from the repository alone. See README.md for the attribution.
package nslkdd

import (
	"compress/gzip"
	"embed"
	"fmt"
	"io"
)

//go:embed KDDTrain+.txt.gz KDDTrain+_20Percent.txt.gz
var files embed.FS

// Names of the embedded files.
const (
	Train          = "KDDTrain+.txt.gz"
	Train20        = "KDDTrain+_20Percent.txt.gz"
	TrainRecords   = 125973
	Train20Records = 25192
)

// Open returns the decompressed lines of an embedded file (Train or Train20).
func Open(name string) (io.ReadCloser, error) {
	f, err := files.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening embedded %s: %w", name, err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("decompressing embedded %s: %w", name, err)
	}
	return readCloser{zr, f}, nil
}

type readCloser struct {
	*gzip.Reader
	file io.Closer
}

func (r readCloser) Close() error {
	err := r.Reader.Close()
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	return err
}
