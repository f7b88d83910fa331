package nslkdd

import (
	"bufio"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		records int
	}{
		{Train, TrainRecords},
		{Train20, Train20Records},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(r)
			n := 0
			for sc.Scan() {
				n++
				if fields := strings.Count(sc.Text(), ",") + 1; fields != 43 {
					t.Fatalf("line %d has %d fields, want 43", n, fields)
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if n != tt.records {
				t.Errorf("%d records, want %d", n, tt.records)
			}
		})
	}
}

func TestOpenUnknown(t *testing.T) {
	if _, err := Open("KDDTest+.txt.gz"); err == nil || !strings.Contains(err.Error(), "opening embedded KDDTest+.txt.gz") {
		t.Errorf("Open of a file not embedded: %v", err)
	}
}
