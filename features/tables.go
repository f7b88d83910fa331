package features

import "strings"

// The tables here are the only package-level data: immutable after
// initialisation, read by every Deriver.

// services is NSL-KDD's service vocabulary (etl.DefaultSpec().Service, the
// same 70 names in the same order); a service is kept as its index here so
// the per-service counters are arrays rather than maps.
var services = [...]string{
	"IRC", "X11", "Z39_50", "aol", "auth", "bgp", "courier", "csnet_ns", "ctf", "daytime",
	"discard", "domain", "domain_u", "echo", "eco_i", "ecr_i", "efs", "exec", "finger", "ftp",
	"ftp_data", "gopher", "harvest", "hostnames", "http", "http_2784", "http_443", "http_8001", "imap4", "iso_tsap",
	"klogin", "kshell", "ldap", "link", "login", "mtp", "name", "netbios_dgm", "netbios_ns", "netbios_ssn",
	"netstat", "nnsp", "nntp", "ntp_u", "other", "pm_dump", "pop_2", "pop_3", "printer", "private",
	"red_i", "remote_job", "rje", "shell", "smtp", "sql_net", "ssh", "sunrpc", "supdup", "systat",
	"telnet", "tftp_u", "tim_i", "time", "urh_i", "urp_i", "uucp", "uucp_path", "vmnet", "whois",
}

const numServices = len(services)

// service is an index into services.
type service uint8

// serviceIndex maps a service name to its index.
var serviceIndex = func() map[string]service {
	m := make(map[string]service, numServices)
	for i, s := range services {
		m[s] = service(i)
	}
	return m
}()

// svc returns the index of a name that must be in services (tables only).
func svc(name string) service {
	i, ok := serviceIndex[name]
	if !ok {
		panic("features: service " + name + " is not in the NSL-KDD vocabulary")
	}
	return i
}

// Services used by the resolution rules themselves.
var (
	svcOther    = svc("other")
	svcPrivate  = svc("private")
	svcHTTP     = svc("http")
	svcHTTP8001 = svc("http_8001")
	svcHTTP2784 = svc("http_2784")
	svcDomain   = svc("domain")
	svcDomainU  = svc("domain_u")
	svcX11      = svc("X11")
)

// tcpPorts maps a TCP responder port to its KDD service: the IANA
// assignment of each port KDD names (the DARPA'98 sensor named services by
// port), plus the TLS ports of KDD services (993 imaps → imap4, 443 https →
// http, ...), which a 1998 network hardly had but whose traffic is the same
// service today. KDD's own http_443 is not produced: all 530 of KDDTrain+'s
// http_443 rows are attacks (523 neptune), so a model reads it as "attack"
// whatever the connection did, and HTTPS is the commonest benign service now.
var tcpPorts = map[uint16]service{
	5: svc("rje"), 7: svc("echo"), 9: svc("discard"), 11: svc("systat"), 13: svc("daytime"),
	15: svc("netstat"), 20: svc("ftp_data"), 21: svc("ftp"), 22: svc("ssh"), 23: svc("telnet"),
	25: svc("smtp"), 37: svc("time"), 42: svc("name"), 43: svc("whois"), 53: svc("domain"),
	57: svc("mtp"), 70: svc("gopher"), 71: svc("remote_job"), 72: svc("remote_job"), 73: svc("remote_job"),
	74: svc("remote_job"), 79: svc("finger"), 80: svc("http"), 84: svc("ctf"), 95: svc("supdup"),
	101: svc("hostnames"), 102: svc("iso_tsap"), 105: svc("csnet_ns"), 109: svc("pop_2"), 110: svc("pop_3"),
	111: svc("sunrpc"), 113: svc("auth"), 117: svc("uucp_path"), 119: svc("nntp"), 137: svc("netbios_ns"),
	138: svc("netbios_dgm"), 139: svc("netbios_ssn"), 143: svc("imap4"), 150: svc("sql_net"), 175: svc("vmnet"),
	179: svc("bgp"), 210: svc("Z39_50"), 245: svc("link"), 389: svc("ldap"), 433: svc("nnsp"),
	443: svc("http"), 465: svc("smtp"), 512: svc("exec"), 513: svc("login"), 514: svc("shell"),
	515: svc("printer"), 520: svc("efs"), 530: svc("courier"), 540: svc("uucp"), 543: svc("klogin"),
	544: svc("kshell"), 563: svc("nntp"), 587: svc("smtp"), 636: svc("ldap"), 993: svc("imap4"),
	995: svc("pop_3"), 2784: svc("http_2784"), 5190: svc("aol"), 6667: svc("IRC"), 8001: svc("http_8001"),
	8080: svc("http"),
}

