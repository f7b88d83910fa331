package sinks

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
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
	// afterFunc is time.AfterFunc; a test gives its own clock. An entry's
	// timer marks it stale, so that a lookup reads no clock: time.Now per
	// message was a third of the cache's cost.
	afterFunc func(time.Duration, func())

	// last is the latest entry looked up: a writer asks for one topic
	// message after message, and this answers it without a lock or a hash.
	last    atomic.Pointer[cachedMetadata]
	mu      sync.Mutex
	entries map[metadataKey]*cachedMetadata
}

type metadataKey struct {
	topic      string
	autoCreate bool
}

type cachedMetadata struct {
	key      metadataKey
	response *metadata.Response
	stale    atomic.Bool // ttl after it was cached
}

// metadataCacheTTL bounds how much staler than kafka-go's own cache (6 s)
// the writer's partition counts may be.
const metadataCacheTTL = time.Second

func newMetadataCache(next kafka.RoundTripper, ttl time.Duration) *metadataCache {
	return &metadataCache{next: next, ttl: ttl, entries: map[metadataKey]*cachedMetadata{},
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// RoundTrip implements kafka.RoundTripper.
func (c *metadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	m, ok := req.(*metadata.Request)
	if !ok || len(m.TopicNames) != 1 || m.IncludeClusterAuthorizedOperations || m.IncludeTopicAuthorizedOperations {
		return c.next.RoundTrip(ctx, addr, req)
	}
	key := metadataKey{m.TopicNames[0], m.AllowAutoTopicCreation}
	if e := c.last.Load(); e != nil && e.key == key && !e.stale.Load() {
		return e.response, nil
	}
	c.mu.Lock()
	e, hit := c.entries[key]
	c.mu.Unlock()
	if hit && !e.stale.Load() {
		c.last.Store(e)
		return e.response, nil
	}
	res, err := c.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if r, ok := res.(*metadata.Response); ok && knowsTopic(r, key.topic) {
		e := &cachedMetadata{key: key, response: r}
		c.afterFunc(c.ttl, func() { e.stale.Store(true) })
		c.mu.Lock()
		c.entries[key] = e
		c.mu.Unlock()
		c.last.Store(e)
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
