package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/sagewall/sagewall/connlog"
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
	return newTestSNSClient(t, unreachableSNS(), "arn:aws:sns:us-east-1:123456789012:alerts", opts...)
}

func newTestSNSClient(t *testing.T, client SNSAPI, topicARN string, opts ...SNSOption) *SNS {
	t.Helper()
	s, err := NewSNS(client, topicARN, append([]SNSOption{WithSNSLogger(slog.New(slog.DiscardHandler))}, opts...)...)
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

// alertsOf is what AlertTopic writes, and the notifier publishes, of
// verdicts: the alerts of those at or above the default alert threshold.
func alertsOf(verdicts []Verdict) []Alert {
	var alerts []Alert
	for i := range verdicts {
		if float64(verdicts[i].Result.Score) >= DefaultAlertThreshold {
			alerts = append(alerts, alertOf(&verdicts[i]))
		}
	}
	return alerts
}

func TestSNSBatchWithoutAlertsIsAckedAtOnce(t *testing.T) {
	s := newTestSNS(t)
	var got []error
	s.Publish(t.Context(), alertsOf([]Verdict{verdict(1, 0.2, etl.Normal, "http"), verdict(2, 0.8999, etl.DoS, "http")}), func(err error) { got = append(got, err) })
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("done calls %v, want one nil", got)
	}
}

