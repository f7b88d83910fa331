package scoring

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// threadCPUTime is the CPU time of the calling thread. Benchmarks report it
// beside ns/op because on a shared machine wall time per op grows with
// other processes' load while the thread's own CPU time barely does.
func threadCPUTime() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

func lockThread()   { runtime.LockOSThread() }
func unlockThread() { runtime.UnlockOSThread() }
