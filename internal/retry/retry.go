// Package retry holds the backoff the AWS callers share (the SageMaker
// scorer, the SNS sink, the S3 bridge): they switch the SDK's retryer off
// and retry themselves, so every attempt is counted and bounded by their
// own context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait before retry number attempt (1-based), "full jitter":
// uniform in [base, min(limit, base*2^(attempt-1))].
func Backoff(attempt int, base, limit time.Duration) time.Duration {
	ceiling := base << min(max(attempt-1, 0), 30)
	if ceiling > limit || ceiling <= 0 {
		ceiling = limit
	}
	if ceiling <= base {
		return ceiling
	}
	return base + rand.N(ceiling-base)
}

// Sleep waits d, or returns ctx.Err() as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
