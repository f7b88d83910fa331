package sinks

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// compileVerdictSchema compiles the embedded schema, asserting formats (date-time,
// ipv4, ipv6), which draft 2020-12 otherwise only annotates.
func compileVerdictSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(VerdictSchema()))
	if err != nil {
		t.Fatalf("reading verdict.schema.json: %v", err)
	}
	url, _ := doc.(map[string]any)["$id"].(string)
	if url == "" {
		t.Fatal("verdict.schema.json has no $id")
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compiling verdict.schema.json: %v", err)
	}
	return s
}

func validateVerdict(t testing.TB, s *jsonschema.Schema, doc []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("not JSON: %v: %s", err, doc)
	}
	return s.Validate(inst)
}

func TestVerdictSchemaVersion(t *testing.T) {
	var doc struct {
		Properties struct {
			SchemaVersion struct {
				Const string `json:"const"`
			} `json:"schema_version"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(VerdictSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Properties.SchemaVersion.Const != VerdictSchemaVersion {
		t.Errorf("verdict.schema.json says schema_version %q, VerdictSchemaVersion is %q",
			doc.Properties.SchemaVersion.Const, VerdictSchemaVersion)
	}
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS})
	prefix := `{"id":"nslkdd.raw/3/1234567","schema_version":"` + VerdictSchemaVersion + `",`
	if out := (JSONFormat{}).Append(nil, &v); !bytes.HasPrefix(out, []byte(prefix)) {
		t.Errorf("a verdict does not start with id and schema_version: %s", out)
	}
}

// TestVerdictSchemaGoldens validates the JSON golden files (compact and
// full) and checks that the schema rejects what a verdict must not be.
func TestVerdictSchemaGoldens(t *testing.T) {
	s := compileVerdictSchema(t)
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range goldens {
		if strings.HasSuffix(path, ".ocsf.json") {
			continue
		}
		n++
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateVerdict(t, s, doc); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	if n < 4 {
		t.Fatalf("%d JSON golden files, want at least 4 (compact and full)", n)
	}

	zeek := zeekVerdict(t)
	base := JSONFormat{Record: true}.Append(nil, &zeek)
	for _, tt := range []struct {
		name   string
		mutate func(map[string]any)
	}{
		{"no schema_version", func(d map[string]any) { delete(d, "schema_version") }},
		{"another schema_version", func(d map[string]any) { d["schema_version"] = "0.9.0" }},
		{"an unknown field", func(d map[string]any) { d["verdict"] = "bad" }},
		{"score above 1", func(d map[string]any) { d["score"] = 1.5 }},
		{"unknown category", func(d map[string]any) { d["category"] = "worm" }},
		{"unknown features_source", func(d map[string]any) { d["features_source"] = "netflow" }},
		{"id without offset", func(d map[string]any) { d["id"] = "nslkdd.raw/3" }},
		{"time not RFC 3339", func(d map[string]any) { d["time"] = "25/11/2026" }},
		{"short sha256", func(d map[string]any) { d["model"].(map[string]any)["sha256"] = "9f86" }},
		{"port without address", func(d map[string]any) { delete(d["connection"].(map[string]any), "src_ip") }},
		{"address not an IP", func(d map[string]any) { d["connection"].(map[string]any)["dst_ip"] = "host.example" }},
		{"record missing a feature", func(d map[string]any) { delete(d["record"].(map[string]any), "flag") }},
		{"record feature a string", func(d map[string]any) { d["record"].(map[string]any)["count"] = "123" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(base, &doc); err != nil {
				t.Fatal(err)
			}
			tt.mutate(doc)
			bad, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateVerdict(t, s, bad); err == nil {
				t.Errorf("the schema accepts a verdict with %s: %s", tt.name, bad)
			}
		})
	}
}

// randomVerdict is a verdict as the pipeline could write one: any class,
// score (NaN included), model, feature source and connection members, with
// strings that need escaping.
func randomVerdict(r *rand.Rand, base Verdict) Verdict {
	str := func() string {
		const chars = "abcXYZ019 ._-/\"\\\t\n\x01é€\u2028"
		runes := []rune(chars)
		b := make([]rune, r.IntN(12))
		for i := range b {
			b[i] = runes[r.IntN(len(runes))]
		}
		return string(b)
	}
	prob := func() float32 {
		if r.IntN(50) == 0 {
			return float32(math.NaN())
		}
		return r.Float32()
	}
	classes := etl.Classes()
	v := base
	v.Source = Source{Topic: "t" + str(), Partition: r.IntN(64), Offset: r.Int64N(1 << 40)}
	v.Time = time.Unix(r.Int64N(4e9), r.Int64N(1e9))
	v.Result = scoring.Result{Score: prob(), Attack: r.IntN(2) == 0, Category: classes[r.IntN(len(classes))], CategoryProb: prob()}
	v.Threshold = float64(prob())
	v.Model = scoring.Info{Name: str(), Version: str()}
	if r.IntN(2) == 0 {
		v.Model.SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	}
	v.FeaturesSource = []string{"", "nslkdd", "zeek", "vpcflow"}[r.IntN(4)]
	v.Record.Label = []string{"", "neptune", str()}[r.IntN(3)]
	v.Conn = connlog.Conn{}
	if r.IntN(3) > 0 {
		if r.IntN(2) == 0 {
			v.Conn.Start = time.Unix(r.Int64N(4e9), r.Int64N(1e9))
		}
		if r.IntN(2) == 0 {
			v.Conn.OrigAddr, v.Conn.OrigPort = netip.AddrFrom4([4]byte{byte(r.IntN(256)), 2, 3, 4}), uint16(r.IntN(65536))
		}
		if r.IntN(2) == 0 {
			v.Conn.RespAddr, v.Conn.RespPort = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(256))}), uint16(r.IntN(65536))
		}
		if r.IntN(2) == 0 {
			v.Conn.UID, v.Conn.Sensor, v.Conn.Proto = str(), str(), []string{"tcp", "udp", "icmp", "47"}[r.IntN(4)]
		}
		if r.IntN(2) == 0 {
			v.Conn.Label, v.Conn.DetailLbl = str(), str()
		}
		if r.IntN(2) == 0 {
			v.Conn.Extra = []connlog.Field{{Name: str(), Value: str()}, {Name: "vlan", Value: str()}}
		}
	}
	return v
}

func TestVerdictSchemaRandomVerdicts(t *testing.T) {
	s := compileVerdictSchema(t)
	base := testVerdict(t, neptuneLine, scoring.Result{})
	r := rand.New(rand.NewPCG(15, 4))
	for i := range 2000 {
		v := randomVerdict(r, base)
		if i%7 == 0 {
			v.Record.Numeric[0] = math.Inf(1) // written as null
		}
		for _, f := range []JSONFormat{{}, {Record: true}} {
			out := f.Append(nil, &v)
			if err := validateVerdict(t, s, out); err != nil {
				t.Fatalf("verdict %d (record %v) does not match the schema: %v\n%s", i, f.Record, err, out)
			}
		}
	}
}

func FuzzJSONVerdictSchema(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(15), uint64(0))
	s := compileVerdictSchema(f)
	base := testVerdict(f, neptuneLine, scoring.Result{})
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64) {
		v := randomVerdict(rand.New(rand.NewPCG(seed1, seed2)), base)
		for _, format := range []JSONFormat{{}, {Record: true}} {
			out := format.Append(nil, &v)
			if err := validateVerdict(t, s, out); err != nil {
				t.Fatalf("does not match the schema: %v\n%s", err, out)
			}
		}
	})
}
