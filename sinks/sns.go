package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/retry"
)

// SNSAPI is the part of the SNS client the alert sink uses.
type SNSAPI interface {
	PublishBatch(ctx context.Context, in *sns.PublishBatchInput, optFns ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

// SNS publish limits.
const (
	snsMaxBatchEntries = 10
	snsMaxBatchBytes   = 256 << 10 // the whole PublishBatch payload
	snsMaxSubjectBytes = 100
	snsMaxGroupIDBytes = 128 // MessageGroupId on a FIFO topic
)

// Alert defaults, as in the original prototype.
const (
	DefaultAlertThreshold = 0.90
	DefaultAlertSubject   = "SAGEWALL ALERT"
)

// SNS publishes the alerts the notifier reads from the alert topic (which
// AlertTopic fills with the verdicts at or above the alert threshold).
// Alerts are aggregated per (category, destination service) over a window,
// so a burst of attacks becomes one message per group with a count and a few
// examples. A Publish is acknowledged only once every aggregate holding one
// of its alerts has been accepted by SNS. Start Run before the first Publish.
//
// On a FIFO topic (ARN ending in ".fifo") each message carries its group as
// MessageGroupId and a hash of its content as MessageDeduplicationId.
type SNS struct {
	client      SNSAPI
	topicARN    string
	fifo        bool
	window      time.Duration
	maxExamples int
	subject     string
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	logger      *slog.Logger
	registerer  prometheus.Registerer

	incoming chan alertBatch
	flushNow chan struct{}
	metrics  *snsMetrics
}

// SNSOption configures the SNS alert sink.
type SNSOption func(*SNS)

// WithAlertWindow sets how long alerts are aggregated before publishing (default 10s).
func WithAlertWindow(d time.Duration) SNSOption { return func(s *SNS) { s.window = d } }

// WithAlertExamples caps the example records in one aggregated alert (default 5).
func WithAlertExamples(n int) SNSOption { return func(s *SNS) { s.maxExamples = n } }

// WithAlertSubject sets the subject prefix (default "SAGEWALL ALERT").
func WithAlertSubject(subject string) SNSOption { return func(s *SNS) { s.subject = subject } }

// WithPublishRetry sets the attempts per PublishBatch entry (default 8) and the
// jittered exponential backoff between them (default 200ms doubling up to 10s).
// When they run out the affected batches fail (done gets the error): the
// notifier then publishes them again with its own backoff, and meanwhile
// reports SNS down, so behind it few attempts make an outage show at once.
func WithPublishRetry(attempts int, base, max time.Duration) SNSOption {
	return func(s *SNS) { s.maxAttempts, s.backoffBase, s.backoffMax = attempts, base, max }
}

// WithSNSLogger sets the logger (default slog.Default()).
func WithSNSLogger(l *slog.Logger) SNSOption { return func(s *SNS) { s.logger = l } }

// WithSNSRegisterer registers the sink's metrics.
func WithSNSRegisterer(reg prometheus.Registerer) SNSOption {
	return func(s *SNS) { s.registerer = reg }
}

// NewSNS returns an alert sink publishing to topicARN.
func NewSNS(client SNSAPI, topicARN string, opts ...SNSOption) (*SNS, error) {
	s := &SNS{
		client:      client,
		topicARN:    topicARN,
		fifo:        strings.HasSuffix(topicARN, ".fifo"),
		window:      10 * time.Second,
		maxExamples: 5,
		subject:     DefaultAlertSubject,
		maxAttempts: 8,
		backoffBase: 200 * time.Millisecond,
		backoffMax:  10 * time.Second,
		logger:      slog.Default(),
	}
	for _, opt := range opts {
		opt(s)
	}
	switch {
	case client == nil || topicARN == "":
		return nil, errors.New("creating SNS alert sink: client and topic ARN are required")
	case s.window <= 0 || s.maxExamples < 0 || s.maxAttempts <= 0:
		return nil, fmt.Errorf("creating SNS alert sink: window %v and attempts %d must be positive, examples %d not negative",
			s.window, s.maxAttempts, s.maxExamples)
	}
	m, err := newSNSMetrics(s.registerer)
	if err != nil {
		return nil, fmt.Errorf("registering SNS alert metrics: %w", err)
	}
	s.metrics = m
	s.incoming = make(chan alertBatch, 64)
	s.flushNow = make(chan struct{}, 1)
	return s, nil
}

// Alert is what an alert needs of a verdict: what the SNS sink keeps
// (Verdicts are reused after done), and what the alert topic carries, as
// JSON, from the pipeline to the notifier (AlertFormat).
type Alert struct {
	Key      string    `json:"id"` // source "topic/partition/offset"
	Time     time.Time `json:"time"`
	Score    float32   `json:"score"`
	Category string    `json:"category"`
	Service  string    `json:"service"`
	Protocol string    `json:"protocol_type"`
	Flag     string    `json:"flag"`
	Model    string    `json:"model"`
	Flow     string    `json:"flow,omitempty"` // "src:port → dst:port/transport", "" when the record named no connection
	SrcIP    string    `json:"src_ip,omitempty"`
	DstIP    string    `json:"dst_ip,omitempty"`
	// Why is the explanation in words (its largest contributions' phrases,
	// "; "-separated), "" when the verdict was not explained.
	Why string `json:"why,omitempty"`
}

type alertBatch struct {
	alerts []Alert
	ack    *alertAck
}

// alertAck counts the aggregates still holding alerts of one Write.
type alertAck struct {
	mu        sync.Mutex
	remaining int
	err       error
	done      func(error)
}

func (a *alertAck) settle(err error) {
	a.mu.Lock()
	if err != nil && a.err == nil {
		a.err = err
	}
	a.remaining--
	finished, failed := a.remaining == 0, a.err
	a.mu.Unlock()
	if finished {
		a.done(failed)
	}
}

// alertOf keeps what an alert needs of v (Verdicts are reused after done).
func alertOf(v *Verdict) Alert {
	return Alert{
		Key: v.Source.Key(), Time: v.Time, Score: v.Result.Score,
		Category: v.Result.CategoryName(), Service: v.Record.Service,
		Protocol: v.Record.ProtocolType, Flag: v.Record.Flag, Model: v.Model.Name, Flow: FlowOf(&v.Conn),
		SrcIP: addrString(v.Conn.OrigAddr), DstIP: addrString(v.Conn.RespAddr),
		Why: WhyOf(v.Explanation),
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// FlowOf renders who talked to whom for an analyst (SNS alerts, the dashboard):
// "193.201.9.232:46563 → 147.32.81.167:3933/tcp (sensor s)", IPv6 addresses
// bracketed, "?" for an address the record did not name; "" when it named
// neither. ICMP keeps its ports: Zeek logs the type and code there. Control
// characters in the transport or sensor (which come from the log) become
// "?", so a log cannot add lines to an alert's text.
func FlowOf(c *connlog.Conn) string {
	if !c.OrigAddr.IsValid() && !c.RespAddr.IsValid() {
		return ""
	}
	endpoint := func(a netip.Addr, port uint16) string {
		if !a.IsValid() {
			return "?"
		}
		return netip.AddrPortFrom(a, port).String()
	}
	flow := endpoint(c.OrigAddr, c.OrigPort) + " → " + endpoint(c.RespAddr, c.RespPort)
	if c.Proto != "" {
		flow += "/" + oneLine(c.Proto)
	}
	if c.Sensor != "" {
		flow += " (sensor " + oneLine(c.Sensor) + ")"
	}
	return flow
}

// oneLine replaces control characters with "?" (without allocating when
// there are none).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return '?'
		}
		return r
	}, s)
}

