package connlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of extension values, so a hostile line
// cannot recurse deeply.
const maxJSONDepth = 64

// parseJSON parses a Zeek JSON conn.log line: one object, Zeek's keys, with
// or without the JSON Streaming Logs keys _path (which must then be "conn")
// and _write_ts (kept in Extra). It scans the line itself rather than using
// encoding/json: this is the per-record hot path (see BenchmarkParse).
func (p *Parser) parseJSON(line []byte, c *Conn) (bool, error) {
	*c = Conn{Format: ZeekJSON, TCPFlags: -1}
	p.strs.reset()
	i := skipSpace(line, 0)
	i++ // '{', checked by Parse
	var seen uint32
	prev := -1 // the key cache's slot of the previous key
	for first := true; ; first = false {
		i = skipSpace(line, i)
		if i < len(line) && line[i] == '}' && first {
			i++
			break
		}
		if i >= len(line) || line[i] != '"' {
			return false, jsonError(line, i, "expected a key")
		}
		var key *jsonKey
		if slot := p.keys.find(line[i:], prev); slot >= 0 {
			key, prev = &p.keys.slots[slot], slot
			i += len(key.raw)
		} else {
			name, next, ok := p.readString(line, i, &p.keyBuf)
			if !ok {
				return false, jsonError(line, i, "unterminated or invalid key")
			}
			f, extra := p.resolve(name)
			key, prev = p.keys.add(prev, line[i:next], name, f, extra)
			i = next
		}
		i = skipSpace(line, i)
		if i >= len(line) || line[i] != ':' {
			return false, jsonError(line, i, "expected ':' after key")
		}
		var err *FieldError
		if i, err = p.jsonValue(line, skipSpace(line, i+1), c, key, &seen); err != nil {
			return false, err
		}
		i = skipSpace(line, i)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i < len(line) && line[i] == '}' {
			i++
			break
		}
		return false, jsonError(line, i, "expected ',' or '}'")
	}
	if i = skipSpace(line, i); i != len(line) {
		return false, jsonError(line, i, "text after the object")
	}
	if err := missing(seen, c); err != nil {
		return false, err
	}
	p.strs.finish(c)
	return true, nil
}

// jsonValue reads the value at line[i] and sets key's field of c from it,
// returning the index after the value.
func (p *Parser) jsonValue(line []byte, i int, c *Conn, key *jsonKey, seen *uint32) (int, *FieldError) {
	if i < len(line) && (line[i] == '-' || line[i] >= '0' && line[i] <= '9') {
		if end, err, done := p.jsonPlainNumber(line, i, c, key, seen); done {
			return end, err
		}
	}
	kind, text, end, ok := p.jsonText(line, i)
	if !ok {
		return end, jsonError(line, i, "invalid value")
	}
	return end, p.setJSON(c, key, kind, text, seen)
}

// jsonText reads the JSON value at line[i]: a string unescaped (into
// p.valBuf), a number or a literal as written. kind is '"' for a string,
// '0' for a number, else the value's first byte; end is the index after
// the value.
func (p *Parser) jsonText(line []byte, i int) (kind byte, text []byte, end int, ok bool) {
	if i < len(line) {
		kind = line[i]
	}
	switch {
	case kind == '"':
		text, end, ok = p.readString(line, i, &p.valBuf)
		return kind, text, end, ok
	case kind == '-' || kind >= '0' && kind <= '9':
		kind = '0'
		end, ok = scanNumber(line, i)
	default:
		end, ok = skipValue(line, i, 0)
	}
	return kind, line[i:end], end, ok
}

// jsonKeys remembers the keys of the lines parsed so far and which key
// followed which. A stream's lines spell their keys alike, in the same
// order but for the unset fields left out, so the next key is nearly
// always the one that followed the previous key last time, recognised by
// comparing its bytes: decoding and resolving each key (with a string
// switch and, with WithFieldNames, a map) was a fifth of a line's cost.
type jsonKeys struct {
	slots []jsonKey
	first int // the slot of the first key of the last line

	uncached jsonKey // a key that found the cache full
}

// jsonKey is a key of the lines and what it resolves to.
type jsonKey struct {
	raw  []byte // as the line spells it, quotes and escapes included
	name []byte // decoded, for errors
	// word is raw's first 16 bytes, zero-padded, as little-endian words,
	// and mask selects raw's bytes in them.
	word, mask [2]uint64
	field      field
	extra      string // the name Conn.Extra keeps for an fExtra key
	next       int    // the slot of the key that followed it last, -1 when none
}

