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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sagewall/sagewall/stream"
	"github.com/sagewall/sagewall/stream/s3bridge"
)

func runBridge(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("bridge", flag.ContinueOnError)
	fs.SetOutput(io.err)
	queueURL := fs.String("queue-url", "", "`URL` of the SQS queue receiving the bucket's ObjectCreated notifications (required)")
	configPath := fs.String("config", "", "`FILE` in the format of `sagewall run --config`; only its kafka.* settings (brokers, TLS, SASL) are used, after SAGEWALL_KAFKA_* variables as for run (env SAGEWALL_CONFIG)")
	brokers := fs.String("kafka-brokers", "", "Kafka bootstrap `ADDRESSES`, comma-separated, as for run (default: kafka.brokers of the config and environment)")
	fs.StringVar(brokers, "brokers", "", "the former name of --kafka-brokers")
	topic := fs.String("topic", "nslkdd.raw", "raw `TOPIC` the lines are produced to")
	region := fs.String("region", "", "AWS `REGION` (default: from the environment)")
	endpointURL := fs.String("aws-endpoint-url", "", "override `URL` for S3 and SQS (an emulator or a VPC endpoint)")
	maxObject := fs.Int64("max-object-bytes", 1<<30, "largest object (after decompression) the bridge reads")
	visibility := fs.Duration("visibility", 60*time.Second, "SQS visibility timeout held on a message, extended while its objects are in progress")
	workers := fs.Int("workers", 2, "messages processed at once")
	format := fs.String("format", "auto", "line format: auto (per object and line), nslkdd (lines as they are), zeek or vpcflow (connection logs rewritten to Zeek JSON keyed by destination host)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz on `ADDRESS` (e.g. :9090); off when empty")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: sagewall bridge --queue-url URL [--kafka-brokers host:9092] [--topic nslkdd.raw]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Reads S3 ObjectCreated notifications from SQS (direct, through SNS, or from")
		fmt.Fprintln(io.err, "EventBridge), streams each object (gunzipping .gz) and produces one Kafka")
		fmt.Fprintln(io.err, "message per line, keyed bucket/key:line. Connection logs (Zeek conn.log TSV or")
		fmt.Fprintln(io.err, "JSON, VPC Flow Logs) are rewritten to Zeek JSON lines keyed by destination")
		fmt.Fprintln(io.err, "host, their header lines consumed. An SQS message is deleted only once Kafka")
		fmt.Fprintln(io.err, "has acknowledged all of its lines.")
		fmt.Fprintln(io.err)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *queueURL == "" {
		return usageError{errors.New("--queue-url is required")}
	}
	if err := checkQueueURL(*queueURL); err != nil {
		return err
	}
	input, connLogs, err := parseInputFormat(*format)
	if err != nil {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	kafkaCfg, err := bridgeKafkaConfig(*configPath, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	if *brokers != "" {
		kafkaCfg.Kafka.Brokers = splitBrokerList(*brokers)
	}
	brokerList := kafkaCfg.Kafka.Brokers
	if len(brokerList) == 0 || *topic == "" {
		return usageError{errors.New("--kafka-brokers and --topic must not be empty")}
	}
	logger := slog.New(slog.NewJSONHandler(io.err, nil))
	conn, err := kafkaConn(ctx, &kafkaCfg)
	if err != nil {
		return err
	}

	var loadOpts []func(*config.LoadOptions) error
	if *region != "" {
		loadOpts = append(loadOpts, config.WithRegion(*region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return usageError{fmt.Errorf("loading AWS config: %w", err)}
	}
	if cfg.Region == "" {
		return usageError{errors.New("--region: no AWS region given or found in the environment (AWS_REGION)")}
	}

	s3Client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if *endpointURL != "" {
			o.BaseEndpoint = aws.String(*endpointURL)
			o.UsePathStyle = true
		}
	})
	sqsClient := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if *endpointURL != "" {
			o.BaseEndpoint = aws.String(*endpointURL)
		}
	})
	reg := prometheus.NewRegistry()
	health := stream.NewHealth(stream.WithHealthLogger(logger), stream.WithHealthRegisterer(reg))
	writer := s3bridge.NewWriter(brokerList, *topic, conn.Transport())
	defer writer.Close()

	bridgeOpts := []s3bridge.Option{
		s3bridge.WithMaxObjectBytes(*maxObject), s3bridge.WithVisibility(*visibility),
		s3bridge.WithWorkers(*workers), s3bridge.WithLogger(logger), s3bridge.WithRegisterer(reg),
		s3bridge.WithHealth(health),
	}
	if connLogs {
		bridgeOpts = append(bridgeOpts, s3bridge.WithConnLogs(input))
	}
	bridge, err := s3bridge.New(sqsClient, s3Client, writer, *queueURL, bridgeOpts...)
	if err != nil {
		return usageError{err}
	}
	// What cannot work exits now (status 2); what is only down is waited for.
	if err := checkAWSCredentials(ctx, cfg, "bridge"); err != nil {
		return err
	}
	if err := checkQueue(ctx, sqsClient, *queueURL, logger); err != nil {
		return err
	}
	if err := waitForKafka(ctx, stream.NewClient(brokerList, conn.Transport()), brokerList, health); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("listening for metrics on %s: %w", *metricsAddr, err)
		}
		defer serveBridgeMetrics(ctx, ln, reg, bridge.Ready, logger)()
	}
	logger.Info("bridging", "queue", *queueURL, "brokers", brokerList, "topic", *topic)
	return bridge.Run(ctx)
}

// bridgeKafkaConfig reads the kafka.* settings the way `sagewall run` does
// (defaults, then the file, then SAGEWALL_KAFKA_* variables), so the bridge
// reaches the same cluster with the same TLS and SASL settings.
func bridgeKafkaConfig(path string, getenv func(string) string) (runConfig, error) {
	all := settings()
	var kafkaSettings []setting
	for _, s := range all {
		if strings.HasPrefix(s.key, "kafka.") {
			kafkaSettings = append(kafkaSettings, s)
		}
	}
	src := configSources{config: defaultRunConfig(), origin: map[string]string{}}
	if err := src.applyFileAndEnv(path, getenv, all, kafkaSettings); err != nil {
		return runConfig{}, err
	}
	if err := src.validate(); err != nil {
		return runConfig{}, err
	}
	return src.config, nil
}

// serveBridgeMetrics serves /metrics, /healthz and /readyz (the last poll of
// the queue succeeded) on ln until the returned stop is called.
func serveBridgeMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, ready func() bool, logger *slog.Logger) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: SQS not polled successfully yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := newHTTPServer(mux)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.ErrorContext(ctx, "serving metrics", "err", err)
		}
	}()
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}
}

func splitBrokerList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
