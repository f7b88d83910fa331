package stream

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// TestPipelineExplains runs the pipeline over KDDTrain+ records in each
// explanation mode and checks which verdicts carry an explanation: none,
// the attacks at or above the alert threshold, or all; and that an
// explanation lists ExplainTop contributions, largest first, with words.
func TestPipelineExplains(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(2, "raw", "dlq", "verdicts-none", "verdicts-alerts", "verdicts-all"))
	const n = 400
	produce(t, brokers, "raw", trainLines(t, n))
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	const alertThreshold = 0.9
	for _, mode := range []string{ExplainNone, ExplainAlerts, ExplainAll} {
		t.Run(mode, func(t *testing.T) {
			explainer, err := det.NewExplainer()
			if err != nil {
				t.Fatal(err)
			}
			verdicts := "verdicts-" + mode
			tp := startPipelineOn(t, brokers, topics{raw: "raw", verdicts: verdicts, dlq: "dlq"}, "explain-"+mode, nil,
				WithExplanations(explainer, mode, alertThreshold))
			waitCommitted(t, brokers, "explain-"+mode, tp, 30*time.Second)
			if err := tp.stop(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			explained, total := 0, 0
			for _, msgs := range readAll(t, brokers, verdicts) {
				for _, m := range msgs {
					var v struct {
						Score       float64                `json:"score"`
						Attack      bool                   `json:"attack"`
						Explanation []scoring.Contribution `json:"explanation"`
					}
					if err := json.Unmarshal(m.Value, &v); err != nil {
						t.Fatalf("%s: %v", m.Value, err)
					}
					total++
					want := mode == ExplainAll || mode == ExplainAlerts && v.Attack && v.Score >= alertThreshold
					if got := v.Explanation != nil; got != want {
						t.Fatalf("score %v attack %v: explanation %v, want one: %v", v.Score, v.Attack, v.Explanation, want)
					}
					if !want {
						continue
					}
					explained++
					if len(v.Explanation) != ExplainTop {
						t.Fatalf("%d contributions, want %d: %v", len(v.Explanation), ExplainTop, v.Explanation)
					}
					for i, c := range v.Explanation {
						if c.Feature == "" || c.Why == "" || (i > 0 && abs(c.Contribution) > abs(v.Explanation[i-1].Contribution)) {
							t.Fatalf("contribution %d: %+v in %v", i, c, v.Explanation)
						}
					}
				}
			}
			if total != n {
				t.Fatalf("%d verdicts, want %d", total, n)
			}
			t.Logf("%s: %d of %d verdicts explained", mode, explained, total)
		})
	}
}

func abs(x float32) float32 { return max(x, -x) }

// TestCheckExplainMode checks the modes WithExplanations knows.
func TestCheckExplainMode(t *testing.T) {
	for _, tc := range []struct {
		mode string
		ok   bool
	}{{"none", true}, {"alerts", true}, {"all", true}, {"", false}, {"Alerts", false}, {"attacks", false}} {
		if err := CheckExplainMode(tc.mode); (err == nil) != tc.ok {
			t.Errorf("CheckExplainMode(%q) = %v, want ok %v", tc.mode, err, tc.ok)
		}
	}
}

// BenchmarkPipelineExplain is BenchmarkPipeline's batched run (20 000
// KDDTrain+ records, 45 % of them alerts, 512-record batches, the
// in-process broker) with each explanation mode, alternating so that a busy
// machine slows them alike, each round starting with the next mode (run it
// with -benchtime 5x or a multiple). Reported: records/s, and the ratio to
// the run without explanations. alerts is the default (at most 4 a batch),
// alerts-8 at most 8, alerts-uncapped every alert.
func BenchmarkPipelineExplain(b *testing.B) {
	brokers := testenv.KFake(b, kfake.SeedTopics(4, "raw", "verdicts", "dlq"))
	const n = 20_000
	produce(b, brokers, "raw", trainLines(b, n))
	det, err := scoring.Bundled()
	if err != nil {
		b.Fatal(err)
	}
	explainer, err := det.NewExplainer()
	if err != nil {
		b.Fatal(err)
	}
	modes := []struct {
		name     string
		mode     string
		perBatch int
	}{{"none", ExplainNone, 0}, {"alerts", ExplainAlerts, 4}, {"alerts-8", ExplainAlerts, 8}, {"alerts-uncapped", ExplainAlerts, 0}, {"all", ExplainAll, 0}}
	totals := map[string]time.Duration{}
	runs := 0
	for b.Loop() {
		runs++
		// Each round starts with another mode: the first run of a round
		// measured slower (position bias), whichever mode it was.
		for k := range modes {
			m := modes[(k+runs)%len(modes)]
			group := fmt.Sprintf("bench-explain-%s-%d-%d", m.name, b.N, runs)
			start := time.Now()
			run := startPipeline(b, brokers, group, nil, WithBatch(512, 1<<20, 5*time.Millisecond),
				WithExplanations(explainer.Clone(), m.mode, sinks.DefaultAlertThreshold), WithExplanationsPerBatch(m.perBatch))
			waitCommitted(b, brokers, group, run, 5*time.Minute)
			totals[m.name] += time.Since(start)
			if err := run.stop(b); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, m := range modes {
		rate := float64(runs*n) / totals[m.name].Seconds()
		b.ReportMetric(rate, "records/s_"+m.name)
		if m.mode != ExplainNone {
			b.ReportMetric(totals["none"].Seconds()/totals[m.name].Seconds(), "ratio_"+m.name)
		}
	}
}

// TestExplanationsPerBatch: in alerts mode at most the cap's number of a
// batch's alerts are explained, the first ones; all mode ignores the cap.
func TestExplanationsPerBatch(t *testing.T) {
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	spec := det.Spec()
	lines := trainLines(t, 20)
	for _, tc := range []struct {
		mode     string
		perBatch int
		want     int
	}{{ExplainAlerts, 3, 3}, {ExplainAlerts, 0, 20}, {ExplainAll, 3, 20}} {
		explainer, err := det.NewExplainer()
		if err != nil {
			t.Fatal(err)
		}
		cfg := config{spec: spec}
		WithExplanations(explainer, tc.mode, 0.9)(&cfg)
		WithExplanationsPerBatch(tc.perBatch)(&cfg)
		r := &run{p: &Pipeline{cfg: cfg, width: spec.Width()}}
		b := &batch{n: len(lines), rows: make([]float32, len(lines)*spec.Width()), verdicts: make([]sinks.Verdict, len(lines))}
		enc := etl.NewEncoder(spec)
		for i, line := range lines {
			if err := enc.Encode(line, &b.verdicts[i].Record, b.rows[i*spec.Width():(i+1)*spec.Width()]); err != nil {
				t.Fatal(err)
			}
			b.verdicts[i].Result = scoring.Result{Score: 0.99, Attack: true} // every one an alert
		}
		r.explain(b)
		explained := 0
		for i := range b.n {
			if len(b.verdicts[i].Explanation) > 0 {
				if explained != i {
					t.Errorf("%s, cap %d: verdict %d explained after an unexplained one", tc.mode, tc.perBatch, i)
				}
				explained++
			}
		}
		if explained != tc.want {
			t.Errorf("%s, cap %d: %d of %d explained, want %d", tc.mode, tc.perBatch, explained, b.n, tc.want)
		}
	}
}
