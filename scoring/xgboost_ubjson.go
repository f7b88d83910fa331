package scoring

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// maxUBJSONDepth bounds container nesting; XGBoost models nest about 8 deep.
const maxUBJSONDepth = 64

// isUBJSONLengthMarker reports whether b can follow a UBJSON object's '{':
// an integer type marker (the first key's length) or a '$' or '#' header.
func isUBJSONLengthMarker(b byte) bool {
	switch b {
	case 'i', 'U', 'I', 'l', 'L', '$', '#':
		return true
	}
	return false
}

// ubjsonDecoder decodes Universal Binary JSON (draft 12, as XGBoost writes
// it) into the generic document form. Typed numeric arrays become Go slices
// ([]float32, []float64, []int64, []uint8) without per-element boxing.
type ubjsonDecoder struct {
	data []byte
	pos  int
}

func decodeUBJSON(data []byte) (any, error) {
	d := &ubjsonDecoder{data: data}
	marker, err := d.marker()
	if err != nil {
		return nil, err
	}
	return d.value(marker, 0)
}

func (d *ubjsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *ubjsonDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.data)-d.pos {
		return nil, d.errorf("truncated: need %d bytes, have %d", n, len(d.data)-d.pos)
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

// marker reads the next type marker, skipping no-op markers.
func (d *ubjsonDecoder) marker() (byte, error) {
	for {
		b, err := d.take(1)
		if err != nil {
			return 0, err
		}
		if b[0] != 'N' {
			return b[0], nil
		}
	}
}

// integer reads an integer whose type marker is m.
func (d *ubjsonDecoder) integer(m byte) (int64, error) {
	size := integerSize(m)
	if size == 0 {
		return 0, d.errorf("expected an integer marker, got %q", m)
	}
	b, err := d.take(size)
	if err != nil {
		return 0, err
	}
	switch m {
	case 'i':
		return int64(int8(b[0])), nil
	case 'U':
		return int64(b[0]), nil
	case 'I':
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 'l':
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	default:
		return int64(binary.BigEndian.Uint64(b)), nil
	}
}

func integerSize(m byte) int {
	switch m {
	case 'i', 'U':
		return 1
	case 'I':
		return 2
	case 'l':
		return 4
	case 'L':
		return 8
	}
	return 0
}

// length reads a non-negative length or count that must fit in the rest of
// the input when each unit takes at least unit bytes.
func (d *ubjsonDecoder) length(unit int) (int, error) {
	m, err := d.marker()
	if err != nil {
		return 0, err
	}
	n, err := d.integer(m)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(len(d.data)-d.pos)/int64(unit) {
		return 0, d.errorf("length %d exceeds the %d bytes left", n, len(d.data)-d.pos)
	}
	return int(n), nil
}

func (d *ubjsonDecoder) str() (string, error) {
	n, err := d.length(1)
	if err != nil {
		return "", err
	}
	b, err := d.take(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// value decodes the value whose type marker m has been read.
func (d *ubjsonDecoder) value(m byte, depth int) (any, error) {
	switch m {
	case 'Z':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i', 'U', 'I', 'l', 'L':
		return d.integer(m)
	case 'd':
		b, err := d.take(4)
		if err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
	case 'D':
		b, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case 'H':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return json.Number(s), nil
	case 'C':
		b, err := d.take(1)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case 'S':
		return d.str()
	case '[':
		return d.array(depth + 1)
	case '{':
		return d.object(depth + 1)
	}
	return nil, d.errorf("unknown type marker %q", m)
}

// containerHeader reads the optional "$type" and "#count" of a container.
// count is -1 when the container is terminated by a closing marker instead.
func (d *ubjsonDecoder) containerHeader() (elemType byte, count int, err error) {
	if d.pos >= len(d.data) {
		return 0, 0, d.errorf("truncated container")
	}
	if d.data[d.pos] == '$' {
		d.pos++
		b, err := d.take(1)
		if err != nil {
			return 0, 0, err
		}
		elemType = b[0]
		switch elemType {
		case 'Z', 'T', 'F', 'N':
			// Zero-byte elements would let a tiny input claim a huge container.
			return 0, 0, d.errorf("unsupported typed container of %q", elemType)
		}
		if d.pos >= len(d.data) || d.data[d.pos] != '#' {
			return 0, 0, d.errorf("typed container without a count")
		}
	}
	if d.pos < len(d.data) && d.data[d.pos] == '#' {
		d.pos++
		count, err = d.length(max(1, fixedSize(elemType)))
		if err != nil {
			return 0, 0, err
		}
		return elemType, count, nil
	}
	return elemType, -1, nil
}

// fixedSize is the byte size of a fixed-width element type, 0 otherwise.
func fixedSize(t byte) int {
	switch t {
	case 'd':
		return 4
	case 'D':
		return 8
	case 'C':
		return 1
	}
	return integerSize(t)
}

func (d *ubjsonDecoder) array(depth int) (any, error) {
	if depth > maxUBJSONDepth {
		return nil, d.errorf("nesting deeper than %d", maxUBJSONDepth)
	}
	elemType, count, err := d.containerHeader()
	if err != nil {
		return nil, err
	}
	if count >= 0 && fixedSize(elemType) > 0 && elemType != 'C' {
		return d.typedArray(elemType, count)
	}
	var out []any
	for i := 0; count < 0 || i < count; i++ {
		m := elemType
		if m == 0 {
			if m, err = d.marker(); err != nil {
				return nil, err
			}
			if count < 0 && m == ']' {
				return out, nil
			}
		}
		v, err := d.value(m, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// typedArray decodes count fixed-width numbers of type t.
func (d *ubjsonDecoder) typedArray(t byte, count int) (any, error) {
	size := fixedSize(t)
	b, err := d.take(count * size)
	if err != nil {
		return nil, err
	}
	switch t {
	case 'd':
		out := make([]float32, count)
		for i := range out {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(b[i*4:]))
		}
		return out, nil
	case 'D':
		out := make([]float64, count)
		for i := range out {
			out[i] = math.Float64frombits(binary.BigEndian.Uint64(b[i*8:]))
		}
		return out, nil
	case 'U':
		return append([]uint8(nil), b...), nil
	}
	out := make([]int64, count)
	for i := range out {
		e := b[i*size : (i+1)*size]
		switch t {
		case 'i':
			out[i] = int64(int8(e[0]))
		case 'I':
			out[i] = int64(int16(binary.BigEndian.Uint16(e)))
		case 'l':
			out[i] = int64(int32(binary.BigEndian.Uint32(e)))
		default:
			out[i] = int64(binary.BigEndian.Uint64(e))
		}
	}
	return out, nil
}

func (d *ubjsonDecoder) object(depth int) (any, error) {
	if depth > maxUBJSONDepth {
		return nil, d.errorf("nesting deeper than %d", maxUBJSONDepth)
	}
	elemType, count, err := d.containerHeader()
	if err != nil {
		return nil, err
	}
	out := make(map[string]any)
	for i := 0; count < 0 || i < count; i++ {
		if count < 0 {
			if d.pos >= len(d.data) {
				return nil, d.errorf("truncated object")
			}
			if d.data[d.pos] == '}' {
				d.pos++
				return out, nil
			}
		}
		key, err := d.str()
		if err != nil {
			return nil, fmt.Errorf("reading object key: %w", err)
		}
		m := elemType
		if m == 0 {
			if m, err = d.marker(); err != nil {
				return nil, err
			}
		}
		v, err := d.value(m, depth)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		out[key] = v
	}
	return out, nil
}
