// Package dashboard is the web dashboard of sagewall: one page, embedded in
// the binary, where an analyst pastes records and gets a verdict per record
// (the prototype's Streamlit app), and a live view of the stream pushed by
// Server-Sent Events. The page is plain HTML, CSS and JavaScript with no
// build step and makes no request outside the server it came from.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

//go:embed web
var webFiles embed.FS

// Scorer scores rows like scoring.Detector and names its model; the
// SageMaker scorer satisfies it too.
type Scorer interface {
	Score(ctx context.Context, rows []float32, out []scoring.Result) error
	Info() scoring.Info
}

// LocalModel is the local detector: it fixes the feature layout, and its
// categories fill in rows that only the page's threshold flags.
type LocalModel interface {
	Scorer
	Spec() *etl.Spec
}

// Scorer choices offered to the analyst.
const (
	ScorerLocal     = "local"
	ScorerSageMaker = "sagemaker"
)

// Defaults of the analyze API.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxRecords   = 1000
	// DefaultUpdateInterval is how often the live view is pushed: a few
	// summaries a second, whatever the record rate.
	DefaultUpdateInterval = 250 * time.Millisecond
)

// Handler serves the page, its assets and its JSON API:
//
//	GET  /             the page
//	GET  /assets/...   its CSS and JavaScript
//	GET  /api/info     models, default threshold, whether the live view is on
//	POST /api/analyze  verdicts for pasted records
//	GET  /api/live     Server-Sent Events, one "summary" event per interval
//	GET  /api/alerts   the alert history, filtered (AlertFilter), newest first
//	GET  /api/alerts/export?format=csv|json  every alert the filter selects, as a file
//	GET  /api/alerts/{id}  one alert with its verdict document and explanation
//	GET  /api/whatif?threshold=t  precision and detection rate of t on the labelled stream
//
// Mount it under a prefix with http.StripPrefix.
type Handler struct {
	local        LocalModel
	sagemaker    Scorer // nil when no endpoint is configured
	live         *Live
	status       func() PipelineStatus
	threshold    float64
	maxBodyBytes int64
	maxRecords   int
	interval     time.Duration
	logger       *slog.Logger

	mux       *http.ServeMux
	closed    chan struct{}
	closeOnce sync.Once
}

// Option configures a Handler.
type Option func(*Handler)

// WithSageMaker offers the SageMaker endpoint's scorer beside the local model.
func WithSageMaker(s Scorer) Option { return func(h *Handler) { h.sagemaker = s } }

// WithLive turns the live view on: live is a sink of the pipeline, status
// reports what only the pipeline knows (dead letters, lag); nil status reports nothing.
func WithLive(live *Live, status func() PipelineStatus) Option {
	return func(h *Handler) { h.live, h.status = live, status }
}

// WithThreshold sets the slider's starting position (default 0.5, the pipeline's threshold).
func WithThreshold(t float64) Option { return func(h *Handler) { h.threshold = t } }

// WithMaxBodyBytes caps an analyze request (default 1 MiB).
func WithMaxBodyBytes(n int64) Option { return func(h *Handler) { h.maxBodyBytes = n } }

// WithMaxRecords caps the records of one analyze request (default 1000).
func WithMaxRecords(n int) Option { return func(h *Handler) { h.maxRecords = n } }

// WithUpdateInterval sets how often the live view is pushed (default 250 ms).
func WithUpdateInterval(d time.Duration) Option { return func(h *Handler) { h.interval = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.logger = l } }

// New returns the dashboard over the local model. The page applies its own
// threshold, so local should be a detector loaded with threshold 0: then it
// categorises every row, not only those its own threshold flags.
func New(local LocalModel, opts ...Option) (*Handler, error) {
	if local == nil {
		return nil, errors.New("creating dashboard: no local model")
	}
	h := &Handler{
		local:        local,
		threshold:    scoring.DefaultThreshold,
		maxBodyBytes: DefaultMaxBodyBytes,
		maxRecords:   DefaultMaxRecords,
		interval:     DefaultUpdateInterval,
		logger:       slog.Default(),
		closed:       make(chan struct{}),
	}
	for _, o := range opts {
		o(h)
	}
	switch {
	case !validThreshold(h.threshold):
		return nil, fmt.Errorf("creating dashboard: threshold %v: want 0 to 1", h.threshold)
	case h.maxBodyBytes < 1 || h.maxRecords < 1 || h.interval <= 0:
		return nil, fmt.Errorf("creating dashboard: max body bytes %d, max records %d and update interval %s must be positive",
			h.maxBodyBytes, h.maxRecords, h.interval)
	}
	if h.status == nil {
		h.status = func() PipelineStatus { return PipelineStatus{} }
	}
	assets, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, fmt.Errorf("creating dashboard: %w", err)
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "index.html")
	})
	h.mux.Handle("GET /assets/", http.FileServerFS(assets))
	h.mux.HandleFunc("GET /api/info", h.info)
	h.mux.HandleFunc("POST /api/analyze", h.analyze)
	h.mux.HandleFunc("GET /api/live", h.liveEvents)
	h.mux.HandleFunc("GET /api/alerts", h.withLive(h.alerts))
	h.mux.HandleFunc("GET /api/alerts/export", h.withLive(h.exportAlerts))
	h.mux.HandleFunc("GET /api/alerts/{id}", h.withLive(h.alert))
	h.mux.HandleFunc("GET /api/whatif", h.withLive(h.whatIf))
	return h, nil
}

