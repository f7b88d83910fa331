package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// GroupAssignment returns the partitions of topic that group assigns to its
// members whose client ID is clientID, and whether the assignment is settled:
// false while the group rebalances (its members' assignments are then being
// replaced). A group with no members (state Empty, or unknown to the
// coordinator) is settled and assigns nothing.
//
// kafka-go's Reader reports no assignment of its own, so a process finds
// its partitions here, by the client ID its reader joined the group with
// (WithClientID): Kafka hands the coordinator's view of each member, with
// the client ID from its requests, to anyone allowed to describe the group.
func GroupAssignment(ctx context.Context, client *kafka.Client, group, topic, clientID string) ([]int, bool, error) {
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, false, fmt.Errorf("describing group %q: %w", group, err)
	}
	if len(resp.Groups) != 1 {
		return nil, false, fmt.Errorf("describing group %q: %d groups in the answer, want 1", group, len(resp.Groups))
	}
	g := resp.Groups[0]
	if g.Error != nil && !errors.Is(g.Error, kafka.GroupIdNotFound) {
		return nil, false, fmt.Errorf("describing group %q: %w", group, g.Error)
	}
	switch g.GroupState {
	case "PreparingRebalance", "CompletingRebalance":
		return nil, false, nil
	}
	var partitions []int
	for _, m := range g.Members {
		if m.ClientID != clientID {
			continue
		}
		for _, t := range m.MemberAssignments.Topics {
			if t.Topic == topic {
				partitions = append(partitions, t.Partitions...)
			}
		}
	}
	sort.Ints(partitions)
	return partitions, true, nil
}

// LagMonitor periodically measures a group's lag per partition and
// publishes it to a gauge: sagewall_consumer_lag (WithLagMetrics) or
// sagewall_alert_outbox_backlog (WithOutboxMetrics). With WithLagOwner it
// publishes only the partitions assigned to this process and deletes the
// series of a partition once it is assigned elsewhere, so that summing the
// gauge over every replica gives the group's lag once; without, every
// partition of the topic.
type LagMonitor struct {
	client   *kafka.Client
	group    string
	topic    string
	interval time.Duration
	gauge    lagGauge
	owner    string // client ID of this process's group member; "" publishes every partition
	logger   *slog.Logger
	onUpdate func([]PartitionOffsets, error)

	owned     []int        // the partitions last known to be assigned to owner
	ownedOK   bool         // owned has been read at least once
	published map[int]bool // partitions with a series on the gauge
}

// LagOption configures a LagMonitor.
type LagOption func(*LagMonitor)

// WithLagInterval sets how often lag is measured (default 5 s).
func WithLagInterval(d time.Duration) LagOption { return func(m *LagMonitor) { m.interval = d } }

// WithLagMetrics publishes the lag to metrics' sagewall_consumer_lag.
func WithLagMetrics(metrics *Metrics) LagOption {
	return func(m *LagMonitor) {
		if metrics != nil {
			m.gauge = lagGauge{metrics.lag}
		}
	}
}

// WithOutboxMetrics publishes the lag to metrics' sagewall_alert_outbox_backlog:
// for the notifier's group on the alert topic, the alerts not yet published.
func WithOutboxMetrics(metrics *Metrics) LagOption {
	return func(m *LagMonitor) {
		if metrics != nil {
			m.gauge = lagGauge{metrics.outbox}
		}
	}
}

// WithLagOwner publishes only the partitions that the group assigns to
// its members with client ID clientID (see GroupAssignment): the reader of
// this process, given the same ID with WithClientID. While the group
// rebalances, or when the assignment cannot be read, the last known
// assignment stays; before the first one is known nothing is published.
func WithLagOwner(clientID string) LagOption { return func(m *LagMonitor) { m.owner = clientID } }

// WithLagLogger sets the logger for failed measurements.
func WithLagLogger(l *slog.Logger) LagOption { return func(m *LagMonitor) { m.logger = l } }

// WithLagCallback calls fn with every measurement, of every partition of
// the topic whatever WithLagOwner says, or its error.
func WithLagCallback(fn func([]PartitionOffsets, error)) LagOption {
	return func(m *LagMonitor) { m.onUpdate = fn }
}

// NewLagMonitor measures group's lag on topic through client.
func NewLagMonitor(client *kafka.Client, group, topic string, opts ...LagOption) *LagMonitor {
	m := &LagMonitor{client: client, group: group, topic: topic, interval: 5 * time.Second, logger: slog.Default(),
		published: map[int]bool{}}
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
		m.measure(ctx)
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// measure reads the group's offsets (and, with an owner, its assignment)
// once and updates the gauge.
func (m *LagMonitor) measure(ctx context.Context) {
	offsets, err := GroupOffsets(ctx, m.client, m.group, m.topic)
	if err != nil && ctx.Err() == nil {
		m.logger.Warn("measuring consumer lag", "group", m.group, "topic", m.topic, "err", err)
	}
	if err == nil {
		m.updateOwned(ctx)
		m.publish(offsets)
	}
	if m.onUpdate != nil && ctx.Err() == nil {
		m.onUpdate(offsets, err)
	}
}

func (m *LagMonitor) updateOwned(ctx context.Context) {
	if m.owner == "" {
		return
	}
	owned, settled, err := GroupAssignment(ctx, m.client, m.group, m.topic, m.owner)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.Warn("reading the consumer group's assignment", "group", m.group, "err", err)
		}
		return
	}
	if settled {
		m.owned, m.ownedOK = owned, true
	}
}

// publish sets the gauge for the partitions to report and deletes the
// series of those no longer reported.
func (m *LagMonitor) publish(offsets []PartitionOffsets) {
	report := func(int) bool { return true }
	if m.owner != "" {
		if !m.ownedOK {
			return
		}
		owned := m.owned
		report = func(p int) bool { _, ok := slices.BinarySearch(owned, p); return ok }
	}
	now := make(map[int]bool, len(offsets))
	for _, p := range offsets {
		if report(p.Partition) {
			m.gauge.set(m.topic, p.Partition, p.Lag())
			now[p.Partition] = true
		}
	}
	for p := range m.published {
		if !now[p] {
			m.gauge.delete(m.topic, p)
		}
	}
	m.published = now
}

// NewClient returns a kafka-go client for admin requests on brokers.
func NewClient(brokers []string, transport *kafka.Transport) *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	if transport != nil {
		c.Transport = transport
	}
	return c
}
