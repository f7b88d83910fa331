package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

// ModelTarGz packs the gzipped XGBoost model file at path into a
// model.tar.gz holding it as "xgboost-model", the way SageMaker's built-in
// XGBoost container leaves its training output.
func ModelTarGz(t testing.TB, path string) []byte {
	t.Helper()
	return TarGz(t, "xgboost-model", Gunzip(t, path))
}

// TarGz returns a gzipped tar archive holding data as its one member.
func TarGz(t testing.TB, member string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: member, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
