package stream

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health tracks whether each service the pipeline depends on (the broker it
// fetches from, each output, the scorer) works. A component reports every
// failure with Down and every success with Up; Health logs only the changes
// of state (one line when a dependency goes down, one when it is back, with
// how long the outage lasted), never one line per attempt, and keeps the
// gauge sagewall_dependency_up{dependency} at 0 or 1. It is safe for
// concurrent use; a nil *Health records nothing.
type Health struct {
	logger        *slog.Logger
	outageTimeout time.Duration
	gauge         *prometheus.GaugeVec
	now           func() time.Time

	mu   sync.Mutex
	deps map[string]*dependency
}

type dependency struct {
	down     bool
	since    time.Time // when it went down
	failures int       // failed attempts in this outage
	lastErr  error
}

// HealthOption configures a Health.
type HealthOption func(*Health)

// WithOutageTimeout makes Expired report a dependency that has been down
// for longer than d, for those who prefer an exit (and a supervisor's
// restart) to waiting; 0, the default, waits for as long as the outage lasts.
func WithOutageTimeout(d time.Duration) HealthOption {
	return func(h *Health) { h.outageTimeout = d }
}

// WithHealthLogger sets the logger of the state changes (default slog.Default()).
func WithHealthLogger(l *slog.Logger) HealthOption { return func(h *Health) { h.logger = l } }

// WithHealthRegisterer registers the sagewall_dependency_up gauge on reg.
func WithHealthRegisterer(reg prometheus.Registerer) HealthOption {
	return func(h *Health) {
		h.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sagewall_dependency_up",
			Help: "1 while a service the pipeline depends on works, 0 during an outage (it is retried with backoff meanwhile).",
		}, []string{"dependency"})
		if err := reg.Register(h.gauge); err != nil {
			h.gauge = nil // already registered by another Health: keep the first
		}
	}
}

// NewHealth returns a tracker with every dependency up.
func NewHealth(opts ...HealthOption) *Health {
	h := &Health{logger: slog.Default(), now: time.Now, deps: map[string]*dependency{}}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *Health) dependency(name string) *dependency {
	d := h.deps[name]
	if d == nil {
		d = &dependency{}
		h.deps[name] = d
		if h.gauge != nil {
			h.gauge.WithLabelValues(name).Set(1)
		}
	}
	return d
}

// Register makes name known (up) so it shows on the gauge before its first
// attempt.
func (h *Health) Register(name string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.dependency(name)
	h.mu.Unlock()
}

// Down reports a failed attempt to use name.
func (h *Health) Down(name string, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	d := h.dependency(name)
	d.failures++
	d.lastErr = err
	if d.down {
		h.mu.Unlock()
		return
	}
	d.down, d.since = true, h.now()
	h.mu.Unlock()
	if h.gauge != nil {
		h.gauge.WithLabelValues(name).Set(0)
	}
	h.logger.Warn("dependency down: retrying with backoff until it is back", "dependency", name, "err", err)
}

// Up reports a successful attempt to use name.
func (h *Health) Up(name string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	d := h.dependency(name)
	if !d.down {
		h.mu.Unlock()
		return
	}
	outage, failures := h.now().Sub(d.since), d.failures
	d.down, d.failures, d.lastErr = false, 0, nil
	h.mu.Unlock()
	if h.gauge != nil {
		h.gauge.WithLabelValues(name).Set(1)
	}
	h.logger.Info("dependency back up", "dependency", name, "outage", outage.Round(time.Millisecond), "failed_attempts", failures)
}

// Expired reports whether name has been down for longer than the outage
// timeout, with the error to stop on; never without WithOutageTimeout.
func (h *Health) Expired(name string) error {
	if h == nil || h.outageTimeout <= 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.deps[name]
	if d == nil || !d.down || h.now().Sub(d.since) <= h.outageTimeout {
		return nil
	}
	return fmt.Errorf("%s down for more than the outage timeout %s (%d failed attempts): %w",
		name, h.outageTimeout, d.failures, d.lastErr)
}

// Ready reports whether every dependency is up and, when not, which are
// down and why (for /readyz).
func (h *Health) Ready() (bool, string) {
	if h == nil {
		return true, ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var down []string
	for name, d := range h.deps {
		if d.down {
			down = append(down, fmt.Sprintf("%s down for %s: %v", name, h.now().Sub(d.since).Round(time.Second), d.lastErr))
		}
	}
	slices.Sort(down)
	return len(down) == 0, strings.Join(down, "; ")
}
