package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sagewall/sagewall/stream/s3bridge"
)

func runBridge(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("bridge", flag.ContinueOnError)
	fs.SetOutput(io.err)
	queueURL := fs.String("queue-url", "", "`URL` of the SQS queue receiving the bucket's ObjectCreated notifications (required)")
	brokers := fs.String("brokers", "localhost:9092", "Kafka bootstrap `ADDRESSES`, comma-separated")
	topic := fs.String("topic", "connections", "raw `TOPIC` the lines are produced to")
	region := fs.String("region", "", "AWS `REGION` (default: from the environment)")
	endpointURL := fs.String("aws-endpoint-url", "", "override `URL` for S3 and SQS (an emulator or a VPC endpoint)")
	maxObject := fs.Int64("max-object-bytes", 1<<30, "largest object (after decompression) the bridge reads")
	visibility := fs.Duration("visibility", 60*time.Second, "SQS visibility timeout held on a message, extended while its objects are in progress")
	workers := fs.Int("workers", 2, "messages processed at once")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on `ADDRESS` (e.g. :9102); off when empty")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: sagewall bridge --queue-url URL [--brokers host:9092] [--topic connections]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Reads S3 ObjectCreated notifications from SQS (direct, through SNS, or from")
		fmt.Fprintln(io.err, "EventBridge), streams each object (gunzipping .gz) and produces one Kafka")
		fmt.Fprintln(io.err, "message per line, keyed bucket/key:line. An SQS message is deleted only once")
		fmt.Fprintln(io.err, "Kafka has acknowledged all of its lines.")
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
	brokerList := splitBrokerList(*brokers)
	if len(brokerList) == 0 || *topic == "" {
		return usageError{errors.New("--brokers and --topic must not be empty")}
	}
	logger := slog.New(slog.NewJSONHandler(io.err, nil))

	var loadOpts []func(*config.LoadOptions) error
	if *region != "" {
		loadOpts = append(loadOpts, config.WithRegion(*region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return fmt.Errorf("loading AWS config: %w", err)
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
	writer := s3bridge.NewWriter(brokerList, *topic)
	defer writer.Close()

	reg := prometheus.NewRegistry()
	bridge, err := s3bridge.New(sqsClient, s3Client, writer, *queueURL,
		s3bridge.WithMaxObjectBytes(*maxObject), s3bridge.WithVisibility(*visibility),
		s3bridge.WithWorkers(*workers), s3bridge.WithLogger(logger), s3bridge.WithRegisterer(reg))
	if err != nil {
		return usageError{err}
	}
	if *metricsAddr != "" {
		stopMetrics, err := serveBridgeMetrics(ctx, *metricsAddr, reg, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	logger.Info("bridging", "queue", *queueURL, "brokers", brokerList, "topic", *topic)
	return bridge.Run(ctx)
}

// serveBridgeMetrics exposes reg on addr/metrics until the returned stop is called.
func serveBridgeMetrics(ctx context.Context, addr string, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.ErrorContext(ctx, "serving metrics", "err", err)
		}
	}()
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}, nil
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
