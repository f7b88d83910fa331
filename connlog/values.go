package connlog

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// maxEpochSeconds bounds timestamps to year 9999, past any real log and
// within what time.Time and the writer handle exactly.
const maxEpochSeconds = 253402300799

// parseTime parses a timestamp: epoch seconds with up to nine decimals
// (more are truncated), an ISO-8601/RFC 3339 time, or Zeek's test-suite mask.
//
// Two values give the zero Time, meaning "unknown": a mask made only of "X"
// and "." (Zeek's btest baselines replace every timestamp digit by X), and
// epoch 0 itself (which AppendZeekJSON writes for an unknown start, since
// Zeek JSON requires a ts). Neither is an error: the connection is still
// worth judging, only its event time is unknown.
func parseTime(name string, v []byte) (time.Time, *FieldError) {
	if isMasked(v) {
		return time.Time{}, nil
	}
	if len(v) > 0 && v[0] == '-' {
		return time.Time{}, newFieldError(name, v, ErrNegative, "negative timestamp")
	}
	sec, ns, ok := parseDecimal(v)
	if !ok {
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return time.Time{}, newFieldError(name, v, ErrBadTime, "not a timestamp (epoch seconds or ISO 8601)")
		}
		if t.Unix() < 0 || t.Unix() > maxEpochSeconds {
			return time.Time{}, newFieldError(name, v, ErrBadTime, "timestamp before 1970 or after 9999")
		}
		sec, ns = t.Unix(), int64(t.Nanosecond())
	}
	return epochTime(name, v, sec, ns)
}

// epochTime is the time sec.ns seconds after the epoch, parsed from v.
func epochTime(name string, v []byte, sec, ns int64) (time.Time, *FieldError) {
	if sec > maxEpochSeconds {
		return time.Time{}, newFieldError(name, v, ErrBadTime, "timestamp after year 9999")
	}
	if sec == 0 && ns == 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, ns).UTC(), nil
}

// isMasked reports whether v is a Zeek test-suite timestamp mask such as
// "XXXXXXXXXX.XXXXXX".
func isMasked(v []byte) bool {
	x := false
	for _, c := range v {
		switch c {
		case 'X':
			x = true
		case '.':
		default:
			return false
		}
	}
	return x
}

// parseDuration parses a Zeek interval: non-negative seconds with decimals.
func parseDuration(name string, v []byte) (time.Duration, *FieldError) {
	if len(v) > 0 && v[0] == '-' {
		return 0, newFieldError(name, v, ErrNegative, "negative duration")
	}
	sec, ns, ok := parseDecimal(v)
	if !ok {
		return 0, newFieldError(name, v, ErrNotNumber, "not a duration in seconds")
	}
	return durationOf(name, v, sec, ns)
}

// durationOf is the duration of sec.ns seconds, parsed from v.
func durationOf(name string, v []byte, sec, ns int64) (time.Duration, *FieldError) {
	if sec > math.MaxInt64/int64(time.Second)-1 {
		return 0, newFieldError(name, v, ErrNotNumber, "duration out of range")
	}
	return time.Duration(sec)*time.Second + time.Duration(ns), nil
}

// parseDecimal parses a non-negative decimal number into whole seconds and
// nanoseconds without rounding through float64 (which would move
// 1655071198.444458 by a few hundred nanoseconds). Digits past the ninth
// decimal are truncated. JSON's exponent forms fall back to ParseFloat.
func parseDecimal(v []byte) (sec, ns int64, ok bool) {
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if sec > (math.MaxInt64-9)/10 {
			return 0, 0, false
		}
		sec = sec*10 + int64(v[i]-'0')
	}
	if i == 0 {
		return 0, 0, false
	}
	if i < len(v) && v[i] == '.' {
		if ns, i, ok = scanFraction(v, i+1); !ok {
			return 0, 0, false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		return parseExponent(v)
	}
	return sec, ns, i == len(v)
}

// scanFraction reads the digits after a decimal point, from b[i], as
// nanoseconds (digits past the ninth truncated) and returns the index after
// them; ok is false when there are none.
func scanFraction(b []byte, i int) (ns int64, end int, ok bool) {
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i-start < 9 {
			ns = ns*10 + int64(b[i]-'0')
		}
	}
	for range 9 - min(i-start, 9) {
		ns *= 10
	}
	return ns, i, i > start
}

// parseExponent parses numbers like 1.655071198e9, which JSON writers may
// use; float64's precision is enough for them (they are rare, and not Zeek's).
func parseExponent(v []byte) (sec, ns int64, ok bool) {
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f < 0 || f >= maxEpochSeconds+1 || math.IsNaN(f) {
		return 0, 0, false
	}
	whole := math.Floor(f)
	ns = int64(math.Round((f - whole) * 1e9))
	sec = int64(whole)
	if ns >= 1e9 {
		sec, ns = sec+1, ns-1e9
	}
	return sec, ns, true
}

// parseCount parses a Zeek count: a non-negative integer.
func parseCount(name string, v []byte) (int64, *FieldError) {
	if len(v) > 0 && v[0] == '-' {
		return 0, newFieldError(name, v, ErrNegative, "negative count")
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, newFieldError(name, v, ErrNotNumber, "not a whole number")
		}
		if n > (math.MaxInt64-9)/10 {
			return 0, newFieldError(name, v, ErrNotNumber, "count out of range")
		}
		n = n*10 + int64(c-'0')
	}
	if len(v) == 0 {
		return 0, newFieldError(name, v, ErrNotNumber, "not a whole number")
	}
	return n, nil
}

// parsePort parses a port number, 0 to 65535.
func parsePort(name string, v []byte) (uint16, *FieldError) {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' || n > 65535 {
			return 0, newFieldError(name, v, ErrBadPort, "not a port (0 to 65535)")
		}
		n = n*10 + int(c-'0')
	}
	if len(v) == 0 || n > 65535 {
		return 0, newFieldError(name, v, ErrBadPort, "not a port (0 to 65535)")
	}
	return uint16(n), nil
}

// parseAddr parses an IPv4 or IPv6 address; dotted IPv4, by far the most
// common, without allocating.
func parseAddr(name string, v []byte) (netip.Addr, *FieldError) {
	if a, ok := parseIPv4(v); ok {
		return a, nil
	}
	a, err := netip.ParseAddr(string(v))
	if err != nil {
		return netip.Addr{}, newFieldError(name, v, ErrBadAddr, "not an IP address")
	}
	return a, nil
}

func parseIPv4(v []byte) (netip.Addr, bool) {
	// Part by part, each 1 to 3 digits: a loop over bytes with a switch
	// per byte cost twice as much.
	var ip uint32
	i := 0
	for part := range 4 {
		if part > 0 {
			if i >= len(v) || v[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		start, val := i, 0
		for ; i < len(v) && i-start < 3 && v[i] >= '0' && v[i] <= '9'; i++ {
			val = val*10 + int(v[i]-'0')
		}
		switch {
		case i == start, val > 255:
			return netip.Addr{}, false
		case i-start > 1 && v[start] == '0':
			return netip.Addr{}, false // leading zero: netip rejects it too
		}
		ip = ip<<8 | uint32(val)
	}
	if i != len(v) {
		return netip.Addr{}, false
	}
	// One 4-byte store for AddrFrom4's 4-byte load: four 1-byte stores
	// could not be forwarded to it, and the load waited for them.
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ip)
	return netip.AddrFrom4(b), true
}

// itoa formats an int for error reasons.
func itoa(n int) string { return strconv.Itoa(n) }
