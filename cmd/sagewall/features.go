package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/features"
)

// identityColumns lead each line of `sagewall features --identity`.
const identityColumns = "ts,uid,src_ip,src_port,dst_ip,dst_port,proto"

// runFeatures is `sagewall features`: connection logs in, one NSL-KDD CSV
// line per connection out (41 derived features, then the label when the
// log has one), in the order of the connections' start times, so that
// users can label and retrain on their own traffic.
func runFeatures(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	fs.SetOutput(io.err)
	derive := addDeriveFlags(fs, "input format: auto (per line), zeek (conn.log, JSON or TSV) or vpcflow")
	identity := fs.Bool("identity", false, "write a header row and lead each line with "+identityColumns)
	labelMap := fs.String("label-map", "", "rename labels, e.g. `Malicious=neptune,Benign=normal` (after Benign/Background are mapped to normal/unlabelled)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: sagewall features [--format auto|zeek|vpcflow] [--identity] [--label-map A=B,...] FILE|-")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Derives NSL-KDD's 41 features from connection logs (FILE may be gzipped) and")
		fmt.Fprintln(io.err, "writes them as NSL-KDD CSV, with the log's label column (Stratosphere's")
		fmt.Fprintln(io.err, "'label': Benign → normal, Background → no label) as the 42nd field. Without")
		fmt.Fprintln(io.err, "--identity the output is what deploy/train/train.sh --data reads.")
		fmt.Fprintln(io.err)
		fs.PrintDefaults()
	}
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return usageError{err}
	}
	if len(files) != 1 {
		return usageError{fmt.Errorf("want one FILE or -, got %d arguments", len(files))}
	}
	in, err := derive.lineInput()
	if err != nil {
		return err
	}
	if !in.conn {
		return usageError{errors.New("--format nslkdd: the records already carry their features")}
	}
	renames, err := parseLabelMap(*labelMap)
	if err != nil {
		return usageError{fmt.Errorf("--label-map: %w", err)}
	}
	input, closeInput, err := openEvalInput(files[0], io.in)
	if err != nil {
		return err
	}
	defer closeInput()

	written, bad, err := writeFeatures(ctx, input, in, *identity, renames, io.out, func(lineNo int, err error) {
		fmt.Fprintf(io.err, "sagewall features: %s: %v\n", files[0], etl.LineError{Line: lineNo, Err: err})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "sagewall features: %d connections, %d bad lines\n", written, bad)
	if written == 0 {
		return errors.New("no connection could be read")
	}
	return nil
}

// writeFeatures reads connection-log lines from r and writes one NSL-KDD
// CSV line per connection to w, in start-time order; bad is told of every
// line that could not be read.
func writeFeatures(ctx context.Context, r io.Reader, in lineInput, identity bool, renames map[string]string,
	w io.Writer, bad func(line int, err error)) (written, rejected int, err error) {
	out := bufio.NewWriterSize(w, 64<<10)
	if identity {
		fmt.Fprintf(out, "%s,%s,label\n", identityColumns, strings.Join(etl.FieldNames(), ","))
	}
	enc := etl.NewEncoder(nil)
	row := make([]float32, etl.Width)
	var line []byte
	var writeErr error
	emit := func(lineNo int, d *features.Derived) {
		if writeErr != nil {
			return
		}
		rec := d.Record
		if err := enc.EncodeRecord(&rec, row); err != nil {
			rejected++
			bad(lineNo, err)
			return
		}
		line = line[:0]
		if identity {
			line = appendIdentityCSV(line, &d.Conn)
		}
		line = appendRecordCSV(line, &rec)
		label := connlog.KDDLabel(d.Conn.Label)
		if to, ok := renames[label]; ok {
			label = to
		}
		if label != "" || identity {
			line = append(line, ',')
			line = append(line, label...)
		}
		line = append(line, '\n')
		_, writeErr = out.Write(line)
		written++
	}
	deriver := newLineDeriver(in.input, in.derive)
	br := bufio.NewReaderSize(r, maxReadLine)
	for lineNo := 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			return written, rejected, err
		}
		text, _, err := readLine(br)
		atEOF := errors.Is(err, io.EOF)
		if err != nil && !atEOF {
			return written, rejected, fmt.Errorf("reading line %d: %w", lineNo, err)
		}
		if len(bytes.TrimSpace(text)) > 0 {
			if perr := deriver.add(text, lineNo, emit); perr != nil {
				rejected++
				bad(lineNo, perr)
			}
		}
		if atEOF {
			break
		}
	}
	deriver.flushAll(emit)
	if writeErr != nil {
		return written, rejected, fmt.Errorf("writing features: %w", writeErr)
	}
	if err := out.Flush(); err != nil {
		return written, rejected, fmt.Errorf("writing features: %w", err)
	}
	return written, rejected, nil
}

// parseLabelMap reads "from=to,from=to".
func parseLabelMap(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		if !ok || from == "" || to == "" || strings.ContainsAny(to, ",\n") {
			return nil, fmt.Errorf("%q is not FROM=TO", pair)
		}
		m[connlog.KDDLabel(from)] = to
		m[from] = to
	}
	return m, nil
}

// appendRecordCSV writes the 41 features in NSL-KDD's column order.
func appendRecordCSV(dst []byte, r *etl.Record) []byte {
	for i, name := range etl.FieldNames() {
		if i > 0 {
			dst = append(dst, ',')
		}
		switch name {
		case "protocol_type":
			dst = append(dst, r.ProtocolType...)
		case "service":
			dst = append(dst, r.Service...)
		case "flag":
			dst = append(dst, r.Flag...)
		default:
			n := i
			if i > 0 {
				n = i - 3
			}
			dst = strconv.AppendFloat(dst, r.Numeric[n], 'g', -1, 64)
		}
	}
	return dst
}

// appendIdentityCSV writes the identityColumns of c and a trailing comma.
func appendIdentityCSV(dst []byte, c *connlog.Conn) []byte {
	if !c.Start.IsZero() {
		dst = c.Start.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, ',')
	dst = append(dst, c.UID...)
	dst = append(dst, ',')
	if c.OrigAddr.IsValid() {
		dst = c.OrigAddr.AppendTo(dst)
	}
	dst = append(dst, ',')
	dst = strconv.AppendUint(dst, uint64(c.OrigPort), 10)
	dst = append(dst, ',')
	if c.RespAddr.IsValid() {
		dst = c.RespAddr.AppendTo(dst)
	}
	dst = append(dst, ',')
	dst = strconv.AppendUint(dst, uint64(c.RespPort), 10)
	dst = append(dst, ',')
	dst = append(dst, c.Proto...)
	return append(dst, ',')
}
