package sinks

import (
	"context"
	"sync/atomic"

	"github.com/sagewall/sagewall/etl"
)

// Confusion is a sink that scores the verdicts against the labels the
// records carry (NSL-KDD lines end with the attack name): a running binary
// confusion matrix, attack versus normal. Unlabelled records are only
// counted. It accepts every batch at once.
type Confusion struct {
	alertThreshold float32
	truePositives  atomic.Uint64
	falsePositives atomic.Uint64
	trueNegatives  atomic.Uint64
	falseNegatives atomic.Uint64
	unlabelled     atomic.Uint64
	alerts         atomic.Uint64
}

// NewConfusion returns a Confusion that also counts verdicts scoring at or
// above alertThreshold (the SNS alert threshold, 0.90 by default).
func NewConfusion(alertThreshold float32) *Confusion {
	return &Confusion{alertThreshold: alertThreshold}
}

// Write implements the stream's Sink.
func (c *Confusion) Write(_ context.Context, verdicts []Verdict, done func(error)) {
	var tp, fp, tn, fn, unlabelled, alerts uint64
	for i := range verdicts {
		v := &verdicts[i]
		if v.Result.Score >= c.alertThreshold {
			alerts++
		}
		class, ok := etl.ClassOfLabel(v.Record.Label)
		attack := ok && class != etl.Normal
		if !ok && v.Record.Label != "" && v.FeaturesSource != "" && v.FeaturesSource != "nslkdd" {
			// A connection log's label is binary ground truth (Stratosphere's
			// "Malicious"): an attack with no NSL-KDD class.
			ok, attack = true, true
		}
		switch {
		case v.Record.Label == "" || !ok:
			unlabelled++
		case attack && v.Result.Attack:
			tp++
		case attack:
			fn++
		case v.Result.Attack:
			fp++
		default:
			tn++
		}
	}
	c.truePositives.Add(tp)
	c.falsePositives.Add(fp)
	c.trueNegatives.Add(tn)
	c.falseNegatives.Add(fn)
	c.unlabelled.Add(unlabelled)
	c.alerts.Add(alerts)
	done(nil)
}

// ConfusionMatrix is a snapshot of a Confusion.
type ConfusionMatrix struct {
	TruePositives  uint64 `json:"true_positives"`
	FalsePositives uint64 `json:"false_positives"`
	TrueNegatives  uint64 `json:"true_negatives"`
	FalseNegatives uint64 `json:"false_negatives"`
	Unlabelled     uint64 `json:"unlabelled"`
	Alerts         uint64 `json:"alerts"`
}

// Matrix returns the counts so far.
func (c *Confusion) Matrix() ConfusionMatrix {
	return ConfusionMatrix{
		TruePositives:  c.truePositives.Load(),
		FalsePositives: c.falsePositives.Load(),
		TrueNegatives:  c.trueNegatives.Load(),
		FalseNegatives: c.falseNegatives.Load(),
		Unlabelled:     c.unlabelled.Load(),
		Alerts:         c.alerts.Load(),
	}
}

// Labelled is the number of verdicts with a known label.
func (m ConfusionMatrix) Labelled() uint64 {
	return m.TruePositives + m.FalsePositives + m.TrueNegatives + m.FalseNegatives
}

// Accuracy is the share of labelled verdicts that are right (0 when none).
func (m ConfusionMatrix) Accuracy() float64 {
	if n := m.Labelled(); n > 0 {
		return float64(m.TruePositives+m.TrueNegatives) / float64(n)
	}
	return 0
}

// DetectionRate is the share of attacks flagged (recall).
func (m ConfusionMatrix) DetectionRate() float64 {
	if n := m.TruePositives + m.FalseNegatives; n > 0 {
		return float64(m.TruePositives) / float64(n)
	}
	return 0
}

// FalseAlarmRate is the share of normal records flagged.
func (m ConfusionMatrix) FalseAlarmRate() float64 {
	if n := m.FalsePositives + m.TrueNegatives; n > 0 {
		return float64(m.FalsePositives) / float64(n)
	}
	return 0
}
