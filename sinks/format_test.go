package sinks

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testVerdict encodes a real KDDTrain+ line (a neptune SYN flood) into a
// verdict with a fixed score and model.
func testVerdict(t testing.TB, line string, result scoring.Result) Verdict {
	t.Helper()
	spec := etl.DefaultSpec()
	enc := etl.NewEncoder(spec)
	v := Verdict{
		Source:    Source{Topic: "nslkdd.raw", Partition: 3, Offset: 1234567},
		Time:      time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC),
		Result:    result,
		Threshold: 0.5,
		Model:     scoring.Info{Name: "sagewall-nslkdd", Version: "2026.11", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
	}
	row := make([]float32, spec.Width())
	if err := enc.Encode([]byte(line), &v.Record, row); err != nil {
		t.Fatal(err)
	}
	return v
}

// zeekVerdict is a probe verdict on a connection derived from a Zeek
// conn.log line (a port scan's SYN that got no answer).
func zeekVerdict(t testing.TB) Verdict {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9412, Attack: true, Category: etl.Probe, CategoryProb: 0.88})
	v.Record.Label = "Malicious"
	v.FeaturesSource = "zeek"
	v.Conn = connlog.Conn{
		Format: connlog.ZeekTSV, Start: time.Date(2022, 6, 12, 22, 0, 31, 749548000, time.UTC), UID: "CEL3aLvvNGvO6Ecoa",
		OrigAddr: netip.MustParseAddr("193.201.9.232"), OrigPort: 46563, RespAddr: netip.MustParseAddr("147.32.81.167"), RespPort: 3933,
		Proto: "tcp", Sensor: "ctu-edge-1", Label: "Malicious", DetailLbl: "External-Attack-to-Device",
		Extra: []connlog.Field{{Name: "vlan", Value: "12"}, {Name: "note \"x\"", Value: "a\tb"}},
	}
	return v
}

const (
	neptuneLine = "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"
	normalLine  = "0,udp,other,SF,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,13,1,0.00,0.00,0.00,0.00,0.08,0.15,0.00,255,1,0.00,0.60,0.88,0.00,0.00,0.00,0.00,0.00,normal,15"
)

func TestFormatsGolden(t *testing.T) {
	attack := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS, CategoryProb: 0.9981})
	normal := testVerdict(t, normalLine, scoring.Result{Score: 0.0123})
	// Flagged by the binary model, called normal by the category model.
	unclassified := testVerdict(t, neptuneLine, scoring.Result{Score: 0.71, Attack: true, Category: etl.Normal, CategoryProb: 0.62})
	// sagewall score's verdict: a line of a file.
	scored := attack
	scored.Source = Source{File: "records.csv.gz", Line: 42}
	tests := []struct {
		golden  string
		format  Format
		verdict Verdict
	}{
		{"attack.json", JSONFormat{Record: true}, attack},
		{"normal.json", JSONFormat{Record: true}, normal},
		{"attack.ocsf.json", OCSFFormat{Record: true}, attack},
		{"normal.ocsf.json", OCSFFormat{Record: true}, normal},
		{"zeek.json", JSONFormat{Record: true}, zeekVerdict(t)},
		{"zeek.ocsf.json", OCSFFormat{Record: true}, zeekVerdict(t)},
		// output.fields compact, the default: no copy of the record.
		{"attack.compact.json", JSONFormat{}, attack},
		{"attack.compact.ocsf.json", OCSFFormat{}, attack},
		{"zeek.compact.json", JSONFormat{}, zeekVerdict(t)},
		{"unclassified.compact.json", JSONFormat{}, unclassified},
		{"unclassified.compact.ocsf.json", OCSFFormat{}, unclassified},
		{"score.compact.json", JSONFormat{}, scored},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := tt.format.Append(nil, &tt.verdict)
			if !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./sinks -run Golden -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("%s differs from the golden file:\n%s", tt.golden, pretty.Bytes())
			}
		})
	}
}

