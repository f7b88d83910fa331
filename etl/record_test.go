package etl

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestAppendJSONFields(t *testing.T) {
	e := NewEncoder(nil)
	dst := make([]float32, Width)
	for _, line := range []string{lineNormal, lineOther, lineNeptune, strings.Replace(lineNormal, ",491,", ",1e21,", 1)} {
		var rec Record
		if err := e.Encode([]byte(line), &rec, dst); err != nil {
			t.Fatal(err)
		}
		out := append([]byte("{"), rec.AppendJSONFields(nil)...)
		out = append(out, '}')
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %s: %v", out, err)
		}
		fields := strings.Split(line, ",")
		if len(got) != NumFields {
			t.Errorf("%d members, want %d", len(got), NumFields)
		}
		for i, name := range FieldNames() {
			switch v := got[name].(type) {
			case string:
				if v != fields[i] {
					t.Errorf("%s = %q, want %q", name, v, fields[i])
				}
			case float64:
				if want := rec.Numeric[numericIndex(i)]; v != want {
					t.Errorf("%s = %v, want %v", name, v, want)
				}
			default:
				t.Errorf("%s = %v (%T)", name, v, v)
			}
		}
		// Order follows the file.
		if !strings.HasPrefix(string(out), `{"duration":0,"protocol_type":"`) || !strings.HasSuffix(string(out), `"dst_host_srv_rerror_rate":0}`) {
			t.Errorf("unexpected order: %s", out)
		}
	}
}

func TestAppendJSONFieldsEscapes(t *testing.T) {
	rec := Record{ProtocolType: "t\"c\\p", Service: "a\x01b\u00e9\xff", Flag: "SF"}
	rec.Numeric[0] = math.NaN()
	rec.Numeric[1] = 0.5
	out := append([]byte("{"), rec.AppendJSONFields([]byte{})...)
	out = append(out, '}')
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", out, err)
	}
	if got["protocol_type"] != "t\"c\\p" || got["service"] != "a\x01b\u00e9\ufffd" || got["duration"] != nil || got["src_bytes"] != 0.5 {
		t.Errorf("decoded %v from %s", got, out)
	}
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{CSV: "csv", JSON: "json", Vector: "vector", 0: "Format(0)"} {
		if f.String() != want {
			t.Errorf("Format(%d).String() = %q, want %q", f, f, want)
		}
	}
}

func TestFieldErrorMessage(t *testing.T) {
	tests := []struct {
		err  *FieldError
		want string
	}{
		{&FieldError{Field: "flag", Value: "XX", Reason: "unknown flag"}, `field "flag": value "XX": unknown flag`},
		{&FieldError{Field: "hot", Reason: "missing field", Err: ErrMissingField}, `field "hot": missing field`},
		{&FieldError{Field: "hot", Reason: "not a number", Err: ErrNotNumber}, `field "hot": value "": not a number`},
		{&FieldError{Value: "abc", Reason: "wrong number of fields: 1"}, `value "abc": wrong number of fields: 1`},
		{&FieldError{Reason: "empty line", Err: ErrEmptyLine}, "empty line"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if got := (&LineError{Line: 3, Err: ErrEmptyLine}).Error(); got != "line 3: empty line" {
		t.Errorf("LineError = %q", got)
	}
}

// TestAppendJSONNumberMatchesShortestG checks the integer fast path against
// strconv's shortest 'g' formatting, around its edges and on random values.
func TestAppendJSONNumberMatchesShortestG(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 7, 10, 255, 45076, 99999, 100000, 123456,
		999999, -999999, 1e6, -1e6, 1234567, 1e21, 0.5, 0.05, 1.25, -3.75, -0.05, 0.1, 0.3, 0.07, 9999.99, 10000.01, -9999.99, 1e-7, 999999.5, math.MaxInt64}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		values = append(values, float64(rng.IntN(4_000_000)-2_000_000), float64(rng.IntN(2_000_000)-1_000_000)/100,
			float64(rng.IntN(20000)-10000)/1000, rng.Float64()*100, rng.NormFloat64())
	}
	for _, v := range values {
		want := strconv.FormatFloat(v, 'g', -1, 64)
		if got := string(appendJSONNumber(nil, v)); got != want {
			t.Fatalf("appendJSONNumber(%v) = %q, want %q", v, got, want)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(appendJSONNumber(nil, v)); got != "null" {
			t.Errorf("appendJSONNumber(%v) = %q, want null", v, got)
		}
	}
}
