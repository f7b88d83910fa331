package connlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
)

func TestParseCaptures(t *testing.T) {
	want := map[string]int{ // data lines of each capture
		"android-mischief-rat01.conn.log.gz":                                  361,
		"core.cisco-fabric-path.conn.log.gz":                                  64,
		"core.tunnels.teredo.conn.log.gz":                                     21,
		"ctu-malware-230-1-njrat.conn.log.labeled.gz":                         992,
		"ctu-normal-40-day1.conn.log.labeled.gz":                              5663,
		"scripts.base.frameworks.logging.field-extension-complex.conn.log.gz": 34,
		"scripts.base.frameworks.logging.field-name-map.conn.log.gz":          34,
		"scripts.base.protocols.ftp.ftp-ipv6.conn.log.gz":                     6,
		"scripts.base.protocols.ssh.basic.conn.log.gz":                        25,
	}
	names := captureNames(t)
	if len(names) != len(want) {
		t.Errorf("%d captures, want %d: %v", len(names), len(want), names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, in := range []connlog.Input{connlog.Auto, connlog.Zeek} {
				conns := parseAll(t, connlog.NewParser(in), captureLines(t, name))
				if len(conns) != want[name] {
					t.Errorf("input %v: %d connections, want %d", in, len(conns), want[name])
				}
				for _, c := range conns {
					if c.Format != connlog.ZeekTSV || !c.OrigAddr.IsValid() || !c.RespAddr.IsValid() || c.Proto == "" || c.TCPFlags != -1 {
						t.Fatalf("incomplete %+v", c)
					}
				}
			}
		})
	}
}

// TestParseCapturesHandChecked compares lines read by eye with what Parse
// makes of them, field by field.
func TestParseCapturesHandChecked(t *testing.T) {
	tests := []struct {
		capture string
		index   int // among the data lines
		want    connlog.Conn
	}{{
		capture: "ctu-normal-40-day1.conn.log.labeled.gz",
		// 1655071198.444458 CHLXQF2OBY4onAR0Ug 147.32.81.167 62771 40.74.108.123 443 tcp ssl 1.135424 1596 4039 SF T F 5138 ShADdaFf 14 1016 16 1226 (empty) Benign Microsoft
		want: connlog.Conn{
			Format: connlog.ZeekTSV, Start: unix(1655071198, 444458000), UID: "CHLXQF2OBY4onAR0Ug",
			OrigAddr: addr("147.32.81.167"), OrigPort: 62771, RespAddr: addr("40.74.108.123"), RespPort: 443,
			Proto: "tcp", Service: "ssl", Duration: 1135424 * time.Microsecond, OrigBytes: 1596, RespBytes: 4039,
			State: "SF", MissedBytes: 5138, History: "ShADdaFf", OrigPkts: 14, OrigIPBytes: 1016, RespPkts: 16, RespIPBytes: 1226,
			Extra: []connlog.Field{{"local_orig", "T"}, {"local_resp", "F"}, {"tunnel_parents", ""}},
			Label: "Benign", DetailLbl: "Microsoft", TCPFlags: -1,
		},
	}, {
		capture: "ctu-normal-40-day1.conn.log.labeled.gz", index: 1,
		// 1655071231.749548 CEL3aLvvNGvO6Ecoa 193.201.9.232 46563 147.32.81.167 3933 tcp - 0.000010 0 0 S0 F T 0 S 2 80 0 0 (empty) Malicious External-Attack-to-Device
		want: connlog.Conn{
			Format: connlog.ZeekTSV, Start: unix(1655071231, 749548000), UID: "CEL3aLvvNGvO6Ecoa",
			OrigAddr: addr("193.201.9.232"), OrigPort: 46563, RespAddr: addr("147.32.81.167"), RespPort: 3933,
			Proto: "tcp", Duration: 10 * time.Microsecond, State: "S0", History: "S", OrigPkts: 2, OrigIPBytes: 80,
			Extra: []connlog.Field{{"local_orig", "F"}, {"local_resp", "T"}, {"tunnel_parents", ""}},
			Label: "Malicious", DetailLbl: "External-Attack-to-Device", TCPFlags: -1,
		},
	}, {
		capture: "ctu-malware-230-1-njrat.conn.log.labeled.gz",
		// 19.981745 C91Ycq25p2quMWzEMk fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8 56464 fd2d:ab8c:225::1 53 udp dns 0.136721 34 50 SF F F 0 Dd 1 82 1 98 (empty) Background (empty)
		want: connlog.Conn{
			Format: connlog.ZeekTSV, Start: unix(19, 981745000), UID: "C91Ycq25p2quMWzEMk",
			OrigAddr: addr("fd2d:ab8c:225:0:81d3:fd3e:7f62:aec8"), OrigPort: 56464, RespAddr: addr("fd2d:ab8c:225::1"), RespPort: 53,
			Proto: "udp", Service: "dns", Duration: 136721 * time.Microsecond, OrigBytes: 34, RespBytes: 50, State: "SF",
			History: "Dd", OrigPkts: 1, OrigIPBytes: 82, RespPkts: 1, RespIPBytes: 98,
			Extra: []connlog.Field{{"local_orig", "F"}, {"local_resp", "F"}, {"tunnel_parents", ""}},
			Label: "Background", TCPFlags: -1,
		},
	}, {
		capture: "android-mischief-rat01.conn.log.gz", index: 1,
		// 1596790183.031212 CjZbi34n4DciH8lAec 10.8.0.61 44297 157.240.23.25 443 tcp - 0.257309 0 0 RSTO - - 0 ShR 2 100 1 60 -
		want: connlog.Conn{
			Format: connlog.ZeekTSV, Start: unix(1596790183, 31212000), UID: "CjZbi34n4DciH8lAec",
			OrigAddr: addr("10.8.0.61"), OrigPort: 44297, RespAddr: addr("157.240.23.25"), RespPort: 443,
			Proto: "tcp", Duration: 257309 * time.Microsecond, State: "RSTO", History: "ShR",
			OrigPkts: 2, OrigIPBytes: 100, RespPkts: 1, RespIPBytes: 60, TCPFlags: -1,
		},
	}, {
		// Renamed fields (Zeek's field-name-map test): src, src_port, dst, dst_port.
		capture: "scripts.base.frameworks.logging.field-name-map.conn.log.gz", index: 1,
		// XXXXXXXXXX.XXXXXX C0LAHyvtKSQHyJxIl 141.142.220.118 32902 141.142.2.2 53 udp - 0.000317 38 89 SF F F 0 Dd 1 66 1 117 - 17
		want: connlog.Conn{
			Format: connlog.ZeekTSV, UID: "C0LAHyvtKSQHyJxIl",
			OrigAddr: addr("141.142.220.118"), OrigPort: 32902, RespAddr: addr("141.142.2.2"), RespPort: 53,
			Proto: "udp", Duration: 317 * time.Microsecond, OrigBytes: 38, RespBytes: 89, State: "SF", History: "Dd",
			OrigPkts: 1, OrigIPBytes: 66, RespPkts: 1, RespIPBytes: 117,
			Extra: []connlog.Field{{"local_orig", "F"}, {"local_resp", "F"}, {"ip_proto", "17"}}, TCPFlags: -1,
		},
	}, {
		// Extension fields before Zeek's: they land in Extra in column order.
		capture: "scripts.base.frameworks.logging.field-extension-complex.conn.log.gz",
		// XXXXXXXXXX.XXXXXX conn 1 3 4,2,3,1 - XXXXXXXXXX.XXXXXX CFSwNi4CNGxcuffo49 173.192.163.128 80 141.142.220.235 6705 tcp - - - - OTH F F 0 H 1 48 0 0 - 6
		want: connlog.Conn{
			Format: connlog.ZeekTSV, UID: "CFSwNi4CNGxcuffo49",
			OrigAddr: addr("173.192.163.128"), OrigPort: 80, RespAddr: addr("141.142.220.235"), RespPort: 6705,
			Proto: "tcp", State: "OTH", History: "H", OrigPkts: 1, OrigIPBytes: 48,
			Extra: []connlog.Field{
				{"_write_ts", "XXXXXXXXXX.XXXXXX"}, {"_stream", "conn"}, {"_innerLogged.a", "1"}, {"_innerLogged.c", "3"},
				{"_innerLogged.d", "4,2,3,1"}, {"local_orig", "F"}, {"local_resp", "F"}, {"ip_proto", "6"},
			},
			TCPFlags: -1,
		},
	}, {
		capture: "scripts.base.protocols.ftp.ftp-ipv6.conn.log.gz", index: 4,
		// XXXXXXXXXX.XXXXXX CHhAvVGS1DHFjwGM9 2001:470:1f11:81f:c999:d94:aa7c:2e3e 49185 2001:470:4867:99::21 21 tcp ftp 26.658219 310 3448 SF F F 0 ShAdDfFa 57 4426 34 5908 - 6
		want: connlog.Conn{
			Format: connlog.ZeekTSV, UID: "CHhAvVGS1DHFjwGM9",
			OrigAddr: addr("2001:470:1f11:81f:c999:d94:aa7c:2e3e"), OrigPort: 49185, RespAddr: addr("2001:470:4867:99::21"), RespPort: 21,
			Proto: "tcp", Service: "ftp", Duration: 26658219 * time.Microsecond, OrigBytes: 310, RespBytes: 3448, State: "SF",
			History: "ShAdDfFa", OrigPkts: 57, OrigIPBytes: 4426, RespPkts: 34, RespIPBytes: 5908,
			Extra: []connlog.Field{{"local_orig", "F"}, {"local_resp", "F"}, {"ip_proto", "6"}}, TCPFlags: -1,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			conns := parseAll(t, connlog.NewParser(connlog.Auto), captureLines(t, tt.capture))
			if got := conns[tt.index]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("data line %d:\n got %+v\nwant %+v", tt.index, got, tt.want)
			}
		})
	}
}

