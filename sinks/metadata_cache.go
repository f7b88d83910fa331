package sinks

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// metadataCache is the verdict writers' transport: it answers the
// single-topic metadata requests a kafka-go Writer makes for every message
// it is given (to count the topic's partitions) from a copy at most ttl old,
// and passes every other request through. Through kafka-go's transport each
// lookup cost ~0.23 µs (a pool round trip and a filtered copy of the
// cluster's metadata), 6 % of the CPU of `sagewall run` at full speed.
// A topic the transport does not know, or an error, is never cached: the
// writer's retries of a topic created moments ago still reach the broker.
type metadataCache struct {
	next kafka.RoundTripper
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[metadataKey]cachedMetadata
}

type metadataKey struct {
	topic      string
	autoCreate bool
}

type cachedMetadata struct {
	response *metadata.Response
	at       time.Time
}

// metadataCacheTTL bounds how much staler than kafka-go's own cache (6 s)
// the writer's partition counts may be.
const metadataCacheTTL = time.Second

func newMetadataCache(next kafka.RoundTripper, ttl time.Duration) *metadataCache {
	return &metadataCache{next: next, ttl: ttl, now: time.Now, entries: map[metadataKey]cachedMetadata{}}
}

// RoundTrip implements kafka.RoundTripper.
func (c *metadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadata.Request)
	if !ok || len(m.TopicNames) != 1 || m.IncludeClusterAuthorizedOperations || m.IncludeTopicAuthorizedOperations {
		return c.next.RoundTrip(ctx, addr, req)
	}
	key := metadataKey{m.TopicNames[0], m.AllowAutoTopicCreation}
	now := c.now()
	c.mu.Lock()
	e, hit := c.entries[key]
	c.mu.Unlock()
	if hit && now.Sub(e.at) < c.ttl {
		return e.response, nil
	}
	res, err := c.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if r, ok := res.(*metadata.Response); ok && knowsTopic(r, key.topic) {
		c.mu.Lock()
		c.entries[key] = cachedMetadata{r, now}
		c.mu.Unlock()
	}
	return res, nil
}

// knowsTopic reports whether r describes topic without an error.
func knowsTopic(r *metadata.Response, topic string) bool {
	for _, t := range r.Topics {
		if t.Name == topic {
			return t.ErrorCode == 0 && len(t.Partitions) > 0
		}
	}
	return false
}
