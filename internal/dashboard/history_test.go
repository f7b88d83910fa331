package dashboard

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
)

// hostile is a string a log or a record could carry to attack the page or
// a spreadsheet opening an export.
const hostile = `=cmd|' /C calc'!A0<img src=x onerror=alert(1)>"</script>`

// historyFixture is five alerts on named connections and one normal verdict.
func historyFixture() []sinks.Verdict {
	conn := func(v sinks.Verdict, src, dst string, sensor string) sinks.Verdict {
		v.Conn = connlog.Conn{OrigAddr: netip.MustParseAddr(src), OrigPort: 40000, RespAddr: netip.MustParseAddr(dst), RespPort: 80,
			Proto: "tcp", UID: "C" + src, Sensor: sensor}
		return v
	}
	smtp := verdict("satan", 0.93, etl.Probe, 4)
	smtp.Record.Service = "smtp"
	unclassified := verdict("", 0.96, etl.Normal, 5) // flagged, no attack category
	explained := verdict(hostile, 0.999, etl.R2L, 6)
	explained.Explanation = []scoring.Contribution{{Feature: "num_failed_logins", Value: 3, Contribution: 2.5, Why: "failed logins"}}
	return []sinks.Verdict{
		conn(verdict("neptune", 0.99, etl.DoS, 1), "10.0.0.1", "192.0.2.7", ""),
		verdict("normal", 0.20, etl.Normal, 2), // not an alert
		conn(verdict("neptune", 0.91, etl.DoS, 3), "10.0.0.2", "192.0.2.8", "edge"),
		conn(smtp, "2001:db8::1", "10.9.9.9", ""),
		unclassified,
		conn(explained, "10.0.0.3", "198.51.100.1", hostile),
	}
}

func TestAlertsFilter(t *testing.T) {
	l := NewLive()
	l.Write(t.Context(), historyFixture(), func(error) {})
	host := func(s string) netip.Prefix {
		p, err := ParseHost(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		filter AlertFilter
		want   []int64 // offsets, newest first
	}{
		{"everything", AlertFilter{}, []int64{6, 5, 4, 3, 1}},
		{"category", AlertFilter{Category: "dos"}, []int64{3, 1}},
		{"flagged without a category is unclassified", AlertFilter{Category: scoring.Unclassified}, []int64{5}},
		{"service", AlertFilter{Service: "smtp"}, []int64{4}},
		{"host as source", AlertFilter{Host: host("10.0.0.2")}, []int64{3}},
		{"host as destination", AlertFilter{Host: host("10.9.9.9")}, []int64{4}},
		{"host prefix", AlertFilter{Host: host("10.0.0.0/24")}, []int64{6, 3, 1}},
		{"IPv6 host", AlertFilter{Host: host("2001:db8::/32")}, []int64{4}},
		{"score range", AlertFilter{MinScore: 0.92, MaxScore: 0.98}, []int64{5, 4}},
		{"minimum only", AlertFilter{MinScore: 0.99}, []int64{6, 1}},
		{"text in the label, any case", AlertFilter{Text: "NEPT"}, []int64{3, 1}},
		{"text in the sensor", AlertFilter{Text: "edge"}, []int64{3}},
		{"text in the explanation", AlertFilter{Text: "failed login"}, []int64{6}},
		{"text in the techniques", AlertFilter{Text: "T1046"}, []int64{4}},
		{"until: what a paused page saw", AlertFilter{Until: 3}, []int64{4, 3, 1}},
		{"all at once", AlertFilter{Category: "dos", Host: host("10.0.0.0/8"), MinScore: 0.95, Text: "neptune"}, []int64{1}},
		{"nothing", AlertFilter{Text: "no such thing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := l.Alerts(tt.filter, 100)
			var got []int64
			for _, a := range page.Alerts {
				got = append(got, a.Position.Offset)
			}
			if !slices.Equal(got, tt.want) || page.Matched != len(tt.want) || page.Kept != 5 || page.NewestID != 5 {
				t.Errorf("offsets %v matched %d kept %d newest %d, want %v", got, page.Matched, page.Kept, page.NewestID, tt.want)
			}
			// Facets cover the whole history, whatever the filter.
			if len(page.Categories) != 4 || page.Categories[0] != (Facet{"dos", 2}) || len(page.Services) != 2 || page.Services[0] != (Facet{"http", 4}) {
				t.Errorf("categories %v services %v", page.Categories, page.Services)
			}
		})
	}
	if page := l.Alerts(AlertFilter{}, 2); len(page.Alerts) != 2 || page.Matched != 5 || page.Alerts[0].Position.Offset != 6 {
		t.Errorf("limit 2: %d alerts of %d matched", len(page.Alerts), page.Matched)
	}
}

func TestParseHost(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		err      bool
	}{
		{"", "invalid Prefix", false},
		{" 10.0.0.1 ", "10.0.0.1/32", false},
		{"::ffff:10.0.0.1", "10.0.0.1/32", false},
		{"10.1.2.3/16", "10.1.0.0/16", false},
		{"2001:db8::1", "2001:db8::1/128", false},
		{"example.com", "", true},
		{"10.0.0.0/33", "", true},
	} {
		p, err := ParseHost(tt.in)
		if (err != nil) != tt.err || (!tt.err && p.String() != tt.want) {
			t.Errorf("ParseHost(%q) = %v, %v; want %s (error %v)", tt.in, p, err, tt.want, tt.err)
		}
	}
}

