package scoring

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// maxModelBytes bounds how much a model file (or the model inside a
// model.tar.gz) may decompress to, so a hostile archive cannot exhaust memory.
const maxModelBytes = 1 << 30

// Real models compress 2–5× (the bundled JSON ones 4.5×); a gzip bomb
// compresses a thousandfold. A model may decompress to maxGzipRatio times its
// compressed size, and always to minDecompressedCap: a 58 KB gzip of 60 MB of
// "0," took 2.4 GB to load before this cap.
const (
	maxGzipRatio       = 16
	minDecompressedCap = 32 << 20
)

// maxJSONValues bounds the values (numbers, strings, arrays, objects) of a
// JSON model: each becomes a generic Go value of ~50 bytes before the
// model is read from them, ~115 bytes of resident memory with the garbage
// collector's headroom. 1.5 M values is a binary model of ~1,000 trees of
// depth 6 (the bundled models have 16,000 and 41,000) and loads within about
// 200 MB; larger models load from UBJSON (XGBoost's default format since
// 2.1), whose typed arrays decode compactly.
const maxJSONValues = 1_500_000

// LoadXGBoost reads an XGBoost model file: JSON, UBJSON, the legacy binary
// format of XGBoost 1.x ("binf"), any of those gzipped, or a SageMaker
// model.tar.gz holding one of them (the member named xgboost-model, or the
// archive's only file). It never hands a file to leaves' XGBoost loader,
// which cannot read these formats (leaves issue #80).
func LoadXGBoost(path string) (*Forest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading XGBoost model: %w", err)
	}
	f, err := ParseXGBoost(data)
	if err != nil {
		return nil, fmt.Errorf("loading XGBoost model %s: %w", path, err)
	}
	return f, nil
}

// ParseXGBoost decodes a model from its bytes, detecting the format as
// LoadXGBoost does.
func ParseXGBoost(data []byte) (*Forest, error) {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		member, err := modelFromGzip(data)
		if err != nil {
			return nil, err
		}
		data = member
	}
	m, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	return newForest(m)
}

// decodeModel picks the reader from the first bytes: JSON and UBJSON both
// open an object with '{', but UBJSON follows it with a length marker for the
// first key where JSON has whitespace or a quote.
func decodeModel(data []byte) (*rawModel, error) {
	switch {
	case len(data) == 0:
		return nil, errors.New("decoding model: empty file")
	case bytes.HasPrefix(data, []byte(legacyMagic)):
		m, err := decodeLegacy(data[len(legacyMagic):])
		if err != nil {
			return nil, fmt.Errorf("decoding legacy binary model: %w", err)
		}
		return m, nil
	case data[0] == '{' && len(data) > 1 && isUBJSONLengthMarker(data[1]):
		doc, err := decodeUBJSON(data)
		if err != nil {
			return nil, fmt.Errorf("decoding UBJSON model: %w", err)
		}
		m, err := modelFromDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("reading UBJSON model: %w", err)
		}
		return m, nil
	case data[0] == '{' || data[0] == ' ' || data[0] == '\n' || data[0] == '\t' || data[0] == '\r':
		doc, err := decodeJSON(data)
		if err != nil {
			return nil, fmt.Errorf("decoding JSON model: %w", err)
		}
		m, err := modelFromDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("reading JSON model: %w", err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("decoding model: unrecognised format (first bytes % x): expected XGBoost JSON, UBJSON, legacy binary (\"binf\") or a model.tar.gz", data[:min(len(data), 8)])
	}
}

// modelFromGzip returns the model inside gzip data: a gzipped model file, or
// a SageMaker model.tar.gz whose member named xgboost-model (else whose only
// regular file) is the model.
func modelFromGzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("opening gzip: %w", err)
	}
	limit := min(maxModelBytes, max(minDecompressedCap, maxGzipRatio*len(data)))
	plain, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing gzip: %w", err)
	}
	if len(plain) > limit {
		return nil, fmt.Errorf("decompressing gzip: %d compressed bytes expand to more than %d (a model compresses at most %d×; larger is a decompression bomb)",
			len(data), limit, maxGzipRatio)
	}
	if !isTar(plain) {
		return plain, nil
	}
	member, err := modelFromTar(plain)
	if err != nil {
		return nil, fmt.Errorf("reading model.tar.gz: %w", err)
	}
	return member, nil
}

// isTar reports whether data starts with a POSIX (ustar) tar header.
func isTar(data []byte) bool {
	return len(data) >= 512 && bytes.HasPrefix(data[257:], []byte("ustar"))
}

func modelFromTar(data []byte) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(data))
	var only []byte
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		names = append(names, hdr.Name)
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading member %q: %w", hdr.Name, err)
		}
		if path.Base(hdr.Name) == "xgboost-model" {
			return body, nil
		}
		only = body
	}
	switch len(names) {
	case 0:
		return nil, errors.New("no model file in the archive")
	case 1:
		return only, nil
	default:
		return nil, fmt.Errorf("no member named xgboost-model among %d files %q", len(names), names)
	}
}
