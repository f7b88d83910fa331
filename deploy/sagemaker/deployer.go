// Package sagemaker drives the AWS side of a sagewall deployment: it prepares
// the SageMaker training CSV, runs built-in XGBoost training jobs, and creates,
// inspects and deletes the real-time endpoint that scores records.
package sagemaker

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// Deployer talks to SageMaker and S3 for one AWS account and region.
type Deployer struct {
	sm           *sm.Client
	s3           *s3.Client
	region       string
	pollInterval time.Duration
	partSize     int
	log          *slog.Logger
}

// Option configures a Deployer.
type Option func(*Deployer)

// WithPollInterval sets how often Wait* polls a job or endpoint (default 15 s;
// SageMaker state changes take minutes).
func WithPollInterval(d time.Duration) Option { return func(dp *Deployer) { dp.pollInterval = d } }

// WithLogger sets the logger for progress and cleanup messages.
func WithLogger(l *slog.Logger) Option { return func(dp *Deployer) { dp.log = l } }

// WithPartSize sets the multipart upload part size (default and minimum 8 MiB
// and 5 MiB); it is also the memory one upload holds.
func WithPartSize(n int) Option { return func(dp *Deployer) { dp.partSize = n } }

// WithS3PathStyle addresses buckets by path instead of virtual host, as
// S3-compatible emulators need.
func WithS3PathStyle() Option {
	return func(dp *Deployer) { dp.s3PathStyle() }
}

// New returns a Deployer for cfg's region and credentials.
func New(cfg aws.Config, opts ...Option) *Deployer {
	dp := &Deployer{
		sm: sm.NewFromConfig(cfg),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			// Objects uploaded in parts carry no whole-object checksum; skipping
			// its validation is expected, not worth a log line per download.
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		region:       cfg.Region,
		pollInterval: 15 * time.Second,
		partSize:     8 << 20,
		log:          slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(dp)
	}
	return dp
}

func (dp *Deployer) s3PathStyle() {
	dp.s3 = s3.New(dp.s3.Options(), func(o *s3.Options) { o.UsePathStyle = true })
}

// Region is the AWS region the Deployer works in.
func (dp *Deployer) Region() string { return dp.region }
