package sinks

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/scoring"
)

// AlertFormat encodes a verdict as its Alert, in JSON (what encoding/json
// makes of an Alert, appended without allocating): what the alert topic
// carries from the pipeline to the notifier.
type AlertFormat struct{}

// Append implements Format.
func (AlertFormat) Append(dst []byte, v *Verdict) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendEscaped(dst, v.Source.Topic)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(v.Source.Partition), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, v.Source.Offset, 10)
	dst = append(dst, `","time":"`...)
	dst = v.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","score":`...)
	dst = appendFloat(dst, float64(v.Result.Score), 32)
	for _, f := range [...]struct{ key, value string }{
		{"category", v.Result.CategoryName()}, {"service", v.Record.Service},
		{"protocol_type", v.Record.ProtocolType}, {"flag", v.Record.Flag}, {"model", v.Model.Name},
	} {
		dst = append(dst, `,"`...)
		dst = append(dst, f.key...)
		dst = append(dst, `":"`...)
		dst = appendEscaped(dst, f.value)
		dst = append(dst, '"')
	}
	if flow := FlowOf(&v.Conn); flow != "" {
		dst = append(dst, `,"flow":"`...)
		dst = appendEscaped(dst, flow)
		dst = append(dst, '"')
	}
	if v.Conn.OrigAddr.IsValid() {
		dst = append(dst, `,"src_ip":"`...)
		dst = v.Conn.OrigAddr.AppendTo(dst)
		dst = append(dst, '"')
	}
	if v.Conn.RespAddr.IsValid() {
		dst = append(dst, `,"dst_ip":"`...)
		dst = v.Conn.RespAddr.AppendTo(dst)
		dst = append(dst, '"')
	}
	if len(v.Explanation) > 0 {
		dst = append(dst, `,"why":"`...)
		dst = appendEscaped(dst, WhyOf(v.Explanation)) // one string per explained alert, beside the explanation itself
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// WhyOf is an explanation in words for a person reading a list of alerts:
// the phrases of its first alertWhyPhrases contributions, "; "-separated.
func WhyOf(contributions []scoring.Contribution) string {
	phrases := make([]string, 0, alertWhyPhrases)
	for i := range min(len(contributions), alertWhyPhrases) {
		phrases = append(phrases, contributions[i].Why)
	}
	return strings.Join(phrases, "; ")
}

// alertWhyPhrases is how many of an explanation's phrases an alert carries:
// an SNS message is read by a person, in a list of examples.
const alertWhyPhrases = 3

// AlertTopic is the sink of the outbox: it writes the alert-worthy verdicts
// of each batch (score at or above its threshold) to the alert topic as
// JSON lines (AlertFormat), a few messages per batch rather than one per
// alert — one message per alert cost a fifth of the pipeline's throughput
// in produce overhead — and acknowledges the batch when the broker has them
// (acks=all): milliseconds, where waiting for SNS took a whole alert window.
// The notifier publishes them to SNS from there.
type AlertTopic struct {
	kafka     *Kafka
	threshold float64
}

// maxAlertMessageBytes closes an alert message before it nears the
// producer's 1 MB batch: 512 alerts take about 150 KB.
const maxAlertMessageBytes = 256 << 10

// NewAlertTopic returns the sink writing alert-worthy verdicts through k's
// writer to k's topic.
func NewAlertTopic(k *Kafka, threshold float64) *AlertTopic {
	return &AlertTopic{kafka: k, threshold: threshold}
}

// Write implements the stream's Sink; a batch without alerts is
// acknowledged at once. Each message is keyed by its first alert's source
// position, so one source partition's alerts stay in order.
func (a *AlertTopic) Write(ctx context.Context, verdicts []Verdict, done func(error)) {
	var msgs []kafka.Message
	var value []byte
	var key []byte
	for i := range verdicts {
		v := &verdicts[i]
		if float64(v.Result.Score) < a.threshold { // as the SNS sink compares
			continue
		}
		if value == nil {
			key = v.Source.AppendKey(nil)
		}
		value = AlertFormat{}.Append(value, v)
		value = append(value, '\n')
		if len(value) >= maxAlertMessageBytes {
			msgs = append(msgs, kafka.Message{Key: key, Value: value})
			value = nil
		}
	}
	if value != nil {
		msgs = append(msgs, kafka.Message{Key: key, Value: value})
	}
	if len(msgs) == 0 {
		done(nil)
		return
	}
	a.kafka.writeMessages(ctx, msgs, done)
}

// Name is what the pipeline reports the alert topic's outages under.
func (a *AlertTopic) Name() string { return "kafka_alerts" }

// Close flushes and closes the alert topic's writer.
func (a *AlertTopic) Close() error { return a.kafka.Close() }
