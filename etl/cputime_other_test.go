//go:build !linux

package etl

import "testing"

// threadCPUTimer reports nothing where thread CPU time is not read.
type threadCPUTimer struct{}

func startThreadCPU() *threadCPUTimer { return &threadCPUTimer{} }

func (*threadCPUTimer) report(*testing.B) {}
