package etl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Spec is the feature layout fixed at training time and saved beside the
// model as JSON: the numeric features, then one one-hot block per
// categorical feature, in the order of its vocabulary.
type Spec struct {
	Numeric      []string `json:"numeric"`       // the 38 numeric feature names, in file order
	ProtocolType []string `json:"protocol_type"` // sorted vocabulary
	Service      []string `json:"service"`       // sorted vocabulary; must contain "other"
	Flag         []string `json:"flag"`          // sorted vocabulary
}

// unknownService is the service an unknown input service is encoded as.
const unknownService = "other"

// DefaultSpec returns the KDDTrain+ layout (a fresh copy): the vocabularies
// are the distinct values of KDDTrain+ sorted byte-wise, as pandas
// get_dummies orders its columns.
func DefaultSpec() *Spec {
	return &Spec{
		Numeric:      numericNames(),
		ProtocolType: []string{"icmp", "tcp", "udp"},
		Service: []string{
			"IRC", "X11", "Z39_50", "aol", "auth", "bgp", "courier", "csnet_ns", "ctf", "daytime",
			"discard", "domain", "domain_u", "echo", "eco_i", "ecr_i", "efs", "exec", "finger", "ftp",
			"ftp_data", "gopher", "harvest", "hostnames", "http", "http_2784", "http_443", "http_8001", "imap4", "iso_tsap",
			"klogin", "kshell", "ldap", "link", "login", "mtp", "name", "netbios_dgm", "netbios_ns", "netbios_ssn",
			"netstat", "nnsp", "nntp", "ntp_u", "other", "pm_dump", "pop_2", "pop_3", "printer", "private",
			"red_i", "remote_job", "rje", "shell", "smtp", "sql_net", "ssh", "sunrpc", "supdup", "systat",
			"telnet", "tftp_u", "tim_i", "time", "urh_i", "urp_i", "uucp", "uucp_path", "vmnet", "whois",
		},
		Flag: []string{"OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH"},
	}
}

// ReadSpec decodes a JSON Spec and validates it.
func ReadSpec(r io.Reader) (*Spec, error) {
	var s Spec
	dec := json.NewDecoder(r)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding feature spec: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding feature spec: trailing data after the JSON object")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks that the spec has the 38 numeric features in file order
// and non-empty, strictly sorted vocabularies, with "other" among the
// services (unknown services are encoded as "other").
func (s *Spec) Validate() error {
	if !slices.Equal(s.Numeric, numericNames()) {
		return fmt.Errorf("validating feature spec: numeric must be the %d numeric NSL-KDD features in file order", NumNumeric)
	}
	for _, v := range []struct {
		name  string
		vocab []string
	}{{"protocol_type", s.ProtocolType}, {"service", s.Service}, {"flag", s.Flag}} {
		if len(v.vocab) == 0 {
			return fmt.Errorf("validating feature spec: %s: empty vocabulary", v.name)
		}
		for i, w := range v.vocab {
			if w == "" {
				return fmt.Errorf("validating feature spec: %s: empty value at %d", v.name, i)
			}
			if i > 0 && v.vocab[i-1] >= w {
				return fmt.Errorf("validating feature spec: %s: %q and %q are not strictly sorted", v.name, v.vocab[i-1], w)
			}
		}
	}
	if _, found := slices.BinarySearch(s.Service, unknownService); !found {
		return fmt.Errorf("validating feature spec: service: vocabulary lacks %q", unknownService)
	}
	return nil
}

// Width is the length of the feature vector: the numeric features plus one
// column per vocabulary value.
func (s *Spec) Width() int {
	return len(s.Numeric) + len(s.ProtocolType) + len(s.Service) + len(s.Flag)
}

// ColumnNames returns the Width() column names, pandas get_dummies style:
// "duration", ..., "protocol_type_icmp", ..., "service_aol", ..., "flag_SF".
func (s *Spec) ColumnNames() []string {
	names := make([]string, 0, s.Width())
	names = append(names, s.Numeric...)
	for _, v := range s.ProtocolType {
		names = append(names, "protocol_type_"+v)
	}
	for _, v := range s.Service {
		names = append(names, "service_"+v)
	}
	for _, v := range s.Flag {
		names = append(names, "flag_"+v)
	}
	return names
}
