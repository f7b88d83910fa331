package main

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"time"
)

// What a throughput run cost, beside its records/s: the CPU time of the
// system measured (user + system, from the rusage of its processes once
// they have exited: sagewall's one, kcat's two, the Python consumer's one),
// their peak resident memory, and the broker's CPU time over the run (from
// /proc/<pid>/stat before and after).

// userHZ is the unit of /proc/<pid>/stat's utime and stime (USER_HZ, 100
// on every Linux architecture the harness runs on).
const userHZ = 100

// usage is the CPU time and peak RSS of one or more exited processes.
type usage struct {
	cpu      time.Duration
	maxRSSKB int64 // summed over the processes: each has its own peak
}

// usageOf adds up the CPU time (rusage) and the sampled peak RSS of exited
// processes.
func usageOf(procs ...*process) usage {
	var u usage
	for _, p := range procs {
		u.cpu += cpuOf(p.cmd.ProcessState)
		u.maxRSSKB += p.peakKB.Load()
	}
	return u
}

// cpuOf is the user and system time of an exited process (0 for nil).
func cpuOf(s *os.ProcessState) time.Duration {
	if s == nil {
		return 0
	}
	return s.UserTime() + s.SystemTime()
}

// vmHWM reads the peak resident set size (kB) from /proc/<pid>/status.
func vmHWM(status []byte) (int64, bool) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		return kb, err == nil
	}
	return 0, false
}

// jiffiesDuration converts /proc/<pid>/stat clock ticks to a duration.
func jiffiesDuration(j uint64) time.Duration {
	return time.Duration(j) * time.Second / userHZ
}

// cost is what one throughput run cost.
type cost struct {
	usage
	broker time.Duration // the broker's CPU time over the run; 0 if unknown
}

// fill sets t's per-record CPU figures and peak RSS for records records.
func (c cost) fill(t *throughputRun, records int) {
	t.CPUus = round(perRecordUS(c.cpu, records), 2)
	t.BrokerCPUus = round(perRecordUS(c.broker, records), 2)
	t.PeakRSSMB = round(float64(c.maxRSSKB)/1024, 1)
}

// perRecordUS is d spread over records, in µs; 0 for no records.
func perRecordUS(d time.Duration, records int) float64 {
	if records <= 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / 1000 / float64(records)
}

// round rounds v to digits decimals: the results keep what the
// measurement resolves, not float64's 17 digits.
func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// brokerMeter reads the broker's CPU time; a zero pid reads nothing.
type brokerMeter struct{ pid int }

// jiffies is the broker's CPU time so far, in clock ticks.
func (m brokerMeter) jiffies() uint64 {
	if m.pid == 0 {
		return 0
	}
	total, _ := jiffiesOf(m.pid)
	return total
}

// since is the broker's CPU time since start (a jiffies reading); 0 if
// the broker is unknown or its count went back (it restarted).
func (m brokerMeter) since(start uint64) time.Duration {
	now := m.jiffies()
	if m.pid == 0 || now < start {
		return 0
	}
	return jiffiesDuration(now - start)
}
