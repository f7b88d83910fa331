package sinks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// ParseAlert decodes one alert-topic line. A line in AlertFormat's own layout
// (its keys in its order, no escapes, numbers and times as it writes them) is
// read directly, about ten times faster than encoding/json, which decodes any
// other JSON object: the notifier reads every alert the pipeline writes.
func ParseAlert(line []byte) (Alert, error) {
	if a, ok := parseAlertLayout(line); ok {
		return a, nil
	}
	var a Alert
	if err := json.Unmarshal(line, &a); err != nil {
		return Alert{}, fmt.Errorf("decoding alert: %w", err)
	}
	return a, nil
}

// parseAlertLayout reads a line exactly as AlertFormat.Append writes it; ok
// is false for anything else, which encoding/json then decodes. Every value
// it accepts decodes to the same Alert through encoding/json (FuzzParseAlert).
func parseAlertLayout(line []byte) (a Alert, ok bool) {
	s := alertScanner{rest: line, ok: true}
	s.literal(`{"id":"`)
	a.Key = s.str()
	s.literal(`,"time":"`)
	a.Time = s.time()
	s.literal(`,"score":`)
	a.Score = s.score()
	s.literal(`,"category":"`)
	a.Category = s.str()
	s.literal(`,"service":"`)
	a.Service = s.str()
	s.literal(`,"protocol_type":"`)
	a.Protocol = s.str()
	s.literal(`,"flag":"`)
	a.Flag = s.str()
	s.literal(`,"model":"`)
	a.Model = s.str()
	if s.optional(`,"flow":"`) {
		a.Flow = s.str()
	}
	if s.optional(`,"src_ip":"`) {
		a.SrcIP = s.str()
	}
	if s.optional(`,"dst_ip":"`) {
		a.DstIP = s.str()
	}
	if s.optional(`,"why":"`) {
		a.Why = s.str()
	}
	s.literal(`}`)
	return a, s.ok && len(s.rest) == 0
}

// alertScanner walks a line; the first mismatch clears ok, and every later
// step then does nothing.
type alertScanner struct {
	rest []byte
	ok   bool
}

func (s *alertScanner) literal(p string) {
	if s.ok && bytes.HasPrefix(s.rest, []byte(p)) {
		s.rest = s.rest[len(p):]
		return
	}
	s.ok = false
}

func (s *alertScanner) optional(p string) bool {
	if s.ok && bytes.HasPrefix(s.rest, []byte(p)) {
		s.rest = s.rest[len(p):]
		return true
	}
	return false
}

// str reads a string's content up to its closing quote, which it consumes:
// only plain text (no escape, no control character, valid UTF-8), which
// JSON decodes to itself.
func (s *alertScanner) str() string {
	if !s.ok {
		return ""
	}
	end := bytes.IndexByte(s.rest, '"')
	if end < 0 {
		s.ok = false
		return ""
	}
	v := s.rest[:end]
	for _, c := range v {
		if c < 0x20 || c == '\\' {
			s.ok = false
			return ""
		}
	}
	if !utf8.Valid(v) {
		s.ok = false
		return ""
	}
	s.rest = s.rest[end+1:]
	return string(v)
}

// time reads an RFC 3339 time and its closing quote, when it is written as
// time.RFC3339Nano formats it.
func (s *alertScanner) time() time.Time {
	v := s.str()
	if !s.ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	var buf [len(time.RFC3339Nano) + 8]byte
	if err != nil || string(t.AppendFormat(buf[:0], time.RFC3339Nano)) != v {
		s.ok = false
	}
	return t
}

// score reads a float32 written as appendFloat writes it.
func (s *alertScanner) score() float32 {
	if !s.ok {
		return 0
	}
	end := bytes.IndexAny(s.rest, ",}")
	if end < 0 {
		s.ok = false
		return 0
	}
	v := s.rest[:end]
	f, err := strconv.ParseFloat(string(v), 32)
	var buf [32]byte
	if err != nil || !bytes.Equal(appendFloat(buf[:0], f, 32), v) {
		s.ok = false
		return 0
	}
	s.rest = s.rest[end:]
	return float32(f)
}
