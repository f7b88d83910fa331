package stream

import (
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxHistogramBuckets bounds a batchHistogram's buckets, so that a batch's
// tally is an array on the stack.
const maxHistogramBuckets = 31

// batchHistogram is a Prometheus histogram observed a batch at a time. The
// pipeline observes every verdict's end-to-end latency, and
// prometheus.Histogram's Observe (a bucket search and three atomic
// operations a value, on counters every output goroutine shares) was 5 % of
// `sagewall run`'s CPU at full speed; a batch is counted into a tally of its
// own first and added under one lock.
type batchHistogram struct {
	desc   *prometheus.Desc
	bounds []float64 // upper bounds, ascending; +Inf follows

	mu     sync.Mutex
	counts [maxHistogramBuckets + 1]uint64 // by bucket, not cumulative; +Inf's at len(bounds)
	sum    float64
	count  uint64
}

func newBatchHistogram(name, help string, bounds []float64) (*batchHistogram, error) {
	if len(bounds) > maxHistogramBuckets {
		return nil, fmt.Errorf("creating histogram %s: %d buckets, at most %d", name, len(bounds), maxHistogramBuckets)
	}
	if !sort.Float64sAreSorted(bounds) {
		return nil, fmt.Errorf("creating histogram %s: bucket bounds %v are not ascending", name, bounds)
	}
	return &batchHistogram{desc: prometheus.NewDesc(name, help, nil, nil), bounds: bounds}, nil
}

// tally is a batch's observations, counted apart from the histogram.
type tally struct {
	counts [maxHistogramBuckets + 1]uint64
	sum    float64
	count  uint64
}

// observe counts v in the first bucket whose upper bound is at least v, as
// prometheus.Histogram does.
func (t *tally) observe(bounds []float64, v float64) {
	t.counts[sort.SearchFloat64s(bounds, v)]++
	t.sum += v
	t.count++
}

// add adds a batch's tally to the histogram.
func (h *batchHistogram) add(t *tally) {
	if t.count == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range len(h.bounds) + 1 {
		h.counts[i] += t.counts[i]
	}
	h.sum += t.sum
	h.count += t.count
}

func (h *batchHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *batchHistogram) Collect(ch chan<- prometheus.Metric) {
	cumulative := make(map[float64]uint64, len(h.bounds))
	h.mu.Lock()
	var below uint64
	for i, bound := range h.bounds {
		below += h.counts[i]
		cumulative[bound] = below
	}
	count, sum := h.count, h.sum
	h.mu.Unlock()
	m, err := prometheus.NewConstHistogram(h.desc, count, sum, cumulative)
	if err != nil {
		m = prometheus.NewInvalidMetric(h.desc, err)
	}
	ch <- m
}
