// Command zeeklines prints the bundled labelled Zeek capture as the S3
// bridge writes it to Kafka, one "key<TAB>JSON" line per connection (key:
// the destination host), cycled to N lines; each pass is shifted forward by
// the capture's span so that event time keeps moving. scripts/profile-run.sh
// --zeek feeds it to kcat -K'\t'.
//
// With -format tsv it prints the capture's own TSV data lines instead, as
// "key<TAB>line" (ts and uid rewritten for each pass the same way), and with
// -header only the capture's header lines, which a TSV line needs before it
// in its partition: scripts/profile-run.sh --zeek-tsv writes them to every
// partition first.
//
//	go run ./internal/bench/zeeklines -n 1000000 > backlog.txt
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/captures"
)

const capture = "ctu-normal-40-day1.conn.log.labeled.gz"

func main() {
	n := flag.Int("n", 1_000_000, "lines to print")
	format := flag.String("format", "json", "json (as the S3 bridge writes it) or tsv (as Zeek wrote it)")
	header := flag.Bool("header", false, "with -format tsv: print only the capture's header lines")
	flag.Parse()
	var err error
	switch {
	case *format == "json" && !*header:
		err = printJSON(*n)
	case *format == "tsv":
		err = printTSV(*n, *header)
	default:
		err = fmt.Errorf("-format %q -header %t: want json, or tsv with or without -header", *format, *header)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zeeklines:", err)
		os.Exit(1)
	}
}

func printJSON(n int) error {
	conns, err := captures.Conns(capture)
	if err != nil {
		return err
	}
	span := captures.ReplaySpan(conns)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	var buf []byte
	for i := range n {
		c := conns[i%len(conns)]
		if pass := i / len(conns); pass > 0 {
			c.Start = c.Start.Add(time.Duration(pass) * span)
			c.UID += "-" + strconv.Itoa(pass)
		}
		buf = c.RespAddr.AppendTo(buf[:0])
		buf = append(buf, '\t')
		buf = append(connlog.AppendZeekJSON(buf, &c), '\n')
		if _, err := out.Write(buf); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	return out.Flush()
}

// printTSV prints the capture's header lines (header) or n of its data
// lines, keyed by destination host, the ts and uid cells of each further
// pass rewritten as printJSON shifts them.
func printTSV(n int, header bool) error {
	conns, err := captures.Conns(capture)
	if err != nil {
		return err
	}
	headers, lines, err := captureLines()
	if err != nil {
		return err
	}
	if len(lines) != len(conns) {
		return fmt.Errorf("capture %s: %d data lines but %d connections", capture, len(lines), len(conns))
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	if header {
		for _, h := range headers {
			out.Write(h)
			out.WriteByte('\n')
		}
		return out.Flush()
	}
	span := captures.ReplaySpan(conns)
	var buf []byte
	for i := range n {
		k := i % len(conns)
		c, line := &conns[k], lines[k]
		buf = c.RespAddr.AppendTo(buf[:0])
		buf = append(buf, '\t')
		if pass := i / len(conns); pass > 0 {
			// The line's first two cells are ts and uid (the capture's #fields).
			cells := bytes.SplitN(line, []byte{'\t'}, 3)
			start := c.Start.Add(time.Duration(pass) * span)
			buf = strconv.AppendInt(buf, start.Unix(), 10)
			buf = fmt.Appendf(buf, ".%06d\t%s-%d\t", start.Nanosecond()/1000, cells[1], pass)
			line = cells[2]
		}
		buf = append(append(buf, line...), '\n')
		if _, err := out.Write(buf); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	return out.Flush()
}

// captureLines returns the capture's header lines and its data lines.
func captureLines() (headers, lines [][]byte, err error) {
	rc, err := captures.Open(capture)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		switch {
		case len(line) > 0 && line[0] == '#':
			// #close ends a file; the replay keeps going.
			if !bytes.HasPrefix(line, []byte("#close")) {
				headers = append(headers, line)
			}
		case len(line) > 0:
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading capture %s: %w", capture, err)
	}
	return headers, lines, nil
}
