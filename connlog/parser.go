package connlog

import (
	"bytes"
	"strings"
)

// Input is the kind of connection log a user configured for a stream.
type Input uint8

const (
	// Auto tells the formats apart line by line: "#" lines are Zeek TSV
	// headers, a line naming VPC Flow Logs fields is a VPC header, a JSON
	// object is Zeek JSON, and any other line is data under the last header.
	Auto Input = iota
	Zeek       // Zeek conn.log, TSV (under "#" headers) or JSON
	VPC        // AWS VPC Flow Logs as delivered to S3, under their header line
)

func (in Input) String() string {
	switch in {
	case Auto:
		return "auto"
	case Zeek:
		return "zeek"
	case VPC:
		return "vpcflow"
	}
	return "unknown"
}

// DefaultMaxLineBytes is the longest line a Parser accepts unless
// WithMaxLineBytes says otherwise.
const DefaultMaxLineBytes = 64 << 10

// Option configures a Parser.
type Option func(*Parser)

// WithFieldNames renames fields back to Zeek's: each key is a field name as
// the logs spell it, each value the canonical Zeek name ("src" →
// "id.orig_h"), as a Zeek Log::default_field_name_map would have renamed
// them. The common renamings need no map: src, dst, src_port, dst_port,
// id_orig_h (dots as underscores, as Zeek's JSON for Elasticsearch writes
// them), Label, detailed-label. The map is read during NewParser only.
func WithFieldNames(renamed map[string]string) Option {
	return func(p *Parser) {
		if len(renamed) == 0 {
			return
		}
		p.renames = make(map[string]rename, len(renamed))
		for from, to := range renamed {
			p.renames[from] = rename{field: zeekField([]byte(to)), name: to}
		}
	}
}

// WithMaxLineBytes sets the longest line accepted (DefaultMaxLineBytes when
// n <= 0); longer lines fail with ErrLineTooLong.
func WithMaxLineBytes(n int) Option {
	return func(p *Parser) {
		if n > 0 {
			p.maxLineBytes = n
		}
	}
}

// Parser parses the lines of one stream of connection logs, remembering the
// headers it has seen (Zeek "#fields", the VPC header line) for the data
// lines that follow them. A Parser is not safe for concurrent use; use one
// per stream (per Kafka partition, per S3 object).
type Parser struct {
	in           Input
	maxLineBytes int
	renames      map[string]rename // nil unless WithFieldNames

	tsv tsvHeader
	vpc vpcHeader
	// current is the format of the last header seen, which plain data lines
	// are parsed under (ZeekTSV or VPCFlow; 0 before any header).
	current Format

	keyBuf, valBuf []byte   // JSON string unescaping, reused
	keys           jsonKeys // the keys of the JSON lines so far
	ends           []int    // where the cells of a TSV line end, or a VPC record's fields start and end; reused
	strs           lineStrings
}

// rename is the canonical field a renamed one stands for.
type rename struct {
	field field
	name  string
}

// NewParser returns a Parser for input in.
func NewParser(in Input, opts ...Option) *Parser {
	p := &Parser{in: in, maxLineBytes: DefaultMaxLineBytes}
	for _, o := range opts {
		o(p)
	}
	p.Reset()
	return p
}

// Reset forgets the headers seen: a new file or object begins.
func (p *Parser) Reset() {
	p.tsv.reset()
	p.vpc.reset()
	p.current = 0
}