// Publish aggregates alerts into the current window (whatever their score:
// the caller chose them) and calls done once SNS has accepted every
// aggregate holding one of them, or with the error that stopped it. The
// notifier feeds it the alerts it reads from the alert topic.
func (s *SNS) Publish(ctx context.Context, alerts []Alert, done func(error)) {
	if len(alerts) == 0 {
		done(nil)
		return
	}
	s.metrics.alerts.Add(float64(len(alerts)))
	select {
	case s.incoming <- alertBatch{alerts: alerts, ack: &alertAck{done: done}}:
	case <-ctx.Done():
		done(fmt.Errorf("queueing alerts: %w", ctx.Err()))
	}
}

// Flush publishes what the current window holds now rather than at its end:
// the notifier calls it when it stops, so a shutdown does not wait a window.
func (s *SNS) Flush() {
	select {
	case s.flushNow <- struct{}{}:
	default:
	}
}

// group is the aggregation key: one message per category and destination service.
type group struct{ category, service string }

// aggregate is the alerts of one group in the current window.
type aggregate struct {
	group
	count    int
	maxScore float32
	first    time.Time
	last     time.Time
	examples []Alert
	acks     []*alertAck
}

// Run aggregates alerts and publishes them every window until ctx ends;
// batches still waiting then fail with the context's error (they are not
// committed, so they are consumed again after a restart).
func (s *SNS) Run(ctx context.Context) error {
	ticker := time.NewTicker(s.window)
	defer ticker.Stop()
	pending := map[group]*aggregate{}
	for {
		select {
		case b := <-s.incoming:
			s.add(pending, b)
		case <-s.flushNow:
			// Take in what is queued, so a stopping caller's last alerts go too.
			for len(s.incoming) > 0 {
				s.add(pending, <-s.incoming)
			}
			if len(pending) == 0 {
				continue
			}
			aggs := sortedAggregates(pending)
			clear(pending)
			s.publish(ctx, aggs)
		case <-ticker.C:
			if len(pending) == 0 {
				continue
			}
			aggs := sortedAggregates(pending)
			clear(pending)
			s.publish(ctx, aggs)
		case <-ctx.Done():
			err := fmt.Errorf("publishing alerts: %w", ctx.Err())
			for _, agg := range pending {
				for _, a := range agg.acks {
					a.settle(err)
				}
			}
			for {
				select {
				case b := <-s.incoming:
					b.ack.remaining = 1
					b.ack.settle(err)
				default:
					return nil
				}
			}
		}
	}
}

