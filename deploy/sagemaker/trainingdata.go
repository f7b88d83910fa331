package sagemaker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/sagewall/sagewall/etl"
)

// TrainingStats counts what WriteTrainingCSV wrote.
type TrainingStats struct {
	Rows    int64 // data rows written
	Attacks int64 // rows labelled 1
	Bytes   int64 // CSV bytes written
}

// maxTrainingLine bounds one input line; NSL-KDD lines are ~150 bytes.
const maxTrainingLine = 1 << 20

// WriteTrainingCSV converts labelled NSL-KDD records (CSV or JSON lines, as
// etl.Encoder accepts them) into the built-in XGBoost algorithm's CSV training
// format: no header, the label first (0 normal, 1 attack), then the spec's
// features in our fixed layout. Every input line must carry a label.
// Errors name the line (etl.LineError).
func WriteTrainingCSV(ctx context.Context, r io.Reader, w io.Writer, spec *etl.Spec) (TrainingStats, error) {
	var stats TrainingStats
	enc := etl.NewEncoder(spec, etl.WithMaxLineBytes(maxTrainingLine))
	row := make([]float32, spec.Width())
	var rec etl.Record
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), maxTrainingLine)
	bw := bufio.NewWriterSize(w, 256<<10)
	out := make([]byte, 0, 1024)
	line := 0
	for scanner.Scan() {
		line++
		if line%4096 == 0 && ctx.Err() != nil {
			return stats, fmt.Errorf("writing training CSV: %w", ctx.Err())
		}
		text := scanner.Bytes()
		if len(text) == 0 {
			continue
		}
		if err := enc.Encode(text, &rec, row); err != nil {
			return stats, etl.LineError{Line: line, Err: err}
		}
		label, err := binaryLabel(&rec)
		if err != nil {
			return stats, etl.LineError{Line: line, Err: err}
		}
		out = appendTrainingRow(out[:0], label, row)
		n, err := bw.Write(out)
		stats.Bytes += int64(n)
		if err != nil {
			return stats, fmt.Errorf("writing training CSV line %d: %w", line, err)
		}
		stats.Rows++
		if label == 1 {
			stats.Attacks++
		}
	}
	if err := scanner.Err(); err != nil {
		return stats, fmt.Errorf("reading training input after line %d: %w", line, err)
	}
	if err := bw.Flush(); err != nil {
		return stats, fmt.Errorf("writing training CSV: %w", err)
	}
	if stats.Rows == 0 {
		return stats, errors.New("writing training CSV: input has no records")
	}
	return stats, nil
}

// binaryLabel maps the record's attack name to 0 (normal) or 1 (attack).
func binaryLabel(rec *etl.Record) (int, error) {
	if rec.Label == "" {
		return 0, &etl.FieldError{Field: "label", Value: "", Reason: "training records need a label"}
	}
	class, ok := etl.ClassOfLabel(rec.Label)
	if !ok {
		return 0, &etl.FieldError{Field: "label", Value: rec.Label, Reason: "unknown attack name"}
	}
	if class == etl.Normal {
		return 0, nil
	}
	return 1, nil
}

// appendTrainingRow formats floats with the shortest representation that
// round-trips through float32, so training sees exactly what scoring sees.
func appendTrainingRow(dst []byte, label int, row []float32) []byte {
	dst = strconv.AppendInt(dst, int64(label), 10)
	for _, v := range row {
		dst = append(dst, ',')
		dst = strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
	}
	return append(dst, '\n')
}