// Parse parses one line of a stream. A header or comment line (Zeek "#"
// lines, the VPC header line) only updates the parser's state and returns
// (false, nil); so does a VPC record whose log-status is NODATA or SKIPDATA
// (the interface saw no traffic, or records were lost: there is no
// connection to judge, and no reason for a dead letter). A data line fills c
// (all of it: nothing of a previous Conn survives) and returns (true, nil).
// Errors are *FieldError. The line is not retained; c's strings are copies.
func (p *Parser) Parse(line []byte, c *Conn) (bool, error) {
	if len(line) > p.maxLineBytes {
		return false, lineError(line, ErrLineTooLong, "line too long: "+itoa(len(line))+" bytes, at most "+itoa(p.maxLineBytes))
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	// Loops rather than bytes.TrimRight and Trim, which build their
	// cutsets for every line.
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if isBlank(line) {
		return false, lineError(line, ErrEmptyLine, "")
	}
	switch {
	case line[0] == '#':
		if p.in == VPC {
			return false, nil // not a VPC line; comments are harmless
		}
		return false, p.parseZeekHeader(line)
	case firstNonSpace(line) == '{' && p.in != VPC:
		return p.parseJSON(line, c)
	case p.in != Zeek && isVPCHeader(line):
		return false, p.parseVPCHeader(line)
	}
	format := p.current
	switch {
	case p.in == Zeek && format != ZeekTSV:
		format = 0
	case p.in == VPC && format != VPCFlow:
		format = 0
	}
	switch format {
	case ZeekTSV:
		err := p.parseTSV(line, c)
		return err == nil, err
	case VPCFlow:
		return p.parseVPC(line, c)
	}
	reason := "data line before any header"
	switch p.in {
	case Zeek:
		reason = "data line before a Zeek #fields header"
	case VPC:
		reason = "data line before the VPC Flow Logs header line"
	}
	return false, lineError(line, ErrNoHeader, reason)
}

// IsConnLogJSON reports whether line looks like a Zeek conn.log JSON object:
// it starts with "{" and has a Zeek connection key ("id.orig_h",
// "id_orig_h", or "uid" together with "ts"). It is a cheap check to tell Zeek
// JSON from other JSON records (NSL-KDD's), not a validation.
func IsConnLogJSON(line []byte) bool {
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	if firstNonSpace(line) != '{' {
		return false
	}
	return bytes.Contains(line, []byte(`"id.orig_h"`)) ||
		bytes.Contains(line, []byte(`"id_orig_h"`)) ||
		bytes.Contains(line, []byte(`"uid"`)) && bytes.Contains(line, []byte(`"ts"`))
}

// isBlank reports whether b has only spaces and tabs.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return c
		}
	}
	return 0
}

// field is a Zeek conn.log field that Conn has a place for.
type field uint8

const (
	fExtra field = iota // no place in Conn: kept in Conn.Extra
	fTS
	fUID
	fOrigH
	fOrigP
	fRespH
	fRespP
	fProto
	fService
	fDuration
	fOrigBytes
	fRespBytes
	fConnState
	fMissedBytes
	fHistory
	fOrigPkts
	fOrigIPBytes
	fRespPkts
	fRespIPBytes
	fLabel
	fDetailLbl
	fSensor
	fPath // JSON Streaming Logs _path: checked, not kept
)

// required are the fields without which a line names no connection.
const required = 1<<fTS | 1<<fOrigH | 1<<fRespH | 1<<fProto

// canonicalName is the Zeek name of a field, as AppendZeekJSON writes it and
// errors about missing fields name it.
func (f field) canonicalName() string {
	switch f {
	case fTS:
		return "ts"
	case fUID:
		return "uid"
	case fOrigH:
		return "id.orig_h"
	case fOrigP:
		return "id.orig_p"
	case fRespH:
		return "id.resp_h"
	case fRespP:
		return "id.resp_p"
	case fProto:
		return "proto"
	case fService:
		return "service"
	case fDuration:
		return "duration"
	case fOrigBytes:
		return "orig_bytes"
	case fRespBytes:
		return "resp_bytes"
	case fConnState:
		return "conn_state"
	case fMissedBytes:
		return "missed_bytes"
	case fHistory:
		return "history"
	case fOrigPkts:
		return "orig_pkts"
	case fOrigIPBytes:
		return "orig_ip_bytes"
	case fRespPkts:
		return "resp_pkts"
	case fRespIPBytes:
		return "resp_ip_bytes"
	case fLabel:
		return "label"
	case fDetailLbl:
		return "detailedlabel"
	case fSensor:
		return "_system_name"
	case fPath:
		return "_path"
	}
	return ""
}

// zeekField is the field a Zeek name (or one of its common renamings)
// stands for; fExtra when Conn has no place for it.
func zeekField(name []byte) field {
	switch string(name) { // no allocation: the compiler compares in place
	case "ts":
		return fTS
	case "uid":
		return fUID
	case "id.orig_h", "id_orig_h", "src":
		return fOrigH
	case "id.orig_p", "id_orig_p", "src_port":
		return fOrigP
	case "id.resp_h", "id_resp_h", "dst":
		return fRespH
	case "id.resp_p", "id_resp_p", "dst_port":
		return fRespP
	case "proto":
		return fProto
	case "service":
		return fService
	case "duration":
		return fDuration
	case "orig_bytes":
		return fOrigBytes
	case "resp_bytes":
		return fRespBytes
	case "conn_state":
		return fConnState
	case "missed_bytes":
		return fMissedBytes
	case "history":
		return fHistory
	case "orig_pkts":
		return fOrigPkts
	case "orig_ip_bytes":
		return fOrigIPBytes
	case "resp_pkts":
		return fRespPkts
	case "resp_ip_bytes":
		return fRespIPBytes
	case "label", "Label":
		return fLabel
	case "detailedlabel", "detailed-label", "detailed_label", "DetailedLabel":
		return fDetailLbl
	case "_system_name", "_node_name", "peer":
		return fSensor
	case "_path":
		return fPath
	}
	return fExtra
}

