package main

import (
	"math"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		setting string
		rows    int
		want    int64
		wantErr bool
	}{
		{"auto", 16 * 512, 120 << 20, false},
		{"", 16 * 512, 120 << 20, false},
		{"auto", 8 * 512, 120 << 20, false},               // fewer rows: no less room
		{"auto", 64 * 512, 120<<20 + 48*512*3<<10, false}, // 3 KiB per extra row
		{"off", 16 * 512, math.MaxInt64, false},
		{"256MiB", 16 * 512, 256 << 20, false},
		{"1GiB", 0, 1 << 30, false},
		{"512KiB", 0, 512 << 10, false},
		{"1000000", 0, 1000000, false},
		{"100B", 0, 100, false},
		{"0", 0, 0, true},
		{"-5MiB", 0, 0, true},
		{"lots", 0, 0, true},
		{"9999999999GiB", 0, 0, true},
	} {
		got, err := memoryLimit(tc.setting, tc.rows)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("memoryLimit(%q, %d) = %d, %v; want %d (error %v)", tc.setting, tc.rows, got, err, tc.want, tc.wantErr)
		}
	}
}