// maxJSONKeys bounds the key cache: a stream whose lines name ever new keys
// (a bug or an attack) does not grow it without end, it just misses.
const maxJSONKeys = 64

// find returns the slot of the key token at the start of b (its '"'), or
// -1; prev is the slot of the key before it in the line, -1 for the first.
func (k *jsonKeys) find(b []byte, prev int) int {
	predicted := k.first
	if prev >= 0 {
		predicted = k.slots[prev].next
	}
	// b's first 16 bytes, when it has them. Two words, not an array: the
	// array was stored in halves and loaded whole, which stalled.
	var h0, h1 uint64
	if len(b) >= 16 {
		h0, h1 = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	}
	if predicted >= 0 && predicted < len(k.slots) && k.slots[predicted].is(b, h0, h1) {
		return predicted
	}
	// Start after the predicted slot: when an unset field was left out,
	// the key is one of the next ones.
	for s := predicted + 1; s < len(k.slots); s++ {
		if k.slots[s].is(b, h0, h1) {
			k.follow(prev, s)
			return s
		}
	}
	for s := range min(predicted+1, len(k.slots)) {
		if k.slots[s].is(b, h0, h1) {
			k.follow(prev, s)
			return s
		}
	}
	return -1
}

// is reports whether b starts with the key's token; h0 and h1 are b's
// first 16 bytes when b has as many. raw is a whole token, ending at its
// closing quote, so b's token is then raw too. Most keys are at most 16
// bytes long, quotes included, and are compared as two words, without a
// call.
func (k *jsonKey) is(b []byte, h0, h1 uint64) bool {
	if len(k.raw) <= 16 && len(b) >= 16 {
		return h0&k.mask[0] == k.word[0] && h1&k.mask[1] == k.word[1]
	}
	return len(b) >= len(k.raw) && string(b[:len(k.raw)]) == string(k.raw)
}

// follow notes that slot s followed slot prev (-1: s came first).
func (k *jsonKeys) follow(prev, s int) {
	if prev < 0 {
		k.first = s
	} else {
		k.slots[prev].next = s
	}
}

// add caches a key that find did not know, following slot prev, and
// returns it with its slot. When the cache is full it returns the key in
// k.uncached, valid until the next add, with the slot -1.
func (k *jsonKeys) add(prev int, raw, name []byte, f field, extra string) (*jsonKey, int) {
	if len(k.slots) == maxJSONKeys {
		k.uncached = jsonKey{raw: raw, name: name, field: f, extra: extra, next: -1}
		return &k.uncached, -1
	}
	key := jsonKey{raw: bytes.Clone(raw), name: bytes.Clone(name), field: f, extra: extra, next: -1}
	var pad [16]byte
	n := copy(pad[:], raw)
	for w := range 2 {
		key.word[w] = binary.LittleEndian.Uint64(pad[8*w:])
		for j := range max(0, min(8, n-8*w)) {
			key.mask[w] |= 0xff << (8 * j)
		}
	}
	k.slots = append(k.slots, key)
	s := len(k.slots) - 1
	k.follow(prev, s)
	return &k.slots[s], s
}

// setJSON sets the field key names from a JSON value of the given kind ('"'
// string with text unescaped, '0' number, else the first byte of a literal,
// array or object with text its raw JSON).
func (p *Parser) setJSON(c *Conn, key *jsonKey, kind byte, text []byte, seen *uint32) *FieldError {
	f := key.field
	if f == fExtra {
		// Extension or unknown key: strings as their text, anything else
		// as its JSON (AppendZeekJSON writes them back the same way).
		p.strs.addExtra(key.extra, text)
		return nil
	}
	if f != fSensor && *seen&(1<<f) != 0 {
		return &FieldError{Field: string(key.name), Reason: "duplicate field", Err: ErrDuplicateField}
	}
	if kind == 'n' {
		return nil // null: unset, as Zeek would have omitted it
	}
	want := kindOf(f)
	if kind != want && !(f == fTS && kind == '"') {
		return newFieldError(string(key.name), text, ErrWrongType, "want a JSON "+kindName(want)+", not "+kindName(kind))
	}
	// The field's name is only copied for an error: converting it up front
	// would allocate for every key.
	if err := p.setText(c, f, "", text); err != nil {
		err.Field = string(key.name)
		return err
	}
	*seen |= 1 << f
	return nil
}

