package s3bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
)

func newTestBridge(t *testing.T, w Writer, opts ...Option) *Bridge {
	t.Helper()
	b, err := New(nil, nil, w, "", append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: time.Second})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var msgs []kafka.Message
	for len(msgs) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d messages: %v", len(msgs), n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestProduceLines(t *testing.T) {
	const topic = "raw"
	brokers := testenv.KFake(t, kfake.SeedTopics(1, topic))
	w := NewWriter(brokers, topic, nil)
	defer w.Close()
	b := newTestBridge(t, w, WithChunkLines(100))

	var body strings.Builder
	const lines = 2500
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&body, "0,tcp,http,SF,%d,0\r\n", i)
		if i == 7 {
			body.WriteString("\n") // an empty line is skipped but still counted
		}
	}
	o := Object{Bucket: "drop", Key: "day 1/train.csv", ETag: "e1", Size: int64(body.Len())}
	n, err := b.produceLines(t.Context(), o, strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n != lines {
		t.Fatalf("produced %d lines, want %d", n, lines)
	}
	msgs := readAll(t, brokers, topic, lines)
	for i, m := range msgs {
		record := i + 1
		lineNo := record
		if record > 7 {
			lineNo++
		}
		if want := fmt.Sprintf("0,tcp,http,SF,%d,0", record); string(m.Value) != want {
			t.Fatalf("message %d value %q, want %q", i, m.Value, want)
		}
		if want := fmt.Sprintf("drop/day 1/train.csv:%d", lineNo); string(m.Key) != want {
			t.Fatalf("message %d key %q, want %q", i, m.Key, want)
		}
		if header(m, HeaderBucket) != "drop" || header(m, HeaderKey) != "day 1/train.csv" ||
			header(m, HeaderVersion) != "e1" || header(m, HeaderLine) != fmt.Sprint(lineNo) {
			t.Fatalf("message %d headers %v", i, m.Headers)
		}
	}
}

// failingWriter stands for a broker that refuses the write.
type failingWriter struct{ err error }

func (w failingWriter) WriteMessages(context.Context, ...kafka.Message) error { return w.err }

func TestProduceLinesErrors(t *testing.T) {
	o := Object{Bucket: "drop", Key: "f.csv"}
	tests := []struct {
		name    string
		opts    []Option
		writer  Writer
		body    string
		check   func(error) bool
		wantMsg string
	}{
		{"line too long", []Option{WithMaxLineBytes(10)}, failingWriter{}, "short\nthis line is too long\n",
			func(err error) bool { var e *LineTooLongError; return errors.As(err, &e) && e.Line == 2 }, "s3://drop/f.csv: line 2: longer than 10 bytes"},
		{"object over cap", []Option{WithMaxObjectBytes(20)}, failingWriter{}, strings.Repeat("0123456789\n", 5),
			func(err error) bool { var e *ObjectTooLargeError; return errors.As(err, &e) }, "object s3://drop/f.csv is over the 20-byte cap"},
		{"kafka refuses", nil, failingWriter{errors.New("broker down")}, "a\nb\n",
			func(err error) bool { return errorType(err) == "produce" }, "producing s3://drop/f.csv lines up to 2: broker down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBridge(t, tt.writer, tt.opts...)
			_, err := b.produceLines(t.Context(), o, strings.NewReader(tt.body))
			if err == nil || !tt.check(err) || err.Error() != tt.wantMsg {
				t.Fatalf("err = %v, want %q", err, tt.wantMsg)
			}
		})
	}
}
