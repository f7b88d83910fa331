package main

import (
	"testing"
	"time"
)

func TestParseCPULine(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    cpuTimes
		wantErr bool
	}{
		{"kernel line", "cpu  100 1 50 800 20 3 6 10 0 0\ncpu0 1 2 3\n", cpuTimes{busy: 160, iowait: 20, steal: 10, total: 990}, false},
		{"too few fields", "cpu 1 2 3\n", cpuTimes{}, true},
		{"not the cpu line", "intr 1 2 3 4 5 6 7 8 9\n", cpuTimes{}, true},
		{"not a number", "cpu 1 2 x 4 5 6 7 8 9 10\n", cpuTimes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPULine([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseCPULine(%q) = %+v, %v; want %+v, error %v", tt.stat, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseProcessJiffies(t *testing.T) {
	tests := []struct {
		stat              string
		total, kernelWant uint64
	}{
		{"23263 (java) S 1 23262 1 0 -1 4194560 1000 0 0 0 1500 250 0 0 20 0 80 0 100 0", 1750, 250},
		{"42 (my (odd) name) R 1 42 1 0 -1 0 0 0 0 0 7 3 0 0", 10, 3},
		{"42 (cut short) R 1", 0, 0},
		{"no parenthesis", 0, 0},
	}
	for _, tt := range tests {
		if total, kernel := parseProcessJiffies([]byte(tt.stat)); total != tt.total || kernel != tt.kernelWant {
			t.Errorf("parseProcessJiffies(%q) = %d, %d; want %d, %d", tt.stat, total, kernel, tt.total, tt.kernelWant)
		}
	}
	if total, kernel := jiffiesOf(-1); total != 0 || kernel != 0 {
		t.Errorf("jiffiesOf(no such process) = %d, %d; want 0, 0", total, kernel)
	}
}

func TestParsePressure(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		some, full uint64
	}{
		{"io", "some avg10=1.04 avg60=1.61 avg300=1.20 total=186209228\nfull avg10=0.92 avg60=1.47 avg300=1.07 total=122700170\n", 186209228, 122700170},
		{"cpu without full", "some avg10=14.35 avg60=28.95 avg300=22.59 total=5221551130\n", 5221551130, 0},
		{"garbage", "some total=x\nnothing here\n", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if some, full := parsePressure([]byte(tt.data)); some != tt.some || full != tt.full {
				t.Errorf("parsePressure = %d, %d; want %d, %d", some, full, tt.some, tt.full)
			}
		})
	}
}

func TestProcValue(t *testing.T) {
	meminfo := []byte("MemTotal:       24000000 kB\nDirty:              2048 kB\nWriteback:             0 kB\n")
	vmstat := []byte("pgsteal_kswapd 9331418\npgsteal_direct 178391\n")
	tests := []struct {
		file []byte
		name string
		want uint64
	}{
		{meminfo, "Dirty:", 2048},
		{meminfo, "Writeback:", 0},
		{meminfo, "MemTotal:", 24000000},
		{meminfo, "Missing:", 0},
		{vmstat, "pgsteal_direct", 178391},
		{vmstat, "pgsteal", 0}, // whole names only
	}
	for _, tt := range tests {
		if got := procValue(tt.file, tt.name); got != tt.want {
			t.Errorf("procValue(%s) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTimeline(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	measured := []latencyAt{
		{at(10), 5 * time.Millisecond},
		{at(90), 7 * time.Millisecond},
		{at(250), 40 * time.Millisecond}, // the third window; the second has none
		{at(-5), time.Second},            // before the start: left out
	}
	samples := []machineSample{
		{at: at(0), cpu: cpuTimes{busy: 0, total: 0}, dirtyKB: 1024},
		{at: at(100), cpu: cpuTimes{busy: 10, iowait: 2, steal: 1, total: 20}, dirtyKB: 2048, hog: 10},
		{at: at(200), cpu: cpuTimes{busy: 30, iowait: 2, steal: 1, total: 40}, dirtyKB: 4096, writingKB: 512, allocStalls: 3, hog: 20},
		{at: at(300), cpu: cpuTimes{busy: 50, iowait: 2, steal: 1, total: 60}, allocStalls: 3}, // the hog has exited
	}
	got := timeline(start, measured, samples)
	want := []windowStat{
		{At: 0, Records: 2, P99ms: 7, Maxms: 7, Busy: 50, IOWait: 10, Steal: 5, DirtyMB: 2, HogCPU: 50},
		{At: 0.1, Busy: 100, DirtyMB: 4, WritingMB: 0.5, AllocStalls: 3, HogCPU: 50},
		{At: 0.2, Records: 1, P99ms: 40, Maxms: 40, Busy: 100, AllocStalls: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("timeline has %d windows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("window %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if w, ok := worst(got); !ok || w.At != 0.2 {
		t.Errorf("worst = %+v, %v; want the window at 0.2 s", w, ok)
	}
	if _, ok := worst(nil); ok {
		t.Error("worst of no windows reported one")
	}
}
