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
	CSV    Format = iota + 1 // NSL-KDD CSV: 41 features [, label [, difficulty]]
	JSON                     // JSON object keyed by feature name
	Vector                   // an already-encoded feature vector
)

func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSON:
		return "json"
	case Vector:
		return "vector"
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
		name, rest, _ := strings.Cut(names, ",")
		names = rest
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
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
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
