package testenv

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CompatModel is one model file of scoring/testdata/compat (written by
// scoring/testdata/gen/compat.sh), named LIB-VERSION-BASE.FORMAT[.gz]: LIB
// xgb or lgb, BASE the objective's short name (softprob, logitraw, multi…).
type CompatModel struct {
	File    string // the file's name in the directory
	Library string // "xgb" or "lgb"
	Version string // of the library that wrote it
	Base    string
	Format  string // json, ubj, bin, model.tar.gz, txt
	Prefix  string // LIB-VERSION-BASE: its goldens are Prefix+".golden.gz" and, where predict is not P(attack), Prefix+".proba.golden.gz"
}

// CompatModels lists the model files of dir (goldens, rows and the files
// XGBoost refuses, "-bad", left out), failing t when there are fewer than 20.
func CompatModels(t testing.TB, dir string) []CompatModel {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var models []CompatModel
	for _, e := range entries {
		name := e.Name()
		if strings.Contains(name, "golden") || strings.Contains(name, "-bad") || !strings.HasPrefix(name, "xgb-") && !strings.HasPrefix(name, "lgb-") {
			continue
		}
		lib, rest, _ := strings.Cut(name, "-")
		version, rest, _ := strings.Cut(rest, "-")
		base, format, _ := strings.Cut(strings.TrimSuffix(rest, ".gz"), ".")
		if format == "model.tar" {
			format = "model.tar.gz"
		}
		models = append(models, CompatModel{File: name, Library: lib, Version: version, Base: base, Format: format,
			Prefix: lib + "-" + version + "-" + base})
	}
	if len(models) < 20 {
		t.Fatalf("%d models in %s", len(models), dir)
	}
	return models
}

// Gunzip returns the decompressed content of the gzipped file at path.
func Gunzip(t testing.TB, path string) []byte {
	t.Helper()
	compressed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		t.Fatalf("decompressing %s: %v", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decompressing %s: %v", path, err)
	}
	return data
}

// GunzipIn is Gunzip of the file name in dir.
func GunzipIn(t testing.TB, dir, name string) []byte {
	t.Helper()
	return Gunzip(t, filepath.Join(dir, name))
}
