package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAnalyze pastes arbitrary text: the answer is a verdict or an error
// naming its line for every non-blank line, in order, and never a server error.
func FuzzAnalyze(f *testing.F) {
	for _, seed := range []string{
		neptuneLine, normalLine + "\n" + satanLine, "", "\n\n", "garbage", "0,tcp,http",
		`{"duration":0}`, strings.Repeat("1,", 121) + "1", strings.Replace(normalLine, "SF", "XX", 1) + "\r\n" + neptuneLine,
	} {
		f.Add(seed, 0.5)
	}
	h := newTestHandler(f, WithMaxRecords(50))
	f.Fuzz(func(t *testing.T, records string, threshold float64) {
		body, err := json.Marshal(map[string]any{"records": records, "threshold": threshold})
		if err != nil {
			t.Skip("not representable in JSON")
		}
		req := httptest.NewRequest(http.MethodPost, "/api/analyze", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK {
			return
		}
		var resp AnalyzeResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		var lines []int
		for i, line := range strings.Split(records, "\n") {
			if strings.TrimSpace(line) != "" {
				lines = append(lines, i+1)
			}
		}
		if len(resp.Verdicts)+len(resp.Errors) != len(lines) {
			t.Fatalf("%d verdicts and %d errors for %d lines", len(resp.Verdicts), len(resp.Errors), len(lines))
		}
		v, e := 0, 0
		for _, want := range lines {
			switch {
			case v < len(resp.Verdicts) && resp.Verdicts[v].Line == want:
				if got := resp.Verdicts[v]; got.Attack != (float64(got.Score) >= threshold) {
					t.Fatalf("line %d: attack %v with score %v at threshold %v", want, got.Attack, got.Score, threshold)
				}
				v++
			case e < len(resp.Errors) && resp.Errors[e].Line == want:
				if !strings.HasPrefix(resp.Errors[e].Message, "line ") {
					t.Fatalf("error without its line: %+v", resp.Errors[e])
				}
				e++
			default:
				t.Fatalf("line %d has neither verdict nor error", want)
			}
		}
	})
}
