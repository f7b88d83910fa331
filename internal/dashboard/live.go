package dashboard

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// numClasses is the number of classes a record can be (etl.Classes()).
const numClasses = 5

// numPredicted is the number of categories a verdict can have: the classes
// and, at index unclassified, a flagged record the category model called
// normal (scoring.Unclassified).
const (
	numPredicted = numClasses + 1
	unclassified = numClasses
)

// predictedNames are the verdict categories in index order.
func predictedNames() []string {
	names := make([]string, 0, numPredicted)
	for _, c := range etl.Classes() {
		names = append(names, c.String())
	}
	return append(names, scoring.Unclassified)
}

// Live aggregates the pipeline's verdicts for the dashboard. It is a stream
// Sink that acknowledges every batch at once, so it cannot hold up a commit.
// It keeps counters, a score histogram of the labelled verdicts, and a
// bounded history of the newest alerts (each a bounded copy of its verdict).
// The lock is taken once per batch and the work per verdict is a few
// additions, plus one copy per alert; readers hold the lock for at most one
// pass over the history (Alerts), well under a millisecond at 10 000 alerts.
type Live struct {
	alertThreshold float32
	window         int // seconds of per-second buckets
	historySize    int
	now            func() time.Time

	mu        sync.Mutex
	buckets   []bucket // ring indexed by unix second % window
	totals    counts
	confusion [numClasses][numPredicted]uint64 // [actual][predicted], labelled verdicts only
	scores    scoreHistogram                   // labelled verdicts' scores by truth, for WhatIf
	history   alertRing                        // the newest alerts
	lastID    uint64                           // the newest alert's ID; IDs number alerts from 1 in arrival order
	model     scoring.Info
	threshold float64
}

// bucket counts one second of verdicts.
type bucket struct {
	second int64
	counts
}

// counts are verdicts by predicted category, and alerts.
type counts struct {
	byClass [numPredicted]uint64
	alerts  uint64
}

func (c *counts) add(o *counts) {
	for i := range c.byClass {
		c.byClass[i] += o.byClass[i]
	}
	c.alerts += o.alerts
}

func (c *counts) verdicts() uint64 {
	var n uint64
	for _, v := range c.byClass {
		n += v
	}
	return n
}

// attackOf is each category's sinks.Techniques as one line (none for
// normal and unclassified), built once so that listing alerts does not
// rebuild it.
var attackOf = func() (lines [numPredicted]string) {
	for _, c := range etl.Classes() {
		if int(c) >= numClasses {
			continue
		}
		var b strings.Builder
		for i, t := range sinks.Techniques(c) {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s %s (%s %s)", t.ID, t.Name, t.TacticID, t.TacticName)
		}
		lines[c] = b.String()
	}
	return lines
}()

// LiveOption configures a Live.
type LiveOption func(*Live)

// WithAlertThreshold sets the score from which a verdict counts as an alert
// (default sinks.DefaultAlertThreshold, 0.90, as the SNS alerts).
func WithAlertThreshold(t float32) LiveOption { return func(l *Live) { l.alertThreshold = t } }

// WithWindow sets how far back the per-second series goes (default 5 minutes).
func WithWindow(d time.Duration) LiveOption {
	return func(l *Live) { l.window = max(1, int(d/time.Second)) }
}

// WithHistory sets how many of the newest alerts are kept for the page to
// filter, open and export (default DefaultHistory). Each costs about 1.2 KB,
// at most about 6 KB (strings and passthrough fields are capped).
func WithHistory(n int) LiveOption { return func(l *Live) { l.historySize = max(0, n) } }

// DefaultHistory is how many alerts a Live keeps unless told otherwise:
// a few seconds of a flood, hours of a quiet network.
const DefaultHistory = 10_000

// WithClock sets the clock that places verdicts in seconds (tests).
func WithClock(now func() time.Time) LiveOption { return func(l *Live) { l.now = now } }

