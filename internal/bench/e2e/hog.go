package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// The loaded paced runs share the two cores with a CPU hog: this binary
// re-executed as `e2e --spin DURATION`, one goroutine spinning on one
// core. It is bounded three ways: it exits by itself after DURATION (the
// phase limit), it is started under the phase's context, and the paced run
// stops it when its records are out.

// spinArg is the hidden first argument that makes the binary a hog.
const spinArg = "--spin"

// spin keeps one core busy for d, then returns.
func spin(d time.Duration) {
	runtime.GOMAXPROCS(1)
	deadline := time.Now().Add(d)
	for n := 0; ; n++ {
		if n%(1<<20) == 0 && time.Now().After(deadline) {
			return
		}
	}
}

// startHog starts the hog for at most d.
func startHog(ctx context.Context, d time.Duration) (*process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("starting the CPU hog: %w", err)
	}
	return startProcess("CPU hog", exec.CommandContext(ctx, exe, spinArg, d.String()))
}

// hogCores is how many cores the hog kept busy on average: its CPU time
// over the time it ran (after it has exited).
func hogCores(h *process, ran time.Duration) float64 {
	if ran <= 0 {
		return 0
	}
	return round(cpuOf(h.cmd.ProcessState).Seconds()/ran.Seconds(), 2)
}
