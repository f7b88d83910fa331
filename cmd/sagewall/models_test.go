package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
)

// compatDir holds models of every objective and format a SageMaker user
// brings, with their libraries' predictions (scoring/testdata/gen/compat.sh).
const compatDir = "../../scoring/testdata/compat"

// compatCase is a model file and the P(attack) its library implies per
// row of rows.csv.gz: the probability of a binary model (sigmoid of the
// margin for binary:logitraw), 1 - P(normal) of a 5-class one.
type compatCase struct {
	file   string
	golden string
	multi  bool // golden holds the 5 class probabilities
}

// compatCases lists every model file of compatDir (named
// xgb-VERSION-NAME.FORMAT[.gz] or lgb-VERSION-NAME.txt.gz) with the golden
// that gives its P(attack): NAME.proba.golden.gz where the library's predict
// answers something else (the logitraw margin, the softmax class index),
// else NAME.golden.gz.
func compatCases(t *testing.T) []compatCase {
	t.Helper()
	var cases []compatCase
	for _, m := range testenv.CompatModels(t, compatDir) {
		c := compatCase{file: m.File, golden: m.Prefix + ".golden.gz",
			multi: m.Base == "softprob" || m.Base == "softmax" || strings.HasPrefix(m.Base, "multi")}
		if _, err := os.Stat(filepath.Join(compatDir, m.Prefix+".proba.golden.gz")); err == nil {
			c.golden = m.Prefix + ".proba.golden.gz"
		}
		cases = append(cases, c)
	}
	return cases
}

func gunzipCompat(t *testing.T, name string) string {
	t.Helper()
	return string(testenv.GunzipIn(t, compatDir, name))
}

// attackScores is P(attack) per row as the library predicts it.
func (c compatCase) attackScores(t *testing.T) []float32 {
	t.Helper()
	var scores []float32
	for line := range strings.Lines(gunzipCompat(t, c.golden)) {
		first, _, _ := strings.Cut(strings.TrimSpace(line), ",")
		v, err := strconv.ParseFloat(first, 32)
		if err != nil {
			t.Fatalf("%s: %v", c.golden, err)
		}
		if c.multi {
			v = float64(1 - float32(v))
		}
		scores = append(scores, float32(v))
	}
	return scores
}

// TestScoreCompatModels is `sagewall score --model FILE`'s golden test for
// every objective and format: the 200 rows of rows.csv.gz (122-value
// vectors, missing values written "", NaN and nan) are all scored, each
// within 1e-6 of the P(attack) the library's prediction gives.
func TestScoreCompatModels(t *testing.T) {
	rows := filepath.Join(compatDir, "rows.csv.gz")
	for _, c := range compatCases(t) {
		t.Run(c.file, func(t *testing.T) {
			want := c.attackScores(t)
			out, stderr, err := runCommand(t, runScore, nil, "", "--model", filepath.Join(compatDir, c.file), rows)
			if err != nil {
				t.Fatalf("err = %v, stderr:\n%s", err, stderr)
			}
			if !strings.Contains(stderr, c.file+": ") || !strings.Contains(stderr, "200 records scored") || !strings.Contains(stderr, "0 bad lines") {
				t.Errorf("stderr:\n%s", stderr)
			}
			verdicts := parseVerdicts(t, out)
			if len(verdicts) != len(want) {
				t.Fatalf("%d verdicts, want %d", len(verdicts), len(want))
			}
			var worst float64
			for i, v := range verdicts {
				diff := math.Abs(float64(*v.Score - want[i]))
				worst = max(worst, diff)
				if v.Line != i+1 || !(diff <= 1e-6) || *v.Attack != (*v.Score >= 0.5) {
					t.Errorf("line %d: score %v attack %v, library %v", v.Line, *v.Score, *v.Attack, want[i])
				}
				if c.multi && *v.Attack && v.Category == "normal" {
					t.Errorf("line %d: flagged without a category", v.Line)
				}
			}
			t.Logf("%s: largest difference from the library %.3g", c.file, worst)
		})
	}
}

// TestRunCompatModels is `sagewall run`'s golden test for every objective
// and format: the pipeline with model.path set to each model file consumes
// the 200 rows of rows.csv.gz from Kafka and writes verdicts whose scores
// are within 1e-6 of the library's P(attack). (About 0.7 s a model; two
// at a time.)
func TestRunCompatModels(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the pipeline for each model")
	}
	lines := strings.Split(strings.TrimSuffix(gunzipCompat(t, "rows.csv.gz"), "\n"), "\n")
	for _, c := range compatCases(t) {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			want := c.attackScores(t)
			got := runPipeline(t, filepath.Join(compatDir, c.file), lines)
			var worst float64
			for i, w := range want {
				s, ok := got[i]
				if !ok {
					t.Fatalf("no verdict for row %d", i)
				}
				diff := math.Abs(float64(s - w))
				worst = max(worst, diff)
				if !(diff <= 1e-6) {
					t.Errorf("row %d: score %v, library %v", i, s, w)
				}
			}
			t.Logf("%s: %d verdicts, largest difference from the library %.3g", c.file, len(got), worst)
		})
	}
}

// runPipeline runs `sagewall run`'s service with model on an in-process
// broker and returns the score of each input line's verdict, by offset.
func runPipeline(t *testing.T, model string, lines []string) map[int]float32 {
	t.Helper()
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "in", "out", "dead"))
	cfg := defaultRunConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Input.Topic, cfg.Input.Group = "in", "models-test"
	cfg.Output.Topic, cfg.Output.DeadLetterTopic, cfg.Output.Format = "out", "dead", "json"
	cfg.Model.Path = model
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "in", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	msgs := make([]kafka.Message, len(lines))
	for i, l := range lines {
		msgs[i] = kafka.Message{Value: []byte(l)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	svc, err := newService(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "out", Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	scores := map[int]float32{}
	for len(scores) < len(lines) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading verdicts (%d of %d): %v", len(scores), len(lines), err)
		}
		var v struct {
			Source struct {
				Offset int `json:"offset"`
			} `json:"source"`
			Score *float32 `json:"score"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || v.Score == nil {
			t.Fatalf("verdict %s: %v", m.Value, err)
		}
		scores[v.Source.Offset] = *v.Score
	}
	return scores
}
