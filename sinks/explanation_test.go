package sinks

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// TestJSONExplanation checks the explanation of a JSON verdict: absent
// without one, else each contribution with its feature, value (null when
// missing), contribution and words, in order; and that the verdict follows
// verdict.schema.json.
func TestJSONExplanation(t *testing.T) {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS, CategoryProb: 0.9981})
	schema := compileVerdictSchema(t)
	for _, tc := range []struct {
		name        string
		explanation []scoring.Contribution
		want        string // the verdict's "explanation", "" for none
	}{
		{"none", nil, ""},
		{"empty", []scoring.Contribution{}, ""},
		{"two", []scoring.Contribution{
			{Feature: "src_bytes", Value: 0, Contribution: 2.4678493, Why: "bytes sent"},
			{Feature: "flag=S0", Value: 1, Contribution: -0.5, Why: `connection attempts "without" reply (flag S0)`},
		}, `[{"feature":"src_bytes","value":0,"contribution":2.4678493,"why":"bytes sent"},` +
			`{"feature":"flag=S0","value":1,"contribution":-0.5,"why":"connection attempts \"without\" reply (flag S0)"}]`},
		{"missing value", []scoring.Contribution{
			{Feature: "dst_bytes", Value: float32(math.NaN()), Contribution: -1, Why: "bytes received"},
		}, `[{"feature":"dst_bytes","value":null,"contribution":-1,"why":"bytes received"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.Explanation = tc.explanation
			for _, f := range []JSONFormat{{}, {Record: true}} {
				out := f.Append(nil, &v)
				var doc map[string]json.RawMessage
				if err := json.Unmarshal(out, &doc); err != nil {
					t.Fatalf("%s: %v", out, err)
				}
				got, ok := doc["explanation"]
				if tc.want == "" {
					if ok {
						t.Errorf("explanation %s, want none", got)
					}
					continue
				}
				if string(got) != tc.want {
					t.Errorf("explanation\n%s\nwant\n%s", got, tc.want)
				}
				if !strings.HasSuffix(string(out), "}") {
					t.Errorf("verdict does not end its object: %s", out)
				}
				if err := validateVerdict(t, schema, out); err != nil {
					t.Errorf("verdict against verdict.schema.json: %v\n%s", err, out)
				}
			}
		})
	}
	v.Explanation = []scoring.Contribution{{Feature: "src_bytes", Value: 0, Contribution: 2.5, Why: "bytes sent"}}
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(10, func() { dst = JSONFormat{}.Append(dst[:0], &v) }); n > 1 {
		t.Errorf("Append allocates %v times with an explanation", n)
	}
}

// TestOCSFExplanation: an explained finding says why in words
// (finding_info.desc) and carries the contributions (unmapped.explanation);
// the finding stays within OCSF 1.3.0's attributes.
func TestOCSFExplanation(t *testing.T) {
	v := testVerdict(t, neptuneLine, scoring.Result{Score: 0.9973, Attack: true, Category: etl.DoS, CategoryProb: 0.9981})
	v.Explanation = []scoring.Contribution{
		{Feature: "serror_rate", Value: 1, Contribution: 2.47, Why: `SYN errors "quoted"`},
		{Feature: "src_bytes", Value: float32(math.NaN()), Contribution: -0.5, Why: "bytes sent"},
	}
	out := OCSFFormat{}.Append(nil, &v)
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	checkOCSFObject(t, "", doc)
	desc, _ := doc["finding_info"].(map[string]any)["desc"].(string)
	if want := `Largest contributions (log-odds of attack): SYN errors "quoted" (serror_rate=1) +2.47; bytes sent (src_bytes=missing) -0.50`; desc != want {
		t.Errorf("desc %q, want %q", desc, want)
	}
	unmapped, _ := doc["unmapped"].(map[string]any)
	if e, _ := unmapped["explanation"].([]any); len(e) != 2 {
		t.Errorf("unmapped.explanation %v, want the 2 contributions", e)
	}
	v.Explanation = nil
	plain := string(OCSFFormat{}.Append(nil, &v))
	if strings.Contains(plain, `"desc"`) || strings.Contains(plain, "explanation") {
		t.Errorf("an unexplained finding carries an explanation: %s", plain)
	}
}
