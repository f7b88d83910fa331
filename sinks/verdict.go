// Package sinks turns scored records into outputs: verdict messages on a Kafka
// topic (JSON or OCSF), dead letters for records that could not be encoded,
// and (in sns*.go) alerts. Every sink acknowledges a whole batch through a
// done callback, so the stream can commit a source offset only once all of
// its outputs are accepted.
package sinks

import (
	"strconv"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// Source locates a record: in its source topic (sagewall run), or in a
// file by line number (sagewall score; File set, Topic empty).
type Source struct {
	Topic     string
	Partition int
	Offset    int64
	File      string
	Line      int
}

// AppendKey appends the record's idempotency key, "topic/partition/offset"
// ("file:line" for a file). Downstream consumers drop duplicates (after a
// crash or rebalance) by it.
func (s Source) AppendKey(dst []byte) []byte {
	return s.appendKeyPosition(append(dst, s.keyName()...))
}

// keyName is the key's first part: the file, or the topic. Only it can
// hold characters a JSON string must escape.
func (s Source) keyName() string {
	if s.File != "" {
		return s.File
	}
	return s.Topic
}

// appendKeyPosition appends the key's rest: ":line", or "/partition/offset".
func (s Source) appendKeyPosition(dst []byte) []byte {
	if s.File != "" {
		dst = append(dst, ':')
		return strconv.AppendInt(dst, int64(s.Line), 10)
	}
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(s.Partition), 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, s.Offset, 10)
}

// Key returns AppendKey's key as a string.
func (s Source) Key() string { return string(s.AppendKey(nil)) }

// Verdict is the outcome for one source record. Sinks must not keep a
// reference to a Verdict (or its slice) after calling done: the stream
// reuses the memory for the next batch.
type Verdict struct {
	Source    Source
	Time      time.Time // the source record's timestamp (sagewall score: when it was scored)
	Record    etl.Record
	Result    scoring.Result
	Threshold float64
	Model     scoring.Info
	// Conn names the connection judged: its hosts, ports, transport, event
	// time, Zeek uid, sensor and passthrough fields. It is filled from a
	// connection log, or from the identity keys of an NSL-KDD JSON record
	// (src_ip, dst_ip, ...); its zero value means the record named none.
	Conn connlog.Conn
	// FeaturesSource says where the 41 features came from: "" or "nslkdd"
	// when the record carried them, "zeek" or "vpcflow" when they were
	// derived from a connection log (content features are then 0).
	FeaturesSource string
	// Explanation lists the features that pushed the score most (largest
	// contribution to the margin first), when the pipeline explains this
	// verdict (model.explain); empty otherwise.
	Explanation []scoring.Contribution
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// DeadLetter is a source record that could not be turned into a verdict,
// with its original bytes and headers and the reason it was rejected.
type DeadLetter struct {
	Source  Source
	Time    time.Time
	Key     []byte
	Value   []byte
	Headers []Header
	// Reason is a short machine-friendly cause ("encoding", "too_large")
	// and Err the message naming the field and the value.
	Reason string
	Err    string
}
