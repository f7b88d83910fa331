// Package sagemaker scores feature rows on an Amazon SageMaker endpoint that
// serves the built-in XGBoost container (or `sagewall serve`), one
// InvokeEndpoint request per micro-batch.
package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/retry"
	"github.com/sagewall/sagewall/scoring"
)

// InvokeAPI is the part of the sagemakerruntime client the scorer uses.
type InvokeAPI interface {
	InvokeEndpoint(ctx context.Context, in *sagemakerruntime.InvokeEndpointInput, optFns ...func(*sagemakerruntime.Options)) (*sagemakerruntime.InvokeEndpointOutput, error)
}

// LocalScorer is a local model (scoring.Detector) used as the fallback and as
// the category model when no category endpoint is configured.
type LocalScorer interface {
	Score(ctx context.Context, rows []float32, out []scoring.Result) error
	Info() scoring.Info
}

// ErrBreakerOpen is returned when the circuit breaker rejects a call.
var ErrBreakerOpen = errors.New("circuit breaker open")

// Scorer sends micro-batches to a SageMaker endpoint. It is safe for
// concurrent use; the in-flight limit is shared by all callers.
type Scorer struct {
	client           InvokeAPI
	endpoint         string
	categoryEndpoint string
	categoryClasses  []etl.Class
	width            int
	threshold        float64
	maxRows          int
	maxBytes         int
	timeout          time.Duration
	maxAttempts      int
	backoffBase      time.Duration
	backoffMax       time.Duration
	fallback         LocalScorer
	categorizer      LocalScorer
	logger           *slog.Logger
	registerer       prometheus.Registerer
	breakerThreshold int
	breakerCooldown  time.Duration
	concurrency      int

	inFlight chan struct{}
	breaker  *breaker
	metrics  *metrics
}

// Option configures a Scorer.
type Option func(*Scorer)

// WithWidth sets the feature-row width (default etl.Width, 122).
func WithWidth(n int) Option { return func(s *Scorer) { s.width = n } }

// WithThreshold sets the score at and above which a row is an attack (default 0.5).
func WithThreshold(t float64) Option { return func(s *Scorer) { s.threshold = t } }

// WithMaxRows caps the rows of one request (default 250); larger batches are split.
func WithMaxRows(n int) Option { return func(s *Scorer) { s.maxRows = n } }

// WithMaxBytes caps the body of one request (default and upper bound MaxPayloadBytes).
func WithMaxBytes(n int) Option { return func(s *Scorer) { s.maxBytes = n } }

// WithConcurrency sets how many requests may be in flight at once (default 4).
func WithConcurrency(n int) Option { return func(s *Scorer) { s.concurrency = n } }

// WithTimeout bounds one request (default 10s; the endpoint itself allows 60s).
func WithTimeout(d time.Duration) Option { return func(s *Scorer) { s.timeout = d } }

// WithRetry sets the attempts per request (default 4) and the jittered
// exponential backoff between them (default 100ms doubling up to 5s).
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(s *Scorer) { s.maxAttempts, s.backoffBase, s.backoffMax = attempts, base, max }
}

// WithBreaker opens the circuit after threshold consecutive failed attempts and
// keeps it open for cooldown (default 5 and 30s; threshold 0 disables it).
func WithBreaker(threshold int, cooldown time.Duration) Option {
	return func(s *Scorer) { s.breakerThreshold, s.breakerCooldown = threshold, cooldown }
}

// WithFallback scores a batch locally when the endpoint fails or the breaker is open.
func WithFallback(local LocalScorer) Option { return func(s *Scorer) { s.fallback = local } }

// WithCategoryEndpoint names a second endpoint serving a category model
// (multi:softprob, one probability per class of WithCategoryClasses); it is
// called for flagged rows only.
func WithCategoryEndpoint(name string) Option { return func(s *Scorer) { s.categoryEndpoint = name } }

// WithCategoryClasses names the classes of the category endpoint's model in
// its output order (default etl.Classes(), a 5-class model): for the bundled
// models' category model, the four attack classes
// (scoring.Detector.CategoryClasses).
func WithCategoryClasses(classes []etl.Class) Option {
	return func(s *Scorer) { s.categoryClasses = slices.Clone(classes) }
}

