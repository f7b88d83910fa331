package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/retry"
	"github.com/sagewall/sagewall/sinks"
)

// AlertPublisher publishes alerts and calls done exactly once: with nil
// when every one of them was accepted (SNS), or with the error that stopped
// it. The SNS sink satisfies it.
type AlertPublisher interface {
	Publish(ctx context.Context, alerts []sinks.Alert, done func(error))
}

// DependencyAlerts is the name the notifier reports its publisher under.
const DependencyAlerts = "sns"

// Notifier is the other half of the alert outbox: it consumes the alert
// topic the pipeline writes (sinks.AlertTopic), in its own consumer group,
// hands the alerts to the publisher in small batches and commits an alert's
// offset only once the publisher accepted it, so an alert is never lost
// and the pipeline never waits for SNS. A failed publish is an outage:
// retried with capped, jittered backoff for as long as it lasts (its
// Health shows it), while fetching stops once maxPending batches wait.
// It lives in package stream to share the pipeline's contiguous-offset
// tracking (offsets.go).
type Notifier struct {
	consumer       Consumer
	publisher      AlertPublisher
	health         *Health
	logger         *slog.Logger
	batchAlerts    int
	batchWait      time.Duration
	maxPending     int
	commitInterval time.Duration
	drainTimeout   time.Duration
	trackers       *offsetTrackers
}

// NotifierOption configures a Notifier.
type NotifierOption func(*Notifier)

// WithNotifierHealth reports the publisher's outages to h (default: a
// Health of its own on the notifier's logger).
func WithNotifierHealth(h *Health) NotifierOption { return func(n *Notifier) { n.health = h } }

// WithNotifierLogger sets the logger (default slog.Default()).
func WithNotifierLogger(l *slog.Logger) NotifierOption { return func(n *Notifier) { n.logger = l } }

// WithNotifierBatch sets how many alerts go to the publisher at once and how
// long the first of them waits for others (default 500, 100 ms).
func WithNotifierBatch(alerts int, wait time.Duration) NotifierOption {
	return func(n *Notifier) { n.batchAlerts, n.batchWait = alerts, wait }
}

// WithNotifierDrain sets how long Run, once its context ends, waits for
// batches handed to the publisher before its final commit (default 15 s);
// what is not accepted by then stays uncommitted and is published after
// the next start.
func WithNotifierDrain(d time.Duration) NotifierOption {
	return func(n *Notifier) { n.drainTimeout = d }
}

// NewNotifier returns a notifier reading alerts from consumer.
func NewNotifier(consumer Consumer, publisher AlertPublisher, opts ...NotifierOption) (*Notifier, error) {
	n := &Notifier{
		consumer: consumer, publisher: publisher, logger: slog.Default(),
		batchAlerts: 500, batchWait: 100 * time.Millisecond, maxPending: 64,
		commitInterval: 200 * time.Millisecond, drainTimeout: 15 * time.Second,
		trackers: newOffsetTrackers(),
	}
	for _, o := range opts {
		o(n)
	}
	if consumer == nil || publisher == nil {
		return nil, errors.New("creating notifier: consumer and publisher are required")
	}
	if n.batchAlerts < 1 || n.batchWait <= 0 {
		return nil, fmt.Errorf("creating notifier: batch of %d alerts, wait %s: want both positive", n.batchAlerts, n.batchWait)
	}
	if n.health == nil {
		n.health = NewHealth(WithHealthLogger(n.logger))
	}
	n.health.Register(DependencyAlerts)
	return n, nil
}

// errStopped ends the retries of a batch when the notifier stops.
var errStopped = errors.New("notifier stopped")

// notifyBatch is alerts handed to the publisher together, with their offsets.
type notifyBatch struct {
	alerts  []sinks.Alert
	offsets []trackedOffset
}

