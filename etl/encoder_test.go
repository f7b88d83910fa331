package etl

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sagewall/sagewall/etl/nslkdd"
)

// The first three lines of KDDTrain+.
const (
	lineNormal  = "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20"
	lineOther   = "0,udp,other,SF,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,13,1,0.00,0.00,0.00,0.00,0.08,0.15,0.00,255,1,0.00,0.60,0.88,0.00,0.00,0.00,0.00,0.00,normal,15"
	lineNeptune = "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"
)

// Hand-checked vectors of the three lines: the non-zero columns by name.
var (
	wantNormal = map[string]float32{
		"src_bytes": 491, "count": 2, "srv_count": 2, "same_srv_rate": 1, "dst_host_count": 150,
		"dst_host_srv_count": 25, "dst_host_same_srv_rate": 0.17, "dst_host_diff_srv_rate": 0.03,
		"dst_host_same_src_port_rate": 0.17, "dst_host_rerror_rate": 0.05,
		"protocol_type_tcp": 1, "service_ftp_data": 1, "flag_SF": 1,
	}
	wantOther = map[string]float32{
		"src_bytes": 146, "count": 13, "srv_count": 1, "same_srv_rate": 0.08, "diff_srv_rate": 0.15,
		"dst_host_count": 255, "dst_host_srv_count": 1, "dst_host_diff_srv_rate": 0.60,
		"dst_host_same_src_port_rate": 0.88,
		"protocol_type_udp":           1, "service_other": 1, "flag_SF": 1,
	}
	wantNeptune = map[string]float32{
		"count": 123, "srv_count": 6, "serror_rate": 1, "srv_serror_rate": 1, "same_srv_rate": 0.05,
		"diff_srv_rate": 0.07, "dst_host_count": 255, "dst_host_srv_count": 26, "dst_host_same_srv_rate": 0.10,
		"dst_host_diff_srv_rate": 0.05, "dst_host_serror_rate": 1, "dst_host_srv_serror_rate": 1,
		"protocol_type_tcp": 1, "service_private": 1, "flag_S0": 1,
	}
)

// checkVector compares dst with the named non-zero columns of want.
func checkVector(t *testing.T, dst []float32, want map[string]float32) {
	t.Helper()
	names := DefaultSpec().ColumnNames()
	if len(dst) != len(names) {
		t.Fatalf("vector has %d values, want %d", len(dst), len(names))
	}
	for i, name := range names {
		if dst[i] != want[name] {
			t.Errorf("column %d %s = %v, want %v", i, name, dst[i], want[name])
		}
	}
}

// jsonOf builds a JSON record from the fields of a CSV line (all as JSON
// numbers or strings) plus extra members.
func jsonOf(csvLine string, extra string) string {
	fields := strings.Split(csvLine, ",")
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range FieldNames() {
		if i > 0 {
			b.WriteByte(',')
		}
		if i >= fieldProtocolType && i <= fieldFlag {
			fmt.Fprintf(&b, "%q:%q", name, fields[i])
		} else {
			fmt.Fprintf(&b, "%q:%s", name, fields[i])
		}
	}
	b.WriteString(extra)
	b.WriteByte('}')
	return b.String()
}

// vectorOf writes a named-column vector as a comma-separated line.
func vectorOf(want map[string]float32) string {
	names := DefaultSpec().ColumnNames()
	vals := make([]string, len(names))
	for i, n := range names {
		vals[i] = fmt.Sprint(want[n])
	}
	return strings.Join(vals, ",")
}

// withColumns rewrites each column of a comma-separated line.
func withColumns(line string, f func(i int, v string) string) string {
	cols := strings.Split(line, ",")
	for i, v := range cols {
		cols[i] = f(i, v)
	}
	return strings.Join(cols, ",")
}