// TestRoundTripCaptures writes every capture line as Zeek JSON and parses
// it back: the S3 bridge's rewrite must lose nothing.
func TestRoundTripCaptures(t *testing.T) {
	for _, name := range captureNames(t) {
		conns := parseAll(t, connlog.NewParser(connlog.Zeek), captureLines(t, name))
		p := connlog.NewParser(connlog.Auto)
		var line []byte
		for _, c := range conns {
			line = connlog.AppendZeekJSON(line[:0], &c)
			if !connlog.IsConnLogJSON(line) {
				t.Fatalf("%s: IsConnLogJSON false for %s", name, line)
			}
			var back connlog.Conn
			if ok, err := p.Parse(line, &back); !ok || err != nil {
				t.Fatalf("%s: %s: %v %v", name, line, ok, err)
			}
			c.Format = connlog.ZeekJSON
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("%s: round trip of %s\n got %+v\nwant %+v", name, line, back, c)
			}
		}
	}
}

func TestAppendZeekJSON(t *testing.T) {
	c := connlog.Conn{
		Format: connlog.ZeekTSV, Start: unix(1655071198, 444458000), UID: "CHLXQF2OBY4onAR0Ug",
		OrigAddr: addr("147.32.81.167"), OrigPort: 62771, RespAddr: addr("2001:db8::1"), RespPort: 443,
		Proto: "tcp", Service: "ssl", Duration: 1135424 * time.Microsecond, OrigBytes: 1596, RespBytes: 4039,
		State: "SF", History: "ShADdaFf", OrigPkts: 14, OrigIPBytes: 1016, RespPkts: 16, RespIPBytes: 1226,
		Sensor: "zeek-1", Extra: []connlog.Field{{"tunnel_parents", `["Cx1"]`}, {"local_orig", "T"}, {"n", "12"}, {"q", "a\"b\\\n\x01"}},
		Label: "Benign", DetailLbl: "Microsoft",
	}
	want := `{"ts":1655071198.444458,"uid":"CHLXQF2OBY4onAR0Ug","id.orig_h":"147.32.81.167","id.orig_p":62771,` +
		`"id.resp_h":"2001:db8::1","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1.135424,"orig_bytes":1596,` +
		`"resp_bytes":4039,"conn_state":"SF","missed_bytes":0,"history":"ShADdaFf","orig_pkts":14,"orig_ip_bytes":1016,` +
		`"resp_pkts":16,"resp_ip_bytes":1226,"_system_name":"zeek-1","tunnel_parents":["Cx1"],"local_orig":"T","n":12,` +
		`"q":"a\"b\\\n\u0001","label":"Benign","detailedlabel":"Microsoft"}`
	if got := string(connlog.AppendZeekJSON(nil, &c)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Nanoseconds need nine decimals to come back.
	c = connlog.Conn{Start: unix(1, 5), OrigAddr: addr("10.0.0.1"), RespAddr: addr("10.0.0.2"), Proto: "udp", Duration: 7}
	if got := string(connlog.AppendZeekJSON(nil, &c)); !strings.HasPrefix(got, `{"ts":1.000000005,`) || !strings.Contains(got, `"duration":0.000000007`) {
		t.Errorf("got %s", got)
	}
}

func TestParseZeekJSON(t *testing.T) {
	base := connlog.Conn{
		Format: connlog.ZeekJSON, Start: unix(1655071198, 444458000), UID: "CHLXQF2OBY4onAR0Ug",
		OrigAddr: addr("147.32.81.167"), OrigPort: 62771, RespAddr: addr("40.74.108.123"), RespPort: 443,
		Proto: "tcp", Service: "ssl", Duration: 1135424 * time.Microsecond, OrigBytes: 1596, RespBytes: 4039,
		State: "SF", MissedBytes: 0, History: "ShADdaFf", OrigPkts: 14, OrigIPBytes: 1016, RespPkts: 16, RespIPBytes: 1226,
		TCPFlags: -1,
	}
	const zeek = `"uid":"CHLXQF2OBY4onAR0Ug","id.orig_h":"147.32.81.167","id.orig_p":62771,"id.resp_h":"40.74.108.123","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1.135424,"orig_bytes":1596,"resp_bytes":4039,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"ShADdaFf","orig_pkts":14,"orig_ip_bytes":1016,"resp_pkts":16,"resp_ip_bytes":1226,"tunnel_parents":[]`
	with := func(f func(*connlog.Conn)) connlog.Conn {
		c := base
		c.Extra = []connlog.Field{{"local_orig", "true"}, {"local_resp", "false"}, {"tunnel_parents", "[]"}}
		f(&c)
		return c
	}
	tests := []struct {
		name, line string
		want       connlog.Conn
	}{
		{"zeek", `{"ts":1655071198.444458,` + zeek + `}`, with(func(*connlog.Conn) {})},
		{"streaming logs", `{"_path":"conn","_write_ts":1655071199.1,"ts":1655071198.444458,` + zeek + `,"_system_name":"sensor-7"}`,
			with(func(c *connlog.Conn) {
				c.Extra = append([]connlog.Field{{"_write_ts", "1655071199.1"}}, c.Extra...)
				c.Sensor = "sensor-7"
			})},
		{"iso8601 ts", `{"ts":"2022-06-12T21:59:58.444458Z",` + zeek + `}`, with(func(*connlog.Conn) {})},
		{"iso8601 ts with offset", `{"ts":"2022-06-12T23:59:58.444458+02:00",` + zeek + `}`, with(func(*connlog.Conn) {})},
		{"ts as a numeric string", `{"ts":"1655071198.444458",` + zeek + `}`, with(func(*connlog.Conn) {})},
		{"whitespace, CRLF, BOM", "\xef\xbb\xbf { \"ts\" : 1655071198.444458 , " + zeek + " }\r\n", with(func(*connlog.Conn) {})},
		{"ts exponent", `{"ts":1.6e9,` + zeek + `}`, with(func(c *connlog.Conn) { c.Start = unix(16e8, 0) })},
		{"minimal, IPv6, escapes, labels, unknown keys",
			`{"ts":1,"id.orig_h":"2001:db8::1","id.resp_h":"2001:db8::2","proto":"ICMP","id.orig_p":8,"id.resp_p":0,` +
				`"history":"\u0041\n\ud83d\ude00","Label":"Malicious","detailed-label":"C&C","x":{"y":[1,null,"z"]},"s":"t\"u","service":null}`,
			connlog.Conn{
				Format: connlog.ZeekJSON, Start: unix(1, 0), OrigAddr: addr("2001:db8::1"), RespAddr: addr("2001:db8::2"),
				Proto: "icmp", OrigPort: 8, History: "A\n😀", Label: "Malicious", DetailLbl: "C&C",
				Extra: []connlog.Field{{"x", `{"y":[1,null,"z"]}`}, {"s", `t"u`}}, TCPFlags: -1,
			}},
		{"id_orig_h style (dots as underscores)",
			`{"ts":2,"id_orig_h":"10.0.0.1","id_orig_p":1,"id_resp_h":"10.0.0.2","id_resp_p":2,"proto":"udp","peer":"worker-1"}`,
			connlog.Conn{Format: connlog.ZeekJSON, Start: unix(2, 0), OrigAddr: addr("10.0.0.1"), OrigPort: 1,
				RespAddr: addr("10.0.0.2"), RespPort: 2, Proto: "udp", Sensor: "worker-1", TCPFlags: -1}},
		{"src/dst style",
			`{"ts":3,"src":"10.0.0.1","src_port":1,"dst":"10.0.0.2","dst_port":2,"proto":"udp","_node_name":"n1","peer":"p1"}`,
			connlog.Conn{Format: connlog.ZeekJSON, Start: unix(3, 0), OrigAddr: addr("10.0.0.1"), OrigPort: 1,
				RespAddr: addr("10.0.0.2"), RespPort: 2, Proto: "udp", Sensor: "n1", TCPFlags: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, in := range []connlog.Input{connlog.Auto, connlog.Zeek} {
				var c connlog.Conn
				ok, err := connlog.NewParser(in).Parse([]byte(tt.line), &c)
				if !ok || err != nil {
					t.Fatalf("Parse: %v %v", ok, err)
				}
				if !reflect.DeepEqual(c, tt.want) {
					t.Errorf("input %v:\n got %+v\nwant %+v", in, c, tt.want)
				}
			}
		})
	}
}

func TestWithFieldNames(t *testing.T) {
	p := connlog.NewParser(connlog.Zeek, connlog.WithFieldNames(map[string]string{
		"source_ip": "id.orig_h", "dest_ip": "id.resp_h", "transport": "proto", "sensor": "_system_name", "vlan_id": "vlan",
	}))
	lines := []string{
		"#separator \\x09",
		"#fields\tts\tsource_ip\tdest_ip\ttransport\tsensor\tvlan_id",
		"5.5\t10.0.0.1\t10.0.0.2\tudp\tzeek-eu\t42",
	}
	var c connlog.Conn
	for _, l := range lines[:2] {
		if ok, err := p.Parse([]byte(l), &c); ok || err != nil {
			t.Fatalf("header %q: %v %v", l, ok, err)
		}
	}
	if ok, err := p.Parse([]byte(lines[2]), &c); !ok || err != nil {
		t.Fatalf("data: %v %v", ok, err)
	}
	want := connlog.Conn{Format: connlog.ZeekTSV, Start: unix(5, 5e8), OrigAddr: addr("10.0.0.1"), RespAddr: addr("10.0.0.2"),
		Proto: "udp", Sensor: "zeek-eu", Extra: []connlog.Field{{"vlan", "42"}}, TCPFlags: -1}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
	// The same renamings in JSON.
	line := `{"ts":5.5,"source_ip":"10.0.0.1","dest_ip":"10.0.0.2","transport":"udp","sensor":"zeek-eu","vlan_id":42}`
	if ok, err := p.Parse([]byte(line), &c); !ok || err != nil {
		t.Fatalf("json: %v %v", ok, err)
	}
	want.Format = connlog.ZeekJSON
	if !reflect.DeepEqual(c, want) {
		t.Errorf("json\n got %+v\nwant %+v", c, want)
	}
}

func TestParseZeekTSVHeaders(t *testing.T) {
	// A custom separator, unset and empty markers, a #fields change mid-stream,
	// and a second file (new #separator) after a #close.
	lines := []string{
		"#separator \\x7c",
		"#set_separator|;",
		"#empty_field|EMPTY",
		"#unset_field|NONE",
		"#path|conn",
		"#open|2022-06-17-00-00-07",
		"#fields|ts|id.orig_h|id.orig_p|id.resp_h|id.resp_p|proto|service|duration|tunnel_parents|label",
		"#types|time|addr|port|addr|port|enum|string|interval|set[string]|string",
		"10.25|10.0.0.1|1|10.0.0.2|2|tcp|EMPTY|NONE|EMPTY|NONE",
		"#fields|ts|id.orig_h|id.resp_h|proto|uid",
		"11|10.0.0.3|10.0.0.4|udp|Cabc",
		"#close|2022-06-17-00-00-08",
		"#separator \\x09",
		"#fields\tts\tid.orig_h\tid.resp_h\tproto\tconn_state",
		"12\t10.0.0.5\t10.0.0.6\ttcp\t-",
	}
	var got []connlog.Conn
	p := connlog.NewParser(connlog.Auto)
	for _, l := range lines {
		var c connlog.Conn
		ok, err := p.Parse([]byte(l), &c)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ok != !strings.HasPrefix(l, "#") {
			t.Fatalf("%q: data %v", l, ok)
		}
		if ok {
			got = append(got, c)
		}
	}
	want := []connlog.Conn{
		{Format: connlog.ZeekTSV, Start: unix(10, 25e7), OrigAddr: addr("10.0.0.1"), OrigPort: 1, RespAddr: addr("10.0.0.2"), RespPort: 2,
			Proto: "tcp", Extra: []connlog.Field{{"tunnel_parents", ""}}, TCPFlags: -1},
		{Format: connlog.ZeekTSV, Start: unix(11, 0), OrigAddr: addr("10.0.0.3"), RespAddr: addr("10.0.0.4"), Proto: "udp", UID: "Cabc", TCPFlags: -1},
		{Format: connlog.ZeekTSV, Start: unix(12, 0), OrigAddr: addr("10.0.0.5"), RespAddr: addr("10.0.0.6"), Proto: "tcp", TCPFlags: -1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestParseVPC(t *testing.T) {
	tests := []struct {
		file string
		want []connlog.Conn
	}{{
		file: "vpc-v2.log.gz",
		want: []connlog.Conn{
			{Format: connlog.VPCFlow, Start: unix(1418530010, 0), Duration: 60 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("172.31.16.139"), OrigPort: 20641, RespAddr: addr("172.31.16.21"), RespPort: 22, Proto: "tcp",
				OrigPkts: 20, OrigBytes: 4249, OrigIPBytes: 4249, Action: "ACCEPT", State: "OTH", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
			{Format: connlog.VPCFlow, Start: unix(1418530010, 0), Duration: 60 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("172.31.9.69"), OrigPort: 49761, RespAddr: addr("172.31.9.12"), RespPort: 3389, Proto: "tcp",
				OrigPkts: 20, OrigBytes: 4249, OrigIPBytes: 4249, Action: "REJECT", State: "REJ", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
			// NODATA and SKIPDATA lines are skipped.
			{Format: connlog.VPCFlow, Start: unix(1432917027, 0), Duration: 115 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("203.0.113.12"), RespAddr: addr("172.31.16.139"), Proto: "icmp",
				OrigPkts: 4, OrigBytes: 336, OrigIPBytes: 336, Action: "ACCEPT", State: "SF", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
			{Format: connlog.VPCFlow, Start: unix(1432917094, 0), Duration: 48 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("172.31.16.139"), RespAddr: addr("203.0.113.12"), Proto: "icmp",
				OrigPkts: 4, OrigBytes: 336, OrigIPBytes: 336, Action: "REJECT", State: "REJ", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
			{Format: connlog.VPCFlow, Start: unix(1477913708, 0), Duration: 112 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("2001:db8:1234:a100:8d6e:3477:df66:f105"), OrigPort: 34892, RespAddr: addr("2001:db8:1234:a102:3304:8879:34cf:4071"), RespPort: 22,
				Proto: "tcp", OrigPkts: 54, OrigBytes: 8855, OrigIPBytes: 8855, Action: "ACCEPT", State: "OTH", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
			{Format: connlog.VPCFlow, Start: unix(1418530010, 0), Duration: 60 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("172.31.16.139"), OrigPort: 53094, RespAddr: addr("172.31.0.2"), RespPort: 53, Proto: "udp",
				OrigPkts: 1, OrigBytes: 72, OrigIPBytes: 72, Action: "ACCEPT", State: "SF", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
			{Format: connlog.VPCFlow, Start: unix(1418530010, 0), Duration: 60 * time.Second, Sensor: "eni-1235b8ca123456789",
				OrigAddr: addr("172.31.16.139"), RespAddr: addr("172.31.0.9"), Proto: "47",
				OrigPkts: 12, OrigBytes: 1440, OrigIPBytes: 1440, Action: "ACCEPT", State: "SF", TCPFlags: -1,
				Extra: []connlog.Field{{"version", "2"}, {"account-id", "123456789010"}}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			for _, in := range []connlog.Input{connlog.Auto, connlog.VPC} {
				got := parseAll(t, connlog.NewParser(in), testdataLines(t, tt.file))
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("input %v:\n got %+v\nwant %+v", in, got, tt.want)
				}
			}
		})
	}
}

// TestParseVPCCustom checks a custom format (fields in another order, with
// tcp-flags, flow-direction and the pkt- addresses) and the state table.
func TestParseVPCCustom(t *testing.T) {
	conns := parseAll(t, connlog.NewParser(connlog.Auto), testdataLines(t, "vpc-custom.log.gz"))
	type row struct {
		orig, resp string
		origPort   uint16
		proto      string
		flags      int
		action     string
		direction  string
		state      string
		bytes      int64
	}
	want := []row{
		{"52.213.180.42", "10.0.0.62", 43416, "tcp", 2, "ACCEPT", "ingress", "S0", 568},
		{"10.0.0.62", "52.213.180.42", 5001, "tcp", 18, "ACCEPT", "egress", "S1", 376},
		{"52.213.180.42", "10.0.0.62", 43418, "tcp", 3, "ACCEPT", "ingress", "SF", 100701},
		{"10.0.0.62", "52.213.180.42", 5001, "tcp", 19, "ACCEPT", "egress", "SF", 632},
		{"198.51.100.7", "10.0.0.62", 51234, "tcp", 6, "ACCEPT", "ingress", "RSTO", 40},
		{"10.0.0.62", "198.51.100.7", 22, "tcp", 22, "ACCEPT", "egress", "RSTR", 80},
		{"52.213.180.42", "10.0.0.62", 43420, "tcp", 0, "ACCEPT", "ingress", "OTH", 1420},
		{"52.213.180.42", "10.0.0.62", 43420, "tcp", 1, "ACCEPT", "ingress", "SF", 52},
		{"203.0.113.99", "10.0.0.62", 40001, "tcp", 2, "REJECT", "ingress", "REJ", 44},
		{"10.0.0.220", "203.0.113.5", 61010, "tcp", 2, "ACCEPT", "egress", "S0", 1340}, // NAT: pkt-srcaddr, not srcaddr
		{"10.0.0.62", "10.0.0.2", 55123, "udp", 0, "ACCEPT", "egress", "SF", 71},
		{"2001:db8::62", "2001:db8::1", 0, "icmp", 0, "ACCEPT", "egress", "SF", 72},
	}
	if len(conns) != len(want) {
		t.Fatalf("%d connections, want %d (NODATA skipped)", len(conns), len(want))
	}
	for i, c := range conns {
		got := row{c.OrigAddr.String(), c.RespAddr.String(), c.OrigPort, c.Proto, c.TCPFlags, c.Action, c.Direction, c.State, c.OrigBytes}
		if got != want[i] {
			t.Errorf("record %d: got %+v, want %+v", i, got, want[i])
		}
	}
	// The first record, every field.
	first := connlog.Conn{
		Format: connlog.VPCFlow, Start: unix(1566848875, 0), Duration: 58 * time.Second, Sensor: "eni-0f1e2d3c4b5a69788",
		OrigAddr: addr("52.213.180.42"), OrigPort: 43416, RespAddr: addr("10.0.0.62"), RespPort: 5001, Proto: "tcp",
		OrigBytes: 568, OrigIPBytes: 568, OrigPkts: 8, Action: "ACCEPT", TCPFlags: 2, Direction: "ingress", State: "S0",
		Extra: []connlog.Field{{"version", "5"}, {"vpc-id", "vpc-0a1b2c3d4e5f60718"}, {"subnet-id", "subnet-0aa1bb2cc3dd4ee55"},
			{"instance-id", "i-0123456789abcdef0"}, {"account-id", "123456789010"}, {"type", "IPv4"},
			{"srcaddr", "52.213.180.42"}, {"dstaddr", "10.0.0.62"}},
	}
	if !reflect.DeepEqual(conns[0], first) {
		t.Errorf("\n got %+v\nwant %+v", conns[0], first)
	}
	if nat := conns[9].Extra; nat[5] != (connlog.Field{Name: "srcaddr", Value: "10.0.1.5"}) {
		t.Errorf("NAT record keeps srcaddr in Extra: %+v", nat)
	}
}

func TestParseAutoMixed(t *testing.T) {
	// Auto follows the last header: Zeek TSV, then VPC, then Zeek again;
	// JSON lines are parsed whatever the header.
	lines := []string{
		"#separator \\x09",
		"#fields\tts\tid.orig_h\tid.resp_h\tproto",
		"1\t10.0.0.1\t10.0.0.2\ttcp",
		`{"ts":2,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"udp"}`,
		"version srcaddr dstaddr protocol",
		"2 10.0.0.3 10.0.0.4 6",
		`{"ts":3,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"udp"}`,
		"#fields\tts\tid.orig_h\tid.resp_h\tproto",
		"4\t10.0.0.1\t10.0.0.2\ttcp",
	}
	p := connlog.NewParser(connlog.Auto)
	var formats []connlog.Format
	for _, l := range lines {
		var c connlog.Conn
		ok, err := p.Parse([]byte(l), &c)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ok {
			formats = append(formats, c.Format)
		}
	}
	want := []connlog.Format{connlog.ZeekTSV, connlog.ZeekJSON, connlog.VPCFlow, connlog.ZeekJSON, connlog.ZeekTSV}
	if !reflect.DeepEqual(formats, want) {
		t.Errorf("formats %v, want %v", formats, want)
	}
	// Reset forgets the headers.
	p.Reset()
	var c connlog.Conn
	if _, err := p.Parse([]byte(lines[2]), &c); !errors.Is(err, connlog.ErrNoHeader) {
		t.Errorf("after Reset: %v, want ErrNoHeader", err)
	}
}

func TestParseErrors(t *testing.T) {
	const tsvHeader = "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes"
	const vpcHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	const json = `"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp"`
	tests := []struct {
		name   string
		in     connlog.Input
		header string
		line   string
		err    error
		code   string
		msg    string
	}{
		{"empty", connlog.Auto, "", "", connlog.ErrEmptyLine, "empty_line", "empty line"},
		{"blank", connlog.Auto, "", " \t\r", connlog.ErrEmptyLine, "empty_line", `value " \t": empty line`},
		{"no header", connlog.Auto, "", "1\t10.0.0.1", connlog.ErrNoHeader, "no_header", `value "1\t10.0.0.1": data line before any header`},
		{"no zeek header", connlog.Zeek, "", "1\t10.0.0.1", connlog.ErrNoHeader, "no_header", `value "1\t10.0.0.1": data line before a Zeek #fields header`},
		{"vpc header is no zeek header", connlog.Zeek, "", vpcHeader, connlog.ErrNoHeader, "no_header",
			`value "version account-id interface-id srcaddr dstaddr ...": data line before a Zeek #fields header`},
		{"no vpc header", connlog.VPC, "", "2 1 eni-1", connlog.ErrNoHeader, "no_header", `value "2 1 eni-1": data line before the VPC Flow Logs header line`},
		{"too long", connlog.Auto, "", "{" + strings.Repeat(" ", 70000) + "}", connlog.ErrLineTooLong, "line_too_long",
			`value "{                                               ...": line too long: 70002 bytes, at most 65536`},
		{"tsv field count", connlog.Auto, tsvHeader, "1\t10.0.0.1\t1", connlog.ErrFieldCount, "field_count", `value "1\t10.0.0.1\t1": 3 fields, #fields names 8`},
		{"tsv bad addr", connlog.Auto, tsvHeader, "1\t1.2.3\t1\t10.0.0.2\t2\ttcp\t1\t1", connlog.ErrBadAddr, "bad_addr", `field "id.orig_h": value "1.2.3": not an IP address`},
		{"tsv bad port", connlog.Auto, tsvHeader, "1\t10.0.0.1\t65536\t10.0.0.2\t2\ttcp\t1\t1", connlog.ErrBadPort, "bad_port", `field "id.orig_p": value "65536": not a port (0 to 65535)`},
		{"tsv bad ts", connlog.Auto, tsvHeader, "yesterday\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t1", connlog.ErrBadTime, "bad_time", `field "ts": value "yesterday": not a timestamp (epoch seconds or ISO 8601)`},
		{"tsv negative ts", connlog.Auto, tsvHeader, "-1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t1", connlog.ErrNegative, "negative", `field "ts": value "-1": negative timestamp`},
		{"tsv negative count", connlog.Auto, tsvHeader, "1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t-5", connlog.ErrNegative, "negative", `field "orig_bytes": value "-5": negative count`},
		{"tsv not a number", connlog.Auto, tsvHeader, "1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t5k", connlog.ErrNotNumber, "not_number", `field "orig_bytes": value "5k": not a whole number`},
		{"tsv bad duration", connlog.Auto, tsvHeader, "1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1s\t5", connlog.ErrNotNumber, "not_number", `field "duration": value "1s": not a duration in seconds`},
		{"tsv unset required", connlog.Auto, tsvHeader, "1\t-\t1\t10.0.0.2\t2\ttcp\t1\t5", connlog.ErrMissingField, "missing_field", `field "id.orig_h": missing or unset field`},
		{"tsv wrong path", connlog.Auto, "#path\tdns\n" + tsvHeader, "1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t1\t5", connlog.ErrNotConnLog, "not_conn_log", `field "#path": value "dns": not a conn log`},
		{"bad separator", connlog.Auto, "", `#separator \xZZ`, connlog.ErrBadHeader, "bad_header", `field "#separator": value " \\xZZ": not a separator (e.g. \x09)`},
		{"duplicate column", connlog.Auto, "", "#fields\tts\tsrc\tid.orig_h", connlog.ErrBadHeader, "bad_header", `field "#fields": value "id.orig_h": field named twice`},
		{"bad json", connlog.Auto, "", `{"ts":1,` + json, connlog.ErrBadJSON, "bad_json", `invalid JSON: expected ',' or '}' at the end of the line (byte 67)`},
		{"bad json value", connlog.Auto, "", `{"ts":01,` + json + `}`, connlog.ErrBadJSON, "bad_json", `value "1,\"id.orig_h\":\"10.0.0.1\",\"id.resp_h\":\"10.0.0.2\",...": invalid JSON: expected ',' or '}' at byte 7`},
		{"json trailing text", connlog.Auto, "", `{"ts":1,` + json + `} x`, connlog.ErrBadJSON, "bad_json", `value "x": invalid JSON: text after the object at byte 69`},
		{"json wrong type", connlog.Auto, "", `{"ts":1,` + json + `,"orig_bytes":"12"}`, connlog.ErrWrongType, "wrong_type", `field "orig_bytes": value "12": want a JSON number, not string`},
		{"json port as string", connlog.Auto, "", `{"ts":1,` + json + `,"id.orig_p":[80]}`, connlog.ErrWrongType, "wrong_type", `field "id.orig_p": value "[80]": want a JSON number, not array`},
		{"json missing ts", connlog.Auto, "", `{` + json + `}`, connlog.ErrMissingField, "missing_field", `field "ts": missing or unset field`},
		{"json missing proto", connlog.Auto, "", `{"ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2"}`, connlog.ErrMissingField, "missing_field", `field "proto": missing or unset field`},
		{"json duplicate", connlog.Auto, "", `{"ts":1,"ts":2,` + json + `}`, connlog.ErrDuplicateField, "duplicate_field", `field "ts": duplicate field`},
		{"json renamed duplicate", connlog.Auto, "", `{"ts":1,"src":"10.0.0.3",` + json + `}`, connlog.ErrDuplicateField, "duplicate_field", `field "id.orig_h": duplicate field`},
		{"json _path", connlog.Auto, "", `{"_path":"dns","ts":1,` + json + `}`, connlog.ErrNotConnLog, "not_conn_log", `field "_path": value "dns": not a conn log`},
		{"json _path type", connlog.Auto, "", `{"_path":1,"ts":1,` + json + `}`, connlog.ErrWrongType, "wrong_type", `field "_path": value "1": want a JSON string, not number`},
		{"json bad addr", connlog.Auto, "", `{"ts":1,"id.orig_h":"10.0.0.256","id.resp_h":"10.0.0.2","proto":"tcp"}`, connlog.ErrBadAddr, "bad_addr", `field "id.orig_h": value "10.0.0.256": not an IP address`},
		{"json iso ts", connlog.Auto, "", `{"ts":"2022-13-01T00:00:00Z",` + json + `}`, connlog.ErrBadTime, "bad_time", `field "ts": value "2022-13-01T00:00:00Z": not a timestamp (epoch seconds or ISO 8601)`},
		{"json huge ts", connlog.Auto, "", `{"ts":1e300,` + json + `}`, connlog.ErrBadTime, "bad_time", `field "ts": value "1e300": not a timestamp (epoch seconds or ISO 8601)`},
		{"json long value", connlog.Auto, "", `{"ts":1,` + json + `,"uid":"x","orig_pkts":` + strings.Repeat("9", 60) + `}`, connlog.ErrNotNumber, "not_number",
			`field "orig_pkts": value "999999999999999999999999999999999999999999999999...": count out of range`},
		{"vpc field count", connlog.Auto, vpcHeader, "2 1 eni-1 10.0.0.1", connlog.ErrFieldCount, "field_count", `value "2 1 eni-1 10.0.0.1": 4 fields, the header names 14`},
		{"vpc bad addr", connlog.VPC, vpcHeader, "2 1 eni-1 10.0.0.x 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK", connlog.ErrBadAddr, "bad_addr", `field "srcaddr": value "10.0.0.x": not an IP address`},
		{"vpc bad protocol", connlog.VPC, vpcHeader, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 tcp 1 40 1 2 ACCEPT OK", connlog.ErrNotNumber, "not_number", `field "protocol": value "tcp": not an IANA protocol number`},
		{"vpc end before start", connlog.VPC, vpcHeader, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 100 99 ACCEPT OK", connlog.ErrNegative, "negative", `field "end": value "99": flow ends before it starts`},
		{"vpc unset addr", connlog.VPC, vpcHeader, "2 1 eni-1 - 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK", connlog.ErrMissingField, "missing_field", `field "srcaddr": missing or unset field`},
		{"vpc bad port", connlog.VPC, vpcHeader, "2 1 eni-1 10.0.0.1 10.0.0.2 -1 2 6 1 40 1 2 ACCEPT OK", connlog.ErrBadPort, "bad_port", `field "srcport": value "-1": not a port (0 to 65535)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := connlog.NewParser(tt.in)
			var c connlog.Conn
			for _, h := range strings.Split(tt.header, "\n") {
				if h != "" {
					if _, err := p.Parse([]byte(h), &c); err != nil {
						t.Fatalf("header %q: %v", h, err)
					}
				}
			}
			ok, err := p.Parse([]byte(tt.line), &c)
			if ok || err == nil {
				t.Fatalf("Parse = %v, %v; want an error", ok, err)
			}
			var fe *connlog.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%T %v is no *FieldError", err, err)
			}
			if !errors.Is(err, tt.err) || fe.Code() != tt.code || err.Error() != tt.msg {
				t.Errorf("got %q (code %s, %v)\nwant %q (code %s, %v)", err, fe.Code(), fe.Err, tt.msg, tt.code, tt.err)
			}
		})
	}
}

func TestParseTolerates(t *testing.T) {
	p := connlog.NewParser(connlog.Auto)
	var c connlog.Conn
	for _, l := range []string{"\xef\xbb\xbf#separator \\x09\r", "#fields\tts\tid.orig_h\tid.resp_h\tproto\tlabel\r"} {
		if ok, err := p.Parse([]byte(l), &c); ok || err != nil {
			t.Fatalf("%q: %v %v", l, ok, err)
		}
	}
	// The masked ts of Zeek's baselines is an unknown start, not an error.
	ok, err := p.Parse([]byte("XXXXXXXXXX.XXXXXX\t10.0.0.1\t10.0.0.2\tTCP\tBenign\r\n"), &c)
	if !ok || err != nil || !c.Start.IsZero() || c.Proto != "tcp" || c.Label != "Benign" {
		t.Errorf("got %v %v %+v", ok, err, c)
	}
	if !bytes.Equal(connlog.AppendZeekJSON(nil, &c)[:8], []byte(`{"ts":0,`)) {
		t.Errorf("unknown start written as %s", connlog.AppendZeekJSON(nil, &c))
	}
}

func TestIsConnLogJSON(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{`{"ts":1,"uid":"C1","id.orig_h":"10.0.0.1"}`, true},
		{` {"id_orig_h":"10.0.0.1"}`, true},
		{`{"uid":"C1","ts":1}`, true},
		{"\xef\xbb\xbf{\"id.orig_h\":\"10.0.0.1\"}", true},
		{`{"duration":0,"protocol_type":"tcp","service":"http","flag":"SF","src_bytes":181}`, false},
		{`{"ts":1}`, false},
		{"1\t10.0.0.1", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := connlog.IsConnLogJSON([]byte(tt.line)); got != tt.want {
			t.Errorf("IsConnLogJSON(%q) = %v", tt.line, got)
		}
	}
}

func TestFormatAndInputStrings(t *testing.T) {
	if connlog.Auto.String() != "auto" || connlog.Zeek.String() != "zeek" || connlog.VPC.String() != "vpcflow" {
		t.Error("Input names")
	}
	var fe connlog.FieldError
	if fe.Code() != "invalid" {
		t.Error("Code of an unknown reason")
	}
}

// TestParseZeekJSONKeyCache parses lines one after another with one
// Parser, whose key cache then predicts each line's keys from the lines
// before it, and checks each result against a fresh Parser's: other key
// orders, left-out keys, other spellings of a key, duplicates and a full
// cache must not change what a line parses to.
func TestParseZeekJSONKeyCache(t *testing.T) {
	const hosts = `"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2"`
	var many strings.Builder
	for i := range 70 {
		fmt.Fprintf(&many, `,"x%d":%d`, i, i)
	}
	lines := []string{
		`{"ts":1,"uid":"C1",` + hosts + `,"proto":"tcp","service":"ssl","duration":1.5,"orig_bytes":1,"conn_state":"SF","local_orig":"T"}`,
		`{"ts":2,"uid":"C2",` + hosts + `,"proto":"tcp","duration":1.5,"orig_bytes":1,"conn_state":"SF","local_orig":"F"}`,
		`{"ts":3,"uid":"C3",` + hosts + `,"proto":"udp","service":"dns","orig_bytes":1,"conn_state":"S0","local_orig":"T"}`,
		`{"proto":"icmp","ts":4,` + hosts + `,"uid":"C4","local_orig":"T","conn_state":"OTH"}`,
		`{ "ts" : 5 , "uid" : "C5" , ` + hosts + ` , "proto" : "tcp" }`,
		`{"\u0074s":6,"uid":"C6",` + hosts + `,"proto":"tcp"}`,
		`{"ts":7,"\u0074s":8,` + hosts + `,"proto":"tcp"}`,
		`{"ts":9,"ts":10,` + hosts + `,"proto":"tcp"}`,
		`{"ts":11,"src":"10.0.0.3",` + hosts + `,"proto":"tcp"}`,
		`{"ts":12,` + hosts + `,"proto":"tcp","orig_bytes":1,"orig_bytes":2}`,
		`{"ts":13,` + hosts + `,"proto":"tcp","id.orig_p":80,"id.orig_p":"80"}`,
		`{"ts":14,` + hosts + `,"proto":"tcp","_system_name":"","peer":"p1","_node_name":"n1"}`,
		`{"ts":15,` + hosts + `,"proto":"tcp"` + many.String() + `,"tunnel_parents":[],"y":"z"}`,
		`{"ts":16,"uid":"C16",` + hosts + `,"proto":"tcp","service":"http","x69":1,"x3":"three"}`,
		`{"ts":17,"uid":"C17",` + hosts + `,"proto":"tcp","new_after_full":"v","resp_pkts":5,"history":"S","resp_pkts":6}`,
		`{"ts":17,"uid":"C17",` + hosts + `,"proto":"tcp","new_after_full":"v","resp_pkts":5,"history":"S"}`,
		`{"ts":18,"uid":"C1",` + hosts + `,"proto":"tcp","service":"ssl","duration":1.5,"orig_bytes":1,"conn_state":"SF","local_orig":"T"}`,
		`{"ts":19,"uid":"C1",` + hosts + `,"proto":"tcp","service":"ssl","duration":1.5,"orig_bytes":1,"conn_state":"SF","local_orig":"T",`,
		`{"ts":20,"uid":"C1",` + hosts + `,"proto":"tcp","ts"`,
		`{"ts":21,"uid":"C1",` + hosts + `,"proto":"tcp","`,
	}
	p := connlog.NewParser(connlog.Zeek)
	for _, line := range lines {
		var got, want connlog.Conn
		gotOK, gotErr := p.Parse([]byte(line), &got)
		wantOK, wantErr := connlog.NewParser(connlog.Zeek).Parse([]byte(line), &want)
		if gotOK != wantOK || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || gotOK && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v %v %+v\nwant %v %v %+v", line, gotOK, gotErr, got, wantOK, wantErr, want)
		}
	}
}

// TestParseStringsOwnTheirBytes checks that a Conn's strings, which share
// one allocation, are copies: reusing the line's buffer does not change
// them, and neither does parsing the next line.
func TestParseStringsOwnTheirBytes(t *testing.T) {
	p := connlog.NewParser(connlog.Zeek)
	line := []byte(`{"ts":1,"uid":"CUID","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp","service":"ssl",` +
		`"history":"ShAD","x":"extra","esc":"a\nb","label":"Benign","detailedlabel":"d","_system_name":"s"}`)
	var c connlog.Conn
	if ok, err := p.Parse(line, &c); !ok || err != nil {
		t.Fatal(ok, err)
	}
	want := c
	want.Extra = slices.Clone(c.Extra)
	for i := range line {
		line[i] = 'z'
	}
	var next connlog.Conn
	if ok, err := p.Parse([]byte(`{"ts":2,"uid":"OTHER","id.orig_h":"10.0.0.3","id.resp_h":"10.0.0.4","proto":"udp","x":"y","esc":"q\tq"}`), &next); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if !reflect.DeepEqual(c, want) || c.UID != "CUID" || c.Extra[1].Value != "a\nb" || c.Sensor != "s" {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

// TestParseExtraWindows checks that the Conns of a Parser, whose Extra
// fields come from shared chunks, do not see each other's: appending to
// one Conn's Extra or changing its fields leaves the others alone, through
// a failed line, a line with more extra fields than a chunk and chunk
// boundaries.
func TestParseExtraWindows(t *testing.T) {
	const base = `"ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp"`
	var lines []string
	for i := range 60 {
		var extra strings.Builder
		for j := range i % 7 {
			fmt.Fprintf(&extra, `,"e%d":"v%d-%d"`, j, i, j)
		}
		if i == 30 {
			for j := range 150 {
				fmt.Fprintf(&extra, `,"big%d":%d`, j, j)
			}
		}
		lines = append(lines, `{`+base+extra.String()+`}`)
		if i%10 == 3 {
			lines = append(lines, `{"e0":"failed","e1":"line",`+base+`,"ts":2}`) // a duplicate ts
		}
	}
	p := connlog.NewParser(connlog.Zeek)
	var conns, want []connlog.Conn
	for _, l := range lines {
		var c connlog.Conn
		ok, err := p.Parse([]byte(l), &c)
		if strings.Contains(l, "failed") {
			if err == nil {
				t.Fatalf("%s: no error", l)
			}
			continue
		}
		if !ok || err != nil {
			t.Fatalf("%s: %v %v", l, ok, err)
		}
		var fresh connlog.Conn
		connlog.NewParser(connlog.Zeek).Parse([]byte(l), &fresh)
		conns, want = append(conns, c), append(want, fresh)
	}
	for i := range conns {
		conns[i].Extra = append(conns[i].Extra, connlog.Field{Name: "appended", Value: "x"})
		if len(conns[i].Extra) > 1 {
			conns[i].Extra[0].Value = "changed"
		}
	}
	for i := range conns {
		got := conns[i].Extra[:len(conns[i].Extra)-1]
		if len(got) > 0 {
			got[0].Value = want[i].Extra[0].Value // its own change
		}
		if !reflect.DeepEqual(got, want[i].Extra) && !(len(got) == 0 && want[i].Extra == nil) {
			t.Errorf("line %d: Extra %v, want %v", i, got, want[i].Extra)
		}
	}
}
