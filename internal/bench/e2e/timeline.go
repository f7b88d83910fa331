package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"time"
)

// A p99 over a 20 s run says how bad the tail is, not when or why. The
// timeline puts the latency of each window beside what the machine was
// doing then, so a stall (one window's max in the hundreds of ms) can be told
// from a rate the cores cannot sustain (every window's p99 up), and the
// machine's share (steal, I/O wait, writeback) from the system's.

const window = 100 * time.Millisecond

// windowStat is one window of the paced run, by source append time, and
// what the machine did meanwhile. Machine figures are omitted when zero.
type windowStat struct {
	At      float64 `json:"at_s"` // window start, seconds after the producer started
	Records int     `json:"records"`
	P99ms   float64 `json:"p99_ms"`
	Maxms   float64 `json:"max_ms"`

	// CPU in percent of both cores: busy, and of it the system measured
	// (this process's children but the hog: sagewall, both kcats, or the
	// Python consumer), the broker (and
	// the kernel's part of it: page cache writes, network), this process
	// (the load producer) and the CPU hog of a loaded run; the rest is kernel threads and anything else.
	Busy            float64 `json:"cpu_busy_pct,omitempty"`
	SystemCPU       float64 `json:"cpu_system_pct,omitempty"`
	BrokerCPU       float64 `json:"cpu_broker_pct,omitempty"`
	BrokerKernelCPU float64 `json:"cpu_broker_kernel_pct,omitempty"`
	HarnessCPU      float64 `json:"cpu_harness_pct,omitempty"`
	HogCPU          float64 `json:"cpu_hog_pct,omitempty"`
	IOWait          float64 `json:"cpu_iowait_pct,omitempty"`
	Steal           float64 `json:"cpu_steal_pct,omitempty"`

	// Memory at the window's end: free, dirty and under-writeback page
	// cache. Page cache reclaimed by kswapd and by allocating processes
	// themselves (direct reclaim, which stalls them), and the allocations
	// that stalled to reclaim or to compact memory.
	FreeMB        float64 `json:"free_mb,omitempty"`
	DirtyMB       float64 `json:"dirty_mb,omitempty"`
	WritingMB     float64 `json:"writeback_mb,omitempty"`
	ReclaimMB     float64 `json:"kswapd_reclaimed_mb,omitempty"`
	DirectMB      float64 `json:"direct_reclaimed_mb,omitempty"`
	AllocStalls   uint64  `json:"alloc_stalls,omitempty"`
	CompactStalls uint64  `json:"compact_stalls,omitempty"`

	// Pressure stall information, ms of the window: some task waited for a
	// CPU, for I/O or for memory; all non-idle tasks waited for I/O at once.
	CPUSomeMs    float64 `json:"psi_cpu_some_ms,omitempty"`
	IOSomeMs     float64 `json:"psi_io_some_ms,omitempty"`
	IOFullMs     float64 `json:"psi_io_full_ms,omitempty"`
	MemorySomeMs float64 `json:"psi_memory_some_ms,omitempty"`
}

// latencyAt is one measured record: its source append time and latency.
type latencyAt struct {
	source  time.Time
	latency time.Duration
}

// cpuTimes are the aggregate "cpu" line of /proc/stat, in jiffies.
type cpuTimes struct{ busy, iowait, steal, total uint64 }

type machineSample struct {
	at                         time.Time
	cpu                        cpuTimes
	freeKB, dirtyKB, writingKB uint64
	// From /proc/vmstat, in pages.
	kswapdPages, directPages, allocStalls, compactStalls uint64
	// From /proc/pressure, total stall time in µs.
	cpuSome, ioSome, ioFull, memorySome uint64
	// CPU time (user+system) in jiffies of the children (but the hog), the
	// broker, this process and the hog.
	children, broker, brokerKernel, harness, hog uint64
}

// processCPU reads the CPU time of the processes a timeline splits busy
// time by.
type processCPU struct{ brokerPID, hogPID int }

// newProcessCPU follows the broker brokerPID, or when it is 0 the first
// process running kafka.Kafka (scripts/bench-e2e.sh passes its broker's pid:
// the e2e suite's broker may be up as well).
func newProcessCPU(brokerPID int) *processCPU {
	p := &processCPU{brokerPID: brokerPID}
	if brokerPID != 0 {
		return p
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if bytes.Contains(cmdline, []byte("kafka.Kafka")) {
			p.brokerPID = pid
			break
		}
	}
	return p
}

