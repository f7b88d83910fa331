package etl

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// DefaultMaxLineBytes is the longest line Encode accepts unless
// WithMaxLineBytes says otherwise; a JSON record with every field is about
// 1 KiB.
const DefaultMaxLineBytes = 4 << 10

// Option configures an Encoder.
type Option func(*Encoder)

// WithMaxLineBytes sets the longest accepted line, in bytes (n > 0).
func WithMaxLineBytes(n int) Option {
	return func(e *Encoder) {
		if n > 0 {
			e.maxLineBytes = n
		}
	}
}

// Encoder turns lines into feature vectors laid out by a Spec. It keeps no
// per-call state, so one Encoder may be shared by goroutines.
type Encoder struct {
	spec         Spec
	specErr      error
	width        int
	maxLineBytes int
	protocols    vocabIndex
	services     vocabIndex
	flags        vocabIndex
	otherIndex   int        // index of "other" in spec.Service
	jsonKeys     vocabIndex // JSON key → field index; label and difficulty follow the 41 fields
	fieldNames   []string
	rates        []int          // numeric indexes of the *_rate features, fractions in [0, 1]
	rateMask     uint64         // the same as bits
	hundredths   *[1000]float64 // n/100, correctly rounded, for two-decimal rates

	unknownServices atomic.Uint64
}

// JSON keys beyond the 41 features.
const (
	keyLabel      = NumFields
	keyDifficulty = NumFields + 1
	numKeys       = NumFields + 2
)

// NewEncoder returns an Encoder for spec (nil means DefaultSpec). An invalid
// spec (see Spec.Validate) makes every Encode fail with the reason.
func NewEncoder(spec *Spec, opts ...Option) *Encoder {
	if spec == nil {
		spec = DefaultSpec()
	}
	e := &Encoder{
		spec: Spec{
			Numeric:      append([]string(nil), spec.Numeric...),
			ProtocolType: append([]string(nil), spec.ProtocolType...),
			Service:      append([]string(nil), spec.Service...),
			Flag:         append([]string(nil), spec.Flag...),
		},
		maxLineBytes: DefaultMaxLineBytes,
	}
	e.specErr = e.spec.Validate()
	if e.specErr != nil {
		e.specErr = fmt.Errorf("encoding record: %w", e.specErr)
	}
	e.width = e.spec.Width()
	e.protocols = newVocabIndex(e.spec.ProtocolType)
	e.services = newVocabIndex(e.spec.Service)
	e.flags = newVocabIndex(e.spec.Flag)
	e.otherIndex = e.services.lookup([]byte(unknownService))
	e.fieldNames = FieldNames()
	for k, name := range e.fieldNames {
		if strings.HasSuffix(name, "_rate") {
			e.rates = append(e.rates, numericIndex(k))
			e.rateMask |= 1 << numericIndex(k)
		}
	}
	e.jsonKeys = newVocabIndex(append(FieldNames(), "label", "difficulty"))
	e.hundredths = new([1000]float64)
	for n := range e.hundredths {
		e.hundredths[n] = float64(n) / 100
	}
	for _, opt := range opts {
		opt(e)
	}
	return e
}

// Spec returns a copy of the encoder's spec.
func (e *Encoder) Spec() *Spec {
	return &Spec{
		Numeric:      append([]string(nil), e.spec.Numeric...),
		ProtocolType: append([]string(nil), e.spec.ProtocolType...),
		Service:      append([]string(nil), e.spec.Service...),
		Flag:         append([]string(nil), e.spec.Flag...),
	}
}

// UnknownServices counts the records whose service was not in the
// vocabulary and was encoded as "other".
func (e *Encoder) UnknownServices() uint64 { return e.unknownServices.Load() }

