package connlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sagewall/sagewall/connlog"
)

// checkError fails unless err is a *FieldError with a known reason.
func checkError(t *testing.T, err error) {
	t.Helper()
	var fe *connlog.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%T %v is no *FieldError", err, err)
	}
	if fe.Code() == "invalid" || fe.Error() == "" || len(fe.Value) > 48+len("...") {
		t.Fatalf("error %q code %s value %q", fe, fe.Code(), fe.Value)
	}
}

// checkRoundTrip writes c as Zeek JSON and parses it back. Only lines of
// valid UTF-8 come back exactly: AppendZeekJSON writes valid JSON, so it
// replaces invalid bytes.
func checkRoundTrip(t *testing.T, line []byte, c connlog.Conn) {
	t.Helper()
	out := connlog.AppendZeekJSON(nil, &c)
	if !json.Valid(out) {
		t.Fatalf("AppendZeekJSON wrote invalid JSON %s", out)
	}
	if !utf8.Valid(line) {
		return
	}
	var back connlog.Conn
	if ok, err := connlog.NewParser(connlog.Zeek).Parse(out, &back); !ok || err != nil {
		t.Fatalf("line %q: parsing %s back: %v %v", line, out, ok, err)
	}
	c.Format = connlog.ZeekJSON
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("line %q written as %s:\n got %+v\nwant %+v", line, out, back, c)
	}
}

