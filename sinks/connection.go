package sinks

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
)

// namesConnection reports whether c names anything a verdict can show.
func namesConnection(c *connlog.Conn) bool {
	return c.OrigAddr.IsValid() || c.RespAddr.IsValid() || !c.Start.IsZero() || c.UID != "" ||
		c.Sensor != "" || c.Proto != "" || len(c.Extra) > 0 || c.Label != "" || c.DetailLbl != ""
}

// featuresSource is the verdict's features_source: where the 41 features
// came from.
func featuresSource(v *Verdict) string {
	if v.FeaturesSource == "" {
		return "nslkdd"
	}
	return v.FeaturesSource
}

// appendConnection writes the JSON verdict's connection object: who talked
// to whom, when, over what, seen by which sensor. Unset members are left
// out; ports go with their address.
func appendConnection(dst []byte, c *connlog.Conn) []byte {
	dst = append(dst, '{')
	n := 0
	member := func(name string) {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":`...)
	}
	str := func(name, value string) {
		if value == "" {
			return
		}
		member(name)
		dst = append(dst, '"')
		dst = appendEscaped(dst, value)
		dst = append(dst, '"')
	}
	if !c.Start.IsZero() {
		member("time")
		dst = append(dst, '"')
		dst = appendRFC3339Nano(dst, c.Start)
		dst = append(dst, '"')
	}
	str("uid", c.UID)
	if c.OrigAddr.IsValid() {
		member("src_ip")
		dst = append(dst, '"')
		dst = c.OrigAddr.AppendTo(dst)
		dst = append(dst, `","src_port":`...)
		dst = strconv.AppendUint(dst, uint64(c.OrigPort), 10)
	}
	if c.RespAddr.IsValid() {
		member("dst_ip")
		dst = append(dst, '"')
		dst = c.RespAddr.AppendTo(dst)
		dst = append(dst, `","dst_port":`...)
		dst = strconv.AppendUint(dst, uint64(c.RespPort), 10)
	}
	str("transport", c.Proto)
	str("sensor", c.Sensor)
	str("label", c.Label)
	str("detailed_label", c.DetailLbl)
	if len(c.Extra) > 0 {
		member("fields")
		dst = appendFields(dst, c.Extra)
	}
	return append(dst, '}')
}

