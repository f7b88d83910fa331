// Package connlog parses the connection logs network sensors write — Zeek
// conn.log (JSON and TSV) and AWS VPC Flow Logs — into Conn, one connection
// per line, named by its hosts. It is the first step of the real-log path:
// connlog → features (stateful NSL-KDD features) → etl (the model's vector).
//
// A Parser reads one stream line by line: header lines (Zeek "#separator",
// "#fields", ...; the VPC header line) set what the data lines after them
// mean, and Input Auto tells the formats apart by the line. Errors are
// *FieldError, naming the field and the offending value, with a stable Code
// for metrics. AppendZeekJSON writes a Conn back as a self-describing Zeek
// JSON line that parses to the same Conn.
//
// Choices worth knowing:
//   - A Zeek timestamp masked as "XXXXXXXXXX.XXXXXX" (Zeek's test
//     baselines) or equal to 0 gives a zero Start: the time is unknown, the
//     connection is still judged.
//   - Unset Zeek values ("-") give zero values and are left out of Extra;
//     "(empty)" gives "". Extra values are kept as the log wrote them.
//   - Each VPC Flow Logs record is one direction of a flow and is judged as
//     one connection from its source to its destination; pairing the two
//     directions is the feature deriver's choice, not the parser's. Records
//     with log-status NODATA or SKIPDATA are skipped like header lines: they
//     hold no connection, so they are no dead letters.
//   - A VPC record's State, first match wins: REJECT → REJ; not TCP → SF;
//     no tcp-flags → OTH; SYN-ACK+RST → RSTR; RST → RSTO; SYN-ACK+FIN → SF;
//     SYN-ACK → S1 (the responder's half: its source is the server);
//     SYN+FIN → SF; SYN → S0; FIN → SF; flags 0 (midstream) → OTH.
package connlog

import (
	"bytes"
	"net/netip"
	"strings"
	"time"
)

// Format is the log format a line was parsed as.
type Format uint8

// The supported formats; the zero Format means none was parsed.
const (
	ZeekJSON Format = iota + 1 // Zeek conn.log, one JSON object per line
	ZeekTSV                    // Zeek conn.log, tab-separated under a #fields header
	VPCFlow                    // AWS VPC Flow Logs, space-separated under a header line
)

func (f Format) String() string {
	switch f {
	case ZeekJSON:
		return "zeek-json"
	case ZeekTSV:
		return "zeek-tsv"
	case VPCFlow:
		return "vpcflow"
	}
	return "none"
}

// Source is the feature source a format's verdicts report
// (features_source): "zeek" or "vpcflow".
func (f Format) Source() string {
	switch f {
	case ZeekJSON, ZeekTSV:
		return "zeek"
	case VPCFlow:
		return "vpcflow"
	}
	return ""
}

// Conn is one connection, normalised across formats. Strings never alias
// the parsed line: a Conn may be kept after the line's buffer is reused.
type Conn struct {
	Format Format

	// Identity: what a verdict names.
	Start     time.Time // connection start (Zeek ts; VPC flow start), event time
	UID       string    // Zeek uid; "" for flow logs
	OrigAddr  netip.Addr
	OrigPort  uint16 // for ICMP Zeek logs the type here
	RespAddr  netip.Addr
	RespPort  uint16 // for ICMP Zeek logs the code here
	Proto     string // "tcp", "udp", "icmp" (lower case); other transports as logged
	Sensor    string // the sensor that logged it (Zeek _system_name / peer, VPC interface-id), "" when unknown
	Extra     []Field
	Label     string // a ground-truth label column when the log has one (Stratosphere "label"), else ""
	DetailLbl string // Stratosphere "detailedlabel", else ""

	// Connection facts: what features are derived from.
	Duration    time.Duration // 0 when unset
	Service     string        // Zeek's service ("" when unset; may be a list "ssl,http")
	State       string        // Zeek conn_state (S0, SF, REJ, ...); for flow logs derived from action and tcp-flags
	History     string        // Zeek history ("" when unset)
	OrigBytes   int64         // payload bytes from the originator (flow logs: IP bytes)
	RespBytes   int64         // payload bytes from the responder
	OrigPkts    int64
	RespPkts    int64
	OrigIPBytes int64
	RespIPBytes int64
	MissedBytes int64
	TCPFlags    int    // VPC tcp-flags (OR of the flags seen), -1 when absent
	Action      string // VPC action (ACCEPT, REJECT), "" for Zeek
	Direction   string // VPC flow-direction (ingress, egress), "" when absent
}

// ParseErrorHeader is the Kafka header in which a producer that could not
// parse a connection-log line (the S3 bridge) passes the reason along with
// the line as it was; the pipeline makes such a record a dead letter with
// that reason instead of parsing it again without its file's header.
const ParseErrorHeader = "sagewall-parse-error"

// Field is a field of the line that Conn has no place for (Zeek extension
// fields, renamed-away columns, extra JSON keys), kept for passthrough.
type Field struct {
	Name  string
	Value string
}

// KDDLabel maps a connection log's ground-truth label to NSL-KDD's:
// benign traffic is "normal"; unlabelled traffic ("background", as
// Stratosphere marks flows it could not attribute, or no label) is "";
// any other label (Stratosphere's "Malicious") is kept as the attack's name.
func KDDLabel(label string) string {
	switch strings.ToLower(label) {
	case "", "-", "(empty)", "background":
		return ""
	case "benign", "normal":
		return "normal"
	}
	return label
}

// IsConnLogLine reports whether line is a connection-log line on its own,
// with no header seen before it: a Zeek header (#...), a Zeek JSON object,
// or a space-separated line (a flow log's header or record; NSL-KDD lines
// are comma-separated). With auto input, the other lines of a stream are
// NSL-KDD records until a header says otherwise.
func IsConnLogLine(line []byte) bool {
	for len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		line = line[1:]
	}
	if len(line) >= 3 && line[0] == 0xef && line[1] == 0xbb && line[2] == 0xbf {
		line = line[3:]
	}
	switch {
	case len(line) == 0:
		return false
	case line[0] == '#':
		return true
	case line[0] == '{':
		return IsConnLogJSON(line)
	}
	return bytes.IndexByte(line, ',') < 0 && bytes.IndexByte(line, ' ') > 0
}
