package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
)

// fixture is the first records of KDDTrain+ (20%), raw and encoded, with the
// local model's scores.
type fixture struct {
	det    *scoring.Detector
	lines  []string
	vecs   []string // the same records as 122-value CSV rows
	scores []float32
}

func newFixture(t *testing.T, n int) fixture {
	t.Helper()
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	f, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	width := det.Spec().Width()
	enc := etl.NewEncoder(det.Spec())
	var rec etl.Record
	fx := fixture{det: det}
	rows := make([]float32, n*width)
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		row := rows[i*width : (i+1)*width]
		if err := enc.Encode(sc.Bytes(), &rec, row); err != nil {
			t.Fatal(err)
		}
		fx.lines = append(fx.lines, sc.Text())
		fx.vecs = append(fx.vecs, strings.TrimSuffix(string(sagemaker.AppendCSVRow(nil, row)), "\n"))
	}
	out := make([]scoring.Result, n)
	if err := det.Score(context.Background(), rows, out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out {
		fx.scores = append(fx.scores, r.Score)
	}
	return fx
}

func csvScores(scores []float32) string {
	var b strings.Builder
	for _, s := range scores {
		b.WriteString(strconv.FormatFloat(float64(s), 'g', -1, 32))
		b.WriteByte('\n')
	}
	return b.String()
}

// withField returns the CSV line with field i replaced.
func withField(line string, i int, value string) string {
	fields := strings.Split(line, ",")
	fields[i] = value
	return strings.Join(fields, ",")
}

func TestHandler(t *testing.T) {
	fx := newFixture(t, 5)
	jsonLine := func(i int) string {
		var rec etl.Record
		row := make([]float32, fx.det.Spec().Width())
		if err := etl.NewEncoder(fx.det.Spec()).Encode([]byte(fx.lines[i]), &rec, row); err != nil {
			t.Fatal(err)
		}
		return "{" + string(rec.AppendJSONFields(nil)) + "}"
	}
	jsonPredictions, _ := json.Marshal(map[string]any{"predictions": []map[string]float32{{"score": fx.scores[0]}, {"score": fx.scores[1]}}})
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		accept      string
		body        string
		wantStatus  int
		wantType    string
		wantBody    string // exact, unless wantContains
		wantContain string
	}{
		{name: "ping", method: "GET", path: "/ping", wantStatus: 200},
		{name: "ping wrong method", method: "POST", path: "/ping", wantStatus: 405},
		{name: "unknown path", method: "GET", path: "/nope", wantStatus: 404},
		{name: "invocations GET", method: "GET", path: "/invocations", wantStatus: 405},
		{name: "vectors", contentType: "text/csv", body: strings.Join(fx.vecs, "\n") + "\n",
			wantStatus: 200, wantType: "text/csv", wantBody: csvScores(fx.scores)},
		{name: "raw records", contentType: "text/csv", body: strings.Join(fx.lines, "\n"),
			wantStatus: 200, wantType: "text/csv", wantBody: csvScores(fx.scores)},
		{name: "default content type", contentType: "", body: fx.vecs[0],
			wantStatus: 200, wantType: "text/csv", wantBody: csvScores(fx.scores[:1])},
		{name: "json lines in", contentType: "application/jsonlines", body: jsonLine(0) + "\n" + jsonLine(1) + "\n",
			wantStatus: 200, wantType: "text/csv", wantBody: csvScores(fx.scores[:2])},
		{name: "json out", contentType: "text/csv", accept: "application/json", body: fx.lines[0] + "\n" + fx.lines[1],
			wantStatus: 200, wantType: "application/json", wantBody: string(jsonPredictions)},
		{name: "jsonlines out", contentType: "text/csv", accept: "application/jsonlines", body: fx.lines[0],
			wantStatus: 200, wantType: "application/jsonlines", wantBody: `{"score":` + strconv.FormatFloat(float64(fx.scores[0]), 'g', -1, 32) + "}\n"},
		{name: "accept list", contentType: "text/csv", accept: "image/png, application/json;q=0.9", body: fx.lines[0],
			wantStatus: 200, wantType: "application/json"},
		{name: "bad content type", contentType: "application/x-protobuf", body: fx.lines[0], wantStatus: 415},
		{name: "bad accept", contentType: "text/csv", accept: "image/png", body: fx.lines[0], wantStatus: 406},
		{name: "bad row names the line", contentType: "text/csv", body: fx.lines[0] + "\n" + withField(fx.lines[1], 1, "xyz"),
			wantStatus: 400, wantContain: `line 2: field "protocol_type": value "xyz"`},
		{name: "short vector", contentType: "text/csv", body: "1,2,3", wantStatus: 400, wantContain: "line 1: "},
		{name: "empty", contentType: "text/csv", body: "\n\n", wantStatus: 400, wantContain: "no records"},
	}
	h := serve.NewHandler(fx.det)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "POST"
			}
			path := tt.path
			if path == "" {
				path = "/invocations"
			}
			req := httptest.NewRequest(method, path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantType != "" && rec.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("content type %q, want %q", rec.Header().Get("Content-Type"), tt.wantType)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if tt.wantContain != "" && !strings.Contains(rec.Body.String(), tt.wantContain) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.wantContain)
			}
		})
	}
}

func TestHandlerLimitsRequestSize(t *testing.T) {
	fx := newFixture(t, 1)
	h := serve.NewHandler(fx.det, serve.WithMaxRequestBytes(1024))
	body := bytes.Repeat([]byte(fx.vecs[0]+"\n"), 1024/len(fx.vecs[0])+2)
	req := httptest.NewRequest("POST", "/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/csv")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413; body %q", rec.Code, rec.Body.String())
	}
}

// The scorer's parser reads every format serve writes.
func TestPredictionsParseInScorer(t *testing.T) {
	fx := newFixture(t, 20)
	results := make([]scoring.Result, len(fx.scores))
	for i, s := range fx.scores {
		results[i].Score = s
	}
	for _, mediaType := range []string{"text/csv", "application/json", "application/jsonlines"} {
		body := serve.AppendPredictions(nil, mediaType, results)
		got := make([]float32, len(results))
		if err := sagemaker.ParsePredictions(mediaType, body, len(results), 1, got); err != nil {
			t.Fatalf("%s: %v", mediaType, err)
		}
		for i := range got {
			if got[i] != fx.scores[i] {
				t.Fatalf("%s: row %d = %v, want %v", mediaType, i, got[i], fx.scores[i])
			}
		}
	}
}