// NewLive returns an empty aggregator.
func NewLive(opts ...LiveOption) *Live {
	l := &Live{
		alertThreshold: sinks.DefaultAlertThreshold,
		window:         300,
		historySize:    DefaultHistory,
		now:            time.Now,
	}
	for _, o := range opts {
		o(l)
	}
	l.buckets = make([]bucket, l.window)
	for i := range l.buckets {
		l.buckets[i].second = -1
	}
	l.history.size = l.historySize
	return l
}

// Write implements the stream's Sink: it counts the batch and acknowledges it.
func (l *Live) Write(_ context.Context, verdicts []sinks.Verdict, done func(error)) {
	l.observe(verdicts)
	done(nil)
}

func (l *Live) observe(verdicts []sinks.Verdict) {
	if len(verdicts) == 0 {
		return
	}
	now := l.now()
	second := now.Unix()

	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.buckets[second%int64(l.window)]
	if b.second != second {
		*b = bucket{second: second}
	}
	var batch counts
	for i := range verdicts {
		v := &verdicts[i]
		predicted := predictedClass(v.Result)
		batch.byClass[predicted]++
		if v.Result.Score >= l.alertThreshold {
			batch.alerts++
			if l.historySize > 0 {
				l.keep(v, now)
			}
		}
		if v.Record.Label != "" {
			if actual, ok := etl.ClassOfLabel(v.Record.Label); ok {
				l.confusion[actual][predicted]++
				l.scores.add(actual != etl.Normal, v.Result.Score)
			}
		}
	}
	b.add(&batch)
	l.totals.add(&batch)
	last := &verdicts[len(verdicts)-1]
	l.model, l.threshold = last.Model, last.Threshold
}

// predictedClass is the index of the verdict's category: Normal unless
// the row was flagged, whatever the category model said, and unclassified
// for a flagged row without an attack class.
func predictedClass(r scoring.Result) int {
	switch {
	case !r.Attack:
		return int(etl.Normal)
	case r.Category == etl.Normal || int(r.Category) >= numClasses:
		return unclassified
	}
	return int(r.Category)
}

// PipelineStatus is what the pipeline itself knows beyond the verdicts.
type PipelineStatus struct {
	Consumed    uint64 `json:"consumed"`
	DeadLetters uint64 `json:"dead_letters"`
	Lag         int64  `json:"lag"`       // records behind the partitions' ends, summed
	LagKnown    bool   `json:"lag_known"` // false until the first measurement
}

// Summary is one update of the live view.
type Summary struct {
	Time             time.Time      `json:"time"`
	Model            scoring.Info   `json:"model"`
	Threshold        float64        `json:"threshold"`
	AlertThreshold   float32        `json:"alert_threshold"`
	Verdicts         uint64         `json:"verdicts"`
	Attacks          uint64         `json:"attacks"`
	Alerts           uint64         `json:"alerts"`
	ByClass          ClassCounts    `json:"by_category"`
	RecordsPerSecond float64        `json:"records_per_second"`
	AlertsPerSecond  float64        `json:"alerts_per_second"`
	Pipeline         PipelineStatus `json:"pipeline"`
	Series           Series         `json:"series"`
	History          HistoryStatus  `json:"history"`
	Confusion        Confusion      `json:"confusion"`
}

// HistoryStatus tells the page whether the alert history changed since it
// last asked (GET /api/alerts), without sending the alerts every update.
type HistoryStatus struct {
	Kept     int    `json:"kept"`
	Capacity int    `json:"capacity"`
	NewestID uint64 `json:"newest_id"` // 0 before the first alert
}

// ClassCounts are counts by verdict category: etl.Classes() order, then
// unclassified.
type ClassCounts [numPredicted]uint64

