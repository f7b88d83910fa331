package stream

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestBatchHistogramMatchesPrometheus: observed in batches, the histogram
// exposes what prometheus.Histogram exposes when it observes the same
// values one at a time: values on a bound, between bounds, past the last
// and below the first (a source clock ahead of ours), over several batches.
func TestBatchHistogramMatchesPrometheus(t *testing.T) {
	bounds := prometheus.ExponentialBuckets(0.0001, 2, 18)
	tests := []struct {
		name    string
		batches [][]float64
	}{
		{"none", nil},
		{"empty batch", [][]float64{{}}},
		{"on bounds", [][]float64{{0.0001, 0.0002, 0.0004, bounds[len(bounds)-1]}}},
		{"between bounds", [][]float64{{0.00015, 0.003, 0.07, 1.5}}},
		{"past the last", [][]float64{{14, 3600, math.Inf(1)}}},
		{"below the first", [][]float64{{0, -0.002, 0.00005}}},
		{"several batches", [][]float64{{0.001, 0.002}, {}, {0.001, 20}, {0.5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newBatchHistogram("latency_seconds", "help", bounds)
			if err != nil {
				t.Fatal(err)
			}
			want := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Help: "help", Buckets: bounds})
			for _, batch := range tt.batches {
				var tl tally
				for _, v := range batch {
					tl.observe(h.bounds, v)
					want.Observe(v)
				}
				h.add(&tl)
			}
			got, exp := gatherHistogram(t, h), gatherHistogram(t, want)
			// Sums added batch by batch may round differently from one at a time.
			sumsDiffer := math.Abs(got.GetSampleSum()-exp.GetSampleSum()) > 1e-12*math.Abs(exp.GetSampleSum())
			if got.GetSampleCount() != exp.GetSampleCount() || sumsDiffer {
				t.Errorf("count %d, sum %g; prometheus.Histogram: %d, %g",
					got.GetSampleCount(), got.GetSampleSum(), exp.GetSampleCount(), exp.GetSampleSum())
			}
			if len(got.GetBucket()) != len(exp.GetBucket()) {
				t.Fatalf("%d buckets, prometheus.Histogram %d", len(got.GetBucket()), len(exp.GetBucket()))
			}
			for i, b := range got.GetBucket() {
				e := exp.GetBucket()[i]
				if b.GetUpperBound() != e.GetUpperBound() || b.GetCumulativeCount() != e.GetCumulativeCount() {
					t.Errorf("bucket le=%g: %d; prometheus.Histogram le=%g: %d",
						b.GetUpperBound(), b.GetCumulativeCount(), e.GetUpperBound(), e.GetCumulativeCount())
				}
			}
		})
	}
}

func TestNewBatchHistogramRefusesBadBounds(t *testing.T) {
	for name, bounds := range map[string][]float64{
		"too many":      prometheus.LinearBuckets(1, 1, maxHistogramBuckets+1),
		"not ascending": {1, 3, 2},
	} {
		if _, err := newBatchHistogram("h", "help", bounds); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func gatherHistogram(t *testing.T, c prometheus.Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || len(families[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one histogram", families)
	}
	return families[0].GetMetric()[0].GetHistogram()
}

// BenchmarkEndToEndHistogram: a batch of 512 latencies observed the way
// the pipeline does (batch) against prometheus.Histogram one value at a
// time (observe), with -cpu 2 both from two goroutines as two outputs
// settle batches. go test ./stream -run '^$' -bench EndToEndHistogram
func BenchmarkEndToEndHistogram(b *testing.B) {
	bounds := prometheus.ExponentialBuckets(0.0001, 2, 18)
	values := make([]float64, 512)
	for i := range values {
		values[i] = 0.0001 * float64(1+i%300) // 0.1–30 ms, as at full speed
	}
	b.Run("v=observe", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h", Buckets: bounds})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for _, v := range values {
					h.Observe(v)
				}
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(values)), "ns/value")
	})
	b.Run("v=batch", func(b *testing.B) {
		h, err := newBatchHistogram("h", "h", bounds)
		if err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var t tally
				for _, v := range values {
					t.observe(h.bounds, v)
				}
				h.add(&t)
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(values)), "ns/value")
	})
}