// WithCategorizer gives the local model whose category is used for flagged rows
// when no category endpoint is set (or it fails).
func WithCategorizer(local LocalScorer) Option { return func(s *Scorer) { s.categorizer = local } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Scorer) { s.logger = l } }

// WithRegisterer registers the scorer's metrics.
func WithRegisterer(reg prometheus.Registerer) Option { return func(s *Scorer) { s.registerer = reg } }

// New returns a Scorer for endpoint. The client should not retry on its own
// (NewClient configures that): the scorer owns retries, so the breaker sees every attempt.
func New(client InvokeAPI, endpoint string, opts ...Option) (*Scorer, error) {
	s := &Scorer{
		client:           client,
		endpoint:         endpoint,
		width:            etl.Width,
		threshold:        0.5,
		maxRows:          250,
		maxBytes:         MaxPayloadBytes,
		concurrency:      4,
		timeout:          10 * time.Second,
		maxAttempts:      4,
		backoffBase:      100 * time.Millisecond,
		backoffMax:       5 * time.Second,
		breakerThreshold: 5,
		breakerCooldown:  30 * time.Second,
		logger:           slog.Default(),
		categoryClasses:  etl.Classes(),
	}
	for _, opt := range opts {
		opt(s)
	}
	switch {
	case client == nil:
		return nil, errors.New("creating sagemaker scorer: nil client")
	case endpoint == "":
		return nil, errors.New("creating sagemaker scorer: empty endpoint name")
	case s.width <= 0 || s.maxRows <= 0 || s.concurrency <= 0 || s.maxAttempts <= 0 || s.timeout <= 0:
		return nil, fmt.Errorf("creating sagemaker scorer: width %d, max rows %d, concurrency %d, attempts %d and timeout %v must be positive",
			s.width, s.maxRows, s.concurrency, s.maxAttempts, s.timeout)
	case s.maxBytes <= 0 || s.maxBytes > MaxPayloadBytes:
		return nil, fmt.Errorf("creating sagemaker scorer: max bytes %d outside 1..%d", s.maxBytes, MaxPayloadBytes)
	}
	if err := scoring.CheckCategoryClasses(s.categoryClasses); err != nil {
		return nil, fmt.Errorf("creating sagemaker scorer: %w", err)
	}
	m, err := newMetrics(s.registerer)
	if err != nil {
		return nil, fmt.Errorf("registering sagemaker metrics: %w", err)
	}
	s.metrics = m
	s.inFlight = make(chan struct{}, s.concurrency)
	s.breaker = newBreaker(s.breakerThreshold, s.breakerCooldown, time.Now)
	return s, nil
}

// Info names the endpoint as the model.
func (s *Scorer) Info() scoring.Info {
	return scoring.Info{Name: "sagemaker:" + s.endpoint, Version: "endpoint"}
}

// FallbackInfo is the model info of rows scored by the local fallback: the
// local model's info with "+fallback" appended to the name.
func (s *Scorer) FallbackInfo() scoring.Info {
	if s.fallback == nil {
		return scoring.Info{}
	}
	info := s.fallback.Info()
	info.Name += "+fallback"
	return info
}

// Score scores len(out) rows laid out flat in rows, like scoring.Detector.
func (s *Scorer) Score(ctx context.Context, rows []float32, out []scoring.Result) error {
	return s.ScoreWithSource(ctx, rows, out, nil)
}