// appendFields writes passthrough fields as a JSON object of strings.
func appendFields(dst []byte, fields []connlog.Field) []byte {
	dst = append(dst, '{')
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = appendEscaped(dst, f.Name)
		dst = append(dst, `":"`...)
		dst = appendEscaped(dst, f.Value)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// Technique is a MITRE ATT&CK technique and the tactic it serves.
type Technique struct {
	ID, Name             string // e.g. T1046, Network Service Discovery
	TacticID, TacticName string // e.g. TA0007, Discovery
}

// ATTACKVersion is the ATT&CK matrix version the Techniques table was
// checked against (IDs, names and tactics); OCSF attack objects carry it.
const ATTACKVersion = "v16.1"

// Techniques maps an attack category to the ATT&CK (Enterprise) techniques
// an analyst should look at; nil for normal traffic. NSL-KDD's categories
// are coarse, so each maps to the techniques its attacks are instances of:
//
//	probe  T1046 Network Service Discovery (TA0007 Discovery): ipsweep, portsweep, nmap, satan
//	dos    T1498 Network Denial of Service, T1499 Endpoint Denial of Service (TA0040 Impact):
//	       smurf floods the network; neptune, teardrop, back, land, pod exhaust or crash the host
//	r2l    T1110 Brute Force (TA0006 Credential Access): guess_passwd;
//	       T1190 Exploit Public-Facing Application (TA0001 Initial Access): ftp_write, imap, phf, warezmaster
//	u2r    T1068 Exploitation for Privilege Escalation (TA0004 Privilege Escalation):
//	       buffer_overflow, rootkit, perl, loadmodule
func Techniques(c etl.Class) []Technique { return slices.Clone(techniques(c)) }

// techniques is Techniques without the copy, for the per-record path.
func techniques(c etl.Class) []Technique {
	switch c {
	case etl.Probe:
		return probeTechniques
	case etl.DoS:
		return dosTechniques
	case etl.R2L:
		return r2lTechniques
	case etl.U2R:
		return u2rTechniques
	}
	return nil
}

var (
	probeTechniques = []Technique{{"T1046", "Network Service Discovery", "TA0007", "Discovery"}}
	dosTechniques   = []Technique{
		{"T1498", "Network Denial of Service", "TA0040", "Impact"},
		{"T1499", "Endpoint Denial of Service", "TA0040", "Impact"},
	}
	r2lTechniques = []Technique{
		{"T1110", "Brute Force", "TA0006", "Credential Access"},
		{"T1190", "Exploit Public-Facing Application", "TA0001", "Initial Access"},
	}
	u2rTechniques = []Technique{{"T1068", "Exploitation for Privilege Escalation", "TA0004", "Privilege Escalation"}}
)

// ocsfAttacks is each category's finding_info.attacks by class index,
// rendered once: an attack's finding copies it in one append.
var ocsfAttacks = func() []string {
	var rendered []string
	for _, c := range etl.Classes() {
		if t := techniques(c); t != nil {
			for len(rendered) <= int(c) {
				rendered = append(rendered, "")
			}
			rendered[c] = string(appendOCSFAttacks(nil, t))
		}
	}
	return rendered
}()

// ocsfAttacksOf is the finding_info.attacks of category c, "" for none.
func ocsfAttacksOf(c etl.Class) string {
	if int(c) < len(ocsfAttacks) {
		return ocsfAttacks[c]
	}
	return ""
}

// appendOCSFAttacks writes finding_info.attacks: OCSF 1.3.0 attack objects
// (tactic, technique, version; no sub-technique: the categories are too
// coarse to name one).
func appendOCSFAttacks(dst []byte, techniques []Technique) []byte {
	dst = append(dst, '[')
	for i, t := range techniques {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"tactic":{"uid":"`...)
		dst = append(dst, t.TacticID...)
		dst = append(dst, `","name":"`...)
		dst = append(dst, t.TacticName...)
		dst = append(dst, `"},"technique":{"uid":"`...)
		dst = append(dst, t.ID...)
		dst = append(dst, `","name":"`...)
		dst = append(dst, t.Name...)
		dst = append(dst, `"},"version":"`+ATTACKVersion+`"}`...)
	}
	return append(dst, ']')
}

// appendOCSFEndpoint writes a network_endpoint object.
func appendOCSFEndpoint(dst []byte, name string, c *connlog.Conn, orig bool) []byte {
	addr, port := c.RespAddr, c.RespPort
	if orig {
		addr, port = c.OrigAddr, c.OrigPort
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":{"ip":"`...)
	dst = addr.AppendTo(dst)
	dst = append(dst, `","port":`...)
	dst = strconv.AppendUint(dst, uint64(port), 10)
	return append(dst, '}')
}

// appendOCSFConnection writes the evidence's src_endpoint, dst_endpoint and
// connection_info (network_connection_info). direction_id is required there
// in OCSF 1.3.0: 0 Unknown for Zeek and NSL-KDD, which do not say which side
// is inside the network; a flow log's flow-direction is relative to the
// interface that logged it, not to the network, so it is 99 Other with the
// log's value ("ingress", "egress") as direction.
func appendOCSFConnection(dst []byte, c *connlog.Conn) []byte {
	if c.OrigAddr.IsValid() {
		dst = appendOCSFEndpoint(dst, "src_endpoint", c, true)
	}
	if c.RespAddr.IsValid() {
		dst = appendOCSFEndpoint(dst, "dst_endpoint", c, false)
	}
	if c.UID == "" && c.Proto == "" && c.Direction == "" && !c.OrigAddr.IsValid() && !c.RespAddr.IsValid() {
		return dst
	}
	if c.Direction == "" {
		dst = append(dst, `,"connection_info":{"direction_id":0,"direction":"Unknown"`...)
	} else {
		dst = append(dst, `,"connection_info":{"direction_id":99,"direction":"`...)
		dst = appendEscaped(dst, c.Direction)
		dst = append(dst, '"')
	}
	if c.UID != "" {
		dst = append(dst, `,"uid":"`...)
		dst = appendEscaped(dst, c.UID)
		dst = append(dst, '"')
	}
	v6 := isIPv6(c.OrigAddr) || isIPv6(c.RespAddr)
	if c.Proto != "" {
		name, num, ok := ianaProtocol(c.Proto, v6)
		if name != "" {
			dst = append(dst, `,"protocol_name":"`...)
			dst = appendEscaped(dst, name)
			dst = append(dst, '"')
		}
		if ok {
			dst = append(dst, `,"protocol_num":`...)
			dst = strconv.AppendInt(dst, int64(num), 10)
		}
	}
	switch {
	case v6:
		dst = append(dst, `,"protocol_ver_id":6,"protocol_ver":"Internet Protocol version 6 (IPv6)"`...)
	case c.OrigAddr.IsValid() || c.RespAddr.IsValid():
		dst = append(dst, `,"protocol_ver_id":4,"protocol_ver":"Internet Protocol version 4 (IPv4)"`...)
	}
	return append(dst, '}')
}

func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// ianaProtocol gives OCSF's protocol_name (the IANA keyword in lower case)
// and protocol_num for a transport as connlog names it. Zeek logs ICMPv6 as
// icmp: over IPv6 it is ipv6-icmp, 58. A flow log's transport without a
// name is its number: protocol_num only. Any other name is kept, without a
// number.
func ianaProtocol(proto string, v6 bool) (name string, num int, ok bool) {
	switch proto {
	case "tcp":
		return proto, 6, true
	case "udp":
		return proto, 17, true
	case "icmp":
		if v6 {
			return "ipv6-icmp", 58, true
		}
		return proto, 1, true
	}
	if n, err := strconv.ParseUint(proto, 10, 8); err == nil {
		return "", int(n), true
	}
	return proto, 0, false
}

// appendOCSFObservables writes the finding's observables: the addresses,
// so a SIEM can pivot on them.
func appendOCSFObservables(dst []byte, c *connlog.Conn) []byte {
	dst = append(dst, `,"observables":[`...)
	n := 0
	for _, o := range []struct {
		name string
		orig bool
	}{{"evidences[0].src_endpoint.ip", true}, {"evidences[0].dst_endpoint.ip", false}} {
		addr := c.RespAddr
		if o.orig {
			addr = c.OrigAddr
		}
		if !addr.IsValid() {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"name":"`...)
		dst = append(dst, o.name...)
		dst = append(dst, `","type_id":2,"type":"IP Address","value":"`...)
		dst = addr.AppendTo(dst)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}
