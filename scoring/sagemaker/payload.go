package sagemaker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
)

// MaxPayloadBytes is the largest InvokeEndpoint request body SageMaker accepts (6 MB).
const MaxPayloadBytes = 6_291_456

// AppendCSVRow appends one row as a text/csv line (no header, no label). Floats
// use the shortest 'g' form at 32 bits so the endpoint sees exactly the float32
// the local model would; a missing value (NaN) is an empty cell, which the
// built-in XGBoost container reads as missing.
func AppendCSVRow(dst []byte, row []float32) []byte {
	for i, v := range row {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v != v {
			continue
		}
		dst = strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
	}
	return append(dst, '\n')
}

// ParseError reports a response body that does not hold the expected predictions.
type ParseError struct {
	ContentType string
	Line        int // 1-based; 0 when the error concerns the whole body
	Value       string
	Reason      string
}

func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Value != "":
		return fmt.Sprintf("parsing %s response: line %d: value %q: %s", e.ContentType, e.Line, e.Value, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("parsing %s response: line %d: %s", e.ContentType, e.Line, e.Reason)
	default:
		return fmt.Sprintf("parsing %s response: %s", e.ContentType, e.Reason)
	}
}

// ParsePredictions reads rows*perRow probabilities from a response of the built-in
// XGBoost containers into dst (len(dst) == rows*perRow), whatever the shape:
//   - text/csv, one value per line (1.2 and later), or perRow comma-separated
//     probabilities per line (multi:softprob), optionally in brackets;
//   - text/csv, a single comma-joined line of every value (0.90 and 1.0);
//   - application/json {"predictions":[{"score":p}|{"score":[p,...]}...]};
//   - application/jsonlines, one {"score":...} object (or bare value) per line.
func ParsePredictions(contentType string, body []byte, rows, perRow int, dst []float32) error {
	mediaType := "text/csv"
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return &ParseError{ContentType: contentType, Reason: "bad content type: " + err.Error()}
		}
		mediaType = mt
	}
	switch mediaType {
	case "application/json":
		return parseJSON(body, rows, perRow, dst)
	case "application/jsonlines", "application/x-jsonlines", "application/x-ndjson":
		return parseJSONLines(mediaType, body, rows, perRow, dst)
	case "text/csv", "text/plain", "application/octet-stream":
		return parseCSV(mediaType, body, rows, perRow, dst)
	default:
		return &ParseError{ContentType: mediaType, Reason: "unsupported content type"}
	}
}

func parseCSV(mediaType string, body []byte, rows, perRow int, dst []float32) error {
	lines := splitLines(body)
	switch {
	case len(lines) == rows:
		for i, line := range lines {
			if err := parseCSVLine(mediaType, i+1, line, dst[i*perRow:(i+1)*perRow]); err != nil {
				return err
			}
		}
		return nil
	case len(lines) == 1:
		// The 0.90/1.0 containers join every prediction into one line.
		return parseCSVLine(mediaType, 1, lines[0], dst)
	default:
		return &ParseError{ContentType: mediaType, Reason: fmt.Sprintf("got %d rows, want %d", len(lines), rows)}
	}
}

// parseCSVLine parses exactly len(dst) comma-separated values.
func parseCSVLine(mediaType string, lineNo int, line []byte, dst []float32) error {
	line = bytes.TrimSpace(line)
	line = bytes.TrimPrefix(line, []byte("["))
	line = bytes.TrimSuffix(line, []byte("]"))
	n := 0
	for field := range bytes.SplitSeq(line, []byte(",")) {
		if n == len(dst) {
			return &ParseError{ContentType: mediaType, Line: lineNo, Reason: fmt.Sprintf("more than %d values", len(dst))}
		}
		v, err := parseProbability(bytes.TrimSpace(field))
		if err != nil {
			return &ParseError{ContentType: mediaType, Line: lineNo, Value: string(field), Reason: err.Error()}
		}
		dst[n] = v
		n++
	}
	if n != len(dst) {
		return &ParseError{ContentType: mediaType, Line: lineNo, Reason: fmt.Sprintf("got %d values, want %d", n, len(dst))}
	}
	return nil
}

func parseProbability(b []byte) (float32, error) {
	v, err := strconv.ParseFloat(string(b), 32)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) {
			return 0, numErr.Err
		}
		return 0, err
	}
	if v != v || v < 0 || v > 1 {
		return 0, errors.New("not a probability")
	}
	return float32(v), nil
}

type jsonPrediction struct {
	Score json.RawMessage `json:"score"`
}

func parseJSON(body []byte, rows, perRow int, dst []float32) error {
	const mediaType = "application/json"
	var resp struct {
		Predictions []jsonPrediction `json:"predictions"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return &ParseError{ContentType: mediaType, Reason: err.Error()}
	}
	if len(resp.Predictions) != rows {
		return &ParseError{ContentType: mediaType, Reason: fmt.Sprintf("got %d predictions, want %d", len(resp.Predictions), rows)}
	}
	for i, p := range resp.Predictions {
		if err := parseJSONScore(mediaType, i+1, p.Score, dst[i*perRow:(i+1)*perRow]); err != nil {
			return err
		}
	}
	return nil
}

func parseJSONLines(mediaType string, body []byte, rows, perRow int, dst []float32) error {
	lines := splitLines(body)
	if len(lines) != rows {
		return &ParseError{ContentType: mediaType, Reason: fmt.Sprintf("got %d rows, want %d", len(lines), rows)}
	}
	for i, line := range lines {
		line = bytes.TrimSpace(line)
		score := json.RawMessage(line)
		if len(line) > 0 && line[0] == '{' {
			var p jsonPrediction
			if err := json.Unmarshal(line, &p); err != nil {
				return &ParseError{ContentType: mediaType, Line: i + 1, Value: string(line), Reason: err.Error()}
			}
			score = p.Score
		}
		if err := parseJSONScore(mediaType, i+1, score, dst[i*perRow:(i+1)*perRow]); err != nil {
			return err
		}
	}
	return nil
}

// parseJSONScore accepts a number (binary) or an array of probabilities (multi-class).
func parseJSONScore(mediaType string, lineNo int, raw json.RawMessage, dst []float32) error {
	var values []float64
	var single float64
	if err := json.Unmarshal(raw, &single); err == nil {
		values = []float64{single}
	} else if err := json.Unmarshal(raw, &values); err != nil {
		return &ParseError{ContentType: mediaType, Line: lineNo, Value: string(raw), Reason: "score is neither a number nor an array of numbers"}
	}
	if len(values) != len(dst) {
		return &ParseError{ContentType: mediaType, Line: lineNo, Value: string(raw), Reason: fmt.Sprintf("got %d values, want %d", len(values), len(dst))}
	}
	for i, v := range values {
		if v != v || v < 0 || v > 1 {
			return &ParseError{ContentType: mediaType, Line: lineNo, Value: string(raw), Reason: "not a probability"}
		}
		dst[i] = float32(v)
	}
	return nil
}

// splitLines splits on '\n' (tolerating "\r\n") and drops one trailing empty line.
func splitLines(body []byte) [][]byte {
	body = bytes.TrimRight(body, "\r\n")
	if len(body) == 0 {
		return nil
	}
	lines := bytes.Split(body, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}
