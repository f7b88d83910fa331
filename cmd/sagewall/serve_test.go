package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
)

func TestLoadServeModel(t *testing.T) {
	empty := t.TempDir()
	if _, source, err := loadServeModel(empty); err != nil || source != "bundled" {
		t.Errorf("empty dir: source %q, err %v; want the bundled model", source, err)
	}
	if _, source, err := loadServeModel(filepath.Join(empty, "missing")); err != nil || source != "bundled" {
		t.Errorf("missing dir: source %q, err %v; want the bundled model", source, err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "xgboost-model"), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadServeModel(bad); err == nil || !strings.Contains(err.Error(), "xgboost-model") {
		t.Errorf("bad xgboost-model: err %v, want one naming the file", err)
	}
	// What SageMaker unpacks from a user's artifact: the container's
	// xgboost-model (here a 5-class multi:softmax model), or one model file
	// of another name (a LightGBM model.txt).
	for name, src := range map[string]string{
		"xgboost-model": "xgb-1.7.6-softmax.bin.gz",
		"model.txt":     "lgb-4.7.0-multi.txt.gz",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(gunzipCompat(t, src)), 0o644); err != nil {
			t.Fatal(err)
		}
		d, source, err := loadServeModel(dir)
		if err != nil || source != filepath.Join(dir, name) || d.NumClass() != 5 {
			t.Errorf("%s from %s: source %q, err %v", name, src, source, err)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	detector, _, err := loadServeModel(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A slow request in flight when the signal comes must still be answered.
	release := make(chan struct{})
	inner := serve.NewHandler(detector)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("slow") {
			<-release
		}
		inner.ServeHTTP(w, r)
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveUntilDone(ctx, srv, ln, 5*time.Second, slog.New(slog.DiscardHandler)) }()
	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}
	resp.Body.Close()

	slow := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(base+"/invocations?slow", "text/csv", bytes.NewReader(sampleRecords))
		if err != nil {
			t.Error(err)
		}
		slow <- resp
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(100 * time.Millisecond)
	close(release)
	resp = <-slow
	if resp == nil {
		t.Fatal("in-flight request lost on shutdown")
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Count(body, []byte("\n")) != bytes.Count(bytes.TrimSpace(sampleRecords), []byte("\n"))+1 {
		t.Errorf("in-flight request: %d %q", resp.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if _, err := http.Get(base + "/ping"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestServeFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := runServe(context.Background(), []string{"--bogus"}, stdio{err: &stderr})
	var usageErr usageError
	if !errors.As(err, &usageErr) {
		t.Fatalf("err = %v, want a usage error", err)
	}
}

// The run settings that select the SageMaker scorer and SNS alerts (wired in
// run.go next to the pipeline).
func TestRunAWSSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, cfg runConfig)
	}{
		{name: "defaults: local scorer, no alerts", check: func(t *testing.T, cfg runConfig) {
			if cfg.Scorer != "local" || cfg.Alerts.SNSTopicARN != "" || cfg.Alerts.Threshold != 0.9 || !cfg.SageMaker.Fallback {
				t.Errorf("defaults %+v %+v %+v", cfg.Scorer, cfg.SageMaker, cfg.Alerts)
			}
		}},
		{name: "sagemaker needs an endpoint", env: map[string]string{"SAGEWALL_SCORER": "sagemaker"}, wantErr: "sagemaker.endpoint"},
		{name: "unknown scorer", env: map[string]string{"SAGEWALL_SCORER": "remote"}, wantErr: `invalid setting scorer (from environment SAGEWALL_SCORER): "remote"`},
		{name: "alert threshold", env: map[string]string{"SAGEWALL_ALERTS_THRESHOLD": "0"}, wantErr: "alerts.threshold"},
		{name: "sagemaker and alerts", env: map[string]string{
			"SAGEWALL_SCORER": "sagemaker", "SAGEWALL_SAGEMAKER_ENDPOINT": "sagewall", "SAGEWALL_SAGEMAKER_REGION": "eu-west-1",
			"SAGEWALL_SAGEMAKER_FALLBACK": "false", "SAGEWALL_ALERTS_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:alerts",
			"SAGEWALL_ALERTS_WINDOW": "30s", "SAGEWALL_ALERTS_REGION": "eu-west-1",
		}, check: func(t *testing.T, cfg runConfig) {
			det, _, err := loadServeModel(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			scorer, info, err := newRunScorer(context.Background(), &cfg, det, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := scorer.(*sagemaker.Scorer); !ok || info.Name != "sagemaker:sagewall" {
				t.Errorf("scorer %T, model info %+v", scorer, info)
			}
			alerts, err := newAlertSink(context.Background(), &cfg, nil, slog.New(slog.DiscardHandler))
			if err != nil || alerts == nil {
				t.Errorf("alert sink %v, err %v", alerts, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadRunConfig("run", nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}
