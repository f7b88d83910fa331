package sinks

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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
	tests := []struct {
		golden  string
		format  Format
		verdict Verdict
	}{
		{"attack.json", JSONFormat{}, attack},
		{"normal.json", JSONFormat{}, normal},
		{"attack.ocsf.json", OCSFFormat{}, attack},
		{"normal.ocsf.json", OCSFFormat{}, normal},
		{"zeek.json", JSONFormat{}, zeekVerdict(t)},
		{"zeek.ocsf.json", OCSFFormat{}, zeekVerdict(t)},
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
		{"critical attack", scoring.Result{Score: 0.995, Attack: true, Category: etl.DoS, CategoryProb: 0.9}, 5, 3},
		{"high attack", scoring.Result{Score: 0.93, Attack: true, Category: etl.Probe}, 4, 3},
		{"medium attack", scoring.Result{Score: 0.8, Attack: true, Category: etl.R2L}, 3, 2},
		{"low attack", scoring.Result{Score: 0.55, Attack: true, Category: etl.U2R}, 2, 1},
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
			if data["service"] != "private" || len(data) != etl.NumFields {
				t.Errorf("evidence data = %v", data)
			}
		})
	}
}

func TestFormatsEscapeAndNonFinite(t *testing.T) {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: float32(math.NaN()), Attack: true})
	v.Source.Topic = "raw\"\\\n\x01é\xff"
	v.Record.Label = "a\"b"
	v.Model.Name = "</script>\t"
	for _, f := range []Format{JSONFormat{}, OCSFFormat{}} {
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
		name    string
		want    Format
		wantErr bool
	}{
		{"", JSONFormat{}, false}, {"json", JSONFormat{}, false}, {"ocsf", OCSFFormat{}, false}, {"xml", nil, true},
	} {
		got, err := ParseFormat(tt.name)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %v, %v", tt.name, got, err)
		}
	}
}

func FuzzFormatsValidJSON(f *testing.F) {
	f.Add("nslkdd.raw", "neptune", "model", float32(0.97), true)
	f.Add("a\"\\\x00", "\xff\xfe", "\u2028", float32(math.Inf(1)), false)
	spec := etl.DefaultSpec()
	enc := etl.NewEncoder(spec)
	var base Verdict
	if err := enc.Encode([]byte(neptuneLine), &base.Record, make([]float32, spec.Width())); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, topic, label, model string, score float32, attack bool) {
		v := base
		v.Source.Topic, v.Record.Label, v.Model.Name = topic, label, model
		v.Result = scoring.Result{Score: score, Attack: attack}
		for _, format := range []Format{JSONFormat{}, OCSFFormat{}} {
			if out := format.Append(nil, &v); !json.Valid(out) {
				t.Fatalf("%T: invalid JSON for topic %q label %q model %q score %v: %s", format, topic, label, model, score, out)
			}
		}
	})
}

// BenchmarkFormat compares the append-style encoders with encoding/json
// marshalling an equivalent struct (the reflective alternative); the ratio
// is reported as x_faster_than_encoding_json on the append benchmarks.
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
	for _, bc := range []struct {
		name   string
		format Format
	}{{"append_json", JSONFormat{}}, {"append_ocsf", OCSFFormat{}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				buf = bc.format.Append(buf[:0], &v)
			}
			if ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N); nsJSON > 0 && ns > 0 {
				b.ReportMetric(nsJSON/ns, "x_faster_than_encoding_json")
			}
		})
	}
}

