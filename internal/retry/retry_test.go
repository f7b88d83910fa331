package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffStaysWithinBounds(t *testing.T) {
	const base, limit = 100 * time.Millisecond, time.Second
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration // largest allowed wait
	}{
		{0, base},
		{1, base},
		{2, 2 * base},
		{3, 4 * base},
		{4, 8 * base},
		{5, limit},
		{40, limit},
		{70, limit}, // the shift is capped, so it cannot overflow to a negative wait
	} {
		for range 200 {
			if d := Backoff(tc.attempt, base, limit); d < base || d > tc.ceiling {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", tc.attempt, d, base, tc.ceiling)
			}
		}
	}
	if d := Backoff(3, time.Second, 10*time.Millisecond); d != 10*time.Millisecond {
		t.Errorf("base above limit: backoff %v, want the limit", d)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("Sleep on a cancelled context waited %v", waited)
	}
}
