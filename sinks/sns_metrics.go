package sinks

import "github.com/prometheus/client_golang/prometheus"

type snsMetrics struct {
	alerts     prometheus.Counter
	aggregated prometheus.Counter
	published  prometheus.Counter
	failed     prometheus.Counter
	retries    prometheus.Counter
	errors     *prometheus.CounterVec
}

func newSNSMetrics(reg prometheus.Registerer) (*snsMetrics, error) {
	m := &snsMetrics{
		alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_sns_alerts_total", Help: "Verdicts at or above the alert threshold.",
		}),
		aggregated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_sns_alerts_published_total", Help: "Alerts covered by messages SNS accepted.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_sns_messages_published_total", Help: "Aggregated alert messages SNS accepted.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_sns_messages_failed_total", Help: "Aggregated alert messages given up on (their batches fail).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_sns_entry_retries_total", Help: "PublishBatch entries sent again after a failure.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_sns_errors_total", Help: "PublishBatch failures: call (the whole request) or entry (one entry of a 200 response).",
		}, []string{"type"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.alerts, m.aggregated, m.published, m.failed, m.retries, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