// Encode parses one line into rec and writes its Spec().Width() features into
// dst[:Width]. The format is detected: a line starting with '{' is JSON; a
// line of 41, 42 or 43 comma-separated fields is NSL-KDD CSV; a line of
// Spec().Width() numbers (122 for the default spec) is an encoded vector.
// A numeric feature may be missing — an empty CSV field, NaN (any case), or
// JSON null or "" — and is then NaN in rec.Numeric and dst, which the
// models treat as missing (XGBoost's default direction); protocol_type,
// service and flag may not.
// Surrounding whitespace (including a trailing CR) and a leading byte order
// mark are ignored. Errors about
// the input are *FieldError; on error rec and dst hold partial results.
func (e *Encoder) Encode(line []byte, rec *Record, dst []float32) error {
	if e.specErr != nil {
		return e.specErr
	}
	if rec == nil {
		return errors.New("encoding record: nil *Record")
	}
	if len(dst) < e.width {
		return fmt.Errorf("encoding record: dst holds %d floats, the spec needs %d", len(dst), e.width)
	}
	if len(line) > e.maxLineBytes {
		return newFieldError("", line, ErrLineTooLong,
			fmt.Sprintf("line too long: %d bytes (limit %d)", len(line), e.maxLineBytes))
	}
	line = trimSpace(line)
	if len(line) == 0 {
		return &FieldError{Reason: ErrEmptyLine.Error(), Err: ErrEmptyLine}
	}
	dst = dst[:e.width]
	if line[0] == '{' {
		return e.encodeJSON(line, rec, dst)
	}
	n := bytes.Count(line, []byte{','}) + 1
	switch {
	case n >= NumFields && n <= NumFields+2:
		return e.encodeCSV(line, rec, dst)
	case n == e.width:
		return e.encodeVector(line, rec, dst)
	}
	return newFieldError("", line, ErrFieldCount, fmt.Sprintf(
		"wrong number of fields: %d (want %d, %d or %d, or %d for an encoded vector)",
		n, NumFields, NumFields+1, NumFields+2, e.width))
}

// EncodeRecord writes the Spec().Width() features of a record whose fields
// were filled by the caller (a feature deriver) into dst: the 38 numeric
// features as they are, and the one-hot blocks from ProtocolType, Service
// and Flag. An unknown service is encoded as "other" (and rec.Service and
// rec.UnknownService say so); an unknown protocol or flag is a *FieldError,
// as is a numeric feature that is negative or not finite.
func (e *Encoder) EncodeRecord(rec *Record, dst []float32) error {
	if e.specErr != nil {
		return e.specErr
	}
	if len(dst) < e.width {
		return fmt.Errorf("encoding record: dst holds %d floats, the spec needs %d", len(dst), e.width)
	}
	for i, v := range rec.Numeric {
		// One test per value on the way through: false for NaN, both
		// infinities and negatives alike; which one it is is asked after.
		if v >= 0 && v <= math.MaxFloat64 {
			continue
		}
		kind := ErrNegative
		if math.IsNaN(v) || math.IsInf(v, 0) {
			kind = ErrNotFinite
		}
		return newFieldError(e.spec.Numeric[i], []byte(strconv.FormatFloat(v, 'g', -1, 64)), kind, "")
	}
	var hot [3]int
	if hot[0] = e.protocols.lookup([]byte(rec.ProtocolType)); hot[0] < 0 {
		return newFieldError("protocol_type", []byte(rec.ProtocolType), ErrUnknownValue, "unknown protocol_type")
	}
	rec.ProtocolType = e.spec.ProtocolType[hot[0]]
	hot[1] = e.services.lookup([]byte(rec.Service))
	rec.UnknownService = hot[1] < 0
	if hot[1] < 0 {
		hot[1] = e.otherIndex
	}
	rec.Service = e.spec.Service[hot[1]]
	if hot[2] = e.flags.lookup([]byte(rec.Flag)); hot[2] < 0 {
		return newFieldError("flag", []byte(rec.Flag), ErrUnknownValue, "unknown flag")
	}
	rec.Flag = e.spec.Flag[hot[2]]
	rec.Format = Derived
	e.fill(rec, hot, dst[:e.width])
	return nil
}

