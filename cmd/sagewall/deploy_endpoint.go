package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sagewall/sagewall/deploy/sagemaker"
)

func runDeployEndpoint(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("sagewall deploy endpoint", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var conn deployAWSFlags
	conn.register(fs)
	name := fs.String("name", "sagewall", "endpoint name (the model and endpoint config are named <name>-model and <name>-config)")
	modelData := fs.String("model-data", "", "s3:// URI of the model.tar.gz (required for the built-in image; optional for a sagewall serve image, which falls back to its bundled model)")
	image := fs.String("image", "", "inference image URI: a sagewall image (ENTRYPOINT /sagewall, SageMaker runs it with 'serve') pushed to ECR; default: the built-in XGBoost image")
	imageVersion := fs.String("image-version", sagemaker.DefaultXGBoostVersion, "built-in XGBoost image version when -image is not set: "+sagemaker.XGBoost17+" or "+sagemaker.XGBoost30)
	role := fs.String("role", "", "ARN of the SageMaker execution role that reads the model (required)")
	instanceType := fs.String("instance-type", "ml.m5.large", "endpoint instance type")
	instanceCount := fs.Int("instance-count", 1, "endpoint instances")
	wait := fs.Bool("wait", true, "wait until the endpoint is InService")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up waiting after this long (the endpoint keeps being created)")
	if err := parseDeployFlags(fs, args); err != nil {
		return err
	}
	if *role == "" {
		return usageError{errors.New("-role is required")}
	}
	if err := sagemaker.ValidateEndpointName(*name); err != nil {
		return usageError{err}
	}
	if *instanceCount < 1 {
		return usageError{errors.New("-instance-count must be at least 1")}
	}
	if *image == "" && *modelData == "" {
		return usageError{errors.New("-model-data is required with the built-in XGBoost image")}
	}
	var model *sagemaker.S3URI
	if *modelData != "" {
		uri, err := sagemaker.ParseS3URI(*modelData)
		if err != nil {
			return usageError{err}
		}
		model = &uri
	}
	dp, err := conn.deployer(ctx, io)
	if err != nil {
		return err
	}
	if *image == "" {
		if *image, err = sagemaker.XGBoostImage(dp.Region(), *imageVersion); err != nil {
			return usageError{err}
		}
	}
	arn, err := dp.CreateEndpoint(ctx, sagemaker.Endpoint{
		Name: *name, Image: *image, ModelData: model, RoleARN: *role,
		InstanceType: *instanceType, InstanceCount: int32(*instanceCount),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "creating endpoint %s (%s) with %s on %d x %s\n", *name, arn, *image, *instanceCount, *instanceType)
	if !*wait {
		return nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	st, err := dp.WaitEndpoint(waitCtx, *name, func(st sagemaker.EndpointStatus, elapsed time.Duration) {
		fmt.Fprintf(io.err, "[%s] %s %s\n", elapsed.Truncate(time.Second), st.Name, st.Status)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "endpoint %s is %s; it bills per instance-hour until 'sagewall deploy delete -name %s'\n", st.Name, st.Status, st.Name)
	return nil
}

func runDeployStatus(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("sagewall deploy status", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var conn deployAWSFlags
	conn.register(fs)
	name := fs.String("name", "sagewall", "endpoint name")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseDeployFlags(fs, args); err != nil {
		return err
	}
	dp, err := conn.deployer(ctx, io)
	if err != nil {
		return err
	}
	st, err := dp.Status(ctx, *name)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(io.out).Encode(statusJSON(st))
	}
	fmt.Fprintf(io.out, "endpoint  %s\nstatus    %s\nconfig    %s\narn       %s\ncreated   %s\nmodified  %s\n",
		st.Name, st.Status, st.Config, st.ARN, st.Created.UTC().Format(time.RFC3339), st.Modified.UTC().Format(time.RFC3339))
	if st.FailureReason != "" {
		fmt.Fprintf(io.out, "failure   %s\n", st.FailureReason)
	}
	for _, v := range st.Variants {
		fmt.Fprintf(io.out, "variant   %s: %d/%d x %s\n", v.Name, v.CurrentInstances, v.DesiredInstances, v.InstanceType)
	}
	return nil
}

// statusJSON gives the status stable snake_case keys.
func statusJSON(st sagemaker.EndpointStatus) map[string]any {
	variants := make([]map[string]any, 0, len(st.Variants))
	for _, v := range st.Variants {
		variants = append(variants, map[string]any{
			"name": v.Name, "current_instances": v.CurrentInstances, "desired_instances": v.DesiredInstances, "instance_type": v.InstanceType,
		})
	}
	return map[string]any{
		"name": st.Name, "arn": st.ARN, "status": string(st.Status), "failure_reason": st.FailureReason,
		"config": st.Config, "created": st.Created.UTC(), "modified": st.Modified.UTC(), "variants": variants,
	}
}

func runDeployDelete(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("sagewall deploy delete", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var conn deployAWSFlags
	conn.register(fs)
	name := fs.String("name", "sagewall", "endpoint name")
	if err := parseDeployFlags(fs, args); err != nil {
		return err
	}
	dp, err := conn.deployer(ctx, io)
	if err != nil {
		return err
	}
	del, err := dp.Delete(ctx, *name)
	if err != nil {
		return err
	}
	if !del.Endpoint && del.Config == "" && len(del.Models) == 0 {
		fmt.Fprintf(io.out, "nothing to delete: no endpoint, config or model named after %s\n", *name)
		return nil
	}
	fmt.Fprintf(io.out, "deleted endpoint %s (%v), endpoint config %q, models %v: the billing clock is stopped\n",
		*name, del.Endpoint, del.Config, del.Models)
	return nil
}
