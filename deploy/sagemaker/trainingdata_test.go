package sagemaker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
)

// Two KDDTrain+ records: an attack (neptune) and a normal connection.
const (
	neptuneLine = "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19"
	normalLine  = "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01,normal,21"
)

func TestWriteTrainingCSV(t *testing.T) {
	spec := etl.DefaultSpec()
	var out bytes.Buffer
	stats, err := WriteTrainingCSV(context.Background(), strings.NewReader(neptuneLine+"\n\n"+normalLine+"\n"), &out, spec)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 2 || stats.Attacks != 1 || stats.Bytes != int64(out.Len()) {
		t.Fatalf("stats = %+v, output %d bytes", stats, out.Len())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), out.String())
	}
	enc := etl.NewEncoder(spec)
	var rec etl.Record
	want := make([]float32, spec.Width())
	for i, tt := range []struct {
		input, label string
	}{{neptuneLine, "1"}, {normalLine, "0"}} {
		fields := strings.Split(lines[i], ",")
		if len(fields) != 1+spec.Width() {
			t.Fatalf("line %d: %d fields, want %d", i+1, len(fields), 1+spec.Width())
		}
		if fields[0] != tt.label {
			t.Errorf("line %d: label %q, want %q", i+1, fields[0], tt.label)
		}
		if err := enc.Encode([]byte(tt.input), &rec, want); err != nil {
			t.Fatal(err)
		}
		for j, f := range fields[1:] {
			v, err := strconv.ParseFloat(f, 32)
			if err != nil {
				t.Fatalf("line %d column %d: %v", i+1, j+2, err)
			}
			if float32(v) != want[j] {
				t.Errorf("line %d feature %s = %v, want %v (exact round trip)", i+1, spec.ColumnNames()[j], float32(v), want[j])
			}
		}
	}
}

func TestWriteTrainingCSVErrorsNameTheLine(t *testing.T) {
	unlabelled := neptuneLine[:strings.LastIndex(neptuneLine, ",neptune")]
	tests := []struct {
		name, input string
		line        int
		want        string
	}{
		{"no label", normalLine + "\n" + unlabelled + "\n", 2, `field "label"`},
		{"unknown label", strings.Replace(neptuneLine, "neptune", "martian", 1), 1, `value "martian"`},
		{"bad flag", strings.Replace(normalLine, ",SF,", ",XX,", 1), 1, `"XX"`},
		{"empty input", "\n\n", 0, "no records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := WriteTrainingCSV(context.Background(), strings.NewReader(tt.input), io.Discard, etl.DefaultSpec())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if tt.line == 0 {
				return
			}
			var le etl.LineError
			if !errors.As(err, &le) || le.Line != tt.line {
				t.Fatalf("err = %v, want a LineError for line %d", err, tt.line)
			}
		})
	}
}

func TestWriteTrainingCSVHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	input := strings.Repeat(normalLine+"\n", 5000)
	if _, err := WriteTrainingCSV(ctx, strings.NewReader(input), io.Discard, etl.DefaultSpec()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestWriteTrainingCSVEmbeddedTrain20(t *testing.T) {
	in, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	stats, err := WriteTrainingCSV(context.Background(), in, &out, etl.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != nslkdd.Train20Records {
		t.Fatalf("rows = %d, want %d", stats.Rows, nslkdd.Train20Records)
	}
	// Count the labels independently of the writer's own counter.
	var attacks int64
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Bytes()[0] == '1' {
			attacks++
		}
	}
	if attacks != stats.Attacks || attacks == 0 || attacks == stats.Rows {
		t.Fatalf("attacks in output = %d, stats say %d of %d", attacks, stats.Attacks, stats.Rows)
	}
}
