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
	brokers := testenv.KFake(t, kfake.SeedTopics(3, "verdicts"), kfake.SeedTopics(2, "alerts"))
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	counted := &countingTransport{next: transport}
	cache := newMetadataCache(counted, time.Second)
	clock := fakeClock{}
	cache.afterFunc = clock.afterFunc
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
		{"another topic asks the transport", "alerts", 200 * time.Millisecond, 2, 3},
		{"the first topic again: its copy", "verdicts", 0, 3, 3},
		{"and the other's", "alerts", 0, 2, 3},
		{"an unknown topic is not cached", "missing", 0, 0, 4},
		{"and asked again next time", "missing", 0, 0, 5},
		{"each copy expires on its own", "verdicts", 900 * time.Millisecond, 3, 6},
		{"the other one still a copy", "alerts", 0, 2, 6},
	}
	for _, s := range steps {
		clock.advance(s.advance)
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
	if n := counted.metadata.Load(); n != 7 {
		t.Errorf("a request for every topic was answered from the cache (%d requests reached the transport)", n)
	}
}

// fakeClock runs the functions given to afterFunc when advance passes
// their time.
type fakeClock struct {
	now     time.Duration
	pending []timed
}

type timed struct {
	at time.Duration
	f  func()
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) {
	c.pending = append(c.pending, timed{c.now + d, f})
}

func (c *fakeClock) advance(d time.Duration) {
	c.now += d
	kept := c.pending[:0]
	for _, p := range c.pending {
		if p.at <= c.now {
			p.f()
		} else {
			kept = append(kept, p)
		}
	}
	c.pending = kept
}

// BenchmarkMetadataCacheHit is the lookup a kafka-go Writer makes for every
// message it is given, answered from the cache.
func BenchmarkMetadataCacheHit(b *testing.B) {
	brokers := testenv.KFake(b, kfake.SeedTopics(3, "verdicts"))
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	cache := newMetadataCache(transport, time.Hour)
	addr := kafka.TCP(brokers...)
	req := &metadata.Request{TopicNames: []string{"verdicts"}}
	if _, err := cache.RoundTrip(context.Background(), addr, req); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := cache.RoundTrip(context.Background(), addr, req); err != nil {
			b.Fatal(err)
		}
	}
}