// TestHistoryBounds: the ring keeps the newest alerts, numbered in arrival
// order; an alert that rolled out cannot be opened; every kept string and
// list is capped, however long the record's.
func TestHistoryBounds(t *testing.T) {
	tests := []struct {
		name     string
		history  int
		alerts   int
		kept     int
		oldestID uint64
	}{
		{"not full", 10, 7, 7, 1},
		{"exactly full", 10, 10, 10, 1},
		{"wrapped", 10, 25, 10, 16},
		{"one", 1, 3, 1, 3},
		{"off", 0, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLive(WithHistory(tt.history))
			for i := range tt.alerts { // one a batch, to cross batch boundaries
				l.Write(t.Context(), []sinks.Verdict{verdict("neptune", 0.99, etl.DoS, int64(i))}, func(error) {})
			}
			page := l.Alerts(AlertFilter{}, 1000)
			if page.Kept != tt.kept || len(page.Alerts) != tt.kept || page.Capacity != tt.history {
				t.Fatalf("kept %d listed %d capacity %d, want %d of %d", page.Kept, len(page.Alerts), page.Capacity, tt.kept, tt.history)
			}
			for i, a := range page.Alerts {
				if want := uint64(tt.alerts - i); a.ID != want || a.Position.Offset != int64(want-1) {
					t.Errorf("alert %d: id %d offset %d, want id %d", i, a.ID, a.Position.Offset, want)
				}
			}
			if tt.kept == 0 {
				return
			}
			if _, ok := l.Alert(tt.oldestID); !ok {
				t.Errorf("oldest kept alert %d cannot be opened", tt.oldestID)
			}
			for _, gone := range []uint64{0, tt.oldestID - 1, uint64(tt.alerts) + 1} {
				if _, ok := l.Alert(gone); ok {
					t.Errorf("alert %d opened: not in the history", gone)
				}
			}
		})
	}

	long := strings.Repeat("é", 1000)
	v := verdict(long, 0.99, etl.DoS, 1)
	v.Source.Topic = long
	v.Conn = connlog.Conn{UID: long, Sensor: long, Proto: long, Label: long, DetailLbl: long, History: long, Service: long}
	for range 50 {
		v.Conn.Extra = append(v.Conn.Extra, connlog.Field{Name: long, Value: long})
		v.Explanation = append(v.Explanation, scoring.Contribution{Feature: "f", Why: "w"})
	}
	l := NewLive()
	l.Write(t.Context(), []sinks.Verdict{v}, func(error) {})
	d, ok := l.Alert(1)
	if !ok {
		t.Fatal("alert 1 missing")
	}
	k := &l.history.newest(0).verdict
	for _, s := range []string{k.Record.Label, k.Source.Topic, k.Conn.UID, k.Conn.Sensor, k.Conn.Proto, k.Conn.Label, k.Conn.DetailLbl, k.Conn.Extra[0].Name, k.Conn.Extra[0].Value} {
		if len(s) > maxKeptText || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
			t.Errorf("kept string of %d bytes (valid UTF-8 %v): %.20q…", len(s), utf8.ValidString(s), s)
		}
	}
	if k.Conn.History != "" || k.Conn.Service != "" || len(k.Conn.Extra) != maxKeptFields || len(k.Explanation) != maxKeptExplanation {
		t.Errorf("kept connection history %d bytes, service %d bytes, %d fields, %d contributions", len(k.Conn.History), len(k.Conn.Service), len(k.Conn.Extra), len(k.Explanation))
	}
	if !json.Valid(d.Verdict) || len(d.Verdict) > 8<<10 {
		t.Errorf("verdict document of %d bytes, valid %v", len(d.Verdict), json.Valid(d.Verdict))
	}
	// The pipeline reuses a verdict's explanation after the batch: the kept copy must not change.
	v.Explanation[0].Why = "changed"
	if d, _ := l.Alert(1); d.Explanation[0].Why != "w" {
		t.Errorf("kept explanation follows the pipeline's buffer: %q", d.Explanation[0].Why)
	}
}

