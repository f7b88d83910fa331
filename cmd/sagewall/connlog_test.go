package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/captures"
)

// capturePath is a bundled capture, read as a user's file would be.
func capturePath(name string) string { return "../../internal/captures/zeek/" + name }

// TestDemoZeekSource replays the labelled capture through the pipeline:
// every connection a verdict or (the broken ones) a dead letter, all
// committed, and the labels scored.
func TestDemoZeekSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"demo", "--source", "zeek", "--records", "6000", "--bad-every", "1000", "--json", "--dashboard=false"},
		stdio{out: &stdout, err: &stderr})
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var s demoSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if s.Consumed != 6000 || s.Verdicts != 5994 || s.Rejected != 6 || s.Committed != 6000 {
		t.Fatalf("summary = %+v; want 6000 consumed, 5994 verdicts, 6 rejected, 6000 committed", s)
	}
	if c := s.Confusion; c.Labelled() < 5000 || c.Unlabelled == 0 {
		t.Fatalf("confusion %+v: want the capture's labels counted (Benign, Malicious) and its Background unlabelled", c)
	}
}

// TestFeaturesCommand derives the labelled capture: one NSL-KDD line per
// connection in start order, each readable by the encoder, the label
// mapped; --identity adds who talked to whom under a header row.
func TestFeaturesCommand(t *testing.T) {
	out, errOut, err := runCommand(t, runFeatures, nil, "", capturePath("ctu-normal-40-day1.conn.log.labeled.gz"))
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5663 {
		t.Fatalf("%d lines, want 5663 connections", len(lines))
	}
	enc := etl.NewEncoder(nil)
	var rec etl.Record
	row := make([]float32, etl.Width)
	labels := map[string]int{}
	for i, l := range lines {
		if err := enc.Encode([]byte(l), &rec, row); err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		labels[rec.Label]++
	}
	if labels["normal"] != 1402 || labels["Malicious"] != 4201 || labels[""] != 60 {
		t.Fatalf("labels %v, want 1402 normal, 4201 Malicious, 60 without", labels)
	}

	out, _, err = runCommand(t, runFeatures, nil, "", "--identity", "--label-map", "Malicious=neptune", capturePath("ctu-normal-40-day1.conn.log.labeled.gz"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Scan()
	if header := sc.Text(); !strings.HasPrefix(header, identityColumns+",duration,protocol_type") || !strings.HasSuffix(header, ",label") {
		t.Fatalf("header %q", header)
	}
	var last time.Time
	neptune, late := 0, 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 7+41+1 {
			t.Fatalf("line %q: %d fields, want 49", sc.Text(), len(f))
		}
		ts, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil || f[2] == "" || f[4] == "" {
			t.Fatalf("line %q: no start or unnamed (%v)", sc.Text(), err)
		}
		// Lines come in start order, but for connections logged more than
		// the reorder window (5 s) after later-starting ones: those are
		// judged at once, as late.
		if ts.Before(last) {
			late++
		} else {
			last = ts
		}
		if f[len(f)-1] == "neptune" {
			neptune++
		}
	}
	if neptune != 4201 {
		t.Fatalf("%d lines relabelled neptune, want 4201", neptune)
	}
	// Zeek logs a connection when it times out (UDP after a minute, a
	// half-open TCP one after minutes), so many lines of a real log come
	// well after later-starting ones.
	mayBeLate := loggedLate(t, "ctu-normal-40-day1.conn.log.labeled.gz", 5*time.Second)
	t.Logf("%d of 5663 connections out of start order (late); %d were logged more than 5 s after a later-starting one", late, mayBeLate)
	if late > mayBeLate {
		t.Fatalf("%d connections out of start order, but only %d arrived late", late, mayBeLate)
	}
}

// TestScoreAndEvalZeek: score judges every connection once, eval measures
// against the capture's labels.
func TestScoreAndEvalZeek(t *testing.T) {
	out, errOut, err := runCommand(t, runScore, nil, "", "--format", "zeek", capturePath("ctu-normal-40-day1.conn.log.labeled.gz"))
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	seen := map[int]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var v struct {
			Source struct {
				Line int `json:"line"`
			} `json:"source"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Source.Line < 9 || seen[v.Source.Line] {
			t.Fatalf("verdict %q: line %d repeated or not a data line (%v)", l, v.Source.Line, err)
		}
		seen[v.Source.Line] = true
	}
	if len(seen) != 5663 {
		t.Fatalf("%d verdicts, want 5663", len(seen))
	}
	out, errOut, err = runCommand(t, runEval, nil, "", "--format", "zeek", "--json", capturePath("ctu-normal-40-day1.conn.log.labeled.gz"))
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var r evalReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Records != 5603 || r.Attacks != 4201 || r.Unlabelled != 60 {
		t.Fatalf("eval: %d records, %d attacks, %d unlabelled; want 5603, 4201, 60", r.Records, r.Attacks, r.Unlabelled)
	}
}

// loggedLate counts the connections of a capture logged more than window
// after one that started later.
func loggedLate(t *testing.T, name string, window time.Duration) int {
	t.Helper()
	rc, err := captures.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	parser := connlog.NewParser(connlog.Zeek)
	sc := bufio.NewScanner(rc)
	var latest time.Time
	n := 0
	for sc.Scan() {
		var c connlog.Conn
		if ok, err := parser.Parse(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		} else if !ok {
			continue
		}
		if c.Start.Before(latest.Add(-window)) {
			n++
		}
		if c.Start.After(latest) {
			latest = c.Start
		}
	}
	return n
}
