package main

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppendRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e2e.jsonl")
	runs := []*results{
		{Run: "20261125-173258", Code: "abc1234", Flags: "--repeat 3", Records: 500000, Sagewall: &throughput{RecordsPerSec: 1}},
		{Run: "20261125-180228", Code: "abc1234-dirty", Records: 50000, Sagewall: &throughput{RecordsPerSec: 2},
			SagewallPaced: &latencyRun{P99ms: 12, Timeline: []windowStat{{At: 0.1, Records: 3}}}},
	}
	for _, r := range runs {
		if err := appendRecord(path, r); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n != len(runs) || !bytes.HasSuffix(data, []byte("\n")) {
		t.Fatalf("%d lines, want one per run:\n%s", n, data)
	}
	if !bytes.HasPrefix(data, []byte(`{"run":"20261125-173258","code":"abc1234","flags":"--repeat 3",`)) {
		t.Errorf("a line starts %.80s, want the run id, code and flags first", data)
	}
	tests := []struct {
		id, wantRun string
		wantErr     bool
	}{
		{"20261125-173258", "20261125-173258", false},
		{"20261125-180228", "20261125-180228", false},
		{"", "20261125-180228", false}, // the last
		{"20261125-999999", "", true},
	}
	for _, tt := range tests {
		got, err := readRecord(bytes.NewReader(data), tt.id)
		switch {
		case tt.wantErr:
			if err == nil {
				t.Errorf("readRecord(%q) = %+v, want an error", tt.id, got)
			}
		case err != nil:
			t.Errorf("readRecord(%q): %v", tt.id, err)
		case got.Run != tt.wantRun:
			t.Errorf("readRecord(%q) read run %q, want %q", tt.id, got.Run, tt.wantRun)
		}
	}
	if got, _ := readRecord(bytes.NewReader(data), "20261125-180228"); got.SagewallPaced == nil || got.SagewallPaced.Timeline[0].Records != 3 {
		t.Errorf("the paced run did not survive the round trip: %+v", got.SagewallPaced)
	}
	if _, err := readRecord(strings.NewReader(""), ""); err == nil {
		t.Error("readRecord of an empty file: no error")
	}
}

func TestThroughputReadsTheFirstHarnessRecords(t *testing.T) {
	tests := []struct {
		name, json string
		want       throughput
	}{
		{"one run, first harness", `{"seconds":2.5,"records_per_sec":200000,"steady_records_per_sec":210000,"outputs":500000}`,
			throughput{RecordsPerSec: 200000, SteadyPerSec: 210000,
				Runs: []throughputRun{{Seconds: 2.5, RecordsPerSec: 200000, SteadyPerSec: 210000, Outputs: 500000}}}},
		{"medians and runs", `{"records_per_sec":3,"steady_records_per_sec":4,"cpu_us":2.5,"runs":[{"seconds":1,"records_per_sec":3}]}`,
			throughput{RecordsPerSec: 3, SteadyPerSec: 4, CPUus: 2.5, Runs: []throughputRun{{Seconds: 1, RecordsPerSec: 3}}}},
		{"no runs at all", `{"records_per_sec":3}`, throughput{RecordsPerSec: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got throughput
			if err := got.UnmarshalJSON([]byte(tt.json)); err != nil {
				t.Fatal(err)
			}
			if got.RecordsPerSec != tt.want.RecordsPerSec || got.SteadyPerSec != tt.want.SteadyPerSec || got.CPUus != tt.want.CPUus ||
				len(got.Runs) != len(tt.want.Runs) || (len(got.Runs) == 1 && got.Runs[0] != tt.want.Runs[0]) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Every recorded run renders: the tables of docs/bench/ are printed from
// e2e.jsonl, whichever harness wrote the line.
func TestRenderEveryRecordedRun(t *testing.T) {
	f, err := os.Open("../../../docs/bench/e2e.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	var last time.Time
	lines := 0
	for sc.Scan() {
		lines++
		res, err := decodeRecord(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		id, err := time.Parse(runIDLayout, res.Run)
		if err != nil {
			t.Errorf("line %d: run id %q: %v", lines, res.Run, err)
		}
		if !id.After(last) {
			t.Errorf("line %d: run %s is not after the line before it", lines, res.Run)
		}
		last = id
		if res.Sagewall == nil || len(res.Sagewall.Runs) == 0 || res.SagewallPaced == nil {
			t.Errorf("run %s: no sagewall throughput runs or paced run", res.Run)
			continue
		}
		var out bytes.Buffer
		res.printTable(&out)
		for _, want := range []string{"Run " + res.Run, "| sagewall run | ", "Paced for "} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run %s: the table has no %q:\n%s", res.Run, want, out.String())
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 50 {
		t.Errorf("%d runs recorded, want the 50 converted ones at least", lines)
	}
}

func TestFlagsOf(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--records", "50000", "--out", "x.jsonl"}, "--records 50000"},
		{[]string{"--tuned", "GOGC=400 --batch-records 1024", "--skip-kcat"}, `--skip-kcat --tuned "GOGC=400 --batch-records 1024"`},
		{[]string{"--hog=false", "--records=7"}, "--hog=false --records 7"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.Int("records", 500000, "")
		fs.String("tuned", "", "")
		fs.String("out", "", "")
		fs.Bool("skip-kcat", false, "")
		fs.Bool("hog", true, "")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if got := flagsOf(fs, "out"); got != tt.want {
			t.Errorf("flagsOf(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestParseBatches(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"1000,10000", []int{1000, 10000}, false},
		{" 500 ", []int{500}, false},
		{"1000,", nil, true},
		{"0", nil, true},
		{"x", nil, true},
	}
	for _, tt := range tests {
		got, err := parseBatches(tt.in)
		if (err != nil) != tt.wantErr || len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("parseBatches(%q) = %v, %v; want %v (error %t)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