func TestEncodeFormats(t *testing.T) {
	features := func(line string) string { return strings.Join(strings.Split(line, ",")[:NumFields], ",") }
	tests := []struct {
		name       string
		line       string
		format     Format
		want       map[string]float32
		service    string
		label      string
		difficulty int
	}{
		{"csv 43 fields", lineNormal, CSV, wantNormal, "ftp_data", "normal", 20},
		{"csv 42 fields", features(lineNeptune) + ",neptune", CSV, wantNeptune, "private", "neptune", -1},
		{"csv 41 fields", features(lineOther), CSV, wantOther, "other", "", -1},
		{"csv with CRLF and spaces", " " + lineNeptune + "\r\n", CSV, wantNeptune, "private", "neptune", 19},
		{"csv with byte order mark", "\ufeff" + lineNeptune, CSV, wantNeptune, "private", "neptune", 19},
		{"csv empty label", features(lineNormal) + ",", CSV, wantNormal, "ftp_data", "", -1},
		{"csv exponent", strings.Replace(lineNormal, ",491,", ",4.91e2,", 1), CSV, wantNormal, "ftp_data", "normal", 20},
		{"json numbers", jsonOf(lineNormal, ""), JSON, wantNormal, "ftp_data", "", -1},
		{"json label and difficulty", jsonOf(lineNeptune, `,"label":"neptune","difficulty":19`), JSON, wantNeptune, "private", "neptune", 19},
		{"json numeric strings", strings.ReplaceAll(jsonOf(lineOther, `,"difficulty":"15"`), ":0.88", `:"0.88"`), JSON, wantOther, "other", "", 15},
		{"json null label", jsonOf(lineOther, `,"label":null,"difficulty":null`), JSON, wantOther, "other", "", -1},
		{"json extra keys ignored", jsonOf(lineNormal, `,"src_ip":"10.0.0.1","tags":[1,{"a":[true,false,null]}],"n":-1.5e3`), JSON, wantNormal, "ftp_data", "", -1},
		{"json whitespace and escapes", strings.Replace(strings.Replace(jsonOf(lineNormal, ` , "label" : "nor\u006dal" `), `"flag":"SF"`, ` "\u0066lag" : "S\u0046" `, 1), "{", "{ ", 1), JSON, wantNormal, "ftp_data", "normal", -1},
		{"vector", vectorOf(wantNormal), Vector, wantNormal, "ftp_data", "", -1},
		{"vector booleans", withColumns(vectorOf(wantNeptune), func(i int, v string) string {
			if i < NumNumeric {
				return v
			}
			return map[string]string{"0": "False", "1": "True"}[v]
		}), Vector, wantNeptune, "private", "", -1},
	}
	e := NewEncoder(DefaultSpec())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, dst := mustEncode(t, e, tt.line)
			checkVector(t, dst, tt.want)
			if rec.Format != tt.format || rec.Service != tt.service || rec.Label != tt.label || rec.Difficulty != tt.difficulty {
				t.Errorf("record = %v/%q/%q/%d, want %v/%q/%q/%d", rec.Format, rec.Service, rec.Label, rec.Difficulty,
					tt.format, tt.service, tt.label, tt.difficulty)
			}
			if rec.UnknownService {
				t.Error("UnknownService set for a known service")
			}
		})
	}
}

