package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/sinks"
)

// flakyPublisher refuses its first failures calls, then accepts, keeping
// what it accepted.
type flakyPublisher struct {
	mu       sync.Mutex
	failures int
	calls    int
	accepted map[string]int
}

func (p *flakyPublisher) Publish(_ context.Context, alerts []sinks.Alert, done func(error)) {
	p.mu.Lock()
	p.calls++
	fail := p.calls <= p.failures
	if !fail {
		for _, a := range alerts {
			p.accepted[a.Key]++
		}
	}
	p.mu.Unlock()
	if fail {
		done(errors.New("sns: connection refused"))
		return
	}
	done(nil)
}

func (p *flakyPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted)
}

// TestNotifierCommitsOnlyWhatWasPublished: alerts are committed only once
// the publisher accepted them; a failing publisher is retried (not
// committed meanwhile), and a notifier stopped during an outage commits
// nothing it did not publish. Undecodable messages are skipped.
func TestNotifierCommitsOnlyWhatWasPublished(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		wantAll  bool
	}{
		{"publisher up", 0, true},
		{"publisher down for a while", 5, true},
		{"publisher down until stopped", 1 << 30, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := testenv.KFake(t, kfake.SeedTopics(2, "alerts"))
			const n = 1000
			values := make([][]byte, 0, n+1)
			for i := range n {
				b, _ := json.Marshal(sinks.Alert{Key: fmt.Sprintf("raw/0/%d", i), Score: 0.99, Category: "dos", Service: "http"})
				values = append(values, b)
			}
			values = append(values, []byte("not an alert"))
			produce(t, brokers, "alerts", values)
			reader := NewReader(Conn{Brokers: brokers}, "notify", "alerts")
			defer reader.Close()
			pub := &flakyPublisher{failures: tc.failures, accepted: map[string]int{}}
			health := NewHealth()
			notifier, err := NewNotifier(reader, pub, WithNotifierHealth(health),
				WithNotifierBatch(100, 5*time.Millisecond), WithNotifierDrain(500*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- notifier.Run(ctx) }()
			committed := func() int64 {
				offsets, err := GroupOffsets(context.Background(), NewClient(brokers, nil), "notify", "alerts")
				if err != nil {
					return -1
				}
				var sum int64
				for _, p := range offsets {
					sum += max(p.Committed, 0)
				}
				return sum
			}
			if tc.wantAll {
				waitUntil(t, func() bool { return committed() == n+1 })
			} else {
				waitUntil(t, func() bool { ready, _ := health.Ready(); return !ready })
				time.Sleep(300 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
			if got := committed(); tc.wantAll && (got != n+1 || pub.count() != n) {
				t.Errorf("committed %d of %d, published %d of %d", got, n+1, pub.count(), n)
			} else if !tc.wantAll && (got > 0 || pub.count() > 0) {
				t.Errorf("publisher down: committed %d, published %d, want nothing", got, pub.count())
			}
			if ready, why := health.Ready(); tc.wantAll && !ready {
				t.Errorf("still down after the publisher came back: %s", why)
			}
		})
	}
}
