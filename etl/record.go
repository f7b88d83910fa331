package etl

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is the input format a record was detected as.
type Format uint8

// The input formats; the zero Format means no record was parsed.
const (
	CSV     Format = iota + 1 // NSL-KDD CSV: 41 features [, label [, difficulty]]
	JSON                      // JSON object keyed by feature name
	Vector                    // an already-encoded feature vector
	Derived                   // computed from a connection log by a stateful deriver (package features)
)

func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSON:
		return "json"
	case Vector:
		return "vector"
	case Derived:
		return "derived"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Record is a parsed connection. Encode overwrites every field, so callers
// reuse one Record per goroutine. For a Vector input the fields are read
// back from the vector (the hot column of each one-hot block).
type Record struct {
	Format         Format
	Numeric        [NumNumeric]float64 // the 38 numeric features in file order
	ProtocolType   string              // a vocabulary string of the Spec (no allocation)
	Service        string              // "other" when the input service was unknown
	Flag           string
	UnknownService bool
	Label          string // "" when the record carried none
	Difficulty     int    // -1 when absent
}

// AppendJSONFields appends the record's 41 fields as JSON members in file
// order, without braces: `"duration":0,"protocol_type":"tcp",...`.
func (r *Record) AppendJSONFields(dst []byte) []byte {
	names := fieldList
	for i := range NumFields {
		if i > 0 {
			dst = append(dst, ',')
		}
		// IndexByte rather than strings.Cut: this loop runs 41 times per
		// verdict, and Cut's general search was 4% of `sagewall run`'s CPU.
		end := strings.IndexByte(names, ',')
		if end < 0 {
			end = len(names)
		}
		name := names[:end]
		names = names[min(end+1, len(names)):]
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
		switch i {
		case fieldProtocolType:
			dst = appendJSONString(dst, r.ProtocolType)
		case fieldService:
			dst = appendJSONString(dst, r.Service)
		case fieldFlag:
			dst = appendJSONString(dst, r.Flag)
		default:
			dst = appendJSONNumber(dst, r.Numeric[numericIndex(i)])
		}
	}
	return dst
}

// numericIndex maps a field index (not a categorical one) to its numeric index.
func numericIndex(field int) int {
	if field == 0 {
		return 0
	}
	return field - 3
}

// appendJSONNumber writes v as a JSON number; validated features are
// finite, anything else (a Record filled by hand) becomes null.
func appendJSONNumber(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	// Most fields are small integers (counts, bytes, flags). Below 1e6 'g'
	// prints an integer as AppendInt does, and AppendInt is several times
	// faster.
	if v == math.Trunc(v) && math.Abs(v) < 1e6 && (v != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	// The rest are mostly rates with two decimals (0.05, 1.25). When v is
	// the double nearest k/100 (IEEE division rounds correctly, as parsing
	// does), that decimal is also the shortest one 'g' would print.
	if v != 0 && math.Abs(v) < 1e4 { // -0 is left to AppendFloat
		if k := math.Round(v * 100); k/100 == v {
			return appendCents(dst, int64(k))
		}
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// appendCents writes k/100 with its fraction (never zero here) trimmed of
// trailing zeros: 5 → 0.05, 125 → 1.25, -30 → -0.3.
func appendCents(dst []byte, k int64) []byte {
	if k < 0 {
		dst = append(dst, '-')
		k = -k
	}
	dst = strconv.AppendInt(dst, k/100, 10)
	tenths, hundredths := byte(k/10%10), byte(k%10)
	dst = append(dst, '.', '0'+tenths)
	if hundredths != 0 {
		dst = append(dst, '0'+hundredths)
	}
	return dst
}

// appendJSONString writes s as a JSON string, escaping quotes, backslashes,
// control characters and invalid UTF-8 (as U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
