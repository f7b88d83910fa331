package sagemaker

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestAppendCSVRowRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	row := []float32{0, 1, -1, 0.1, 1e-45, math.MaxFloat32, 3.4028235e+38, 123456789, 0.5}
	for range 1000 {
		row = append(row, float32(rng.NormFloat64()*1e6))
	}
	line := AppendCSVRow(nil, row)
	if !strings.HasSuffix(string(line), "\n") || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("line %q does not end in exactly one newline", line)
	}
	fields := strings.Split(strings.TrimSuffix(string(line), "\n"), ",")
	if len(fields) != len(row) {
		t.Fatalf("%d fields for %d values", len(fields), len(row))
	}
	for i, f := range fields {
		v, err := strconv.ParseFloat(f, 32)
		if err != nil || float32(v) != row[i] {
			t.Fatalf("value %d: %q parses to %v (%v), want %v", i, f, v, err, row[i])
		}
	}
}

func TestParsePredictions(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		rows        int
		perRow      int
		want        []float32
		wantErr     string
	}{
		{"one per line", "text/csv", "0.1\n0.9\n0.5\n", 3, 1, []float32{0.1, 0.9, 0.5}, ""},
		{"one per line crlf", "text/csv; charset=utf-8", "0.1\r\n0.9\r\n", 2, 1, []float32{0.1, 0.9}, ""},
		{"legacy comma-joined", "text/csv", "0.1,0.9,0.5", 3, 1, []float32{0.1, 0.9, 0.5}, ""},
		{"no content type", "", "0.25", 1, 1, []float32{0.25}, ""},
		{"multi-class per line", "text/csv", "0.1,0.2,0.3,0.2,0.2\n0.6,0.1,0.1,0.1,0.1\n", 2, 5, []float32{0.1, 0.2, 0.3, 0.2, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1}, ""},
		{"multi-class bracketed", "text/csv", "[0.1, 0.9]\n[0.8, 0.2]\n", 2, 2, []float32{0.1, 0.9, 0.8, 0.2}, ""},
		{"multi-class legacy single line", "text/csv", "0.1,0.9,0.8,0.2", 2, 2, []float32{0.1, 0.9, 0.8, 0.2}, ""},
		{"json", "application/json", `{"predictions":[{"score":0.1},{"score":0.75}]}`, 2, 1, []float32{0.1, 0.75}, ""},
		{"json multi-class", "application/json", `{"predictions":[{"score":[0.5,0.5]}]}`, 1, 2, []float32{0.5, 0.5}, ""},
		{"jsonlines", "application/jsonlines", "{\"score\":0.3}\n{\"score\":0.7}\n", 2, 1, []float32{0.3, 0.7}, ""},
		{"jsonlines bare", "application/jsonlines", "0.3\n[0.7]\n", 2, 1, []float32{0.3, 0.7}, ""},
		{"too few rows", "text/csv", "0.1\n0.2\n", 3, 1, nil, "got 2 rows, want 3"},
		{"too many rows", "text/csv", "0.1\n0.2\n0.3\n", 2, 1, nil, "got 3 rows, want 2"},
		{"legacy wrong count", "text/csv", "0.1,0.2", 3, 1, nil, "got 2 values, want 3"},
		{"not a number", "text/csv", "0.1\nabc\n", 2, 1, nil, `line 2: value "abc": invalid syntax`},
		{"not a probability", "text/csv", "1.5", 1, 1, nil, "not a probability"},
		{"nan", "text/csv", "NaN", 1, 1, nil, "not a probability"},
		{"json wrong count", "application/json", `{"predictions":[{"score":0.1}]}`, 2, 1, nil, "got 1 predictions, want 2"},
		{"json bad score", "application/json", `{"predictions":[{"score":"x"}]}`, 1, 1, nil, "neither a number nor an array"},
		{"json malformed", "application/json", `{"predictions":`, 1, 1, nil, "parsing application/json response"},
		{"unsupported type", "image/png", "0.1", 1, 1, nil, "unsupported content type"},
		{"empty body", "text/csv", "", 1, 1, nil, "got 0 rows, want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]float32, tt.rows*tt.perRow)
			err := ParsePredictions(tt.contentType, []byte(tt.body), tt.rows, tt.perRow, dst)
			if tt.wantErr != "" {
				var pe *ParseError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a ParseError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if dst[i] != tt.want[i] {
					t.Fatalf("value %d = %v, want %v (all %v)", i, dst[i], tt.want[i], dst)
				}
			}
		})
	}
}

func FuzzParsePredictions(f *testing.F) {
	f.Add("text/csv", []byte("0.1\n0.9\n"), 2, 1)
	f.Add("text/csv", []byte("0.1,0.9"), 2, 1)
	f.Add("application/json", []byte(`{"predictions":[{"score":[0.1,0.9]}]}`), 1, 2)
	f.Add("application/jsonlines", []byte("{\"score\":0.5}\n"), 1, 1)
	f.Fuzz(func(t *testing.T, contentType string, body []byte, rows, perRow int) {
		if rows <= 0 || perRow <= 0 || rows*perRow > 1<<12 || rows > 1<<12 || perRow > 1<<12 {
			return
		}
		dst := make([]float32, rows*perRow)
		if err := ParsePredictions(contentType, body, rows, perRow, dst); err != nil {
			return
		}
		for i, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %d = %v accepted, not a probability", i, v)
			}
		}
	})
}
