package features

import (
	"slices"
	"testing"

	"github.com/sagewall/sagewall/etl"
)

func TestServicesAreTheVocabulary(t *testing.T) {
	spec := etl.DefaultSpec()
	if !slices.Equal(services[:], spec.Service) {
		t.Fatalf("services differ from etl.DefaultSpec().Service")
	}
	check := func(table string, s service) {
		if int(s) >= numServices {
			t.Errorf("%s: service index %d out of range", table, s)
		}
	}
	for _, s := range tcpPorts {
		check("tcpPorts", s)
	}
	for _, s := range udpPorts {
		check("udpPorts", s)
	}
	for _, s := range zeekServices {
		check("zeekServices", s)
	}
}

func TestFlagTable(t *testing.T) {
	tests := []struct {
		state, flag string
		class       flagClass
	}{
		{"S0", "S0", classSError}, {"S1", "S1", classSError}, {"S2", "S2", classSError}, {"S3", "S3", classSError},
		{"SF", "SF", classOK}, {"REJ", "REJ", classRError},
		{"RSTO", "RSTO", classOK}, {"RSTR", "RSTR", classOK}, {"RSTOS0", "RSTOS0", classOK},
		{"RSTRH", "RSTR", classOK}, {"SH", "SH", classOK}, {"SHR", "SH", classOK}, {"OTH", "OTH", classOK},
		{"sf", "SF", classOK}, {"rej", "REJ", classRError},
		{"", "OTH", classOK}, {"-", "OTH", classOK}, {"BOGUS", "OTH", classOK}, {"averyverylongstate", "OTH", classOK},
	}
	reached := map[string]bool{}
	for _, tt := range tests {
		f := flagOf(tt.state)
		if f.name != tt.flag || f.class != tt.class {
			t.Errorf("flagOf(%q) = %v, want %s class %d", tt.state, f, tt.flag, tt.class)
		}
		reached[f.name] = true
	}
	for _, want := range etl.DefaultSpec().Flag {
		if !reached[want] {
			t.Errorf("KDD flag %s is not reachable", want)
		}
	}
	for _, f := range flags {
		if _, ok := slices.BinarySearch(etl.DefaultSpec().Flag, f.name); !ok {
			t.Errorf("flag %s is not in the vocabulary", f.name)
		}
	}
}