func TestSNSAggregatesPerCategoryAndService(t *testing.T) {
	s := newTestSNS(t, WithAlertExamples(2))
	pending := map[group]*aggregate{}
	var acks []*alertAck
	write := func(vs ...Verdict) {
		var alerts []Alert
		for _, v := range vs {
			alerts = append(alerts, Alert{Key: v.Source.Key(), Time: v.Time, Score: v.Result.Score,
				Category: v.Result.Category.String(), Service: v.Record.Service})
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
	for _, want := range []string{"count: 75000", "examples (2 of 75000)", "connections/0/1 score=0.9990", "severity: high"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	attrs := map[string]string{}
	for k, v := range e.MessageAttributes {
		attrs[k] = aws.ToString(v.DataType) + ":" + aws.ToString(v.StringValue)
	}
	want := map[string]string{"severity": "String:high", "category": "String:dos", "service": "String:http", "score": "Number:0.9990", "count": "Number:75000"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	// Severity by category, one level up at a max score ≥ 0.99 (Severity):
	// dos at 0.999 is high, probe at 0.95 medium.
	if sev := s.entry("1", probe).MessageAttributes["severity"]; aws.ToString(sev.StringValue) != "medium" {
		t.Errorf("probe severity %q, want medium", aws.ToString(sev.StringValue))
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
	s.Publish(ctx, alertsOf([]Verdict{verdict(1, 0.97, etl.DoS, "http")}), func(err error) { done <- err })
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
	s.Publish(ctx, alertsOf([]Verdict{verdict(1, 0.97, etl.DoS, "http")}), func(err error) { done <- err })
	s.Publish(ctx, alertsOf([]Verdict{verdict(2, 0.91, etl.Probe, "ftp")}), func(err error) { done <- err })
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
	if _, err := NewSNS(unreachableSNS(), "arn", WithAlertWindow(0)); err == nil {
		t.Error("zero window accepted")
	}
}

// aggregateOf aggregates verdicts as Run does and returns the single aggregate.
func aggregateOf(t *testing.T, s *SNS, vs ...Verdict) *aggregate {
	t.Helper()
	pending := map[group]*aggregate{}
	var alerts []Alert
	for i := range vs {
		alerts = append(alerts, alertOf(&vs[i]))
	}
	s.add(pending, alertBatch{alerts: alerts, ack: &alertAck{done: func(error) {}}})
	aggs := sortedAggregates(pending)
	if len(aggs) != 1 {
		t.Fatalf("%d aggregates, want 1", len(aggs))
	}
	return aggs[0]
}

func TestSNSFIFOEntries(t *testing.T) {
	const (
		standardARN = "arn:aws:sns:us-east-1:123456789012:alerts"
		fifoARN     = "arn:aws:sns:us-east-1:123456789012:alerts.fifo"
	)
	long := strings.Repeat("s", 200)
	tests := []struct {
		name      string
		arn       string
		category  etl.Class
		service   string
		wantGroup string // "" for none
	}{
		{"standard topic", standardARN, etl.DoS, "http", ""},
		{"standard topic named like fifo", "arn:aws:sns:us-east-1:123456789012:fifo-alerts", etl.DoS, "http", ""},
		{"fifo", fifoARN, etl.DoS, "http", "dos/http"},
		{"fifo, punctuation kept", fifoARN, etl.Probe, "ftp_data", "probe/ftp_data"},
		{"fifo, space, tab and non-ASCII replaced", fifoARN, etl.R2L, "my svc\tñ", "r2l/my_svc__"},
		{"fifo, capped at 128", fifoARN, etl.U2R, long, ("u2r/" + long)[:128]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSNSClient(t, unreachableSNS(), tt.arn)
			agg := aggregateOf(t, s, verdict(1, 0.95, tt.category, tt.service), verdict(2, 0.97, tt.category, tt.service))
			e := s.entry("0", agg)
			if tt.wantGroup == "" {
				if e.MessageGroupId != nil || e.MessageDeduplicationId != nil {
					t.Fatalf("standard topic entry has group %q, dedup id %q", aws.ToString(e.MessageGroupId), aws.ToString(e.MessageDeduplicationId))
				}
				return
			}
			if got := aws.ToString(e.MessageGroupId); got != tt.wantGroup {
				t.Errorf("group id %q, want %q", got, tt.wantGroup)
			}
			sum := sha256.Sum256([]byte(aws.ToString(e.Subject) + "\n" + aws.ToString(e.Message)))
			dedup := aws.ToString(e.MessageDeduplicationId)
			if want := hex.EncodeToString(sum[:]); dedup != want {
				t.Errorf("dedup id %q, want %q", dedup, want)
			}
			// The same aggregate rendered again (another Id, a later call) keeps its id...
			if again := aws.ToString(s.entry("7", agg).MessageDeduplicationId); again != dedup {
				t.Errorf("dedup id changed between renderings: %q, %q", dedup, again)
			}
			// ...and an aggregate differing only in one example gets another.
			other := aggregateOf(t, s, verdict(1, 0.95, tt.category, tt.service), verdict(3, 0.97, tt.category, tt.service))
			if got := aws.ToString(s.entry("0", other).MessageDeduplicationId); got == dedup {
				t.Errorf("different aggregates share dedup id %q", dedup)
			}
		})
	}
}

func TestFIFOGroupID(t *testing.T) {
	punct := "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	tests := []struct{ in, want string }{
		{"dos/http", "dos/http"},
		{"AZaz09" + punct, "AZaz09" + punct},
		{"a b\x00c\x7fd", "a_b_c_d"},
		{"é€𝄞", "___"}, // one replacement per character, not per byte
		{strings.Repeat("x", 127) + "éé", strings.Repeat("x", 127) + "_"},
		{strings.Repeat("y", 300), strings.Repeat("y", 128)},
		{"", ""},
	}
	for _, tt := range tests {
		if got := fifoGroupID(tt.in); got != tt.want {
			t.Errorf("fifoGroupID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// snsFunc is an SNSAPI answering with a function.
type snsFunc func(*sns.PublishBatchInput) (*sns.PublishBatchOutput, error)

func (f snsFunc) PublishBatch(_ context.Context, in *sns.PublishBatchInput, _ ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	return f(in)
}

// A retried call resends the same MessageDeduplicationId, so that SNS drops
// the copy when the first call was in fact accepted.
func TestSNSFIFORetryKeepsDedupID(t *testing.T) {
	var sent []snstypes.PublishBatchRequestEntry
	client := snsFunc(func(in *sns.PublishBatchInput) (*sns.PublishBatchOutput, error) {
		sent = append(sent, in.PublishBatchRequestEntries...)
		if len(sent) == 1 {
			return nil, errors.New("timeout")
		}
		return &sns.PublishBatchOutput{Successful: []snstypes.PublishBatchResultEntry{{Id: in.PublishBatchRequestEntries[0].Id}}}, nil
	})
	s := newTestSNSClient(t, client, "arn:aws:sns:us-east-1:123456789012:alerts.fifo", WithPublishRetry(3, time.Millisecond, time.Millisecond))
	var got []error
	agg := aggregateOf(t, s, verdict(1, 0.95, etl.DoS, "http"))
	agg.acks = []*alertAck{{remaining: 1, done: func(err error) { got = append(got, err) }}}
	s.publish(t.Context(), []*aggregate{agg})
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("done calls %v, want one nil", got)
	}
	if len(sent) != 2 {
		t.Fatalf("%d entries sent, want 2 (one retry)", len(sent))
	}
	if a, b := aws.ToString(sent[0].MessageDeduplicationId), aws.ToString(sent[1].MessageDeduplicationId); a == "" || a != b {
		t.Errorf("dedup ids %q then %q, want the same", a, b)
	}
}

// TestSNSAlertNamesTheConnection: an alert shows who talked to whom, and a
// single-connection alert carries its addresses as filterable attributes.
func TestSNSAlertNamesTheConnection(t *testing.T) {
	s := newTestSNS(t)
	v := verdict(7, 0.97, etl.Probe, "private")
	v.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("193.201.9.232"), OrigPort: 46563,
		RespAddr: netip.MustParseAddr("2001:db8::9"), RespPort: 3933, Proto: "tcp", Sensor: "edge-1"}
	pending := map[group]*aggregate{}
	s.add(pending, alertBatch{alerts: []Alert{alertOf(&v)}, ack: &alertAck{done: func(error) {}}})
	e := s.entry("0", sortedAggregates(pending)[0])
	if msg, want := aws.ToString(e.Message), "193.201.9.232:46563 → [2001:db8::9]:3933/tcp (sensor edge-1)"; !strings.Contains(msg, want) {
		t.Fatalf("message lacks %q:\n%s", want, msg)
	}
	if got := aws.ToString(e.MessageAttributes["src_ip"].StringValue); got != "193.201.9.232" {
		t.Fatalf("src_ip attribute %q", got)
	}
	if got := aws.ToString(e.MessageAttributes["dst_ip"].StringValue); got != "2001:db8::9" {
		t.Fatalf("dst_ip attribute %q", got)
	}
}

// TestSNSAggregateNamesEachConnection: an aggregate of several alerts lists
// each example's connection (IPv4, ICMP with type and code, none) and, as it
// describes no single connection, carries no src_ip/dst_ip attributes; a
// sensor cannot add lines to the message.
func TestSNSAggregateNamesEachConnection(t *testing.T) {
	s := newTestSNS(t)
	tcp := verdict(1, 0.95, etl.Probe, "private")
	tcp.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("10.0.0.5"), OrigPort: 51514,
		RespAddr: netip.MustParseAddr("10.0.0.9"), RespPort: 22, Proto: "tcp", Sensor: "edge-1\ncategory: normal"}
	icmp := verdict(2, 0.96, etl.Probe, "private")
	icmp.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("10.0.0.5"), OrigPort: 8, RespAddr: netip.MustParseAddr("10.0.0.7"), Proto: "icmp"}
	none := verdict(3, 0.97, etl.Probe, "private")
	pending := map[group]*aggregate{}
	s.add(pending, alertBatch{alerts: []Alert{alertOf(&tcp), alertOf(&icmp), alertOf(&none)}, ack: &alertAck{done: func(error) {}}})
	aggs := sortedAggregates(pending)
	if len(aggs) != 1 {
		t.Fatalf("%d aggregates, want 1", len(aggs))
	}
	e := s.entry("0", aggs[0])
	msg := aws.ToString(e.Message)
	for _, want := range []string{
		"  10.0.0.5:51514 → 10.0.0.9:22/tcp (sensor edge-1?category: normal)\n    connections/0/1 score=0.9500",
		"  10.0.0.5:8 → 10.0.0.7:0/icmp\n    connections/0/2 score=0.9600",
		"\n  connections/0/3 score=0.9700",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, name := range []string{"src_ip", "dst_ip"} {
		if _, ok := e.MessageAttributes[name]; ok {
			t.Errorf("an aggregate of 3 alerts carries %s", name)
		}
	}
}

func TestFlowOf(t *testing.T) {
	for _, tt := range []struct {
		conn connlog.Conn
		want string
	}{
		{connlog.Conn{}, ""},
		{connlog.Conn{UID: "C1", Proto: "tcp"}, ""},
		{connlog.Conn{OrigAddr: netip.MustParseAddr("10.0.0.5"), OrigPort: 51514, RespAddr: netip.MustParseAddr("10.0.0.9"), RespPort: 22, Proto: "tcp"},
			"10.0.0.5:51514 → 10.0.0.9:22/tcp"},
		{connlog.Conn{OrigAddr: netip.MustParseAddr("2001:db8::1"), OrigPort: 128, RespAddr: netip.MustParseAddr("2001:db8::2"), Proto: "icmp", Sensor: "s"},
			"[2001:db8::1]:128 → [2001:db8::2]:0/icmp (sensor s)"},
		{connlog.Conn{RespAddr: netip.MustParseAddr("10.0.0.9"), RespPort: 80}, "? → 10.0.0.9:80"},
	} {
		if got := FlowOf(&tt.conn); got != tt.want {
			t.Errorf("FlowOf(%+v) = %q, want %q", tt.conn, got, tt.want)
		}
	}
}
