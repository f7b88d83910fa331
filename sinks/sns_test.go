package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// unreachableSNS is the real SNS client pointed at a closed port: every call fails.
func unreachableSNS() *sns.Client {
	return sns.New(sns.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
	})
}

func newTestSNS(t *testing.T, opts ...SNSOption) *SNS {
	t.Helper()
	s, err := NewSNS(unreachableSNS(), "arn:aws:sns:us-east-1:123456789012:alerts",
		append([]SNSOption{WithSNSLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verdict(offset int64, score float32, category etl.Class, service string) Verdict {
	return Verdict{
		Source: Source{Topic: "connections", Partition: 0, Offset: offset},
		Time:   time.Date(2026, 11, 25, 12, 0, 0, int(offset), time.UTC),
		Record: etl.Record{ProtocolType: "tcp", Service: service, Flag: "S0"},
		Result: scoring.Result{Score: score, Attack: score >= 0.5, Category: category},
		Model:  scoring.Info{Name: "bundled"},
	}
}

func TestSNSBatchWithoutAlertsIsAckedAtOnce(t *testing.T) {
	s := newTestSNS(t)
	var got []error
	s.Write(t.Context(), []Verdict{verdict(1, 0.2, etl.Normal, "http"), verdict(2, 0.8999, etl.DoS, "http")}, func(err error) { got = append(got, err) })
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("done calls %v, want one nil", got)
	}
}

func TestSNSAggregatesPerCategoryAndService(t *testing.T) {
	s := newTestSNS(t, WithAlertExamples(2))
	pending := map[group]*aggregate{}
	var acks []*alertAck
	write := func(vs ...Verdict) {
		var alerts []alert
		for _, v := range vs {
			alerts = append(alerts, alert{key: v.Source.Key(), time: v.Time, score: v.Result.Score,
				category: v.Result.Category.String(), service: v.Record.Service})
		}
		ack := &alertAck{done: func(error) {}}
		acks = append(acks, ack)
		s.add(pending, alertBatch{alerts: alerts, ack: ack})
	}
	// 100 000 attack records of two kinds become two messages.
	for i := range 1000 {
		batch := make([]Verdict, 0, 100)
		for j := range 100 {
			off := int64(i*100 + j)
			if j%4 == 0 {
				batch = append(batch, verdict(off, 0.95, etl.Probe, "private"))
			} else {
				batch = append(batch, verdict(off, 0.999, etl.DoS, "http"))
			}
		}
		write(batch...)
	}
	aggs := sortedAggregates(pending)
	if len(aggs) != 2 {
		t.Fatalf("%d aggregates, want 2", len(aggs))
	}
	dos, probe := aggs[0], aggs[1]
	if dos.category != "dos" || dos.service != "http" || dos.count != 75000 || len(dos.examples) != 2 || len(dos.acks) != 1000 {
		t.Errorf("dos aggregate: %s/%s count %d, %d examples, %d acks", dos.category, dos.service, dos.count, len(dos.examples), len(dos.acks))
	}
	if probe.count != 25000 || probe.maxScore != 0.95 {
		t.Errorf("probe aggregate: count %d, max %v", probe.count, probe.maxScore)
	}
	if acks[0].remaining != 2 {
		t.Errorf("a batch touching two groups waits for %d aggregates, want 2", acks[0].remaining)
	}

	e := s.entry("0", dos)
	if got := aws.ToString(e.Subject); got != "SAGEWALL ALERT: 75000 dos on http" {
		t.Errorf("subject %q", got)
	}
	msg := aws.ToString(e.Message)
	for _, want := range []string{"count: 75000", "examples (2 of 75000)", "connections/0/1 score=0.9990", "severity: critical"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	attrs := map[string]string{}
	for k, v := range e.MessageAttributes {
		attrs[k] = aws.ToString(v.DataType) + ":" + aws.ToString(v.StringValue)
	}
	want := map[string]string{"severity": "String:critical", "category": "String:dos", "service": "String:http", "score": "Number:0.9990", "count": "Number:75000"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if sev := s.entry("1", probe).MessageAttributes["severity"]; aws.ToString(sev.StringValue) != "high" {
		t.Errorf("probe severity %q, want high", aws.ToString(sev.StringValue))
	}
}

func TestSplitEntries(t *testing.T) {
	entry := func(size int) snstypes.PublishBatchRequestEntry {
		return snstypes.PublishBatchRequestEntry{Id: aws.String("x"), Message: aws.String(strings.Repeat("m", size))}
	}
	tests := []struct {
		name  string
		sizes []int
		want  []int // entries per chunk
	}{
		{"25 small", repeat(100, 25), []int{10, 10, 5}},
		{"bytes cap", []int{100 << 10, 100 << 10, 100 << 10, 10}, []int{2, 2}},
		{"exactly 256 KiB", []int{128 << 10, 128 << 10, 1}, []int{2, 1}},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries []snstypes.PublishBatchRequestEntry
			for _, n := range tt.sizes {
				entries = append(entries, entry(n))
			}
			chunks := splitEntries(entries)
			var got []int
			for _, c := range chunks {
				got = append(got, len(c))
				total := 0
				for _, e := range c {
					total += entrySize(e)
				}
				if len(c) > snsMaxBatchEntries || total > snsMaxBatchBytes {
					t.Errorf("chunk of %d entries, %d bytes, over the limits", len(c), total)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("chunks %v, want %v", got, tt.want)
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// An alert SNS never accepts fails its batch (stopping the pipeline before
// the commit) instead of being dropped.
func TestSNSErrorFailsTheBatch(t *testing.T) {
	s := newTestSNS(t, WithAlertWindow(10*time.Millisecond), WithPublishRetry(2, time.Millisecond, time.Millisecond))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Run(ctx)
	done := make(chan error, 1)
	s.Write(ctx, []Verdict{verdict(1, 0.97, etl.DoS, "http")}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "publishing alert batch") {
			t.Fatalf("done(%v), want the publish error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("batch never settled")
	}
}

func TestSNSShutdownFailsPendingBatches(t *testing.T) {
	s := newTestSNS(t, WithAlertWindow(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error)
	go func() { stopped <- s.Run(ctx) }()
	done := make(chan error, 2)
	s.Write(ctx, []Verdict{verdict(1, 0.97, etl.DoS, "http")}, func(err error) { done <- err })
	s.Write(ctx, []Verdict{verdict(2, 0.91, etl.Probe, "ftp")}, func(err error) { done <- err })
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("done(%v), want context.Canceled", err)
		}
	}
}

func TestNewSNSValidates(t *testing.T) {
	if _, err := NewSNS(unreachableSNS(), ""); err == nil {
		t.Error("empty topic ARN accepted")
	}
	if _, err := NewSNS(unreachableSNS(), "arn", WithAlertThreshold(1.5)); err == nil {
		t.Error("threshold 1.5 accepted")
	}
	if _, err := NewSNS(unreachableSNS(), "arn", WithAlertWindow(0)); err == nil {
		t.Error("zero window accepted")
	}
}
