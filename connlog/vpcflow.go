package connlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// vpcField is a VPC Flow Logs field that Conn has a place for.
type vpcField uint8

const (
	vExtra vpcField = iota
	vInterfaceID
	vSrcAddr
	vDstAddr
	vPktSrcAddr
	vPktDstAddr
	vSrcPort
	vDstPort
	vProtocol
	vPackets
	vBytes
	vStart
	vEnd
	vAction
	vLogStatus
	vTCPFlags
	vFlowDirection
	vCount // number of vpcFields
)

// vpcHeader is the field list of the current VPC Flow Logs file.
type vpcHeader struct {
	fields []vpcColumn
	col    [vCount]int // column of each known field, -1 when absent
}

type vpcColumn struct {
	name  string
	field vpcField
}

func (h *vpcHeader) reset() {
	h.fields = h.fields[:0]
	for i := range h.col {
		h.col[i] = -1
	}
}

// vpcFieldOf maps a VPC Flow Logs field name (as the S3 header line spells
// it) to its role; ok is false for names that are not VPC fields at all.
func vpcFieldOf(name []byte) (f vpcField, ok bool) {
	switch string(name) {
	case "interface-id":
		return vInterfaceID, true
	case "srcaddr":
		return vSrcAddr, true
	case "dstaddr":
		return vDstAddr, true
	case "pkt-srcaddr":
		return vPktSrcAddr, true
	case "pkt-dstaddr":
		return vPktDstAddr, true
	case "srcport":
		return vSrcPort, true
	case "dstport":
		return vDstPort, true
	case "protocol":
		return vProtocol, true
	case "packets":
		return vPackets, true
	case "bytes":
		return vBytes, true
	case "start":
		return vStart, true
	case "end":
		return vEnd, true
	case "action":
		return vAction, true
	case "log-status":
		return vLogStatus, true
	case "tcp-flags":
		return vTCPFlags, true
	case "flow-direction":
		return vFlowDirection, true
	case "version", "account-id", "vpc-id", "subnet-id", "instance-id", "type",
		"region", "az-id", "sublocation-type", "sublocation-id",
		"pkt-src-aws-service", "pkt-dst-aws-service", "traffic-path",
		"ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn",
		"ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id",
		"ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id",
		"reject-reason", "resource-id", "encryption-status":
		return vExtra, true
	}
	return vExtra, false
}

// isVPCHeader reports whether line is a VPC Flow Logs header: it starts
// with "version " (the default format's) or its first word is a VPC field
// name. No data value is a field name, so data lines never match.
func isVPCHeader(line []byte) bool {
	if bytes.HasPrefix(line, []byte("version ")) {
		return true
	}
	if len(line) == 0 || line[0] < 'a' || line[0] > 'z' {
		return false // every field name starts so; no need to look for a space
	}
	first, _, _ := bytes.Cut(line, []byte(" "))
	_, ok := vpcFieldOf(first)
	return ok && bytes.IndexByte(line, '\t') < 0
}

// parseVPCHeader takes in a VPC header line: it names the fields of the
// lines after it, in order (a custom format names any of them, in any order).
func (p *Parser) parseVPCHeader(line []byte) error {
	h := &p.vpc
	h.reset()
	p.current = 0
	for name := range bytes.FieldsSeq(line) {
		f, _ := vpcFieldOf(name)
		if f != vExtra {
			if h.col[f] >= 0 {
				h.reset()
				return newFieldError("header", name, ErrBadHeader, "field named twice")
			}
			h.col[f] = len(h.fields)
		}
		h.fields = append(h.fields, vpcColumn{name: string(name), field: f})
	}
	p.current = VPCFlow
	return nil
}