// TestEncodeMissingValues checks every spelling of a missing numeric value
// (an empty CSV field, NaN in any case, JSON null, "" and "NaN") in each
// format, and missing one-hot cells of a vector: the value is NaN, every
// other column as without it.
func TestEncodeMissingValues(t *testing.T) {
	fields := strings.Split(lineNormal, ",")
	csvWith := func(values map[int]string) string {
		f := append([]string(nil), fields...)
		for i, v := range values {
			f[i] = v
		}
		return strings.Join(f, ",")
	}
	vector := vectorOf(wantNormal)
	vectorWith := func(values map[int]string) string {
		return withColumns(vector, func(i int, v string) string {
			if nv, ok := values[i]; ok {
				return nv
			}
			return v
		})
	}
	names := DefaultSpec().ColumnNames()
	tests := []struct {
		name    string
		line    string
		format  Format
		missing []string // columns that must be NaN
	}{
		{"csv empty first field", csvWith(map[int]string{0: ""}), CSV, []string{"duration"}},
		{"csv empty last field", csvWith(map[int]string{40: ""})[:strings.LastIndex(csvWith(map[int]string{40: ""}), ",normal")], CSV, []string{"dst_host_srv_rerror_rate"}},
		{"csv NaN spellings", csvWith(map[int]string{4: "NaN", 24: "nan", 30: "NAN", 31: ""}), CSV, []string{"src_bytes", "serror_rate", "srv_diff_host_rate", "dst_host_count"}},
		{"json null", strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":null`, 1), JSON, []string{"hot"}},
		{"json strings", strings.Replace(strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":""`, 1), `"count":2`, `"count":"NaN"`, 1), JSON, []string{"hot", "count"}},
		{"vector empty cells", vectorWith(map[int]string{0: "", 21: "", 37: ""}), Vector, []string{"duration", "serror_rate", "dst_host_srv_rerror_rate"}},
		{"vector NaN", vectorWith(map[int]string{5: "NaN", 6: "nan"}), Vector, []string{names[5], names[6]}},
		{"vector missing cold one-hot cells", vectorWith(map[int]string{NumNumeric: "", NumNumeric + 2: "NaN", NumNumeric + 3: "nan", len(names) - 1: ""}),
			Vector, []string{names[NumNumeric], names[NumNumeric+2], names[NumNumeric+3], names[len(names)-1]}},
	}
	e := NewEncoder(DefaultSpec())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, dst := mustEncode(t, e, tt.line)
			if rec.Format != tt.format || rec.Service != "ftp_data" || rec.Flag != "SF" || rec.ProtocolType != "tcp" {
				t.Errorf("record %v %s/%s/%s, want %v tcp/ftp_data/SF", rec.Format, rec.ProtocolType, rec.Service, rec.Flag, tt.format)
			}
			for i, name := range names {
				want := wantNormal[name]
				if slices.Contains(tt.missing, name) {
					want = float32(math.NaN())
				}
				if got := dst[i]; got != want && !(got != got && want != want) {
					t.Errorf("column %d %s = %v, want %v", i, name, got, want)
				}
			}
			// A missing value is written back as null and reads back missing.
			obj := append([]byte{'{'}, rec.AppendJSONFields(nil)...)
			obj = append(obj, '}')
			again := make([]float32, Width)
			if err := e.Encode(obj, &Record{}, again); err != nil {
				t.Fatalf("re-encoding %s: %v", obj, err)
			}
			for i := range NumNumeric {
				if again[i] != dst[i] && !(again[i] != again[i] && dst[i] != dst[i]) {
					t.Errorf("re-encoded column %d = %v, want %v", i, again[i], dst[i])
				}
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	fields := strings.Split(lineNormal, ",")
	with := func(i int, v string) string {
		f := append([]string(nil), fields...)
		f[i] = v
		return strings.Join(f, ",")
	}
	long := strings.Repeat("9", 5000)
	tests := []struct {
		name     string
		line     string
		sentinel error
		message  string
	}{
		{"empty", "", ErrEmptyLine, "empty line"},
		{"blank", " \t\r\n", ErrEmptyLine, "empty line"},
		{"too long", lineNormal + "," + long, ErrLineTooLong, `value "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,...": line too long: 5152 bytes (limit 4096)`},
		{"40 fields", strings.Join(fields[:40], ","), ErrFieldCount, "wrong number of fields: 40 (want 41, 42 or 43, or 122 for an encoded vector)"},
		{"44 fields", lineNormal + ",x", ErrFieldCount, "wrong number of fields: 44"},
		{"one field", "hello", ErrFieldCount, `value "hello": wrong number of fields: 1`},
		{"unknown protocol", with(1, "sctp"), ErrUnknownValue, `field "protocol_type": value "sctp": unknown protocol_type`},
		{"unknown flag", with(3, "XX"), ErrUnknownValue, `field "flag": value "XX": unknown flag`},
		{"empty flag", with(3, ""), ErrUnknownValue, `field "flag": value "": unknown flag`},
		{"empty service", with(2, ""), ErrUnknownValue, `field "service": value "": empty service`},
		{"non-numeric", with(4, "12a"), ErrNotNumber, `field "src_bytes": value "12a": not a number`},
		{"negative", with(5, "-3"), ErrNegative, `field "dst_bytes": value "-3": negative`},
		{"Inf", with(40, "Inf"), ErrNotNumber, `field "dst_host_srv_rerror_rate": value "Inf": not a number`},
		{"overflow", with(22, "1e999"), ErrNotFinite, `field "count": value "1e999": not finite`},
		{"long value truncated", with(4, strings.Repeat("x", 100)), ErrNotNumber, `field "src_bytes": value "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...": not a number`},
		{"quoted value", with(3, `"S"F`), ErrUnknownValue, `field "flag": value "\"S\"F": unknown flag`},
		{"bad difficulty", with(42, "hard"), ErrNotNumber, `field "difficulty": value "hard": not a number`},
		{"fractional difficulty", with(42, "2.5"), ErrNotInteger, `field "difficulty": value "2.5": not an integer`},
		{"negative difficulty", with(42, "-1"), ErrNegative, `field "difficulty": value "-1": negative`},
		{"bad JSON", `{"duration":0,`, ErrBadJSON, "invalid JSON at byte 15: expected a string key"},
		{"JSON trailing data", jsonOf(lineNormal, "") + "x", ErrBadJSON, "data after the object"},
		{"JSON missing field", `{"duration":0}`, ErrMissingField, `field "protocol_type": missing field`},
		{"JSON duplicate field", `{"duration":0,"duration":1}`, ErrDuplicateField, `field "duration": duplicate field`},
		{"JSON wrong type", strings.Replace(jsonOf(lineNormal, ""), `"land":0`, `"land":true`, 1), ErrWrongType, `field "land": value "true": not a number or numeric string`},
		{"JSON number as category", strings.Replace(jsonOf(lineNormal, ""), `"flag":"SF"`, `"flag":1`, 1), ErrWrongType, `field "flag": value "1": not a string`},
		{"JSON null category", strings.Replace(jsonOf(lineNormal, ""), `"flag":"SF"`, `"flag":null`, 1), ErrWrongType, `field "flag": value "null": not a string`},
		{"missing protocol", with(1, ""), ErrUnknownValue, `field "protocol_type": value "": unknown protocol_type`},
		{"vector missing hot column", withColumns(vectorOf(wantNormal), func(i int, v string) string {
			if v == "1" && i >= NumNumeric && i < NumNumeric+3 {
				return ""
			}
			return v
		}), ErrNotOneHot, `field "protocol_type": protocol_type block has no 1`},
		{"JSON negative", strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":-2`, 1), ErrNegative, `field "hot": value "-2": negative`},
		{"JSON bad numeric string", strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":"two"`, 1), ErrNotNumber, `field "hot": value "two": not a number`},
		{"JSON leading zero", strings.Replace(jsonOf(lineNormal, ""), `"hot":0`, `"hot":01`, 1), ErrBadJSON, "expected ',' or '}'"},
		{"JSON label number", jsonOf(lineNormal, `,"label":3`), ErrWrongType, `field "label": value "3": not a string`},
		{"JSON unknown flag", strings.Replace(jsonOf(lineNormal, ""), `"flag":"SF"`, `"flag":"sf"`, 1), ErrUnknownValue, `field "flag": value "sf": unknown flag`},
		{"JSON too deep", jsonOf(lineNormal, `,"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)), ErrBadJSON, "invalid value"},
		{"JSON control char", `{"label":"a` + "\x01" + `b"}`, ErrBadJSON, "invalid"},
		{"vector not one-hot", withColumns(vectorOf(wantNormal), func(i int, v string) string {
			if i == NumNumeric+4 {
				return "0.5"
			}
			return v
		}), ErrNotOneHot, "not 0 or 1 in a one-hot column"},
		{"vector no hot column", vectorOf(map[string]float32{"protocol_type_tcp": 1, "flag_SF": 1}), ErrNotOneHot, `field "service": service block has no 1`},
		{"vector two hot columns", vectorOf(map[string]float32{"protocol_type_tcp": 1, "protocol_type_udp": 1, "service_http": 1, "flag_SF": 1}), ErrNotOneHot,
			"protocol_type block has more than one 1 (columns protocol_type_tcp and protocol_type_udp)"},
		{"vector negative", "-1" + vectorOf(wantNormal)[1:], ErrNegative, `field "duration": value "-1": negative`},
		{"rate above 1", with(24, "1.5"), ErrOutOfRange, `field "serror_rate": value "1.5": out of range: a rate is a fraction between 0 and 1`},
		{"last rate above 1", with(40, "2"), ErrOutOfRange, `field "dst_host_srv_rerror_rate": value "2": out of range`},
		{"rate as a percentage", with(33, "100"), ErrOutOfRange, `field "dst_host_same_srv_rate": value "100": out of range`},
		{"JSON rate above 1", strings.Replace(jsonOf(lineNormal, ""), `"same_srv_rate":1`, `"same_srv_rate":1.01`, 1), ErrOutOfRange, `field "same_srv_rate": value "1.01": out of range`},
		{"vector rate above 1", withColumns(vectorOf(wantNormal), func(i int, v string) string {
			if i == 21 { // serror_rate
				return "3"
			}
			return v
		}), ErrOutOfRange, `field "serror_rate": value "3": out of range`},
	}
	e := NewEncoder(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec Record
			dst := make([]float32, Width)
			err := e.Encode([]byte(tt.line), &rec, dst)
			if err == nil {
				t.Fatalf("Encode(%q) succeeded, want %v", tt.line, tt.sentinel)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %q is not %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
			le := LineError{Line: 7, Err: err}
			if want := "line 7: " + err.Error(); le.Error() != want || !errors.Is(le, tt.sentinel) {
				t.Errorf("LineError = %q (Is %v), want %q", le.Error(), errors.Is(le, tt.sentinel), want)
			}
		})
	}
}

func TestEncodeMisuse(t *testing.T) {
	var rec Record
	if err := NewEncoder(nil).Encode([]byte(lineNormal), &rec, make([]float32, Width-1)); err == nil {
		t.Error("Encode into a short dst succeeded")
	}
	if err := NewEncoder(nil).Encode([]byte(lineNormal), nil, make([]float32, Width)); err == nil {
		t.Error("Encode into a nil Record succeeded")
	}
	bad := DefaultSpec()
	bad.Service = bad.Service[:10] // lacks "other"
	if err := NewEncoder(bad).Encode([]byte(lineNormal), &rec, make([]float32, Width)); err == nil || !strings.Contains(err.Error(), `lacks "other"`) {
		t.Errorf("Encode with an invalid spec: %v", err)
	}
	short := NewEncoder(nil, WithMaxLineBytes(100))
	if err := short.Encode([]byte(lineNormal), &rec, make([]float32, Width)); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("WithMaxLineBytes(100): %v, want ErrLineTooLong", err)
	}
}

func TestUnknownService(t *testing.T) {
	e := NewEncoder(nil)
	var rec Record
	dst := make([]float32, Width)
	line := strings.Replace(lineNormal, "ftp_data", "gopher_v2", 1)
	for i := range 3 {
		if err := e.Encode([]byte(line), &rec, dst); err != nil {
			t.Fatal(err)
		}
		if got := e.UnknownServices(); got != uint64(i+1) {
			t.Errorf("UnknownServices() = %d, want %d", got, i+1)
		}
	}
	if !rec.UnknownService || rec.Service != "other" {
		t.Errorf("record service = %q, unknown = %v; want other, true", rec.Service, rec.UnknownService)
	}
	want := map[string]float32{}
	for k, v := range wantNormal {
		want[k] = v
	}
	delete(want, "service_ftp_data")
	want["service_other"] = 1
	checkVector(t, dst, want)
	// A known service clears the flag on the reused record.
	if err := e.Encode([]byte(lineNormal), &rec, dst); err != nil || rec.UnknownService {
		t.Errorf("known service after unknown: err %v, UnknownService %v", err, rec.UnknownService)
	}
	if e.UnknownServices() != 3 {
		t.Errorf("UnknownServices() = %d after a known service, want 3", e.UnknownServices())
	}
	// A rejected record is not counted, whatever its service.
	bad := strings.Replace(line, ",491,", ",-491,", 1)
	if err := e.Encode([]byte(bad), &rec, dst); err == nil || e.UnknownServices() != 3 {
		t.Errorf("rejected record: err %v, UnknownServices() = %d, want 3", err, e.UnknownServices())
	}
}

// TestEncodeKDDTrain encodes every embedded KDDTrain+ line and checks that
// each one-hot block has exactly one 1 and the numerics match the record.
func TestEncodeKDDTrain(t *testing.T) {
	lines := trainLines(t, 0)
	if len(lines) != nslkdd.TrainRecords {
		t.Fatalf("read %d lines, want %d", len(lines), nslkdd.TrainRecords)
	}
	spec := DefaultSpec()
	e := NewEncoder(spec)
	var rec Record
	dst := make([]float32, Width)
	blocks := []int{len(spec.ProtocolType), len(spec.Service), len(spec.Flag)}
	labels := map[string]int{}
	for n, line := range lines {
		if err := e.Encode(line, &rec, dst); err != nil {
			t.Fatal(LineError{Line: n + 1, Err: err})
		}
		start := NumNumeric
		for _, size := range blocks {
			var sum float32
			for _, v := range dst[start : start+size] {
				if v != 0 && v != 1 {
					t.Fatalf("line %d: one-hot value %v", n+1, v)
				}
				sum += v
			}
			if sum != 1 {
				t.Fatalf("line %d: one-hot block at %d sums to %v", n+1, start, sum)
			}
			start += size
		}
		for i, v := range rec.Numeric {
			if dst[i] != float32(v) || v < 0 || math.IsInf(v, 0) {
				t.Fatalf("line %d: numeric %d = %v, vector %v", n+1, i, v, dst[i])
			}
		}
		if rec.Difficulty < 0 || rec.Difficulty > 21 {
			t.Fatalf("line %d: difficulty %d", n+1, rec.Difficulty)
		}
		labels[rec.Label]++
	}
	if e.UnknownServices() != 0 {
		t.Errorf("UnknownServices() = %d on the training data", e.UnknownServices())
	}
	if len(labels) != 23 || labels["normal"] != 67343 {
		t.Errorf("labels: %d distinct, %d normal; want 23, 67343", len(labels), labels["normal"])
	}
	for label := range labels {
		if _, ok := ClassOfLabel(label); !ok {
			t.Errorf("training label %q has no class", label)
		}
	}
}

// TestEncodeMatchesStdlib cross-checks the encoder with the straightforward
// encoding/csv + strconv implementation on real lines, as CSV and as JSON.
func TestEncodeMatchesStdlib(t *testing.T) {
	lines := trainLines(t, 5000)
	jsonLines := asJSONLines(t, lines)
	e := NewEncoder(nil)
	ref := newStdlibEncoder(DefaultSpec())
	var rec Record
	got, want := make([]float32, Width), make([]float32, Width)
	for n := range lines {
		for _, c := range []struct {
			line []byte
			ref  func([]byte, []float32) error
		}{{lines[n], ref.encodeCSV}, {lines[n], ref.encodeSplit}, {jsonLines[n], ref.encodeJSON}} {
			if err := e.Encode(c.line, &rec, got); err != nil {
				t.Fatal(err)
			}
			if err := c.ref(c.line, want); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: column %d = %v, reference %v", c.line, i, got[i], want[i])
				}
			}
		}
	}
}

// TestEncodeAllocs checks that steady-state encoding allocates nothing, for
// every format and for labels of known attacks.
func TestEncodeAllocs(t *testing.T) {
	lines := trainLines(t, 2000)
	jsonLines := asJSONLines(t, lines[:200])
	vectorLines := asVectorLines(t, lines[:200])
	unknown := []byte(strings.Replace(lineNormal, "ftp_data", "gopher_v2", 1))
	// Values off the fast paths go through strconv; short ones must not allocate either.
	slow := []byte(strings.Replace(strings.Replace(lineNormal, ",491,", ",4.91e2,", 1), ",150,", ",1500000000000000000000,", 1))
	e := NewEncoder(nil)
	var rec Record
	dst := make([]float32, Width)
	for _, c := range []struct {
		name  string
		lines [][]byte
	}{{"csv", lines}, {"json", jsonLines}, {"vector", vectorLines}, {"unknown service", [][]byte{unknown}}, {"slow numbers", [][]byte{slow}}} {
		i := 0
		allocs := testing.AllocsPerRun(len(c.lines), func() {
			if err := e.Encode(c.lines[i%len(c.lines)], &rec, dst); err != nil {
				t.Fatal(err)
			}
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per record, want 0", c.name, allocs)
		}
	}
	for _, label := range []string{"normal", "neptune", "smurf", "xterm", "httptunnel", "worm", "snmpgetattack"} {
		line := []byte(strings.Replace(lineNormal, ",normal,", ","+label+",", 1))
		if allocs := testing.AllocsPerRun(10, func() { _ = e.Encode(line, &rec, dst) }); allocs != 0 || rec.Label != label {
			t.Errorf("label %q: %v allocations, Label %q", label, allocs, rec.Label)
		}
	}
}

// TestEncoderConcurrent shares one Encoder between goroutines (run with -race).
func TestEncoderConcurrent(t *testing.T) {
	lines := trainLines(t, 400)
	e := NewEncoder(nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var rec Record
			dst := make([]float32, Width)
			for _, l := range lines[g*100 : (g+1)*100] {
				if err := e.Encode(l, &rec, dst); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// mustEncode encodes line into a new record and vector, failing the test on
// an error.
func mustEncode(t *testing.T, e *Encoder, line string) (Record, []float32) {
	t.Helper()
	var rec Record
	dst := make([]float32, Width)
	if err := e.Encode([]byte(line), &rec, dst); err != nil {
		t.Fatalf("Encode(%q): %v", line, err)
	}
	return rec, dst
}

// TestEncodeRecordNumerics checks EncodeRecord's one-test validation of a
// deriver's numeric features: zero (of both signs) and the largest finite
// value encode, each kind of bad value is a *FieldError naming the field.
func TestEncodeRecordNumerics(t *testing.T) {
	tests := []struct {
		name  string
		value float64
		want  error // nil: encodes
	}{
		{"zero", 0, nil},
		{"negative zero", math.Copysign(0, -1), nil},
		{"largest finite", math.MaxFloat64, nil},
		{"negative", -3, ErrNegative},
		{"smallest negative", -math.SmallestNonzeroFloat64, ErrNegative},
		{"NaN", math.NaN(), ErrNotFinite},
		{"+Inf", math.Inf(1), ErrNotFinite},
		{"-Inf", math.Inf(-1), ErrNotFinite},
	}
	enc := NewEncoder(nil)
	count := slices.Index(DefaultSpec().Numeric, "count")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Record{ProtocolType: "tcp", Service: "http", Flag: "SF"}
			rec.Numeric[count] = tt.value
			dst := make([]float32, Width)
			err := enc.EncodeRecord(&rec, dst)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("EncodeRecord: %v", err)
				}
				if dst[count] != float32(tt.value) {
					t.Fatalf("count encoded as %v, want %v", dst[count], float32(tt.value))
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tt.want) || fe.Field != "count" {
				t.Fatalf("EncodeRecord = %v, want a %v error on field count", err, tt.want)
			}
		})
	}
}
