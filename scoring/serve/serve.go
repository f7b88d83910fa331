// Package serve is the SageMaker "bring your own container" inference
// protocol over a local model: GET /ping and POST /invocations, answering in
// the formats of the built-in XGBoost container so that the same clients work
// against either.
package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// MaxRequestBytes is SageMaker's 6 MB limit on an InvokeEndpoint body.
const MaxRequestBytes = 6 << 20

// Model is the local model the handler scores with (scoring.Detector).
type Model interface {
	Score(ctx context.Context, rows []float32, out []scoring.Result) error
	Spec() *etl.Spec
}

// MultiClassModel is a Model that may be multi-class (scoring.Detector: one
// loaded from a single multi-class model file). When NumClass is more than
// 1 the handler answers as the built-in container does for multi-class
// models: every class's probability per row, or, for a multi:softmax model,
// the class index.
type MultiClassModel interface {
	Model
	NumClass() int
	Objective() string
	PredictProba(ctx context.Context, rows []float32, out []float32) error
	PredictClass(ctx context.Context, rows []float32, out []int) error
}

// Handler serves /ping and /invocations.
type Handler struct {
	model    Model
	maxBytes int64
	logger   *slog.Logger
}

// Option configures a Handler.
type Option func(*Handler)

// WithMaxRequestBytes caps a request body (default MaxRequestBytes).
func WithMaxRequestBytes(n int64) Option { return func(h *Handler) { h.maxBytes = n } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.logger = l } }

