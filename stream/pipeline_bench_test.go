package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
)

// BenchmarkPipeline runs the whole pipeline over 20 000 KDDTrain+ records on
// the in-process broker, each iteration with a fresh consumer group, until
// every offset is committed: micro-batches of 512 (the default) against one
// record per batch (the prototype's per-record scoring). Reported:
// records/s, and for the batched run the ratio to per-record.
func BenchmarkPipeline(b *testing.B) {
	brokers := testenv.KFake(b, kfake.SeedTopics(4, "raw", "verdicts", "dlq"))
	const n = 20_000
	produce(b, brokers, "raw", trainLines(b, n))
	rates := map[int]float64{}
	for _, records := range []int{1, 512} {
		b.Run(fmt.Sprintf("batch=%d", records), func(b *testing.B) {
			var total time.Duration
			iteration := 0
			for b.Loop() {
				iteration++
				group := fmt.Sprintf("bench-%d-%d-%d", records, b.N, iteration)
				start := time.Now()
				run := startPipeline(b, brokers, group, nil, WithBatch(records, 1<<20, 5*time.Millisecond))
				waitCommitted(b, brokers, group, run, 5*time.Minute)
				total += time.Since(start)
				if err := run.stop(b); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(iteration*n) / total.Seconds()
			rates[records] = rate
			b.ReportMetric(rate, "records/s")
			if records != 1 && rates[1] > 0 {
				b.ReportMetric(rate/rates[1], "x_per_record")
			}
		})
	}
}
