package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
)

// Writer produces messages and returns once Kafka has acknowledged them (a
// synchronous kafka-go Writer).
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Rekeyer repartitions connection logs by destination host, as Kafka
// Streams does with a repartition topic: it consumes the raw topic (keyed
// any way, or not at all, as Zeek's Kafka writer or a log shipper leaves
// it), parses each line and produces it to an internal topic as a
// self-describing Zeek JSON line keyed by its destination host, so that
// the pipeline consuming that topic finds every connection to a host in
// one partition, however many instances share the work. Header lines
// (Zeek's #fields, a flow log's field names) apply to the lines after them
// in their partition and are consumed; a line that does not parse goes on
// as it was with the reason in the connlog.ParseErrorHeader header, to
// become a dead letter in the pipeline; an NSL-KDD record (auto input)
// goes on unchanged. Source offsets are committed only after every
// message produced from them is acknowledged (at-least-once).
type Rekeyer struct {
	consumer Consumer
	writer   Writer
	input    connlog.Input
	chunk    int
	wait     time.Duration
	logger   *slog.Logger
	parsers  map[topicPartition]*rekeyPartition
}

type rekeyPartition struct {
	parser    *connlog.Parser
	sawHeader bool
	last      int64 // highest offset seen: a lower one means the partition was rewound
}

// RekeyOption configures a Rekeyer.
type RekeyOption func(*Rekeyer)

// WithRekeyChunk sets how many lines are produced per acknowledged write,
// and how long a partial chunk waits for more (default 1000, 5 ms).
func WithRekeyChunk(lines int, wait time.Duration) RekeyOption {
	return func(r *Rekeyer) { r.chunk, r.wait = lines, wait }
}

// WithRekeyLogger sets the logger (default slog.Default()).
func WithRekeyLogger(l *slog.Logger) RekeyOption { return func(r *Rekeyer) { r.logger = l } }

// NewRekeyer returns a Rekeyer from consumer (a group reader of the raw
// topic) to writer (the internal topic's producer, acks=all, key-hashed).
func NewRekeyer(consumer Consumer, writer Writer, input connlog.Input, opts ...RekeyOption) (*Rekeyer, error) {
	r := &Rekeyer{consumer: consumer, writer: writer, input: input, chunk: 1000, wait: 5 * time.Millisecond,
		logger: slog.Default(), parsers: map[topicPartition]*rekeyPartition{}}
	for _, o := range opts {
		o(r)
	}
	switch {
	case consumer == nil || writer == nil:
		return nil, errors.New("creating rekeyer: a consumer and a writer are required")
	case r.chunk < 1 || r.wait <= 0:
		return nil, fmt.Errorf("creating rekeyer: chunk %d lines and wait %s must be positive", r.chunk, r.wait)
	}
	return r, nil
}

// Run repartitions until ctx ends (nil) or a fetch, write or commit fails.
func (r *Rekeyer) Run(ctx context.Context) error {
	out := make([]kafka.Message, 0, r.chunk)
	consumed := make([]kafka.Message, 0, r.chunk)
	for {
		out, consumed = out[:0], consumed[:0]
		// The first fetch waits as long as it takes; the rest of the chunk
		// only as long as r.wait.
		m, err := r.consumer.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("rekeying: fetching: %w", err)
		}
		deadline := time.Now().Add(r.wait)
		for {
			consumed = append(consumed, m)
			if msg, ok := r.rekey(&m); ok {
				out = append(out, msg)
			}
			if len(consumed) == r.chunk {
				break
			}
			fetchCtx, cancel := context.WithDeadline(ctx, deadline)
			m, err = r.consumer.FetchMessage(fetchCtx)
			cancel()
			if err != nil {
				break // the chunk's wait is over (or ctx ended: what is in hand is finished first)
			}
		}
		if len(out) > 0 {
			if err := r.writer.WriteMessages(context.WithoutCancel(ctx), out...); err != nil {
				return fmt.Errorf("rekeying: producing %d lines: %w", len(out), err)
			}
		}
		if err := r.consumer.CommitMessages(context.WithoutCancel(ctx), lastPerPartition(consumed)...); err != nil {
			return fmt.Errorf("rekeying: committing: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// rekey turns m into its message on the internal topic; false for a header
// line, which has none.
func (r *Rekeyer) rekey(m *kafka.Message) (kafka.Message, bool) {
	tp := topicPartition{m.Topic, m.Partition}
	p := r.parsers[tp]
	if p == nil || m.Offset <= p.last {
		// New, or rewound after a rebalance: headers are read again.
		p = &rekeyPartition{parser: connlog.NewParser(r.input)}
		r.parsers[tp] = p
	}
	p.last = m.Offset
	out := kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers}
	if r.input == connlog.Auto && !p.sawHeader && !connlog.IsConnLogLine(m.Value) {
		return out, true // an NSL-KDD record
	}
	var c connlog.Conn
	ok, err := p.parser.Parse(m.Value, &c)
	switch {
	case err != nil:
		out.Headers = append(append([]kafka.Header(nil), m.Headers...), kafka.Header{Key: connlog.ParseErrorHeader, Value: []byte(err.Error())})
		return out, true
	case !ok:
		p.sawHeader = true
		return kafka.Message{}, false
	}
	out.Value = connlog.AppendZeekJSON(make([]byte, 0, len(m.Value)+256), &c)
	if c.RespAddr.IsValid() {
		out.Key = c.RespAddr.AppendTo(nil)
	}
	return out, true
}

// lastPerPartition picks, per partition, the message with the highest
// offset: committing it commits everything before it in the partition.
func lastPerPartition(msgs []kafka.Message) []kafka.Message {
	last := map[topicPartition]kafka.Message{}
	for _, m := range msgs {
		tp := topicPartition{m.Topic, m.Partition}
		if prev, ok := last[tp]; !ok || m.Offset > prev.Offset {
			last[tp] = m
		}
	}
	out := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		out = append(out, kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
	}
	return out
}
