package etl

import (
	"fmt"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of ignored values, so hostile input
// cannot exhaust the stack.
const maxJSONDepth = 64

// encodeJSON parses a JSON object keyed by field name. Features may be
// numbers or numeric strings, and a numeric feature null, "" or "NaN" (a
// missing value, NaN); "label" and "difficulty" are optional (null counts as
// absent); other keys are ignored; duplicate keys are rejected.
func (e *Encoder) encodeJSON(line []byte, rec *Record, dst []float32) error {
	rec.Format = JSON
	rec.Label, rec.Difficulty, rec.UnknownService = "", -1, false
	var seen [numKeys]bool
	var hot [3]int
	s := jsonScanner{b: line, i: 1} // past '{'
	s.skipSpace()
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			s.skipSpace()
			key, escaped, ok := s.readString()
			if !ok {
				return s.syntaxError("expected a string key")
			}
			if escaped {
				key = unescapeJSON(key)
			}
			s.skipSpace()
			if s.peek() != ':' {
				return s.syntaxError("expected ':' after a key")
			}
			s.i++
			s.skipSpace()
			k := e.jsonKeys.lookup(key)
			known := k >= 0
			if known && seen[k] {
				return newFieldError(string(key), nil, ErrDuplicateField, "duplicate field")
			}
			if known {
				seen[k] = true
				if err := e.setJSONField(&s, k, rec, &hot); err != nil {
					return err
				}
			} else if !s.skipValue(0) {
				return s.syntaxError("invalid value")
			}
			s.skipSpace()
			c := s.peek()
			s.i++
			if c == '}' {
				break
			}
			if c != ',' {
				s.i--
				return s.syntaxError("expected ',' or '}'")
			}
		}
	}
	s.skipSpace()
	if s.i < len(s.b) {
		return s.syntaxError("data after the object")
	}
	for field := range NumFields {
		if !seen[field] {
			return newFieldError(e.fieldNames[field], nil, ErrMissingField, "missing field")
		}
	}
	e.fill(rec, hot, dst)
	return nil
}

// setJSONField parses the value at s for key k (a field index or a key* constant).
func (e *Encoder) setJSONField(s *jsonScanner, k int, rec *Record, hot *[3]int) error {
	name := "label"
	switch k {
	case keyDifficulty:
		name = "difficulty"
	case keyLabel:
	default:
		name = e.fieldNames[k]
	}
	start := s.i
	var value []byte
	isString := false
	switch c := s.peek(); {
	case c == '"':
		raw, escaped, ok := s.readString()
		if !ok {
			return s.syntaxError("invalid string")
		}
		if escaped {
			raw = unescapeJSON(raw)
		}
		value, isString = raw, true
	case c == '-' || c-'0' < 10:
		tok, ok := s.readNumber()
		if !ok {
			return s.syntaxError("invalid number")
		}
		value = tok
	default:
		if !s.skipValue(0) {
			return s.syntaxError("invalid value")
		}
		if string(s.b[start:s.i]) == "null" {
			switch k {
			case keyLabel, keyDifficulty:
				return nil
			case fieldProtocolType, fieldService, fieldFlag:
			default:
				rec.Numeric[numericIndex(k)] = math.NaN() // a missing value
				return nil
			}
		}
		return newFieldError(name, s.b[start:s.i], ErrWrongType, wantType(k))
	}
	switch k {
	case keyLabel:
		if !isString {
			return newFieldError(name, value, ErrWrongType, wantType(k))
		}
		rec.Label = internLabel(value)
	case keyDifficulty:
		d, err := parseDifficulty(value)
		if err != nil {
			return err
		}
		rec.Difficulty = d
	case fieldProtocolType, fieldService, fieldFlag:
		if !isString {
			return newFieldError(name, value, ErrWrongType, wantType(k))
		}
		i, err := e.setCategory(k, value, 0, len(value), rec)
		if err != nil {
			return err
		}
		hot[k-fieldProtocolType] = i
	default:
		v, nerr := parseNumber(value)
		if nerr != numberOK && nerr != numberMissing {
			return numberFieldError(name, value, nerr)
		}
		j := numericIndex(k)
		if v > 1 && e.rateMask&(1<<j) != 0 {
			return e.rateError(name, value)
		}
		rec.Numeric[j] = v
	}
	return nil
}

// wantType says which JSON type key k takes.
func wantType(k int) string {
	switch k {
	case fieldProtocolType, fieldService, fieldFlag, keyLabel:
		return "not a string"
	}
	return "not a number or numeric string"
}

// jsonScanner reads one JSON text in b without allocating.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) skipSpace() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

func (s *jsonScanner) syntaxError(what string) error {
	return newFieldError("", s.b[min(s.i, len(s.b)):], ErrBadJSON,
		fmt.Sprintf("invalid JSON at byte %d: %s", s.i+1, what))
}

// readString reads a string at s.i, returning its raw content (escapes not
// decoded) and whether it contains escapes.
func (s *jsonScanner) readString() (raw []byte, escaped, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], escaped, true
		case c < 0x20:
			s.i = i
			return nil, false, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.b) {
				s.i = i
				return nil, false, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) || !isHex4(s.b[i+1:i+5]) {
					s.i = i
					return nil, false, false
				}
				i += 4
			default:
				s.i = i
				return nil, false, false
			}
		}
	}
	s.i = len(s.b)
	return nil, false, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if hexValue(c) < 0 {
			return false
		}
	}
	return true
}

func hexValue(c byte) rune {
	switch {
	case c-'0' < 10:
		return rune(c - '0')
	case c|0x20-'a' < 6:
		return rune(c|0x20-'a') + 10
	}
	return -1
}

// readNumber reads a number token in the strict JSON grammar.
func (s *jsonScanner) readNumber() ([]byte, bool) {
	start, i := s.i, s.i
	digitsFrom := func(i int) int {
		for i < len(s.b) && s.b[i]-'0' < 10 {
			i++
		}
		return i
	}
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	switch {
	case i < len(s.b) && s.b[i] == '0':
		i++
	case i < len(s.b) && s.b[i]-'1' < 9:
		i = digitsFrom(i)
	default:
		s.i = i
		return nil, false
	}
	if i < len(s.b) && s.b[i] == '.' {
		j := digitsFrom(i + 1)
		if j == i+1 {
			s.i = j
			return nil, false
		}
		i = j
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		j := digitsFrom(i)
		if j == i {
			s.i = j
			return nil, false
		}
		i = j
	}
	s.i = i
	return s.b[start:i], true
}

// skipValue skips any JSON value (used for keys sagewall does not read).
func (s *jsonScanner) skipValue(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.readString()
		return ok
	case c == '-' || c-'0' < 10:
		_, ok := s.readNumber()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		s.skipSpace()
		if s.peek() == end {
			s.i++
			return true
		}
		for {
			s.skipSpace()
			if c == '{' {
				if _, _, ok := s.readString(); !ok {
					return false
				}
				s.skipSpace()
				if s.peek() != ':' {
					return false
				}
				s.i++
				s.skipSpace()
			}
			if !s.skipValue(depth + 1) {
				return false
			}
			s.skipSpace()
			switch s.peek() {
			case ',':
				s.i++
			case end:
				s.i++
				return true
			default:
				return false
			}
		}
	}
	return false
}

func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// unescapeJSON decodes the escapes of a string's raw content validated by
// readString. It allocates; escaped keys and values are rare.
func unescapeJSON(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3 : i+7])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
	}
	return out
}

func hex4(b []byte) rune {
	return hexValue(b[0])<<12 | hexValue(b[1])<<8 | hexValue(b[2])<<4 | hexValue(b[3])
}
