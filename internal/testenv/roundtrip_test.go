package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaRoundTrip is the Kafka contract the pipeline relies on, run against KFake by the
// unit tests and against the real broker by the e2e tests: messages written to a
// two-partition topic come back through a kafka-go consumer group with explicit commits,
// the broker stores exactly the committed offsets, and a new member of the group resumes
// after them.
func kafkaRoundTrip(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	topic := NewTopic(t, brokers, 2)
	group := UniqueName(t)

	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
	}
	defer w.Close()
	const n = 20
	want := make(map[string]string, n)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		key, value := fmt.Sprintf("key-%02d", i), fmt.Sprintf("value-%02d", i)
		want[key] = value
		msgs[i] = kafka.Message{Key: []byte(key), Value: []byte(value)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("writing %d messages to %s: %v", n, topic, err)
	}

	got := make(map[string]string, n)
	lastOffset := make(map[int]int64)
	r := newGroupReader(brokers, group, topic)
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetching message %d of %d: %v", len(got)+1, n, err)
		}
		got[string(m.Key)] = string(m.Value)
		lastOffset[m.Partition] = m.Offset
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("committing partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("closing reader: %v", err)
	}
	for key, value := range want {
		if got[key] != value {
			t.Errorf("message %s: got value %q, want %q", key, got[key], value)
		}
	}
	if len(lastOffset) != 2 {
		t.Fatalf("messages came from partitions %v, want both 0 and 1", lastOffset)
	}

	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	offsets, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: {0, 1}},
	})
	if err != nil {
		t.Fatalf("fetching committed offsets of group %s: %v", group, err)
	}
	if offsets.Error != nil {
		t.Fatalf("fetching committed offsets of group %s: %v", group, offsets.Error)
	}
	if len(offsets.Topics[topic]) != 2 {
		t.Fatalf("committed offsets for %d partitions, want 2: %+v", len(offsets.Topics[topic]), offsets.Topics)
	}
	for _, p := range offsets.Topics[topic] {
		// Kafka stores the next offset to read, one past the last processed message.
		if want := lastOffset[p.Partition] + 1; p.Error != nil || p.CommittedOffset != want {
			t.Errorf("partition %d: committed offset %d (error %v), want %d", p.Partition, p.CommittedOffset, p.Error, want)
		}
	}

	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("after-commit"), Value: []byte("new")}); err != nil {
		t.Fatalf("writing message after commit: %v", err)
	}
	resumed := newGroupReader(brokers, group, topic)
	defer resumed.Close()
	m, err := resumed.FetchMessage(ctx)
	if err != nil {
		t.Fatalf("fetching after rejoining group %s: %v", group, err)
	}
	if string(m.Key) != "after-commit" {
		t.Errorf("rejoined group read key %q at partition %d offset %d, want the uncommitted \"after-commit\"", m.Key, m.Partition, m.Offset)
	}
}

func newGroupReader(brokers []string, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		GroupID:     group,
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxBytes:    1 << 20,
		MaxWait:     time.Second,
		// Zero CommitInterval makes CommitMessages synchronous: it returns once the broker has
		// stored the offset, which is what at-least-once processing needs.
		CommitInterval: 0,
	})
}
