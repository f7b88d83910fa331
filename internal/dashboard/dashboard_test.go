package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
	"github.com/sagewall/sagewall/sinks"
)

// KDDTrain+ lines.
const (
	neptuneLine = "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"
	normalLine  = "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20"
	satanLine   = "0,tcp,private,REJ,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,175,1,0.10,0.00,0.89,1.00,0.01,1.00,0.00,255,1,0.00,0.84,0.00,0.00,0.07,0.00,0.62,1.00,satan,18"
)

func localDetector(t testing.TB) *scoring.Detector {
	t.Helper()
	d, err := scoring.Bundled(scoring.WithThreshold(0))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newTestHandler(t testing.TB, opts ...Option) *Handler {
	t.Helper()
	h, err := New(localDetector(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// post sends body to /api/analyze and decodes the answer into out.
func post(t *testing.T, h http.Handler, body string, out any) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/analyze", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	return rec.Code
}

func analyzeBody(records string, threshold float64) string {
	b, _ := json.Marshal(AnalyzeRequest{Records: records, Threshold: &threshold})
	return string(b)
}

// vectorOf encodes line as the 122-value CSV vector the pipeline would score.
func vectorOf(t *testing.T, line string) string {
	t.Helper()
	row := make([]float32, etl.Width)
	var rec etl.Record
	if err := etl.NewEncoder(nil).Encode([]byte(line), &rec, row); err != nil {
		t.Fatal(err)
	}
	parts := make([]string, len(row))
	for i, v := range row {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}

func TestAnalyze(t *testing.T) {
	h := newTestHandler(t)
	jsonNormal := `{"duration":0,"protocol_type":"tcp","service":"ftp_data","flag":"SF","src_bytes":491,"dst_bytes":0,"land":0,"wrong_fragment":0,"urgent":0,"hot":0,"num_failed_logins":0,"logged_in":0,"num_compromised":0,"root_shell":0,"su_attempted":0,"num_root":0,"num_file_creations":0,"num_shells":0,"num_access_files":0,"num_outbound_cmds":0,"is_host_login":0,"is_guest_login":0,"count":2,"srv_count":2,"serror_rate":0,"srv_serror_rate":0,"rerror_rate":0,"srv_rerror_rate":0,"same_srv_rate":1,"diff_srv_rate":0,"srv_diff_host_rate":0,"dst_host_count":150,"dst_host_srv_count":25,"dst_host_same_srv_rate":0.17,"dst_host_diff_srv_rate":0.03,"dst_host_same_src_port_rate":0.17,"dst_host_srv_diff_host_rate":0,"dst_host_serror_rate":0,"dst_host_srv_serror_rate":0,"dst_host_rerror_rate":0.05,"dst_host_srv_rerror_rate":0}`
	type want struct {
		line     int
		format   string
		attack   bool
		category string
	}
	tests := []struct {
		name      string
		records   string
		threshold float64
		verdicts  []want
		errors    []LineProblem
	}{
		{
			name:      "attack and normal CSV",
			records:   neptuneLine + "\n" + normalLine + "\n",
			threshold: 0.5,
			verdicts:  []want{{1, "csv", true, "dos"}, {2, "csv", false, "normal"}},
		},
		{
			name:      "JSON line and vector, blank lines skipped",
			records:   "\n" + jsonNormal + "\n\n" + vectorOf(t, satanLine),
			threshold: 0.5,
			verdicts:  []want{{2, "json", false, "normal"}, {4, "vector", true, "probe"}},
		},
		{
			name:      "a threshold of 0 flags everything, with the likeliest attack class (the bundled category model has no normal class)",
			records:   normalLine,
			threshold: 0,
			verdicts:  []want{{1, "csv", true, "r2l"}},
		},
		{
			name:      "a threshold of 1 flags nothing",
			records:   neptuneLine,
			threshold: 1,
			verdicts:  []want{{1, "csv", false, "normal"}},
		},
		{
			name:      "bad lines name the line, the field and the value",
			records:   neptuneLine + "\n" + strings.Replace(normalLine, ",SF,", ",XX,", 1) + "\n" + "0,tcp,http\n" + strings.Replace(normalLine, "491", "-4", 1),
			threshold: 0.5,
			verdicts:  []want{{1, "csv", true, "dos"}},
			errors: []LineProblem{
				{Line: 2, Field: "flag", Value: "XX", Reason: "unknown flag"},
				{Line: 3},
				{Line: 4, Field: "src_bytes", Value: "-4"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp AnalyzeResponse
			if code := post(t, h, analyzeBody(tt.records, tt.threshold), &resp); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if resp.Scorer != ScorerLocal || resp.Model.Name == "" || resp.Threshold != tt.threshold {
				t.Errorf("scorer %q model %+v threshold %v", resp.Scorer, resp.Model, resp.Threshold)
			}
			if len(resp.Verdicts) != len(tt.verdicts) {
				t.Fatalf("%d verdicts, want %d: %+v", len(resp.Verdicts), len(tt.verdicts), resp.Verdicts)
			}
			attacks := 0
			for i, w := range tt.verdicts {
				v := resp.Verdicts[i]
				if v.Line != w.line || v.Format != w.format || v.Attack != w.attack || v.Category != w.category {
					t.Errorf("verdict %d: line %d format %s attack %v category %v score %v, want %+v", i, v.Line, v.Format, v.Attack, v.Category, v.Score, w)
				}
				if v.Attack != (float64(v.Score) >= tt.threshold) {
					t.Errorf("verdict %d: attack %v with score %v at threshold %v", i, v.Attack, v.Score, tt.threshold)
				}
				if len(v.Raw.Features) != etl.Width || v.Raw.Score != v.Score || v.Raw.Model != resp.Model {
					t.Errorf("verdict %d: raw response %+v", i, v.Raw)
				}
				if v.Attack {
					attacks++
				}
			}
			if len(resp.Errors) != len(tt.errors) {
				t.Fatalf("errors %+v, want %d", resp.Errors, len(tt.errors))
			}
			for i, w := range tt.errors {
				e := resp.Errors[i]
				if e.Line != w.Line || e.Field != w.Field || (w.Value != "" && e.Value != w.Value) || (w.Reason != "" && e.Reason != w.Reason) {
					t.Errorf("error %d: %+v, want %+v", i, e, w)
				}
				if !strings.HasPrefix(e.Message, fmt.Sprintf("line %d: ", w.Line)) || (w.Field != "" && !strings.Contains(e.Message, `"`+w.Field+`"`)) {
					t.Errorf("error %d message %q does not name line %d and field %q", i, e.Message, w.Line, w.Field)
				}
			}
			c := resp.Counts
			if c.Records != len(tt.verdicts) || c.Attacks != attacks || c.Normal != len(tt.verdicts)-attacks || c.Errors != len(tt.errors) {
				t.Errorf("counts %+v", c)
			}
		})
	}
}

func TestAnalyzeRejects(t *testing.T) {
	h := newTestHandler(t, WithMaxBodyBytes(4096), WithMaxRecords(3))
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		message     string
	}{
		{"oversized body", "application/json", analyzeBody(strings.Repeat(normalLine+"\n", 40), 0.5), http.StatusRequestEntityTooLarge, "over 4096 bytes"},
		{"too many records", "application/json", analyzeBody(strings.Repeat(normalLine+"\n", 4), 0.5), http.StatusRequestEntityTooLarge, "more than 3 records"},
		{"not JSON", "text/plain", normalLine, http.StatusUnsupportedMediaType, "application/json"},
		{"malformed JSON", "application/json", `{"records":`, http.StatusBadRequest, "decoding request"},
		{"threshold out of range", "application/json", analyzeBody(normalLine, 1.5), http.StatusBadRequest, "threshold 1.5"},
		{"nothing to analyze", "application/json", analyzeBody(" \n\n", 0.5), http.StatusBadRequest, "no records"},
		{"unknown scorer", "application/json", `{"records":"x","scorer":"cloud"}`, http.StatusBadRequest, `scorer "cloud"`},
		{"no endpoint configured", "application/json", `{"records":"x","scorer":"sagemaker"}`, http.StatusBadRequest, "no SageMaker endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/analyze", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var resp errorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("decoding %q: %v", rec.Body, err)
			}
			if rec.Code != tt.status || !strings.Contains(resp.Error, tt.message) {
				t.Errorf("status %d error %q, want %d with %q", rec.Code, resp.Error, tt.status, tt.message)
			}
		})
	}
}

// TestAnalyzeSageMaker scores on the SageMaker scorer talking to a
// SageMaker-protocol server (scoring/serve) over HTTP.
func TestAnalyzeSageMaker(t *testing.T) {
	pipelineDetector, err := scoring.Bundled() // threshold 0.5, as in the pipeline
	if err != nil {
		t.Fatal(err)
	}
	inference := serve.NewHandler(pipelineDetector)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/endpoints/nids/") {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/invocations"
		inference.ServeHTTP(w, r2)
	}))
	defer srv.Close()
	client := sagemaker.NewClientFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}, srv.URL)
	remote, err := sagemaker.New(client, "nids", sagemaker.WithCategorizer(pipelineDetector))
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, WithSageMaker(remote))

	var info infoResponse
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/info", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Scorers) != 2 || info.Scorers[1].ID != ScorerSageMaker || info.Scorers[1].Model.Name != "sagemaker:nids" || info.Live {
		t.Fatalf("info %+v", info)
	}

	body, _ := json.Marshal(map[string]any{"records": neptuneLine + "\n" + normalLine, "threshold": 0.5, "scorer": "sagemaker"})
	var resp AnalyzeResponse
	if code := post(t, h, string(body), &resp); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	local := make([]scoring.Result, 2)
	rows := make([]float32, 0, 2*etl.Width)
	for _, line := range []string{neptuneLine, normalLine} {
		row := make([]float32, etl.Width)
		var r etl.Record
		if err := etl.NewEncoder(nil).Encode([]byte(line), &r, row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row...)
	}
	if err := pipelineDetector.Score(context.Background(), rows, local); err != nil {
		t.Fatal(err)
	}
	if resp.Model.Name != "sagemaker:nids" || len(resp.Verdicts) != 2 {
		t.Fatalf("response %+v", resp)
	}
	for i, v := range resp.Verdicts {
		// The endpoint answers in text with limited digits.
		if d := v.Score - local[i].Score; d > 1e-5 || d < -1e-5 || v.Attack != local[i].Attack {
			t.Errorf("verdict %d: score %v attack %v, local model %v %v", i, v.Score, v.Attack, local[i].Score, local[i].Attack)
		}
	}
	if resp.Verdicts[0].Category != "dos" {
		t.Errorf("neptune categorised %v", resp.Verdicts[0].Category)
	}

	// A threshold below the endpoint's flags the normal record too; its
	// category then comes from the local model, whose category model (the
	// attack classes alone) gives its likeliest attack class.
	body, _ = json.Marshal(map[string]any{"records": normalLine, "threshold": 0, "scorer": "sagemaker"})
	resp = AnalyzeResponse{}
	if code := post(t, h, string(body), &resp); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if v := resp.Verdicts[0]; !v.Attack || v.Raw.Attack || v.Category != "r2l" || v.CategoryProb <= 0 {
		t.Errorf("normal record at threshold 0: %+v", v)
	}
}

