// Package captures holds the project's single copy of real network captures
// (Zeek conn.logs from the Stratosphere Laboratory and Zeek's own test
// baselines; see zeek/README.md for sources and licences), embedded so that
// tests and tools never read files outside the module. Built with -tags
// nogpl it leaves out the Stratosphere captures, which are GPL-2.0, for a
// binary under the project's licence and its dependencies' alone (see
// NOTICE).
package captures

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/sagewall/sagewall/connlog"
)

// Zeek returns the zeek directory: gzipped conn.logs, their licences and a
// README.
func Zeek() fs.FS {
	sub, err := fs.Sub(zeekFiles, "zeek")
	if err != nil {
		panic(err) // unreachable: "zeek" is a valid, embedded directory name
	}
	return sub
}

// Open opens a file of the zeek directory by name; a ".gz" file is
// decompressed as it is read. Close the result.
func Open(name string) (io.ReadCloser, error) {
	f, err := Zeek().Open(name)
	if errors.Is(err, fs.ErrNotExist) && !Stratosphere && isStratosphere(name) {
		return nil, fmt.Errorf("opening capture %s: left out of this build (-tags nogpl leaves out the GPL-2.0 Stratosphere captures): %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening capture %s: %w", name, err)
	}
	return gunzipReader{zr, f}, nil
}

// isStratosphere reports whether name is one of the Stratosphere
// Laboratory's captures (GPL-2.0; see zeek/README.md).
func isStratosphere(name string) bool {
	return strings.HasPrefix(name, "ctu-") || strings.HasPrefix(name, "android-")
}

// gunzipReader closes both the gzip stream and the file under it.
type gunzipReader struct {
	*gzip.Reader
	file fs.File
}

func (r gunzipReader) Close() error {
	err := r.Reader.Close()
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// Conns parses the connections of the Zeek capture name (header and
// comment lines skipped).
func Conns(name string) ([]connlog.Conn, error) {
	rc, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	parser := connlog.NewParser(connlog.Zeek)
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var conns []connlog.Conn
	for line := 1; sc.Scan(); line++ {
		var c connlog.Conn
		ok, err := parser.Parse(sc.Bytes(), &c)
		if err != nil {
			return nil, fmt.Errorf("parsing capture %s: line %d: %w", name, line, err)
		}
		if ok {
			conns = append(conns, c)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading capture %s: %w", name, err)
	}
	return conns, nil
}

// ReplaySpan is how far to shift each further pass of a replay of conns so
// that event time keeps moving forward: their start times' range and an
// hour.
func ReplaySpan(conns []connlog.Conn) time.Duration {
	if len(conns) == 0 {
		return time.Hour
	}
	first, last := conns[0].Start, conns[0].Start
	for _, c := range conns {
		if c.Start.Before(first) {
			first = c.Start
		}
		if c.Start.After(last) {
			last = c.Start
		}
	}
	return last.Sub(first) + time.Hour
}
