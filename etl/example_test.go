package etl_test

import (
	"errors"
	"fmt"

	"github.com/sagewall/sagewall/etl"
)

func ExampleEncoder_Encode() {
	enc := etl.NewEncoder(etl.DefaultSpec())
	var rec etl.Record
	row := make([]float32, etl.Width)
	lines := []string{
		"0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19",
		"0,tcp,private,XX,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00",
	}
	for i, line := range lines {
		if err := enc.Encode([]byte(line), &rec, row); err != nil {
			fmt.Println(etl.LineError{Line: i + 1, Err: err}, errors.Is(err, etl.ErrUnknownValue))
			continue
		}
		class, _ := etl.ClassOfLabel(rec.Label)
		fmt.Println(rec.Format, rec.ProtocolType, rec.Service, rec.Flag, rec.Label, class, row[19], row[39]) // count, protocol_type_tcp
	}
	// Output:
	// csv tcp private S0 neptune dos 123 1
	// line 2: field "flag": value "XX": unknown flag true
}

func ExampleSpec_ColumnNames() {
	names := etl.DefaultSpec().ColumnNames()
	fmt.Println(len(names), names[0], names[38], names[41], names[120])
	// Output: 122 duration protocol_type_icmp service_IRC flag_SF
}

func ExampleRecord_AppendJSONFields() {
	enc := etl.NewEncoder(nil)
	var rec etl.Record
	row := make([]float32, etl.Width)
	line := `{"duration":0,"protocol_type":"udp","service":"domain_u","flag":"SF","src_bytes":"45","dst_bytes":44,` +
		`"land":0,"wrong_fragment":0,"urgent":0,"hot":0,"num_failed_logins":0,"logged_in":0,"num_compromised":0,` +
		`"root_shell":0,"su_attempted":0,"num_root":0,"num_file_creations":0,"num_shells":0,"num_access_files":0,` +
		`"num_outbound_cmds":0,"is_host_login":0,"is_guest_login":0,"count":1,"srv_count":1,"serror_rate":0,` +
		`"srv_serror_rate":0,"rerror_rate":0,"srv_rerror_rate":0,"same_srv_rate":1,"diff_srv_rate":0,` +
		`"srv_diff_host_rate":0,"dst_host_count":255,"dst_host_srv_count":254,"dst_host_same_srv_rate":1,` +
		`"dst_host_diff_srv_rate":0.01,"dst_host_same_src_port_rate":0,"dst_host_srv_diff_host_rate":0,` +
		`"dst_host_serror_rate":0,"dst_host_srv_serror_rate":0,"dst_host_rerror_rate":0,"dst_host_srv_rerror_rate":0}`
	if err := enc.Encode([]byte(line), &rec, row); err != nil {
		fmt.Println(err)
		return
	}
	out := rec.AppendJSONFields([]byte(`{"verdict":"normal",`))
	fmt.Println(string(out[:120]) + "...")
	// Output: {"verdict":"normal","duration":0,"protocol_type":"udp","service":"domain_u","flag":"SF","src_bytes":45,"dst_bytes":44,"l...
}
