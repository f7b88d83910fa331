package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/dashboard"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/sagemaker"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
	"github.com/sagewall/sagewall/stream/s3bridge"
)

// runRun is `sagewall run`: the streaming pipeline until SIGTERM/SIGINT.
func runRun(ctx context.Context, args []string, io stdio) error {
	cfg, err := loadRunConfig("run", args, os.Getenv, io.err)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	logger := newLogger(io.err, cfg.Log.Format, cfg.Log.Level)
	limit, err := applyMemoryLimit(cfg.MemoryLimit, cfg.Batch.MaxInFlight*cfg.Batch.Records, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	logger.Debug("memory limit", "bytes", limit)
	svc, err := newService(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return svc.run(ctx)
}

// service is a configured pipeline with its HTTP endpoints and lag monitor;
// `run` and `demo` share it so the demo shows the very same pipeline.
type service struct {
	cfg      runConfig
	logger   *slog.Logger
	detector *scoring.Detector
	reader   *stream.GroupConsumer
	sink     *sinks.Kafka
	client   *kafka.Client
	pipeline *stream.Pipeline
	registry *prometheus.Registry
	metrics  *stream.Metrics
	listener net.Listener
	// The alert outbox, nil without alerts.sns_topic_arn: the pipeline
	// writes alert-worthy verdicts to alerts.topic (alertTopic); the
	// notifier reads them (alertReader) and publishes them through alerts.
	alerts      *sinks.SNS
	alertTopic  *sinks.AlertTopic
	alertReader *kafka.Reader
	alertGroup  string // the notifier's consumer group
	notifier    *stream.Notifier
	// clientID names this process's readers to the brokers, so that the
	// lag monitors find which partitions the groups assign it.
	clientID string
	// rekeyer repartitions input.topic into input.rekey_topic by destination
	// host, which the pipeline then reads; nil without input.rekey_topic.
	rekeyer       *stream.Rekeyer
	rekeyReader   *kafka.Reader
	rekeyWriter   *kafka.Writer
	pipelineTopic string // the topic the pipeline consumes
	// explainer explains alerts, built while the service connects to Kafka;
	// nil with model.explain none.
	explainer *backgroundExplainer
	// dashboard is the web page at /dashboard/, nil with http.dashboard false.
	dashboard *dashboard.Handler
	// dashboardToken guards the dashboard ("" on loopback without one).
	dashboardToken string

	lagInterval time.Duration
	kafkaReady  atomic.Bool
	// health is the state of Kafka, the scorer and the outputs: /readyz is
	// false while any is down.
	health *stream.Health
	lagMu  sync.Mutex
	lag    []stream.PartitionOffsets
}

// serviceOption adds to a service what only some callers need.
type serviceOption func(*serviceExtras)

type serviceExtras struct {
	sinks       []stream.Sink
	lagInterval time.Duration
}

// withExtraSinks adds verdict sinks next to the Kafka verdict topic.
func withExtraSinks(s ...stream.Sink) serviceOption {
	return func(e *serviceExtras) { e.sinks = append(e.sinks, s...) }
}

// withLagInterval sets how often the group's lag is measured.
func withLagInterval(d time.Duration) serviceOption {
	return func(e *serviceExtras) { e.lagInterval = d }
}

func newService(ctx context.Context, cfg runConfig, logger *slog.Logger, opts ...serviceOption) (*service, error) {
	extras := serviceExtras{lagInterval: 5 * time.Second}
	for _, o := range opts {
		o(&extras)
	}
	token, err := dashboardToken(&cfg)
	if err != nil {
		return nil, err
	}
	det, err := openModel(cfg.Model.Path, cfg.Input.Format, cfg.modelThreshold())
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	conn, err := kafkaConn(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	format, err := sinks.ParseFormat(cfg.Output.Format, cfg.Output.Fields)
	if err != nil {
		return nil, err
	}
	compression, err := sinks.ParseCompression(cfg.Output.Compression)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := stream.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	if err := registerBuildInfo(reg, readBuildVersion(), det.Info(), det.Threshold()); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	scorer, modelInfo, err := newRunScorer(ctx, &cfg, det, reg, logger)
	if err != nil {
		return nil, err
	}
	alerts, err := newAlertSink(ctx, &cfg, reg, logger)
	if err != nil {
		return nil, err
	}
	startOffset := kafka.FirstOffset
	if cfg.Input.StartOffset == "latest" {
		startOffset = kafka.LastOffset
	}
	s := &service{
		cfg:            cfg,
		logger:         logger,
		detector:       det,
		registry:       reg,
		metrics:        metrics,
		alerts:         alerts,
		client:         stream.NewClient(cfg.Kafka.Brokers, conn.Transport()),
		pipelineTopic:  cfg.Input.Topic,
		dashboardToken: token,
		clientID:       stream.NewClientID("sagewall"),
		health: stream.NewHealth(stream.WithOutageTimeout(cfg.Kafka.OutageTimeout),
			stream.WithHealthLogger(logger), stream.WithHealthRegisterer(reg)),
	}
	s.health.Register(dependencyKafka)
	if cfg.Input.RekeyTopic != "" {
		input, _, _ := parseInputFormat(cfg.Input.Format)
		s.pipelineTopic = cfg.Input.RekeyTopic
		s.rekeyReader = stream.NewReader(conn, cfg.Input.Group+".rekey", cfg.Input.Topic,
			stream.WithStartOffset(startOffset), stream.WithReaderLogger(logger))
		s.rekeyWriter = s3bridge.NewWriter(cfg.Kafka.Brokers, cfg.Input.RekeyTopic, conn.Transport())
		if s.rekeyer, err = stream.NewRekeyer(s.rekeyReader, s.rekeyWriter, input, stream.WithRekeyLogger(logger)); err != nil {
			s.close()
			return nil, err
		}
	}
	if alerts != nil {
		group := cfg.Alerts.Group
		if group == "" {
			group = cfg.Input.Group + ".alerts"
		}
		s.alertTopic = sinks.NewAlertTopic(sinks.NewKafka(cfg.Kafka.Brokers, cfg.Alerts.Topic,
			sinks.WithFormat(sinks.AlertFormat{}), sinks.WithTransport(conn.Transport()), sinks.WithCompression(compression)),
			cfg.Alerts.Threshold)
		extras.sinks = append(extras.sinks, s.alertTopic)
		s.alertGroup = group
		s.alertReader = stream.NewReader(conn, group, cfg.Alerts.Topic, stream.WithClientID(s.clientID),
			stream.WithReaderLogger(logger), stream.WithSessionTimeout(cfg.Input.SessionTimeout))
		if s.notifier, err = stream.NewNotifier(s.alertReader, alerts, stream.WithNotifierHealth(s.health),
			stream.WithNotifierLogger(logger), stream.WithNotifierDrain(cfg.ShutdownTimeout/2)); err != nil {
			s.close()
			return nil, err
		}
	}
	// The pipeline's consumer hands over whole fetches (less CPU per record
	// than a kafka.Reader); the rekeyer and the notifier keep their readers.
	s.reader, err = stream.NewGroupConsumer(conn, cfg.Input.Group, s.pipelineTopic, stream.WithClientID(s.clientID),
		stream.WithStartOffset(startOffset), stream.WithReaderLogger(logger), stream.WithSessionTimeout(cfg.Input.SessionTimeout))
	if err != nil {
		s.close()
		return nil, err
	}
	sinkOpts := []sinks.KafkaOption{sinks.WithFormat(format), sinks.WithDeadLetterTopic(cfg.Output.DeadLetterTopic)}
	if attacksOnly, _ := cfg.attacksOnly(); attacksOnly {
		sinkOpts = append(sinkOpts, sinks.WithAttacksOnly())
	}
	s.sink = sinks.NewKafka(cfg.Kafka.Brokers, cfg.Output.Topic, append(sinkOpts,
		sinks.WithTransport(conn.Transport()), sinks.WithCompression(compression),
		sinks.WithDeadLetterMaxBytes(cfg.Output.DeadLetterMaxBytes),
		sinks.WithDroppedDeadLetter(func(l sinks.DeadLetter, err error) {
			metrics.AddDroppedDeadLetter()
			logger.Error("dead letter dropped: the broker refused it even cut to fit", "source", l.Source.Key(),
				"reason", l.Reason, "value_bytes", len(l.Value), "err", err)
		}))...)
	if cfg.HTTP.Dashboard {
		if err := s.addDashboard(scorer, &extras); err != nil {
			s.close()
			return nil, err
		}
	}
	pipeOpts := []stream.Option{
		stream.WithSpec(det.Spec()),
		stream.WithModel(modelInfo, det.Threshold()),
		stream.WithSinks(append([]stream.Sink{s.sink}, extras.sinks...)...),
		stream.WithDeadLetters(s.sink),
		stream.WithBatch(cfg.Batch.Records, cfg.Batch.Bytes, cfg.Batch.MaxWait),
		stream.WithMaxInFlight(cfg.Batch.MaxInFlight),
		stream.WithShutdownTimeout(cfg.ShutdownTimeout),
		stream.WithMetrics(metrics),
		stream.WithLogger(logger),
		stream.WithGroupCheck(s.client, cfg.Input.Group),
		stream.WithHealth(s.health),
	}
	if input, conn, _ := parseInputFormat(cfg.Input.Format); conn {
		if cfg.Input.RekeyTopic != "" && input == connlog.VPC {
			input = connlog.Zeek // the rekeyer wrote every connection as Zeek JSON
		}
		pipeOpts = append(pipeOpts, stream.WithConnLogs(input, nil, deriveOptions(&cfg)...),
			stream.WithSensorHeader(cfg.Input.SensorHeader, cfg.Input.SensorFromKey),
			stream.WithPassthrough(cfg.Input.Passthrough...))
		if input != connlog.Auto {
			// Auto input is mostly NSL-KDD records, which need no state.
			pipeOpts = append(pipeOpts, stream.WithStateRebuild(s.client, cfg.Input.RebuildRecords))
		}
	}
	if cfg.Model.Explain != stream.ExplainNone {
		// The local model's contributions: with scorer sagemaker, those of
		// the model the endpoint should serve.
		s.explainer = buildExplainer(det)
		pipeOpts = append(pipeOpts, stream.WithExplanations(s.explainer, cfg.Model.Explain, cfg.Alerts.Threshold),
			stream.WithExplanationsPerBatch(cfg.Model.ExplainPerBatch))
	}
	s.pipeline, err = stream.New(s.reader, scorer, pipeOpts...)
	if err != nil {
		s.close()
		return nil, err
	}
	s.listener, err = net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("listening on http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	s.lagInterval = extras.lagInterval
	return s, nil
}

// run serves HTTP, measures lag and runs the pipeline until ctx ends.
func (s *service) run(ctx context.Context) error {
	defer s.close()
	info := s.detector.Info()
	s.logger.Info("starting", "brokers", s.cfg.Kafka.Brokers, "input", s.cfg.Input.Topic, "group", s.cfg.Input.Group,
		"output", s.cfg.Output.Topic, "dead_letters", s.cfg.Output.DeadLetterTopic, "format", s.cfg.Output.Format, "fields", s.cfg.Output.Fields,
		"model", info.Name, "model_version", info.Version, "models", s.detector.Describe(), "threshold", s.detector.Threshold(), "threshold_source", s.detector.OperatingPoint().Source, "http", s.listener.Addr().String())

	srv := newHTTPServer(s.handler())
	if s.dashboard != nil {
		srv.RegisterOnShutdown(s.dashboard.Close) // end the live streams
	}
	go func() {
		if err := srv.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("serving http", "err", err)
		}
	}()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	if err := waitForKafka(ctx, s.client, s.cfg.Kafka.Brokers, s.health); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting: nothing was consumed
		}
		return err
	}
	prepareOutputs(ctx, s.client, &s.cfg, s.sink, s.logger)
	if s.explainer != nil {
		if err := s.explainer.wait(); err != nil {
			s.logger.Warn("verdicts go without explanations", "model_explain", s.cfg.Model.Explain, "err", err)
		}
	}

	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	monitor := stream.NewLagMonitor(s.client, s.cfg.Input.Group, s.pipelineTopic,
		stream.WithLagInterval(s.lagInterval), stream.WithLagMetrics(s.metrics), stream.WithLagLogger(s.logger),
		stream.WithLagOwner(s.clientID), stream.WithLagCallback(s.observeLag))
	go func() { _ = monitor.Run(lagCtx) }()
	if s.alertReader != nil {
		outbox := stream.NewLagMonitor(s.client, s.alertGroup, s.cfg.Alerts.Topic,
			stream.WithLagInterval(s.lagInterval), stream.WithOutboxMetrics(s.metrics), stream.WithLagLogger(s.logger),
			stream.WithLagOwner(s.clientID))
		go func() { _ = outbox.Run(lagCtx) }()
	}

	// Alerts outlive ctx until the pipeline has drained, so the batches
	// still in flight at shutdown get their alerts published and acknowledged.
	alertsCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAlerts()
	if s.alerts != nil {
		go func() { _ = s.alerts.Run(alertsCtx) }()
	}

	// The notifier publishes the alert topic to SNS beside the pipeline;
	// it stops after the pipeline (whose last alerts it may still get) and
	// stops the pipeline if it fails (an SNS outage past kafka.outage_timeout).
	notifyDone := make(chan error, 1)
	if s.notifier != nil {
		notifyCtx, stopNotifier := context.WithCancel(context.WithoutCancel(ctx))
		defer func() { stopNotifier(); <-notifyDone }()
		pipeCtx, stopPipeline := context.WithCancelCause(ctx)
		defer stopPipeline(nil)
		go func() {
			err := s.notifier.Run(notifyCtx)
			if err != nil {
				stopPipeline(err)
			}
			notifyDone <- err
		}()
		ctx = pipeCtx
	} else {
		notifyDone <- nil
	}

	rekeyDone := make(chan error, 1)
	if s.rekeyer != nil {
		// The pipeline stops when the rekeyer fails: its input would dry up.
		pipeCtx, stopPipeline := context.WithCancelCause(ctx)
		defer stopPipeline(nil)
		go func() {
			err := s.rekeyer.Run(ctx)
			if err != nil {
				stopPipeline(err)
			}
			rekeyDone <- err
		}()
		ctx = pipeCtx
	} else {
		rekeyDone <- nil
	}
	err := s.pipeline.Run(ctx)
	if rerr := context.Cause(ctx); err == nil && rerr != nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	if rerr := <-rekeyDone; err == nil {
		err = rerr
	}
	st := s.pipeline.Stats()
	s.logger.Info("stopped", "consumed", st.Consumed, "verdicts", st.Verdicts, "rejected", st.Rejected,
		"attacks", st.Attacks, "commits", st.Committed, "err", err)
	return err
}

// observeLag keeps the last lag measurement; a successful one also means
// Kafka is reachable, which /readyz reports.
func (s *service) observeLag(offsets []stream.PartitionOffsets, err error) {
	s.kafkaReady.Store(err == nil)
	if err != nil {
		s.health.Down(dependencyKafka, err)
		return
	}
	s.health.Up(dependencyKafka)
	s.lagMu.Lock()
	s.lag = offsets
	s.lagMu.Unlock()
}

// offsets returns the last lag measurement.
func (s *service) offsets() []stream.PartitionOffsets {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	return s.lag
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready, why := s.health.Ready(); !ready {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		if !s.kafkaReady.Load() {
			http.Error(w, "not ready: kafka not reachable yet", http.StatusServiceUnavailable)
			return
		}
		info := s.detector.Info()
		fmt.Fprintf(w, "ready: model %s %s\n", info.Name, info.Version)
	})
	if s.dashboard != nil {
		mountDashboard(mux, s.dashboard, s.dashboardToken)
	}
	if s.cfg.HTTP.Pprof {
		// The dashboard's token guards the profiles too (Bearer header).
		profiles := http.NewServeMux()
		profiles.HandleFunc("GET /debug/pprof/", pprof.Index)
		profiles.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		profiles.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		profiles.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		profiles.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", requireToken(s.dashboardToken, "/debug/pprof", profiles))
	}
	return mux
}

