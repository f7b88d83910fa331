package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/stream"
)

// TestRunServiceServesAndDrains runs the service `sagewall run` builds
// against an in-process broker: records in, verdicts and commits out,
// /healthz, /readyz and /metrics served, and a clean stop on cancel (what
// SIGTERM does).
func TestRunServiceServesAndDrains(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(2, "in", "out", "dead"))
	cfg := defaultRunConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Input.Topic, cfg.Input.Group = "in", "run-test"
	cfg.Output.Topic, cfg.Output.DeadLetterTopic, cfg.Output.Format = "out", "dead", "ocsf"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "in", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	lines := []kafka.Message{
		{Value: []byte("0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19")},
		{Value: []byte("0,tcp,http,SF,215,45076,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,0.00,0.00,0,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,normal,21")},
		{Value: []byte("garbage")},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, lines...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	svc, err := newService(ctx, cfg, logger, withLagInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + svc.listener.Addr().String()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.run(runCtx) }()

	for {
		offsets, err := stream.GroupOffsets(ctx, svc.client, "run-test", "in")
		if err == nil && offsets[0].Committed+offsets[1].Committed == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("records not committed: %+v %v", offsets, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready: model",
		"/metrics": `sagewall_verdicts_total{outcome="attack"} 1`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s = %d %q, want 200 containing %q", path, resp.StatusCode, body, want)
		}
		if path == "/metrics" {
			for _, m := range []string{`sagewall_records_rejected_total{field="",reason="wrong_number_of_fields"} 1`,
				"sagewall_records_consumed_total 3", "sagewall_end_to_end_latency_seconds_count 2", "sagewall_consumer_lag{"} {
				if !strings.Contains(string(body), m) {
					t.Errorf("/metrics lacks %q", m)
				}
			}
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after stop: %v", err)
		}
	case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
		t.Fatal("run did not stop within the shutdown timeout")
	}
	// OCSF findings default to output.emit attacks: the neptune line's
	// finding only, though both good lines were judged and committed.
	var findings []string
	testenv.ScanTopic(t, brokers, "out", func(m kafka.Message) { findings = append(findings, string(m.Key)) })
	if len(findings) != 1 {
		t.Fatalf("findings %v, want one: the attack's", findings)
	}
}

func TestAttacksOnly(t *testing.T) {
	for _, tt := range []struct {
		format, emit string
		want         bool
		wantErr      bool
	}{
		{"json", "", false, false},
		{"ocsf", "", true, false},
		{"json", "attacks", true, false},
		{"ocsf", "all", false, false},
		{"ocsf", "alerts", false, true},
	} {
		cfg := defaultRunConfig()
		cfg.Output.Format, cfg.Output.Emit = tt.format, tt.emit
		got, err := cfg.attacksOnly()
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("format %s, emit %q: attacks only %v, %v; want %v (error %v)", tt.format, tt.emit, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRunConfigErrorIsUsageError(t *testing.T) {
	var stderr strings.Builder
	code := run(context.Background(), []string{"run", "--output-format", "xml"}, stdio{out: io.Discard, err: &stderr})
	if code != 2 || !strings.Contains(stderr.String(), "output.format") {
		t.Fatalf("exit %d, stderr %q; want 2 naming output.format", code, stderr.String())
	}
}

// TestRunServesPprofOnlyWhenEnabled checks that Go's profiles are served on
// http.addr with http.pprof and are absent by default.
func TestRunServesPprofOnlyWhenEnabled(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "in", "out", "dead"))
	for _, tc := range []struct {
		pprof bool
		want  int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		cfg := defaultRunConfig()
		cfg.Kafka.Brokers = brokers
		cfg.Input.Topic, cfg.Output.Topic, cfg.Output.DeadLetterTopic = "in", "out", "dead"
		cfg.HTTP.Addr, cfg.HTTP.Pprof = "127.0.0.1:0", tc.pprof
		svc, err := newService(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
			rec := httptest.NewRecorder()
			svc.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != tc.want {
				t.Errorf("http.pprof %v: GET %s = %d, want %d", tc.pprof, path, rec.Code, tc.want)
			}
		}
		svc.close()
	}
}

// TestBackgroundExplainer: the explainer built in the background explains
// as the detector's own does, and one that cannot be built (a LightGBM
// model: only XGBoost forests are explained) gives empty explanations and
// says why.
func TestBackgroundExplainer(t *testing.T) {
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	direct, err := det.NewExplainer()
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, direct.NumFeature())
	row[0], row[1] = 3, 491 // duration, src_bytes
	b := buildExplainer(det)
	if err := b.wait(); err != nil {
		t.Fatalf("wait = %v", err)
	}
	want := direct.Top(row, 5, nil)
	if got := b.Top(row, 5, nil); len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("Top = %+v, want %+v", got, want)
	}

	lgbm, err := scoring.LoadDetector("../../scoring/testdata/xgb/lgb-4.7.0-binary.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	b = buildExplainer(lgbm)
	if got := b.Top(make([]float32, 4), 5, make([]scoring.Contribution, 2)); len(got) != 0 {
		t.Errorf("Top = %+v, want none", got)
	}
	if err := b.wait(); err == nil || !strings.Contains(err.Error(), "only XGBoost forests are explained") {
		t.Errorf("wait = %v, want the reason", err)
	}
}
