package connlog_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/captures"
)

// captureNames lists the conn.logs of internal/captures/zeek.
func captureNames(tb testing.TB) []string {
	tb.Helper()
	names, err := fs.Glob(captures.Zeek(), "*.conn.log*.gz")
	if err != nil || len(names) == 0 {
		tb.Fatalf("no captures: %v", err)
	}
	return names
}

// captureLines reads a capture's lines.
func captureLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	rc, err := captures.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	return readLines(tb, rc)
}

// testdataLines reads a gzipped file of testdata.
func testdataLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	return readLines(tb, zr)
}

func readLines(tb testing.TB, r io.Reader) [][]byte {
	tb.Helper()
	var lines [][]byte
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

// parseAll parses lines in order, returning the Conns of the data lines
// and failing on any error.
func parseAll(tb testing.TB, p *connlog.Parser, lines [][]byte) []connlog.Conn {
	tb.Helper()
	var conns []connlog.Conn
	for i, l := range lines {
		var c connlog.Conn
		ok, err := p.Parse(l, &c)
		if err != nil {
			tb.Fatalf("line %d %q: %v", i+1, l, err)
		}
		if ok {
			conns = append(conns, c)
		}
	}
	return conns
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func unix(sec, ns int64) time.Time { return time.Unix(sec, ns).UTC() }
