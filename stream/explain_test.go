package stream

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

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
// KDDTrain+ records, 512-record batches, the in-process broker) with each
// explanation mode, alternating so that a busy machine slows them alike.
// Reported: records/s, and the ratio to the run without explanations.
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
	modes := []string{ExplainNone, ExplainAlerts, ExplainAll}
	totals := map[string]time.Duration{}
	runs := 0
	for b.Loop() {
		runs++
		for _, mode := range modes {
			group := fmt.Sprintf("bench-explain-%s-%d-%d", mode, b.N, runs)
			start := time.Now()
			run := startPipeline(b, brokers, group, nil, WithBatch(512, 1<<20, 5*time.Millisecond),
				WithExplanations(explainer.Clone(), mode, sinks.DefaultAlertThreshold))
			waitCommitted(b, brokers, group, run, 5*time.Minute)
			totals[mode] += time.Since(start)
			if err := run.stop(b); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, mode := range modes {
		rate := float64(runs*n) / totals[mode].Seconds()
		b.ReportMetric(rate, "records/s_"+mode)
		if mode != ExplainNone {
			b.ReportMetric(totals[ExplainNone].Seconds()/totals[mode].Seconds(), "ratio_"+mode)
		}
	}
}
