package etl

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzEncode(f *testing.F) {
	lines := trainLines(f, 0)
	// Real lines of every training label, as CSV, JSON and vectors.
	seen := map[string]bool{}
	var seeds [][]byte
	var rec Record
	dst := make([]float32, Width)
	e := NewEncoder(nil)
	for _, l := range lines {
		if err := e.Encode(l, &rec, dst); err != nil {
			f.Fatal(err)
		}
		if !seen[rec.Label] {
			seen[rec.Label] = true
			seeds = append(seeds, l)
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	for _, s := range asJSONLines(f, seeds[:5]) {
		f.Add(s)
	}
	for _, s := range asVectorLines(f, seeds[:5]) {
		f.Add(s)
	}
	for _, s := range []string{
		"", " ", "\r\n", ",", strings.Repeat(",", 40), strings.Repeat(",", 121), "{}", "{", `{"duration":}`,
		`{"duration":1e999}`, `{"duration":"-0"}`, `{"label":"\ud800"}`, `{"\u0064uration":0}`, "[1,2]", "null",
		strings.Replace(lineNormal, "491", "4.91e2", 1), strings.Replace(lineNormal, "491", "-491", 1),
		strings.Replace(lineNormal, "491", "NaN", 1), strings.Replace(lineNormal, "491", "0x1p3", 1),
		strings.Replace(lineNormal, ",491,", ",,", 1), strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":null`, 1),
		strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":"nan"`, 1), strings.Replace(vectorOf(wantNormal), "0,", ",", 3),
		strings.Replace(lineNormal, "491", "12345678901234567890", 1), strings.Replace(lineNormal, "SF", "XX", 1),
		strings.Replace(lineNormal, "ftp_data", "gopher_v2", 1), strings.Replace(lineNormal, ",20", ",2.5", 1),
		lineNormal + "\r", lineNormal + ",extra", strings.TrimSuffix(lineNormal, ",normal,20"),
		jsonOf(lineNormal, `,"x":[[[{"y":null}]]]`), jsonOf(lineOther, `,"label":"norm\"al","difficulty":"15"`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec Record
		dst := make([]float32, Width)
		err := e.Encode(line, &rec, dst)
		trimmed := trimSpace(line)
		if err != nil {
			checkFuzzError(t, line, trimmed, err)
			return
		}
		checkFuzzRecord(t, e, &rec, dst)
		switch rec.Format {
		case JSON:
			checkFuzzJSON(t, trimmed, &rec)
		case CSV:
			checkFuzzCSV(t, trimmed, &rec)
		}
	})
}

func checkFuzzError(t *testing.T, line, trimmed []byte, err error) {
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Err == nil || err.Error() == "" {
		t.Fatalf("Encode(%q): error %v (%T) is not a *FieldError with a reason", line, err, err)
	}
	if len(fe.Value) > maxValueBytes+len("...") {
		t.Fatalf("error value of %d bytes", len(fe.Value))
	}
	deep := bytes.Count(trimmed, []byte("["))+bytes.Count(trimmed, []byte("{")) > maxJSONDepth
	if errors.Is(err, ErrBadJSON) && json.Valid(trimmed) && !deep {
		t.Fatalf("Encode(%q): %v, but encoding/json finds it valid", line, err)
	}
}

// checkFuzzRecord checks the invariants of any accepted record, and that
// its JSON fields encode back to the same vector.
func checkFuzzRecord(t *testing.T, e *Encoder, rec *Record, dst []float32) {
	spec := e.Spec()
	for i, v := range rec.Numeric {
		missing := math.IsNaN(v) && math.IsNaN(float64(dst[i]))
		if v < 0 || math.IsInf(v, 0) || (dst[i] != float32(v) && !missing) {
			t.Fatalf("numeric %d = %v, vector %v", i, v, dst[i])
		}
	}
	start := NumNumeric
	for _, b := range []struct {
		vocab []string
		value string
	}{{spec.ProtocolType, rec.ProtocolType}, {spec.Service, rec.Service}, {spec.Flag, rec.Flag}} {
		for i, v := range dst[start : start+len(b.vocab)] {
			// A vector's cold cells may be missing (NaN); its hot one may not.
			missingCold := v != v && rec.Format == Vector && b.vocab[i] != b.value
			if want := b.vocab[i] == b.value; !missingCold && (v != 0 && v != 1 || (v == 1) != want) {
				t.Fatalf("column %d = %v for value %q", start+i, v, b.value)
			}
		}
		start += len(b.vocab)
	}
	if rec.Format < CSV || rec.Format > Vector {
		t.Fatalf("format %v", rec.Format)
	}
	obj := append([]byte{'{'}, rec.AppendJSONFields(nil)...)
	obj = append(obj, '}')
	if !json.Valid(obj) {
		t.Fatalf("AppendJSONFields gave invalid JSON: %s", obj)
	}
	var again Record
	dst2 := make([]float32, len(dst))
	if err := e.Encode(obj, &again, dst2); err != nil {
		t.Fatalf("re-encoding %s: %v", obj, err)
	}
	for i := range dst {
		// JSON has no missing one-hot cell: a vector's NaN cold cells come back 0.
		if dst[i] != dst2[i] && !(dst[i] != dst[i] && (dst2[i] != dst2[i] || i >= NumNumeric)) {
			t.Fatalf("re-encoded column %d = %v, want %v (%s)", i, dst2[i], dst[i], obj)
		}
	}
}

// checkFuzzJSON compares an accepted JSON record with encoding/json.
func checkFuzzJSON(t *testing.T, trimmed []byte, rec *Record) {
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || dec.More() {
		t.Fatalf("accepted %q, but encoding/json: %v", trimmed, err)
	}
	for i, name := range FieldNames() {
		var want float64
		switch v := m[name].(type) {
		case nil: // null: a missing value
			want = math.NaN()
		case json.Number:
			want, _ = strconv.ParseFloat(string(v), 64)
		case string:
			if !utf8.ValidString(v) || strings.ContainsRune(v, utf8.RuneError) {
				continue
			}
			if i >= fieldProtocolType && i <= fieldFlag {
				got := []string{rec.ProtocolType, rec.Service, rec.Flag}[i-fieldProtocolType]
				if got != v && !(i == fieldService && rec.UnknownService) {
					t.Fatalf("%s = %q, encoding/json %q", name, got, v)
				}
				continue
			}
			if v == "" {
				want = math.NaN()
			} else {
				want, _ = strconv.ParseFloat(v, 64)
			}
		default:
			t.Fatalf("accepted %s = %v (%T)", name, v, v)
		}
		if got := rec.Numeric[numericIndex(i)]; got != math.Abs(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("%s = %v, encoding/json + strconv %v", name, got, want)
		}
	}
	if label, ok := m["label"].(string); ok && utf8.ValidString(label) && !strings.ContainsRune(label, utf8.RuneError) && label != rec.Label {
		t.Fatalf("label = %q, encoding/json %q", rec.Label, label)
	}
}

// checkFuzzCSV compares the numerics of an accepted CSV record with strconv.
func checkFuzzCSV(t *testing.T, trimmed []byte, rec *Record) {
	fields := strings.Split(string(trimmed), ",")
	if len(fields) < NumFields || len(fields) > NumFields+2 {
		t.Fatalf("accepted %d fields", len(fields))
	}
	for i, name := range FieldNames() {
		if i >= fieldProtocolType && i <= fieldFlag {
			continue
		}
		got := rec.Numeric[numericIndex(i)]
		if fields[i] == "" || strings.EqualFold(fields[i], "nan") {
			if !math.IsNaN(got) {
				t.Fatalf("%s = %v for missing value %q", name, got, fields[i])
			}
			continue
		}
		want, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			t.Fatalf("accepted %s = %q, strconv: %v", name, fields[i], err)
		}
		if got != math.Abs(want) {
			t.Fatalf("%s = %v, strconv %v", name, got, want)
		}
	}
	if len(fields) > NumFields && rec.Label != fields[NumFields] {
		t.Fatalf("label = %q, want %q", rec.Label, fields[NumFields])
	}
}

// FuzzReadSpec feeds arbitrary spec files: ReadSpec must not panic, and an
// Encoder built from any spec it accepts must encode without panicking.
func FuzzReadSpec(f *testing.F) {
	valid, err := json.Marshal(DefaultSpec())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"numeric":[],"protocol_type":["tcp"],"service":["other"],"flag":["SF"]}`))
	f.Add([]byte(strings.Replace(string(valid), `"flag":["OTH",`, `"flag":["OT\u0048",`, 1)))
	f.Add([]byte("{}"))
	lines := [][]byte{[]byte(lineNormal), []byte(jsonOf(lineOther, "")), []byte(vectorOf(wantNeptune))}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ReadSpec(bytes.NewReader(data))
		if err != nil {
			return
		}
		e := NewEncoder(spec)
		var rec Record
		dst := make([]float32, spec.Width())
		for _, line := range lines {
			if err := e.Encode(line, &rec, dst); err == nil {
				checkFuzzRecord(t, e, &rec, dst)
			}
		}
		if len(spec.ColumnNames()) != spec.Width() {
			t.Fatalf("%d column names, width %d", len(spec.ColumnNames()), spec.Width())
		}
	})
}

// FuzzAppendJSONNumber checks the fast paths of appendJSONNumber against
// strconv's shortest 'g' on any float.
func FuzzAppendJSONNumber(f *testing.F) {
	for _, v := range []float64{0, 1, 0.05, -3.75, 999999, 1e6, 9999.99, 1e-7} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		want := "null"
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			want = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if got := string(appendJSONNumber(nil, v)); got != want {
			t.Fatalf("appendJSONNumber(%v) = %q, want %q", v, got, want)
		}
	})
}
