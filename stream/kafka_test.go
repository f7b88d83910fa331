package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func TestDedupLoggerLogsEachMessageOncePerInterval(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(0, 0)
	d := &dedupLogger{logger: slog.New(slog.NewTextHandler(&out, nil)), every: time.Minute,
		now: func() time.Time { return clock }, last: map[string]*logged{}}
	for range 1000 {
		d.Printf("failed to dial: %s", "connection refused")
		d.Printf("topic %q not found", "no.such.topic")
		clock = clock.Add(10 * time.Millisecond) // 10 s in all
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 2000 errors in 10 s, want 2:\n%s", n, out.String())
	}
	clock = clock.Add(time.Minute)
	d.Printf("failed to dial: %s", "connection refused")
	if !strings.Contains(out.String(), "repeated_since_last_logged=999") {
		t.Errorf("the next line does not count the repeats:\n%s", out.String())
	}
	if strings.Contains(out.String(), " msg=\"failed") {
		t.Errorf("the reader's message reuses slog's msg key:\n%s", out.String())
	}
}

// topLevelKeys returns the keys of the JSON object line in order, repeats
// included (encoding/json's maps would hide a repeated key).
func topLevelKeys(t testing.TB, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line is not a JSON object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
	}
	return keys
}

// TestReaderLogOneMsgKey runs a real reader against a port where no broker
// listens: each line kafka-go's error log produces through WithReaderLogger
// has one msg, one level and one time key.
func TestReaderLogOneMsgKey(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every dial is refused

	var out syncBuffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	r := NewReader(Conn{Brokers: []string{addr}}, "g", "raw", WithReaderLogger(logger))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _ = r.FetchMessage(ctx)
	r.Close()

	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) == 0 || len(lines[0]) == 0 {
		t.Fatal("the reader logged nothing while no broker answered")
	}
	for _, line := range lines {
		counts := map[string]int{}
		for _, k := range topLevelKeys(t, line) {
			counts[k]++
		}
		for _, k := range []string{"time", "level", "msg"} {
			if counts[k] != 1 {
				t.Errorf("key %q appears %d times in %s", k, counts[k], line)
			}
		}
	}
}