// trimSpace drops ASCII whitespace at both ends, and a UTF-8 byte order
// mark, which some tools write at the start of a file.
func trimSpace(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		b = b[3:]
	}
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// encodeCSV parses an NSL-KDD CSV line of 41, 42 or 43 fields.
func (e *Encoder) encodeCSV(line []byte, rec *Record, dst []float32) error {
	rec.Format = CSV
	end, _, nerr := e.scanNumbers(line, 0, rec.Numeric[:1])
	if nerr != numberOK {
		return numberFieldError(e.fieldNames[0], line[:fieldEnd(line, 0)], nerr)
	}
	pos := end + 1
	var hot [3]int // vocabulary index of protocol_type, service and flag
	for field := fieldProtocolType; field <= fieldFlag; field++ {
		end := fieldEnd(line, pos)
		i, err := e.setCategory(field, line, pos, end, rec)
		if err != nil {
			return err
		}
		hot[field-fieldProtocolType] = i
		pos = end + 1
	}
	// The field count was checked, so every numeric field starts inside the line.
	end, failed, nerr := e.scanNumbers(line, pos, rec.Numeric[1:])
	if nerr != numberOK {
		return numberFieldError(e.fieldNames[failed+fieldFlag+1], line[end:fieldEnd(line, end)], nerr)
	}
	if j := e.rateOutOfRange(rec); j >= 0 {
		k := j + fieldFlag
		return e.rateError(e.fieldNames[k], nthField(line, k))
	}
	pos = end + 1
	rec.Label, rec.Difficulty = "", -1
	if pos <= len(line) {
		end := fieldEnd(line, pos)
		rec.Label = internLabel(line[pos:end])
		pos = end + 1
	}
	if pos <= len(line) {
		d, err := parseDifficulty(line[pos:])
		if err != nil {
			return err
		}
		rec.Difficulty = d
	}
	e.fill(rec, hot, dst)
	return nil
}

// fieldEnd returns the index of the comma ending the field at pos, or len(line).
func fieldEnd(line []byte, pos int) int {
	for i := pos; i < len(line); i++ {
		if line[i] == ',' {
			return i
		}
	}
	return len(line)
}

// numberFieldError describes why a numeric field was rejected.
func numberFieldError(field string, value []byte, err numberError) error {
	switch err {
	case numberNegative:
		return newFieldError(field, value, ErrNegative, "")
	case numberNotFinite:
		return newFieldError(field, value, ErrNotFinite, "")
	}
	return newFieldError(field, value, ErrNotNumber, "")
}

// rateOutOfRange returns the numeric index of the first rate feature above
// 1 (parsing already refused negatives and non-finite values), or -1.
func (e *Encoder) rateOutOfRange(rec *Record) int {
	for _, j := range e.rates {
		if rec.Numeric[j] > 1 {
			return j
		}
	}
	return -1
}

// rateError is the error for a rate feature outside [0, 1].
func (e *Encoder) rateError(field string, value []byte) error {
	return newFieldError(field, value, ErrOutOfRange, "out of range: a rate is a fraction between 0 and 1")
}

// nthField returns the comma-separated field n of line (error paths only).
func nthField(line []byte, n int) []byte {
	pos := 0
	for range n {
		pos = fieldEnd(line, pos) + 1
		if pos > len(line) {
			return nil
		}
	}
	return line[pos:fieldEnd(line, pos)]
}

// parseDifficulty parses a non-negative integer difficulty level.
func parseDifficulty(b []byte) (int, error) {
	v, nerr := parseNumber(b)
	if nerr != numberOK {
		return 0, numberFieldError("difficulty", b, nerr)
	}
	if v != math.Trunc(v) || v > math.MaxInt32 {
		return 0, newFieldError("difficulty", b, ErrNotInteger, "")
	}
	return int(v), nil
}

// setCategory stores the categorical value line[start:end] as the Spec's
// own string and returns its vocabulary index.
func (e *Encoder) setCategory(field int, line []byte, start, end int, rec *Record) (int, error) {
	switch field {
	case fieldProtocolType:
		i := e.protocols.lookupIn(line, start, end)
		if i < 0 {
			return 0, newFieldError("protocol_type", line[start:end], ErrUnknownValue, "unknown protocol_type")
		}
		rec.ProtocolType = e.spec.ProtocolType[i]
		return i, nil
	case fieldService:
		if start == end {
			return 0, newFieldError("service", nil, ErrUnknownValue, "empty service")
		}
		i := e.services.lookupIn(line, start, end)
		rec.UnknownService = i < 0
		if i < 0 {
			i = e.otherIndex
		}
		rec.Service = e.spec.Service[i]
		return i, nil
	default:
		i := e.flags.lookupIn(line, start, end)
		if i < 0 {
			return 0, newFieldError("flag", line[start:end], ErrUnknownValue, "unknown flag")
		}
		rec.Flag = e.spec.Flag[i]
		return i, nil
	}
}