// TestAlertDetail: the drawer's document, hostile strings kept as data.
func TestAlertDetail(t *testing.T) {
	l := NewLive()
	l.Write(t.Context(), historyFixture(), func(error) {})
	d, ok := l.Alert(5)
	if !ok {
		t.Fatal("alert 5 missing")
	}
	var doc struct {
		ID         string `json:"id"`
		Category   string `json:"category"`
		Label      string `json:"label"`
		Connection struct {
			SrcIP  string `json:"src_ip"`
			Sensor string `json:"sensor"`
		} `json:"connection"`
		Record      map[string]any   `json:"record"`
		Explanation []map[string]any `json:"explanation"`
	}
	if err := json.Unmarshal(d.Verdict, &doc); err != nil {
		t.Fatalf("verdict document %s: %v", d.Verdict, err)
	}
	if doc.ID != "raw/1/6" || doc.Category != "r2l" || doc.Label != hostile || doc.Connection.SrcIP != "10.0.0.3" ||
		doc.Connection.Sensor != hostile || len(doc.Record) != 41 || len(doc.Explanation) != 1 {
		t.Errorf("verdict document %s", d.Verdict)
	}
	if d.Hosts == nil || d.Hosts.SrcIP != "10.0.0.3" || d.Hosts.DstPort != 80 || d.Hosts.Sensor != hostile || d.Category != "r2l" ||
		d.Why != "failed logins" || len(d.Explanation) != 1 || *d.Explanation[0].Value != 3 {
		t.Errorf("detail %+v", d)
	}
	// JSON as served: the page reads text, and HTML-significant bytes are escaped on the wire too.
	rec := httptest.NewRecorder()
	h := newTestHandler(t, WithLive(l, nil))
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/alerts/5", nil))
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "<img") || !strings.Contains(rec.Body.String(), `\u003cimg`) {
		t.Errorf("GET /api/alerts/5: %d %s", rec.Code, rec.Body)
	}
	// A missing value is null, not a NaN that JSON cannot carry.
	nan := verdict("neptune", 0.99, etl.DoS, 9)
	nan.Explanation = []scoring.Contribution{{Feature: "f", Value: float32(math.NaN()), Why: "w"}}
	l.Write(t.Context(), []sinks.Verdict{nan}, func(error) {})
	d, _ = l.Alert(6)
	if _, err := json.Marshal(d); err != nil || d.Explanation[0].Value != nil {
		t.Errorf("explanation with a missing value: %v, %+v", err, d.Explanation)
	}
}

