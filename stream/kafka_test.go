package stream

import (
	"bytes"
	"log/slog"
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
