package main

import (
	"fmt"
	"io"
	"strings"
)

// printTable prints what a run measured as Markdown tables. It also
// renders the records of earlier harnesses (--render), whose newer figures
// are missing: "–" then.
func (r *results) printTable(w io.Writer) {
	storage := ""
	if r.BrokerStorage != "" {
		storage = ", broker log on " + r.BrokerStorage
	}
	fmt.Fprintln(w)
	if r.Run != "" {
		fmt.Fprintf(w, "Run %s", r.Run)
		if r.Code != "" {
			fmt.Fprintf(w, " of %s", r.Code)
		}
		if r.Flags != "" {
			fmt.Fprintf(w, ", flags %s", r.Flags)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d records, %d partitions, acks=all%s, load average at start %s\n", r.Records, r.Partitions, storage, r.LoadAverage)
	if r.Sagewall != nil {
		r.printThroughput(w)
	}
	r.printPaced(w)
}

func (r *results) printThroughput(w io.Writer) {
	fmt.Fprintf(w, "\nThroughput, median of %d interleaved runs each (lowest–highest). CPU: user + system time of the system's processes "+
		"from start to exit, per record (kcat: its two processes summed; peak RSS: the sum of their two peaks); "+
		"broker CPU: the broker's over the same run:\n\n", len(r.Sagewall.Runs))
	fmt.Fprintln(w, "| | records/s (start to done) | steady records/s (first to last output) | CPU µs/record | broker CPU µs/record | peak RSS MB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	row := func(name string, t *throughput) {
		lo, hi := t.spread(func(r throughputRun) float64 { return r.RecordsPerSec })
		slo, shi := t.spread(func(r throughputRun) float64 { return r.SteadyPerSec })
		fmt.Fprintf(w, "| %s | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %s | %s | %s |\n", name, t.RecordsPerSec, lo, hi, t.SteadyPerSec, slo, shi,
			orDash(t.CPUus, "%.2f"), orDash(t.BrokerCPUus, "%.2f"), orDash(t.PeakRSSMB, "%.1f"))
	}
	ratio := func(name string, a, b *throughput) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", name, ratioOf(a.RecordsPerSec, b.RecordsPerSec), ratioOf(a.SteadyPerSec, b.SteadyPerSec),
			ratioOf(a.CPUus, b.CPUus), ratioOf(a.BrokerCPUus, b.BrokerCPUus), ratioOf(a.PeakRSSMB, b.PeakRSSMB))
	}
	row("sagewall run", r.Sagewall)
	if r.SagewallZeek != nil {
		row("sagewall run, Zeek conn.log (features derived)", r.SagewallZeek)
		ratio("ratio Zeek / NSL-KDD path", r.SagewallZeek, r.Sagewall)
	}
	if r.SagewallTuned != nil {
		row("sagewall run, tuned: "+r.Tuned, r.SagewallTuned)
	}
	if r.Kcat != nil {
		row("kcat -C → kcat -P", r.Kcat)
	}
	for _, py := range r.Python {
		row(fmt.Sprintf("Python consumer, batch %d", py.Batch), py)
	}
	if r.Kcat != nil {
		ratio("ratio sagewall / kcat", r.Sagewall, r.Kcat)
		if r.SagewallTuned != nil {
			ratio("ratio tuned sagewall / kcat", r.SagewallTuned, r.Kcat)
		}
	}
	for _, py := range r.Python {
		ratio(fmt.Sprintf("ratio sagewall / Python, batch %d", py.Batch), r.Sagewall, py)
	}
	if c := r.PythonCheck; c != nil {
		fmt.Fprintf(w, "\nThe Python consumer's verdicts on %d records (the first of each partition) agree with sagewall's scoring: "+
			"largest score difference %.2g.\n", c.Records, c.MaxScoreDiff)
	}
}

func (r *results) printPaced(w io.Writer) {
	type row struct {
		name string
		l    *latencyRun
	}
	var rows []row
	withHog := false
	add := func(name string, quiet, hog *latencyRun) {
		if quiet != nil {
			rows = append(rows, row{name, quiet})
		}
		if hog != nil {
			rows = append(rows, row{name + ", CPU hog", hog})
			withHog = true
		}
	}
	add("sagewall run", r.SagewallPaced, r.SagewallHog)
	if r.Tuned != "" {
		add("sagewall run, tuned: "+r.Tuned, r.TunedPaced, r.TunedHog)
	}
	add("kcat -C → kcat -P", r.KcatPaced, r.KcatHog)
	var footnote string
	if len(r.Python) > 0 {
		name := fmt.Sprintf("Python consumer, batch %d", r.Python[0].Batch)
		if p := r.PythonPaced; p != nil && p.Rate != 0 && p.Rate < r.PacedRate {
			name += " ¹"
			footnote = fmt.Sprintf("\n¹ Paced at half its own median throughput (%.0f records/s), which is below the others' rate.\n",
				r.Python[0].RecordsPerSec)
		}
		add(name, r.PythonPaced, r.PythonHog)
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nPaced for %s at %d records/s (first %s left out), latency source append → output append", r.PacedFor, r.PacedRate, r.Warmup)
	hogColumn, hogRule := "", ""
	if withHog {
		fmt.Fprint(w, "; \"CPU hog\": the same run with a process spinning on one core (the cores it kept busy)")
		hogColumn, hogRule = " CPU hog |", "---|"
	}
	fmt.Fprint(w, ":\n\n")
	fmt.Fprintf(w, "| | records/s |%s records measured | p50 ms | p99 ms | max ms | flushed only at stop | 100 ms windows with p99 > 20 ms | worst window: p99 ms, CPU busy/iowait/steal %% |\n", hogColumn)
	fmt.Fprintf(w, "|---|---|%s---|---|---|---|---|---|---|\n", hogRule)
	for _, row := range rows {
		l := row.l
		rate := l.Rate
		if rate == 0 {
			rate = r.PacedRate
		}
		hog := ""
		switch {
		case !withHog:
		case l.HogCores > 0:
			hog = fmt.Sprintf(" %.2f |", l.HogCores)
		default:
			hog = " – |"
		}
		if l.Behind > 0 {
			fmt.Fprintf(w, "| %s | %d |%s did not keep up: %d of %d records not out 10 s after the end |%s\n", row.name, rate, hog,
				l.Behind, l.Produced, strings.Repeat(" |", 6))
			continue
		}
		slow := 0
		for _, t := range l.Timeline {
			if t.P99ms > 20 {
				slow++
			}
		}
		worstWindow := "–"
		if t, ok := worst(l.Timeline); ok {
			worstWindow = fmt.Sprintf("%.1f at %.1f s, %.0f/%.0f/%.0f", t.P99ms, t.At, t.Busy, t.IOWait, t.Steal)
		}
		fmt.Fprintf(w, "| %s | %d |%s %d | %.1f | %.1f | %.1f | %d | %d of %d | %s |\n", row.name, rate, hog, l.Measured, l.P50ms, l.P99ms, l.Maxms,
			l.AfterStop, slow, len(l.Timeline), worstWindow)
	}
	fmt.Fprint(w, footnote)
}

// orDash formats v, or "–" for a figure not measured (0).
func orDash(v float64, format string) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// ratioOf is a/b as "1.23×", or "–" when either is not measured.
func ratioOf(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
