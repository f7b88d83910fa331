package connlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
)

// tsvHeader is what a Zeek TSV log's "#" header lines said. Strings, not
// slices: a header outlives the line buffer it came in.
type tsvHeader struct {
	sep    string // #separator, unescaped; a tab by default
	empty  string // #empty_field: an empty string or set
	unset  string // #unset_field: no value
	path   string // #path; "" when absent
	fields []tsvColumn
}

// tsvColumn is one column of #fields.
type tsvColumn struct {
	name      string // as #fields spells it, for errors
	field     field
	extraName string // the name kept in Conn.Extra when field is fExtra
}

func (h *tsvHeader) reset() {
	*h = tsvHeader{sep: "\t", empty: "(empty)", unset: "-"}
}

// parseZeekHeader takes in a "#" line. Zeek starts every file with
// "#separator", so it begins a new header; "#fields" replaces the columns
// for the lines after it. Lines Sagewall has no use for ("#open", "#close",
// "#types", btest's "### ..." banner) are comments.
func (p *Parser) parseZeekHeader(line []byte) error {
	h := &p.tsv
	if rest, ok := bytes.CutPrefix(line, []byte("#separator")); ok {
		// Zeek writes "#separator \x09": a space, as the separator is
		// not yet known, then the separator hex-escaped.
		sep, ok := unescapeHex(bytes.TrimLeft(rest, " \t"))
		if !ok || len(sep) == 0 {
			return newFieldError("#separator", rest, ErrBadHeader, "not a separator (e.g. \\x09)")
		}
		h.reset()
		h.sep = string(sep)
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		name, value = line[:i], line[i+1:]
	}
	if i := bytes.Index(line, []byte(h.sep)); i >= 0 && i < len(name) {
		name, value = line[:i], line[i+len(h.sep):]
	}
	switch string(name) {
	case "#empty_field":
		h.empty = string(value)
	case "#unset_field":
		h.unset = string(value)
	case "#path":
		h.path = string(value)
	case "#fields":
		return p.parseFields(value)
	}
	return nil
}

// parseFields reads the column names of "#fields".
func (p *Parser) parseFields(value []byte) error {
	h := &p.tsv
	h.fields = h.fields[:0]
	p.current = 0
	var seen uint32
	for len(value) > 0 || len(h.fields) == 0 {
		name := value
		if i := bytes.Index(value, []byte(h.sep)); i >= 0 {
			name, value = value[:i], value[i+len(h.sep):]
		} else {
			value = nil
		}
		if len(name) == 0 {
			return newFieldError("#fields", name, ErrBadHeader, "empty field name in column "+strconv.Itoa(len(h.fields)+1))
		}
		f, extraName := p.resolve(name)
		if f != fExtra && f != fSensor && seen&(1<<f) != 0 {
			h.fields = h.fields[:0]
			return newFieldError("#fields", name, ErrBadHeader, "field named twice")
		}
		seen |= 1 << f
		h.fields = append(h.fields, tsvColumn{name: string(name), field: f, extraName: extraName})
	}
	p.current = ZeekTSV
	return nil
}

// parseTSV parses a data line under the current #fields.
func (p *Parser) parseTSV(line []byte, c *Conn) error {
	h := &p.tsv
	ends := cellEnds(p.ends[:0], line, h.sep)
	p.ends = ends
	if len(ends) != len(h.fields) {
		return lineError(line, ErrFieldCount, strconv.Itoa(len(ends))+" fields, #fields names "+strconv.Itoa(len(h.fields)))
	}
	if h.path != "" && h.path != "conn" {
		return newFieldError("#path", []byte(h.path), ErrNotConnLog, "not a conn log")
	}
	*c = Conn{Format: ZeekTSV, TCPFlags: -1}
	p.strs.reset()
	var seen uint32
	start := 0
	for k := range h.fields {
		col := &h.fields[k]
		v := line[start:ends[k]]
		start = ends[k] + len(h.sep)
		if is(v, h.unset) {
			continue // unset: the zero value, and nothing in Extra (as Zeek JSON omits it)
		}
		if is(v, h.empty) {
			v = v[:0]
		}
		if col.field == fExtra {
			p.strs.addExtra(col.extraName, v)
			continue
		}
		if len(v) == 0 && !isStringField(col.field) {
			continue // an empty number or address says no more than an unset one
		}
		if err := p.setText(c, col.field, col.name, v); err != nil {
			return err
		}
		seen |= 1 << col.field
	}
	if err := missing(seen, c); err != nil {
		return err
	}
	p.strs.finish(c)
	return nil
}

// cellEnds appends to ends where each cell of line ends: at each
// separator, and at the end of the line. One pass over the line for all
// cells, with no call per cell: searching each separator on its own cost
// more than the cells' parsing.
func cellEnds(ends []int, line []byte, sep string) []int {
	if len(sep) == 1 {
		// Eight bytes at a time: byte by byte, the branch on each byte
		// mispredicted at every few bytes.
		s, seps := sep[0], uint64(sep[0])*0x0101010101010101
		i := 0
		for ; i+8 <= len(line); i += 8 {
			for m := zeroBytes(binary.LittleEndian.Uint64(line[i:]) ^ seps); m != 0; m &= m - 1 {
				ends = append(ends, i+bits.TrailingZeros64(m)/8)
			}
		}
		for ; i < len(line); i++ {
			if line[i] == s {
				ends = append(ends, i)
			}
		}
		return append(ends, len(line))
	}
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte(sep))
		if j < 0 {
			return append(ends, len(line))
		}
		ends = append(ends, i+j)
		i += j + len(sep)
	}
}

// is reports whether v is s, comparing first bytes before calling to
// compare the rest: most cells are as long as "-" or "(empty)" but differ
// in their first byte.
func is(v []byte, s string) bool {
	return len(v) == len(s) && (len(s) == 0 || v[0] == s[0]) && string(v) == s
}

// zeroBytes sets the top bit of exactly the bytes of x that are 0: adding
// 0x7f to a byte's low seven bits carries into its top bit unless they are
// all 0, and never into the next byte.
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&low7 + low7) | x) &^ low7
}

// isStringField reports whether a field's empty value is a value ("") rather
// than no value.
func isStringField(f field) bool {
	switch f {
	case fUID, fProto, fService, fConnState, fHistory, fLabel, fDetailLbl, fSensor, fPath:
		return true
	}
	return false
}

// missing reports the first required field not seen; an empty proto is
// none.
func missing(seen uint32, c *Conn) error {
	if c.Proto == "" {
		seen &^= 1 << fProto
	}
	if seen&required == required {
		return nil
	}
	for _, f := range [...]field{fTS, fOrigH, fRespH, fProto} {
		if seen&(1<<f) == 0 {
			return &FieldError{Field: f.canonicalName(), Reason: "missing or unset field", Err: ErrMissingField}
		}
	}
	return nil
}

// unescapeHex decodes Zeek's "\xHH" escapes (the #separator header).
func unescapeHex(b []byte) ([]byte, bool) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		if i+4 > len(b) || b[i+1] != 'x' {
			return nil, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+4]), 16, 8)
		if err != nil {
			return nil, false
		}
		out = append(out, byte(n))
		i += 3
	}
	return out, true
}
