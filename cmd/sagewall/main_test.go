package main

import (
	"runtime/debug"
	"testing"
)

// TestSetDefaultGCPercent checks that the binary's GC target applies only
// when GOGC is not set.
func TestSetDefaultGCPercent(t *testing.T) {
	previous := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(previous) })
	for _, tc := range []struct {
		gogc string
		want int
	}{
		{"", defaultGCPercent},
		{"50", 100}, // GOGC is the runtime's business: left alone
		{"off", 100},
	} {
		debug.SetGCPercent(100)
		setDefaultGCPercent(func(name string) string {
			if name == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: GC percent %d, want %d", tc.gogc, got, tc.want)
		}
	}
}
