package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/dashboard"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/serve"
)

// TestRunServiceDashboard checks the dashboard that `sagewall run` mounts:
// the page, analyze, and a live view fed by the pipeline's verdicts, dead
// letters and lag; and that http.dashboard false leaves it out.
func TestRunServiceDashboard(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "in", "out", "dead"))
	cfg := defaultRunConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Input.Topic, cfg.Input.Group = "in", "dashboard-test"
	cfg.Output.Topic, cfg.Output.DeadLetterTopic = "out", "dead"
	cfg.HTTP.Addr = "127.0.0.1:0"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "in", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx,
		kafka.Message{Value: []byte("0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19")},
		kafka.Message{Value: []byte("0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20")},
		kafka.Message{Value: []byte("garbage")},
	); err != nil {
		t.Fatal(err)
	}
	w.Close()

	svc, err := newService(ctx, cfg, logger, withLagInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + svc.listener.Addr().String() + "/dashboard"
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.run(runCtx) }()

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Analyze records") {
		t.Fatalf("GET /dashboard/: %d", resp.StatusCode)
	}

	resp, err = http.Post(base+"/api/analyze", "application/json", strings.NewReader(`{"records":"0,tcp,http,SF,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,0,0,1,1,1,0,1,0,0,0,0,0","threshold":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	var analyzed dashboard.AnalyzeResponse
	if err := json.NewDecoder(resp.Body).Decode(&analyzed); err != nil || len(analyzed.Verdicts) != 1 {
		t.Fatalf("analyze: %v %+v", err, analyzed)
	}
	resp.Body.Close()

	// The live view sees both verdicts, the dead letter and the lag.
	resp, err = http.Get(base + "/api/live")
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	var s dashboard.Summary
	for s.Verdicts != 2 || s.Pipeline.DeadLetters != 1 || !s.Pipeline.LagKnown {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the live stream: %v; last summary %+v", err, s)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			s = dashboard.Summary{}
			if err := json.Unmarshal([]byte(data), &s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if s.Attacks != 1 || s.Confusion.Labelled != 2 || s.Model.Name != "sagewall-nslkdd" {
		t.Errorf("summary %+v", s)
	}

	// Stopping the service ends the live stream instead of waiting for the browser.
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Logf("live stream ended with %v", err)
	}
	resp.Body.Close()

	cfg.HTTP.Dashboard = false
	off, err := newService(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer off.close()
	rec := httptest.NewRecorder()
	off.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dashboard/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("with http.dashboard false, GET /dashboard/: %d", rec.Code)
	}
}

// TestServeDashboard checks serve's dashboard listener: analyze only, and
// a busy address is logged without stopping serve.
func TestServeDashboard(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	stop, err := startServeDashboard("127.0.0.1:0", "bundled", 0.5, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, url, _ := strings.Cut(logs.String(), "url=")
	url = strings.TrimSpace(url)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/dashboard/") {
		t.Fatalf("logged %q", logs.String())
	}
	resp, err := http.Get(url + "api/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Live    bool `json:"live"`
		Scorers []struct {
			ID string `json:"id"`
		} `json:"scorers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.Live || len(info.Scorers) != 1 {
		t.Fatalf("info %+v: %v", info, err)
	}

	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/dashboard/")
	logs.Reset()
	stopBusy, err := startServeDashboard(addr, "bundled", 0.5, logger)
	if err != nil {
		t.Fatalf("a busy dashboard address stopped serve: %v", err)
	}
	stopBusy()
	if !strings.Contains(logs.String(), "not serving the dashboard") {
		t.Errorf("busy address not logged: %q", logs.String())
	}
}

// TestRunServiceDashboardSageMaker checks that with scorer: sagemaker the
// dashboard offers the endpoint and scores on it (here `sagewall serve`'s
// handler behind the runtime API's path).
func TestRunServiceDashboardSageMaker(t *testing.T) {
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	inference := serve.NewHandler(det)
	var calls atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/endpoints/nids/invocations" {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/invocations"
		inference.ServeHTTP(w, r2)
	}))
	defer endpoint.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	cfg := defaultRunConfig()
	cfg.Kafka.Brokers = testenv.KFake(t, kfake.SeedTopics(1, "in", "out", "dead"))
	cfg.Input.Topic, cfg.Output.Topic, cfg.Output.DeadLetterTopic = "in", "out", "dead"
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Scorer = "sagemaker"
	cfg.SageMaker.Endpoint, cfg.SageMaker.EndpointURL, cfg.SageMaker.Region = "nids", endpoint.URL, "us-east-1"
	svc, err := newService(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	h := svc.handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dashboard/api/info", nil))
	if !strings.Contains(rec.Body.String(), `"id":"sagemaker"`) || !strings.Contains(rec.Body.String(), `"name":"sagemaker:nids"`) {
		t.Fatalf("info: %s", rec.Body)
	}
	req := httptest.NewRequest(http.MethodPost, "/dashboard/api/analyze", strings.NewReader(
		`{"scorer":"sagemaker","threshold":0.5,"records":"0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"}`))
	req.Header.Set("Content-Type", "application/json")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp dashboard.AnalyzeResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if resp.Model.Name != "sagemaker:nids" || len(resp.Verdicts) != 1 || !resp.Verdicts[0].Attack || calls.Load() != 1 {
		t.Errorf("analyze on the endpoint: %+v, %d calls", resp, calls.Load())
	}
}
