package sinks

import (
	"context"
	"strconv"
	"time"
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
		{"category", v.Result.Category.String()}, {"service", v.Record.Service},
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
	return append(dst, '}')
}

// AlertTopic is the sink of the outbox: it writes the alert-worthy verdicts
// of each batch (score at or above its threshold) to the alert topic through
// a Kafka sink made with AlertFormat, and acknowledges the batch when the
// broker has them (acks=all) — milliseconds, where waiting for SNS took a
// whole alert window. The notifier publishes them to SNS from there.
type AlertTopic struct {
	kafka     *Kafka
	threshold float64
	alerts    []Verdict // reused: Kafka.Write encodes them before it returns
}

// NewAlertTopic returns the sink writing alert-worthy verdicts through k.
func NewAlertTopic(k *Kafka, threshold float64) *AlertTopic {
	return &AlertTopic{kafka: k, threshold: threshold}
}

// Write implements the stream's Sink; a batch without alerts is
// acknowledged at once. Called from one goroutine at a time.
func (a *AlertTopic) Write(ctx context.Context, verdicts []Verdict, done func(error)) {
	a.alerts = a.alerts[:0]
	for i := range verdicts {
		if float64(verdicts[i].Result.Score) >= a.threshold { // as the SNS sink compares
			a.alerts = append(a.alerts, verdicts[i])
		}
	}
	if len(a.alerts) == 0 {
		done(nil)
		return
	}
	a.kafka.Write(ctx, a.alerts, done)
	clear(a.alerts) // drop references to the batch's records
}

// Name is what the pipeline reports the alert topic's outages under.
func (a *AlertTopic) Name() string { return "kafka_alerts" }

// Close flushes and closes the alert topic's writer.
func (a *AlertTopic) Close() error { return a.kafka.Close() }
