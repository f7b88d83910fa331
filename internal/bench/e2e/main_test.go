package main

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd count", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even count is the lower", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"max", ms(1, 5, 9), 1, 9 * time.Millisecond},
		{"min", ms(1, 5, 9), 0, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("quantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := [][]string{
		{"--records", "0"},
		{"--warmup", "30s", "--paced-for", "20s"},
		{"--rate", "-1"},
		{"--repeat", "0"},
		{"extra"},
		{"--no-such-flag"},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		if err := run(t.Context(), args, &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

func TestParseVariant(t *testing.T) {
	tests := []struct {
		spec string
		want *variant
	}{
		{"", nil},
		{"  ", nil},
		{"GOGC=400", &variant{name: "v", env: []string{"GOGC=400"}}},
		{"GOGC=400 --batch-records 1024", &variant{name: "v", args: []string{"--batch-records", "1024"}, env: []string{"GOGC=400"}}},
		{"--batch-max-wait=2ms", &variant{name: "v", args: []string{"--batch-max-wait=2ms"}}},
	}
	for _, tt := range tests {
		got := parseVariant("v", tt.spec)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseVariant(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
	}
}

func TestThroughputMedianAndSpread(t *testing.T) {
	rate := func(r throughputRun) float64 { return r.RecordsPerSec }
	tests := []struct {
		name           string
		rates          []float64
		median, lo, hi float64
	}{
		{"one run", []float64{100}, 100, 100, 100},
		{"odd count: the middle one", []float64{300, 100, 200}, 200, 100, 300},
		{"even count: mean of the middle two", []float64{400, 100, 200, 300}, 250, 100, 400},
		{"an outlier moves the range, not the median", []float64{160, 410, 158, 162, 159}, 160, 158, 410},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tp throughput
			for _, r := range tt.rates {
				tp.add(throughputRun{RecordsPerSec: r, SteadyPerSec: 2 * r})
			}
			if tp.RecordsPerSec != tt.median || tp.SteadyPerSec != 2*tt.median {
				t.Errorf("medians %v / %v, want %v / %v", tp.RecordsPerSec, tp.SteadyPerSec, tt.median, 2*tt.median)
			}
			if lo, hi := tp.spread(rate); lo != tt.lo || hi != tt.hi {
				t.Errorf("spread %v–%v, want %v–%v", lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

func TestThroughputCostMedians(t *testing.T) {
	type costs struct{ cpu, broker, rss float64 }
	tests := []struct {
		name string
		runs []costs
		want costs
	}{
		{"one run", []costs{{3.1, 1.2, 150}}, costs{3.1, 1.2, 150}},
		// Each figure's own median, not the figures of one median run.
		{"odd count", []costs{{3, 2, 150}, {9, 1, 140}, {4, 3, 160}}, costs{4, 2, 150}},
		{"even count: mean of the middle two", []costs{{2, 1, 100}, {4, 3, 300}, {3, 2, 200}, {8, 9, 900}}, costs{3.5, 2.5, 250}},
		{"not measured (an old record) stays 0", []costs{{}, {}}, costs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tp throughput
			for _, c := range tt.runs {
				tp.add(throughputRun{RecordsPerSec: 1, CPUus: c.cpu, BrokerCPUus: c.broker, PeakRSSMB: c.rss})
			}
			if got := (costs{tp.CPUus, tp.BrokerCPUus, tp.PeakRSSMB}); got != tt.want {
				t.Errorf("medians %+v, want %+v", got, tt.want)
			}
		})
	}
}