// ScoreWithSource is Score that also reports which rows the local fallback
// scored (fellBack[i] true; len(fellBack) == len(out), or nil to skip), so the
// verdict can carry FallbackInfo instead of Info.
func (s *Scorer) ScoreWithSource(ctx context.Context, rows []float32, out []scoring.Result, fellBack []bool) error {
	if len(rows) != len(out)*s.width {
		return fmt.Errorf("scoring on sagemaker: %d values for %d rows of width %d", len(rows), len(out), s.width)
	}
	if fellBack != nil && len(fellBack) != len(out) {
		return fmt.Errorf("scoring on sagemaker: %d fallback flags for %d rows", len(fellBack), len(out))
	}
	chunks, err := s.split(rows, len(out))
	if err != nil {
		return err
	}
	// Each chunk writes only its own slice of out, so source order holds
	// however the requests interleave.
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for i, c := range chunks {
		select {
		case s.inFlight <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("scoring on sagemaker: %w", ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.inFlight }()
			var flags []bool
			if fellBack != nil {
				flags = fellBack[c.lo:c.hi]
			}
			errs[i] = s.scoreChunk(ctx, c, rows[c.lo*s.width:c.hi*s.width], out[c.lo:c.hi], flags)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("scoring on sagemaker: %w", err)
	}
	return nil
}

// chunk is rows [lo, hi) of a batch and their text/csv request body.
type chunk struct {
	lo, hi int
	body   []byte
}

// split cuts a batch into requests capped by rows and by payload bytes.
func (s *Scorer) split(rows []float32, n int) ([]chunk, error) {
	var chunks []chunk
	var line []byte
	cur := chunk{}
	for i := range n {
		line = AppendCSVRow(line[:0], rows[i*s.width:(i+1)*s.width])
		if len(line) > s.maxBytes {
			return nil, fmt.Errorf("scoring on sagemaker: row %d is %d bytes, over the %d-byte payload limit", i, len(line), s.maxBytes)
		}
		if cur.hi > cur.lo && (cur.hi-cur.lo == s.maxRows || len(cur.body)+len(line) > s.maxBytes) {
			chunks = append(chunks, cur)
			cur = chunk{lo: i, hi: i}
		}
		cur.body = append(cur.body, line...)
		cur.hi = i + 1
	}
	if cur.hi > cur.lo {
		chunks = append(chunks, cur)
	}
	return chunks, nil
}

func (s *Scorer) scoreChunk(ctx context.Context, c chunk, rows []float32, out []scoring.Result, fellBack []bool) error {
	n := c.hi - c.lo
	scores := make([]float32, n)
	if err := s.invoke(ctx, s.endpoint, c.body, n, 1, scores); err != nil {
		if s.fallback == nil || ctx.Err() != nil {
			return fmt.Errorf("rows %d-%d: %w", c.lo, c.hi-1, err)
		}
		s.logger.WarnContext(ctx, "scoring on the local fallback model", "endpoint", s.endpoint, "rows", n, "err", err)
		s.metrics.fallbackRows.Add(float64(n))
		if err := s.fallback.Score(ctx, rows, out); err != nil {
			return fmt.Errorf("rows %d-%d: scoring on the fallback model: %w", c.lo, c.hi-1, err)
		}
		for i := range fellBack {
			fellBack[i] = true
		}
		return nil
	}
	var flagged []int
	for i, p := range scores {
		// Same shape as scoring.Detector: a row not flagged is Normal with 1 - score.
		out[i] = scoring.Result{Score: p, Attack: float64(p) >= s.threshold, Category: etl.Normal, CategoryProb: 1 - p}
		if out[i].Attack {
			out[i].CategoryProb = 0
			flagged = append(flagged, i)
		}
	}
	if len(flagged) == 0 {
		return nil
	}
	if err := s.categorize(ctx, rows, out, flagged); err != nil {
		return fmt.Errorf("rows %d-%d: %w", c.lo, c.hi-1, err)
	}
	return nil
}

// categorize fills Category and CategoryProb of the flagged rows from the
// category endpoint, or from the local categorizer when there is none or it fails.
func (s *Scorer) categorize(ctx context.Context, rows []float32, out []scoring.Result, flagged []int) error {
	var err error
	if s.categoryEndpoint != "" {
		classes := s.categoryClasses
		var body []byte
		for _, i := range flagged {
			body = AppendCSVRow(body, rows[i*s.width:(i+1)*s.width])
		}
		probs := make([]float32, len(flagged)*len(classes))
		if err = s.invoke(ctx, s.categoryEndpoint, body, len(flagged), len(classes), probs); err == nil {
			for k, i := range flagged {
				// As the local Detector does with its two models.
				out[i].Category, out[i].CategoryProb = scoring.FlaggedCategory(classes, probs[k*len(classes):(k+1)*len(classes)])
			}
			return nil
		}
		if s.categorizer == nil {
			return fmt.Errorf("categorizing: %w", err)
		}
		s.logger.WarnContext(ctx, "categorizing on the local model", "endpoint", s.categoryEndpoint, "err", err)
	}
	if s.categorizer == nil {
		return nil
	}
	sub := make([]float32, 0, len(flagged)*s.width)
	for _, i := range flagged {
		sub = append(sub, rows[i*s.width:(i+1)*s.width]...)
	}
	local := make([]scoring.Result, len(flagged))
	if err := s.categorizer.Score(ctx, sub, local); err != nil {
		return fmt.Errorf("categorizing on the local model: %w", err)
	}
	for k, i := range flagged {
		out[i].Category, out[i].CategoryProb = local[k].Category, local[k].CategoryProb
	}
	return nil
}

// invoke sends one request, retrying throttling, 5xx, timeouts and transport
// errors with jittered exponential backoff, and parses rows*perRow probabilities into dst.
func (s *Scorer) invoke(ctx context.Context, endpoint string, body []byte, rows, perRow int, dst []float32) error {
	var lastErr error
	for attempt := 1; ; attempt++ {
		if !s.breaker.allow() {
			s.metrics.errors.WithLabelValues("breaker_open").Inc()
			if lastErr != nil {
				return fmt.Errorf("invoking endpoint %s: %w after %w", endpoint, ErrBreakerOpen, lastErr)
			}
			return fmt.Errorf("invoking endpoint %s: %w", endpoint, ErrBreakerOpen)
		}
		err := s.invokeOnce(ctx, endpoint, body, rows, perRow, dst)
		if err == nil {
			s.breaker.success()
			s.metrics.breakerOpen.Set(0)
			return nil
		}
		kind := classify(ctx, err)
		s.metrics.errors.WithLabelValues(kind).Inc()
		if !retryable(kind) {
			return fmt.Errorf("invoking endpoint %s (%s): %w", endpoint, kind, err)
		}
		if s.breaker.failure() {
			s.metrics.breakerOpen.Set(1)
		}
		lastErr = err
		if attempt >= s.maxAttempts {
			return fmt.Errorf("invoking endpoint %s: giving up after %d attempts (%s): %w", endpoint, attempt, kind, err)
		}
		s.logger.DebugContext(ctx, "retrying sagemaker call", "endpoint", endpoint, "attempt", attempt, "type", kind, "err", err)
		if err := retry.Sleep(ctx, retry.Backoff(attempt, s.backoffBase, s.backoffMax)); err != nil {
			return fmt.Errorf("invoking endpoint %s: %w", endpoint, err)
		}
	}
}

func (s *Scorer) invokeOnce(ctx context.Context, endpoint string, body []byte, rows, perRow int, dst []float32) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	resp, err := s.client.InvokeEndpoint(rctx, &sagemakerruntime.InvokeEndpointInput{
		EndpointName: aws.String(endpoint),
		ContentType:  aws.String("text/csv"),
		Accept:       aws.String("text/csv"),
		Body:         body,
	})
	s.metrics.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	s.metrics.rowsPerCall.Observe(float64(rows))
	if err == nil {
		err = ParsePredictions(aws.ToString(resp.ContentType), resp.Body, rows, perRow, dst)
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.metrics.calls.WithLabelValues(endpoint, outcome).Inc()
	return err
}

// classify names the failure for metrics and decides retries.
func classify(ctx context.Context, err error) string {
	var parseErr *ParseError
	var modelErr *types.ModelError
	var apiErr smithy.APIError
	var respErr *awshttp.ResponseError
	var netErr net.Error
	switch {
	case ctx.Err() != nil:
		return "canceled"
	case errors.As(err, &parseErr):
		return "parse"
	case errors.As(err, &modelErr):
		// The container answered an error; SageMaker reports its status.
		code := int(aws.ToInt32(modelErr.OriginalStatusCode))
		switch {
		case code == 429:
			return "throttled"
		case code >= 500:
			return "server"
		}
		return "model"
	case errors.As(err, &apiErr) && isThrottleCode(apiErr.ErrorCode()):
		return "throttled"
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() == 429:
		return "throttled"
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500:
		return "server"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &respErr):
		return "client"
	default:
		return "transport"
	}
}

func isThrottleCode(code string) bool {
	switch code {
	case "ThrottlingException", "ThrottledException", "TooManyRequestsException", "ModelNotReadyException":
		return true
	}
	return false
}

func retryable(kind string) bool {
	switch kind {
	case "throttled", "server", "timeout", "transport":
		return true
	}
	return false
}
