package sagemaker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
)

// fault is what the test middleware does to one request before (or instead
// of) handing it to the real serve handler.
type fault struct {
	status int           // answer with this status and AWS error code instead
	code   string        // X-Amzn-ErrorType
	delay  time.Duration // wait first (bounded by the request's context)
}

// endpoint is `sagewall serve`'s handler behind the path SageMaker's runtime
// API uses, with scripted faults in front.
type endpoint struct {
	srv *httptest.Server

	mu       sync.Mutex
	faults   []fault // consumed one per request
	always   *fault  // applied when faults is empty
	calls    atomic.Int64
	maxBody  atomic.Int64
	maxInFly atomic.Int64
	inFly    atomic.Int64
}

func newEndpoint(t testing.TB, model serve.Model) *endpoint {
	t.Helper()
	e := &endpoint{}
	inner := serve.NewHandler(model)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		defer e.inFly.Add(-1)
		if n := e.inFly.Add(1); n > e.maxInFly.Load() {
			e.maxInFly.Store(n)
		}
		if r.ContentLength > e.maxBody.Load() {
			e.maxBody.Store(r.ContentLength)
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/endpoints/")
		if !ok || !strings.HasSuffix(name, "/invocations") {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
			return
		}
		f := e.next()
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", f.code)
			w.WriteHeader(f.status)
			fmt.Fprintf(w, `{"message":"injected %s"}`, f.code)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/invocations"
		inner.ServeHTTP(w, r2)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) next() fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.faults) > 0 {
		f := e.faults[0]
		e.faults = e.faults[1:]
		return f
	}
	if e.always != nil {
		return *e.always
	}
	return fault{}
}

func (e *endpoint) set(faults []fault, always *fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults, e.always = faults, always
}

// client is the real aws-sdk-go-v2 client pointed at the test endpoint.
func (e *endpoint) client() *sagemakerruntime.Client {
	return sagemakerruntime.New(sagemakerruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   e.srv.Client(),
	})
}

func detector(t *testing.T) *scoring.Detector {
	t.Helper()
	d, err := scoring.Bundled()
	if err != nil {
		t.Fatalf("loading bundled model: %v", err)
	}
	return d
}

// trainRows encodes the first n records of KDDTrain+ (20%).
func trainRows(t testing.TB, d *scoring.Detector, n int) []float32 {
	t.Helper()
	f, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	width := d.Spec().Width()
	enc := etl.NewEncoder(d.Spec())
	var rec etl.Record
	rows := make([]float32, n*width)
	sc := bufio.NewScanner(f)
	for i := range n {
		if !sc.Scan() {
			t.Fatalf("KDDTrain+ (20%%) has fewer than %d lines", n)
		}
		if err := enc.Encode(sc.Bytes(), &rec, rows[i*width:(i+1)*width]); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
	}
	return rows
}

func newScorer(t *testing.T, e *endpoint, opts ...sagemaker.Option) *sagemaker.Scorer {
	t.Helper()
	opts = append([]sagemaker.Option{sagemaker.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	s, err := sagemaker.New(e.client(), "sagewall-test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func localResults(t *testing.T, d *scoring.Detector, rows []float32) []scoring.Result {
	t.Helper()
	want := make([]scoring.Result, len(rows)/d.Spec().Width())
	if err := d.Score(context.Background(), rows, want); err != nil {
		t.Fatal(err)
	}
	return want
}

func assertSameResults(t *testing.T, got, want []scoring.Result) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i].Score-want[i].Score)) > 1e-6 || got[i].Attack != want[i].Attack ||
			got[i].Category != want[i].Category || got[i].CategoryProb != want[i].CategoryProb {
			t.Fatalf("row %d: endpoint gave %+v, local model %+v", i, got[i], want[i])
		}
	}
}

func TestScorerMatchesLocalDetectorInOrder(t *testing.T) {
	d := detector(t)
	e := newEndpoint(t, d)
	// Jittered delays make later requests finish first; the verdicts must
	// still line up with their rows.
	e.set([]fault{{delay: 80 * time.Millisecond}, {delay: 40 * time.Millisecond}, {}, {delay: 20 * time.Millisecond}}, nil)
	reg := prometheus.NewRegistry()
	s := newScorer(t, e, sagemaker.WithMaxRows(256), sagemaker.WithConcurrency(4),
		sagemaker.WithCategorizer(d), sagemaker.WithRegisterer(reg))
	const n = 3000
	rows := trainRows(t, d, n)
	got := make([]scoring.Result, n)
	fellBack := make([]bool, n)
	if err := s.ScoreWithSource(context.Background(), rows, got, fellBack); err != nil {
		t.Fatal(err)
	}
	assertSameResults(t, got, localResults(t, d, rows))
	for i, f := range fellBack {
		if f {
			t.Fatalf("row %d marked as fallback without a failure", i)
		}
	}
	if calls, want := e.calls.Load(), int64((n+255)/256); calls != want {
		t.Errorf("endpoint calls = %d, want %d (one per 256 rows)", calls, want)
	}
	if e.maxInFly.Load() < 2 {
		t.Errorf("at most %d request in flight, want several", e.maxInFly.Load())
	}
	if ok := counter(t, reg, "sagewall_sagemaker_calls_total", "outcome", "ok"); ok != 12 {
		t.Errorf("ok calls metric = %v, want 12", ok)
	}
}

