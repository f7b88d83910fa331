package stream

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
)

// BenchmarkConsumer consumes the same backlog of 300 000 KDDTrain+ lines
// (4 partitions) with FetchMessage in a loop through a kafka-go
// *kafka.Reader (NewReader) and through a GroupConsumer, each iteration
// in a fresh group, timed from the first message to the last (joining the
// group left out). Reported per record: wall ns, CPU ns of the whole
// process (getrusage, so on kfake the in-process broker's share too, the
// same for both) and allocations; for the group consumer, the CPU saved
// per record against the reader of the same run.
//
// On kfake by default; against a real broker with
// SAGEWALL_BENCH_KAFKA_BROKERS=127.0.0.1:19092 (scripts/kafka.sh start),
// when the broker's CPU is not in the process.
func BenchmarkConsumer(b *testing.B) {
	const n = 300_000
	brokers, topic := testenv.BenchKafka(b, 4, "raw")
	lines := trainLines(b, 25_000)
	values := make([][]byte, n)
	for i := range values {
		values[i] = lines[i%len(lines)]
	}
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: v} // no headers, as kcat fills scripts/profile-run.sh's backlog
	}
	produceMessages(b, brokers, topic, &kafka.RoundRobin{}, msgs)

	cpu := map[string]float64{}
	consumers := []struct {
		name string
		open func(group string) (Consumer, func() error)
	}{
		{"reader", func(group string) (Consumer, func() error) {
			r := NewReader(Conn{Brokers: brokers}, group, topic)
			return r, r.Close
		}},
		{"group", func(group string) (Consumer, func() error) {
			c, err := NewGroupConsumer(Conn{Brokers: brokers}, group, topic)
			if err != nil {
				b.Fatal(err)
			}
			return c, c.Close
		}},
	}
	for _, tc := range consumers {
		b.Run(tc.name, func(b *testing.B) {
			var wall, busy time.Duration
			var allocs uint64
			iteration := 0
			for b.Loop() {
				iteration++
				c, closeConsumer := tc.open(fmt.Sprintf("bench-%s-%d-%d", tc.name, b.N, iteration))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				if _, err := c.FetchMessage(ctx); err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				cpu0, start := testenv.ProcessCPU(b), time.Now()
				for i := 1; i < n; i++ {
					if _, err := c.FetchMessage(ctx); err != nil {
						b.Fatalf("message %d: %v", i, err)
					}
				}
				wall += time.Since(start)
				busy += testenv.ProcessCPU(b) - cpu0
				runtime.ReadMemStats(&after)
				allocs += after.Mallocs - before.Mallocs
				cancel()
				if err := closeConsumer(); err != nil {
					b.Fatal(err)
				}
			}
			records := float64(iteration * (n - 1))
			b.ReportMetric(float64(wall.Nanoseconds())/records, "wall-ns/record")
			b.ReportMetric(float64(busy.Nanoseconds())/records, "cpu-ns/record")
			b.ReportMetric(float64(allocs)/records, "allocs/record")
			cpu[tc.name] = float64(busy.Nanoseconds()) / records
			if tc.name != "reader" && cpu["reader"] > 0 {
				b.ReportMetric(cpu["reader"]-cpu[tc.name], "cpu-ns-saved/record")
			}
		})
	}
}
