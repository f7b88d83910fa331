package etl

import "strings"

const (
	// NumFields is the number of NSL-KDD connection features.
	NumFields = 41
	// NumNumeric is the number of numeric features (all but protocol_type,
	// service and flag), in file order.
	NumNumeric = 38
	// Width is the width of the default (KDDTrain+) feature vector.
	Width = NumNumeric + 3 + 70 + 11
)

// Positions of the categorical features among the 41 fields.
const (
	fieldProtocolType = 1
	fieldService      = 2
	fieldFlag         = 3
)

// fieldList is the 41 feature names in file order, comma-separated: a
// constant, so hot paths read names from it without copying a table.
const fieldList = "duration,protocol_type,service,flag,src_bytes,dst_bytes,land,wrong_fragment,urgent,hot,num_failed_logins,logged_in,num_compromised,root_shell,su_attempted,num_root,num_file_creations,num_shells,num_access_files,num_outbound_cmds,is_host_login,is_guest_login,count,srv_count,serror_rate,srv_serror_rate,rerror_rate,srv_rerror_rate,same_srv_rate,diff_srv_rate,srv_diff_host_rate,dst_host_count,dst_host_srv_count,dst_host_same_srv_rate,dst_host_diff_srv_rate,dst_host_same_src_port_rate,dst_host_srv_diff_host_rate,dst_host_serror_rate,dst_host_srv_serror_rate,dst_host_rerror_rate,dst_host_srv_rerror_rate"

// FieldNames returns the 41 feature names in file order (a fresh slice).
func FieldNames() []string {
	return strings.Split(fieldList, ",")
}

// numericNames returns the 38 numeric feature names in file order.
func numericNames() []string {
	names := FieldNames()
	return append(names[:fieldProtocolType:fieldProtocolType], names[fieldFlag+1:]...)
}