func (s *SNS) add(pending map[group]*aggregate, b alertBatch) {
	touched := map[group]bool{}
	for _, a := range b.alerts {
		g := group{a.Category, a.Service}
		agg := pending[g]
		if agg == nil {
			agg = &aggregate{group: g, first: a.Time}
			pending[g] = agg
		}
		agg.count++
		agg.maxScore = max(agg.maxScore, a.Score)
		if a.Time.Before(agg.first) {
			agg.first = a.Time
		}
		if a.Time.After(agg.last) {
			agg.last = a.Time
		}
		if len(agg.examples) < s.maxExamples {
			agg.examples = append(agg.examples, a)
		}
		if !touched[g] {
			touched[g] = true
			agg.acks = append(agg.acks, b.ack)
		}
	}
	b.ack.mu.Lock()
	b.ack.remaining = len(touched)
	b.ack.mu.Unlock()
}

func sortedAggregates(pending map[group]*aggregate) []*aggregate {
	aggs := make([]*aggregate, 0, len(pending))
	for _, agg := range pending {
		aggs = append(aggs, agg)
	}
	slices.SortFunc(aggs, func(a, b *aggregate) int {
		if c := strings.Compare(a.category, b.category); c != 0 {
			return c
		}
		return strings.Compare(a.service, b.service)
	})
	return aggs
}

// publish sends the aggregates in PublishBatch calls of at most 10 entries
// and 256 KiB, retrying the entries SNS did not accept, and settles each
// aggregate's batches with the outcome.
func (s *SNS) publish(ctx context.Context, aggs []*aggregate) {
	entries := make([]snstypes.PublishBatchRequestEntry, len(aggs))
	for i, agg := range aggs {
		entries[i] = s.entry(strconv.Itoa(i), agg)
	}
	for _, chunk := range splitEntries(entries) {
		results := s.publishChunk(ctx, chunk)
		for _, e := range chunk {
			i, _ := strconv.Atoi(aws.ToString(e.Id))
			err := results[aws.ToString(e.Id)]
			if err == nil {
				s.metrics.published.Inc()
				s.metrics.aggregated.Add(float64(aggs[i].count))
			} else {
				s.metrics.failed.Inc()
				s.logger.DebugContext(ctx, "alert not accepted by SNS", "category", aggs[i].category, "service", aggs[i].service, "count", aggs[i].count, "err", err)
			}
			for _, a := range aggs[i].acks {
				a.settle(err)
			}
		}
	}
}

// publishChunk publishes one PublishBatch-sized chunk, retrying what failed
// (the whole call, or the entries of a 200 response listed as Failed). It
// returns each entry's final error by Id (nil when accepted).
func (s *SNS) publishChunk(ctx context.Context, chunk []snstypes.PublishBatchRequestEntry) map[string]error {
	results := make(map[string]error, len(chunk))
	todo := chunk
	for attempt := 1; len(todo) > 0; attempt++ {
		out, err := s.client.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(s.topicARN), PublishBatchRequestEntries: todo})
		var resend []snstypes.PublishBatchRequestEntry
		if err != nil {
			s.metrics.errors.WithLabelValues("call").Inc()
			for _, e := range todo {
				results[aws.ToString(e.Id)] = fmt.Errorf("publishing alert batch: %w", err)
			}
			resend = todo
		} else {
			for _, ok := range out.Successful {
				results[aws.ToString(ok.Id)] = nil
			}
			failed := map[string]snstypes.BatchResultErrorEntry{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = f
			}
			for _, e := range todo {
				f, isFailed := failed[aws.ToString(e.Id)]
				_, isOK := results[aws.ToString(e.Id)]
				switch {
				case isFailed:
					s.metrics.errors.WithLabelValues("entry").Inc()
					results[aws.ToString(e.Id)] = fmt.Errorf("publishing alert: entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
					// A sender fault (bad request) fails the same way again.
					if !f.SenderFault {
						resend = append(resend, e)
					}
				case !isOK:
					// Neither accepted nor refused: treat as not accepted.
					results[aws.ToString(e.Id)] = fmt.Errorf("publishing alert: entry %s missing from the response", aws.ToString(e.Id))
					resend = append(resend, e)
				}
			}
		}
		if len(resend) == 0 || attempt >= s.maxAttempts || ctx.Err() != nil {
			return results
		}
		s.metrics.retries.Add(float64(len(resend)))
		if err := retry.Sleep(ctx, retry.Backoff(attempt, s.backoffBase, s.backoffMax)); err != nil {
			return results
		}
		todo = resend
	}
	return results
}