// X11's display ports, 6000 + display number.
const x11First, x11Last = 6000, 6063

// udpPorts maps a UDP responder port to its KDD service. SNMP (161, 162) is
// "private": NSL-KDD's UDP SNMP attacks (snmpgetattack, snmpguess) carry
// that service.
var udpPorts = map[uint16]service{
	53: svc("domain_u"), 69: svc("tftp_u"), 111: svc("sunrpc"), 123: svc("ntp_u"),
	137: svc("netbios_ns"), 138: svc("netbios_dgm"), 139: svc("netbios_ssn"),
	161: svc("private"), 162: svc("private"),
}

// zeekServices maps a Zeek service name (one item of conn.log's service
// list, lower case) to its KDD service. http, ssl and dns are resolved by
// zeekService, which needs the port or protocol. A Zeek service absent here
// is recognised by Zeek but has no KDD name (mysql, rdp, dhcp, ...).
var zeekServices = map[string]service{
	"ftp": svc("ftp"), "ftp-data": svc("ftp_data"), "ftp_data": svc("ftp_data"),
	"ssh": svc("ssh"), "smtp": svc("smtp"), "irc": svc("IRC"),
	"pop3": svc("pop_3"), "imap": svc("imap4"),
	"ldap": svc("ldap"), "ldap_tcp": svc("ldap"), "ldap_udp": svc("ldap"),
	"ntp": svc("ntp_u"), "finger": svc("finger"), "telnet": svc("telnet"),
	"rlogin": svc("login"), "rsh": svc("shell"), "ident": svc("auth"),
	"smb": svc("netbios_ssn"), "netbios-ssn": svc("netbios_ssn"), "nb": svc("netbios_ssn"),
	"netbios-ns": svc("netbios_ns"), "netbios-dgm": svc("netbios_dgm"),
	"portmapper": svc("sunrpc"), "sunrpc": svc("sunrpc"), "nntp": svc("nntp"),
	"tftp": svc("tftp_u"), "bgp": svc("bgp"), "gopher": svc("gopher"), "whois": svc("whois"),
	"x11": svc("X11"),
}

// resolveService names a connection's KDD service (see doc.go, Service):
// ICMP by type and code; otherwise the first item of Zeek's service list
// that has a KDD name, then the responder port, then "other" for a service
// Zeek recognised without a KDD name or a port below 1024, and "private"
// for an unassigned port from 1024 up.
func resolveService(p proto, zeek string, origPort, respPort uint16) service {
	switch p {
	case protoICMP:
		return icmpService(origPort, respPort)
	case protoOther:
		return svcOther
	}
	named := false
	for zeek != "" {
		item, rest, _ := strings.Cut(zeek, ",")
		zeek = rest
		item = strings.TrimSpace(item)
		if item == "" || item == "-" || item == "(empty)" {
			continue
		}
		named = true
		if s, ok := zeekService(item, p, respPort); ok {
			return s
		}
	}
	if s, ok := portService(p, respPort); ok {
		return s
	}
	if named || respPort < 1024 {
		return svcOther
	}
	return svcPrivate
}