func TestPageAndAssets(t *testing.T) {
	h := newTestHandler(t)
	for _, tt := range []struct{ path, contentType, contains string }{
		{"/", "text/html", `src="assets/app.js"`},
		{"/assets/app.js", "text/javascript", `EventSource("api/live")`},
		{"/assets/app.css", "text/css", "--attack"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.contentType) || !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("GET %s: %d %q, body without %q", tt.path, rec.Code, rec.Header().Get("Content-Type"), tt.contains)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
	}
	// Nothing on the page may come from elsewhere.
	for _, name := range []string{"index.html", "assets/app.js", "assets/app.css"} {
		data, err := webFiles.ReadFile("web/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, external := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(string(data), external) {
				t.Errorf("%s refers to %q", name, external)
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/live", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /api/live without a live view: %d", rec.Code)
	}
}

// readEvent reads one Server-Sent Event.
func readEvent(r *bufio.Reader) (event, data string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			return event, data, nil
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestLiveEvents(t *testing.T) {
	live := NewLive()
	status := PipelineStatus{Consumed: 12, DeadLetters: 2, Lag: 40, LagKnown: true}
	h := newTestHandler(t, WithLive(live, func() PipelineStatus { return status }), WithUpdateInterval(10*time.Millisecond))
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	event, data, err := readEvent(r)
	if err != nil {
		t.Fatal(err)
	}
	var first Summary
	if err := json.Unmarshal([]byte(data), &first); err != nil || event != "summary" {
		t.Fatalf("event %q data %q: %v", event, data, err)
	}
	if first.Verdicts != 0 || first.Pipeline != status {
		t.Fatalf("first summary %+v", first)
	}

	info := scoring.Info{Name: "sagewall-nslkdd", Version: "1.0.0"}
	verdicts := []sinks.Verdict{
		{Model: info, Threshold: 0.5, Record: etl.Record{Label: "neptune"}, Result: scoring.Result{Score: 0.99, Attack: true, Category: etl.DoS}},
		{Model: info, Threshold: 0.5, Record: etl.Record{Label: "normal"}, Result: scoring.Result{Score: 0.01}},
	}
	acked := 0
	live.Write(context.Background(), verdicts, func(err error) {
		if err != nil {
			t.Error(err)
		}
		acked++
	})
	if acked != 1 {
		t.Fatalf("batch acknowledged %d times", acked)
	}
	// Summaries keep coming; one of the next shows the batch.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, data, err := readEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		var s Summary
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatal(err)
		}
		if s.Verdicts == 2 {
			if s.Attacks != 1 || s.Alerts != 1 || s.Model != info || s.Confusion.Labelled != 2 || s.Confusion.Accuracy != 1 || s.History.Kept != 1 || s.History.NewestID != 1 {
				t.Errorf("summary %+v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no summary with the batch; last %+v", s)
		}
	}

	// Close ends the stream, so a shutting-down server need not wait for it.
	h.Close()
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Close")
	}
}
