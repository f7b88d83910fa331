package stream

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
)

// gaugeSeries returns the series of the gauge name on reg as partition → value.
func gaugeSeries(t testing.TB, reg *prometheus.Registry, name string) map[int]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" {
					p, err := strconv.Atoi(l.GetValue())
					if err != nil {
						t.Fatal(err)
					}
					out[p] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

func TestLagMonitorPublish(t *testing.T) {
	offsets := []PartitionOffsets{{0, 5, 10}, {1, -1, 7}, {2, 3, 3}, {3, 0, 4}}
	// Each step is one measurement: the assignment it read (nil: none known)
	// and the series the gauge must then hold.
	type step struct {
		owned   []int
		settled bool
		want    map[int]float64
	}
	tests := []struct {
		name  string
		owner string
		steps []step
	}{
		{"no owner: every partition", "", []step{
			{nil, false, map[int]float64{0: 5, 1: 7, 2: 0, 3: 4}},
		}},
		{"owner, assignment not yet known: nothing", "me", []step{
			{nil, false, map[int]float64{}},
		}},
		{"owned partitions only", "me", []step{
			{[]int{1, 3}, true, map[int]float64{1: 7, 3: 4}},
		}},
		{"a partition moved away loses its series", "me", []step{
			{[]int{0, 1, 3}, true, map[int]float64{0: 5, 1: 7, 3: 4}},
			{[]int{1}, true, map[int]float64{1: 7}},
		}},
		{"a rebalance keeps the last assignment", "me", []step{
			{[]int{0, 2}, true, map[int]float64{0: 5, 2: 0}},
			{nil, false, map[int]float64{0: 5, 2: 0}},
		}},
		{"no longer a member: nothing", "me", []step{
			{[]int{0}, true, map[int]float64{0: 5}},
			{nil, true, map[int]float64{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			metrics, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			m := NewLagMonitor(nil, "g", "raw", WithLagMetrics(metrics), WithLagOwner(tt.owner))
			for i, s := range tt.steps {
				if s.settled {
					m.owned, m.ownedOK = s.owned, true
				}
				m.publish(offsets)
				if got := gaugeSeries(t, reg, "sagewall_consumer_lag"); !maps.Equal(got, s.want) {
					t.Errorf("step %d: sagewall_consumer_lag = %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

// TestLagMonitorReportsOwnedPartitions runs two members of one group, as two
// replicas would, each with its own monitor and registry: together they
// report every partition once, and when one leaves the other reports all
// of them while the leaver's series disappear. TestE2ELagMonitorReportsOwnedPartitions
// does the same on a real broker.
func TestLagMonitorReportsOwnedPartitions(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(4, "raw"))
	testLagOwnership(t, brokers, "raw", "lag")
}

// testLagOwnership checks lag ownership on topic, which must have 4
// partitions and no records, with the new group.
func testLagOwnership(t *testing.T, brokers []string, topic, group string) {
	produce(t, brokers, topic, trainLines(t, 40)) // 10 a partition, none committed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type replica struct {
		reader  *kafka.Reader
		reg     *prometheus.Registry
		monitor *LagMonitor
	}
	client := NewClient(brokers, nil)
	newReplica := func(id string) *replica {
		reg := prometheus.NewRegistry()
		metrics, err := NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{
			reader:  NewReader(Conn{Brokers: brokers}, group, topic, WithClientID(id)),
			reg:     reg,
			monitor: NewLagMonitor(client, group, topic, WithLagMetrics(metrics), WithLagOwner(id)),
		}
		go func() { // fetch (never commit) so the member joins and stays
			for {
				if _, err := r.reader.FetchMessage(ctx); err != nil {
					return
				}
			}
		}()
		return r
	}
	a, b := newReplica(NewClientID("a")), newReplica(NewClientID("b"))
	defer a.reader.Close()

	deadline := time.Now().Add(60 * time.Second)
	var ga, gb map[int]float64
	for {
		a.monitor.measure(ctx)
		b.monitor.measure(ctx)
		ga, gb = gaugeSeries(t, a.reg, "sagewall_consumer_lag"), gaugeSeries(t, b.reg, "sagewall_consumer_lag")
		union := slices.Sorted(maps.Keys(ga))
		union = append(union, slices.Collect(maps.Keys(gb))...)
		slices.Sort(union)
		if len(ga) > 0 && len(gb) > 0 && slices.Equal(union, []int{0, 1, 2, 3}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas never split the 4 partitions between them: a %v, b %v", ga, gb)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sum := 0.0
	for _, v := range ga {
		sum += v
	}
	for _, v := range gb {
		sum += v
	}
	if sum != 40 {
		t.Errorf("lag summed over both replicas = %v, want the group's 40 (a %v, b %v)", sum, ga, gb)
	}

	if err := b.reader.Close(); err != nil { // leaves the group
		t.Fatal(err)
	}
	for {
		a.monitor.measure(ctx)
		b.monitor.measure(ctx)
		ga, gb = gaugeSeries(t, a.reg, "sagewall_consumer_lag"), gaugeSeries(t, b.reg, "sagewall_consumer_lag")
		if len(ga) == 4 && len(gb) == 0 {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("after b left: a reports %v, b %v; want all 4 on a and none on b", ga, gb)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
