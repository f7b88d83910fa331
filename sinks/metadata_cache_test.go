package sinks

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
)

// countingTransport counts the metadata requests that reach the real
// transport behind the cache.
type countingTransport struct {
	next     kafka.RoundTripper
	metadata atomic.Int64
}

func (c *countingTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	if _, ok := req.(*metadata.Request); ok {
		c.metadata.Add(1)
	}
	return c.next.RoundTrip(ctx, addr, req)
}

func TestMetadataCache(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(3, "verdicts"))
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	counted := &countingTransport{next: transport}
	cache := newMetadataCache(counted, time.Second)
	clock := time.Now()
	cache.now = func() time.Time { return clock }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := kafka.TCP(brokers...)
	partitions := func(topic string) (int, error) {
		t.Helper()
		res, err := cache.RoundTrip(ctx, addr, &metadata.Request{TopicNames: []string{topic}})
		if err != nil {
			return 0, err
		}
		for _, tp := range res.(*metadata.Response).Topics {
			if tp.Name == topic && tp.ErrorCode == 0 {
				return len(tp.Partitions), nil
			}
		}
		return 0, kafka.UnknownTopicOrPartition
	}
	steps := []struct {
		name           string
		topic          string
		advance        time.Duration
		wantPartitions int
		wantRequests   int64 // metadata requests that reached the transport so far
	}{
		{"first lookup asks the transport", "verdicts", 0, 3, 1},
		{"within the TTL: the copy", "verdicts", 500 * time.Millisecond, 3, 1},
		{"past the TTL: asked again", "verdicts", 600 * time.Millisecond, 3, 2},
		{"an unknown topic is not cached", "missing", 0, 0, 3},
		{"and asked again next time", "missing", 0, 0, 4},
	}
	for _, s := range steps {
		clock = clock.Add(s.advance)
		got, err := partitions(s.topic)
		if s.wantPartitions > 0 && (err != nil || got != s.wantPartitions) {
			t.Errorf("%s: %d partitions, %v; want %d", s.name, got, err, s.wantPartitions)
		}
		if n := counted.metadata.Load(); n != s.wantRequests {
			t.Errorf("%s: %d metadata requests reached the transport, want %d", s.name, n, s.wantRequests)
		}
	}
	// Everything else passes through.
	client := &kafka.Client{Addr: addr, Transport: cache}
	if _, err := client.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		t.Fatalf("cluster metadata through the cache: %v", err)
	}
	if n := counted.metadata.Load(); n != 5 {
		t.Errorf("a request for every topic was answered from the cache (%d requests reached the transport)", n)
	}
}
