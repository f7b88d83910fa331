package stream

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHealthLogsStateChangesOnly(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	clock := time.Unix(0, 0)
	h := NewHealth(WithHealthLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithHealthRegisterer(reg), WithOutageTimeout(time.Minute))
	h.now = func() time.Time { return clock }
	h.Register("kafka")
	up := func() float64 { return testutil.ToFloat64(h.gauge.WithLabelValues("kafka")) }
	if ready, _ := h.Ready(); !ready || up() != 1 {
		t.Fatalf("a registered dependency starts down")
	}
	refused := errors.New("connection refused")
	for range 1000 {
		h.Down("kafka", refused)
	}
	if ready, why := h.Ready(); ready || !strings.Contains(why, "kafka down for 0s: connection refused") {
		t.Errorf("Ready() = %v, %q during the outage", ready, why)
	}
	if up() != 0 {
		t.Errorf("gauge %v during the outage, want 0", up())
	}
	clock = clock.Add(59 * time.Second)
	if err := h.Expired("kafka"); err != nil {
		t.Errorf("Expired before the timeout: %v", err)
	}
	clock = clock.Add(2 * time.Second)
	if err := h.Expired("kafka"); !errors.Is(err, refused) || !strings.Contains(err.Error(), "1000 failed attempts") {
		t.Errorf("Expired after the timeout = %v", err)
	}
	h.Up("kafka")
	h.Up("kafka")
	if ready, _ := h.Ready(); !ready || up() != 1 {
		t.Errorf("not ready after Up")
	}
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Errorf("%d log lines for one outage, want 2 (down, up):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "outage=1m1s") || !strings.Contains(logs.String(), "failed_attempts=1000") {
		t.Errorf("the up line does not tell the outage's length and attempts:\n%s", logs.String())
	}
	var none *Health
	none.Down("x", refused) // a nil Health records nothing
	if ready, _ := none.Ready(); !ready {
		t.Error("nil Health not ready")
	}
}
