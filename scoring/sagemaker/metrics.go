package sagemaker

import "github.com/prometheus/client_golang/prometheus"

// metrics are the scorer's Prometheus series; they are registered only when a
// registerer is given, so several scorers can live in one process in tests.
type metrics struct {
	calls        *prometheus.CounterVec
	rowsPerCall  prometheus.Histogram
	latency      *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	fallbackRows prometheus.Counter
	breakerOpen  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_sagemaker_calls_total",
			Help: "InvokeEndpoint calls, by endpoint and outcome (ok, error).",
		}, []string{"endpoint", "outcome"}),
		rowsPerCall: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sagewall_sagemaker_rows_per_call",
			Help:    "Rows sent in one InvokeEndpoint call.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sagewall_sagemaker_call_seconds",
			Help:    "InvokeEndpoint latency, by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"endpoint"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_sagemaker_errors_total",
			Help: "InvokeEndpoint failures, by type (throttled, server, timeout, transport, client, model, parse, breaker_open).",
		}, []string{"type"}),
		fallbackRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_sagemaker_fallback_rows_total",
			Help: "Rows scored by the local fallback model because the endpoint failed.",
		}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sagewall_sagemaker_breaker_open",
			Help: "1 while the circuit breaker rejects calls to the endpoint.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.calls, m.rowsPerCall, m.latency, m.errors, m.fallbackRows, m.breakerOpen} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