func TestExport(t *testing.T) {
	l := NewLive()
	l.Write(t.Context(), historyFixture(), func(error) {})
	h := newTestHandler(t, WithLive(l, nil))
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}

	rec := get("/api/alerts/export?format=csv&category=r2l")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(rec.Header().Get("Content-Disposition"), `attachment; filename="sagewall-alerts-`) {
		t.Fatalf("CSV export: %d %v", rec.Code, rec.Header())
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("CSV export: %d rows, %v", len(rows), err)
	}
	row := map[string]string{}
	for i, name := range rows[0] {
		row[name] = rows[1][i]
	}
	if row["label"] != "'"+hostile || row["sensor"] != "'"+hostile || row["src_ip"] != "10.0.0.3" || row["src_port"] != "40000" ||
		row["category"] != "r2l" || row["offset"] != "6" || row["why"] != "failed logins" || row["id"] != "5" {
		t.Errorf("CSV row %v", row)
	}

	rec = get("/api/alerts/export?format=json&min=0.95")
	var alerts []AlertDetail
	if err := json.Unmarshal(rec.Body.Bytes(), &alerts); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("JSON export %q: %v", rec.Body, err)
	}
	if len(alerts) != 3 || alerts[0].Position.Offset != 6 || !json.Valid(alerts[0].Verdict) || alerts[1].Category != scoring.Unclassified {
		t.Errorf("JSON export %+v", alerts)
	}

	for target, status := range map[string]int{
		"/api/alerts/export?format=xml":  http.StatusBadRequest,
		"/api/alerts/export?host=nope":   http.StatusBadRequest,
		"/api/alerts?min=2":              http.StatusBadRequest,
		"/api/alerts?limit=5000":         http.StatusBadRequest,
		"/api/alerts?until=x":            http.StatusBadRequest,
		"/api/alerts/99":                 http.StatusNotFound,
		"/api/alerts/x":                  http.StatusBadRequest,
		"/api/whatif?threshold=2":        http.StatusBadRequest,
		"/api/whatif":                    http.StatusBadRequest,
		"/api/alerts?category=dos&q=nep": http.StatusOK,
		"/api/whatif?threshold=0.5":      http.StatusOK,
	} {
		if rec := get(target); rec.Code != status {
			t.Errorf("GET %s: %d %s, want %d", target, rec.Code, rec.Body, status)
		}
	}
	// Without a pipeline there is no history.
	for _, target := range []string{"/api/alerts", "/api/alerts/export", "/api/alerts/1", "/api/whatif?threshold=0.5"} {
		rec := httptest.NewRecorder()
		newTestHandler(t).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s without a live view: %d", target, rec.Code)
		}
	}
}

