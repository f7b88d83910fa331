package sinks

import (
	"strconv"

	"github.com/sagewall/sagewall/scoring"
)

// appendExplanation appends a verdict's explanation to a JSON verdict:
//
//	,"explanation":[{"feature":"src_bytes","value":0,"contribution":2.47,"why":"bytes sent"},…]
//
// nothing when it has none. A missing value (NaN) is null.
func appendExplanation(dst []byte, contributions []scoring.Contribution) []byte {
	if len(contributions) == 0 {
		return dst
	}
	dst = append(dst, `,"explanation":[`...)
	for i := range contributions {
		c := &contributions[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"feature":"`...)
		dst = appendEscaped(dst, c.Feature)
		dst = append(dst, `","value":`...)
		dst = appendFloat(dst, float64(c.Value), 32) // null when missing (NaN)
		dst = append(dst, `,"contribution":`...)
		dst = appendFloat(dst, float64(c.Contribution), 32)
		dst = append(dst, `,"why":"`...)
		dst = appendEscaped(dst, c.Why)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

// appendExplanationWords appends an explanation as one sentence for an
// OCSF finding's desc (the inside of a JSON string):
//
//	Largest contributions (log-odds of attack): SYN errors … (serror_rate=1) +2.47; bytes sent (src_bytes=0) +0.81
func appendExplanationWords(dst []byte, contributions []scoring.Contribution) []byte {
	dst = append(dst, "Largest contributions (log-odds of attack): "...)
	for i := range contributions {
		c := &contributions[i]
		if i > 0 {
			dst = append(dst, "; "...)
		}
		dst = appendEscaped(dst, c.Why)
		dst = append(dst, " ("...)
		dst = appendEscaped(dst, c.Feature)
		dst = append(dst, '=')
		if c.Value != c.Value {
			dst = append(dst, "missing"...)
		} else {
			dst = strconv.AppendFloat(dst, float64(c.Value), 'g', -1, 32)
		}
		dst = append(dst, ") "...)
		if c.Contribution >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendFloat(dst, float64(c.Contribution), 'f', 2, 32)
	}
	return dst
}
