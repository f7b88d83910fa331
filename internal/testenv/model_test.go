package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestModelTarGzHoldsTheModelAsXGBoostModel(t *testing.T) {
	want := []byte(`{"learner":{}}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(want)
	zw.Close()
	path := filepath.Join(t.TempDir(), "model.json.gz")
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	zr, err := gzip.NewReader(bytes.NewReader(ModelTarGz(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "xgboost-model" || !bytes.Equal(got, want) {
		t.Errorf("member %q holds %q, want xgboost-model holding %q", hdr.Name, got, want)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more than one member: %v", err)
	}
}
