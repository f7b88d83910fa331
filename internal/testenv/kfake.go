package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KFake starts an in-process Kafka cluster (franz-go's kfake) listening on 127.0.0.1 and
// returns its bootstrap addresses; the cluster is closed when the test ends. It has one
// broker unless opts say otherwise; seed topics with kfake.SeedTopics(partitions, names...).
//
// kafka-go works against it, with one caveat: a Reader needs MaxBytes near the 1 MB default
// (or MaxWait of at least a second), or its fetches time out.
func KFake(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("starting kfake cluster: %v", err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}
