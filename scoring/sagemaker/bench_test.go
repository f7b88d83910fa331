package sagemaker_test

import (
	"context"
	"testing"

	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
)

// BenchmarkInvoke compares the prototype's one InvokeEndpoint call per record
// with micro-batches, against `sagewall serve`'s handler over loopback HTTP
// (so it measures request overhead, not SageMaker's network latency, which
// only widens the gap). ns/op is per 1000 records.
func BenchmarkInvoke(b *testing.B) {
	d, err := scoring.Bundled()
	if err != nil {
		b.Fatal(err)
	}
	e := newEndpoint(b, d)
	rows := trainRows(b, d, 1000)
	for _, bc := range []struct {
		name    string
		maxRows int
	}{{"per-record", 1}, {"batch-250", 250}, {"batch-1000", 1000}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := sagemaker.New(e.client(), "bench", sagemaker.WithMaxRows(bc.maxRows), sagemaker.WithConcurrency(1), sagemaker.WithCategorizer(d))
			if err != nil {
				b.Fatal(err)
			}
			out := make([]scoring.Result, 1000)
			b.ResetTimer()
			for b.Loop() {
				if err := s.Score(context.Background(), rows, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(out))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