// entry renders one aggregate as a PublishBatch entry with filterable attributes.
func (s *SNS) entry(id string, agg *aggregate) snstypes.PublishBatchRequestEntry {
	category, _ := etl.ParseClass(agg.category) // an unknown name grades as dos and probe do
	_, severity := Severity(true, category, agg.maxScore)
	severity = strings.ToLower(severity)
	subject := fmt.Sprintf("%s: %d %s on %s", s.subject, agg.count, agg.category, agg.service)
	if len(subject) > snsMaxSubjectBytes {
		subject = subject[:snsMaxSubjectBytes]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", subject)
	fmt.Fprintf(&b, "category: %s\nservice: %s\ncount: %d\nmax score: %s\nseverity: %s\n",
		agg.category, agg.service, agg.count, strconv.FormatFloat(float64(agg.maxScore), 'f', 4, 32), severity)
	if !agg.first.IsZero() {
		fmt.Fprintf(&b, "first: %s\nlast: %s\n", agg.first.UTC().Format(time.RFC3339Nano), agg.last.UTC().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&b, "\nexamples (%d of %d):\n", len(agg.examples), agg.count)
	for _, a := range agg.examples {
		if a.Flow != "" {
			fmt.Fprintf(&b, "  %s\n  ", a.Flow)
		}
		fmt.Fprintf(&b, "  %s score=%s protocol=%s service=%s flag=%s model=%s\n",
			a.Key, strconv.FormatFloat(float64(a.Score), 'f', 4, 32), a.Protocol, a.Service, a.Flag, a.Model)
		if a.Why != "" {
			fmt.Fprintf(&b, "    why: %s\n", a.Why)
		}
	}
	e := snstypes.PublishBatchRequestEntry{
		Id:      aws.String(id),
		Subject: aws.String(subject),
		Message: aws.String(b.String()),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"severity": {DataType: aws.String("String"), StringValue: aws.String(severity)},
			"category": {DataType: aws.String("String"), StringValue: aws.String(agg.category)},
			"service":  {DataType: aws.String("String"), StringValue: aws.String(agg.service)},
			"score":    {DataType: aws.String("Number"), StringValue: aws.String(strconv.FormatFloat(float64(agg.maxScore), 'f', 4, 32))},
			"count":    {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(agg.count))},
		},
	}
	if agg.count == 1 && len(agg.examples) == 1 {
		// One connection: its addresses are filterable too.
		for name, value := range map[string]string{"src_ip": agg.examples[0].SrcIP, "dst_ip": agg.examples[0].DstIP} {
			if value != "" {
				e.MessageAttributes[name] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
			}
		}
	}
	if s.fifo {
		// A FIFO topic rejects entries without a group. One group per
		// aggregate key keeps each (category, service) in order, while a
		// message waiting at a subscriber holds up only its own group.
		e.MessageGroupId = aws.String(fifoGroupID(agg.category + "/" + agg.service))
		// Derived from the content rather than random, so a resend of the same
		// aggregate (a retried call SNS had in fact accepted) is dropped by
		// SNS within its 5-minute window, with or without content-based
		// deduplication on the topic.
		sum := sha256.Sum256([]byte(subject + "\n" + b.String()))
		e.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	return e
}

// fifoGroupID makes s a valid MessageGroupId: SNS allows only alphanumerics
// and punctuation (printable ASCII without the space), at most 128 of them.
func fifoGroupID(s string) string {
	b := make([]byte, 0, min(len(s), snsMaxGroupIDBytes))
	for _, r := range s {
		if len(b) == snsMaxGroupIDBytes {
			break
		}
		if r > ' ' && r <= '~' {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// entrySize is an entry's share of the 256 KiB PublishBatch limit: message,
// subject, and attribute names, types and values.
func entrySize(e snstypes.PublishBatchRequestEntry) int {
	n := len(aws.ToString(e.Message)) + len(aws.ToString(e.Subject))
	for name, v := range e.MessageAttributes {
		n += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// splitEntries groups entries into PublishBatch calls of at most 10 entries and 256 KiB.
func splitEntries(entries []snstypes.PublishBatchRequestEntry) [][]snstypes.PublishBatchRequestEntry {
	var chunks [][]snstypes.PublishBatchRequestEntry
	var cur []snstypes.PublishBatchRequestEntry
	size := 0
	for _, e := range entries {
		n := entrySize(e)
		if len(cur) > 0 && (len(cur) == snsMaxBatchEntries || size+n > snsMaxBatchBytes) {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += n
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}