// close releases the Kafka connections; closing the sink flushes what it
// still holds.
func (s *service) close() {
	if s.alertTopic != nil {
		if err := s.alertTopic.Close(); err != nil {
			s.logger.Warn("closing the alert topic's writer", "err", err)
		}
	}
	if s.alertReader != nil {
		if err := s.alertReader.Close(); err != nil {
			s.logger.Warn("closing the alert reader", "err", err)
		}
	}
	if s.sink != nil {
		if err := s.sink.Close(); err != nil {
			s.logger.Warn("closing sink", "err", err)
		}
	}
	if s.reader != nil {
		if err := s.reader.Close(); err != nil {
			s.logger.Warn("closing reader", "err", err)
		}
	}
	if s.rekeyReader != nil {
		if err := s.rekeyReader.Close(); err != nil {
			s.logger.Warn("closing the rekey reader", "err", err)
		}
	}
	if s.rekeyWriter != nil {
		if err := s.rekeyWriter.Close(); err != nil {
			s.logger.Warn("closing the rekey writer", "err", err)
		}
	}
	if s.listener != nil {
		s.listener.Close()
	}
}

// newRunScorer returns the scorer that `scorer` selects and the model info
// its verdicts carry: the local detector, or the SageMaker endpoint with the
// local detector for the categories of flagged rows and (sagemaker.fallback)
// for batches the endpoint fails.
func newRunScorer(ctx context.Context, cfg *runConfig, det *scoring.Detector, reg prometheus.Registerer, logger *slog.Logger) (stream.Scorer, scoring.Info, error) {
	if cfg.Scorer != "sagemaker" {
		return det, det.Info(), nil
	}
	client, err := sagemaker.NewClient(ctx, cfg.SageMaker.Region, cfg.SageMaker.EndpointURL)
	if err != nil {
		return nil, scoring.Info{}, err
	}
	opts := []sagemaker.Option{
		sagemaker.WithWidth(det.Spec().Width()), sagemaker.WithThreshold(det.Threshold()),
		sagemaker.WithMaxRows(cfg.SageMaker.MaxRows), sagemaker.WithConcurrency(cfg.SageMaker.Concurrency),
		sagemaker.WithTimeout(cfg.SageMaker.Timeout), sagemaker.WithCategorizer(det),
		sagemaker.WithLogger(logger), sagemaker.WithRegisterer(reg),
	}
	if cfg.SageMaker.CategoryEndpoint != "" {
		// The endpoint usually serves the local model's category model
		// (the bundled ones have the 4 attack classes, not etl.Classes()).
		classes, err := parseCategoryClasses(cfg.SageMaker.CategoryClasses)
		if err != nil {
			return nil, scoring.Info{}, fmt.Errorf("parsing sagemaker.category_classes: %w", err)
		}
		if classes == nil {
			classes = det.CategoryClasses()
		}
		opts = append(opts, sagemaker.WithCategoryEndpoint(cfg.SageMaker.CategoryEndpoint))
		if classes != nil {
			opts = append(opts, sagemaker.WithCategoryClasses(classes))
		}
	}
	if cfg.SageMaker.Fallback {
		opts = append(opts, sagemaker.WithFallback(det))
	}
	scorer, err := sagemaker.New(client, cfg.SageMaker.Endpoint, opts...)
	if err != nil {
		return nil, scoring.Info{}, err
	}
	return scorer, scorer.Info(), nil
}

