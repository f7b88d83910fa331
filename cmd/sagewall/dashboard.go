package main

// Wiring of the web dashboard (internal/dashboard) into run, demo and serve;
// kept here so that those commands' files only gain a few lines.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sagewall/sagewall/internal/dashboard"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/stream"
)

// dashboardPrefix is where the dashboard is mounted on the HTTP port.
const dashboardPrefix = "/dashboard"

// addDashboard puts the live view among the pipeline's sinks and builds the
// page, offering the SageMaker endpoint when the pipeline scores on one.
func (s *service) addDashboard(scorer stream.Scorer, extras *serviceExtras) error {
	var local *scoring.Detector
	var err error
	if s.cfg.Model.Path == "" && isConnLogInput(s.cfg.Input.Format) {
		// The pipeline judges connection logs with the connection-log
		// model; the page's paste form takes NSL-KDD records.
		local, err = dashboardDetector("")
	} else {
		local, err = s.detector.WithThreshold(0)
	}
	if err != nil {
		return err
	}
	live := dashboard.NewLive(dashboard.WithAlertThreshold(float32(s.cfg.Alerts.Threshold)), dashboard.WithHistory(s.cfg.HTTP.DashboardHistory))
	opts := []dashboard.Option{
		dashboard.WithLive(live, s.dashboardStatus),
		dashboard.WithThreshold(s.detector.Threshold()),
		dashboard.WithLogger(s.logger),
	}
	if remote, ok := scorer.(*sagemaker.Scorer); ok {
		opts = append(opts, dashboard.WithSageMaker(remote))
	}
	h, err := dashboard.New(local, opts...)
	if err != nil {
		return err
	}
	extras.sinks = append(extras.sinks, live)
	s.dashboard = h
	return nil
}

// dashboardStatus is what the live view needs from the pipeline beyond the
// verdicts: dead letters and the group's lag.
func (s *service) dashboardStatus() dashboard.PipelineStatus {
	st := s.pipeline.Stats()
	offsets := s.offsets()
	status := dashboard.PipelineStatus{Consumed: st.Consumed, DeadLetters: st.Rejected, LagKnown: offsets != nil}
	for _, p := range offsets {
		status.Lag += p.Lag()
	}
	return status
}

// mountDashboard serves h under /dashboard/ on mux.
// With a token, every dashboard request needs it (requireToken).
func mountDashboard(mux *http.ServeMux, h *dashboard.Handler, token string) {
	mux.Handle(dashboardPrefix+"/", requireToken(token, dashboardPrefix, http.StripPrefix(dashboardPrefix, h)))
}

// dashboardDetector loads the model again with threshold 0, so that it
// categorises every row: the page applies the analyst's threshold itself.
func dashboardDetector(path string) (*scoring.Detector, error) {
	var d *scoring.Detector
	var err error
	if path == "" {
		d, err = scoring.Bundled(scoring.WithThreshold(0))
	} else {
		d, err = scoring.LoadDetector(path, scoring.WithThreshold(0))
	}
	if err != nil {
		return nil, fmt.Errorf("loading the dashboard's model: %w", err)
	}
	return d, nil
}

// startServeDashboard serves the dashboard (analyze only: serve runs no
// pipeline) on its own listener, since serve's port faces SageMaker. model
// is the source loadServeModel reported: "bundled" or a path. The returned
// stop shuts it down. A dashboard that cannot listen is logged, not fatal:
// answering SageMaker is serve's job.
func startServeDashboard(addr, model string, threshold float64, logger *slog.Logger) (stop func(), err error) {
	path := model
	if model == "bundled" {
		path = ""
	}
	local, err := dashboardDetector(path)
	if err != nil {
		return nil, err
	}
	h, err := dashboard.New(local, dashboard.WithThreshold(threshold), dashboard.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("not serving the dashboard", "err", fmt.Errorf("listening on --dashboard-addr %s: %w", addr, err))
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mountDashboard(mux, h, "") // serve's dashboard listens on --dashboard-addr, loopback by default
	srv := newHTTPServer(mux)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serving the dashboard", "err", err)
		}
	}()
	logger.Info("dashboard", "url", "http://"+ln.Addr().String()+dashboardPrefix+"/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
