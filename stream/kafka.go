package stream

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Conn holds how to reach the brokers: addresses, TLS and SASL. The same
// settings build the consumer's Dialer and the producer's Transport.
type Conn struct {
	Brokers []string
	TLS     *tls.Config    // nil: plaintext
	SASL    sasl.Mechanism // nil: no authentication
}

// Dialer returns the dialer for kafka-go readers.
func (c Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

// Transport returns the transport for kafka-go writers and clients.
func (c Conn) Transport() *kafka.Transport {
	return &kafka.Transport{
		DialTimeout: 10 * time.Second,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// ReaderOption adjusts the consumer's kafka-go configuration.
type ReaderOption func(*kafka.ReaderConfig)

// WithStartOffset sets where a group with no committed offset starts:
// kafka.FirstOffset (the default) or kafka.LastOffset.
func WithStartOffset(offset int64) ReaderOption {
	return func(c *kafka.ReaderConfig) { c.StartOffset = offset }
}

// WithReaderLogger routes kafka-go's error log to l, each distinct message
// at most once per readerLogEvery with how often it recurred meanwhile:
// during an outage or with a missing topic the reader retries every second
// per partition and would otherwise write a line per attempt.
func WithReaderLogger(l *slog.Logger) ReaderOption {
	return func(c *kafka.ReaderConfig) {
		c.ErrorLogger = &dedupLogger{logger: l, every: readerLogEvery, now: time.Now, last: map[string]*logged{}}
	}
}

// WithSessionTimeout sets how long the group waits for a member's heartbeat
// before giving its partitions to the others (default 10 s): after a
// kill -9 the dead member's partitions are not consumed for this long.
func WithSessionTimeout(d time.Duration) ReaderOption {
	return func(c *kafka.ReaderConfig) { c.SessionTimeout = d }
}

// WithClientID sets the client ID the reader sends the brokers, and so the
// one its group member is known by (kafka-go's default is the same for
// every process of a program on a host). Give each process its own
// (NewClientID) and the same to WithLagOwner, which finds the reader's
// partitions by it.
func WithClientID(id string) ReaderOption {
	return func(c *kafka.ReaderConfig) { c.Dialer.ClientID = id }
}

// NewClientID returns a client ID unique to this process and call:
// "<program>-<host>-<8 hex digits>", e.g. "sagewall-processor-7d9f-2c41a0be".
// The host (a pod's name on Kubernetes) tells operators whose member it is.
func NewClientID(program string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return program + "-" + host + "-" + hex.EncodeToString(b[:])
}

const readerLogEvery = time.Minute

type logged struct {
	at       time.Time
	repeated int
}

// dedupLogger is a kafka.Logger that drops repeats of a message within
// every and counts them.
type dedupLogger struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu   sync.Mutex
	last map[string]*logged
}

func (d *dedupLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	now := d.now()
	d.mu.Lock()
	e := d.last[msg]
	if e != nil && now.Sub(e.at) < d.every {
		e.repeated++
		d.mu.Unlock()
		return
	}
	repeated := 0
	if e != nil {
		repeated = e.repeated
	} else if len(d.last) >= 256 {
		clear(d.last) // bounded: messages carry addresses and partitions
	}
	d.last[msg] = &logged{at: now}
	d.mu.Unlock()
	attrs := []any{"detail", msg}
	if repeated > 0 {
		attrs = append(attrs, "repeated_since_last_logged", repeated)
	}
	d.logger.Warn("kafka reader", attrs...)
}

// NewReader returns a kafka-go consumer-group reader of topic (the rekeyer's
// and the alert notifier's; the pipeline's is a GroupConsumer, configured
// alike): synchronous commits (the caller decides when and what to
// commit), minimal fetch wait for low latency, and a queue deep enough to
// keep the caller fed.
func NewReader(conn Conn, group, topic string, opts ...ReaderOption) *kafka.Reader {
	return kafka.NewReader(readerConfig(conn, group, topic, opts))
}

// readerConfig is the configuration of NewReader, which NewGroupConsumer
// shares: the group's timeouts, the fetch sizes and wait, the start offset,
// the dialer and the error log.
func readerConfig(conn Conn, group, topic string, opts []ReaderOption) kafka.ReaderConfig {
	cfg := kafka.ReaderConfig{
		Brokers:               conn.Brokers,
		GroupID:               group,
		GroupTopics:           []string{topic},
		Dialer:                conn.Dialer(),
		MinBytes:              1,
		MaxBytes:              1 << 20,
		MaxWait:               time.Second,
		QueueCapacity:         1024,
		CommitInterval:        0,
		StartOffset:           kafka.FirstOffset,
		WatchPartitionChanges: true,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
		JoinGroupBackoff:      time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}