// resolve maps a field name of the log to its field and, for Extra, the
// name Conn.Extra keeps (the canonical one when WithFieldNames renamed it).
func (p *Parser) resolve(name []byte) (field, string) {
	if p.renames != nil {
		if r, ok := p.renames[string(name)]; ok {
			return r.field, r.name
		}
	}
	f := zeekField(name)
	if f == fExtra {
		return f, extraName(name)
	}
	return f, ""
}

// extraName returns the name of a field Conn has no place for, without
// allocating for the ones every Zeek conn.log has.
func extraName(name []byte) string {
	switch string(name) {
	case "local_orig":
		return "local_orig"
	case "local_resp":
		return "local_resp"
	case "tunnel_parents":
		return "tunnel_parents"
	case "ip_proto":
		return "ip_proto"
	case "_write_ts":
		return "_write_ts"
	}
	return string(name)
}

// commonExtraValue returns the value of an Extra field if it is one of
// the booleans and empty sets of Zeek's local_orig, local_resp and
// tunnel_parents, which need no copy.
func commonExtraValue(v []byte) (string, bool) {
	switch string(v) {
	case "":
		return "", true
	case "T":
		return "T", true
	case "F":
		return "F", true
	case "true":
		return "true", true
	case "false":
		return "false", true
	case "[]":
		return "[]", true
	}
	return "", false
}

// setText sets field f of c from its text: a TSV cell, a JSON string or the
// text of a JSON number. name is the field as the line spells it, for errors.
// Strings are set by p.strs.finish.
func (p *Parser) setText(c *Conn, f field, name string, v []byte) *FieldError {
	var err *FieldError
	switch f {
	case fTS:
		c.Start, err = parseTime(name, v)
	case fUID:
		p.strs.set(fUID, v)
	case fOrigH:
		c.OrigAddr, err = parseAddr(name, v)
	case fRespH:
		c.RespAddr, err = parseAddr(name, v)
	case fOrigP:
		c.OrigPort, err = parsePort(name, v)
	case fRespP:
		c.RespPort, err = parsePort(name, v)
	case fProto:
		c.Proto = protoName(v)
	case fService:
		p.strs.set(fService, v)
	case fDuration:
		c.Duration, err = parseDuration(name, v)
	case fOrigBytes, fRespBytes, fMissedBytes, fOrigPkts, fOrigIPBytes, fRespPkts, fRespIPBytes:
		*c.count(f), err = parseCount(name, v)
	case fConnState:
		c.State = connState(v)
	case fHistory:
		p.strs.set(fHistory, v)
	case fLabel:
		p.strs.set(fLabel, v)
	case fDetailLbl:
		p.strs.set(fDetailLbl, v)
	case fSensor:
		// The first sensor name wins; a log with several (_system_name and
		// peer) names one sensor, and Conn has room for one.
		if !p.strs.sensor && len(v) > 0 {
			p.strs.sensor = true
			p.strs.set(fSensor, v)
		}
	case fPath:
		if string(v) != "conn" {
			err = newFieldError(name, v, ErrNotConnLog, "not a conn log")
		}
	}
	return err
}

// protoName is Zeek's transport in lower case, without allocating for the
// usual ones.
func protoName(v []byte) string {
	switch string(v) {
	case "tcp":
		return "tcp"
	case "udp":
		return "udp"
	case "icmp":
		return "icmp"
	}
	return strings.ToLower(string(v))
}

// connState returns Zeek's conn_state, without allocating for the states
// Zeek defines.
func connState(v []byte) string {
	switch string(v) {
	case "S0":
		return "S0"
	case "S1":
		return "S1"
	case "SF":
		return "SF"
	case "REJ":
		return "REJ"
	case "S2":
		return "S2"
	case "S3":
		return "S3"
	case "RSTO":
		return "RSTO"
	case "RSTR":
		return "RSTR"
	case "RSTOS0":
		return "RSTOS0"
	case "RSTRH":
		return "RSTRH"
	case "SH":
		return "SH"
	case "SHR":
		return "SHR"
	case "OTH":
		return "OTH"
	}
	return string(v)
}

// count is the counter field f of c (bytes and packets); f must be one.
func (c *Conn) count(f field) *int64 {
	switch f {
	case fOrigBytes:
		return &c.OrigBytes
	case fRespBytes:
		return &c.RespBytes
	case fMissedBytes:
		return &c.MissedBytes
	case fOrigPkts:
		return &c.OrigPkts
	case fOrigIPBytes:
		return &c.OrigIPBytes
	case fRespPkts:
		return &c.RespPkts
	case fRespIPBytes:
		return &c.RespIPBytes
	}
	panic("connlog: not a count field")
}
