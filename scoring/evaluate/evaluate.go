// Package evaluate computes how well a detector's verdicts match labelled
// records: the binary confusion matrix and its rates, the exact ROC-AUC and
// ROC curve, and a multi-class confusion matrix with per-class recall. It
// also draws the confusion matrix and the ROC curve as SVG.
//
// Undefined ratios (a denominator of zero, e.g. precision when nothing was
// flagged) are 0, as in scikit-learn; ROC-AUC is undefined (ok == false)
// unless both classes are present.
package evaluate

import (
	"cmp"
	"errors"
	"math"
	"slices"
)

// Confusion is the binary confusion matrix; attacks are the positive class.
type Confusion struct {
	TN int64 `json:"tn"` // normal, passed
	FP int64 `json:"fp"` // normal, flagged (false alarm)
	FN int64 `json:"fn"` // attack, missed
	TP int64 `json:"tp"` // attack, flagged (detected)
}

// Add counts one record.
func (c *Confusion) Add(attack, flagged bool) {
	switch {
	case attack && flagged:
		c.TP++
	case attack:
		c.FN++
	case flagged:
		c.FP++
	default:
		c.TN++
	}
}

// Total is the number of records counted.
func (c Confusion) Total() int64 { return c.TN + c.FP + c.FN + c.TP }

// Accuracy is the share of records classified correctly.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.Total()) }

// Precision is the share of flagged records that are attacks.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall (the detection rate) is the share of attacks flagged.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// FalseAlarmRate is the share of normal records flagged.
func (c Confusion) FalseAlarmRate() float64 { return ratio(c.FP, c.FP+c.TN) }

// F1 is the harmonic mean of precision and recall.
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// Scored is one record's score and whether it truly is an attack.
type Scored struct {
	Score  float32
	Attack bool
}

// ROCAUC is the exact area under the ROC curve: the probability that a random
// attack scores higher than a random normal record, ties counting one half
// (the Mann-Whitney U statistic). It sorts records in place. ok is false when
// either class is absent.
func ROCAUC(records []Scored) (auc float64, ok bool) {
	sortByScore(records)
	var pos, neg, twiceU int64
	for group := range tieGroups(records) {
		// Each attack in the group beats every normal record below it and
		// ties with the normal records in the group.
		twiceU += group.pos * (2*neg + group.neg)
		pos += group.pos
		neg += group.neg
	}
	if pos == 0 || neg == 0 {
		return 0, false
	}
	return float64(twiceU) / float64(2*pos*neg), true
}

// Point is one point of a ROC curve.
type Point struct {
	FalseAlarmRate float64
	Recall         float64
	Threshold      float32 // flag records scoring >= Threshold
}

// ErrOneClass is returned for a ROC curve when attacks or normal records are missing.
var ErrOneClass = errors.New("ROC curve needs both attacks and normal records")

// ROCCurve returns the curve from (0,0) to (1,1), one point per distinct
// score, thresholds descending. It sorts records in place.
func ROCCurve(records []Scored) ([]Point, error) {
	sortByScore(records)
	var pos, neg int64
	for _, r := range records {
		if r.Attack {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return nil, ErrOneClass
	}
	groups := slices.Collect(tieGroups(records))
	points := make([]Point, 0, len(groups)+1)
	points = append(points, Point{Threshold: float32(math.Inf(1))}) // nothing flagged
	var tp, fp int64
	for i := len(groups) - 1; i >= 0; i-- {
		tp += groups[i].pos
		fp += groups[i].neg
		points = append(points, Point{
			FalseAlarmRate: float64(fp) / float64(neg),
			Recall:         float64(tp) / float64(pos),
			Threshold:      groups[i].score,
		})
	}
	return points, nil
}

type tieGroup struct {
	score    float32
	pos, neg int64
}

func sortByScore(records []Scored) {
	slices.SortFunc(records, func(a, b Scored) int { return cmp.Compare(a.Score, b.Score) })
}

// tieGroups yields the runs of equal scores of sorted records, ascending.
func tieGroups(sorted []Scored) func(yield func(tieGroup) bool) {
	return func(yield func(tieGroup) bool) {
		for i := 0; i < len(sorted); {
			g := tieGroup{score: sorted[i].Score}
			for ; i < len(sorted) && sorted[i].Score == g.score; i++ {
				if sorted[i].Attack {
					g.pos++
				} else {
					g.neg++
				}
			}
			if !yield(g) {
				return
			}
		}
	}
}

// Multiclass is a confusion matrix over n classes: Counts[truth][predicted].
type Multiclass struct {
	Counts [][]int64
}

// NewMulticlass returns an empty n-class matrix.
func NewMulticlass(n int) *Multiclass {
	counts := make([][]int64, n)
	for i := range counts {
		counts[i] = make([]int64, n)
	}
	return &Multiclass{Counts: counts}
}

// Add counts one record.
func (m *Multiclass) Add(truth, predicted int) { m.Counts[truth][predicted]++ }

// Accuracy is the share of records whose predicted class is the true one.
func (m *Multiclass) Accuracy() float64 {
	var right, total int64
	for i, row := range m.Counts {
		right += row[i]
		for _, n := range row {
			total += n
		}
	}
	return ratio(right, total)
}

// Recall is the share of records of class truth predicted as truth; ok is
// false when there are none.
func (m *Multiclass) Recall(truth int) (recall float64, ok bool) {
	var total int64
	for _, n := range m.Counts[truth] {
		total += n
	}
	return ratio(m.Counts[truth][truth], total), total > 0
}
