package etl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl/nslkdd"
)

// TestDefaultSpecIsKDDTrain derives the vocabularies from the embedded
// KDDTrain+ the way pandas get_dummies does (distinct values, sorted) and
// checks that DefaultSpec hard-codes exactly them.
func TestDefaultSpecIsKDDTrain(t *testing.T) {
	r, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	distinct := [3]map[string]bool{{}, {}, {}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		for i := range distinct {
			distinct[i][fields[fieldProtocolType+i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	spec := DefaultSpec()
	for i, got := range [][]string{spec.ProtocolType, spec.Service, spec.Flag} {
		var want []string
		for v := range distinct[i] {
			want = append(want, v)
		}
		slices.Sort(want) // byte order, as Python sorts str
		if !slices.Equal(got, want) {
			t.Errorf("%s vocabulary:\n got %q\nwant %q", FieldNames()[fieldProtocolType+i], got, want)
		}
	}
	if spec.Width() != Width || len(spec.ProtocolType) != 3 || len(spec.Service) != 70 || len(spec.Flag) != 11 {
		t.Errorf("Width() = %d (%d+%d+%d), want %d", spec.Width(), len(spec.ProtocolType), len(spec.Service), len(spec.Flag), Width)
	}
	if err := spec.Validate(); err != nil {
		t.Error(err)
	}
}

func TestDefaultSpecIsFresh(t *testing.T) {
	a := DefaultSpec()
	a.Service[0] = "changed"
	a.Numeric[0] = "changed"
	if b := DefaultSpec(); b.Service[0] != "IRC" || b.Numeric[0] != "duration" {
		t.Error("DefaultSpec shares its slices between calls")
	}
	names := FieldNames()
	names[0] = "changed"
	if FieldNames()[0] != "duration" {
		t.Error("FieldNames shares its slice between calls")
	}
}

func TestColumnNames(t *testing.T) {
	names := DefaultSpec().ColumnNames()
	if len(names) != Width {
		t.Fatalf("%d column names, want %d", len(names), Width)
	}
	for i, want := range map[int]string{
		0: "duration", 1: "src_bytes", 37: "dst_host_srv_rerror_rate",
		38: "protocol_type_icmp", 39: "protocol_type_tcp", 40: "protocol_type_udp",
		41: "service_IRC", 44: "service_aol", 61: "service_ftp_data", 110: "service_whois",
		111: "flag_OTH", 120: "flag_SF", 121: "flag_SH",
	} {
		if names[i] != want {
			t.Errorf("column %d = %q, want %q", i, names[i], want)
		}
	}
	if numeric := numericNames(); !slices.Equal(names[:NumNumeric], numeric) || len(numeric) != NumNumeric {
		t.Errorf("numeric columns %q", names[:NumNumeric])
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	data, err := json.Marshal(DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadSpec(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultSpec(); !slices.Equal(got.Numeric, want.Numeric) || !slices.Equal(got.ProtocolType, want.ProtocolType) ||
		!slices.Equal(got.Service, want.Service) || !slices.Equal(got.Flag, want.Flag) {
		t.Errorf("round trip changed the spec: %s", data)
	}
	if !strings.HasPrefix(string(data), `{"numeric":["duration","src_bytes",`) || !strings.Contains(string(data), `"protocol_type":["icmp","tcp","udp"]`) {
		t.Errorf("unexpected JSON layout: %.120s", data)
	}
}

func TestReadSpecInvalid(t *testing.T) {
	valid, err := json.Marshal(DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(s *Spec)) string {
		s := DefaultSpec()
		f(s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, json, message string
	}{
		{"not JSON", "nope", "decoding feature spec"},
		{"trailing data", string(valid) + "{}", "trailing data"},
		{"numeric missing one", edit(func(s *Spec) { s.Numeric = s.Numeric[1:] }), "numeric must be the 38"},
		{"numeric reordered", edit(func(s *Spec) { s.Numeric[0], s.Numeric[1] = s.Numeric[1], s.Numeric[0] }), "numeric must be"},
		{"empty flag vocabulary", edit(func(s *Spec) { s.Flag = nil }), "flag: empty vocabulary"},
		{"unsorted service", edit(func(s *Spec) { s.Service[0], s.Service[1] = s.Service[1], s.Service[0] }), `service: "X11" and "IRC" are not strictly sorted`},
		{"duplicate protocol", edit(func(s *Spec) { s.ProtocolType = []string{"tcp", "tcp"} }), "not strictly sorted"},
		{"empty value", edit(func(s *Spec) { s.ProtocolType = []string{"", "tcp"} }), "protocol_type: empty value at 0"},
		{"no other", edit(func(s *Spec) { s.Service = []string{"http", "smtp"} }), `service: vocabulary lacks "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadSpec(strings.NewReader(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("ReadSpec error %v, want one containing %q", err, tt.message)
			}
		})
	}
}

// TestNarrowSpec encodes with a smaller, valid spec: the layout follows the
// spec, never the data.
func TestNarrowSpec(t *testing.T) {
	spec := &Spec{
		Numeric:      numericNames(),
		ProtocolType: []string{"tcp", "udp"},
		Service:      []string{"http", "other", "private"},
		Flag:         []string{"S0", "SF"},
	}
	e := NewEncoder(spec)
	var rec Record
	dst := make([]float32, spec.Width())
	if err := e.Encode([]byte(lineNeptune), &rec, dst); err != nil {
		t.Fatal(err)
	}
	if got, want := dst[NumNumeric:], []float32{1, 0, 0, 0, 1, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("one-hot = %v, want %v", got, want)
	}
	if err := e.Encode([]byte(lineNormal), &rec, dst); err != nil || !rec.UnknownService {
		t.Errorf("ftp_data with a spec lacking it: err %v, UnknownService %v", err, rec.UnknownService)
	}
	if err := e.Encode([]byte(strings.Replace(lineNormal, ",tcp,", ",icmp,", 1)), &rec, dst); err == nil {
		t.Error("icmp accepted by a spec lacking it")
	}
	if got := e.Spec(); !slices.Equal(got.Service, spec.Service) {
		t.Errorf("Encoder.Spec().Service = %q", got.Service)
	}
}
