package sinks

import (
	"strconv"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
)

// namesConnection reports whether c names anything a verdict can show.
func namesConnection(c *connlog.Conn) bool {
	return c.OrigAddr.IsValid() || c.RespAddr.IsValid() || !c.Start.IsZero() || c.UID != "" ||
		c.Sensor != "" || c.Proto != "" || len(c.Extra) > 0 || c.Label != ""
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
		dst = c.Start.UTC().AppendFormat(dst, time.RFC3339Nano)
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

// Techniques maps an attack category to the ATT&CK techniques an analyst
// should look at; nil for normal traffic. NSL-KDD's categories are coarse,
// so each maps to the techniques its attacks are instances of: probe
// (ipsweep, portsweep, nmap, satan) is service discovery; dos (neptune,
// smurf, teardrop, back) floods the network or the endpoint; r2l
// (guess_passwd, ftp_write, imap, phf, warezmaster) guesses passwords or
// exploits a public service; u2r (buffer_overflow, rootkit, perl,
// loadmodule) escalates privileges.
func Techniques(c etl.Class) []Technique {
	switch c {
	case etl.Probe:
		return []Technique{{"T1046", "Network Service Discovery", "TA0007", "Discovery"}}
	case etl.DoS:
		return []Technique{
			{"T1498", "Network Denial of Service", "TA0040", "Impact"},
			{"T1499", "Endpoint Denial of Service", "TA0040", "Impact"},
		}
	case etl.R2L:
		return []Technique{
			{"T1110", "Brute Force", "TA0006", "Credential Access"},
			{"T1190", "Exploit Public-Facing Application", "TA0001", "Initial Access"},
		}
	case etl.U2R:
		return []Technique{{"T1068", "Exploitation for Privilege Escalation", "TA0004", "Privilege Escalation"}}
	}
	return nil
}

// appendOCSFAttacks writes finding_info.attacks: OCSF attack objects.
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
		dst = append(dst, `"}}`...)
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
// connection_info (network_connection_info; direction is unknown to a
// connection log, and direction_id is required).
func appendOCSFConnection(dst []byte, c *connlog.Conn) []byte {
	if c.OrigAddr.IsValid() {
		dst = appendOCSFEndpoint(dst, "src_endpoint", c, true)
	}
	if c.RespAddr.IsValid() {
		dst = appendOCSFEndpoint(dst, "dst_endpoint", c, false)
	}
	if c.UID == "" && c.Proto == "" {
		return dst
	}
	dst = append(dst, `,"connection_info":{"direction_id":0,"direction":"Unknown"`...)
	if c.UID != "" {
		dst = append(dst, `,"uid":"`...)
		dst = appendEscaped(dst, c.UID)
		dst = append(dst, '"')
	}
	if c.Proto != "" {
		dst = append(dst, `,"protocol_name":"`...)
		dst = appendEscaped(dst, c.Proto)
		dst = append(dst, '"')
		if num, ok := ianaProtocol(c.Proto); ok {
			dst = append(dst, `,"protocol_num":`...)
			dst = strconv.AppendInt(dst, int64(num), 10)
		}
	}
	return append(dst, '}')
}

func ianaProtocol(name string) (int, bool) {
	switch name {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	}
	return 0, false
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