func (p *processCPU) read(s *machineSample) {
	self := os.Getpid()
	s.harness, _ = jiffiesOf(self)
	if p.brokerPID != 0 {
		s.broker, s.brokerKernel = jiffiesOf(p.brokerPID)
	}
	if p.hogPID != 0 {
		s.hog, _ = jiffiesOf(p.hogPID)
	}
	// Every thread of this process may have started a child.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		children, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		for _, f := range bytes.Fields(children) {
			if pid, err := strconv.Atoi(string(f)); err == nil && pid != p.hogPID {
				total, _ := jiffiesOf(pid)
				s.children += total
			}
		}
	}
}

// jiffiesOf returns the CPU time of pid from /proc/<pid>/stat, all of it
// and the kernel's part; zeros if it is gone.
func jiffiesOf(pid int) (total, kernel uint64) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	return parseProcessJiffies(stat)
}

// parseProcessJiffies reads utime and stime, the 14th and 15th fields of
// /proc/<pid>/stat, and returns their sum and stime; the 2nd field, the
// command name, is in parentheses and may hold spaces.
func parseProcessJiffies(stat []byte) (total, kernel uint64) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, 0
	}
	f := bytes.Fields(stat[end+1:]) // from the 3rd field
	if len(f) < 13 {
		return 0, 0
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return utime + stime, stime
}

// sampleMachine records /proc/stat and /proc/meminfo every window until ctx
// ends and returns the samples; hogPID (0: none) is counted apart from the
// other children. On a system without /proc it returns none.
func sampleMachine(ctx context.Context, brokerPID, hogPID int) []machineSample {
	var samples []machineSample
	procs := newProcessCPU(brokerPID)
	procs.hogPID = hogPID
	tick := time.NewTicker(window)
	defer tick.Stop()
	for {
		s, err := readMachine()
		if err != nil {
			return nil
		}
		procs.read(&s)
		samples = append(samples, s)
		select {
		case <-ctx.Done():
			return samples
		case <-tick.C:
		}
	}
}

func readMachine() (machineSample, error) {
	s := machineSample{at: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, fmt.Errorf("reading /proc/stat: %w", err)
	}
	if s.cpu, err = parseCPULine(stat); err != nil {
		return s, err
	}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return s, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	s.freeKB, s.dirtyKB, s.writingKB = procValue(meminfo, "MemFree:"), procValue(meminfo, "Dirty:"), procValue(meminfo, "Writeback:")
	vmstat, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return s, fmt.Errorf("reading /proc/vmstat: %w", err)
	}
	s.kswapdPages, s.directPages = procValue(vmstat, "pgsteal_kswapd"), procValue(vmstat, "pgsteal_direct")
	s.allocStalls = procValue(vmstat, "allocstall_normal") + procValue(vmstat, "allocstall_movable")
	s.compactStalls = procValue(vmstat, "compact_stall")
	// Kernels without PSI have no /proc/pressure: zeros then.
	s.cpuSome, _ = pressureTotals("cpu")
	s.ioSome, s.ioFull = pressureTotals("io")
	s.memorySome, _ = pressureTotals("memory")
	return s, nil
}

// pressureTotals returns the "total=" of the some and full lines of
// /proc/pressure/<resource>, in µs.
func pressureTotals(resource string) (some, full uint64) {
	data, err := os.ReadFile("/proc/pressure/" + resource)
	if err != nil {
		return 0, 0
	}
	return parsePressure(data)
}

func parsePressure(data []byte) (some, full uint64) {
	for line := range bytes.Lines(data) {
		kind, rest, _ := bytes.Cut(line, []byte(" "))
		_, total, ok := bytes.Cut(rest, []byte("total="))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(total)), 10, 64)
		if err != nil {
			continue
		}
		switch string(kind) {
		case "some":
			some = n
		case "full":
			full = n
		}
	}
	return some, full
}

// parseCPULine reads the first line of /proc/stat: "cpu user nice system
// idle iowait irq softirq steal guest guest_nice" (guest time is already in
// user and nice).
func parseCPULine(stat []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return cpuTimes{}, fmt.Errorf("parsing /proc/stat: first line %q", line)
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("parsing /proc/stat: field %d %q: %w", i+1, f[i+1], err)
		}
		v[i] = n
	}
	user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	busy := user + nice + system + irq + softirq
	return cpuTimes{busy: busy, iowait: iowait, steal: steal, total: busy + idle + iowait + steal}, nil
}

// procValue returns the number after name in a /proc/meminfo ("Dirty:
// 2048 kB") or /proc/vmstat ("pgsteal_direct 12") line, 0 if absent.
func procValue(file []byte, name string) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == name {
			n, _ := strconv.ParseUint(string(f[1]), 10, 64)
			return n
		}
	}
	return 0
}