// TestJSONIDIsSourceKey: a verdict's id, escaped in place, decodes to its
// source's key, for a topic or a file, whatever their names hold.
func TestJSONIDIsSourceKey(t *testing.T) {
	for _, src := range []Source{
		{Topic: "nslkdd.raw", Partition: 3, Offset: 1234567},
		{Topic: "raw\"\\\n\x01é\xff", Partition: 0, Offset: 0},
		{Topic: "t", Partition: 2147483647, Offset: 9223372036854775807},
		{File: "records.csv", Line: 3},
		{File: "dir/\"odd\"\tname.csv", Line: 1 << 30},
	} {
		v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.1})
		v.Source = src
		var doc struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(JSONFormat{}.Append(nil, &v), &doc); err != nil {
			t.Fatalf("%+v: %v", src, err)
		}
		if want := strings.ToValidUTF8(src.Key(), "\ufffd"); doc.ID != want {
			t.Errorf("%+v: id %q, want %q", src, doc.ID, want)
		}
	}
}

func TestJSONFormatFields(t *testing.T) {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS, CategoryProb: 0.9981})
	var doc struct {
		ID     string `json:"id"`
		Time   string `json:"time"`
		Source struct {
			Topic     string `json:"topic"`
			Partition int    `json:"partition"`
			Offset    int64  `json:"offset"`
		} `json:"source"`
		Score               float64        `json:"score"`
		Attack              bool           `json:"attack"`
		Category            string         `json:"category"`
		CategoryProbability float64        `json:"category_probability"`
		Threshold           float64        `json:"threshold"`
		Model               scoring.Info   `json:"model"`
		Label               string         `json:"label"`
		Record              map[string]any `json:"record"`
	}
	if err := json.Unmarshal(JSONFormat{}.Append(nil, &v), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Record != nil {
		t.Fatalf("a compact verdict carries the record: %v", doc.Record)
	}
	if err := json.Unmarshal(JSONFormat{Record: true}.Append(nil, &v), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "nslkdd.raw/3/1234567" || doc.Source.Offset != 1234567 || doc.Source.Partition != 3 {
		t.Fatalf("id/source = %q %+v", doc.ID, doc.Source)
	}
	if _, err := time.Parse(time.RFC3339Nano, doc.Time); err != nil {
		t.Fatalf("time %q: %v", doc.Time, err)
	}
	if math.Abs(doc.Score-0.9973) > 1e-6 || !doc.Attack || doc.Category != "dos" || doc.Label != "neptune" || doc.Threshold != 0.5 {
		t.Fatalf("verdict fields = %+v", doc)
	}
	if doc.Model != v.Model {
		t.Fatalf("model = %+v, want %+v", doc.Model, v.Model)
	}
	if len(doc.Record) != etl.NumFields || doc.Record["flag"] != "S0" || doc.Record["dst_host_count"] != 255.0 {
		t.Fatalf("record has %d fields (%v), want all %d by name", len(doc.Record), doc.Record, etl.NumFields)
	}
}

func TestOCSFRequiredFields(t *testing.T) {
	for _, tt := range []struct {
		name         string
		result       scoring.Result
		severityID   float64
		confidenceID float64
	}{
		// Severity by category, one level up at score ≥ 0.99 (Severity).
		{"confident u2r: critical", scoring.Result{Score: 0.995, Attack: true, Category: etl.U2R, CategoryProb: 0.9}, 5, 3},
		{"r2l: high", scoring.Result{Score: 0.8, Attack: true, Category: etl.R2L}, 4, 2},
		{"confident dos: high", scoring.Result{Score: 0.995, Attack: true, Category: etl.DoS, CategoryProb: 0.9}, 4, 3},
		{"probe: medium", scoring.Result{Score: 0.93, Attack: true, Category: etl.Probe}, 3, 3},
		{"u2r just over the threshold: high", scoring.Result{Score: 0.56, Attack: true, Category: etl.U2R}, 4, 1},
		{"benign", scoring.Result{Score: 0.01}, 1, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerdict(t, neptuneLine, tt.result)
			var doc map[string]any
			if err := json.Unmarshal(OCSFFormat{}.Append(nil, &v), &doc); err != nil {
				t.Fatal(err)
			}
			// Required attributes of OCSF 1.3 Detection Finding (2004).
			for key, want := range map[string]any{
				"class_uid": 2004.0, "category_uid": 2.0, "activity_id": 1.0, "type_uid": 200401.0,
				"severity_id": tt.severityID, "confidence_id": tt.confidenceID,
				"time": float64(v.Time.UnixMilli()),
			} {
				if doc[key] != want {
					t.Errorf("%s = %v, want %v", key, doc[key], want)
				}
			}
			meta, _ := doc["metadata"].(map[string]any)
			product, _ := meta["product"].(map[string]any)
			if meta["version"] != OCSFVersion || product["name"] != "sagewall" || product["vendor_name"] == nil {
				t.Errorf("metadata = %v", meta)
			}
			info, _ := doc["finding_info"].(map[string]any)
			analytic, _ := info["analytic"].(map[string]any)
			if info["uid"] != "nslkdd.raw/3/1234567" || info["title"] == "" || analytic["type_id"] != 4.0 || analytic["name"] != v.Model.Name {
				t.Errorf("finding_info = %v", info)
			}
			score, _ := doc["confidence_score"].(float64)
			if score < 0 || score > 100 {
				t.Errorf("confidence_score = %v, want 0-100", doc["confidence_score"])
			}
			evidences, _ := doc["evidences"].([]any)
			if len(evidences) != 1 {
				t.Fatalf("evidences = %v", doc["evidences"])
			}
			data, _ := evidences[0].(map[string]any)["data"].(map[string]any)
			if data["service"] != "private" || data["flag"] != "S0" || data["protocol_type"] != "tcp" || len(data) != 3 {
				t.Errorf("compact evidence data = %v, want protocol_type, service and flag", data)
			}
		})
	}
}

