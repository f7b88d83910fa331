package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	for _, tt := range []struct {
		args           []string
		wantPositional []string
		wantThreshold  float64
		wantJSON       bool
	}{
		{[]string{"a.csv"}, []string{"a.csv"}, 0.5, false},
		{[]string{"--threshold", "0.9", "a.csv"}, []string{"a.csv"}, 0.9, false},
		{[]string{"a.csv", "--threshold", "0.9", "--json"}, []string{"a.csv"}, 0.9, true},
		{[]string{"a.csv", "-", "--json"}, []string{"a.csv", "-"}, 0.5, true},
		{[]string{"--json", "--", "--threshold", "x"}, []string{"--threshold", "x"}, 0.5, true},
		{[]string{"a.csv", "--", "--json"}, []string{"a.csv", "--json"}, 0.5, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		threshold := fs.Float64("threshold", 0.5, "")
		asJSON := fs.Bool("json", false, "")
		got, err := parseInterspersed(fs, tt.args)
		if err != nil || !slices.Equal(got, tt.wantPositional) || *threshold != tt.wantThreshold || *asJSON != tt.wantJSON {
			t.Errorf("%q: positional %q, threshold %v, json %v, %v; want %q, %v, %v", tt.args, got, *threshold, *asJSON, err,
				tt.wantPositional, tt.wantThreshold, tt.wantJSON)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"a.csv", "--nope"}); err == nil {
		t.Error("an unknown flag after the file was accepted")
	}
}
