package dashboard

import "math"

// scoreBins is the what-if view's resolution: thresholds are exact to 0.001.
const scoreBins = 1000

// scoreHistogram counts labelled verdicts by score bin, [0] those labelled
// normal and [1] those labelled an attack. Bin i holds scores in
// [i/scoreBins, (i+1)/scoreBins); the extra last bin holds scores of 1, so
// that a threshold of 1 flags them.
type scoreHistogram [2][scoreBins + 1]uint64

func (h *scoreHistogram) add(attack bool, score float32) {
	truth := 0
	if attack {
		truth = 1
	}
	h[truth][scoreBin(float64(score))]++
}

// scoreBin is the bin of a score, scores outside [0, 1] (and NaN) in the end bins.
func scoreBin(score float64) int {
	if !(score > 0) {
		return 0
	}
	return min(int(score*scoreBins), scoreBins)
}

// WhatIf is how a threshold would do on the live stream's labelled
// verdicts: an alert when the score is at least Threshold.
type WhatIf struct {
	Threshold      float64 `json:"threshold"` // as asked, rounded to the nearest bin edge
	Labelled       uint64  `json:"labelled"`
	Attacks        uint64  `json:"attacks"` // labelled an attack
	Normal         uint64  `json:"normal"`  // labelled normal
	TruePositives  uint64  `json:"true_positives"`
	FalsePositives uint64  `json:"false_positives"`
	FalseNegatives uint64  `json:"false_negatives"`
	// Precision is the share of flagged verdicts that are attacks (0 when
	// nothing is flagged); DetectionRate the share of attacks flagged;
	// FalseAlarmRate the share of normal verdicts flagged.
	Precision      float64 `json:"precision"`
	DetectionRate  float64 `json:"detection_rate"`
	FalseAlarmRate float64 `json:"false_alarm_rate"`
}

// WhatIf returns how threshold would do on the labelled verdicts so far.
func (l *Live) WhatIf(threshold float64) WhatIf {
	l.mu.Lock()
	h := l.scores
	l.mu.Unlock()
	return h.whatIf(threshold)
}

// whatIf counts, for threshold rounded to a bin edge k/scoreBins, the
// verdicts in bins k and up as flagged. At a threshold on the 0.001 grid
// that is exactly "score >= threshold": a bin never straddles an edge.
func (h *scoreHistogram) whatIf(threshold float64) WhatIf {
	edge := int(math.Round(min(max(threshold, 0), 1) * scoreBins))
	w := WhatIf{Threshold: float64(edge) / scoreBins}
	for i := range scoreBins + 1 {
		normal, attack := h[0][i], h[1][i]
		w.Normal += normal
		w.Attacks += attack
		if i >= edge {
			w.FalsePositives += normal
			w.TruePositives += attack
		}
	}
	w.Labelled = w.Normal + w.Attacks
	w.FalseNegatives = w.Attacks - w.TruePositives
	w.Precision = ratio(w.TruePositives, w.TruePositives+w.FalsePositives)
	w.DetectionRate = ratio(w.TruePositives, w.Attacks)
	w.FalseAlarmRate = ratio(w.FalsePositives, w.Normal)
	return w
}
