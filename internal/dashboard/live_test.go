package dashboard

import (
	"context"
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// verdict builds a verdict with the given label, score and category.
func verdict(label string, score float32, category etl.Class, offset int64) sinks.Verdict {
	return sinks.Verdict{
		Source:    sinks.Source{Topic: "raw", Partition: 1, Offset: offset},
		Record:    etl.Record{Label: label, ProtocolType: "tcp", Service: "http", Flag: "SF"},
		Result:    scoring.Result{Score: score, Attack: score >= 0.5, Category: category},
		Threshold: 0.5,
		Model:     scoring.Info{Name: "m", Version: "1"},
	}
}

func TestLiveSummary(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type batch struct {
		at       time.Duration // after t0
		verdicts []sinks.Verdict
	}
	tests := []struct {
		name    string
		window  time.Duration
		batches []batch
		at      time.Duration // when the summary is taken
		history int           // WithHistory, when not 0
		check   func(t *testing.T, s Summary, l *Live)
	}{
		{
			name: "empty",
			at:   0,
			check: func(t *testing.T, s Summary, l *Live) {
				if s.Verdicts != 0 || s.RecordsPerSecond != 0 || s.History != (HistoryStatus{Capacity: DefaultHistory}) || s.Confusion.Labelled != 0 || s.Confusion.Accuracy != 0 {
					t.Errorf("%+v", s)
				}
				if len(s.Series.Counts) != 6 || len(s.Series.Counts[0]) != 300 || len(s.Series.Alerts) != 300 || s.Series.Classes[5] != "unclassified" {
					t.Errorf("series shape %d x %d", len(s.Series.Counts), len(s.Series.Counts[0]))
				}
			},
		},
		{
			name: "totals, categories, alerts and the confusion matrix",
			batches: []batch{{0, []sinks.Verdict{
				verdict("neptune", 0.99, etl.DoS, 1),   // right, alert
				verdict("normal", 0.10, etl.Normal, 2), // right
				verdict("normal", 0.70, etl.Probe, 3),  // false alarm
				verdict("satan", 0.20, etl.Normal, 4),  // missed probe
				verdict("satan", 0.95, etl.DoS, 5),     // detected, wrong category, alert
				verdict("", 0.91, etl.R2L, 6),          // unlabelled alert
				verdict("smurf", 0.6, etl.Normal, 7),   // detected, unclassified
			}}},
			at: 0,
			check: func(t *testing.T, s Summary, l *Live) {
				if s.Verdicts != 7 || s.Attacks != 5 || s.Alerts != 3 {
					t.Errorf("verdicts %d attacks %d alerts %d", s.Verdicts, s.Attacks, s.Alerts)
				}
				if want := (ClassCounts{2, 2, 1, 1, 0, 1}); s.ByClass != want {
					t.Errorf("by class %v, want %v", s.ByClass, want)
				}
				c := s.Confusion
				if c.Labelled != 6 || c.Matrix[etl.DoS][etl.DoS] != 1 || c.Matrix[etl.Normal][etl.Probe] != 1 || c.Matrix[etl.Probe][etl.Normal] != 1 || c.Matrix[etl.Probe][etl.DoS] != 1 || c.Matrix[etl.DoS][unclassified] != 1 {
					t.Errorf("matrix %+v", c)
				}
				// Binary: 4 of 6 right (neptune, normal, satan and smurf
				// detected); categories: 2 of 6.
				if c.Accuracy != 4.0/6 || c.CategoryAccuracy != 2.0/6 || c.DetectionRate != 3.0/4 || c.FalseAlarmRate != 0.5 {
					t.Errorf("rates %+v", c)
				}
				alerts := l.Alerts(AlertFilter{}, 10).Alerts
				if s.History.Kept != 3 || s.History.NewestID != 3 || len(alerts) != 3 || alerts[0].Source != "raw/1/6" || alerts[2].Source != "raw/1/1" || alerts[1].Category != "dos" {
					t.Errorf("history %+v, alerts %+v", s.History, alerts)
				}
				if s.Model.Name != "m" || s.Threshold != 0.5 || s.AlertThreshold != 0.9 {
					t.Errorf("model %+v threshold %v alert threshold %v", s.Model, s.Threshold, s.AlertThreshold)
				}
			},
		},
		{
			name: "rates average the three complete seconds before the current one",
			batches: []batch{
				{0, repeat(verdict("normal", 0.1, etl.Normal, 0), 100)}, // outside the rate window
				{1 * time.Second, repeat(verdict("normal", 0.1, etl.Normal, 0), 30)},
				{2 * time.Second, repeat(verdict("neptune", 0.99, etl.DoS, 0), 60)},
				{3 * time.Second, repeat(verdict("normal", 0.1, etl.Normal, 0), 30)},
				{4*time.Second + 500*time.Millisecond, repeat(verdict("normal", 0.1, etl.Normal, 0), 1000)}, // the current second
			},
			at: 4*time.Second + 600*time.Millisecond,
			check: func(t *testing.T, s Summary, l *Live) {
				if s.RecordsPerSecond != 40 || s.AlertsPerSecond != 20 {
					t.Errorf("records/s %v alerts/s %v, want 40 and 20", s.RecordsPerSecond, s.AlertsPerSecond)
				}
				last := len(s.Series.Alerts) - 1
				if s.Series.Start != t0.Unix()+4-299 || s.Series.Counts[etl.Normal][last] != 1000 || s.Series.Counts[etl.DoS][last-2] != 60 || s.Series.Alerts[last-2] != 60 {
					t.Errorf("series start %d, last normal %d, dos two seconds back %d", s.Series.Start, s.Series.Counts[etl.Normal][last], s.Series.Counts[etl.DoS][last-2])
				}
			},
		},
		{
			name:   "seconds older than the window drop out of the series, not the totals",
			window: 10 * time.Second,
			batches: []batch{
				{0, repeat(verdict("neptune", 0.99, etl.DoS, 0), 7)},
				{12 * time.Second, repeat(verdict("normal", 0.1, etl.Normal, 0), 5)},
			},
			at: 12 * time.Second,
			check: func(t *testing.T, s Summary, l *Live) {
				var inSeries uint64
				for k := range s.Series.Counts {
					for _, n := range s.Series.Counts[k] {
						inSeries += n
					}
				}
				if inSeries != 5 || s.Verdicts != 12 || len(s.Series.Alerts) != 10 {
					t.Errorf("series holds %d verdicts, totals %d", inSeries, s.Verdicts)
				}
			},
		},
		{
			name:   "a slot reused after the window counts only its new second",
			window: 10 * time.Second,
			batches: []batch{
				{0, repeat(verdict("neptune", 0.99, etl.DoS, 0), 7)},
				{10 * time.Second, repeat(verdict("normal", 0.1, etl.Normal, 0), 5)}, // same slot as second 0
			},
			at: 10 * time.Second,
			check: func(t *testing.T, s Summary, l *Live) {
				last := len(s.Series.Alerts) - 1
				if s.Series.Counts[etl.DoS][last] != 0 || s.Series.Counts[etl.Normal][last] != 5 || s.Series.Alerts[last] != 0 {
					t.Errorf("reused slot: dos %d normal %d alerts %d", s.Series.Counts[etl.DoS][last], s.Series.Counts[etl.Normal][last], s.Series.Alerts[last])
				}
			},
		},
		{
			name:    "only the newest alerts are kept, newest first",
			history: 20,
			batches: []batch{
				{0, numbered(verdict("neptune", 0.99, etl.DoS, 0), 15)},
				{time.Second, numbered(verdict("neptune", 0.99, etl.DoS, 100), 15)},
			},
			at: time.Second,
			check: func(t *testing.T, s Summary, l *Live) {
				alerts := l.Alerts(AlertFilter{}, 100).Alerts
				if len(alerts) != 20 || s.History != (HistoryStatus{Kept: 20, Capacity: 20, NewestID: 30}) {
					t.Fatalf("%d alerts, history %+v", len(alerts), s.History)
				}
				for i, a := range alerts {
					want := sinks.Source{Topic: "raw", Partition: 1, Offset: int64(114 - i)}
					if i >= 15 {
						want.Offset = int64(14 - (i - 15))
					}
					if a.Source != want.Key() {
						t.Errorf("alert %d from %s, want %s", i, a.Source, want.Key())
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{now: t0}
			opts := []LiveOption{WithClock(clk.Now)}
			if tt.window > 0 {
				opts = append(opts, WithWindow(tt.window))
			}
			if tt.history > 0 {
				opts = append(opts, WithHistory(tt.history))
			}
			live := NewLive(opts...)
			for _, b := range tt.batches {
				clk.Set(t0.Add(b.at))
				live.Write(context.Background(), b.verdicts, func(err error) {
					if err != nil {
						t.Fatal(err)
					}
				})
			}
			clk.Set(t0.Add(tt.at))
			tt.check(t, live.Summary(PipelineStatus{}), live)
		})
	}
}

func repeat(v sinks.Verdict, n int) []sinks.Verdict {
	out := make([]sinks.Verdict, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// numbered repeats v with consecutive offsets from v's.
func numbered(v sinks.Verdict, n int) []sinks.Verdict {
	out := repeat(v, n)
	for i := range out {
		out[i].Source.Offset += int64(i)
	}
	return out
}

// TestLiveConcurrent writes from the pipeline's goroutine while pages read
// summaries (run with -race).
func TestLiveConcurrent(t *testing.T) {
	live := NewLive()
	batch := append(repeat(verdict("neptune", 0.99, etl.DoS, 0), 256), repeat(verdict("normal", 0.1, etl.Normal, 0), 256)...)
	const batches = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := live.Summary(PipelineStatus{})
				if s.Attacks > s.Verdicts || s.Confusion.Labelled > s.Verdicts {
					t.Errorf("inconsistent summary: %d attacks, %d labelled of %d", s.Attacks, s.Confusion.Labelled, s.Verdicts)
					return
				}
			}
		}()
	}
	for range batches {
		live.Write(context.Background(), batch, func(error) {})
	}
	close(stop)
	wg.Wait()
	s := live.Summary(PipelineStatus{})
	if s.Verdicts != batches*512 || s.Attacks != batches*256 || s.Confusion.Accuracy != 1 {
		t.Errorf("verdicts %d attacks %d accuracy %v", s.Verdicts, s.Attacks, s.Confusion.Accuracy)
	}
}

// BenchmarkLiveWrite is the live view's cost per verdict in the pipeline,
// next to the confusion sink the demo already runs (ratio reported).
func BenchmarkLiveWrite(b *testing.B) {
	batch := make([]sinks.Verdict, 512)
	labels := []string{"normal", "neptune", "satan", "normal", "smurf", "guess_passwd", "normal", ""}
	for i := range batch {
		score := float32(i%100) / 100
		batch[i] = verdict(labels[i%len(labels)], score, etl.Class(i%5), int64(i))
	}
	ack := func(error) {}
	var liveNs, confusionNs float64
	b.Run("live", func(b *testing.B) {
		live := NewLive()
		for b.Loop() {
			live.Write(context.Background(), batch, ack)
		}
		liveNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(batch))
		b.ReportMetric(liveNs, "ns/verdict")
	})
	b.Run("confusion", func(b *testing.B) {
		c := sinks.NewConfusion(0.9)
		for b.Loop() {
			c.Write(context.Background(), batch, ack)
		}
		confusionNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(batch))
		b.ReportMetric(confusionNs, "ns/verdict")
	})
	if confusionNs > 0 {
		b.Logf("live %.1f ns/verdict, confusion sink %.1f ns/verdict: ratio %.2f; budget at 100k records/s: 10000 ns/verdict", liveNs, confusionNs, liveNs/confusionNs)
	}
}

