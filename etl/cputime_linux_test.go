package etl

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// threadCPUTimer measures the CPU time of the benchmark's own thread, which,
// unlike ns/op, does not grow while other processes hold the cores of a
// shared machine.
type threadCPUTimer struct{ start time.Duration }

func startThreadCPU() *threadCPUTimer {
	runtime.LockOSThread()
	return &threadCPUTimer{start: threadCPUTime()}
}

// report adds the "cpu-ns/record" metric for b.N records.
func (t *threadCPUTimer) report(b *testing.B) {
	elapsed := threadCPUTime() - t.start
	runtime.UnlockOSThread()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "cpu-ns/record")
}

func threadCPUTime() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
