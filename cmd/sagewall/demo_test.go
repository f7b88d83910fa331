package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func TestDemoJSONSummary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"demo", "--records", "6000", "--bad-every", "1000", "--partitions", "3", "--json"},
		stdio{out: &stdout, err: &stderr})
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var s demoSummary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if s.Consumed != 6000 || s.Verdicts != 5994 || s.Rejected != 6 || s.Committed != 6000 {
		t.Fatalf("summary = %+v; want 6000 consumed, 5994 verdicts, 6 rejected, 6000 committed", s)
	}
	if len(s.Partitions) != 3 {
		t.Fatalf("partitions = %+v, want 3", s.Partitions)
	}
	for _, p := range s.Partitions {
		if p.Committed != p.End || p.End != 2000 {
			t.Fatalf("partition %+v: want 2000 committed of 2000", p)
		}
	}
	c := s.Confusion
	if c.Labelled()+c.Unlabelled != s.Verdicts {
		t.Fatalf("confusion %+v counts %d verdicts, want %d", c, c.Labelled()+c.Unlabelled, s.Verdicts)
	}
	if s.LatencyP50 <= 0 || s.LatencyP99 < s.LatencyP50 {
		t.Fatalf("latency p50 %g s, p99 %g s", s.LatencyP50, s.LatencyP99)
	}
	if s.Accuracy < 0.95 || s.DurationSeconds <= 0 || s.RecordsPerSecond <= 0 {
		t.Fatalf("accuracy %.4f, duration %.2f s, %.0f records/s", s.Accuracy, s.DurationSeconds, s.RecordsPerSecond)
	}
	if !strings.Contains(stderr.String(), "model sagewall-nslkdd 3.0.0, threshold 0.5508: the model's operating point") {
		t.Errorf("the demo does not say which model and threshold it uses:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "Kafka-protocol broker on 127.0.0.1:") {
		t.Fatalf("stderr does not print the broker address:\n%s", stderr.String())
	}
}

func TestDemoFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--records", "-1"}, {"--source", "pcap"}, {"--rate", "-1"}, {"--partitions", "0"}, {"--format", "xml"}, {"--port", "70000"}, {"extra"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"demo"}, args...), stdio{out: &bytes.Buffer{}, err: &stderr}); code != 2 {
			t.Errorf("demo %v: exit %d, want 2 (stderr %s)", args, code, stderr.String())
		}
	}
}

func TestBucketQuantile(t *testing.T) {
	bucket := func(upper float64, count uint64) *dto.Bucket {
		return &dto.Bucket{UpperBound: &upper, CumulativeCount: &count}
	}
	count := uint64(100)
	h := &dto.Histogram{SampleCount: &count, Bucket: []*dto.Bucket{bucket(0.001, 50), bucket(0.01, 90), bucket(0.1, 100)}}
	for _, tt := range []struct{ q, want float64 }{{0.25, 0.0005}, {0.5, 0.001}, {0.7, 0.0055}, {0.99, 0.091}} {
		if got := bucketQuantile(h, tt.q); got < tt.want*0.999 || got > tt.want*1.001 {
			t.Errorf("q%.2f = %g, want %g", tt.q, got, tt.want)
		}
	}
}
