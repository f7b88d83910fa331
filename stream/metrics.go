package stream

import (
	"strconv"
	"time"

	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/sinks"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus collectors. They are registered on
// the registry the caller passes (never the global default one); a nil
// *Metrics records nothing.
type Metrics struct {
	consumed        prometheus.Counter
	encoded         prometheus.Counter
	rejected        *prometheus.CounterVec
	verdicts        *prometheus.CounterVec
	batchRecords    prometheus.Histogram
	scoring         prometheus.Histogram
	endToEnd        *batchHistogram
	commits         *prometheus.CounterVec
	rewinds         prometheus.Counter
	lag             *prometheus.GaugeVec
	outbox          *prometheus.GaugeVec
	unknownServices prometheus.Counter
	rebuilds        *prometheus.CounterVec
	connHeld        prometheus.Gauge
	connHosts       prometheus.Gauge
	connEvicted     prometheus.Counter
	connLate        prometheus.Counter
	connForced      prometheus.Counter
	droppedLetters  prometheus.Counter
}

// NewMetrics creates the pipeline metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	latencyBuckets := prometheus.ExponentialBuckets(0.0001, 2, 18) // 100 µs … 13 s
	m := &Metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_records_consumed_total", Help: "Records fetched from the raw topic.",
		}),
		encoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_records_encoded_total", Help: "Records encoded into feature vectors.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_records_rejected_total", Help: "Records sent to the dead-letter topic, by reason and field.",
		}, []string{"reason", "field"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_verdicts_total", Help: "Verdicts acknowledged by every sink, by outcome (attack, normal).",
		}, []string{"outcome"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sagewall_batch_records", Help: "Records per micro-batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		scoring: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sagewall_scoring_duration_seconds", Help: "Time to score one micro-batch.", Buckets: latencyBuckets,
		}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_commits_total", Help: "Offset commit requests, by result (ok, error).",
		}, []string{"result"}),
		rewinds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_partition_rewinds_total", Help: "Times a partition's offsets went backwards (records re-delivered after a rebalance).",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sagewall_consumer_lag", Help: "Records between the group's committed offset and the end of each partition this instance is assigned (sum over instances for the group's lag).",
		}, []string{"topic", "partition"}),
		outbox: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sagewall_alert_outbox_backlog", Help: "Alerts in the alert topic not yet published to SNS and committed, for each partition this instance's notifier is assigned.",
		}, []string{"topic", "partition"}),
		unknownServices: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_unknown_services_total", Help: "Records whose service was not in the model's vocabulary (encoded as other).",
		}),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_conn_state_rebuilds_total", Help: "Connection-log partitions whose deriver state was rebuilt from the records before the commit point, by result (ok, error).",
		}, []string{"result"}),
		connHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sagewall_conn_held", Help: "Connections held by the feature derivers until their event-time windows are final.",
		}),
		connHosts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sagewall_conn_hosts", Help: "Destination hosts with feature state, over this instance's partitions.",
		}),
		connEvicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_conn_hosts_evicted_total", Help: "Destination hosts whose feature state was dropped (idle past input.host_horizon, or beyond input.max_hosts).",
		}),
		connForced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_conn_forced_total", Help: "Connections judged before their reorder window passed because input.max_held were held.",
		}),
		connLate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_conn_late_total", Help: "Connections that arrived after later-starting ones had been judged (beyond input.reorder_window).",
		}),
		droppedLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_dead_letters_dropped_total", Help: "Dead letters the broker refused for good even after they were cut to fit (each is logged with its source position).",
		}),
	}
	endToEnd, err := newBatchHistogram("sagewall_end_to_end_latency_seconds",
		"From the source record's Kafka timestamp to its verdict being acknowledged.", latencyBuckets)
	if err != nil {
		return nil, err
	}
	m.endToEnd = endToEnd
	for _, c := range []prometheus.Collector{m.droppedLetters, m.consumed, m.encoded, m.rejected, m.verdicts, m.batchRecords,
		m.scoring, m.endToEnd, m.commits, m.rewinds, m.lag, m.outbox, m.unknownServices, m.rebuilds,
		m.connHeld, m.connHosts, m.connEvicted, m.connLate, m.connForced} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) addConsumed(n int) {
	if m != nil {
		m.consumed.Add(float64(n))
	}
}

func (m *Metrics) addEncoded(n int) {
	if m != nil {
		m.encoded.Add(float64(n))
	}
}

func (m *Metrics) addRejected(reason, field string) {
	if m != nil {
		m.rejected.WithLabelValues(reason, field).Inc()
	}
}

func (m *Metrics) addVerdicts(attacks, normals int) {
	if m != nil {
		m.verdicts.WithLabelValues("attack").Add(float64(attacks))
		m.verdicts.WithLabelValues("normal").Add(float64(normals))
	}
}

func (m *Metrics) observeBatch(records int, scoringSeconds float64) {
	if m != nil {
		m.batchRecords.Observe(float64(records))
		m.scoring.Observe(scoringSeconds)
	}
}

// observeEndToEnd observes the end-to-end latency of each verdict that has
// a source time, as of now.
func (m *Metrics) observeEndToEnd(now time.Time, verdicts []sinks.Verdict) {
	if m == nil {
		return
	}
	var t tally
	for i := range verdicts {
		if at := verdicts[i].Time; !at.IsZero() {
			t.observe(m.endToEnd.bounds, now.Sub(at).Seconds())
		}
	}
	m.endToEnd.add(&t)
}

func (m *Metrics) addCommit(err error) {
	if m != nil {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.commits.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) addRewind() {
	if m != nil {
		m.rewinds.Inc()
	}
}

func (m *Metrics) addUnknownServices(n uint64) {
	if m != nil && n > 0 {
		m.unknownServices.Add(float64(n))
	}
}

// lagGauge is the gauge a LagMonitor publishes to: the consumer lag of the
// pipeline's group, or the backlog of the alert outbox.
type lagGauge struct{ vec *prometheus.GaugeVec }

func (g lagGauge) set(topic string, partition int, lag int64) {
	if g.vec != nil {
		g.vec.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(lag))
	}
}

func (g lagGauge) delete(topic string, partition int) {
	if g.vec != nil {
		g.vec.DeleteLabelValues(topic, strconv.Itoa(partition))
	}
}

func (m *Metrics) addRebuild(result string) {
	if m != nil {
		m.rebuilds.WithLabelValues(result).Inc()
	}
}

// derivationHooks counts the features derivers' evictions and late
// connections.
func (m *Metrics) derivationHooks() features.Hooks {
	if m == nil {
		return features.Hooks{}
	}
	return features.Hooks{
		Evicted: func(n int) { m.connEvicted.Add(float64(n)) },
		Late:    func() { m.connLate.Inc() },
		Forced:  func() { m.connForced.Inc() },
	}
}

func (m *Metrics) setConnState(held, hosts int) {
	if m != nil {
		m.connHeld.Set(float64(held))
		m.connHosts.Set(float64(hosts))
	}
}

// AddDroppedDeadLetter counts a dead letter the broker refused for good.
func (m *Metrics) AddDroppedDeadLetter() {
	if m != nil {
		m.droppedLetters.Inc()
	}
}
