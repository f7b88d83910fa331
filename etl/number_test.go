package etl

import (
	"math"
	"strconv"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  numberError
	}{
		{"0", 0, numberOK},
		{"491", 491, numberOK},
		{"0.17", 0.17, numberOK},
		{"1.00", 1, numberOK},
		{"5.", 5, numberOK},
		{".5", 0.5, numberOK},
		{"1379963888", 1379963888, numberOK},
		{"123456789012345678901234567890", 123456789012345678901234567890, numberOK},
		{"0.1234567890123456789012345", 0.1234567890123456789012345, numberOK},
		{"1e3", 1000, numberOK},
		{"2.5E-2", 0.025, numberOK},
		{"1e-400", 0, numberOK},
		{"-0", 0, numberOK},
		{"-0.0", 0, numberOK},
		{"-1", -1, numberNegative},
		{"-0.5e1", -5, numberNegative},
		{"1e400", math.Inf(1), numberNotFinite},
		{"-1e400", math.Inf(-1), numberNegative},
		{"", math.NaN(), numberMissing},
		{".", 0, numberSyntax},
		{"-", 0, numberSyntax},
		{"1e", 0, numberSyntax},
		{"1e+", 0, numberSyntax},
		{"+1", 0, numberSyntax},
		{"1.2.3", 0, numberSyntax},
		{"NaN", math.NaN(), numberMissing},
		{"nan", math.NaN(), numberMissing},
		{"NAN", math.NaN(), numberMissing},
		{"NaNa", 0, numberSyntax},
		{"Inf", 0, numberSyntax},
		{"0x10", 0, numberSyntax},
		{"1_000", 0, numberSyntax},
		{" 1", 0, numberSyntax},
		{"1 ", 0, numberSyntax},
		{"tcp", 0, numberSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseNumber([]byte(tt.in))
			if err != tt.err {
				t.Fatalf("parseNumber(%q) error = %d, want %d", tt.in, err, tt.err)
			}
			if tt.err == numberSyntax {
				return
			}
			if tt.err == numberMissing {
				if !math.IsNaN(got) {
					t.Errorf("parseNumber(%q) = %v, want NaN", tt.in, got)
				}
			} else if got != tt.want || math.Signbit(got) != math.Signbit(tt.want) {
				t.Errorf("parseNumber(%q) = %v, want %v", tt.in, got, tt.want)
			}
			// scanNumber must agree, both inside a line and at its end.
			for _, line := range []string{tt.in, tt.in + ",tcp", tt.in + ",0,0,0,0,0,0,0"} {
				v, end, serr := scanNumber([]byte(line), 0)
				if serr != tt.err || end != len(tt.in) || (serr == numberOK && v != got) {
					t.Errorf("scanNumber(%q) = %v, %d, %d; want %v, %d, %d", line, v, end, serr, got, len(tt.in), tt.err)
				}
			}
		})
	}
}

// TestScanNumberMatchesStrconv checks the eight-lane fast path against
// strconv for every short decimal shape it handles.
func TestScanNumberMatchesStrconv(t *testing.T) {
	var inputs []string
	for _, n := range []uint64{0, 1, 7, 9, 10, 42, 99, 100, 255, 491, 1000, 9999, 12345, 99999, 123456, 999999, 1234567, 9999999} {
		s := strconv.FormatUint(n, 10)
		inputs = append(inputs, s)
		for dot := 0; dot <= len(s); dot++ {
			inputs = append(inputs, s[:dot]+"."+s[dot:])
		}
		inputs = append(inputs, "00"+s, s+".000")
	}
	for _, in := range inputs {
		want, err := strconv.ParseFloat(in, 64)
		if err != nil {
			t.Fatalf("test input %q: %v", in, err)
		}
		for _, c := range []struct {
			line string
			pos  int
		}{{in, 0}, {in + ",", 0}, {in + ",SF,0,0,0,0", 0}, {"0," + in + ",1", 2}} {
			line, pos := c.line, c.pos
			got, end, nerr := scanNumber([]byte(line), pos)
			if nerr != numberOK || got != want || end != pos+len(in) {
				t.Errorf("scanNumber(%q, %d) = %v, %d, %d; want %v, %d", line, pos, got, end, nerr, want, pos+len(in))
			}
		}
	}
}