// TestConnectionInVerdicts: both formats name the connection when the
// record did, and carry no connection when it did not.
func TestConnectionInVerdicts(t *testing.T) {
	icmp := zeekVerdict(t)
	icmp.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("2001:db8::1"), OrigPort: 8, RespAddr: netip.MustParseAddr("2001:db8::2"), Proto: "icmp"}
	for _, tt := range []struct {
		name             string
		verdict          Verdict
		src, dst, proto  string
		srcPort, dstPort float64
		source           string
		techniques       int
	}{
		{"zeek tcp", zeekVerdict(t), "193.201.9.232", "147.32.81.167", "tcp", 46563, 3933, "zeek", 1},
		{"icmp over ipv6", icmp, "2001:db8::1", "2001:db8::2", "icmp", 8, 0, "zeek", 1},
		{"nsl-kdd without identity", testVerdict(t, normalLine, scoring.Result{Score: 0.01}), "", "", "", 0, 0, "nslkdd", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var doc struct {
				FeaturesSource string `json:"features_source"`
				Connection     *struct {
					SrcIP     string            `json:"src_ip"`
					SrcPort   float64           `json:"src_port"`
					DstIP     string            `json:"dst_ip"`
					DstPort   float64           `json:"dst_port"`
					Transport string            `json:"transport"`
					Fields    map[string]string `json:"fields"`
				} `json:"connection"`
			}
			out := JSONFormat{}.Append(nil, &tt.verdict)
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if doc.FeaturesSource != tt.source {
				t.Fatalf("features_source %q, want %q", doc.FeaturesSource, tt.source)
			}
			if tt.src == "" {
				if doc.Connection != nil {
					t.Fatalf("a record that named no connection got %+v", doc.Connection)
				}
			} else if c := doc.Connection; c == nil || c.SrcIP != tt.src || c.DstIP != tt.dst || c.Transport != tt.proto ||
				c.SrcPort != tt.srcPort || c.DstPort != tt.dstPort {
				t.Fatalf("connection %+v", doc.Connection)
			}

			var finding struct {
				Time        int64 `json:"time"`
				FindingInfo struct {
					Attacks []struct {
						Tactic    struct{ UID, Name string } `json:"tactic"`
						Technique struct{ UID, Name string } `json:"technique"`
					} `json:"attacks"`
				} `json:"finding_info"`
				Evidences []struct {
					Src *struct {
						IP   string  `json:"ip"`
						Port float64 `json:"port"`
					} `json:"src_endpoint"`
					Dst *struct {
						IP string `json:"ip"`
					} `json:"dst_endpoint"`
					Connection *struct {
						DirectionID *int   `json:"direction_id"`
						Protocol    string `json:"protocol_name"`
						Num         int    `json:"protocol_num"`
					} `json:"connection_info"`
				} `json:"evidences"`
				Observables []struct {
					TypeID int    `json:"type_id"`
					Value  string `json:"value"`
				} `json:"observables"`
			}
			out = OCSFFormat{}.Append(nil, &tt.verdict)
			if err := json.Unmarshal(out, &finding); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if len(finding.FindingInfo.Attacks) != tt.techniques {
				t.Fatalf("attacks %+v, want %d", finding.FindingInfo.Attacks, tt.techniques)
			}
			ev := finding.Evidences[0]
			if tt.src == "" {
				if ev.Src != nil || ev.Dst != nil || finding.Observables != nil || finding.Time != tt.verdict.Time.UnixMilli() {
					t.Fatalf("a record that named no connection got endpoints or observables: %s", out)
				}
				return
			}
			if ev.Src == nil || ev.Src.IP != tt.src || ev.Src.Port != tt.srcPort || ev.Dst == nil || ev.Dst.IP != tt.dst {
				t.Fatalf("endpoints %s", out)
			}
			if ev.Connection == nil || ev.Connection.DirectionID == nil || ev.Connection.Protocol != tt.proto || ev.Connection.Num == 0 {
				t.Fatalf("connection_info %s", out)
			}
			if len(finding.Observables) != 2 || finding.Observables[0].Value != tt.src || finding.Observables[1].TypeID != 2 {
				t.Fatalf("observables %+v", finding.Observables)
			}
			if want := tt.verdict.Conn.Start; !want.IsZero() && finding.Time != want.UnixMilli() {
				t.Fatalf("time %d, want the connection's start %d", finding.Time, want.UnixMilli())
			}
		})
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
	for _, f := range []Format{JSONFormat{}, OCSFFormat{}} {
		if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], &v) }); n != 0 {
			t.Errorf("%T: %v allocations per verdict", f, n)
		}
	}
}
