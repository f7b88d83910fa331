package connlog_test

import (
	"encoding/json"
	"testing"

	"github.com/sagewall/sagewall/connlog"
)

// BenchmarkParse parses real lines (the labeled CTU day: as Zeek wrote it
// in TSV, as Zeek JSON written by AppendZeekJSON, and VPC Flow Log records)
// and, for JSON, the straightforward alternative: encoding/json into a map.
// One op is one line. Run with -cpu 1.
func BenchmarkParse(b *testing.B) {
	tsv := captureLines(b, "ctu-normal-40-day1.conn.log.labeled.gz")
	conns := parseAll(b, connlog.NewParser(connlog.Zeek), tsv)
	var header, data [][]byte
	for _, l := range tsv {
		if l[0] == '#' {
			header = append(header, l)
		} else {
			data = append(data, l)
		}
	}
	jsonLines := make([][]byte, len(conns))
	for i := range conns {
		jsonLines[i] = connlog.AppendZeekJSON(nil, &conns[i])
	}
	vpc := testdataLines(b, "vpc-custom.log.gz")

	run := func(b *testing.B, p *connlog.Parser, lines [][]byte) {
		total := 0
		for _, l := range lines {
			total += len(l)
		}
		b.SetBytes(int64(total / len(lines)))
		b.ReportAllocs()
		var c connlog.Conn
		i := 0
		for b.Loop() {
			if _, err := p.Parse(lines[i], &c); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(lines) {
				i = 0
			}
		}
	}
	b.Run("format=zeek-json/impl=connlog", func(b *testing.B) {
		run(b, connlog.NewParser(connlog.Auto), jsonLines)
	})
	b.Run("format=zeek-json/impl=encoding-json-map", func(b *testing.B) {
		b.SetBytes(int64(len(jsonLines[0])))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(jsonLines[i], &m); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(jsonLines) {
				i = 0
			}
		}
	})
	b.Run("format=zeek-tsv/impl=connlog", func(b *testing.B) {
		p := connlog.NewParser(connlog.Auto)
		for _, h := range header {
			if _, err := p.Parse(h, new(connlog.Conn)); err != nil {
				b.Fatal(err)
			}
		}
		run(b, p, data)
	})
	b.Run("format=vpcflow/impl=connlog", func(b *testing.B) {
		p := connlog.NewParser(connlog.Auto)
		if _, err := p.Parse(vpc[0], new(connlog.Conn)); err != nil {
			b.Fatal(err)
		}
		run(b, p, vpc[1:])
	})
}
