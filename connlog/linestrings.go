package connlog

// lineStrings gives the strings of one parsed line a single allocation:
// their bytes are gathered while the line is parsed and copied into one
// string at its end, which the Conn's fields then slice. One string per
// field (uid, history, labels, extension values) cost an allocation each.
// The copy keeps Conn's promise that its strings never alias the line;
// the price is that a Conn kept for one of its strings keeps all of them.
//
// It also hands out the lines' Extra fields from chunks of extraChunk
// fields: each line's Extra is a window of a chunk whose capacity ends
// with it, so appending to it copies, and no window is handed out twice.
// A Conn kept for its Extra keeps its chunk (2 KiB), which the pipeline
// never does (the deriver copies Extra); an allocation per line was a
// tenth of a Zeek JSON line's cost.
type lineStrings struct {
	buf    []byte      // the line's string bytes, reused across lines
	refs   []stringRef // where each of them goes, reused
	sensor bool        // a sensor name is set: the first one wins

	fields []Field // the chunk of Extra fields, this line's from first on
	first  int
}

// extraChunk is how many Extra fields are allocated at once.
const extraChunk = 64

// stringRef is one string of the line: bytes buf[off:end] of field f of
// the Conn, or of the value of c.Extra[extra] when f is fExtra.
type stringRef struct {
	f        field
	extra    int
	off, end int
}

func (s *lineStrings) reset() {
	s.buf = s.buf[:0]
	s.refs = s.refs[:0]
	s.sensor = false
	s.fields = s.fields[:s.first] // a failed line's fields went to no Conn
}

// set makes v the value of string field f (not fExtra). Empty values need
// nothing: the Conn was zeroed.
func (s *lineStrings) set(f field, v []byte) {
	if len(v) == 0 {
		return
	}
	off := len(s.buf)
	s.buf = append(s.buf, v...)
	s.refs = append(s.refs, stringRef{f: f, off: off, end: len(s.buf)})
}

// setExtra makes v the value of the line's Extra field i.
func (s *lineStrings) setExtra(i int, v []byte) {
	off := len(s.buf)
	s.buf = append(s.buf, v...)
	s.refs = append(s.refs, stringRef{f: fExtra, extra: i, off: off, end: len(s.buf)})
}

// finish hands the line's Extra fields to c, copies the line's strings
// into one and sets c's fields to them.
func (s *lineStrings) finish(c *Conn) {
	if n := len(s.fields); n > s.first {
		c.Extra = s.fields[s.first:n:n]
		s.first = n
	}
	if len(s.refs) == 0 {
		return
	}
	all := string(s.buf)
	for _, r := range s.refs {
		v := all[r.off:r.end]
		switch r.f {
		case fExtra:
			c.Extra[r.extra].Value = v
		case fUID:
			c.UID = v
		case fService:
			c.Service = v
		case fHistory:
			c.History = v
		case fLabel:
			c.Label = v
		case fDetailLbl:
			c.DetailLbl = v
		case fSensor:
			c.Sensor = v
		}
	}
}

// addExtra adds an extra field to the line, its value set by finish
// unless it is one of the values that need no copy.
func (s *lineStrings) addExtra(name string, v []byte) {
	if len(s.fields) == cap(s.fields) {
		// A new chunk, with this line's fields so far.
		fields := make([]Field, len(s.fields)-s.first, max(extraChunk, 2*(len(s.fields)-s.first)))
		copy(fields, s.fields[s.first:])
		s.fields, s.first = fields, 0
	}
	value, ok := commonExtraValue(v)
	s.fields = append(s.fields, Field{Name: name, Value: value})
	if !ok {
		s.setExtra(len(s.fields)-1-s.first, v)
	}
}