// timeline groups the measured records into windows from start, by source
// append time, and puts beside each the machine samples that span it.
func timeline(start time.Time, measured []latencyAt, samples []machineSample) []windowStat {
	var byWindow [][]time.Duration
	for _, m := range measured {
		if m.source.Before(start) {
			continue
		}
		i := int(m.source.Sub(start) / window)
		for len(byWindow) <= i {
			byWindow = append(byWindow, nil)
		}
		byWindow[i] = append(byWindow[i], m.latency)
	}
	out := make([]windowStat, 0, len(byWindow))
	for i, lat := range byWindow {
		from := start.Add(time.Duration(i) * window)
		w := windowStat{At: from.Sub(start).Seconds(), Records: len(lat)}
		if len(lat) > 0 {
			slices.Sort(lat)
			w.P99ms, w.Maxms = ms(quantile(lat, 0.99)), ms(lat[len(lat)-1])
		}
		w.addMachine(samples, from, from.Add(window))
		w.round()
		out = append(out, w)
	}
	return out
}

// addMachine fills the machine figures from the last sample at or before
// from to the first at or after to.
func (w *windowStat) addMachine(samples []machineSample, from, to time.Time) {
	first := -1
	for i, s := range samples {
		if !s.at.After(from) {
			first = i
		}
	}
	if first < 0 {
		return
	}
	last := first + 1
	for last < len(samples)-1 && samples[last].at.Before(to) {
		last++
	}
	if last >= len(samples) {
		return
	}
	a, b := samples[first], samples[last]
	total := float64(b.cpu.total - a.cpu.total)
	if total == 0 {
		return
	}
	pct := func(x, y uint64) float64 { return float64(y-x) / total * 100 }
	w.Busy, w.IOWait, w.Steal = pct(a.cpu.busy, b.cpu.busy), pct(a.cpu.iowait, b.cpu.iowait), pct(a.cpu.steal, b.cpu.steal)
	// A child that exited since a has no count at b: no share then.
	if b.children >= a.children {
		w.SystemCPU = pct(a.children, b.children)
	}
	w.BrokerCPU, w.BrokerKernelCPU, w.HarnessCPU = pct(a.broker, b.broker), pct(a.brokerKernel, b.brokerKernel), pct(a.harness, b.harness)
	if b.hog >= a.hog {
		w.HogCPU = pct(a.hog, b.hog)
	}
	w.FreeMB, w.DirtyMB, w.WritingMB = float64(b.freeKB)/1024, float64(b.dirtyKB)/1024, float64(b.writingKB)/1024
	pagesMB := float64(os.Getpagesize()) / (1 << 20)
	w.ReclaimMB, w.DirectMB = float64(b.kswapdPages-a.kswapdPages)*pagesMB, float64(b.directPages-a.directPages)*pagesMB
	w.AllocStalls, w.CompactStalls = b.allocStalls-a.allocStalls, b.compactStalls-a.compactStalls
	stallMs := func(x, y uint64) float64 { return float64(y-x) / 1000 }
	w.CPUSomeMs, w.IOSomeMs, w.IOFullMs = stallMs(a.cpuSome, b.cpuSome), stallMs(a.ioSome, b.ioSome), stallMs(a.ioFull, b.ioFull)
	w.MemorySomeMs = stallMs(a.memorySome, b.memorySome)
}

// round keeps one decimal of the machine figures: the samples are not
// finer (a jiffy is 5% of a 100 ms window on 2 cores), and a 60 s run's
// JSON is a third the size.
func (w *windowStat) round() {
	for _, f := range []*float64{&w.Busy, &w.IOWait, &w.Steal, &w.SystemCPU, &w.BrokerCPU, &w.HarnessCPU, &w.BrokerKernelCPU, &w.HogCPU,
		&w.FreeMB, &w.DirtyMB, &w.WritingMB, &w.ReclaimMB, &w.DirectMB, &w.CPUSomeMs, &w.IOSomeMs, &w.IOFullMs, &w.MemorySomeMs} {
		*f = math.Round(*f*10) / 10
	}
}

// worst returns the window with the highest p99, for the printed table.
func worst(windows []windowStat) (windowStat, bool) {
	if len(windows) == 0 {
		return windowStat{}, false
	}
	return slices.MaxFunc(windows, func(a, b windowStat) int {
		switch {
		case a.P99ms < b.P99ms:
			return -1
		case a.P99ms > b.P99ms:
			return 1
		}
		return 0
	}), true
}