func TestScorerSplitsAtPayloadLimit(t *testing.T) {
	d := detector(t)
	e := newEndpoint(t, d)
	const limit = 16 << 10
	s := newScorer(t, e, sagemaker.WithMaxBytes(limit), sagemaker.WithCategorizer(d))
	rows := trainRows(t, d, 1000)
	got := make([]scoring.Result, 1000)
	if err := s.Score(context.Background(), rows, got); err != nil {
		t.Fatal(err)
	}
	assertSameResults(t, got, localResults(t, d, rows))
	if e.maxBody.Load() > limit {
		t.Errorf("largest request %d bytes, over the %d limit", e.maxBody.Load(), limit)
	}
	if e.calls.Load() < 2 {
		t.Errorf("%d calls: the batch was not split", e.calls.Load())
	}
}

func TestScorerRetries(t *testing.T) {
	tests := []struct {
		name       string
		faults     []fault
		timeout    time.Duration
		errorType  string
		wantCalls  int64
		wantErrors float64
	}{
		{"throttled", []fault{{status: 400, code: "ThrottlingException"}, {status: 429, code: "ModelNotReadyException"}}, time.Second, "throttled", 3, 2},
		{"5xx", []fault{{status: 503, code: "ServiceUnavailable"}, {status: 500, code: "InternalFailure"}}, time.Second, "server", 3, 2},
		{"slow", []fault{{delay: 2 * time.Second}}, 500 * time.Millisecond, "timeout", 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := detector(t)
			e := newEndpoint(t, d)
			e.set(tt.faults, nil)
			reg := prometheus.NewRegistry()
			s := newScorer(t, e, sagemaker.WithTimeout(tt.timeout), sagemaker.WithRetry(4, time.Millisecond, 10*time.Millisecond),
				sagemaker.WithCategorizer(d), sagemaker.WithRegisterer(reg))
			rows := trainRows(t, d, 50)
			got := make([]scoring.Result, 50)
			if err := s.Score(context.Background(), rows, got); err != nil {
				t.Fatal(err)
			}
			assertSameResults(t, got, localResults(t, d, rows))
			if calls := e.calls.Load(); calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if n := counter(t, reg, "sagewall_sagemaker_errors_total", "type", tt.errorType); n != tt.wantErrors {
				t.Errorf("%s errors = %v, want %v", tt.errorType, n, tt.wantErrors)
			}
		})
	}
}

func TestScorerDoesNotRetryClientErrors(t *testing.T) {
	d := detector(t)
	e := newEndpoint(t, d)
	e.set(nil, &fault{status: 400, code: "ValidationError"})
	s := newScorer(t, e, sagemaker.WithRetry(4, time.Millisecond, time.Millisecond))
	err := s.Score(context.Background(), trainRows(t, d, 10), make([]scoring.Result, 10))
	if err == nil || !strings.Contains(err.Error(), "ValidationError") {
		t.Fatalf("err = %v, want the ValidationError", err)
	}
	if e.calls.Load() != 1 {
		t.Errorf("calls = %d, want 1", e.calls.Load())
	}
}

func TestScorerBreakerAndFallback(t *testing.T) {
	d := detector(t)
	e := newEndpoint(t, d)
	e.set(nil, &fault{status: 503, code: "ServiceUnavailable"})
	reg := prometheus.NewRegistry()
	const cooldown = time.Second
	s := newScorer(t, e, sagemaker.WithMaxRows(100), sagemaker.WithConcurrency(1),
		sagemaker.WithRetry(2, time.Millisecond, time.Millisecond), sagemaker.WithBreaker(3, cooldown),
		sagemaker.WithFallback(d), sagemaker.WithCategorizer(d), sagemaker.WithRegisterer(reg))
	rows := trainRows(t, d, 400)
	want := localResults(t, d, rows)

	got := make([]scoring.Result, 400)
	fellBack := make([]bool, 400)
	if err := s.ScoreWithSource(context.Background(), rows, got, fellBack); err != nil {
		t.Fatal(err)
	}
	assertSameResults(t, got, want)
	for i, f := range fellBack {
		if !f {
			t.Fatalf("row %d not marked as fallback", i)
		}
	}
	// Chunk 1: 2 attempts; chunk 2: its first attempt opens the breaker and
	// its retry is rejected; chunks 3-4: rejected without a call.
	if calls := e.calls.Load(); calls != 3 {
		t.Errorf("calls = %d, want 3 (breaker open after 3 failures)", calls)
	}
	if n := counter(t, reg, "sagewall_sagemaker_errors_total", "type", "breaker_open"); n != 3 {
		t.Errorf("breaker_open rejections = %v, want 3", n)
	}
	if n := counter(t, reg, "sagewall_sagemaker_fallback_rows_total"); n != 400 {
		t.Errorf("fallback rows = %v, want 400", n)
	}
	if info := s.FallbackInfo(); info.Name != d.Info().Name+"+fallback" {
		t.Errorf("fallback info name = %q", info.Name)
	}

	// After the cooldown a probe goes through; the healed endpoint closes the breaker.
	e.set(nil, nil)
	time.Sleep(cooldown + 100*time.Millisecond)
	clear(fellBack)
	if err := s.ScoreWithSource(context.Background(), rows, got, fellBack); err != nil {
		t.Fatal(err)
	}
	assertSameResults(t, got, want)
	for i, f := range fellBack {
		if f {
			t.Fatalf("row %d still on the fallback after the endpoint healed", i)
		}
	}
	if calls := e.calls.Load(); calls != 3+4 {
		t.Errorf("calls = %d, want 7", calls)
	}
}

