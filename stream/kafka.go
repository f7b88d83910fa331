package stream

import (
	"crypto/tls"
	"fmt"
	"log/slog"
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

// WithReaderLogger routes kafka-go's error log to l.
func WithReaderLogger(l *slog.Logger) ReaderOption {
	return func(c *kafka.ReaderConfig) {
		c.ErrorLogger = kafka.LoggerFunc(func(msg string, args ...any) {
			l.Warn("kafka reader", "msg", fmt.Sprintf(msg, args...))
		})
	}
}

// NewReader returns a consumer-group reader of topic for the pipeline:
// synchronous commits (the pipeline decides when and what to commit),
// minimal fetch wait for low latency, and a queue deep enough to keep the
// batcher fed.
func NewReader(conn Conn, group, topic string, opts ...ReaderOption) *kafka.Reader {
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
	return kafka.NewReader(cfg)
}
