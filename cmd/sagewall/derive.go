package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/features"
)

// deriveFlags are the connection-log flags of score, eval and features:
// the same defaults as run's input.* settings, so a file's features are the
// stream's.
type deriveFlags struct {
	format        *string
	reorderWindow *time.Duration
	hostHorizon   *time.Duration
}

func addDeriveFlags(fs *flag.FlagSet, formatUsage string) deriveFlags {
	return deriveFlags{
		format:        fs.String("format", "auto", formatUsage),
		reorderWindow: fs.Duration("reorder-window", features.DefaultReorderWindow, "connection logs: event time a connection waits for earlier-starting ones logged after it (run's input.reorder_window)"),
		hostHorizon:   fs.Duration("host-horizon", features.DefaultHostHorizon, "connection logs: how far back a host's last 100 connections count (run's input.host_horizon)"),
	}
}

// lineInput reads the flags.
func (f deriveFlags) lineInput() (lineInput, error) {
	input, conn, err := parseInputFormat(*f.format)
	if err != nil {
		return lineInput{}, usageError{fmt.Errorf("--format: %w", err)}
	}
	if *f.reorderWindow < 0 || *f.hostHorizon <= 0 {
		return lineInput{}, usageError{fmt.Errorf("--reorder-window %s, --host-horizon %s: want 0 or more, more than 0", *f.reorderWindow, *f.hostHorizon)}
	}
	return lineInput{conn: conn, input: input, derive: []features.Option{
		features.WithReorderWindow(*f.reorderWindow), features.WithHostHorizon(*f.hostHorizon),
	}}, nil
}

// lineDeriver turns the connection-log lines of one file or stream into
// derived records for score, eval and features: a connlog.Parser (headers
// apply to the lines after them) and a features.Deriver, whose released
// connections carry their line number as the ticket.
type lineDeriver struct {
	input     connlog.Input
	parser    *connlog.Parser
	deriver   *features.Deriver
	conn      connlog.Conn
	sawHeader bool
}

func newLineDeriver(input connlog.Input, opts []features.Option) *lineDeriver {
	return &lineDeriver{input: input, parser: connlog.NewParser(input), deriver: features.New(opts...)}
}

// wants reports whether line is a connection-log line; with auto input an
// NSL-KDD record is not (a header line switches plain lines over).
func (l *lineDeriver) wants(line []byte) bool {
	return l.input != connlog.Auto || l.sawHeader || connlog.IsConnLogLine(line)
}

// add parses line lineNo and feeds it to the deriver; emit receives every
// connection that became final, with its own line number.
func (l *lineDeriver) add(line []byte, lineNo int, emit func(line int, d *features.Derived)) error {
	ok, err := l.parser.Parse(line, &l.conn)
	if err != nil {
		return err
	}
	if !ok {
		l.sawHeader = true
		return nil
	}
	l.deriver.Add(&l.conn, uint64(lineNo), time.Now(), func(d *features.Derived) { emit(int(d.Ticket), d) })
	return nil
}

// flushAll releases every held connection (end of input).
func (l *lineDeriver) flushAll(emit func(line int, d *features.Derived)) {
	l.deriver.FlushAll(func(d *features.Derived) { emit(int(d.Ticket), d) })
}