func validThreshold(t float64) bool { return !math.IsNaN(t) && t >= 0 && t <= 1 }

// ServeHTTP serves the dashboard. Every response forbids loading anything
// from another origin, so the page works offline and leaks nothing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

// Close ends the live streams, so that a server shutting down does not wait
// for browsers to hang up.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// scorerInfo describes one scorer choice.
type scorerInfo struct {
	ID    string       `json:"id"`
	Label string       `json:"label"`
	Model scoring.Info `json:"model"`
}

type infoResponse struct {
	Scorers      []scorerInfo `json:"scorers"`
	Threshold    float64      `json:"threshold"`
	MaxRecords   int          `json:"max_records"`
	MaxBodyBytes int64        `json:"max_body_bytes"`
	Live         bool         `json:"live"`
}

func (h *Handler) info(w http.ResponseWriter, _ *http.Request) {
	resp := infoResponse{
		Scorers:      []scorerInfo{{ScorerLocal, "Local model", h.local.Info()}},
		Threshold:    h.threshold,
		MaxRecords:   h.maxRecords,
		MaxBodyBytes: h.maxBodyBytes,
		Live:         h.live != nil,
	}
	if h.sagemaker != nil {
		resp.Scorers = append(resp.Scorers, scorerInfo{ScorerSageMaker, "SageMaker endpoint", h.sagemaker.Info()})
	}
	writeJSON(w, http.StatusOK, resp)
}

// AnalyzeRequest is the body of POST /api/analyze.
type AnalyzeRequest struct {
	// Records are NSL-KDD CSV or JSON lines or 122-value vectors, one per line.
	Records   string   `json:"records"`
	Threshold *float64 `json:"threshold"` // default: the dashboard's
	Scorer    string   `json:"scorer"`    // "local" (default) or "sagemaker"
}

// AnalyzeResponse has a verdict per valid line and an error per bad one.
type AnalyzeResponse struct {
	Scorer    string         `json:"scorer"`
	Model     scoring.Info   `json:"model"`
	Threshold float64        `json:"threshold"`
	Verdicts  []Verdict      `json:"verdicts"`
	Errors    []LineProblem  `json:"errors"`
	Counts    AnalyzeSummary `json:"counts"`
}

// AnalyzeSummary counts one analysis.
type AnalyzeSummary struct {
	Records int `json:"records"`
	Attacks int `json:"attacks"`
	Normal  int `json:"normal"`
	Errors  int `json:"errors"`
}

// Verdict is the outcome for one pasted line.
type Verdict struct {
	Line          int     `json:"line"`
	Format        string  `json:"format"`
	Attack        bool    `json:"attack"`
	Score         float32 `json:"score"`
	Category      string  `json:"category"` // normal, an attack class, or scoring.Unclassified
	CategoryProb  float32 `json:"category_probability"`
	ProtocolType  string  `json:"protocol_type"`
	Service       string  `json:"service"`
	Flag          string  `json:"flag"`
	Label         string  `json:"label,omitempty"`
	LabelCategory string  `json:"label_category,omitempty"`
	Raw           Raw     `json:"raw"`
}

// Raw is what the scorer returned for the row, before the page's threshold,
// with the feature vector it was given.
type Raw struct {
	Model        scoring.Info `json:"model"`
	Score        float32      `json:"score"`
	Attack       bool         `json:"attack_at_model_threshold"`
	Category     etl.Class    `json:"category"`
	CategoryProb float32      `json:"category_probability"`
	Features     []float32    `json:"features"`
}