func TestScorerWithoutFallbackFails(t *testing.T) {
	d := detector(t)
	e := newEndpoint(t, d)
	e.set(nil, &fault{status: 503, code: "ServiceUnavailable"})
	s := newScorer(t, e, sagemaker.WithRetry(3, time.Millisecond, time.Millisecond), sagemaker.WithBreaker(0, 0))
	err := s.Score(context.Background(), trainRows(t, d, 10), make([]scoring.Result, 10))
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("err = %v, want giving up after 3 attempts", err)
	}
	if errors.Is(err, sagemaker.ErrBreakerOpen) {
		t.Errorf("breaker disabled but err = %v", err)
	}
}

func TestScorerRejectsBadShapes(t *testing.T) {
	d := detector(t)
	e := newEndpoint(t, d)
	s := newScorer(t, e)
	if err := s.Score(context.Background(), make([]float32, 121), make([]scoring.Result, 1)); err == nil {
		t.Fatal("121 values for one row accepted")
	}
	if e.calls.Load() != 0 {
		t.Errorf("bad input reached the endpoint")
	}
}

// counter reads a registered counter series; labels are name=value pairs.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// categoryEndpoint answers like the built-in XGBoost container serving the
// bundled category model: its classes' probabilities, comma-separated, one
// line per CSV row.
func categoryEndpoint(t *testing.T, model scoring.Model) http.Handler {
	t.Helper()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		row := make([]float32, model.NumFeature())
		probs := make([]float32, model.NumClass())
		var out []byte
		for sc.Scan() {
			for k, cell := range strings.Split(sc.Text(), ",") {
				v, err := strconv.ParseFloat(cell, 32)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				row[k] = float32(v)
			}
			model.Predict(row, probs)
			for k, p := range probs {
				if k > 0 {
					out = append(out, ',')
				}
				out = strconv.AppendFloat(out, float64(p), 'g', -1, 32)
			}
			out = append(out, '\n')
		}
		w.Header().Set("Content-Type", "text/csv")
		_, _ = w.Write(out)
	})
}

// TestScorerCategoryEndpoint: a category endpoint serving the bundled
// category model (the 4 attack classes) gives flagged rows the local
// detector's categories when the scorer knows its classes; told the 5 of
// etl.Classes() instead, its answers do not parse and the local categorizer
// takes over, or the batch fails without one.
func TestScorerCategoryEndpoint(t *testing.T) {
	d := detector(t)
	category, err := scoring.ParseModel(testenv.Gunzip(t, "../bundled/category.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var categoryCalls atomic.Int64
	binary := serve.NewHandler(d)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/endpoints/sagewall-test/invocations":
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/invocations"
			binary.ServeHTTP(w, r2)
		case "/endpoints/sagewall-category/invocations":
			categoryCalls.Add(1)
			categoryEndpoint(t, category).ServeHTTP(w, r)
		default:
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	e := &endpoint{srv: srv}
	rows := trainRows(t, d, 300)
	want := localResults(t, d, rows)

	for _, tc := range []struct {
		name    string
		opts    []sagemaker.Option
		wantErr string
	}{
		{"the model's classes", []sagemaker.Option{sagemaker.WithCategoryClasses(d.CategoryClasses())}, ""},
		{"etl.Classes(), the local categorizer takes over", []sagemaker.Option{sagemaker.WithCategorizer(d)}, ""},
		{"etl.Classes(), no local categorizer", nil, "categorizing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			categoryCalls.Store(0)
			opts := append([]sagemaker.Option{sagemaker.WithCategoryEndpoint("sagewall-category"), sagemaker.WithRetry(1, time.Millisecond, time.Millisecond)}, tc.opts...)
			s := newScorer(t, e, opts...)
			got := make([]scoring.Result, len(want))
			err := s.Score(context.Background(), rows, got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertSameResults(t, got, want)
			if categoryCalls.Load() == 0 {
				t.Error("the category endpoint was not called")
			}
		})
	}
}

func TestNewRefusesCategoryClassesWithoutAnAttack(t *testing.T) {
	_, err := sagemaker.New(&sagemakerruntime.Client{}, "e", sagemaker.WithCategoryClasses([]etl.Class{etl.Normal}))
	if err == nil || !strings.Contains(err.Error(), "no attack class") {
		t.Fatalf("err = %v, want no attack class", err)
	}
}