// jsonPlainNumber sets key's field of c from the number at line[i] if
// the field is a count, a port, ts or duration and the number is plain
// digits (and a fraction for ts and duration), as setJSON would, and
// reports whether it did. The number is read as it is scanned rather than
// scanned and then read again.
func (p *Parser) jsonPlainNumber(line []byte, i int, c *Conn, key *jsonKey, seen *uint32) (end int, err *FieldError, done bool) {
	switch f := key.field; {
	case isInt(f):
		if n, end, plain := scanInt(line, i); plain {
			return end, p.setJSONInt(c, key, n, seen), true
		}
	case f == fTS || f == fDuration:
		if sec, ns, end, plain := scanDecimal(line, i); plain {
			return end, p.setJSONDecimal(c, key, line[i:end], sec, ns, seen), true
		}
	}
	return i, nil, false
}

// setJSONInt sets count or port key to n, as setJSON would from its text.
func (p *Parser) setJSONInt(c *Conn, key *jsonKey, n int64, seen *uint32) *FieldError {
	f := key.field
	if *seen&(1<<f) != 0 {
		return &FieldError{Field: string(key.name), Reason: "duplicate field", Err: ErrDuplicateField}
	}
	switch f {
	case fOrigP, fRespP:
		if n > 65535 {
			return newFieldError(string(key.name), strconv.AppendInt(nil, n, 10), ErrBadPort, "not a port (0 to 65535)")
		}
		if f == fOrigP {
			c.OrigPort = uint16(n)
		} else {
			c.RespPort = uint16(n)
		}
	default:
		*c.count(f) = n
	}
	*seen |= 1 << f
	return nil
}

// setJSONDecimal sets the ts or duration key to sec.ns seconds, parsed
// from text, as setJSON would from text.
func (p *Parser) setJSONDecimal(c *Conn, key *jsonKey, text []byte, sec, ns int64, seen *uint32) *FieldError {
	f := key.field
	if *seen&(1<<f) != 0 {
		return &FieldError{Field: string(key.name), Reason: "duplicate field", Err: ErrDuplicateField}
	}
	var err *FieldError
	if f == fTS {
		c.Start, err = epochTime("", text, sec, ns)
	} else {
		c.Duration, err = durationOf("", text, sec, ns)
	}
	if err != nil {
		err.Field = string(key.name) // copied only for an error, as in setJSON
		return err
	}
	*seen |= 1 << f
	return nil
}

// scanDecimal reads the JSON number at b[i] as seconds and nanoseconds,
// as parseDecimal would, if it is a plain decimal: at most 18 whole digits
// (sec of longer ones may have overflowed) without a leading zero, maybe a
// fraction, no exponent. It returns the index after it; plain is false for
// any other number (or no valid one), which scanNumber and setText then
// judge.
func scanDecimal(b []byte, i int) (sec, ns int64, end int, plain bool) {
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		sec = sec*10 + int64(b[j]-'0')
	}
	if j == i || j-i > 18 || j-i > 1 && b[i] == '0' {
		return 0, 0, j, false
	}
	if j < len(b) && b[j] == '.' {
		var ok bool
		if ns, j, ok = scanFraction(b, j+1); !ok {
			return 0, 0, j, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		return 0, 0, j, false
	}
	return sec, ns, j, true
}

// isInt reports whether f is a count or a port, which setJSONInt sets.
func isInt(f field) bool {
	switch f {
	case fOrigP, fRespP, fOrigBytes, fRespBytes, fMissedBytes, fOrigPkts, fOrigIPBytes, fRespPkts, fRespIPBytes:
		return true
	}
	return false
}

// scanInt reads the JSON number at b[i] if it is a plain integer: at most
// 18 digits (n of longer ones may have overflowed), no leading zero,
// fraction or exponent. It returns the number and the index after it;
// plain is false for any other number (or no valid one), which scanNumber
// and setText then judge.
func scanInt(b []byte, i int) (n int64, end int, plain bool) {
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	switch {
	case j == i, j-i > 18, j-i > 1 && b[i] == '0':
		return 0, j, false
	case j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E'):
		return 0, j, false
	}
	return n, j, true
}

