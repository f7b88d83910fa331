package etl

import (
	"errors"
	"fmt"
	"strconv"
)

// Reasons a record is rejected, for errors.Is on a *FieldError.
var (
	ErrEmptyLine      = errors.New("empty line")
	ErrLineTooLong    = errors.New("line too long")
	ErrFieldCount     = errors.New("wrong number of fields")
	ErrNotNumber      = errors.New("not a number")
	ErrNegative       = errors.New("negative")
	ErrNotFinite      = errors.New("not finite")
	ErrNotInteger     = errors.New("not an integer")
	ErrUnknownValue   = errors.New("unknown value")
	ErrBadJSON        = errors.New("invalid JSON")
	ErrWrongType      = errors.New("wrong JSON type")
	ErrMissingField   = errors.New("missing field")
	ErrDuplicateField = errors.New("duplicate field")
	ErrNotOneHot      = errors.New("not one-hot")
	ErrOutOfRange     = errors.New("out of range")
)

// maxValueBytes bounds how much of an offending value an error quotes.
const maxValueBytes = 48

// FieldError names the field and the value that made a record invalid.
// Field is empty for line-level problems (empty, too long, field count,
// malformed JSON), where Value holds the start of the line.
type FieldError struct {
	Field  string // feature name, "label" or "difficulty"; "" for the whole line
	Value  string // the offending value, truncated to 48 bytes
	Reason string // e.g. "unknown flag"
	Err    error  // the sentinel reason (ErrUnknownValue, ErrNegative, ...), for errors.Is
}

func (e *FieldError) Error() string {
	var b []byte
	if e.Field != "" {
		b = append(b, "field "...)
		b = strconv.AppendQuote(b, e.Field)
		b = append(b, ": "...)
	}
	if e.Value != "" || (e.Field != "" && valueMatters(e.Err)) {
		b = append(b, "value "...)
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ": "...)
	}
	return string(append(b, e.Reason...))
}

func (e *FieldError) Unwrap() error { return e.Err }

// valueMatters reports whether an error about a field is about its value,
// so an empty value is worth quoting.
func valueMatters(reason error) bool {
	switch reason {
	case ErrMissingField, ErrDuplicateField, ErrNotOneHot:
		return false
	}
	return true
}

// newFieldError builds a *FieldError, truncating the value.
func newFieldError(field string, value []byte, sentinel error, reason string) *FieldError {
	v := string(value[:min(len(value), maxValueBytes)])
	if len(value) > maxValueBytes {
		v += "..."
	}
	if reason == "" {
		reason = sentinel.Error()
	}
	return &FieldError{Field: field, Value: v, Reason: reason, Err: sentinel}
}

// LineError adds the 1-based line number to an error from Encode. Its
// methods have value receivers so both LineError and *LineError are errors.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e LineError) Unwrap() error { return e.Err }
