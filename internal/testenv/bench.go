package testenv

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchKafka gives a benchmark a topic of the given partitions: a new one on
// the real broker named by SAGEWALL_BENCH_KAFKA_BROKERS (e.g.
// 127.0.0.1:19092, after scripts/kafka.sh start), whose CPU is then not in
// the process, or name on an in-process KFake cluster otherwise.
func BenchKafka(b testing.TB, partitions int, name string) (brokers []string, topic string) {
	b.Helper()
	if env := os.Getenv("SAGEWALL_BENCH_KAFKA_BROKERS"); env != "" {
		brokers = strings.Split(env, ",")
		return brokers, NewTopic(b, brokers, partitions)
	}
	return KFake(b, kfake.SeedTopics(int32(partitions), name)), name
}

// ProcessCPU is the CPU time (user and system) of the process so far.
func ProcessCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
