package scoring

import (
	"strings"

	"github.com/sagewall/sagewall/etl"
)

// Plain words for the NSL-KDD features, for analysts reading an
// explanation: one short phrase per feature family. The traffic features
// come in families that differ only by their window (count, serror_rate,
// ...: connections to the same host in the last 2 s; srv_*: to the same
// service in the last 2 s; dst_host_*: among the last 100 connections to
// the destination host; dst_host_srv_*: among the last 100 to its service),
// so a phrase is the family's words followed by the window's.

// Windows of the traffic features, by their name's prefix.
const (
	windowHost        = "among connections to the same host in the last 2 s"
	windowService     = "among connections to the same service in the last 2 s"
	windowDstHost     = "among the last 100 connections to this host"
	windowDstHostServ = "among the last 100 connections to this service"
)

// featurePhrase is the plain words for a numeric NSL-KDD feature, or the
// name itself for an unknown one.
func featurePhrase(name string) string {
	switch name {
	case "duration":
		return "connection length (s)"
	case "src_bytes":
		return "bytes sent"
	case "dst_bytes":
		return "bytes received"
	case "land":
		return "same source and destination address and port"
	case "wrong_fragment":
		return "wrong IP fragments"
	case "urgent":
		return "urgent packets"
	case "hot":
		return "\"hot\" actions in the session (system directories, program runs)"
	case "num_failed_logins":
		return "failed logins"
	case "logged_in":
		return "logged in"
	case "num_compromised":
		return "compromise conditions"
	case "root_shell":
		return "root shell obtained"
	case "su_attempted":
		return "su root attempted"
	case "num_root":
		return "operations as root"
	case "num_file_creations":
		return "files created"
	case "num_shells":
		return "shells started"
	case "num_access_files":
		return "operations on access-control files"
	case "num_outbound_cmds":
		return "outbound commands in an FTP session"
	case "is_host_login":
		return "login to a privileged account"
	case "is_guest_login":
		return "guest login"
	case "count":
		return "connections to the same host in the last 2 s"
	case "srv_count":
		return "connections to the same service in the last 2 s"
	case "dst_host_count":
		return "connections to this host among the last 100 connections"
	case "dst_host_srv_count":
		return "connections to this service among the last 100 connections"
	}
	for _, w := range []struct{ prefix, window string }{
		{"dst_host_srv_", windowDstHostServ},
		{"dst_host_", windowDstHost},
		{"srv_", windowService},
		{"", windowHost},
	} {
		if family, ok := strings.CutPrefix(name, w.prefix); ok {
			if words := familyPhrase(family); words != "" {
				return words + " " + w.window
			}
		}
	}
	return name
}

// familyPhrase is the plain words for a windowed family of rates, named
// without its window prefix; "" for none.
func familyPhrase(family string) string {
	switch family {
	case "serror_rate":
		return "SYN errors"
	case "rerror_rate":
		return "rejected connections"
	case "same_srv_rate":
		return "connections to the same service"
	case "diff_srv_rate":
		return "connections to different services"
	case "diff_host_rate":
		return "connections to different hosts"
	case "same_src_port_rate":
		return "connections from the same source port"
	}
	return ""
}

// flagPhrase says what a connection status (Bro/Zeek conn_state) means; ""
// for an unknown one.
func flagPhrase(flag string) string {
	switch flag {
	case "S0":
		return "connection attempts without reply"
	case "S1":
		return "connections established, not closed"
	case "S2":
		return "connections established, closed by the originator only"
	case "S3":
		return "connections established, closed by the responder only"
	case "SF":
		return "connections established and closed normally"
	case "REJ":
		return "connection attempts rejected"
	case "RSTO":
		return "connections reset by the originator"
	case "RSTR":
		return "connections reset by the responder"
	case "RSTOS0":
		return "SYNs followed by a reset, without reply"
	case "SH":
		return "SYNs followed by a FIN, without reply"
	case "OTH":
		return "traffic without a SYN (midstream)"
	}
	return ""
}

// categoricalPhrase is the plain words for a one-hot column: field
// (protocol_type, service or flag) equal to value.
func categoricalPhrase(field, value string) string {
	switch field {
	case "protocol_type":
		return "protocol " + value
	case "service":
		return "service " + value
	case "flag":
		if words := flagPhrase(value); words != "" {
			return words + " (flag " + value + ")"
		}
		return "flag " + value
	}
	return field + " " + value
}

// column names one feature column for explanations.
type column struct {
	feature string // "src_bytes", or "service=private" for a one-hot column
	why     string // plain words; for a one-hot column, when the row has it
	whyNot  string // for a one-hot column the row does not have ("not ...")
}

// specColumns names the spec's columns, in vector order.
func specColumns(spec *etl.Spec) []column {
	cols := make([]column, 0, spec.Width())
	for _, name := range spec.Numeric {
		words := featurePhrase(name)
		cols = append(cols, column{feature: name, why: words, whyNot: words})
	}
	for _, group := range []struct {
		field string
		vocab []string
	}{{"protocol_type", spec.ProtocolType}, {"service", spec.Service}, {"flag", spec.Flag}} {
		for _, value := range group.vocab {
			words := categoricalPhrase(group.field, value)
			cols = append(cols, column{feature: group.field + "=" + value, why: words, whyNot: "not " + words})
		}
	}
	return cols
}