func TestFormatsEscapeAndNonFinite(t *testing.T) {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: float32(math.NaN()), Attack: true})
	v.Source.Topic = "raw\"\\\n\x01é\xff"
	v.Record.Label = "a\"b"
	v.Model.Name = "</script>\t"
	for _, f := range []Format{JSONFormat{}, OCSFFormat{}, JSONFormat{Record: true}, OCSFFormat{Record: true}} {
		out := f.Append(nil, &v)
		if !json.Valid(out) {
			t.Fatalf("%T: not valid JSON: %s", f, out)
		}
		var doc map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(JSONFormat); ok {
			if doc["score"] != nil {
				t.Fatalf("NaN score = %v, want null", doc["score"])
			}
			if !strings.HasPrefix(doc["id"].(string), "raw\"\\\n\x01é\ufffd/") {
				t.Fatalf("id = %q", doc["id"])
			}
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, tt := range []struct {
		name, fields string
		want         Format
		wantErr      bool
	}{
		{"", "", JSONFormat{}, false},
		{"json", "compact", JSONFormat{}, false},
		{"json", "full", JSONFormat{Record: true}, false},
		{"ocsf", "", OCSFFormat{}, false},
		{"ocsf", "full", OCSFFormat{Record: true}, false},
		{"xml", "", nil, true},
		{"json", "all", nil, true},
	} {
		got, err := ParseFormat(tt.name, tt.fields)
		if j, ok := got.(JSONFormat); ok {
			j.model = nil // the memo is the format's own
			got = j
		}
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q, %q) = %v, %v", tt.name, tt.fields, got, err)
		}
	}
}

func FuzzFormatsValidJSON(f *testing.F) {
	f.Add("nslkdd.raw", "neptune", "model", float32(0.97), true, "", "", "", "")
	f.Add("a\"\\\x00", "\xff\xfe", "\u2028", float32(math.Inf(1)), false, "C\x01", "edge\n1", "k\"", "v\\")
	spec := etl.DefaultSpec()
	enc := etl.NewEncoder(spec)
	var base Verdict
	if err := enc.Encode([]byte(neptuneLine), &base.Record, make([]float32, spec.Width())); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, topic, label, model string, score float32, attack bool, uid, sensor, name, value string) {
		v := base
		v.Source.Topic, v.Record.Label, v.Model.Name = topic, label, model
		v.Result = scoring.Result{Score: score, Attack: attack, Category: etl.Probe}
		v.FeaturesSource = sensor
		v.Conn = connlog.Conn{UID: uid, Sensor: sensor, Proto: name, Direction: value, DetailLbl: label,
			OrigAddr: netip.MustParseAddr("2001:db8::1"), Extra: []connlog.Field{{Name: name, Value: value}}}
		for _, format := range []Format{JSONFormat{}, OCSFFormat{}, JSONFormat{Record: true}, OCSFFormat{Record: true}} {
			if out := format.Append(nil, &v); !json.Valid(out) {
				t.Fatalf("%T: invalid JSON for %+v: %s", format, v, out)
			}
		}
	})
}