// zeekService resolves one Zeek service name.
func zeekService(item string, p proto, port uint16) (service, bool) {
	var buf [24]byte
	if len(item) > len(buf) {
		return 0, false
	}
	// Lower-case into a stack buffer: Zeek writes lower case, other
	// producers may not, and m[string(b)] does not allocate.
	n := copy(buf[:], item)
	for i := range n {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	name := buf[:n]
	switch string(name) {
	case "http":
		switch port {
		case 8001:
			return svcHTTP8001, true
		case 2784:
			return svcHTTP2784, true
		}
		return svcHTTP, true
	case "ssl", "tls":
		// TLS on a KDD service's port is that service (imaps → imap4);
		// anywhere else it is taken for HTTPS, that is http (see tcpPorts).
		if s, ok := tcpPorts[port]; ok {
			return s, true
		}
		return svcHTTP, true
	case "dns":
		if p == protoTCP {
			return svcDomain, true
		}
		return svcDomainU, true
	}
	s, ok := zeekServices[string(name)]
	return s, ok
}

// portService resolves a TCP or UDP responder port.
func portService(p proto, port uint16) (service, bool) {
	if p == protoTCP {
		if port >= x11First && port <= x11Last {
			return svcX11, true
		}
		s, ok := tcpPorts[port]
		return s, ok
	}
	s, ok := udpPorts[port]
	return s, ok
}

// icmpService names an ICMP connection by the type Zeek logs as the
// originator port and the code it logs as the responder port.
func icmpService(typ, code uint16) service {
	switch typ {
	case 8: // echo request
		return svc("eco_i")
	case 0: // echo reply
		return svc("ecr_i")
	case 3: // destination unreachable: port unreachable, else host (or net) unreachable
		if code == 3 {
			return svc("urp_i")
		}
		return svc("urh_i")
	case 5: // redirect
		return svc("red_i")
	case 13, 14: // timestamp request, reply
		return svc("tim_i")
	}
	// KDD'99's oth_i is not in NSL-KDD's vocabulary.
	return svcOther
}

// proto is a connection's transport as KDD knows it.
type proto uint8

const (
	protoTCP proto = iota
	protoUDP
	protoICMP
	protoOther // not tcp, udp or icmp: the record keeps the name as logged
)

// protoOf classifies a logged transport; ICMPv6 is ICMP.
func protoOf(s string) proto {
	switch s {
	case "tcp", "TCP":
		return protoTCP
	case "udp", "UDP":
		return protoUDP
	case "icmp", "ICMP", "icmp6", "icmpv6", "ipv6-icmp", "ICMPv6":
		return protoICMP
	}
	return protoOther
}

// protoNames are the etl vocabulary strings of protoTCP, protoUDP, protoICMP.
var protoNames = [...]string{protoTCP: "tcp", protoUDP: "udp", protoICMP: "icmp"}

// flagClass is what the traffic features count of a flag.
type flagClass uint8

const (
	classOK     flagClass = iota
	classSError           // "SYN error": S0, S1, S2, S3
	classRError           // "REJ error": REJ
)

// kddFlag is one of KDD's 11 flags with its error class.
type kddFlag struct {
	name  string
	class flagClass
}

// flags maps Zeek's 13 conn_state values to KDD's 11 flags. KDD's flags are
// the Bro states of 1998; Zeek later added RSTRH and SHR, the mirror images
// (seen from a responder whose originator's SYN was never seen) of RSTR and
// SH, and they map to those. VPC-derived states arrive as these names.
var flags = map[string]kddFlag{
	"S0": {"S0", classSError}, "S1": {"S1", classSError}, "S2": {"S2", classSError}, "S3": {"S3", classSError},
	"SF": {"SF", classOK}, "REJ": {"REJ", classRError},
	"RSTO": {"RSTO", classOK}, "RSTR": {"RSTR", classOK}, "RSTOS0": {"RSTOS0", classOK},
	"SH": {"SH", classOK}, "OTH": {"OTH", classOK},
	"RSTRH": {"RSTR", classOK}, // responder SYN-ACK then RST, no SYN seen: the responder aborted, as in RSTR
	"SHR":   {"SH", classOK},   // responder SYN-ACK then FIN, no SYN seen: half-open and closed, as in SH
}

// flagOf maps a conn_state; an empty or unknown state is OTH, Zeek's own
// "none of the above".
func flagOf(state string) kddFlag {
	if f, ok := flags[state]; ok {
		return f
	}
	var buf [8]byte
	if len(state) <= len(buf) {
		n := copy(buf[:], state)
		for i := range n {
			if c := buf[i]; 'a' <= c && c <= 'z' {
				buf[i] = c - ('a' - 'A')
			}
		}
		if f, ok := flags[string(buf[:n])]; ok {
			return f
		}
	}
	return flags["OTH"]
}
