package connlog

import (
	"errors"
	"strconv"
)

// Reasons a line is rejected, for errors.Is on a *FieldError.
var (
	ErrEmptyLine      = errors.New("empty line")
	ErrLineTooLong    = errors.New("line too long")
	ErrNoHeader       = errors.New("no header before data")
	ErrBadHeader      = errors.New("invalid header")
	ErrFieldCount     = errors.New("wrong number of fields")
	ErrBadJSON        = errors.New("invalid JSON")
	ErrWrongType      = errors.New("wrong JSON type")
	ErrMissingField   = errors.New("missing field")
	ErrDuplicateField = errors.New("duplicate field")
	ErrNotConnLog     = errors.New("not a conn log")
	ErrBadTime        = errors.New("not a timestamp")
	ErrBadAddr        = errors.New("not an IP address")
	ErrBadPort        = errors.New("not a port")
	ErrNotNumber      = errors.New("not a number")
	ErrNegative       = errors.New("negative")
)

// maxValueBytes bounds how much of an offending value an error quotes.
const maxValueBytes = 48

// FieldError names the field and the value that made a line invalid. Field
// is empty for line-level problems (empty, too long, field count, malformed
// JSON, no header), where Value holds the start of the line. The pipeline
// adds the line's position (Kafka offset, line number) itself.
type FieldError struct {
	Field  string // Zeek or VPC field name as the line spelled it, a header name ("#fields"), or "" for the whole line
	Value  string // the offending value, truncated to 48 bytes
	Reason string // e.g. "not an IP address"
	Err    error  // the sentinel reason (ErrBadAddr, ErrNegative, ...), for errors.Is
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

// Code is a stable snake_case name of the reason, for metric labels and
// dead-letter headers: it does not change when Reason's wording does.
func (e *FieldError) Code() string {
	switch e.Err {
	case ErrEmptyLine:
		return "empty_line"
	case ErrLineTooLong:
		return "line_too_long"
	case ErrNoHeader:
		return "no_header"
	case ErrBadHeader:
		return "bad_header"
	case ErrFieldCount:
		return "field_count"
	case ErrBadJSON:
		return "bad_json"
	case ErrWrongType:
		return "wrong_type"
	case ErrMissingField:
		return "missing_field"
	case ErrDuplicateField:
		return "duplicate_field"
	case ErrNotConnLog:
		return "not_conn_log"
	case ErrBadTime:
		return "bad_time"
	case ErrBadAddr:
		return "bad_addr"
	case ErrBadPort:
		return "bad_port"
	case ErrNotNumber:
		return "not_number"
	case ErrNegative:
		return "negative"
	}
	return "invalid"
}

// valueMatters reports whether an error about a field is about its value,
// so an empty value is worth quoting.
func valueMatters(reason error) bool {
	switch reason {
	case ErrMissingField, ErrDuplicateField:
		return false
	}
	return true
}

// newFieldError builds a *FieldError, truncating the value; an empty reason
// is the sentinel's text.
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

// lineError is a *FieldError about the whole line, quoting its start.
func lineError(line []byte, sentinel error, reason string) *FieldError {
	return newFieldError("", line, sentinel, reason)
}