// BenchmarkFormat compares the append-style encoders of full verdicts
// (output.fields full) with encoding/json marshalling an equivalent struct
// (the reflective alternative); the ratio is reported as
// x_faster_than_encoding_json. The compact verdicts (the default) are
// measured beside them.
func BenchmarkFormat(b *testing.B) {
	v := testVerdict(b, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS, CategoryProb: 0.9981})
	type source struct {
		Topic     string `json:"topic"`
		Partition int    `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	type reflective struct {
		ID                  string             `json:"id"`
		Time                time.Time          `json:"time"`
		Source              source             `json:"source"`
		Score               float32            `json:"score"`
		Attack              bool               `json:"attack"`
		Category            string             `json:"category"`
		CategoryProbability float32            `json:"category_probability"`
		Threshold           float64            `json:"threshold"`
		Model               scoring.Info       `json:"model"`
		Label               string             `json:"label,omitempty"`
		Record              map[string]float64 `json:"record"`
	}
	names := etl.FieldNames()
	reflect := func(v *Verdict) reflective {
		rec := make(map[string]float64, len(names))
		for i, n := range names[:etl.NumNumeric] {
			rec[n] = v.Record.Numeric[i]
		}
		return reflective{v.Source.Key(), v.Time, source{v.Source.Topic, v.Source.Partition, v.Source.Offset},
			v.Result.Score, v.Result.Attack, v.Result.Category.String(), v.Result.CategoryProb, v.Threshold, v.Model, v.Record.Label, rec}
	}
	var nsJSON float64
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(reflect(&v)); err != nil {
				b.Fatal(err)
			}
		}
		nsJSON = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	withConn := zeekVerdict(b)
	for _, bc := range []struct {
		name    string
		format  Format
		verdict *Verdict
	}{
		{"append_json", NewJSONFormat(true), &v}, {"append_ocsf", OCSFFormat{Record: true}, &v},
		// A Zeek verdict: the connection, features_source, sensor, labels
		// and two passthrough fields.
		{"append_json_conn", NewJSONFormat(true), &withConn}, {"append_ocsf_conn", OCSFFormat{Record: true}, &withConn},
		{"compact_json", NewJSONFormat(false), &v}, {"compact_ocsf", OCSFFormat{}, &v},
		{"compact_json_conn", NewJSONFormat(false), &withConn},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				buf = bc.format.Append(buf[:0], bc.verdict)
			}
			if ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N); nsJSON > 0 && ns > 0 {
				b.ReportMetric(nsJSON/ns, "x_faster_than_encoding_json")
			}
		})
	}
}

// connCases are verdicts on the connections the pipeline fills in: from
// Zeek (IPv4 TCP with passthrough fields that need escaping, ICMP over IPv6
// with type and code in the ports), a VPC flow log (a transport known only
// by number, a flow direction), an NSL-KDD JSON record's identity keys
// (addresses only), a connection named only by its fields, and none.
func connCases(t testing.TB) []struct {
	name    string
	verdict Verdict
} {
	icmp6 := zeekVerdict(t)
	icmp6.Conn = connlog.Conn{Format: connlog.ZeekJSON, Start: time.Date(2022, 6, 12, 22, 1, 0, 0, time.UTC), UID: "Cicmp6",
		OrigAddr: netip.MustParseAddr("2001:db8::1"), OrigPort: 128, RespAddr: netip.MustParseAddr("2001:db8::2"), RespPort: 0, Proto: "icmp"}
	vpc := testVerdict(t, neptuneLine, scoring.Result{Score: 0.97, Attack: true, Category: etl.DoS, CategoryProb: 0.9})
	vpc.FeaturesSource = "vpcflow"
	vpc.Conn = connlog.Conn{Format: connlog.VPCFlow, Start: time.Date(2026, 11, 25, 11, 59, 0, 0, time.UTC),
		OrigAddr: netip.MustParseAddr("10.0.0.5"), OrigPort: 0, RespAddr: netip.MustParseAddr("10.0.0.9"), RespPort: 0,
		Proto: "47", Sensor: "eni-0a1b2c3d", Direction: "egress"}
	identity := testVerdict(t, normalLine, scoring.Result{Score: 0.02})
	identity.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("10.0.0.5"), OrigPort: 51514, RespAddr: netip.MustParseAddr("10.0.0.9"), RespPort: 22}
	fieldsOnly := testVerdict(t, normalLine, scoring.Result{Score: 0.02})
	fieldsOnly.Conn = connlog.Conn{Extra: []connlog.Field{{Name: "</script>", Value: "\u0000\x00\n"}}}
	return []struct {
		name    string
		verdict Verdict
	}{
		{"zeek ipv4 tcp", zeekVerdict(t)},
		{"zeek icmp over ipv6", icmp6},
		{"vpc flow", vpc},
		{"nsl-kdd identity keys", identity},
		{"fields only", fieldsOnly},
		{"no connection", testVerdict(t, normalLine, scoring.Result{Score: 0.01})},
	}
}

// TestJSONConnection: the JSON verdict's features_source and connection
// object say exactly what the Conn held, and nothing when it held nothing.
func TestJSONConnection(t *testing.T) {
	for _, tt := range connCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			c, v := &tt.verdict.Conn, &tt.verdict
			out := JSONFormat{Record: true}.Append(nil, v)
			if !json.Valid(out) {
				t.Fatalf("not valid JSON: %s", out)
			}
			var doc map[string]any
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			wantSource := v.FeaturesSource
			if wantSource == "" {
				wantSource = "nslkdd"
			}
			if doc["features_source"] != wantSource {
				t.Errorf("features_source %v, want %q", doc["features_source"], wantSource)
			}
			if doc["time"] != v.Time.UTC().Format(time.RFC3339Nano) {
				t.Errorf("time %v, want the record's time", doc["time"])
			}
			if rec, _ := doc["record"].(map[string]any); len(rec) != etl.NumFields {
				t.Errorf("record has %d features, want %d", len(rec), etl.NumFields)
			}
			got, has := doc["connection"].(map[string]any)
			if !namesConnection(c) {
				if _, present := doc["connection"]; present {
					t.Fatalf("a record that named no connection got one: %s", out)
				}
				return
			}
			if !has {
				t.Fatalf("no connection object: %s", out)
			}
			want := map[string]any{}
			if !c.Start.IsZero() {
				want["time"] = c.Start.UTC().Format(time.RFC3339Nano)
			}
			str := func(k, v string) {
				if v != "" {
					want[k] = v
				}
			}
			str("uid", c.UID)
			if c.OrigAddr.IsValid() {
				want["src_ip"], want["src_port"] = c.OrigAddr.String(), float64(c.OrigPort)
			}
			if c.RespAddr.IsValid() {
				want["dst_ip"], want["dst_port"] = c.RespAddr.String(), float64(c.RespPort)
			}
			str("transport", c.Proto)
			str("sensor", c.Sensor)
			str("label", c.Label)
			str("detailed_label", c.DetailLbl)
			if len(c.Extra) > 0 {
				fields := map[string]any{}
				for _, f := range c.Extra {
					fields[f.Name] = f.Value
				}
				want["fields"] = fields
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("connection\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestOCSFConnection: the finding's time, endpoints, connection_info,
// observables, loggers, attacks and unmapped members follow the Conn.
func TestOCSFConnection(t *testing.T) {
	type endpoint struct {
		IP   string `json:"ip"`
		Port *int   `json:"port"`
	}
	for _, tt := range connCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			c, v := &tt.verdict.Conn, &tt.verdict
			out := OCSFFormat{Record: true}.Append(nil, v)
			if !json.Valid(out) {
				t.Fatalf("not valid JSON: %s", out)
			}
			var f struct {
				Time     int64 `json:"time"`
				Metadata struct {
					Loggers []map[string]any `json:"loggers"`
				} `json:"metadata"`
				FindingInfo struct {
					Attacks []struct {
						Tactic    struct{ UID, Name string } `json:"tactic"`
						Technique struct{ UID, Name string } `json:"technique"`
						Version   string                     `json:"version"`
					} `json:"attacks"`
				} `json:"finding_info"`
				Evidences []struct {
					Data           map[string]any  `json:"data"`
					Src            *endpoint       `json:"src_endpoint"`
					Dst            *endpoint       `json:"dst_endpoint"`
					ConnectionInfo *map[string]any `json:"connection_info"`
				} `json:"evidences"`
				Observables []map[string]any `json:"observables"`
				Unmapped    map[string]any   `json:"unmapped"`
			}
			if err := json.Unmarshal(out, &f); err != nil {
				t.Fatal(err)
			}
			wantTime := v.Time.UnixMilli()
			if !c.Start.IsZero() {
				wantTime = c.Start.UnixMilli()
			}
			if f.Time != wantTime {
				t.Errorf("time %d, want %d", f.Time, wantTime)
			}
			if len(f.Evidences) != 1 || len(f.Evidences[0].Data) != etl.NumFields {
				t.Fatalf("evidences %s", out)
			}
			ev := f.Evidences[0]
			checkEndpoint := func(name string, got *endpoint, a netip.Addr, port uint16) {
				t.Helper()
				switch {
				case !a.IsValid() && got != nil:
					t.Errorf("%s %+v for no address", name, got)
				case a.IsValid() && (got == nil || got.IP != a.String() || got.Port == nil || *got.Port != int(port)):
					t.Errorf("%s %+v, want %v port %d", name, got, a, port)
				}
			}
			checkEndpoint("src_endpoint", ev.Src, c.OrigAddr, c.OrigPort)
			checkEndpoint("dst_endpoint", ev.Dst, c.RespAddr, c.RespPort)

			var wantObs []map[string]any
			for _, o := range []struct {
				name string
				a    netip.Addr
			}{{"evidences[0].src_endpoint.ip", c.OrigAddr}, {"evidences[0].dst_endpoint.ip", c.RespAddr}} {
				if o.a.IsValid() {
					wantObs = append(wantObs, map[string]any{"name": o.name, "type_id": 2.0, "type": "IP Address", "value": o.a.String()})
				}
			}
			if !reflect.DeepEqual(f.Observables, wantObs) {
				t.Errorf("observables %v, want %v", f.Observables, wantObs)
			}

			wantCI := map[string]any{"direction_id": 0.0, "direction": "Unknown"}
			if c.Direction != "" {
				wantCI["direction_id"], wantCI["direction"] = 99.0, c.Direction
			}
			if c.UID != "" {
				wantCI["uid"] = c.UID
			}
			switch v6 := c.OrigAddr.Is6() || c.RespAddr.Is6(); {
			case c.Proto == "tcp":
				wantCI["protocol_name"], wantCI["protocol_num"] = "tcp", 6.0
			case c.Proto == "icmp" && v6:
				wantCI["protocol_name"], wantCI["protocol_num"] = "ipv6-icmp", 58.0
			case c.Proto == "47":
				wantCI["protocol_num"] = 47.0
			case c.Proto != "":
				t.Fatalf("no expectation for transport %q", c.Proto)
			}
			switch {
			case c.OrigAddr.Is6() || c.RespAddr.Is6():
				wantCI["protocol_ver_id"], wantCI["protocol_ver"] = 6.0, "Internet Protocol version 6 (IPv6)"
			case c.OrigAddr.IsValid() || c.RespAddr.IsValid():
				wantCI["protocol_ver_id"], wantCI["protocol_ver"] = 4.0, "Internet Protocol version 4 (IPv4)"
			}
			if len(wantCI) == 2 { // nothing but the required direction: no connection_info
				if ev.ConnectionInfo != nil {
					t.Errorf("connection_info %v for a record without one", *ev.ConnectionInfo)
				}
			} else if ev.ConnectionInfo == nil || !reflect.DeepEqual(*ev.ConnectionInfo, wantCI) {
				t.Errorf("connection_info %v, want %v", ev.ConnectionInfo, wantCI)
			}

			var wantLoggers []map[string]any
			if c.Sensor != "" {
				wantLoggers = []map[string]any{{"name": c.Sensor}}
			}
			if !reflect.DeepEqual(f.Metadata.Loggers, wantLoggers) {
				t.Errorf("metadata.loggers %v, want %v", f.Metadata.Loggers, wantLoggers)
			}

			wantAttacks := 0
			if v.Result.Attack {
				wantAttacks = len(Techniques(v.Result.Category))
			}
			if len(f.FindingInfo.Attacks) != wantAttacks {
				t.Fatalf("attacks %+v, want %d", f.FindingInfo.Attacks, wantAttacks)
			}
			for i, a := range f.FindingInfo.Attacks {
				tq := Techniques(v.Result.Category)[i]
				if a.Technique.UID != tq.ID || a.Technique.Name != tq.Name || a.Tactic.UID != tq.TacticID ||
					a.Tactic.Name != tq.TacticName || a.Version != ATTACKVersion {
					t.Errorf("attack %d %+v, want %+v", i, a, tq)
				}
			}

			wantSource := v.FeaturesSource
			if wantSource == "" {
				wantSource = "nslkdd"
			}
			if f.Unmapped["features_source"] != wantSource {
				t.Errorf("unmapped.features_source %v, want %q", f.Unmapped["features_source"], wantSource)
			}
			fields, _ := f.Unmapped["fields"].(map[string]any)
			if len(fields) != len(c.Extra) {
				t.Errorf("unmapped.fields %v, want %v", f.Unmapped["fields"], c.Extra)
			}
			for _, x := range c.Extra {
				if fields[x.Name] != x.Value {
					t.Errorf("unmapped.fields[%q] = %v, want %q", x.Name, fields[x.Name], x.Value)
				}
			}
			if _, ok := f.Unmapped["sensor"]; ok {
				t.Errorf("the sensor is in unmapped as well as in metadata.loggers")
			}
		})
	}
}

// ocsfAttributes are the attributes OCSF 1.3.0 (ocsf-schema tag 1.3.0)
// defines for each object the ocsf format writes, by its path in a
// Detection Finding, with the required ones marked "!". The class's list
// holds only the attributes sagewall writes (all defined by base_event,
// finding or detection_finding); unmapped and evidences[].data are free-form.
var ocsfAttributes = map[string]string{
	"": "class_uid! class_name category_uid! category_name activity_id! activity_name type_uid! type_name " +
		"status_id status severity_id! severity time! confidence_id confidence confidence_score " +
		"metadata! finding_info! evidences observables unmapped",
	"metadata":                         "version! product! uid loggers",
	"metadata.product":                 "name vendor_name! version uid",
	"metadata.loggers[]":               "name uid product device version",
	"finding_info":                     "uid! title! types analytic attacks desc",
	"finding_info.analytic":            "name type_id! type uid version",
	"finding_info.attacks[]":           "tactic technique sub_technique version",
	"finding_info.attacks[].tactic":    "uid name src_url",
	"finding_info.attacks[].technique": "uid name src_url",
	"evidences[]":                      "data src_endpoint dst_endpoint connection_info",
	"evidences[].src_endpoint":         "ip! port",
	"evidences[].dst_endpoint":         "ip! port",
	"evidences[].connection_info": "direction_id! direction uid protocol_name protocol_num protocol_ver_id protocol_ver " +
		"boundary boundary_id session tcp_flags",
	"observables[]": "name! type_id! type value",
}

// checkOCSFObject checks that every attribute of the object at path is one
// OCSF 1.3.0 defines there, that the required ones are present, and walks
// into the objects it holds.
func checkOCSFObject(t *testing.T, path string, obj map[string]any) {
	t.Helper()
	spec, ok := ocsfAttributes[path]
	if !ok {
		t.Errorf("%s: an object OCSF 1.3.0 has no place for here", path)
		return
	}
	allowed := map[string]bool{}
	for _, a := range strings.Fields(spec) {
		name, required := strings.CutSuffix(a, "!")
		allowed[name] = true
		if _, has := obj[name]; required && !has {
			t.Errorf("%s: required attribute %s missing", path, name)
		}
	}
	for name, value := range obj {
		if !allowed[name] {
			t.Errorf("%s: %s is not an OCSF 1.3.0 attribute here", path, name)
			continue
		}
		child := name
		if path != "" {
			child = path + "." + name
		}
		if child == "unmapped" || child == "evidences[].data" {
			continue
		}
		switch value := value.(type) {
		case map[string]any:
			checkOCSFObject(t, child, value)
		case []any:
			for _, e := range value {
				if m, ok := e.(map[string]any); ok {
					checkOCSFObject(t, child+"[]", m)
				}
			}
		}
	}
}

// TestOCSFSchema: every finding, with every kind of connection, benign or
// attack of each category, uses only OCSF 1.3.0 attributes where it puts
// them, with the required ones; attacks and endpoints meet their
// at-least-one constraints (tactic/technique; ip), and the enumerations
// hold values the schema defines.
func TestOCSFSchema(t *testing.T) {
	for _, tt := range connCases(t) {
		for _, c := range etl.Classes() {
			v := tt.verdict
			v.Result = scoring.Result{Score: 0.97, Attack: c != etl.Normal, Category: c, CategoryProb: 0.9}
			for _, f := range []OCSFFormat{{}, {Record: true}} {
				t.Run(fmt.Sprintf("%s/%s/record=%v", tt.name, c, f.Record), func(t *testing.T) {
					var doc map[string]any
					if err := json.Unmarshal(f.Append(nil, &v), &doc); err != nil {
						t.Fatal(err)
					}
					checkOCSFObject(t, "", doc)
					evidences, _ := doc["evidences"].([]any)
					for _, e := range evidences {
						ci, _ := e.(map[string]any)["connection_info"].(map[string]any)
						if ci == nil {
							continue
						}
						if d := ci["direction_id"]; d != 0.0 && d != 99.0 {
							t.Errorf("direction_id %v", d)
						}
						if p, ok := ci["protocol_ver_id"]; ok && p != 4.0 && p != 6.0 {
							t.Errorf("protocol_ver_id %v", p)
						}
					}
				})
			}
		}
	}
}

func TestTechniques(t *testing.T) {
	for _, c := range etl.Classes() {
		got := Techniques(c)
		if (c == etl.Normal) != (got == nil) {
			t.Fatalf("%v: %v", c, got)
		}
		for _, tq := range got {
			if !strings.HasPrefix(tq.ID, "T1") || !strings.HasPrefix(tq.TacticID, "TA00") || tq.Name == "" || tq.TacticName == "" {
				t.Fatalf("%v: %+v", c, tq)
			}
		}
	}
	if got := Techniques(etl.Probe); got[0].ID != "T1046" {
		t.Fatalf("probe → %v, want T1046 Network Service Discovery", got)
	}
}

// TestFormatsDoNotAllocate: a verdict with a connection is appended, in
// both formats, without allocating (the buffer has room).
func TestFormatsDoNotAllocate(t *testing.T) {
	v := zeekVerdict(t)
	buf := make([]byte, 0, 8192)
	for _, f := range []Format{JSONFormat{}, OCSFFormat{}, JSONFormat{Record: true}, OCSFFormat{Record: true}} {
		if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], &v) }); n != 0 {
			t.Errorf("%T: %v allocations per verdict", f, n)
		}
	}
}

// TestMayNeedEscape: every byte value at every position of the eight is
// flagged exactly when it needs escaping or is not ASCII.
func TestMayNeedEscape(t *testing.T) {
	for b := range 256 {
		want := b < 0x20 || b == '"' || b == '\\' || b >= 0x80
		for pos := range 8 {
			word := []byte("abcdefgh")
			word[pos] = byte(b)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(word[i])
			}
			if got := mayNeedEscape(x); got != want {
				t.Errorf("byte %#x at %d: %v, want %v", b, pos, got, want)
			}
		}
	}
}

func TestAppendRFC3339Nano(t *testing.T) {
	east := time.FixedZone("UTC+5:30", 5*3600+1800)
	times := []time.Time{
		{}, time.Unix(0, 0), time.Unix(1764000000, 123456789), time.Unix(1764000000, 120000000),
		time.Unix(1764000000, 1), time.Unix(1764000000, 100000000).In(east),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(999, 2, 3, 4, 5, 6, 7000, east),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(400_000_000_000)-62_135_596_800, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat([]byte("x"), time.RFC3339Nano)
		if got := appendRFC3339Nano([]byte("x"), tm); !bytes.Equal(got, want) {
			t.Fatalf("appendRFC3339Nano(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestJSONFormatModelMemo: the format that remembers the latest model and
// threshold writes what the literal one does, whatever changes between
// verdicts and from many goroutines at once.
func TestJSONFormatModelMemo(t *testing.T) {
	base := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS, CategoryProb: 0.9981})
	models := []scoring.Info{base.Model, {Name: "other", Version: "2", SHA256: "ab"}, {Name: "q\"uote", Version: "\u2028", SHA256: base.Model.SHA256}}
	thresholds := []float64{0.5, 0.6046, 0.5, math.NaN(), 1}
	memo := NewJSONFormat(false)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				v := base
				v.Model, v.Threshold = models[(i+g)%len(models)], thresholds[(i/3+g)%len(thresholds)]
				got, want := memo.Append(nil, &v), JSONFormat{}.Append(nil, &v)
				if !bytes.Equal(got, want) {
					t.Errorf("with the memo:\n%s\nwithout:\n%s", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
