package etl

import (
	"bufio"
	"testing"

	"github.com/sagewall/sagewall/etl/nslkdd"
)

// trainLines returns up to n lines of the embedded KDDTrain+ (n <= 0: all).
func trainLines(tb testing.TB, n int) [][]byte {
	tb.Helper()
	r, err := nslkdd.Open(nslkdd.Train)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var lines [][]byte
	sc := bufio.NewScanner(r)
	for sc.Scan() && (n <= 0 || len(lines) < n) {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}
