package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// The default soft memory limit (memory_limit: auto). At full speed with the
// default batch settings (16 batches of 512 rows in flight) the process
// peaked at 122–134 MB under Go's default GC target alone, and at 117–123 MB
// with a 120 MiB limit, at the same CPU per record (scripts/profile-run.sh,
// docs/pipeline.md "Memory"). Larger batch settings keep more rows in flight,
// about 3 KiB each, and get that much more room, so that the limit never
// sits under the live heap (where the collector would run all the time).
const (
	autoMemoryLimit     = 120 << 20
	defaultInFlightRows = 16 * 512
	memoryPerRow        = 3 << 10
)

// memoryLimit returns the soft memory limit memory_limit asks for, in
// bytes: auto (autoMemoryLimit, plus memoryPerRow for every in-flight row
// beyond the defaults'), off (none: math.MaxInt64), or a size such as
// 256MiB (B, KiB, MiB or GiB, as GOMEMLIMIT spells them).
func memoryLimit(setting string, inFlightRows int) (int64, error) {
	switch s := strings.TrimSpace(setting); s {
	case "auto", "":
		return autoMemoryLimit + int64(max(0, inFlightRows-defaultInFlightRows))*memoryPerRow, nil
	case "off":
		return math.MaxInt64, nil
	default:
		return parseBytes(s)
	}
}

// parseBytes reads a size in GOMEMLIMIT's spelling: a whole number of B,
// KiB, MiB or GiB (no unit: bytes).
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	number, shift := s, uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			number, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(number), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("parsing memory size %q: want auto, off, or a positive size such as 256MiB", s)
	}
	return n << shift, nil
}

// applyMemoryLimit sets the runtime's soft memory limit from memory_limit
// unless the GOMEMLIMIT environment variable already set one (the
// Kubernetes manifests set it from the container's limit). It returns the
// limit in force, for the start-up log.
func applyMemoryLimit(setting string, inFlightRows int, getenv func(string) string) (int64, error) {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), nil // -1 reads the limit without changing it
	}
	limit, err := memoryLimit(setting, inFlightRows)
	if err != nil {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}