func TestResolveService(t *testing.T) {
	tests := []struct {
		name       string
		proto      string
		zeek       string
		orig, resp uint16
		want       string
	}{
		{"http by zeek", "tcp", "http", 40000, 8081, "http"},
		{"http on 8001", "tcp", "http", 40000, 8001, "http_8001"},
		{"http on 2784", "tcp", "http", 40000, 2784, "http_2784"},
		{"http by port 8080", "tcp", "", 40000, 8080, "http"},
		{"ssl on 443 is https: http", "tcp", "ssl", 40000, 443, "http"},
		{"ssl on 8443 is https", "tcp", "ssl", 40000, 8443, "http"},
		{"port 443 alone", "tcp", "", 40000, 443, "http"},
		{"http on 443", "tcp", "http", 40000, 443, "http"},
		{"ssl on imaps", "tcp", "ssl", 40000, 993, "imap4"},
		{"first recognised of a list", "tcp", "gssapi,smb", 40000, 445, "netbios_ssn"},
		{"list with ssl first", "tcp", "ssl,http", 40000, 443, "http"},
		{"upper case zeek", "tcp", "SSH", 40000, 2222, "ssh"},
		{"dns tcp", "tcp", "dns", 40000, 53, "domain"},
		{"dns udp", "udp", "dns", 40000, 53, "domain_u"},
		{"udp 53 by port", "udp", "", 40000, 53, "domain_u"},
		{"ntp", "udp", "", 123, 123, "ntp_u"},
		{"tftp", "udp", "", 40000, 69, "tftp_u"},
		{"snmp is private", "udp", "snmp", 40000, 161, "private"},
		{"ftp data", "tcp", "", 20, 20, "ftp_data"},
		{"ftp-data zeek", "tcp", "ftp-data", 40000, 40001, "ftp_data"},
		{"IRC", "tcp", "", 40000, 6667, "IRC"},
		{"X11 display 0", "tcp", "", 40000, 6000, "X11"},
		{"X11 display 63", "tcp", "", 40000, 6063, "X11"},
		{"6064 is private", "tcp", "", 40000, 6064, "private"},
		{"finger", "tcp", "", 40000, 79, "finger"},
		{"telnet", "tcp", "", 40000, 23, "telnet"},
		{"rlogin zeek", "tcp", "rlogin", 1023, 513, "login"},
		{"shell", "tcp", "", 1022, 514, "shell"},
		{"exec", "tcp", "", 1022, 512, "exec"},
		{"printer", "tcp", "", 1022, 515, "printer"},
		{"uucp", "tcp", "", 1022, 540, "uucp"},
		{"klogin", "tcp", "", 1022, 543, "klogin"},
		{"kshell", "tcp", "", 1022, 544, "kshell"},
		{"sunrpc", "udp", "", 1022, 111, "sunrpc"},
		{"ldap", "tcp", "", 40000, 389, "ldap"},
		{"pop3", "tcp", "", 40000, 110, "pop_3"},
		{"imap", "tcp", "", 40000, 143, "imap4"},
		{"netbios ns", "udp", "", 137, 137, "netbios_ns"},
		{"netbios dgm", "udp", "", 138, 138, "netbios_dgm"},
		{"netbios ssn", "tcp", "", 40000, 139, "netbios_ssn"},
		{"unknown low port", "tcp", "", 40000, 1000, "other"},
		{"unknown high port", "tcp", "", 40000, 31337, "private"},
		{"zeek service without KDD name", "tcp", "mysql", 40000, 3306, "other"},
		{"zeek unset", "tcp", "-", 40000, 31337, "private"},
		{"icmp echo request", "icmp", "", 8, 0, "eco_i"},
		{"icmp echo reply", "icmp", "", 0, 0, "ecr_i"},
		{"icmp port unreachable", "icmp", "", 3, 3, "urp_i"},
		{"icmp host unreachable", "icmp", "", 3, 1, "urh_i"},
		{"icmp redirect", "icmp", "", 5, 1, "red_i"},
		{"icmp timestamp", "icmp", "", 13, 0, "tim_i"},
		{"icmp timestamp reply", "icmp", "", 14, 0, "tim_i"},
		{"icmp time exceeded", "icmp", "", 11, 0, "other"},
		{"icmpv6 echo", "icmp6", "", 8, 0, "eco_i"},
		{"other transport", "sctp", "", 40000, 80, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := services[resolveService(protoOf(tt.proto), tt.zeek, tt.orig, tt.resp)]
			if got != tt.want {
				t.Errorf("service = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestServicePortsCover lists the KDD services no rule produces: their
// port is not known.
func TestServicePortsCover(t *testing.T) {
	reached := map[string]bool{"other": true, "private": true}
	for _, s := range tcpPorts {
		reached[services[s]] = true
	}
	for _, s := range udpPorts {
		reached[services[s]] = true
	}
	for _, s := range zeekServices {
		reached[services[s]] = true
	}
	for _, typ := range []uint16{0, 3, 5, 8, 13} {
		for _, code := range []uint16{0, 1, 3} {
			reached[services[icmpService(typ, code)]] = true
		}
	}
	for _, s := range []service{svcHTTP8001, svcHTTP2784, svcDomainU, svcX11} {
		reached[services[s]] = true
	}
	var unreached []string
	for _, s := range services {
		if !reached[s] {
			unreached = append(unreached, s)
		}
	}
	// Documented in doc.go: no port is known for harvest and pm_dump, and
	// HTTPS is http, not http_443.
	if want := []string{"harvest", "http_443", "pm_dump"}; !slices.Equal(unreached, want) {
		t.Errorf("services no rule reaches = %v, want %v", unreached, want)
	}
}