// TestLiveAlertNamesTheConnection: an alert on a connection-log verdict
// shows who talked to whom (IPv4 or IPv6, with the sensor) and the
// connection's uid; one on a record that named no connection shows neither.
// An attack's alert lists its category's ATT&CK techniques.
func TestLiveAlertNamesTheConnection(t *testing.T) {
	l := NewLive()
	zeek := verdict("Malicious", 0.97, etl.Probe, 1)
	zeek.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("193.201.9.232"), OrigPort: 46563,
		RespAddr: netip.MustParseAddr("147.32.81.167"), RespPort: 3933, Proto: "tcp", UID: "CEL3aLvvNGvO6Ecoa"}
	icmp6 := verdict("", 0.95, etl.DoS, 3)
	icmp6.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr("2001:db8::1"), OrigPort: 128,
		RespAddr: netip.MustParseAddr("2001:db8::2"), Proto: "icmp", UID: "Cicmp6", Sensor: "<b>edge</b>"}
	icmp6.Explanation = []scoring.Contribution{{Why: "SYN errors"}, {Why: "<i>bytes</i> sent"}}
	l.Write(t.Context(), []sinks.Verdict{verdict("neptune", 0.99, etl.DoS, 2), zeek, icmp6}, func(error) {})
	alerts := l.Alerts(AlertFilter{}, 10).Alerts
	if len(alerts) != 3 {
		t.Fatalf("%d alerts", len(alerts))
	}
	byUID := map[string]Alert{}
	for _, a := range alerts {
		uid := ""
		if a.Hosts != nil {
			uid = a.Hosts.UID
		}
		byUID[uid] = a
	}
	for _, tt := range []struct {
		uid, flow, attack string
	}{
		{"CEL3aLvvNGvO6Ecoa", "193.201.9.232:46563 → 147.32.81.167:3933/tcp", "T1046 Network Service Discovery (TA0007 Discovery)"},
		{"Cicmp6", "[2001:db8::1]:128 → [2001:db8::2]:0/icmp (sensor <b>edge</b>)",
			"T1498 Network Denial of Service (TA0040 Impact); T1499 Endpoint Denial of Service (TA0040 Impact)"},
		{"", "", "T1498 Network Denial of Service (TA0040 Impact); T1499 Endpoint Denial of Service (TA0040 Impact)"},
	} {
		if a := byUID[tt.uid]; a.Flow != tt.flow || a.ATTACK != tt.attack {
			t.Errorf("alert %q: flow %q attack %q, want %q %q", tt.uid, a.Flow, a.ATTACK, tt.flow, tt.attack)
		}
	}
	if a := byUID[""]; a.Source != "raw/1/2" {
		t.Fatalf("nsl-kdd alert %+v", a)
	}
	// An explained alert says why; the others do not.
	if a := byUID["Cicmp6"]; a.Why != "SYN errors; <i>bytes</i> sent" || byUID[""].Why != "" {
		t.Errorf("why %q and %q", a.Why, byUID[""].Why)
	}
	// The JSON the page reads: members present only when known.
	b, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(b, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		_, hasFlow := d["flow"]
		_, hasHosts := d["hosts"]
		if hasFlow != hasHosts || d["attack"] == nil {
			t.Errorf("alert JSON %v", d)
		}
	}
}

// TestLiveNormalAlertHasNoTechniques: a verdict scoring over the alert
// threshold that the model did not flag lists no technique.
func TestLiveNormalAlertHasNoTechniques(t *testing.T) {
	l := NewLive()
	v := verdict("normal", 0.99, etl.Probe, 1)
	v.Result.Attack = false
	l.Write(t.Context(), []sinks.Verdict{v}, func(error) {})
	for _, a := range l.Alerts(AlertFilter{}, 10).Alerts {
		if a.ATTACK != "" {
			t.Fatalf("alert %+v", a)
		}
	}
}
