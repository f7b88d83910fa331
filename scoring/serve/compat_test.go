package serve_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/scoring/serve"
)

// compatDir holds models of every objective and format with their
// libraries' predictions (scoring/testdata/gen/compat.sh).
const compatDir = "../testdata/compat"

func gunzip(t *testing.T, name string) string {
	t.Helper()
	return string(testenv.GunzipIn(t, compatDir, name))
}

// parseCells reads comma-separated lines of floats; "", NaN and nan are NaN.
func parseCells(t *testing.T, text string) [][]float64 {
	t.Helper()
	var rows [][]float64
	for line := range strings.Lines(text) {
		var row []float64
		for cell := range strings.SplitSeq(strings.TrimRight(line, "\r\n"), ",") {
			if cell == "" || strings.EqualFold(cell, "nan") {
				row = append(row, math.NaN())
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				t.Fatalf("value %q: %v", cell, err)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows
}

// recordOf writes a 122-value vector as an NSL-KDD record: CSV with an empty
// field, or JSON with null, for each missing numeric value. ok is false when
// a one-hot cell is missing (a record cannot say that).
func recordOf(spec *etl.Spec, row []float64, asJSON bool) (string, bool) {
	numeric := map[string]float64{}
	for i, name := range spec.Numeric {
		numeric[name] = row[i]
	}
	categories := map[string]string{}
	col := len(spec.Numeric)
	for _, block := range []struct {
		name  string
		vocab []string
	}{{"protocol_type", spec.ProtocolType}, {"service", spec.Service}, {"flag", spec.Flag}} {
		for i, v := range row[col : col+len(block.vocab)] {
			if v != v {
				return "", false
			}
			if v == 1 {
				categories[block.name] = block.vocab[i]
			}
		}
		col += len(block.vocab)
	}
	var b strings.Builder
	if asJSON {
		b.WriteByte('{')
	}
	for i, name := range etl.FieldNames() {
		if i > 0 {
			b.WriteByte(',')
		}
		if asJSON {
			fmt.Fprintf(&b, "%q:", name)
		}
		if c, ok := categories[name]; ok {
			if asJSON {
				c = strconv.Quote(c)
			}
			b.WriteString(c)
			continue
		}
		v := numeric[name]
		switch {
		case v != v && asJSON:
			b.WriteString("null")
		case v != v:
		default:
			b.WriteString(strconv.FormatFloat(float64(float32(v)), 'g', -1, 32))
		}
	}
	if asJSON {
		b.WriteByte('}')
	}
	return b.String(), true
}

// TestServeCompatModels is serve's golden test for every objective: the
// model files a SageMaker user deploys, scored through /invocations from
// 122-value CSV rows (missing values as "", NaN, nan), NSL-KDD CSV records
// (empty fields) and JSON lines (null), answered in each content type in
// the built-in container's shape, within 1e-6 of the library's predictions.
func TestServeCompatModels(t *testing.T) {
	rowsText := gunzip(t, "rows.csv.gz")
	rows := parseCells(t, rowsText)
	spec := etl.DefaultSpec()
	var csvRecords, jsonRecords []string
	var recordRows []int
	for i, row := range rows {
		c, ok := recordOf(spec, row, false)
		if !ok {
			continue
		}
		j, _ := recordOf(spec, row, true)
		csvRecords, jsonRecords, recordRows = append(csvRecords, c), append(jsonRecords, j), append(recordRows, i)
	}
	allRows := make([]int, len(rows))
	for i := range allRows {
		allRows[i] = i
	}
	requests := []struct {
		name        string
		contentType string
		body        string
		rows        []int
	}{
		{"vectors", "text/csv", rowsText, allRows},
		{"csv records", "text/csv", strings.Join(csvRecords, "\n") + "\n", recordRows},
		{"json records", "application/jsonlines", strings.Join(jsonRecords, "\n") + "\n", recordRows},
	}
	for _, m := range compatServeCases(t) {
		t.Run(m.file, func(t *testing.T) {
			det, err := scoring.LoadDetector(filepath.Join(compatDir, m.file))
			if err != nil {
				t.Fatal(err)
			}
			golden := parseCells(t, gunzip(t, m.golden))
			h := serve.NewHandler(det)
			perRow := det.NumClass()
			if m.class {
				perRow = 1
			}
			var worst float64
			for _, req := range requests {
				for _, accept := range []string{"text/csv", "application/json", "application/jsonlines"} {
					r := httptest.NewRequest(http.MethodPost, "/invocations", strings.NewReader(req.body))
					r.Header.Set("Content-Type", req.contentType)
					r.Header.Set("Accept", accept)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						t.Fatalf("%s, %s: status %d: %s", req.name, accept, w.Code, w.Body)
					}
					got := parseResponse(t, accept, w.Body.String(), perRow)
					if len(got) != len(req.rows) {
						t.Fatalf("%s, %s: %d rows answered, want %d", req.name, accept, len(got), len(req.rows))
					}
					for i, row := range req.rows {
						for k, want := range golden[row] {
							diff := math.Abs(got[i][k] - want)
							worst = max(worst, diff)
							if !(diff <= 1e-6) || m.class && diff != 0 {
								t.Errorf("%s, %s: row %d class %d: %v, want %v", req.name, accept, row, k, got[i][k], want)
							}
						}
					}
					if m.class && accept == "text/csv" && !strings.HasSuffix(strings.SplitN(w.Body.String(), "\n", 2)[0], ".0") {
						t.Errorf("class index written %q, want the container's float form (2.0)", strings.SplitN(w.Body.String(), "\n", 2)[0])
					}
					if !m.class && perRow > 1 {
						// sagewall's SageMaker scorer reads the answer as a category endpoint's.
						dst := make([]float32, len(req.rows)*perRow)
						if err := sagemaker.ParsePredictions(accept, w.Body.Bytes(), len(req.rows), perRow, dst); err != nil {
							t.Errorf("%s: the SageMaker scorer cannot read the answer: %v", accept, err)
						}
					}
				}
			}
			t.Logf("%s (%s): largest difference from the library %.3g over %d requests", m.file, det.Describe(), worst, 9)
		})
	}
}

// serveCase is a model file of compatDir and the golden of what serve
// answers: the class index XGBoost predicts for multi:softmax, the
// probabilities (sigmoid(margin) for binary:logitraw) for the others.
type serveCase struct {
	file, golden string
	class        bool
}

// compatServeCases lists every model file of compatDir (testenv.CompatModels).
func compatServeCases(t *testing.T) []serveCase {
	t.Helper()
	var cases []serveCase
	for _, m := range testenv.CompatModels(t, compatDir) {
		c := serveCase{file: m.File, golden: m.Prefix + ".golden.gz", class: m.Base == "softmax"}
		if m.Base == "logitraw" {
			c.golden = m.Prefix + ".proba.golden.gz"
		}
		cases = append(cases, c)
	}
	return cases
}

// parseResponse reads perRow values per row from a response in the
// container's shapes: CSV lines, {"predictions":[{"score":v|[v...]}]}, or
// {"score":v|[v...]} lines.
func parseResponse(t *testing.T, accept, body string, perRow int) [][]float64 {
	t.Helper()
	scores := func(raw json.RawMessage) []float64 {
		var one float64
		if err := json.Unmarshal(raw, &one); err == nil {
			return []float64{one}
		}
		var many []float64
		if err := json.Unmarshal(raw, &many); err != nil {
			t.Fatalf("score %s: %v", raw, err)
		}
		return many
	}
	var rows [][]float64
	switch accept {
	case "application/json":
		var doc struct {
			Predictions []struct {
				Score json.RawMessage `json:"score"`
			} `json:"predictions"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatalf("%s: %v", body[:min(len(body), 200)], err)
		}
		for _, p := range doc.Predictions {
			rows = append(rows, scores(p.Score))
		}
	case "application/jsonlines":
		for line := range strings.Lines(body) {
			var obj struct {
				Score json.RawMessage `json:"score"`
			}
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			rows = append(rows, scores(obj.Score))
		}
	default:
		rows = parseCells(t, body)
	}
	for i, r := range rows {
		if len(r) != perRow {
			t.Fatalf("%s: row %d has %d values, want %d", accept, i, len(r), perRow)
		}
	}
	return rows
}