// Series is verdicts per second by category: Counts[k][i] is category k
// (Classes: etl.Classes() order, then unclassified) in second Start+i.
type Series struct {
	Start   int64      `json:"start"` // unix seconds
	Classes []string   `json:"classes"`
	Counts  [][]uint64 `json:"counts"`
	Alerts  []uint64   `json:"alerts"`
}

// Confusion is the running matrix of labelled verdicts, Matrix[actual][predicted]
// in Series.Classes order (no record is actually unclassified: five rows,
// six columns), with the accuracies it gives.
type Confusion struct {
	Matrix   [numClasses][numPredicted]uint64 `json:"matrix"`
	Labelled uint64                           `json:"labelled"`
	// Accuracy is attack versus normal; CategoryAccuracy also needs the right category.
	Accuracy         float64 `json:"accuracy"`
	CategoryAccuracy float64 `json:"category_accuracy"`
	DetectionRate    float64 `json:"detection_rate"`
	FalseAlarmRate   float64 `json:"false_alarm_rate"`
}

// rateSeconds is how many complete seconds the rates average over.
const rateSeconds = 3

// Summary returns the live view now, with the pipeline's status.
func (l *Live) Summary(status PipelineStatus) Summary {
	now := l.now()
	current := now.Unix()
	s := Summary{Time: now, AlertThreshold: l.alertThreshold, Pipeline: status}
	s.Series.Classes = predictedNames()
	s.Series.Start = current - int64(l.window) + 1
	s.Series.Counts = make([][]uint64, numPredicted)
	for k := range s.Series.Counts {
		s.Series.Counts[k] = make([]uint64, l.window)
	}
	s.Series.Alerts = make([]uint64, l.window)

	l.mu.Lock()
	s.Model, s.Threshold = l.model, l.threshold
	s.ByClass = l.totals.byClass
	s.Alerts = l.totals.alerts
	s.Confusion.Matrix = l.confusion
	for i := range l.window {
		second := s.Series.Start + int64(i)
		b := &l.buckets[second%int64(l.window)]
		if b.second != second {
			continue
		}
		for k := range numPredicted {
			s.Series.Counts[k][i] = b.byClass[k]
		}
		s.Series.Alerts[i] = b.alerts
	}
	s.History = HistoryStatus{Kept: l.history.len(), Capacity: l.historySize, NewestID: l.lastID}
	l.mu.Unlock()

	s.Verdicts = (&counts{byClass: s.ByClass}).verdicts()
	s.Attacks = s.Verdicts - s.ByClass[etl.Normal]
	// The current second is still filling, so rates use the complete ones before it.
	var records, alerts uint64
	seconds := min(rateSeconds, l.window-1)
	for i := l.window - 1 - seconds; i < l.window-1; i++ {
		for k := range numPredicted {
			records += s.Series.Counts[k][i]
		}
		alerts += s.Series.Alerts[i]
	}
	if seconds > 0 {
		s.RecordsPerSecond = float64(records) / float64(seconds)
		s.AlertsPerSecond = float64(alerts) / float64(seconds)
	}
	s.Confusion.fill()
	return s
}

// fill computes the rates from the matrix.
func (c *Confusion) fill() {
	var right, binaryRight, attacks, detected, normals, falseAlarms uint64
	for a := range numClasses {
		for p := range numPredicted {
			n := c.Matrix[a][p]
			c.Labelled += n
			if a == p {
				right += n
			}
			actualAttack, predictedAttack := a != int(etl.Normal), p != int(etl.Normal)
			if actualAttack == predictedAttack {
				binaryRight += n
			}
			if actualAttack {
				attacks += n
				if predictedAttack {
					detected += n
				}
			} else {
				normals += n
				if predictedAttack {
					falseAlarms += n
				}
			}
		}
	}
	c.Accuracy = ratio(binaryRight, c.Labelled)
	c.CategoryAccuracy = ratio(right, c.Labelled)
	c.DetectionRate = ratio(detected, attacks)
	c.FalseAlarmRate = ratio(falseAlarms, normals)
}

func ratio(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}
