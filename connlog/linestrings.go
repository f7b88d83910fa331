package connlog

// lineStrings gives the strings of one parsed line a single allocation:
// their bytes are gathered while the line is parsed and copied into one
// string at its end, which the Conn's fields then slice. One string per
// field (uid, history, labels, extension values) cost an allocation each.
// The copy keeps Conn's promise that its strings never alias the line;
// the price is that a Conn kept for one of its strings keeps all of them.
type lineStrings struct {
	buf    []byte      // the line's string bytes, reused across lines
	refs   []stringRef // where each of them goes, reused
	sensor bool        // a sensor name is set: the first one wins
}

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

// setExtra makes v the value of c.Extra[i].
func (s *lineStrings) setExtra(i int, v []byte) {
	off := len(s.buf)
	s.buf = append(s.buf, v...)
	s.refs = append(s.refs, stringRef{f: fExtra, extra: i, off: off, end: len(s.buf)})
}

// finish copies the line's strings into one and sets c's fields to them.
func (s *lineStrings) finish(c *Conn) {
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

// addExtra appends an extra field to c, its value set by finish unless it
// is one of the values that need no copy. capHint is how many extra fields
// the line may have, 0 when unknown.
func (s *lineStrings) addExtra(c *Conn, capHint int, name string, v []byte) {
	if c.Extra == nil {
		if capHint <= 0 {
			capHint = 4 // Zeek's conn.log has 3 (local_orig, local_resp, tunnel_parents)
		}
		c.Extra = make([]Field, 0, capHint)
	}
	value, ok := commonExtraValue(v)
	c.Extra = append(c.Extra, Field{Name: name, Value: value})
	if !ok {
		s.setExtra(len(c.Extra)-1, v)
	}
}
