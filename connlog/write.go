package connlog

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendZeekJSON appends c to dst as one Zeek JSON conn.log line (no
// newline) and returns the extended buffer; Parse of the result gives back
// an equal Conn (Format aside). The S3 bridge uses it to rewrite TSV lines,
// which need their file's header, into self-describing JSON.
//
// Keys are Zeek's, in Zeek's order. ts is epoch seconds with 6 decimals (9
// when the time has nanoseconds), 0 for an unknown start; duration is
// written when non-zero; the counts and ports always (Conn cannot tell 0
// from unset); strings when non-empty, and the addresses when valid. Sensor
// is written as _system_name, then Extra in order: a value that is JSON
// other than a string (a number, true, [..], as parsed from JSON) is written
// as it is, any other as a JSON string. Then label and detailedlabel. The
// VPC-only fields (TCPFlags, Action, Direction) are not written.
func AppendZeekJSON(dst []byte, c *Conn) []byte {
	dst = append(dst, `{"ts":`...)
	if c.Start.IsZero() {
		dst = append(dst, '0')
	} else {
		dst = appendSeconds(dst, c.Start.Unix(), int64(c.Start.Nanosecond()))
	}
	dst = appendStringKey(dst, "uid", c.UID)
	if c.OrigAddr.IsValid() {
		dst = append(dst, `,"id.orig_h":"`...)
		dst = c.OrigAddr.AppendTo(dst)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"id.orig_p":`...)
	dst = strconv.AppendUint(dst, uint64(c.OrigPort), 10)
	if c.RespAddr.IsValid() {
		dst = append(dst, `,"id.resp_h":"`...)
		dst = c.RespAddr.AppendTo(dst)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"id.resp_p":`...)
	dst = strconv.AppendUint(dst, uint64(c.RespPort), 10)
	dst = appendStringKey(dst, "proto", c.Proto)
	dst = appendStringKey(dst, "service", c.Service)
	if c.Duration != 0 {
		dst = append(dst, `,"duration":`...)
		d := int64(c.Duration)
		if d < 0 { // not from Parse, which refuses negative durations
			dst, d = append(dst, '-'), -d
		}
		dst = appendSeconds(dst, d/int64(time.Second), d%int64(time.Second))
	}
	dst = appendCountKey(dst, "orig_bytes", c.OrigBytes)
	dst = appendCountKey(dst, "resp_bytes", c.RespBytes)
	dst = appendStringKey(dst, "conn_state", c.State)
	dst = appendCountKey(dst, "missed_bytes", c.MissedBytes)
	dst = appendStringKey(dst, "history", c.History)
	dst = appendCountKey(dst, "orig_pkts", c.OrigPkts)
	dst = appendCountKey(dst, "orig_ip_bytes", c.OrigIPBytes)
	dst = appendCountKey(dst, "resp_pkts", c.RespPkts)
	dst = appendCountKey(dst, "resp_ip_bytes", c.RespIPBytes)
	dst = appendStringKey(dst, "_system_name", c.Sensor)
	for _, f := range c.Extra {
		dst = append(dst, ',')
		dst = appendString(dst, f.Name)
		dst = append(dst, ':')
		if isJSONValue(f.Value) {
			dst = append(dst, f.Value...)
		} else {
			dst = appendString(dst, f.Value)
		}
	}
	dst = appendStringKey(dst, "label", c.Label)
	dst = appendStringKey(dst, "detailedlabel", c.DetailLbl)
	return append(dst, '}')
}

// appendSeconds writes sec.frac with 6 decimals, or 9 when the
// nanoseconds need them, so that parsing it back is exact.
func appendSeconds(dst []byte, sec, ns int64) []byte {
	if sec < 0 { // a Start before 1970: not from Parse
		if ns > 0 {
			sec, ns = sec+1, int64(time.Second)-ns
		}
		dst = append(dst, '-')
		sec = -sec
	}
	dst = strconv.AppendInt(dst, sec, 10)
	digits, frac := 6, ns/1000
	if ns%1000 != 0 {
		digits, frac = 9, ns
	}
	dst = append(dst, '.')
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, buf[:digits]...)
}

func appendStringKey(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, v)
}

func appendCountKey(dst []byte, key string, n int64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, n, 10)
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// the line is valid JSON whatever the log held.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
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

// isJSONValue reports whether v is, exactly, a JSON value other than a
// string (as Parse keeps a JSON extension value that is no string), so that
// it can be written as it is and read back the same.
func isJSONValue(v string) bool {
	if v == "" || v[0] == '"' || !utf8.ValidString(v) {
		return false
	}
	end, ok := skipValue([]byte(v), 0, 0)
	return ok && end == len(v)
}
