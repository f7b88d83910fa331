package connlog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReadString checks the eight-bytes-at-a-time scan against
// encoding/json: a quote, an escape or a control byte at every position of
// the first two words, after runs of plain bytes, and with non-ASCII bytes
// (whose top bit the scan must not take for a stop).
func TestReadString(t *testing.T) {
	var lines []string
	for n := range 20 {
		for _, prefix := range []string{"a", "é", "\x7f", "~"} {
			plain := strings.Repeat(prefix, n)
			lines = append(lines,
				`"`+plain+`"`,                  // the quote at position n
				`"`+plain+`\"x"`,               // an escape at n
				`"`+plain+`\\`+plain+`"`,       // an escaped backslash, then more plain bytes
				`"`+plain+`\u00e9\n`+plain+`"`, // escapes after plain bytes
				`"`+plain+"\x01"+`"`,           // a control byte at n
				`"`+plain+"\x1f"+plain+`"`,
				`"`+plain+"\t"+`"`,
				`"`+plain+"\x20"+`"`, // the first byte that is no control byte
				`"`+plain,            // unterminated
				`"`+plain+`\`,        // unterminated escape
			)
		}
	}
	var p Parser
	for _, line := range lines {
		var want string
		wantErr := json.Unmarshal([]byte(line), &want)
		b := []byte(line + ",x") // bytes after the string, but no quote to end an unterminated one
		got, next, ok := p.readString(b, 0, &p.valBuf)
		if ok != (wantErr == nil) {
			t.Errorf("%q: ok %v, encoding/json: %v", line, ok, wantErr)
			continue
		}
		if ok && (string(got) != want || next != len(line)) {
			t.Errorf("%q: got %q next %d, want %q next %d", line, got, next, want, len(line))
		}
	}
}

func TestStringStops(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			got := plainEnd(b[:], 0)
			want := 8
			if c == '"' || c == '\\' || c < 0x20 {
				want = pos
			}
			if got != want {
				t.Fatalf("byte %#x at %d: plainEnd %d, want %d", c, pos, got, want)
			}
		}
	}
}

func TestZeroBytes(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			x := uint64(0x0101010101010101) &^ (0xff << (8 * pos)) // 0x01 bytes fool the borrow trick
			x |= uint64(c) << (8 * pos)
			want := uint64(0)
			if c == 0 {
				want = 0x80 << (8 * pos)
			}
			if got := zeroBytes(x); got != want {
				t.Fatalf("byte %#x at %d among 0x01: %#x, want %#x", c, pos, got, want)
			}
		}
	}
}

func TestASCIISpaces(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []uint64{0x0101010101010101, 0x2121212121212121, 0x0e0e0e0e0e0e0e0e, 0x0808080808080808} {
				x := fill&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
				want := uint64(0)
				if c == ' ' || c >= '\t' && c <= '\r' {
					want = 0x80 << (8 * pos)
				}
				if got := asciiSpaces(x); got != want {
					t.Fatalf("byte %#x at %d among %#x: %#x, want %#x", c, pos, fill&0xff, got, want)
				}
			}
		}
	}
}

func TestCellEnds(t *testing.T) {
	tests := []struct {
		line, sep string
	}{
		{"", "\t"},
		{"\t", "\t"},
		{"a\tbb\t\tccc", "\t"},
		{strings.Repeat("x\t", 20), "\t"},
		{"1655071198.444458\tCHLXQF2OBY4onAR0Ug\t147.32.81.167\t62771\t\t\b\t", "\t"},
		{"a||b|||c|", "||"},
		{"abc", "|"},
	}
	for _, tt := range tests {
		var want []int
		for i := 0; ; {
			j := strings.Index(tt.line[i:], tt.sep)
			if j < 0 {
				break
			}
			want = append(want, i+j)
			i += j + len(tt.sep)
		}
		want = append(want, len(tt.line))
		if got := cellEnds(nil, []byte(tt.line), tt.sep); !slices.Equal(got, want) {
			t.Errorf("%q by %q: %v, want %v", tt.line, tt.sep, got, want)
		}
	}
}

// TestParseIPv4 checks the dotted-quad parser against netip.
func TestParseIPv4(t *testing.T) {
	in := []string{
		"0.0.0.0", "255.255.255.255", "147.32.81.167", "1.2.3.4", "10.0.0.1",
		"256.1.1.1", "1.2.3.256", "01.2.3.4", "1.2.3.04", "1.2.3.0", "1.2.3.00",
		"1.2.3", "1.2.3.4.5", "1..3.4", ".1.2.3", "1.2.3.", "1.2.3.4 ", "1.2.3.1234",
		"1.2.3.0255", "1234.1.1.1", "a.b.c.d", "1.2.3.4a", "", "::1", "1.2.3.-4",
	}
	for a := range 300 {
		in = append(in, strconv.Itoa(a)+".1."+strconv.Itoa(a/2)+".9")
	}
	for _, s := range in {
		want, err := netip.ParseAddr(s)
		got, ok := parseIPv4([]byte(s))
		if ok != (err == nil && want.Is4()) || ok && got != want {
			t.Errorf("%q: %v %v, netip: %v %v", s, got, ok, want, err)
		}
	}
}

// TestJSONPlainNumbers checks that numbers read as they are scanned give
// what the general path (scanNumber, then parseCount, parsePort,
// parseTime or parseDuration) gives.
func TestJSONPlainNumbers(t *testing.T) {
	values := []string{
		"0", "7", "65535", "65536", "1655071198", "1655071198.444458", "0.000010", "1.123456789123",
		"999999999999999999", "9999999999999999999", "99999999999999999999", "253402300799", "253402300800",
		"1.5", "1e3", "1E3", "1.5e3", "01", "00", "-1", "-0", "1.", "-", "9223372036854775807",
	}
	base := `"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp"`
	for _, key := range []string{"ts", "duration", "orig_bytes", "resp_ip_bytes", "id.orig_p", "id.resp_p", "missed_bytes"} {
		for _, v := range values {
			line := `{` + base + `,"` + key + `":` + v + `}`
			if key != "ts" {
				line = `{"ts":1,` + base + `,"` + key + `":` + v + `}`
			}
			var got, want Conn
			p := NewParser(Zeek)
			gotOK, gotErr := p.Parse([]byte(line), &got)
			wantOK, wantErr := generalJSON(p, []byte(line), &want)
			if gotOK != wantOK || errString(gotErr) != errString(wantErr) || gotOK && !equalConn(got, want) {
				t.Errorf("%s:\n got %v %v %+v\nwant %v %v %+v", line, gotOK, gotErr, got, wantOK, wantErr, want)
			}
		}
	}
}

// generalJSON parses line, a compact object of strings and numbers, as
// parseJSON did before it had its plain-number path: every number scanned
// by scanNumber, then read by setJSON.
func generalJSON(p *Parser, line []byte, c *Conn) (bool, error) {
	*c = Conn{Format: ZeekJSON, TCPFlags: -1}
	p.strs.reset()
	var seen uint32
	i := 1
	for line[i] == '"' {
		name, next, _ := p.readString(line, i, &p.keyBuf)
		f, extra := p.resolve(name)
		key := &jsonKey{name: bytes.Clone(name), field: f, extra: extra}
		i = next + 1
		start := i
		var err *FieldError
		if line[i] == '"' {
			text, end, _ := p.readString(line, i, &p.valBuf)
			err = p.setJSON(c, key, '"', text, &seen)
			i = end
		} else {
			end, ok := scanNumber(line, i)
			if !ok {
				return false, jsonError(line, start, "invalid value")
			}
			err = p.setJSON(c, key, '0', line[start:end], &seen)
			i = end
		}
		if err != nil {
			return false, err
		}
		if line[i] == '}' {
			if i+1 != len(line) {
				return false, jsonError(line, i+1, "text after the object")
			}
			break
		}
		if line[i] != ',' {
			return false, jsonError(line, i, "expected ',' or '}'")
		}
		i++
	}
	if err := missing(seen, c); err != nil {
		return false, err
	}
	p.strs.finish(c)
	return true, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func equalConn(a, b Conn) bool { return reflect.DeepEqual(a, b) }

// TestFieldBounds checks the VPC splitter against bytes.Fields, with each
// ASCII space, Unicode spaces and invalid UTF-8.
func TestFieldBounds(t *testing.T) {
	lines := []string{
		"", " ", "a", " a", "a ", "a b", "  a  b  ", "a\tb\nc\vd\fe\rf g",
		"2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 100 99 ACCEPT OK",
		"a\u00a0b c", "a\u0085b", "a\u2003b c", "a\x85b c", "\xffa b", "é é", "a\x1cb", "a\x00b",
		"vpc-0a1b2c3d4e5f60718  subnet-0aa1bb2cc3dd4ee55\t\ti-0123456789abcdef0 ", "          x          y",
		"0123456789abcdef\u00a0after the first words", "0123456789abcdef 01234567\x85", "abcdefgh\x08ijklmnop\x0eq\x1fr",
	}
	for n := range 20 {
		lines = append(lines, strings.Repeat("x", n)+" "+strings.Repeat(" ", n)+"y"+strings.Repeat("\v", n))
	}
	for _, line := range lines {
		var got [][]byte
		b := fieldBounds(nil, []byte(line))
		for i := 0; i+1 < len(b); i += 2 {
			got = append(got, []byte(line[b[i]:b[i+1]]))
		}
		want := bytes.Fields([]byte(line))
		if len(got) != len(want) || len(b)%2 != 0 {
			t.Errorf("%q: %q, want %q", line, got, want)
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%q: %q, want %q", line, got, want)
				break
			}
		}
	}
}
