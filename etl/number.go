package etl

import (
	"encoding/binary"
	"math"
	"math/bits"
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
	numberMissing // an empty value or NaN: the value is NaN, the feature missing
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

// parseNumberSlow validates the full grammar and defers to strconv. An
// empty value and NaN (any case), which XGBoost and the SageMaker XGBoost
// container read as a missing value, are numberMissing, with the value NaN.
func parseNumberSlow(b []byte) (float64, numberError) {
	if len(b) == 0 || (len(b) == 3 && (b[0]|0x20) == 'n' && (b[1]|0x20) == 'a' && (b[2]|0x20) == 'n') {
		return math.NaN(), numberMissing
	}
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

// Byte-lane constants for scanNumber, which reads 8 bytes at a time.
const (
	lanes        = 0x0101010101010101
	commaXorZero = ',' ^ '0'
	dotXorZero   = '.' ^ '0'
)

// scanNumber parses the number starting at line[pos] and ending at the next
// comma or the end of the line; it returns the value and the index of that
// end. Plain decimals of up to 7 digits ending within 8 bytes (the values
// scanNumbers' shortcuts miss, such as "1480" or "0.5") are parsed without
// branching per byte: the lanes are XORed with '0' so digits become 0..9,
// the first non-digit lane is found with one add, and the digits are
// combined with three multiplies (Lemire's eight-digit method). Anything
// else goes through parseNumber.
func scanNumber(line []byte, pos int) (float64, int, numberError) {
	if pos > len(line) {
		return 0, len(line), numberSyntax
	}
	var w uint64
	if pos+8 <= len(line) {
		w = binary.LittleEndian.Uint64(line[pos:])
	} else {
		// Pad the tail with commas: the end of the line ends the field.
		var buf [8]byte
		n := copy(buf[:], line[pos:])
		for i := n; i < len(buf); i++ {
			buf[i] = ','
		}
		w = binary.LittleEndian.Uint64(buf[:])
	}
	x := w ^ lanes*'0'
	// A lane is a non-digit when x >= 10; a carry only leaves a non-digit
	// lane, so the lowest flagged lane is exact.
	nonDigit := ((x + lanes*0x76) | x) & (lanes * 0x80)
	end := bits.TrailingZeros64(nonDigit) >> 3
	digitLanes := x & lowLanes(end)
	digits, fracDigits := end, 0
	if end < 8 && byte(x>>(8*end)) == dotXorZero {
		stop := bits.TrailingZeros64(nonDigit&^lowLanes(end+1)) >> 3
		fracDigits = stop - end - 1
		digitLanes |= (x >> 8) & (lowLanes(stop-1) &^ lowLanes(end))
		digits = stop - 1
		end = stop
	}
	if end < 8 && byte(x>>(8*end)) == commaXorZero && digits > 0 {
		// The first digit is in the lowest lane; move the digits to the top
		// lanes so the empty lanes act as leading zeros, then combine pairs,
		// quads and the two halves.
		v := digitLanes << (8 * (8 - digits))
		v = v*10 + v>>8
		v = ((v&0x000000ff000000ff)*(100+1000000<<32) + (v>>16&0x000000ff000000ff)*(1+10000<<32)) >> 32
		f := float64(uint32(v))
		if fracDigits > 0 {
			f /= math.Pow10(fracDigits)
		}
		return f, pos + end, numberOK
	}
	fieldEnd := fieldEnd(line, pos)
	v, err := parseNumber(line[pos:fieldEnd])
	return v, fieldEnd, err
}

// lowLanes masks the lowest n byte lanes (n <= 8).
func lowLanes(n int) uint64 {
	return ^uint64(0) >> (64 - 8*n)
}

// scanNumbers parses len(out) consecutive comma-separated numbers starting
// at line[pos] into out; a missing value (an empty field or NaN) is NaN. It
// returns the index after the last number (its comma, or the end of the
// line); on failure it returns the start of the failing number, its index
// in out and the reason.
//
// The shapes of most NSL-KDD values, integers of up to three digits and
// rates with two decimals ("0.17"), are parsed in the loop itself; the call
// to scanNumber for other shapes costs more than the parsing.
func (e *Encoder) scanNumbers(line []byte, pos int, out []float64) (int, int, numberError) {
	for i := range out {
		// Each shape is a branch the processor learns per field, so the
		// next field's position is predicted rather than computed.
		if pos+5 <= len(line) {
			b := line[pos : pos+5]
			d0, d1, d2, d3 := b[0]-'0', b[1]-'0', b[2]-'0', b[3]-'0'
			if d0 < 10 {
				switch {
				case b[1] == ',':
					out[i] = float64(d0)
					pos += 2
					continue
				case b[1] == '.' && b[4] == ',' && d2 < 10 && d3 < 10:
					out[i] = e.hundredths[int(d0)*100+int(d2)*10+int(d3)]
					pos += 5
					continue
				case b[2] == ',' && d1 < 10:
					out[i] = float64(int(d0)*10 + int(d1))
					pos += 3
					continue
				case b[3] == ',' && d1 < 10 && d2 < 10:
					out[i] = float64(int(d0)*100 + int(d1)*10 + int(d2))
					pos += 4
					continue
				}
			}
		}
		v, end, err := scanNumber(line, pos)
		if err != numberOK && err != numberMissing {
			return pos, i, err
		}
		out[i] = v
		pos = end + 1
	}
	return pos - 1, 0, numberOK
}
