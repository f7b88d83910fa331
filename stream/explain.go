package stream

import (
	"fmt"

	"github.com/sagewall/sagewall/scoring"
)

// Which verdicts get an explanation (model.explain).
const (
	ExplainNone   = "none"   // none
	ExplainAlerts = "alerts" // attacks scoring at least the alert threshold (the default in cmd)
	ExplainAll    = "all"    // every verdict
)

// ExplainTop is how many contributions an explanation lists.
const ExplainTop = 5

// Explainer gives a row its largest contributions (scoring.Explainer). The
// pipeline calls it from its one scoring goroutine, one row at a time, so
// it need not be safe for concurrent use; it must not keep row or dst.
type Explainer interface {
	Top(row []float32, k int, dst []scoring.Contribution) []scoring.Contribution
}

// explainConfig is WithExplanations' setting.
type explainConfig struct {
	explainer Explainer
	all       bool    // every verdict; else attacks at or above threshold
	threshold float64 // the alert threshold
}

// WithExplanations has verdicts carry their ExplainTop largest
// contributions (sinks.Verdict.Explanation): for mode ExplainAll every
// verdict's, for ExplainAlerts those of attacks whose score is at least
// alertThreshold (the verdicts that raise alerts), for ExplainNone none
// (the default). The explainer must explain the scorer's model, on the
// rows as the pipeline encodes them.
func WithExplanations(e Explainer, mode string, alertThreshold float64) Option {
	return func(c *config) {
		c.explain = nil
		switch mode {
		case ExplainAll:
			c.explain = &explainConfig{explainer: e, all: true}
		case ExplainAlerts:
			c.explain = &explainConfig{explainer: e, threshold: alertThreshold}
		}
	}
}

// CheckExplainMode reports a mode WithExplanations does not know.
func CheckExplainMode(mode string) error {
	switch mode {
	case ExplainNone, ExplainAlerts, ExplainAll:
		return nil
	}
	return fmt.Errorf("checking explanations mode %q: want %s, %s or %s", mode, ExplainNone, ExplainAlerts, ExplainAll)
}

// WithExplanationsPerBatch caps the explanations of ExplainAlerts mode at n
// per micro-batch, the first n alerts in fetch order (0: no cap). An
// explanation costs ~15 scorings of its row; during a flood nearly every
// record is an alert, and explaining them all cut the pipeline's
// throughput by a third (KDDTrain+, 45 % alerts), exactly when it is most
// needed. Alerts are aggregated per category and service anyway, with a
// few examples each.
func WithExplanationsPerBatch(n int) Option {
	return func(c *config) { c.explainPerBatch = n }
}

// explain fills the explanations of b's scored verdicts (reusing each
// verdict's slice) or empties them.
func (r *run) explain(b *batch) {
	x := r.p.cfg.explain
	explained := 0
	for i := range b.n {
		v := &b.verdicts[i]
		v.Explanation = v.Explanation[:0]
		if x == nil || x.explainer == nil || !(x.all || v.Result.Attack && float64(v.Result.Score) >= x.threshold) {
			continue
		}
		if !x.all && r.p.cfg.explainPerBatch > 0 && explained >= r.p.cfg.explainPerBatch {
			continue
		}
		v.Explanation = x.explainer.Top(b.rows[i*r.p.width:(i+1)*r.p.width], ExplainTop, v.Explanation)
		explained++
	}
}
