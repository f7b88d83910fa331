package etl

import (
	"math"
	"strconv"
)

// maxExactPow10 is the largest power of ten float64 represents exactly.
const maxExactPow10 = 22

// numberError classifies why b is not an acceptable feature value.
type numberError uint8

const (
	numberOK numberError = iota
	numberSyntax
	numberNegative
	numberNotFinite
)

// parseNumber parses a non-negative, finite decimal number:
// [-]digits[.digits][(e|E)[+|-]digits] or [-].digits[...]. A minus sign is
// accepted by the grammar only so that "-1" is reported as negative rather
// than as not a number.
func parseNumber(b []byte) (float64, numberError) {
	// Fast path: plain decimals whose digits fit in 53 bits and whose
	// fraction has at most 22 digits; one IEEE division of two exact
	// values is correctly rounded (Clinger's fast path).
	var mant uint64
	digits, fracDigits, dot := 0, 0, false
	for _, c := range b {
		switch {
		case c-'0' < 10:
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				fracDigits++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return parseNumberSlow(b)
		}
	}
	if digits == 0 || digits > 15 || fracDigits > maxExactPow10 {
		return parseNumberSlow(b)
	}
	return float64(mant) / math.Pow10(fracDigits), numberOK
}

// parseNumberSlow validates the full grammar and defers to strconv.
func parseNumberSlow(b []byte) (float64, numberError) {
	i := 0
	negative := len(b) > 0 && b[0] == '-'
	if negative {
		i++
	}
	intDigits := 0
	for i < len(b) && b[i]-'0' < 10 {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i]-'0' < 10 {
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return 0, numberSyntax
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(b) && b[i]-'0' < 10 {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return 0, numberSyntax
		}
	}
	if i != len(b) {
		return 0, numberSyntax
	}
	// The grammar above is a subset of strconv's, so the only error left
	// is ErrRange: overflow to ±Inf (underflow returns 0 without error).
	v, err := strconv.ParseFloat(string(b), 64)
	switch {
	case err != nil || math.IsInf(v, 0):
		if negative && v != 0 {
			return v, numberNegative
		}
		return v, numberNotFinite
	case v < 0:
		return v, numberNegative
	}
	return math.Abs(v), numberOK // -0 becomes 0
}