// fill completes a parsed record: it writes the numeric features and the
// one-hot blocks, given the vocabulary index of protocol_type, service and
// flag, into dst (len == width), and counts an unknown service.
func (e *Encoder) fill(rec *Record, hot [3]int, dst []float32) {
	if rec.UnknownService {
		e.unknownServices.Add(1) // counted only for records that encode
	}
	for i, v := range rec.Numeric {
		dst[i] = float32(v)
	}
	oneHot := dst[NumNumeric:]
	clear(oneHot)
	protocols, services := len(e.spec.ProtocolType), len(e.spec.Service)
	oneHot[hot[0]] = 1
	oneHot[protocols+hot[1]] = 1
	oneHot[protocols+services+hot[2]] = 1
}

// encodeVector parses an already-encoded vector: non-negative finite
// numerics, then one-hot blocks with exactly one 1 each (0/1 may also be
// written false/true, as pandas writes boolean dummies). Any cell may be
// missing (empty or NaN, as the SageMaker XGBoost container reads CSV): it
// is NaN in dst, a missing value for the model. A block's 1 may not be
// missing: it names the record's protocol_type, service and flag.
func (e *Encoder) encodeVector(line []byte, rec *Record, dst []float32) error {
	rec.Format = Vector
	rec.Label, rec.Difficulty, rec.UnknownService = "", -1, false
	end, failed, nerr := e.scanNumbers(line, 0, rec.Numeric[:])
	if nerr != numberOK {
		return numberFieldError(e.columnName(failed), line[end:fieldEnd(line, end)], nerr)
	}
	if j := e.rateOutOfRange(rec); j >= 0 {
		return e.rateError(e.columnName(j), nthField(line, j))
	}
	for i, v := range rec.Numeric {
		dst[i] = float32(v)
	}
	pos := end + 1
	for col := NumNumeric; col < e.width; col++ {
		// A bare "0" is nearly every one-hot cell.
		if pos+1 < len(line) && line[pos] == '0' && line[pos+1] == ',' {
			dst[col] = 0
			pos += 2
			continue
		}
		end := fieldEnd(line, pos)
		value := line[pos:end]
		pos = end + 1
		bit, ok := parseBit(value)
		if !ok {
			return newFieldError(e.columnName(col), value, ErrNotOneHot, "not 0 or 1 in a one-hot column")
		}
		dst[col] = bit
	}
	blocks := []struct {
		name  string
		vocab []string
		dst   *string
	}{
		{"protocol_type", e.spec.ProtocolType, &rec.ProtocolType},
		{"service", e.spec.Service, &rec.Service},
		{"flag", e.spec.Flag, &rec.Flag},
	}
	start := NumNumeric
	for _, b := range blocks {
		hot := -1
		for i, v := range dst[start : start+len(b.vocab)] {
			if v != 1 {
				continue
			}
			if hot >= 0 {
				return newFieldError(b.name, nil, ErrNotOneHot, fmt.Sprintf(
					"%s block has more than one 1 (columns %s and %s)", b.name,
					e.columnName(start+hot), e.columnName(start+i)))
			}
			hot = i
		}
		if hot < 0 {
			return newFieldError(b.name, nil, ErrNotOneHot, fmt.Sprintf("%s block has no 1", b.name))
		}
		*b.dst = b.vocab[hot]
		start += len(b.vocab)
	}
	return nil
}

// parseBit parses a one-hot cell: a number equal to 0 or 1, a boolean, or
// a missing value (empty or NaN), which is NaN.
func parseBit(b []byte) (float32, bool) {
	switch string(b) {
	case "0", "0.0", "False", "false":
		return 0, true
	case "1", "1.0", "True", "true":
		return 1, true
	}
	v, nerr := parseNumber(b)
	if nerr == numberMissing {
		return float32(math.NaN()), true
	}
	if nerr != numberOK || (v != 0 && v != 1) {
		return 0, false
	}
	return float32(v), true
}

// columnName names vector column i (only on error paths: it allocates).
func (e *Encoder) columnName(i int) string {
	if i < e.width {
		return e.spec.ColumnNames()[i]
	}
	return "column " + strconv.Itoa(i)
}