// NewHandler returns the inference handler for model.
func NewHandler(model Model, opts ...Option) *Handler {
	h := &Handler{model: model, maxBytes: MaxRequestBytes, logger: slog.Default()}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// Content types of the built-in XGBoost container.
const (
	typeCSV       = "text/csv"
	typeJSON      = "application/json"
	typeJSONLines = "application/jsonlines"
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusOK)
	case "/invocations":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.invoke(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) invoke(w http.ResponseWriter, r *http.Request) {
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = typeCSV
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || !acceptedInput(mediaType) {
		http.Error(w, fmt.Sprintf("unsupported content type %q: send text/csv, application/jsonlines or application/json", contentType), http.StatusUnsupportedMediaType)
		return
	}
	accept, ok := negotiate(r.Header.Get("Accept"))
	if !ok {
		http.Error(w, fmt.Sprintf("cannot answer in %q: accept text/csv, application/json or application/jsonlines", r.Header.Get("Accept")), http.StatusNotAcceptable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	rows, n, err := h.encode(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if mc, ok := h.model.(MultiClassModel); ok && mc.NumClass() > 1 {
		out, err := h.multiClass(r.Context(), mc, accept, rows, n)
		if err != nil {
			h.logger.ErrorContext(r.Context(), "scoring invocation", "rows", n, "err", err)
			http.Error(w, "scoring: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", accept)
		_, _ = w.Write(out)
		return
	}
	results := make([]scoring.Result, n)
	if err := h.model.Score(r.Context(), rows, results); err != nil {
		h.logger.ErrorContext(r.Context(), "scoring invocation", "rows", n, "err", err)
		http.Error(w, "scoring: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", accept)
	_, _ = w.Write(AppendPredictions(nil, accept, results))
}

// multiClass scores n rows with a multi-class model and formats them as the
// built-in container does: the class index for multi:softmax, every class's
// probability otherwise.
func (h *Handler) multiClass(ctx context.Context, m MultiClassModel, accept string, rows []float32, n int) ([]byte, error) {
	if m.Objective() == scoring.ObjectiveMultiSoftmax {
		classes := make([]int, n)
		if err := m.PredictClass(ctx, rows, classes); err != nil {
			return nil, err
		}
		return AppendClasses(nil, accept, classes), nil
	}
	k := m.NumClass()
	probs := make([]float32, n*k)
	if err := m.PredictProba(ctx, rows, probs); err != nil {
		return nil, err
	}
	return AppendProbabilities(nil, accept, probs, k), nil
}

// encode turns every non-empty line into a feature row; the etl encoder
// detects 122-value vectors, raw NSL-KDD CSV records and JSON objects.
func (h *Handler) encode(body []byte) ([]float32, int, error) {
	spec := h.model.Spec()
	width := spec.Width()
	enc := etl.NewEncoder(spec)
	var rec etl.Record
	rows := make([]float32, 0, width*(bytes.Count(body, []byte("\n"))+1))
	n := 0
	lineNo := 0
	for line := range bytes.Lines(body) {
		lineNo++
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rows = append(rows, make([]float32, width)...)
		if err := enc.Encode(line, &rec, rows[n*width:]); err != nil {
			return nil, 0, &etl.LineError{Line: lineNo, Err: err}
		}
		n++
	}
	if n == 0 {
		return nil, 0, errors.New("no records in the request")
	}
	return rows, n, nil
}

func acceptedInput(mediaType string) bool {
	switch mediaType {
	case typeCSV, typeJSON, typeJSONLines, "application/x-jsonlines", "application/x-ndjson":
		return true
	}
	return false
}

// negotiate picks the response type from Accept: text/csv by default, like
// the XGBoost container; the first supported entry wins.
func negotiate(accept string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return typeCSV, true
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case typeCSV, "*/*", "text/*":
			return typeCSV, true
		case typeJSON:
			return typeJSON, true
		case typeJSONLines, "application/x-jsonlines":
			return typeJSONLines, true
		}
	}
	return "", false
}

// AppendPredictions formats the attack probabilities as the XGBoost container
// does for binary:logistic (and, for a binary:logitraw model, where the
// container would answer the margin, sagewall answers sigmoid(margin): see
// docs/model.md): one value per line for text/csv,
// {"predictions":[{"score":p},...]} for application/json, and one
// {"score":p} per line for application/jsonlines.
func AppendPredictions(dst []byte, mediaType string, results []scoring.Result) []byte {
	switch mediaType {
	case typeJSON:
		dst = append(dst, `{"predictions":[`...)
		for i, r := range results {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"score":`...)
			dst = appendFloat(dst, r.Score)
			dst = append(dst, '}')
		}
		return append(dst, "]}"...)
	case typeJSONLines:
		for _, r := range results {
			dst = append(dst, `{"score":`...)
			dst = appendFloat(dst, r.Score)
			dst = append(dst, "}\n"...)
		}
		return dst
	default:
		for _, r := range results {
			dst = appendFloat(dst, r.Score)
			dst = append(dst, '\n')
		}
		return dst
	}
}

// AppendProbabilities formats k class probabilities per row (probs holds
// them row after row) as the XGBoost container does for multi:softprob:
// for text/csv one line per row of k comma-separated values, for
// application/json {"predictions":[{"score":[p0,...]},...]}, for
// application/jsonlines one {"score":[p0,...]} per line.
func AppendProbabilities(dst []byte, mediaType string, probs []float32, k int) []byte {
	row := func(dst []byte, i int) []byte {
		for j, p := range probs[i*k : (i+1)*k] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendFloat(dst, p)
		}
		return dst
	}
	n := len(probs) / k
	switch mediaType {
	case typeJSON:
		dst = append(dst, `{"predictions":[`...)
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"score":[`...)
			dst = row(dst, i)
			dst = append(dst, "]}"...)
		}
		return append(dst, "]}"...)
	case typeJSONLines:
		for i := range n {
			dst = append(dst, `{"score":[`...)
			dst = row(dst, i)
			dst = append(dst, "]}\n"...)
		}
		return dst
	default:
		for i := range n {
			dst = row(dst, i)
			dst = append(dst, '\n')
		}
		return dst
	}
}

// AppendClasses formats one class index per row as the XGBoost container
// does for multi:softmax, whose predict returns the index as a float
// (written "2.0"): one per line for text/csv, {"predictions":[{"score":2.0},
// ...]} for application/json, one {"score":2.0} per line for
// application/jsonlines.
func AppendClasses(dst []byte, mediaType string, classes []int) []byte {
	class := func(dst []byte, c int) []byte {
		return append(strconv.AppendInt(dst, int64(c), 10), ".0"...)
	}
	switch mediaType {
	case typeJSON:
		dst = append(dst, `{"predictions":[`...)
		for i, c := range classes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"score":`...)
			dst = class(dst, c)
			dst = append(dst, '}')
		}
		return append(dst, "]}"...)
	case typeJSONLines:
		for _, c := range classes {
			dst = append(dst, `{"score":`...)
			dst = class(dst, c)
			dst = append(dst, "}\n"...)
		}
		return dst
	default:
		for _, c := range classes {
			dst = class(dst, c)
			dst = append(dst, '\n')
		}
		return dst
	}
}

func appendFloat(dst []byte, v float32) []byte {
	return strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
}
