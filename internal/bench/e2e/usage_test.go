package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// The test binary doubles as a child that spins (and holds memory), for
// the usage tests.
func TestMain(m *testing.M) {
	if d := os.Getenv("BENCH_E2E_TEST_SPIN"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			os.Exit(2)
		}
		mb, _ := strconv.Atoi(os.Getenv("BENCH_E2E_TEST_HOLD_MB"))
		held := make([]byte, mb<<20)
		for i := range held {
			held[i] = 1 // touched, so resident
		}
		spin(dur)
		runtime.KeepAlive(held)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// spinChild runs this test binary spinning for d with holdMB MB resident,
// as the harness runs a measured system, and waits for it to exit.
func spinChild(t *testing.T, d time.Duration, holdMB int) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BENCH_E2E_TEST_SPIN="+d.String(), "BENCH_E2E_TEST_HOLD_MB="+strconv.Itoa(holdMB))
	p, err := startProcess("spinning child", cmd)
	if err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if p.err != nil {
		t.Fatalf("spinning child: %v", p.err)
	}
	return p
}

func TestUsageOfExitedProcesses(t *testing.T) {
	// The parent holds more than the children: a peak inherited from it
	// (rusage's ru_maxrss after CLONE_VM) would show.
	parent := make([]byte, 256<<20)
	for i := range parent {
		parent[i] = 1
	}
	a, b := spinChild(t, 150*time.Millisecond, 64), spinChild(t, 50*time.Millisecond, 0)
	runtime.KeepAlive(parent)
	ua, ub := usageOf(a), usageOf(b)
	// A busy core: CPU time close to the spin (less only on a starved machine).
	if ua.cpu < 50*time.Millisecond || ua.cpu > 2*time.Second {
		t.Errorf("a child spinning 150ms used %v of CPU", ua.cpu)
	}
	maxKB := int64(160 << 10)
	if raceDetector {
		maxKB *= 4
	}
	if ua.maxRSSKB < 64<<10 || ua.maxRSSKB > maxKB {
		t.Errorf("peak RSS %d kB of a child holding 64 MB", ua.maxRSSKB)
	}
	if ub.maxRSSKB < 1024 || ub.maxRSSKB > 64<<10 {
		t.Errorf("peak RSS %d kB, want that of a small Go binary (not the parent's 256 MB)", ub.maxRSSKB)
	}
	sum := usageOf(a, b)
	if sum.cpu != ua.cpu+ub.cpu || sum.maxRSSKB != ua.maxRSSKB+ub.maxRSSKB {
		t.Errorf("usageOf(a, b) = %+v, want the sum of %+v and %+v", sum, ua, ub)
	}
	if u := usageOf(); u != (usage{}) {
		t.Errorf("usageOf() = %+v, want zero", u)
	}
}

func TestVmHWM(t *testing.T) {
	status := []byte("Name:\tsagewall\nVmPeak:\t 1300000 kB\nVmHWM:\t  104360 kB\nVmRSS:\t   99000 kB\n")
	if kb, ok := vmHWM(status); !ok || kb != 104360 {
		t.Errorf("vmHWM = %d, %v; want 104360", kb, ok)
	}
	if _, ok := vmHWM([]byte("Name:\tzombie\n")); ok {
		t.Error("vmHWM found a peak in a status without VmHWM")
	}
}

func TestCostFill(t *testing.T) {
	tests := []struct {
		name    string
		c       cost
		records int
		want    throughputRun
	}{
		{"sagewall-like", cost{usage{cpu: 1500 * time.Millisecond, maxRSSKB: 153_600}, 700 * time.Millisecond}, 500_000,
			throughputRun{CPUus: 3, BrokerCPUus: 1.4, PeakRSSMB: 150}},
		{"rounded to 0.01 µs and 0.1 MB", cost{usage{cpu: time.Second, maxRSSKB: 1000}, time.Second}, 300_000,
			throughputRun{CPUus: 3.33, BrokerCPUus: 3.33, PeakRSSMB: 1}},
		{"broker unknown", cost{usage{cpu: 2 * time.Second}, 0}, 1_000_000, throughputRun{CPUus: 2}},
		{"no records", cost{usage{cpu: time.Second, maxRSSKB: 2048}, time.Second}, 0, throughputRun{PeakRSSMB: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got throughputRun
			tt.c.fill(&got, tt.records)
			if got != tt.want {
				t.Errorf("fill = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPerRecordAndJiffies(t *testing.T) {
	tests := []struct {
		d       time.Duration
		records int
		want    float64
	}{
		{time.Second, 1_000_000, 1},
		{jiffiesDuration(250), 500_000, 5}, // 250 ticks of 10 ms
		{time.Millisecond, 4, 250},
		{time.Second, 0, 0},
		{0, 10, 0},
	}
	for _, tt := range tests {
		if got := perRecordUS(tt.d, tt.records); got != tt.want {
			t.Errorf("perRecordUS(%v, %d) = %v, want %v", tt.d, tt.records, got, tt.want)
		}
	}
	if got := jiffiesDuration(1); got != 10*time.Millisecond {
		t.Errorf("one jiffy = %v, want 10ms", got)
	}
}

func TestBrokerMeter(t *testing.T) {
	if (brokerMeter{}).jiffies() != 0 || (brokerMeter{}).since(0) != 0 {
		t.Error("a meter without a broker read CPU time")
	}
	self := brokerMeter{os.Getpid()}
	start := self.jiffies()
	spin(50 * time.Millisecond)
	if d := self.since(start); d < 0 || d > 5*time.Second {
		t.Errorf("since = %v", d)
	}
	if d := self.since(start + 1<<40); d != 0 {
		t.Errorf("since a later reading = %v, want 0 (the count went back)", d)
	}
}
