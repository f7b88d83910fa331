package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
	"github.com/sagewall/sagewall/sinks"
)

// failingEndpoint is `sagewall serve`'s handler behind SageMaker's runtime
// path, answering 503 ServiceUnavailable to every request holding a row
// whose column failColumn is 1, so which rows fall back is known.
func failingEndpoint(t *testing.T, det *scoring.Detector, failColumn int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	inner := serve.NewHandler(det)
	var failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/endpoints/") || !strings.HasSuffix(r.URL.Path, "/invocations") {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
			return
		}
		var body bytes.Buffer
		if _, err := body.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for line := range strings.Lines(body.String()) {
			cells := strings.Split(strings.TrimSpace(line), ",")
			if v, err := strconv.ParseFloat(cells[failColumn], 64); err == nil && v == 1 {
				failed.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Amzn-ErrorType", "ServiceUnavailable")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"message":"injected ServiceUnavailable"}`)
				return
			}
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/invocations"
		r2.Body = io.NopCloser(&body)
		inner.ServeHTTP(w, r2)
	}))
	t.Cleanup(srv.Close)
	return srv, &failed
}

// The SageMaker scorer falls back to the local model for the requests the
// endpoint fails; those rows' verdicts name the fallback model, the others
// the endpoint, and every score is the local model's (serve runs it too).
func TestPipelineMarksFallbackRows(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(1, "raw", "verdicts", "dlq"))
	const n = 300
	lines := trainLines(t, n)
	produce(t, brokers, "raw", lines)

	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	udp := slices.Index(det.Spec().ColumnNames(), "protocol_type_udp")
	if udp < 0 {
		t.Fatal("no protocol_type_udp column in the bundled spec")
	}
	srv, failed := failingEndpoint(t, det, udp)
	client := sagemakerruntime.New(sagemakerruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   srv.Client(),
	})
	// One row per request, so exactly the udp rows fall back.
	scorer, err := sagemaker.New(client, "ids",
		sagemaker.WithWidth(det.Spec().Width()), sagemaker.WithThreshold(det.Threshold()),
		sagemaker.WithMaxRows(1), sagemaker.WithRetry(1, time.Millisecond, time.Millisecond), sagemaker.WithBreaker(0, 0),
		sagemaker.WithFallback(det), sagemaker.WithCategorizer(det),
		sagemaker.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}

	reader := NewReader(Conn{Brokers: brokers}, "fallback", "raw")
	sink := sinks.NewKafka(brokers, "verdicts", sinks.WithDeadLetterTopic("dlq"), sinks.WithFormat(sinks.JSONFormat{Record: true}))
	p, err := New(reader, scorer, WithSpec(det.Spec()), WithModel(scorer.Info(), det.Threshold()),
		WithSinks(sink), WithDeadLetters(sink), WithCommitInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tp := &testPipeline{p: p, reader: reader, sink: sink, cancel: cancel, done: make(chan error, 1)}
	go func() { tp.done <- p.Run(ctx) }()
	waitCommitted(t, brokers, "fallback", tp, 60*time.Second)
	if err := tp.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// The local model's results, for the score check.
	enc := etl.NewEncoder(det.Spec())
	rows := make([]float32, n*det.Spec().Width())
	var rec etl.Record
	for i, line := range lines {
		if err := enc.Encode(line, &rec, rows[i*det.Spec().Width():(i+1)*det.Spec().Width()]); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	want := make([]scoring.Result, n)
	if err := det.Score(context.Background(), rows, want); err != nil {
		t.Fatal(err)
	}

	endpointInfo, fallbackInfo := scorer.Info(), scorer.FallbackInfo()
	byModel := map[string]int{}
	for _, m := range readAll(t, brokers, "verdicts")[0] {
		var v struct {
			Score  float32
			Model  scoring.Info
			Record struct {
				ProtocolType string `json:"protocol_type"`
			}
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("verdict %s: %v", m.Key, err)
		}
		_, offset := sourceOf(t, m.Key)
		wantInfo := endpointInfo
		if v.Record.ProtocolType == "udp" {
			wantInfo = fallbackInfo
		}
		if v.Model != wantInfo {
			t.Errorf("verdict %s (%s): model %+v, want %+v", m.Key, v.Record.ProtocolType, v.Model, wantInfo)
		}
		if v.Score != want[offset].Score {
			t.Errorf("verdict %s: score %v, want the local model's %v", m.Key, v.Score, want[offset].Score)
		}
		byModel[v.Model.Name]++
	}
	t.Logf("verdicts by model: %v; requests failed: %d", byModel, failed.Load())
	if byModel[endpointInfo.Name]+byModel[fallbackInfo.Name] != n {
		t.Fatalf("verdicts by model %v, want %d in all", byModel, n)
	}
	if byModel[fallbackInfo.Name] == 0 || byModel[endpointInfo.Name] == 0 {
		t.Fatalf("verdicts by model %v: want both the endpoint and the fallback", byModel)
	}
	if got := int64(byModel[fallbackInfo.Name]); got != failed.Load() {
		t.Errorf("%d fallback verdicts, want one per failed request (%d)", got, failed.Load())
	}
}
