package sinks

import (
	"bufio"
	"context"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/scoring"
)

// TestSeverityDistribution grades the bundled model's verdicts on the first
// 5,000 KDDTrain+ rows (the 5,000-record run): Critical must be the
// rare, meaningful grade it was not when severity followed the score (97 %
// of attack findings). It logs the distribution documented in
// docs/pipeline.md.
func TestSeverityDistribution(t *testing.T) {
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	r, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const n = 5000
	spec := det.Spec()
	enc := etl.NewEncoder(spec)
	rows := make([]float32, n*spec.Width())
	sc := bufio.NewScanner(r)
	var rec etl.Record
	for i := 0; i < n && sc.Scan(); i++ {
		if err := enc.Encode(sc.Bytes(), &rec, rows[i*spec.Width():(i+1)*spec.Width()]); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	results := make([]scoring.Result, n)
	if err := det.Score(context.Background(), rows, results); err != nil {
		t.Fatal(err)
	}
	bySeverity := map[string]int{}
	attacks := 0
	for _, res := range results {
		if res.Attack {
			attacks++
			_, name := Severity(true, res.Category, res.Score)
			bySeverity[name]++
		}
	}
	t.Logf("%d of %d records flagged; attack findings by severity: %v", attacks, n, bySeverity)
	if critical := float64(bySeverity["Critical"]) / float64(attacks); critical > 0.05 {
		t.Errorf("%.1f %% of attack findings are Critical, want at most 5 %%", 100*critical)
	}
	if bySeverity["Informational"] != 0 {
		t.Errorf("%d attack findings graded Informational", bySeverity["Informational"])
	}
}
