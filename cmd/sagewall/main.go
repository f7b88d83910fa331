// Command sagewall is a real-time network intrusion detector: it encodes
// NSL-KDD connection records, scores them with an XGBoost model and writes
// one verdict per record.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"
)

// stdio carries the process streams so commands can be tested in-process.
type stdio struct {
	in       io.Reader
	out      io.Writer
	err      io.Writer
	inIsTTY  bool
	errIsTTY bool
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

// commands is the subcommand table; each subcommand lives in its own file.
func commands() map[string]command {
	return map[string]command{
		"run":      {"the streaming pipeline: raw topic → encode → micro-batch → score → verdict topic, at-least-once", runRun},
		"demo":     {"everything in one process: a Kafka-protocol broker, the bundled records (or, --source zeek, a real Zeek conn.log) replayed, the pipeline over them", runDemo},
		"bridge":   {"S3 → Kafka bridge: SQS ObjectCreated notifications to one raw-topic message per line", runBridge},
		"serve":    {"SageMaker inference server (GET /ping, POST /invocations) over the bundled or a given model", runServe},
		"deploy":   {"SageMaker training and endpoints: train, endpoint, status, delete", runDeploy},
		"score":    {"score NSL-KDD records or connection logs with the bundled or a given model, one JSON verdict per line", runScore},
		"features": {"connection logs (Zeek conn.log, VPC Flow Logs) → NSL-KDD CSV with derived features, to label and retrain", runFeatures},
		"eval":     {"measure a model on a labelled NSL-KDD file or connection log: accuracy, detection and false-alarm rates, ROC-AUC", runEval},
		"version":  {"the build (version, git commit, Go) and the bundled models with their thresholds; also --version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, inIsTTY: isTerminal(os.Stdin), errIsTTY: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and turns its error into an exit status.
func run(ctx context.Context, args []string, io stdio) int {
	cmds := commands()
	if len(args) == 0 {
		usage(io.err, cmds)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.out, cmds) // asked for: the answer, not a diagnostic
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "sagewall: unknown command %q\n\n", args[0])
		usage(io.err, cmds)
		return 2
	}
	if asksForHelp(args[1:]) {
		io.err = io.out // a subcommand's flag set prints its usage on err
	}
	if err := cmd.run(ctx, args[1:], io); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(io.err, "sagewall %s: %v\n", args[0], err)
		var usageErr usageError
		if errors.As(err, &usageErr) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks a bad invocation (exit status 2) rather than a failed run.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: sagewall <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'sagewall <command> -h' for a command's flags.")
}

// isTerminal reports whether f is a terminal (not merely a character device
// such as /dev/null), so progress is shown only to a person watching.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// asksForHelp reports whether a subcommand's arguments ask for its usage
// (-h, -help or --help before a "--").
func asksForHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