// Run consumes and publishes until ctx ends, then waits up to the drain
// timeout for what it handed out, commits what was accepted and returns nil;
// or returns an error when the reader was closed or an outage outlasted the
// health's timeout.
func (n *Notifier) Run(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := make(chan struct{}, n.maxPending)
	fatal := make(chan error, 1)
	commitNow := make(chan struct{}, 1)
	var inFlight sync.WaitGroup

	publish := func(b *notifyBatch) {
		inFlight.Add(1)
		n.publish(workCtx, b, 1, func(err error) {
			defer func() { <-slots; inFlight.Done() }()
			if errors.Is(err, errStopped) {
				return
			}
			if err != nil {
				select {
				case fatal <- err:
				default:
				}
				return
			}
			if advanced, _ := n.trackers.ack(b.offsets); advanced {
				select {
				case commitNow <- struct{}{}:
				default:
				}
			}
		})
	}

	commitDone := make(chan struct{})
	commitCtx, stopCommitting := context.WithCancel(workCtx)
	go func() {
		defer close(commitDone)
		for {
			select {
			case <-commitNow:
			case <-commitCtx.Done():
				return
			}
			if err := n.commit(commitCtx); err != nil && commitCtx.Err() == nil {
				n.logger.Debug("committing alert offsets", "err", err)
			}
			if retry.Sleep(commitCtx, n.commitInterval) != nil {
				return
			}
		}
	}()

	err := n.consume(ctx, slots, fatal, publish)
	if f, ok := n.publisher.(interface{ Flush() }); ok {
		f.Flush() // publish what waits for the window now: we are stopping
	}

	// Drain: what was handed out gets drainTimeout to be accepted.
	drained := make(chan struct{})
	go func() { inFlight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(n.drainTimeout):
		n.logger.Warn("stopping the notifier: alerts not yet accepted stay uncommitted and are published after the next start")
	}
	stopCommitting()
	<-commitDone
	finalCtx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelFinal()
	if cerr := n.commit(finalCtx); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// consume fetches alerts into batches and hands each to publish, until ctx
// ends or a fatal error.
func (n *Notifier) consume(ctx context.Context, slots chan struct{}, fatal chan error, publish func(*notifyBatch)) error {
	msgs := make(chan kafka.Message, n.batchAlerts)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(msgs)
		failures := 0
		for {
			m, err := n.consumer.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
					fetchErr <- fmt.Errorf("fetching alerts: the reader was closed: %w", err)
					return
				}
				failures++
				if retry.Sleep(ctx, retry.Backoff(failures, retryBase, retryMax)) != nil {
					return
				}
				continue
			}
			failures = 0
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	var cur *notifyBatch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() bool {
		if cur == nil {
			return true
		}
		b := cur
		cur = nil
		timer.Stop()
		select {
		case slots <- struct{}{}: // backpressure: at most maxPending batches wait for the publisher
		case <-ctx.Done():
			return false
		}
		publish(b)
		return true
	}
	for {
		var expired <-chan time.Time
		if cur != nil {
			expired = timer.C
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				select {
				case err := <-fetchErr:
					return err
				default:
					return nil
				}
			}
			tracker, _ := n.trackers.track(topicPartition{m.Topic, m.Partition}, m.Offset)
			offset := trackedOffset{tracker, m.Offset}
			alerts := n.decode(&m)
			if len(alerts) == 0 {
				// Nothing to publish, ever: acknowledged at once (and logged).
				if _, err := n.trackers.ack([]trackedOffset{offset}); err != nil {
					return fmt.Errorf("acknowledging alert offsets: %w", err)
				}
				continue
			}
			if cur == nil {
				cur = &notifyBatch{}
				timer.Reset(n.batchWait)
			}
			cur.alerts = append(cur.alerts, alerts...)
			cur.offsets = append(cur.offsets, offset)
			if len(cur.alerts) >= n.batchAlerts && !flush() {
				return nil
			}
		case <-expired:
			if !flush() {
				return nil
			}
		case err := <-fatal:
			return err
		case <-ctx.Done():
			// The batch being filled is not handed out: uncommitted, it is
			// fetched again after the next start.
			return nil
		}
	}
}

// decode reads the alerts of one alert-topic message: JSON lines, one
// sinks.Alert each. Lines that are not alerts (not written by sagewall) are
// skipped and logged.
func (n *Notifier) decode(m *kafka.Message) []sinks.Alert {
	var alerts []sinks.Alert
	for line := range bytes.SplitSeq(m.Value, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		a, err := sinks.ParseAlert(line)
		if err != nil {
			n.logger.Warn("skipping an alert-topic line that is not an alert", "topic", m.Topic,
				"partition", m.Partition, "offset", m.Offset, "err", err)
			continue
		}
		alerts = append(alerts, a)
	}
	return alerts
}

// publish hands b to the publisher, retrying a failure with backoff until
// it is accepted, ctx ends, or the outage outlasts the health's timeout;
// done gets the outcome once.
func (n *Notifier) publish(ctx context.Context, b *notifyBatch, attempt int, done func(error)) {
	n.publisher.Publish(ctx, b.alerts, func(err error) {
		if err == nil {
			n.health.Up(DependencyAlerts)
			done(nil)
			return
		}
		if ctx.Err() != nil {
			done(errStopped) // left uncommitted, published after the next start
			return
		}
		n.health.Down(DependencyAlerts, err)
		if xerr := n.health.Expired(DependencyAlerts); xerr != nil {
			done(fmt.Errorf("publishing alerts: %w", xerr))
			return
		}
		time.AfterFunc(retry.Backoff(attempt, retryBase, retryMax), func() { n.publish(ctx, b, attempt+1, done) })
	})
}

// commit commits every partition whose contiguous accepted offset moved.
func (n *Notifier) commit(ctx context.Context) error {
	commits := n.trackers.toCommit()
	if len(commits) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(commits))
	for i, c := range commits {
		msgs[i] = kafka.Message{Topic: c.topic, Partition: c.partition, Offset: c.offset - 1}
	}
	if err := n.consumer.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("committing %d alert partitions: %w", len(commits), err)
	}
	n.trackers.markCommitted(commits)
	return nil
}
