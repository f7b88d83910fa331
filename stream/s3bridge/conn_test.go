package s3bridge

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/captures"
	"github.com/sagewall/sagewall/internal/testenv"
)

// TestProduceZeekTSVAsJSON: a TSV conn.log object becomes one Zeek JSON
// message per connection, keyed by destination host, headers consumed; a
// line that does not parse goes on as it was with the reason.
func TestProduceZeekTSVAsJSON(t *testing.T) {
	const topic = "raw"
	brokers := testenv.KFake(t, kfake.SeedTopics(1, topic))
	w := NewWriter(brokers, topic, nil)
	defer w.Close()
	b := newTestBridge(t, w, WithChunkLines(100), WithConnLogs(connlog.Auto))

	rc, err := captures.Open("android-mischief-rat01.conn.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(body), "\n"), "\n")
	var data []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "#") {
			data = append(data, l)
		}
	}
	// Break one data line's responder address.
	brokenAt := len(lines) - 2
	fields := strings.Split(lines[brokenAt], "\t")
	fields[4] = "999.1.1.1"
	lines[brokenAt] = strings.Join(fields, "\t")

	o := Object{Bucket: "drop", Key: "zeek/conn.log.gz", ETag: "e1"}
	n, err := b.produceLines(t.Context(), o, strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(data) {
		t.Fatalf("produced %d messages, want one per data line: %d", n, len(data))
	}
	msgs := readAll(t, brokers, topic, n)
	parser := connlog.NewParser(connlog.Auto)
	parseErrors := 0
	for i, m := range msgs {
		if reason := header(m, connlog.ParseErrorHeader); reason != "" {
			parseErrors++
			if !bytes.Contains(m.Value, []byte("999.1.1.1")) || !strings.Contains(reason, "999.1.1.1") {
				t.Fatalf("message %d: parse error %q on %q", i, reason, m.Value)
			}
			continue
		}
		var c connlog.Conn
		ok, err := parser.Parse(m.Value, &c)
		if err != nil || !ok || m.Value[0] != '{' {
			t.Fatalf("message %d %q: not a Zeek JSON connection (%v)", i, m.Value, err)
		}
		if string(m.Key) != c.RespAddr.String() {
			t.Fatalf("message %d keyed %q, want its destination %s", i, m.Key, c.RespAddr)
		}
		if header(m, HeaderLine) == "" || header(m, HeaderKey) != "zeek/conn.log.gz" {
			t.Fatalf("message %d headers %v", i, m.Headers)
		}
	}
	if parseErrors != 1 {
		t.Fatalf("%d messages carry a parse error, want 1", parseErrors)
	}
}

// TestProduceNSLKDDUnchangedWithAutoConnLogs: with auto input, NSL-KDD
// lines are produced as they are, keyed by position.
func TestProduceNSLKDDUnchangedWithAutoConnLogs(t *testing.T) {
	const topic = "raw"
	brokers := testenv.KFake(t, kfake.SeedTopics(1, topic))
	w := NewWriter(brokers, topic, nil)
	defer w.Close()
	b := newTestBridge(t, w, WithConnLogs(connlog.Auto))
	const line = "0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0,0,0,0,1,0,0,9,9,1,0,0.11,0,0,0,0,0,normal,21"
	if _, err := b.produceLines(t.Context(), Object{Bucket: "b", Key: "k"}, strings.NewReader(line+"\n")); err != nil {
		t.Fatal(err)
	}
	m := readAll(t, brokers, topic, 1)[0]
	if string(m.Value) != line || string(m.Key) != "b/k:1" {
		t.Fatalf("got %q keyed %q", m.Value, m.Key)
	}
}