// newAlertSink returns the SNS alert sink, or nil when alerts.sns_topic_arn is empty.
func newAlertSink(ctx context.Context, cfg *runConfig, reg prometheus.Registerer, logger *slog.Logger) (*sinks.SNS, error) {
	if cfg.Alerts.SNSTopicARN == "" {
		return nil, nil
	}
	var loadOpts []func(*awsconfig.LoadOptions) error
	if cfg.Alerts.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(cfg.Alerts.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS config for alerts: %w", err)
	}
	client := sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		o.Retryer = aws.NopRetryer{} // the sink retries, entry by entry
		if cfg.Alerts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.Alerts.EndpointURL)
		}
	})
	return sinks.NewSNS(client, cfg.Alerts.SNSTopicARN,
		sinks.WithAlertWindow(cfg.Alerts.Window),
		sinks.WithAlertExamples(cfg.Alerts.MaxExamples), sinks.WithSNSLogger(logger), sinks.WithSNSRegisterer(reg),
		// The notifier retries failed batches for as long as SNS is down;
		// the sink's own attempts only cover a call that fails in part.
		sinks.WithPublishRetry(2, 200*time.Millisecond, time.Second))
}

// backgroundExplainer is the detector's explainer, whose tables (~10 ms of
// CPU for the bundled model) are built on another goroutine while the
// service reaches Kafka and prepares its topics. Top waits for them; a
// model that cannot be explained (see scoring.Forest.NewExplainer) gives
// every verdict an empty explanation, and wait reports why.
type backgroundExplainer struct {
	built     chan struct{}
	explainer *scoring.Explainer
	err       error
}

func buildExplainer(det *scoring.Detector) *backgroundExplainer {
	b := &backgroundExplainer{built: make(chan struct{})}
	go func() {
		defer close(b.built)
		b.explainer, b.err = det.NewExplainer()
	}()
	return b
}

// wait returns once the tables are built, with the error that prevented them.
func (b *backgroundExplainer) wait() error {
	<-b.built
	return b.err
}

// Top implements stream.Explainer.
func (b *backgroundExplainer) Top(row []float32, k int, dst []scoring.Contribution) []scoring.Contribution {
	if b.wait() != nil {
		return dst[:0]
	}
	return b.explainer.Top(row, k, dst)
}