func TestSpreadsheetSafe(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"neptune", "neptune"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{"0.99", "0.99"},
	} {
		if got := spreadsheetSafe(tt.in); got != tt.want {
			t.Errorf("spreadsheetSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Commas, quotes and newlines are the CSV writer's: a hostile cell stays one cell.
	var b bytes.Buffer
	l := NewLive()
	v := verdict("a,b\"c\nd", 0.99, etl.DoS, 1)
	l.Write(t.Context(), []sinks.Verdict{v}, func(error) {})
	if err := writeAlertsCSV(&b, l.exportAlerts(AlertFilter{})); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][7] != "a,b\"c\nd" || len(rows[1]) != len(rows[0]) {
		t.Errorf("rows %q: %v", rows, err)
	}
}

func TestWhatIf(t *testing.T) {
	var h scoreHistogram
	for _, s := range []float32{0.05, 0.30, 0.55, 0.70} { // labelled normal
		h.add(false, s)
	}
	for _, s := range []float32{0.40, 0.60, 0.90, 0.999, 1} { // labelled an attack
		h.add(true, s)
	}
	tests := []struct {
		threshold            float64
		tp, fp               uint64
		precision, detection float64
		falseAlarm           float64
	}{
		{0, 5, 4, 5.0 / 9, 1, 1},
		{0.30, 5, 3, 5.0 / 8, 1, 0.75},
		{0.3004, 5, 3, 5.0 / 8, 1, 0.75}, // rounds to the 0.300 edge
		{0.50, 4, 2, 4.0 / 6, 0.8, 0.5},
		{0.55, 4, 2, 4.0 / 6, 0.8, 0.5}, // a score equal to the threshold is flagged
		{0.551, 4, 1, 0.8, 0.8, 0.25},
		{0.85, 3, 0, 1, 0.6, 0},
		{0.90, 2, 0, 1, 0.4, 0}, // float32(0.9) is below 0.9, as when /api/analyze compares
		{0.999, 2, 0, 1, 0.4, 0},
		{1, 1, 0, 1, 0.2, 0}, // only a score of 1
	}
	for _, tt := range tests {
		w := h.whatIf(tt.threshold)
		if w.Labelled != 9 || w.Attacks != 5 || w.Normal != 4 || w.TruePositives != tt.tp || w.FalsePositives != tt.fp ||
			w.FalseNegatives != 5-tt.tp || !near(w.Precision, tt.precision) || !near(w.DetectionRate, tt.detection) || !near(w.FalseAlarmRate, tt.falseAlarm) {
			t.Errorf("at %v: %+v, want tp %d fp %d precision %.3f detection %.3f false alarms %.3f", tt.threshold, w, tt.tp, tt.fp, tt.precision, tt.detection, tt.falseAlarm)
		}
	}
	var empty scoreHistogram
	if w := empty.whatIf(0.5); w.Precision != 0 || w.DetectionRate != 0 || w.Labelled != 0 || w.Threshold != 0.5 {
		t.Errorf("empty: %+v", w)
	}
	for _, s := range []float64{-1, 0, math.NaN(), 2} {
		if b := scoreBin(s); b < 0 || b > scoreBins {
			t.Errorf("scoreBin(%v) = %d", s, b)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestLiveWhatIf: the live view counts labelled verdicts only.
func TestLiveWhatIf(t *testing.T) {
	l := NewLive()
	l.Write(t.Context(), []sinks.Verdict{
		verdict("neptune", 0.99, etl.DoS, 1), verdict("normal", 0.7, etl.Probe, 2),
		verdict("normal", 0.1, etl.Normal, 3), verdict("", 0.99, etl.DoS, 4), verdict("not-a-label", 0.99, etl.DoS, 5),
	}, func(error) {})
	if w := l.WhatIf(0.5); w.Labelled != 3 || w.TruePositives != 1 || w.FalsePositives != 1 || w.Precision != 0.5 || w.DetectionRate != 1 {
		t.Errorf("%+v", w)
	}
}

// BenchmarkLiveAlerts is a page's query over a full history of 10 000
// alerts: about how long it holds the lock the pipeline's Write waits on.
// It reports the heap a full history takes, per alert.
func BenchmarkLiveAlerts(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := NewLive()
	batch := historyFixture()
	for i := 0; l.Alerts(AlertFilter{}, 0).Kept < DefaultHistory; i++ {
		for j := range batch {
			batch[j].Source.Offset = int64(i*len(batch) + j)
		}
		l.Write(b.Context(), batch, func(error) {})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perAlert := float64(after.HeapAlloc-before.HeapAlloc) / DefaultHistory
	host, _ := ParseHost("10.0.0.0/8")
	for _, bm := range []struct {
		name   string
		filter AlertFilter
	}{
		{"all", AlertFilter{}},
		{"category+host", AlertFilter{Category: "dos", Host: host}},
		{"text", AlertFilter{Text: "logins"}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				l.Alerts(bm.filter, defaultAlertLimit)
			}
			b.ReportMetric(perAlert, "history-B/alert")
		})
	}
}

func TestAlertRing(t *testing.T) {
	for _, tt := range []struct{ size, pushes int }{
		{1, 3}, {10, 5}, {keptChunk, keptChunk + 1}, {keptChunk + 1, 3 * keptChunk}, {600, 600}, {600, 1601},
	} {
		t.Run(fmt.Sprintf("size=%d/pushes=%d", tt.size, tt.pushes), func(t *testing.T) {
			r := alertRing{size: tt.size}
			for i := 1; i <= tt.pushes; i++ {
				r.push().id = uint64(i)
			}
			if want := min(tt.size, tt.pushes); r.len() != want {
				t.Fatalf("len %d, want %d", r.len(), want)
			}
			for back := range r.len() {
				if got, want := r.newest(back).id, uint64(tt.pushes-back); got != want {
					t.Fatalf("newest(%d) is alert %d, want %d", back, got, want)
				}
			}
			if held := len(r.chunks); held != (tt.size+keptChunk-1)/keptChunk && tt.pushes >= tt.size {
				t.Errorf("%d chunks for a full ring of %d", held, tt.size)
			}
		})
	}
}