// LineProblem is a line the encoder rejected, naming the field and the value.
type LineProblem struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Value   string `json:"value,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type errorResponse struct {
	Error string `json:"error"`
}

func (h *Handler) analyze(w http.ResponseWriter, r *http.Request) {
	// Requiring JSON also keeps other sites' plain form posts out.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send the request as application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request over %d bytes: analyze fewer records at once", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "reading request: "+err.Error())
		return
	}
	var req AnalyzeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "decoding request: "+err.Error())
		return
	}
	threshold := h.threshold
	if req.Threshold != nil {
		threshold = *req.Threshold
	}
	if !validThreshold(threshold) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("threshold %v: want 0 to 1", threshold))
		return
	}
	var scorer Scorer
	switch req.Scorer {
	case "", ScorerLocal:
		req.Scorer, scorer = ScorerLocal, h.local
	case ScorerSageMaker:
		if h.sagemaker == nil {
			writeError(w, http.StatusBadRequest, "no SageMaker endpoint is configured: choose the local model")
			return
		}
		scorer = h.sagemaker
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("scorer %q: want local or sagemaker", req.Scorer))
		return
	}
	resp, status, err := h.score(r.Context(), req.Records, threshold, req.Scorer, scorer)
	if err != nil {
		if status >= 500 {
			h.logger.ErrorContext(r.Context(), "analyzing records", "scorer", req.Scorer, "err", err)
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// score encodes the lines, scores the valid ones and applies threshold.
func (h *Handler) score(ctx context.Context, text string, threshold float64, id string, scorer Scorer) (*AnalyzeResponse, int, error) {
	spec := h.local.Spec()
	width := spec.Width()
	enc := etl.NewEncoder(spec)
	resp := &AnalyzeResponse{Scorer: id, Model: scorer.Info(), Threshold: threshold, Verdicts: []Verdict{}, Errors: []LineProblem{}}
	var rows []float32
	var rec etl.Record
	lines := bytes.Split([]byte(text), []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(resp.Verdicts)+len(resp.Errors) == h.maxRecords {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("more than %d records: analyze fewer at once", h.maxRecords)
		}
		rows = append(rows, make([]float32, width)...)
		row := rows[len(rows)-width:]
		if err := enc.Encode(line, &rec, row); err != nil {
			rows = rows[:len(rows)-width]
			resp.Errors = append(resp.Errors, lineProblem(etl.LineError{Line: i + 1, Err: err}))
			continue
		}
		v := Verdict{Line: i + 1, Format: rec.Format.String(), ProtocolType: rec.ProtocolType, Service: rec.Service, Flag: rec.Flag, Label: rec.Label}
		if class, ok := etl.ClassOfLabel(rec.Label); ok && rec.Label != "" {
			v.LabelCategory = class.String()
		}
		resp.Verdicts = append(resp.Verdicts, v)
	}
	resp.Counts.Errors = len(resp.Errors)
	if len(resp.Verdicts) == 0 {
		if len(resp.Errors) == 0 {
			return nil, http.StatusBadRequest, errors.New("no records: paste NSL-KDD CSV or JSON lines, or 122-value vectors, one per line")
		}
		return resp, http.StatusOK, nil
	}
	n := len(resp.Verdicts)
	results := make([]scoring.Result, n)
	if err := scorer.Score(ctx, rows, results); err != nil {
		return nil, http.StatusBadGateway, fmt.Errorf("scoring on the %s model: %w", id, err)
	}
	// Rows the page's threshold flags but the scorer's did not have no
	// category from the scorer; the local model (threshold 0) has one for every row.
	categories := results
	if scorer != Scorer(h.local) {
		categories = make([]scoring.Result, n)
		if err := h.local.Score(ctx, rows, categories); err != nil {
			return nil, http.StatusInternalServerError, fmt.Errorf("categorising on the local model: %w", err)
		}
	}
	for i := range resp.Verdicts {
		v, res := &resp.Verdicts[i], results[i]
		v.Score = res.Score
		v.Attack = float64(res.Score) >= threshold
		v.Raw = Raw{Model: resp.Model, Score: res.Score, Attack: res.Attack, Category: res.Category,
			CategoryProb: res.CategoryProb, Features: rows[i*width : (i+1)*width]}
		// A flagged row the category model puts in normal is unclassified,
		// as in the pipeline's verdicts.
		switch {
		case !v.Attack:
			v.Category, v.CategoryProb = etl.Normal.String(), 1-res.Score
			resp.Counts.Normal++
		case res.Attack:
			v.Category, v.CategoryProb = res.CategoryName(), res.CategoryProb
			resp.Counts.Attacks++
		default:
			flagged := categories[i]
			flagged.Attack = true
			v.Category, v.CategoryProb = flagged.CategoryName(), flagged.CategoryProb
			resp.Counts.Attacks++
		}
	}
	resp.Counts.Records = n
	return resp, http.StatusOK, nil
}

// lineProblem spells out an encoder error for the page.
func lineProblem(err etl.LineError) LineProblem {
	p := LineProblem{Line: err.Line, Reason: err.Err.Error(), Message: err.Error()}
	var fe *etl.FieldError
	if errors.As(err.Err, &fe) {
		p.Field, p.Value, p.Reason = fe.Field, fe.Value, fe.Reason
	}
	return p
}

// liveWriteGrace is how long one live event may take to be written.
const liveWriteGrace = 10 * time.Second

// liveEvents streams a summary every interval until the client goes away
// or the dashboard is closed.
func (h *Handler) liveEvents(w http.ResponseWriter, r *http.Request) {
	if h.live == nil {
		writeError(w, http.StatusNotFound, noLiveView)
		return
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ticker := time.NewTicker(h.interval)
	defer ticker.Stop()
	var buf bytes.Buffer
	for {
		buf.Reset()
		buf.WriteString("event: summary\ndata: ")
		if err := json.NewEncoder(&buf).Encode(h.live.Summary(h.status())); err != nil {
			h.logger.ErrorContext(r.Context(), "encoding live summary", "err", err)
			return
		}
		buf.WriteString("\n") // Encode ended the data line; a blank line ends the event
		// The server's write timeout bounds one response; a stream is many,
		// so each event gets its own deadline: a reader that stops reading
		// is dropped, a live one streams for as long as it likes.
		_ = rc.SetWriteDeadline(time.Now().Add(h.interval + liveWriteGrace))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-h.closed:
			return
		case <-ticker.C:
		}
	}
}

const noLiveView = "no live view: this process runs no pipeline"

// withLive answers 404 for an endpoint of the live view where there is none.
func (h *Handler) withLive(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.live == nil {
			writeError(w, http.StatusNotFound, noLiveView)
			return
		}
		next(w, r)
	}
}

// Limits of GET /api/alerts: a page shows the newest matches, an export has them all.
const (
	defaultAlertLimit = 200
	maxAlertLimit     = 1000
)

// alertFilter reads an AlertFilter from the query:
// category, service, host (address or CIDR prefix), min, max, q, until.
func alertFilter(q url.Values) (AlertFilter, error) {
	f := AlertFilter{Category: q.Get("category"), Service: q.Get("service"), Text: strings.TrimSpace(q.Get("q"))}
	var err error
	if f.Host, err = ParseHost(q.Get("host")); err != nil {
		return f, err
	}
	score := func(name string, fallback float32) (float32, error) {
		s := q.Get(name)
		if s == "" {
			return fallback, nil
		}
		v, err := strconv.ParseFloat(s, 32)
		if err != nil || !validThreshold(v) {
			return 0, fmt.Errorf("reading %s %q: want a score from 0 to 1", name, s)
		}
		return float32(v), nil
	}
	if f.MinScore, err = score("min", 0); err != nil {
		return f, err
	}
	if f.MaxScore, err = score("max", 1); err != nil {
		return f, err
	}
	if s := q.Get("until"); s != "" {
		if f.Until, err = strconv.ParseUint(s, 10, 64); err != nil {
			return f, fmt.Errorf("reading until %q: want an alert id", s)
		}
	}
	return f, nil
}

func (h *Handler) alerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := alertFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := defaultAlertLimit
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 || limit > maxAlertLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want 0 to %d (export for more)", s, maxAlertLimit))
			return
		}
	}
	writeJSON(w, http.StatusOK, h.live.Alerts(f, limit))
}

func (h *Handler) exportAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := alertFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	format := q.Get("format")
	write, contentType := writeAlertsJSON, "application/json"
	switch format {
	case "", "json":
		format = "json"
	case "csv":
		write, contentType = writeAlertsCSV, "text/csv; charset=utf-8"
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json or csv", format))
		return
	}
	alerts := h.live.exportAlerts(f)
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sagewall-alerts-%s.%s"`, time.Now().UTC().Format("20060102T150405Z"), format))
	if err := write(w, alerts); err != nil {
		h.logger.WarnContext(r.Context(), "exporting alerts", "format", format, "err", err)
	}
}

func (h *Handler) alert(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("alert id %q: want a number", r.PathValue("id")))
		return
	}
	d, ok := h.live.Alert(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("alert %d is not in the history: it keeps the newest %d alerts", id, h.live.historySize))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) whatIf(w http.ResponseWriter, r *http.Request) {
	s := r.URL.Query().Get("threshold")
	t, err := strconv.ParseFloat(s, 64)
	if err != nil || !validThreshold(t) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("threshold %q: want 0 to 1", s))
		return
	}
	writeJSON(w, http.StatusOK, h.live.WhatIf(t))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}
