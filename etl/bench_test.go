package etl

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// benchLines is how many real KDDTrain+ lines the benchmarks cycle over.
const benchLines = 1000

// benchmarkLines runs encode over lines in turn; one op is one record.
// Besides ns/op it reports cpu-ns/record, the benchmark thread's own CPU
// time, which stays meaningful on a machine shared with other work.
func benchmarkLines(b *testing.B, lines [][]byte, encode func([]byte, []float32) error) {
	dst := make([]float32, Width)
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	cpu := startThreadCPU()
	i := 0
	for b.Loop() {
		if err := encode(lines[i], dst); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(lines) {
			i = 0
		}
	}
	cpu.report(b)
}

// encodeWith adapts an Encoder to benchmarkLines.
func encodeWith(e *Encoder) func([]byte, []float32) error {
	var rec Record
	return func(line []byte, dst []float32) error { return e.Encode(line, &rec, dst) }
}

// BenchmarkEncodeCSV encodes real KDDTrain+ lines (43 fields) with the
// Encoder (impl=etl) and, in the same run, with the straightforward
// alternatives: encoding/csv with strconv.ParseFloat per field and map
// lookups per category (impl=csv+strconv), and strings.Split with the same
// (impl=split+strconv). Compare with benchstat -col /impl.
func BenchmarkEncodeCSV(b *testing.B) {
	lines := trainLines(b, benchLines)
	b.Run("impl=etl", func(b *testing.B) { benchmarkLines(b, lines, encodeWith(NewEncoder(nil))) })
	b.Run("impl=csv+strconv", func(b *testing.B) { benchmarkLines(b, lines, newStdlibEncoder(DefaultSpec()).encodeCSV) })
	b.Run("impl=split+strconv", func(b *testing.B) { benchmarkLines(b, lines, newStdlibEncoder(DefaultSpec()).encodeSplit) })
}

// BenchmarkEncodeJSON encodes the same records as JSON objects with the
// Encoder and with encoding/json into a map followed by the same encoding.
func BenchmarkEncodeJSON(b *testing.B) {
	lines := asJSONLines(b, trainLines(b, benchLines))
	b.Run("impl=etl", func(b *testing.B) { benchmarkLines(b, lines, encodeWith(NewEncoder(nil))) })
	b.Run("impl=encoding-json", func(b *testing.B) { benchmarkLines(b, lines, newStdlibEncoder(DefaultSpec()).encodeJSON) })
}

// BenchmarkEncodeVector encodes the same records given as 122-value vectors.
func BenchmarkEncodeVector(b *testing.B) {
	lines := asVectorLines(b, trainLines(b, benchLines))
	b.Run("impl=etl", func(b *testing.B) { benchmarkLines(b, lines, encodeWith(NewEncoder(nil))) })
}

// asJSONLines re-encodes CSV lines as JSON objects with label and difficulty.
func asJSONLines(tb testing.TB, lines [][]byte) [][]byte {
	tb.Helper()
	return reencode(tb, lines, func(rec *Record, _ []float32) []byte {
		j := append([]byte{'{'}, rec.AppendJSONFields(nil)...)
		return fmt.Appendf(j, `,"label":%q,"difficulty":%d}`, rec.Label, rec.Difficulty)
	})
}

// asVectorLines re-encodes CSV lines as comma-separated vectors.
func asVectorLines(tb testing.TB, lines [][]byte) [][]byte {
	tb.Helper()
	return reencode(tb, lines, func(rec *Record, row []float32) []byte {
		var v []byte
		for c, x := range row {
			if c > 0 {
				v = append(v, ',')
			}
			if c < NumNumeric {
				v = strconv.AppendFloat(v, rec.Numeric[c], 'g', -1, 64)
			} else {
				v = strconv.AppendFloat(v, float64(x), 'g', -1, 32)
			}
		}
		return v
	})
}

// reencode encodes each CSV line and formats the result as a new line.
func reencode(tb testing.TB, lines [][]byte, format func(rec *Record, row []float32) []byte) [][]byte {
	tb.Helper()
	e := NewEncoder(nil)
	var rec Record
	row := make([]float32, Width)
	out := make([][]byte, len(lines))
	for i, l := range lines {
		if err := e.Encode(l, &rec, row); err != nil {
			tb.Fatal(err)
		}
		out[i] = format(&rec, row)
	}
	return out
}

// stdlibEncoder is the reference a straightforward implementation would
// write; the tests also use it to cross-check the encoder.
type stdlibEncoder struct {
	protocols, services, flags map[string]int
	width                      int
}

func newStdlibEncoder(s *Spec) *stdlibEncoder {
	index := func(vocab []string) map[string]int {
		m := make(map[string]int, len(vocab))
		for i, v := range vocab {
			m[v] = i
		}
		return m
	}
	return &stdlibEncoder{index(s.ProtocolType), index(s.Service), index(s.Flag), s.Width()}
}

func (s *stdlibEncoder) encodeCSV(line []byte, dst []float32) error {
	r := csv.NewReader(bytes.NewReader(line))
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		return fmt.Errorf("reading CSV: %w", err)
	}
	if len(fields) < NumFields || len(fields) > NumFields+2 {
		return fmt.Errorf("wrong number of fields: %d", len(fields))
	}
	return s.encodeFields(fields[:NumFields], dst)
}

func (s *stdlibEncoder) encodeSplit(line []byte, dst []float32) error {
	fields := strings.Split(string(line), ",")
	if len(fields) < NumFields || len(fields) > NumFields+2 {
		return fmt.Errorf("wrong number of fields: %d", len(fields))
	}
	return s.encodeFields(fields[:NumFields], dst)
}

type stdlibJSONRecord map[string]any

func (s *stdlibEncoder) encodeJSON(line []byte, dst []float32) error {
	var m stdlibJSONRecord
	if err := json.Unmarshal(line, &m); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	fields := make([]string, NumFields)
	for i, name := range FieldNames() {
		switch v := m[name].(type) {
		case string:
			fields[i] = v
		case float64:
			fields[i] = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			return fmt.Errorf("field %q: missing or wrong type", name)
		}
	}
	return s.encodeFields(fields, dst)
}

func (s *stdlibEncoder) encodeFields(fields []string, dst []float32) error {
	clear(dst[:s.width])
	n := 0
	for i, f := range fields {
		if i == fieldProtocolType || i == fieldService || i == fieldFlag {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("field %d: bad number %q", i, f)
		}
		dst[n] = float32(v)
		n++
	}
	p, ok := s.protocols[fields[fieldProtocolType]]
	if !ok {
		return errors.New("unknown protocol_type")
	}
	svc, ok := s.services[fields[fieldService]]
	if !ok {
		svc = s.services[unknownService]
	}
	f, ok := s.flags[fields[fieldFlag]]
	if !ok {
		return errors.New("unknown flag")
	}
	dst[n+p] = 1
	dst[n+len(s.protocols)+svc] = 1
	dst[n+len(s.protocols)+len(s.services)+f] = 1
	return nil
}
