//go:build !linux

package scoring

import "time"

// threadCPUTime is unavailable here; benchmarks then report 0 cpu-ns/record.
func threadCPUTime() time.Duration { return 0 }

func lockThread()   {}
func unlockThread() {}
