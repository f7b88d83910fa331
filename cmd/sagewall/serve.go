package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/serve"
)

// sageMakerModelDir is where SageMaker unpacks the model artifact in a container.
const sageMakerModelDir = "/opt/ml/model"

func runServe(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.err)
	defaultAddr := ":8080"
	if port := os.Getenv("SAGEMAKER_BIND_TO_PORT"); port != "" {
		defaultAddr = ":" + port
	}
	addr := fs.String("addr", defaultAddr, "listen `ADDRESS` (SageMaker sends traffic to port 8080)")
	modelDir := fs.String("model-dir", sageMakerModelDir, "model `DIR`: an xgboost-model file, a model.tar.gz, or a directory like scoring/bundled; the bundled model when absent or empty")
	maxBytes := fs.Int64("max-request-bytes", serve.MaxRequestBytes, "largest request body, like SageMaker's 6 MB")
	grace := fs.Duration("shutdown-grace", 25*time.Second, "how long in-flight requests may finish after SIGTERM")
	dashboardOn := fs.Bool("dashboard", true, "serve the web dashboard (analyze records) at /dashboard/ on --dashboard-addr")
	dashboardAddr := fs.String("dashboard-addr", "127.0.0.1:8081", "listen `ADDRESS` of the dashboard, apart from the SageMaker port")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: sagewall serve [--addr :8080] [--model-dir /opt/ml/model]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Serves the SageMaker inference protocol (GET /ping, POST /invocations) so the")
		fmt.Fprintln(io.err, "image can be a SageMaker endpoint. /invocations takes text/csv (122-value rows or")
		fmt.Fprintln(io.err, "raw NSL-KDD records; an empty cell or NaN is a missing value) or JSON lines and")
		fmt.Fprintln(io.err, "answers like the built-in XGBoost container: text/csv (default), application/json")
		fmt.Fprintln(io.err, "or application/jsonlines; for a 5-class model, every class's probability per row")
		fmt.Fprintln(io.err, "(multi:softmax: the class index).")
		fmt.Fprintln(io.err)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	logger := slog.New(slog.NewJSONHandler(io.err, nil))
	detector, source, err := loadServeModel(*modelDir)
	if err != nil {
		return err
	}
	info := detector.Info()
	logger.Info("model loaded", "from", source, "name", info.Name, "version", info.Version, "sha256", info.SHA256,
		"models", detector.Describe())

	if *dashboardOn && !isLoopback(*dashboardAddr) {
		// serve's dashboard has no token: it stays on this machine.
		return usageError{fmt.Errorf("--dashboard-addr %s is reachable beyond this machine: keep it on loopback or pass --dashboard=false", *dashboardAddr)}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	if *dashboardOn {
		stopDashboard, err := startServeDashboard(*dashboardAddr, source, detector.Threshold(), logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDashboard()
	}
	// SageMaker gives an invocation 60 s; answer or fail within that.
	srv := newHTTPServer(serve.NewHandler(detector, serve.WithMaxRequestBytes(*maxBytes), serve.WithLogger(logger)),
		withReadTimeout(60*time.Second))
	return serveUntilDone(ctx, srv, ln, *grace, logger)
}

// serveUntilDone serves until ctx ends (SIGTERM), then stops accepting and
// lets in-flight requests finish within grace.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// loadServeModel finds the model the way SageMaker lays it out: the
// xgboost-model file the built-in container's training writes, a
// model.tar.gz, a directory holding one model file of another name, or a
// sagewall model directory; an absent or empty directory means the bundled
// model.
func loadServeModel(dir string) (*scoring.Detector, string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		d, err := scoring.Bundled()
		return d, "bundled", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading model directory: %w", err)
	}
	for _, name := range []string{"xgboost-model", "model.tar.gz"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err == nil {
			d, err := scoring.LoadDetector(path)
			return d, path, err
		}
	}
	// The built-in container loads whatever model file the artifact held
	// (a LightGBM model.txt, a booster saved as model.json): one regular
	// file is that model.
	if len(entries) == 1 && entries[0].Type().IsRegular() {
		path := filepath.Join(dir, entries[0].Name())
		d, err := scoring.LoadDetector(path)
		return d, path, err
	}
	d, err := scoring.LoadDetector(dir)
	return d, dir, err
}
