package connlog

import (
	"net/netip"
	"testing"
	"time"
)

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		name        string
		line        string
		passthrough []string
		want        Conn
		named       bool
	}{
		{"nsl-kdd record with identity keys",
			`{"duration":0,"protocol_type":"tcp","src_ip":"10.0.0.5","src_port":51514,"dst_ip":"10.0.0.9","dst_port":22,"transport":"tcp","sensor":"edge-1","ts":1655071198.5,"uid":"C1","label":"normal"}`,
			nil,
			Conn{OrigAddr: netip.MustParseAddr("10.0.0.5"), OrigPort: 51514, RespAddr: netip.MustParseAddr("10.0.0.9"), RespPort: 22,
				Proto: "tcp", Sensor: "edge-1", Start: time.Unix(1655071198, 500_000_000), UID: "C1", TCPFlags: -1},
			true},
		{"zeek spellings and RFC 3339 time",
			`{"id.orig_h":"2001:db8::1","id.resp_h":"2001:db8::2","timestamp":"2022-06-12T22:00:00Z","flag":"SF"}`,
			nil,
			Conn{OrigAddr: netip.MustParseAddr("2001:db8::1"), RespAddr: netip.MustParseAddr("2001:db8::2"), Start: time.Date(2022, 6, 12, 22, 0, 0, 0, time.UTC), TCPFlags: -1},
			true},
		{"passthrough named keys only",
			`{"site":"lab","rack":7,"duration":0}`,
			[]string{"site", "rack"},
			Conn{Extra: []Field{{"site", "lab"}, {"rack", "7"}}, TCPFlags: -1},
			true},
		{"a bad address is left out, the rest kept",
			`{"src_ip":"10.0.0.300","dst_ip":"10.0.0.9"}`,
			nil,
			Conn{RespAddr: netip.MustParseAddr("10.0.0.9"), TCPFlags: -1},
			true},
		{"no identity", `{"duration":0,"protocol_type":"tcp"}`, nil, Conn{TCPFlags: -1}, false},
		{"not json", `0,tcp,http,SF`, nil, Conn{TCPFlags: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Conn
			named := NewParser(Auto).ParseIdentity([]byte(tt.line), &c, tt.passthrough)
			if named != tt.named {
				t.Fatalf("named = %v, want %v", named, tt.named)
			}
			if !c.Start.Equal(tt.want.Start) {
				t.Fatalf("Start = %v, want %v", c.Start, tt.want.Start)
			}
			c.Start, tt.want.Start = time.Time{}, time.Time{}
			if c.OrigAddr != tt.want.OrigAddr || c.RespAddr != tt.want.RespAddr || c.OrigPort != tt.want.OrigPort ||
				c.RespPort != tt.want.RespPort || c.Proto != tt.want.Proto || c.Sensor != tt.want.Sensor || c.UID != tt.want.UID ||
				len(c.Extra) != len(tt.want.Extra) {
				t.Fatalf("got %+v\nwant %+v", c, tt.want)
			}
			for i := range c.Extra {
				if c.Extra[i] != tt.want.Extra[i] {
					t.Fatalf("Extra[%d] = %v, want %v", i, c.Extra[i], tt.want.Extra[i])
				}
			}
		})
	}
}

func FuzzParseIdentity(f *testing.F) {
	f.Add([]byte(`{"src_ip":"10.0.0.5","dst_port":22,"ts":"2022-06-12T22:00:00Z","x":[1,{"y":null}]}`), "x")
	f.Add([]byte(`{"uid":"\u00e9\ud83d\ude00","sensor":`), "*")
	f.Fuzz(func(t *testing.T, line []byte, passthrough string) {
		var c Conn
		NewParser(Auto).ParseIdentity(line, &c, []string{passthrough})
	})
}

func TestIsConnLogLine(t *testing.T) {
	for _, tt := range []struct {
		line string
		want bool
	}{
		{"#fields\tts\tuid", true},
		{`{"ts":1655071198.44,"uid":"C1","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp"}`, true},
		{"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", true},
		{"2 123456789012 eni-0a1b2c3d 10.0.0.5 10.0.0.9 51514 22 6 10 840 1655071198 1655071258 ACCEPT OK", true},
		{"\ufeff#separator \\x09", true},
		{"0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0,0,0,0,1,0,0,9,9,1,0,0.11,0,0,0,0,0,normal,21", false},
		{`{"duration":0,"protocol_type":"tcp","service":"http"}`, false},
		{"", false},
		{"   ", false},
	} {
		if got := IsConnLogLine([]byte(tt.line)); got != tt.want {
			t.Errorf("IsConnLogLine(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}
