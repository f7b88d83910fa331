package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/sagewall/sagewall/deploy/sagemaker"
)

// deployAction is one `sagewall deploy <action>`.
type deployAction struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) error
}

func deployActions() map[string]deployAction {
	return map[string]deployAction{
		"train":    {"prepare the training CSV, run a SageMaker XGBoost training job, fetch and check the model", runDeployTrain},
		"endpoint": {"create a SageMaker endpoint (model, endpoint config, endpoint) and wait for InService", runDeployEndpoint},
		"status":   {"show an endpoint's status and capacity", runDeployStatus},
		"delete":   {"delete an endpoint, its endpoint config and its model (stops the billing)", runDeployDelete},
	}
}

// runDeploy dispatches `sagewall deploy <action> [flags]`.
func runDeploy(ctx context.Context, args []string, io stdio) error {
	actions := deployActions()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		deployUsage(io.err, actions)
		if len(args) == 0 {
			return usageError{errors.New("missing action")}
		}
		return flag.ErrHelp
	}
	action, ok := actions[args[0]]
	if !ok {
		deployUsage(io.err, actions)
		return usageError{fmt.Errorf("unknown action %q", args[0])}
	}
	if err := action.run(ctx, args[1:], io); err != nil {
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

func deployUsage(w io.Writer, actions map[string]deployAction) {
	fmt.Fprintln(w, "usage: sagewall deploy <action> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(actions))
	for name := range actions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-9s %s\n", name, actions[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "AWS credentials and region come from the usual AWS environment and files;")
	fmt.Fprintln(w, "see docs/deploy.md. Run 'sagewall deploy <action> -h' for an action's flags.")
}

// deployAWSFlags are the connection flags every deploy action takes.
type deployAWSFlags struct {
	region   string
	endpoint string
	poll     time.Duration
}

func (a *deployAWSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.region, "region", "", "AWS region (default: from AWS_REGION / the AWS config files)")
	fs.StringVar(&a.endpoint, "aws-endpoint", "", "AWS endpoint URL override for every service, e.g. an emulator at http://127.0.0.1:15000 (S3 is then addressed path-style)")
	fs.DurationVar(&a.poll, "poll", 15*time.Second, "how often to poll SageMaker while waiting")
}

// deployer loads the AWS configuration and builds a sagemaker.Deployer.
func (a *deployAWSFlags) deployer(ctx context.Context, io stdio) (*sagemaker.Deployer, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if a.region != "" {
		opts = append(opts, awsconfig.WithRegion(a.region))
	}
	if a.endpoint != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(a.endpoint))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, usageError{errors.New("no AWS region: pass -region or set AWS_REGION")}
	}
	logger := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dopts := []sagemaker.Option{sagemaker.WithPollInterval(a.poll), sagemaker.WithLogger(logger)}
	if a.endpoint != "" || aws.ToString(cfg.BaseEndpoint) != "" {
		dopts = append(dopts, sagemaker.WithS3PathStyle())
	}
	return sagemaker.New(cfg, dopts...), nil
}

// parseDeployFlags parses args and turns bad flags into a usage error.
func parseDeployFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	return nil
}
