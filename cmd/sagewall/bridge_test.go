package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestBridgeFlags(t *testing.T) {
	const queue = "http://127.0.0.1:1/000000000000/raw-logs"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no queue", nil, "--queue-url is required"},
		{"malformed queue", []string{"--queue-url", "sqs-queue-name"}, `--queue-url "sqs-queue-name": want https://`},
		{"empty brokers", []string{"--queue-url", queue, "--kafka-brokers", " , "}, "--kafka-brokers and --topic must not be empty"},
		{"empty brokers, former flag name", []string{"--queue-url", queue, "--brokers", " , "}, "--kafka-brokers and --topic must not be empty"},
		{"stray argument", []string{"--queue-url", queue, "extra"}, "unexpected arguments"},
		{"bad visibility", []string{"--queue-url", queue, "--visibility", "1s", "--region", "us-east-1"}, "visibility 1s must be at least 2s"},
		{"no credentials", []string{"--queue-url", queue, "--region", "us-east-1"}, "bridge: no usable AWS credentials"},
	}
	// No credentials anywhere: no variables, no shared files, no instance role.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := runBridge(context.Background(), tt.args, stdio{err: &stderr})
			var usageErr usageError
			if !errors.As(err, &usageErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
}

func TestSplitBrokerList(t *testing.T) {
	got := splitBrokerList(" a:9092, ,b:9092,")
	if len(got) != 2 || got[0] != "a:9092" || got[1] != "b:9092" {
		t.Fatalf("got %q", got)
	}
}

func TestBridgeKafkaConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	config := "kafka:\n  brokers: [a:9092]\n  tls:\n    enabled: true\n  sasl:\n    mechanism: scram-sha-512\ninput:\n  topic: nslkdd.raw\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SAGEWALL_KAFKA_BROKERS":       "b:9096,c:9096",
		"SAGEWALL_KAFKA_SASL_USERNAME": "bridge",
		"SAGEWALL_KAFKA_SASL_PASSWORD": "secret",
		"SAGEWALL_SCORER":              "bogus", // only kafka.* variables are read (this one would fail validation)
	}
	cfg, err := bridgeKafkaConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Kafka.Brokers, ",") != "b:9096,c:9096" || !cfg.Kafka.TLS.Enabled ||
		cfg.Kafka.SASL.Mechanism != "scram-sha-512" || cfg.Kafka.SASL.Username != "bridge" {
		t.Errorf("kafka settings %+v", cfg.Kafka)
	}
	delete(env, "SAGEWALL_KAFKA_SASL_PASSWORD")
	if _, err := bridgeKafkaConfig(path, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password") {
		t.Errorf("missing SASL password: err %v", err)
	}
}

func TestBridgeHealthEndpoints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	stop := serveBridgeMetrics(context.Background(), ln, prometheus.NewRegistry(), ready.Load, slog.New(slog.DiscardHandler))
	defer stop()
	base := "http://" + ln.Addr().String()
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("/healthz") != 200 || status("/metrics") != 200 {
		t.Error("healthz or metrics not answering 200")
	}
	if got := status("/readyz"); got != 503 {
		t.Errorf("readyz before a successful poll: %d, want 503", got)
	}
	ready.Store(true)
	if got := status("/readyz"); got != 200 {
		t.Errorf("readyz after a successful poll: %d, want 200", got)
	}
}
