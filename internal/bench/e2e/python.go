package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// The second peer: internal/bench/python/consumer.py, the original stack
// (pandas ETL + XGBoost) as an at-least-once Kafka consumer. The harness
// times it like sagewall: from starting the process until its group has
// committed every record, then SIGTERM.

// parseBatches reads --python-batches ("1000,10000").
func parseBatches(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--python-batches: %q is not a batch size", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func (b *bench) startPythonOn(ctx context.Context, raw, out, group string, batch int) (*process, error) {
	cmd := exec.CommandContext(ctx, b.opts.python, b.opts.pythonConsumer, "--brokers", b.opts.brokers, "--topic", raw,
		"--group", group, "--out", out, "--batch", strconv.Itoa(batch))
	cmd.Stderr = b.log
	return startProcess("consumer.py", cmd)
}

func (b *bench) startPython(batch int) starter {
	return func(ctx context.Context, raw, out, group string) (func() error, <-chan struct{}, error) {
		p, err := b.startPythonOn(ctx, raw, out, group, batch)
		if err != nil {
			return nil, nil, err
		}
		return p.stop, p.exited, nil
	}
}

// pythonThroughput runs the Python consumer over raw until its group has
// committed every record; check, if not nil, is given the verdict topic
// before it is deleted.
func (b *bench) pythonThroughput(ctx context.Context, raw, name string, batch int, check func(ctx context.Context, out string) error) (*throughputRun, error) {
	out, group := b.topic(name+"-verdicts"), b.topic(name+"-group")
	return b.committedThroughput(ctx, name, raw, out, group, nil, func(ctx context.Context) (*process, error) {
		return b.startPythonOn(ctx, raw, out, group, batch)
	}, check)
}

// verdictCheck is how a sample of the Python peer's verdicts compared with
// sagewall's scoring (the bundled detector, in this process) of the same
// source records.
type verdictCheck struct {
	Records      int     `json:"records"`
	MaxScoreDiff float64 `json:"max_score_diff"`
}

// maxScoreDiff is how far the Python peer's score may be from sagewall's.
const maxScoreDiff = 1e-5

// checkVerdicts scores the first perPartition records of each partition of
// raw with the bundled detector, finds the verdicts on them in out and
// fails unless every one is there with the same score (to maxScoreDiff)
// and the same attack flag.
func (b *bench) checkVerdicts(ctx context.Context, raw, out string, perPartition int64) (*verdictCheck, error) {
	ends, err := b.partitionEnds(ctx, raw)
	if err != nil {
		return nil, err
	}
	ranges := map[int32]offsetRange{}
	for p, end := range ends {
		if end > 0 {
			ranges[p] = offsetRange{0, min(end, perPartition)}
		}
	}
	var keys []string
	var lines [][]byte
	if err := b.readRanges(ctx, raw, ranges, func(r *kgo.Record) {
		keys = append(keys, fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))
		lines = append(lines, slices.Clone(r.Value))
	}); err != nil {
		return nil, err
	}
	want, threshold, err := scoreLines(keys, lines)
	if err != nil {
		return nil, err
	}
	check := &verdictCheck{}
	seen := map[string]bool{}
	var bad error
	if err := b.readAll(ctx, out, func(r *kgo.Record) {
		w, ok := want[string(r.Key)]
		if !ok || bad != nil {
			return
		}
		var got struct {
			Score  float64 `json:"score"`
			Attack bool    `json:"attack"`
		}
		if err := json.Unmarshal(r.Value, &got); err != nil {
			bad = fmt.Errorf("verdict on %s: %w", r.Key, err)
			return
		}
		if bad = compareVerdict(string(r.Key), got.Score, got.Attack, w, threshold); bad != nil {
			return
		}
		check.MaxScoreDiff = max(check.MaxScoreDiff, math.Abs(got.Score-float64(w.Score)))
		if !seen[string(r.Key)] {
			seen[string(r.Key)] = true
			check.Records++
		}
	}); err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	if check.Records < len(want) {
		return nil, fmt.Errorf("%s holds verdicts on %d of the %d records checked", out, check.Records, len(want))
	}
	return check, nil
}

// compareVerdict fails unless score is within maxScoreDiff of sagewall's
// and the attack flag is the same (unless the scores straddle the
// threshold within that tolerance).
func compareVerdict(key string, score float64, attack bool, want scoring.Result, threshold float64) error {
	if d := math.Abs(score - float64(want.Score)); d > maxScoreDiff || math.IsNaN(d) {
		return fmt.Errorf("verdict on %s: score %g, sagewall's %g", key, score, want.Score)
	}
	if attack != want.Attack && math.Abs(float64(want.Score)-threshold) > maxScoreDiff {
		return fmt.Errorf("verdict on %s: attack %t, sagewall's %t (score %g)", key, attack, want.Attack, want.Score)
	}
	return nil
}

// scoreLines scores NSL-KDD lines as sagewall does (the bundled detector,
// its encoder) and returns the verdicts by key and the threshold.
func scoreLines(keys []string, lines [][]byte) (map[string]scoring.Result, float64, error) {
	det, err := scoring.Bundled()
	if err != nil {
		return nil, 0, err
	}
	enc := etl.NewEncoder(det.Spec())
	width := det.Spec().Width()
	rows := make([]float32, len(lines)*width)
	var rec etl.Record
	for i, line := range lines {
		if err := enc.Encode(line, &rec, rows[i*width:(i+1)*width]); err != nil {
			return nil, 0, fmt.Errorf("encoding %s: %w", keys[i], err)
		}
	}
	results := make([]scoring.Result, len(lines))
	if err := det.Score(context.Background(), rows, results); err != nil {
		return nil, 0, err
	}
	out := make(map[string]scoring.Result, len(keys))
	for i, k := range keys {
		out[k] = results[i]
	}
	return out, det.Threshold(), nil
}