func FuzzParseZeekJSON(f *testing.F) {
	for _, name := range []string{"ctu-normal-40-day1.conn.log.labeled.gz", "scripts.base.frameworks.logging.field-extension-complex.conn.log.gz",
		"ctu-malware-230-1-njrat.conn.log.labeled.gz"} {
		conns := parseAll(f, connlog.NewParser(connlog.Zeek), captureLines(f, name))
		for _, c := range conns[:3] {
			f.Add(connlog.AppendZeekJSON(nil, &c))
		}
	}
	for _, s := range []string{
		`{}`, `{`, `{"ts":}`, `{"ts":1e999,"id.orig_h":"::1","id.resp_h":"::1","proto":"tcp"}`,
		`{"ts":"2022-06-12T21:59:58.444458Z","id_orig_h":"10.0.0.1","id_resp_h":"10.0.0.2","proto":"udp","x":[{"y":null},true,-0.5e+3]}`,
		`{"_path":"conn","_write_ts":"2022-06-12T21:59:58Z","ts":1,"src":"1.2.3.4","dst":"::ffff:1.2.3.4","proto":"\u0074cp","peer":"p"}`,
		`{"ts":1,"id.orig_h":"fe80::1%eth0","id.resp_h":"10.0.0.2","proto":"tcp","s":"\ud800\n\u00e9","\u0074s2":"x"}`,
		`{"ts":0,"id.orig_h":"1.1.1.1","id.resp_h":"1.1.1.1","proto":"tcp","duration":0.0000000001,"n":"123","m":" 1"}`,
		`{"ts":XXXXXXXXXX.XXXXXX}`, `[1]`, `{"a":{"b":{"c":{"d":[[[[[[[[[[1]]]]]]]]]]}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var c connlog.Conn
		ok, err := connlog.NewParser(connlog.Zeek).Parse(line, &c)
		if err != nil {
			checkError(t, err)
			return
		}
		if ok {
			checkRoundTrip(t, line, c)
		}
	})
}

// FuzzParseZeekJSONCached parses line with a Parser that has parsed first
// and line before, its key cache predicting line's keys, and checks the
// result against a fresh Parser's.
func FuzzParseZeekJSONCached(f *testing.F) {
	conns := parseAll(f, connlog.NewParser(connlog.Zeek), captureLines(f, "ctu-normal-40-day1.conn.log.labeled.gz"))
	lines := make([][]byte, 4)
	for i := range lines {
		lines[i] = connlog.AppendZeekJSON(nil, &conns[i])
	}
	for i := range lines {
		f.Add(lines[i], lines[(i+1)%len(lines)])
	}
	f.Add(lines[0], []byte(`{"uid":"C","ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp","ts":2}`))
	f.Add(lines[1], []byte(`{"\u0074s":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp","orig_bytes":01}`))
	f.Fuzz(func(t *testing.T, first, line []byte) {
		p := connlog.NewParser(connlog.Zeek)
		var c connlog.Conn
		p.Parse(first, &c)
		p.Parse(line, &c)
		var got, want connlog.Conn
		gotOK, gotErr := p.Parse(line, &got)
		wantOK, wantErr := connlog.NewParser(connlog.Zeek).Parse(line, &want)
		if gotOK != wantOK || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || gotOK && !reflect.DeepEqual(got, want) {
			t.Fatalf("after %q, %q:\n got %v %v %+v\nwant %v %v %+v", first, line, gotOK, gotErr, got, wantOK, wantErr, want)
		}
	})
}

// zeekHeader is a Stratosphere conn.log's #fields, the common case.
const zeekHeader = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailedlabel"

func FuzzParseZeekTSV(f *testing.F) {
	for _, name := range captureNames(f) {
		var fields []byte
		data := 0
		for _, l := range captureLines(f, name) {
			if rest, ok := bytes.CutPrefix(l, []byte("#fields\t")); ok {
				fields = rest
			}
			if l[0] != '#' && data < 2 {
				f.Add(string(fields), l)
				data++
			}
		}
	}
	for _, s := range [][2]string{
		{zeekHeader, "-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-"},
		{zeekHeader, strings.Repeat("(empty)\t", 22) + "(empty)"},
		{"ts\tsrc\tdst\tproto\t_system_name\tpeer\tx", "1.5\t10.0.0.1\t::1\tTCP\t(empty)\tworker\t{\"a\":1}"},
		{"ts\tid.orig_h\tid.resp_h\tproto\tv", "2022-06-12T21:59:58Z\t10.0.0.1\t10.0.0.2\ticmp\t\"q\""},
		{"ts\tid.orig_h\tid.resp_h\tproto\t_path", "XXXX.XX\t10.0.0.1\t10.0.0.2\tudp\tdns"},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, fields string, line []byte) {
		p := connlog.NewParser(connlog.Zeek)
		var c connlog.Conn
		if _, err := p.Parse([]byte("#separator \\x09"), &c); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Parse([]byte("#fields\t"+fields), &c); err != nil {
			checkError(t, err)
			return
		}
		ok, err := p.Parse(line, &c)
		if err != nil {
			checkError(t, err)
			return
		}
		if ok && c.Format == connlog.ZeekTSV {
			checkRoundTrip(t, append([]byte(fields+"\n"), line...), c)
		}
	})
}

// vpcHeader is the default (version 2) VPC Flow Logs format.
const vpcHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

func FuzzParseVPC(f *testing.F) {
	for _, file := range []string{"vpc-v2.log.gz", "vpc-custom.log.gz"} {
		lines := testdataLines(f, file)
		for _, l := range lines[1:] {
			f.Add(string(lines[0]), l)
		}
	}
	f.Add(vpcHeader, []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 100 99 ACCEPT OK"))
	f.Add("srcaddr dstaddr protocol tcp-flags uid ts", []byte("10.0.0.1 10.0.0.2 6 4 C1 1"))
	f.Fuzz(func(t *testing.T, header string, line []byte) {
		p := connlog.NewParser(connlog.VPC)
		var c connlog.Conn
		if _, err := p.Parse([]byte(header), &c); err != nil {
			checkError(t, err)
			return
		}
		ok, err := p.Parse(line, &c)
		if err != nil {
			checkError(t, err)
			return
		}
		if !ok {
			return
		}
		if c.Format != connlog.VPCFlow || !c.OrigAddr.IsValid() || !c.RespAddr.IsValid() || c.Proto == "" || c.State == "" {
			t.Fatalf("incomplete %+v", c)
		}
		// The Zeek-shaped part round-trips; VPC-only fields are not written,
		// and a custom header may name a field Zeek would read ("uid").
		for _, x := range c.Extra {
			if known := connlog.NewParser(connlog.Zeek); isZeekName(known, x.Name) {
				return
			}
		}
		c.TCPFlags, c.Action, c.Direction = -1, "", ""
		checkRoundTrip(t, append([]byte(header+"\n"), line...), c)
	})
}

// isZeekName reports whether a JSON key is one Parse gives a place in Conn
// (or checks, like _path), by parsing an object with it.
func isZeekName(p *connlog.Parser, name string) bool {
	key, _ := json.Marshal(name)
	line := `{"ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp",` + string(key) + `:"zz"}`
	var c connlog.Conn
	ok, err := p.Parse([]byte(line), &c)
	return !ok || err != nil || len(c.Extra) != 1
}