// parseVPC parses a flow record under the current header. Each record is
// one direction of a flow, judged as a connection from its source to its
// destination; pairing the two directions is the feature deriver's choice.
func (p *Parser) parseVPC(line []byte, c *Conn) (bool, error) {
	h := &p.vpc
	bounds := fieldBounds(p.ends[:0], line)
	p.ends = bounds
	if n := len(bounds) / 2; n != len(h.fields) {
		return false, lineError(line, ErrFieldCount, strconv.Itoa(n)+" fields, the header names "+strconv.Itoa(len(h.fields)))
	}
	value := func(i int) []byte { return line[bounds[2*i]:bounds[2*i+1]] }
	get := func(f vpcField) []byte {
		if i := h.col[f]; i >= 0 && string(value(i)) != "-" {
			return value(i)
		}
		return nil
	}
	switch string(get(vLogStatus)) {
	case "NODATA", "SKIPDATA":
		// No traffic in the interval, or records lost: nothing to judge.
		return false, nil
	}
	*c = Conn{Format: VPCFlow, TCPFlags: -1}
	p.strs.reset()
	// The pkt- addresses are the packet's own (behind a NAT gateway or an
	// ENI of a service, srcaddr is the interface's); when they replace the
	// plain ones, those stay in Extra.
	usePkt := [2]bool{get(vPktSrcAddr) != nil, get(vPktDstAddr) != nil}
	for i, col := range h.fields {
		v := value(i)
		if string(v) == "-" {
			continue
		}
		switch col.field {
		case vExtra:
			p.strs.addExtra(col.name, v)
			continue
		case vStart, vEnd:
			continue // below, once both are known
		case vSrcAddr, vDstAddr:
			if usePkt[col.field-vSrcAddr] {
				p.strs.addExtra(col.name, v)
				continue
			}
		}
		if err := p.setVPC(c, col, v); err != nil {
			return false, err
		}
	}
	for _, f := range [...]vpcField{vSrcAddr, vDstAddr, vProtocol} {
		name, ok := "", false
		switch f {
		case vSrcAddr:
			name, ok = "srcaddr", c.OrigAddr.IsValid()
		case vDstAddr:
			name, ok = "dstaddr", c.RespAddr.IsValid()
		case vProtocol:
			name, ok = "protocol", c.Proto != ""
		}
		if !ok {
			return false, &FieldError{Field: name, Reason: "missing or unset field", Err: ErrMissingField}
		}
	}
	if err := vpcTimes(c, get(vStart), get(vEnd)); err != nil {
		return false, err
	}
	c.State = vpcState(c.Proto, c.Action, c.TCPFlags)
	p.strs.finish(c)
	return true, nil
}

// fieldBounds appends the start and end of each field of line to b, the
// fields as bytes.FieldsSeq splits them: around runs of white space
// (unicode.IsSpace). FieldsSeq, an iterator, was a third of a record's
// cost; ASCII lines (all real ones) are split here eight bytes at a time,
// from masks of the bytes that start and end a field.
func fieldBounds(b []int, line []byte) []int {
	const highs = 0x8080808080808080
	n := len(b)
	inField := false // whether the byte before i is part of a field
	i := 0
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:])
		if x&highs != 0 {
			return fieldBoundsRunes(b[:n], line)
		}
		spaces := asciiSpaces(x)
		others := ^spaces & highs
		var before uint64 // the top bit of the byte before, in the mask of its kind
		if inField {
			before = 0x80
		}
		starts := others & (spaces<<8 | (0x80 &^ before))
		ends := spaces & (others<<8 | before)
		for m := starts | ends; m != 0; m &= m - 1 {
			b = append(b, i+bits.TrailingZeros64(m)/8)
		}
		inField = others>>63 != 0
	}
	for ; i < len(line); i++ {
		c := line[i]
		if c >= utf8.RuneSelf {
			return fieldBoundsRunes(b[:n], line)
		}
		if space := c == ' ' || c >= '\t' && c <= '\r'; space == inField {
			b = append(b, i)
			inField = !space
		}
	}
	if inField {
		b = append(b, len(line))
	}
	return b
}

// asciiSpaces sets the top bit of exactly the bytes of x that are ASCII
// white space ('\t' to '\r' and ' '); bytes from 0x80 on are none.
// Setting each byte's top bit before subtracting keeps borrows in it.
func asciiSpaces(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	atLeast9 := (x | highs) - '\t'*ones      // top bit stays where x >= 9
	atLeast14 := (x | highs) - ('\r'+1)*ones // top bit stays where x >= 14
	controls := atLeast9 &^ atLeast14
	return (controls | zeroBytes(x^' '*ones)) &^ x & highs
}

// fieldBoundsRunes is fieldBounds for lines that are not ASCII.
func fieldBoundsRunes(b []int, line []byte) []int {
	start := -1
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		switch space := unicode.IsSpace(r); {
		case space && start >= 0:
			b = append(b, start, i)
			start = -1
		case !space && start < 0:
			start = i
		}
		i += size
	}
	if start >= 0 {
		b = append(b, start, len(line))
	}
	return b
}

// setVPC sets a VPC field of c other than start and end.
func (p *Parser) setVPC(c *Conn, col vpcColumn, v []byte) *FieldError {
	var err *FieldError
	switch col.field {
	case vInterfaceID:
		p.strs.set(fSensor, v)
	case vSrcAddr, vPktSrcAddr:
		c.OrigAddr, err = parseAddr(col.name, v)
	case vDstAddr, vPktDstAddr:
		c.RespAddr, err = parseAddr(col.name, v)
	case vSrcPort:
		c.OrigPort, err = parsePort(col.name, v)
	case vDstPort:
		c.RespPort, err = parsePort(col.name, v)
	case vProtocol:
		c.Proto, err = ianaProto(col.name, v)
	case vPackets:
		c.OrigPkts, err = parseCount(col.name, v)
	case vBytes:
		c.OrigBytes, err = parseCount(col.name, v)
		c.OrigIPBytes = c.OrigBytes // flow logs count IP bytes only
	case vAction:
		c.Action = vpcWord(v)
	case vTCPFlags:
		var n int64
		if n, err = parseCount(col.name, v); err == nil && n > 0xffff {
			err = newFieldError(col.name, v, ErrNotNumber, "tcp-flags out of range")
		}
		c.TCPFlags = int(n)
	case vFlowDirection:
		c.Direction = vpcWord(v)
	}
	return err
}

