package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionOffsets is one partition's committed offset for a consumer group
// (-1 when the group has committed nothing) and its end offset.
type PartitionOffsets struct {
	Partition int
	Committed int64
	End       int64
}

// Lag is the number of records not yet committed by the group.
func (p PartitionOffsets) Lag() int64 {
	if p.Committed < 0 {
		return p.End
	}
	return max(0, p.End-p.Committed)
}

// GroupOffsets returns, for every partition of topic, the group's committed
// offset and the partition's end offset. kafka-go's Reader.Lag is -1 in
// group mode, so lag is computed from these.
func GroupOffsets(ctx context.Context, client *kafka.Client, group, topic string) ([]PartitionOffsets, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of topic %q: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		if len(meta.Topics) == 1 {
			err = meta.Topics[0].Error
		}
		return nil, fmt.Errorf("reading metadata of topic %q: %v", topic, err)
	}
	var partitions []int
	var ends []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		partitions = append(partitions, p.ID)
		ends = append(ends, kafka.LastOffsetOf(p.ID))
	}
	sort.Ints(partitions)
	listed, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ends}})
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of topic %q: %w", topic, err)
	}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets of group %q: %w", group, err)
	}
	if fetched.Error != nil && !errors.Is(fetched.Error, kafka.GroupIdNotFound) {
		return nil, fmt.Errorf("fetching committed offsets of group %q: %w", group, fetched.Error)
	}
	out := make([]PartitionOffsets, 0, len(partitions))
	endOf := map[int]int64{}
	for _, p := range listed.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("listing end offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		endOf[p.Partition] = p.LastOffset
	}
	committedOf := map[int]int64{}
	for _, p := range fetched.Topics[topic] {
		if p.Error != nil && !errors.Is(p.Error, kafka.GroupIdNotFound) {
			return nil, fmt.Errorf("fetching committed offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		committedOf[p.Partition] = p.CommittedOffset
	}
	for _, id := range partitions {
		committed, ok := committedOf[id]
		if !ok {
			committed = -1
		}
		out = append(out, PartitionOffsets{Partition: id, Committed: committed, End: endOf[id]})
	}
	return out, nil
}

// LagMonitor periodically publishes the group's lag per partition to the
// sagewall_consumer_lag gauge.
type LagMonitor struct {
	client   *kafka.Client
	group    string
	topic    string
	interval time.Duration
	metrics  *Metrics
	logger   *slog.Logger
	onUpdate func([]PartitionOffsets, error)
}

// LagOption configures a LagMonitor.
type LagOption func(*LagMonitor)

// WithLagInterval sets how often lag is measured (default 5 s).
func WithLagInterval(d time.Duration) LagOption { return func(m *LagMonitor) { m.interval = d } }

// WithLagMetrics publishes the lag to m.
func WithLagMetrics(metrics *Metrics) LagOption { return func(m *LagMonitor) { m.metrics = metrics } }

// WithLagLogger sets the logger for failed measurements.
func WithLagLogger(l *slog.Logger) LagOption { return func(m *LagMonitor) { m.logger = l } }

// WithLagCallback calls fn with every measurement or its error.
func WithLagCallback(fn func([]PartitionOffsets, error)) LagOption {
	return func(m *LagMonitor) { m.onUpdate = fn }
}

// NewLagMonitor measures group's lag on topic through client.
func NewLagMonitor(client *kafka.Client, group, topic string, opts ...LagOption) *LagMonitor {
	m := &LagMonitor{client: client, group: group, topic: topic, interval: 5 * time.Second, logger: slog.Default()}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Run measures until ctx ends; failures are logged, not fatal.
func (m *LagMonitor) Run(ctx context.Context) error {
	ticker := time.NewTicker(m.interval)
	defer ticker.Stop()
	for {
		offsets, err := GroupOffsets(ctx, m.client, m.group, m.topic)
		if err != nil && ctx.Err() == nil {
			m.logger.Warn("measuring consumer lag", "err", err)
		}
		if err == nil {
			for _, p := range offsets {
				m.metrics.setLag(m.topic, p.Partition, p.Lag())
			}
		}
		if m.onUpdate != nil && ctx.Err() == nil {
			m.onUpdate(offsets, err)
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// NewClient returns a kafka-go client for admin requests on brokers.
func NewClient(brokers []string, transport *kafka.Transport) *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	if transport != nil {
		c.Transport = transport
	}
	return c
}