// kindOf is the JSON kind Zeek writes a field as.
func kindOf(f field) byte {
	switch f {
	case fTS, fOrigP, fRespP, fDuration, fOrigBytes, fRespBytes, fMissedBytes,
		fOrigPkts, fOrigIPBytes, fRespPkts, fRespIPBytes:
		return '0'
	}
	return '"'
}

func kindName(kind byte) string {
	switch kind {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case '[':
		return "array"
	case '{':
		return "object"
	}
	return "value"
}

// jsonError is ErrBadJSON quoting the line from where it went wrong.
func jsonError(line []byte, at int, reason string) *FieldError {
	if at >= len(line) {
		return newFieldError("", nil, ErrBadJSON, "invalid JSON: "+reason+" at the end of the line (byte "+itoa(len(line))+")")
	}
	return newFieldError("", line[at:], ErrBadJSON, "invalid JSON: "+reason+" at byte "+itoa(at))
}

func skipSpace(b []byte, i int) int {
	// One comparison for the usual case, compact JSON: no byte after ' '
	// is space.
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// readString reads the JSON string at b[i] (a '"'), returning its text and
// the index after it. Text without escapes is a slice of b; with escapes it
// is decoded into *buf.
func (p *Parser) readString(b []byte, i int, buf *[]byte) (text []byte, next int, ok bool) {
	start := i + 1
	j := plainEnd(b, start)
	switch {
	case j == len(b) || b[j] < 0x20:
		return nil, j, false
	case b[j] == '"':
		return b[start:j], j + 1, true
	}
	return decodeString(b, start, j, buf)
}

// plainEnd returns the index of the first '"', '\\' or control byte in b
// from i on, or len(b). It looks at eight bytes at a time: byte by byte,
// string scanning was a third of the cost of a Zeek JSON line.
func plainEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := stringStops(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			break
		}
	}
	return i
}

// stringStops sets the top bit of each byte of x that is '"', '\\' or a
// control byte, little end first (the bit tricks of "Bit Twiddling Hacks":
// v-0x01… & ^v & 0x80… flags the bytes of v that are 0). A borrow can also
// flag a byte above a flagged one, never below: the lowest flag is exact.
func stringStops(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^('"'*ones), x^('\\'*ones)
	control := (x - 0x20*ones) & ^x
	return (control | (quote-ones)&^quote | (backslash-ones)&^backslash) & highs
}

// decodeString decodes a JSON string with escapes; start is after its '"',
// and b[start:j] needs no decoding. Lone surrogates become U+FFFD, as
// encoding/json decodes them.
func decodeString(b []byte, start, j int, buf *[]byte) ([]byte, int, bool) {
	out := append((*buf)[:0], b[start:j]...)
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			*buf = out
			return out, j + 1, true
		case c < 0x20:
			return nil, j, false
		case c != '\\':
			end := plainEnd(b, j)
			out = append(out, b[j:end]...)
			j = end
			continue
		}
		if j+1 >= len(b) {
			return nil, j, false
		}
		switch b[j+1] {
		case '"', '\\', '/':
			out = append(out, b[j+1])
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
			r, ok := hex4(b, j+2)
			if !ok {
				return nil, j, false
			}
			j += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if j+1 < len(b) && b[j] == '\\' && b[j+1] == 'u' {
					r2, ok = hex4(b, j+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					j += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, j, false
		}
		j += 2
	}
	return nil, len(b), false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanNumber checks the JSON number at b[i] and returns the index after it.
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// skipValue checks the JSON value at b[i] and returns the index after it.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxJSONDepth {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '"':
				return j + 1, true
			case '\\':
				if j+1 >= len(b) {
					return j, false
				}
				switch b[j+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					j++
				case 'u':
					if _, ok := hex4(b, j+2); !ok {
						return j, false
					}
					j += 5
				default:
					return j, false
				}
			default:
				if b[j] < 0x20 {
					return j, false
				}
			}
		}
		return len(b), false
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '[' || c == '{':
		end := byte(']')
		if c == '{' {
			end = '}'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == end {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, false
				}
				if i, ok = skipValue(b, i, depth+1); !ok {
					return i, false
				}
				if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
					return i, false
				}
				i = skipSpace(b, i+1)
			}
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == end {
				return i + 1, true
			}
			return i, false
		}
	}
	return i, false
}

func literal(b []byte, i int, word string) (int, bool) {
	if len(b)-i >= len(word) && string(b[i:i+len(word)]) == word {
		return i + len(word), true
	}
	return i, false
}
