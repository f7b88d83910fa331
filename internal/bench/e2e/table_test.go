package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintTable(t *testing.T) {
	tp := func(rate, cpu, broker, rss float64) *throughput {
		var t throughput
		t.add(throughputRun{RecordsPerSec: rate, SteadyPerSec: rate * 1.1, CPUus: cpu, BrokerCPUus: broker, PeakRSSMB: rss})
		return &t
	}
	py := func(batch int, rate float64) *throughput {
		t := tp(rate, 30, 8, 160)
		t.Batch = batch
		return t
	}
	lat := func(rate int, p99 float64, hog float64) *latencyRun {
		return &latencyRun{Measured: 1000, P50ms: 5, P99ms: p99, Maxms: 2 * p99, Rate: rate, HogCores: hog}
	}
	full := &results{Run: "20261205-120000", Code: "abc1234", Flags: "--repeat 1", Records: 500000, Partitions: 4,
		Sagewall: tp(280000, 3, 1.5, 150), Kcat: tp(140000, 1.5, 1.5, 300), Python: []*throughput{py(1000, 30000), py(10000, 45000)},
		PythonCheck: &verdictCheck{Records: 400, MaxScoreDiff: 6e-8},
		PacedRate:   140000, PacedFor: "20s", Warmup: "2s",
		SagewallPaced: lat(140000, 12, 0), SagewallHog: lat(140000, 30, 0.95),
		KcatPaced: lat(140000, 10, 0), KcatHog: lat(140000, 25, 0.9),
		PythonPaced: lat(15000, 90, 0), PythonHog: &latencyRun{Produced: 300000, Rate: 15000, HogCores: 0.8, Behind: 120000}}
	old := &results{Records: 500000, Partitions: 4, Sagewall: &throughput{RecordsPerSec: 130000, SteadyPerSec: 133000,
		Runs: []throughputRun{{RecordsPerSec: 130000, SteadyPerSec: 133000}}}, Kcat: tp(160000, 0, 0, 0),
		PacedRate: 65000, PacedFor: "20s", Warmup: "2s", SagewallPaced: &latencyRun{P99ms: 38}, KcatPaced: &latencyRun{P99ms: 11}}
	tests := []struct {
		name         string
		res          *results
		want, absent []string
	}{
		{"every system, quiet and loaded", full, []string{
			"Run 20261205-120000 of abc1234, flags --repeat 1\n",
			"| | records/s (start to done) | steady records/s (first to last output) | CPU µs/record | broker CPU µs/record | peak RSS MB |",
			"| sagewall run | 280000 (280000–280000) | 308000 (308000–308000) | 3.00 | 1.50 | 150.0 |",
			"| kcat -C → kcat -P | 140000 (140000–140000) | 154000 (154000–154000) | 1.50 | 1.50 | 300.0 |",
			"| Python consumer, batch 10000 | 45000 (45000–45000) | 49500 (49500–49500) | 30.00 | 8.00 | 160.0 |",
			"| ratio sagewall / kcat | 2.00× | 2.00× | 2.00× | 1.00× | 0.50× |",
			"| ratio sagewall / Python, batch 1000 | 9.33× | 9.33× | 0.10× |",
			"verdicts on 400 records",
			"| sagewall run | 140000 | – | 1000 | 5.0 | 12.0 | 24.0 |",
			"| sagewall run, CPU hog | 140000 | 0.95 | 1000 | 5.0 | 30.0 | 60.0 |",
			"| kcat -C → kcat -P, CPU hog | 140000 | 0.90 |",
			"| Python consumer, batch 1000 ¹ | 15000 | – | 1000 | 5.0 | 90.0 |",
			"| Python consumer, batch 1000 ¹, CPU hog | 15000 | 0.80 | did not keep up: 120000 of 300000 records not out 10 s after the end |",
			"¹ Paced at half its own median throughput (30000 records/s), which is below the others' rate.",
		}, []string{"tuned"}},
		{"a first-harness record: no cost figures, no hog, no Python", old, []string{
			"| sagewall run | 130000 (130000–130000) | 133000 (133000–133000) | – | – | – |",
			"| ratio sagewall / kcat | 0.81× | 0.76× | – | – | – |",
			"| sagewall run | 65000 | 0 | 0.0 | 38.0 |",
		}, []string{"Python", "CPU hog |", "¹", "Run "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.res.printTable(&out)
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("no %q in\n%s", w, out.String())
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out.String(), a) {
					t.Errorf("%q in\n%s", a, out.String())
				}
			}
			// Every row of a table has its header's columns.
			for _, block := range strings.Split(out.String(), "\n\n") {
				lines := strings.Split(strings.TrimSpace(block), "\n")
				if !strings.HasPrefix(lines[0], "|") {
					continue
				}
				for _, l := range lines[1:] {
					if strings.Count(l, "|") != strings.Count(lines[0], "|") {
						t.Errorf("%q has not the columns of %q", l, lines[0])
					}
				}
			}
		})
	}
}
