package sagemaker

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
)

// NewClient returns a sagemakerruntime client for region (the environment's
// when empty) from the default credential chain, pointed at endpointURL when it is not empty (a VPC
// endpoint, or `sagewall serve` in tests). The SDK's own retries are off: the
// Scorer retries, so that its circuit breaker counts every attempt.
func NewClient(ctx context.Context, region, endpointURL string) (*sagemakerruntime.Client, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS config: %w", err)
	}
	return NewClientFromConfig(cfg, endpointURL), nil
}

// NewClientFromConfig is NewClient with an explicit AWS config.
func NewClientFromConfig(cfg aws.Config, endpointURL string) *sagemakerruntime.Client {
	return sagemakerruntime.NewFromConfig(cfg, func(o *sagemakerruntime.Options) {
		o.Retryer = aws.NopRetryer{}
		if endpointURL != "" {
			o.BaseEndpoint = aws.String(endpointURL)
		}
	})
}