// vpcTimes sets Start from the flow's start (epoch seconds) and Duration
// from its end; either may be unset.
func vpcTimes(c *Conn, start, end []byte) *FieldError {
	var startSecs, endSecs int64
	for _, t := range [...]struct {
		name string
		v    []byte
		secs *int64
	}{{"start", start, &startSecs}, {"end", end, &endSecs}} {
		if t.v == nil {
			continue
		}
		n, err := parseCount(t.name, t.v)
		if err == nil && n > maxEpochSeconds {
			err = newFieldError(t.name, t.v, ErrBadTime, "timestamp after year 9999")
		}
		if err != nil {
			return err
		}
		*t.secs = n
	}
	if startSecs > 0 {
		c.Start = time.Unix(startSecs, 0).UTC()
	}
	if start != nil && end != nil {
		if endSecs < startSecs {
			return newFieldError("end", end, ErrNegative, "flow ends before it starts")
		}
		c.Duration = time.Duration(endSecs-startSecs) * time.Second
	}
	return nil
}

// ianaProto names an IANA protocol number the way Zeek names transports.
func ianaProto(name string, v []byte) (string, *FieldError) {
	n, err := parseCount(name, v)
	if err != nil || n > 255 {
		return "", newFieldError(name, v, ErrNotNumber, "not an IANA protocol number")
	}
	switch n {
	case 6:
		return "tcp", nil
	case 17:
		return "udp", nil
	case 1, 58: // ICMP and ICMPv6: Zeek logs both as icmp
		return "icmp", nil
	}
	return strconv.FormatInt(n, 10), nil
}

// vpcWord returns the usual action and direction values without allocating.
func vpcWord(v []byte) string {
	switch string(v) {
	case "ACCEPT":
		return "ACCEPT"
	case "REJECT":
		return "REJECT"
	case "ingress":
		return "ingress"
	case "egress":
		return "egress"
	}
	return string(v)
}

// TCP flags as VPC Flow Logs report them: the OR of the flags seen in the
// aggregation interval (only FIN, SYN, RST and SYN-ACK are logged).
const (
	tcpFIN    = 0x01
	tcpSYN    = 0x02
	tcpRST    = 0x04
	tcpSYNACK = 0x12 // SYN and ACK in one packet: the responder's answer
)

// vpcState derives a Zeek-like conn_state for a flow record, for the
// NSL-KDD "flag" feature. One record is one direction, so states that need
// both (S2, S3, SH) never occur; the table, first match wins:
//
//	action REJECT                     → REJ    (the security group or NACL refused it)
//	not TCP                           → SF     (accepted UDP/ICMP: nothing more to tell)
//	TCP, no tcp-flags field           → OTH    (the format does not say)
//	SYN-ACK and RST                   → RSTR   (the responder's direction, reset)
//	RST (with or without SYN, FIN)    → RSTO   (the source opened or used the connection and reset it)
//	SYN-ACK and FIN                   → SF     (the responder's direction, answered and closed)
//	SYN-ACK                           → S1     (the responder's direction, answered, not closed:
//	                                            the record's source is the server)
//	SYN and FIN                       → SF     (opened and closed in the interval)
//	SYN                               → S0     (attempt, no close: a scan looks so)
//	FIN                               → SF     (closed in this interval, opened in an earlier one)
//	none of them (tcp-flags 0)        → OTH    (midstream traffic)
func vpcState(proto, action string, flags int) string {
	switch {
	case action == "REJECT":
		return "REJ"
	case proto != "tcp":
		return "SF"
	case flags < 0:
		return "OTH"
	case flags&tcpSYNACK == tcpSYNACK && flags&tcpRST != 0:
		return "RSTR"
	case flags&tcpRST != 0:
		return "RSTO"
	case flags&tcpSYNACK == tcpSYNACK && flags&tcpFIN != 0:
		return "SF"
	case flags&tcpSYNACK == tcpSYNACK:
		return "S1"
	case flags&tcpSYN != 0 && flags&tcpFIN != 0:
		return "SF"
	case flags&tcpSYN != 0:
		return "S0"
	case flags&tcpFIN != 0:
		return "SF"
	}
	return "OTH"
}
