package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagewall/sagewall/etl"
)

// DefaultHyperparameters are the original prototype's recipe for the binary
// (normal vs attack) model on the built-in XGBoost algorithm.
func DefaultHyperparameters() map[string]string {
	return map[string]string{
		"max_depth":        "5",
		"eta":              "0.2",
		"gamma":            "4",
		"min_child_weight": "6",
		"subsample":        "0.8",
		"num_round":        "50",
		"objective":        "binary:logistic",
	}
}

// OpenSource opens a local path or an s3:// URI as a stream, decompressing
// gzip when the name ends in ".gz".
func (dp *Deployer) OpenSource(ctx context.Context, src string) (io.ReadCloser, error) {
	return openSource(ctx, dp.s3, src)
}

// PrepareTrainingData converts labelled records from in to the training CSV
// and streams it to dst with a multipart upload: the data never sits whole in
// memory.
func (dp *Deployer) PrepareTrainingData(ctx context.Context, in io.Reader, dst S3URI, spec *etl.Spec) (TrainingStats, error) {
	pr, pw := io.Pipe()
	converted := make(chan struct {
		stats TrainingStats
		err   error
	}, 1)
	go func() {
		stats, err := WriteTrainingCSV(ctx, in, pw, spec)
		pw.CloseWithError(err) // nil closes with EOF
		converted <- struct {
			stats TrainingStats
			err   error
		}{stats, err}
	}()
	_, uploadErr := uploadStream(ctx, dp.s3, dst, pr, dp.partSize)
	pr.CloseWithError(errUploadStopped) // unblocks the writer if the upload failed first
	result := <-converted
	if result.err != nil {
		return result.stats, fmt.Errorf("preparing training data for %s: %w", dst, result.err)
	}
	if uploadErr != nil {
		return result.stats, fmt.Errorf("preparing training data: %w", uploadErr)
	}
	dp.log.Info("training data uploaded", "destination", dst.String(),
		"rows", result.stats.Rows, "attacks", result.stats.Attacks, "bytes", result.stats.Bytes)
	return result.stats, nil
}

var errUploadStopped = errors.New("upload stopped")

// TrainingJob describes a built-in XGBoost training job.
type TrainingJob struct {
	Name            string
	RoleARN         string
	Image           string // empty: the built-in XGBoost image for the region
	Train           S3URI  // training CSV (label first, no header)
	Validation      *S3URI // optional validation CSV
	Output          S3URI  // prefix; the model lands in <Output>/<Name>/output/model.tar.gz
	InstanceType    string // e.g. ml.m5.large
	InstanceCount   int32
	VolumeGB        int32
	MaxRuntime      time.Duration
	Hyperparameters map[string]string // merged over DefaultHyperparameters
}

// StartTraining calls CreateTrainingJob and returns the job ARN.
func (dp *Deployer) StartTraining(ctx context.Context, job TrainingJob) (string, error) {
	if job.RoleARN == "" {
		return "", errors.New("starting training job: role ARN is required")
	}
	if err := ValidateTrainingJobName(job.Name); err != nil {
		return "", fmt.Errorf("starting training job: %w", err)
	}
	image := job.Image
	if image == "" {
		var err error
		if image, err = XGBoostImage(dp.region, DefaultXGBoostVersion); err != nil {
			return "", fmt.Errorf("starting training job %s: %w", job.Name, err)
		}
	}
	hyper := DefaultHyperparameters()
	maps.Copy(hyper, job.Hyperparameters)
	channels := []smtypes.Channel{csvChannel("train", job.Train)}
	if job.Validation != nil {
		channels = append(channels, csvChannel("validation", *job.Validation))
	}
	out, err := dp.sm.CreateTrainingJob(ctx, &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String(job.Name),
		RoleArn:         aws.String(job.RoleARN),
		AlgorithmSpecification: &smtypes.AlgorithmSpecification{
			TrainingImage:     aws.String(image),
			TrainingInputMode: smtypes.TrainingInputModeFile,
		},
		HyperParameters: hyper,
		InputDataConfig: channels,
		OutputDataConfig: &smtypes.OutputDataConfig{
			S3OutputPath: aws.String("s3://" + job.Output.Bucket + "/" + strings.TrimSuffix(job.Output.Key, "/")),
		},
		ResourceConfig: &smtypes.ResourceConfig{
			InstanceType:   smtypes.TrainingInstanceType(job.InstanceType),
			InstanceCount:  aws.Int32(max(job.InstanceCount, 1)),
			VolumeSizeInGB: aws.Int32(max(job.VolumeGB, 1)),
		},
		StoppingCondition: &smtypes.StoppingCondition{
			MaxRuntimeInSeconds: aws.Int32(int32(max(job.MaxRuntime, time.Minute) / time.Second)),
		},
	})
	if err != nil {
		return "", fmt.Errorf("starting training job %s: %w", job.Name, err)
	}
	return aws.ToString(out.TrainingJobArn), nil
}

func csvChannel(name string, uri S3URI) smtypes.Channel {
	return smtypes.Channel{
		ChannelName: aws.String(name),
		ContentType: aws.String("text/csv"),
		DataSource: &smtypes.DataSource{S3DataSource: &smtypes.S3DataSource{
			S3DataType:             smtypes.S3DataTypeS3Prefix,
			S3Uri:                  aws.String(uri.String()),
			S3DataDistributionType: smtypes.S3DataDistributionFullyReplicated,
		}},
	}
}

// TrainingProgress is one observation of a training job while waiting.
type TrainingProgress struct {
	Status          smtypes.TrainingJobStatus
	SecondaryStatus smtypes.SecondaryStatus
	Message         string // the latest status transition's message
	Elapsed         time.Duration
}

// TrainingResult is a finished training job.
type TrainingResult struct {
	Status        smtypes.TrainingJobStatus
	ModelArtifact S3URI
	BillableTime  time.Duration
}

// WaitTraining polls DescribeTrainingJob until the job completes, fails or
// stops, or ctx ends. progress (optional) sees each change of status.
func (dp *Deployer) WaitTraining(ctx context.Context, name string, progress func(TrainingProgress)) (TrainingResult, error) {
	start := time.Now()
	var last TrainingProgress
	for {
		out, err := dp.sm.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
		if err != nil {
			return TrainingResult{}, fmt.Errorf("waiting for training job %s: %w", name, err)
		}
		now := TrainingProgress{Status: out.TrainingJobStatus, SecondaryStatus: out.SecondaryStatus, Elapsed: time.Since(start)}
		if n := len(out.SecondaryStatusTransitions); n > 0 {
			now.Message = aws.ToString(out.SecondaryStatusTransitions[n-1].StatusMessage)
		}
		if progress != nil && (now.Status != last.Status || now.SecondaryStatus != last.SecondaryStatus || now.Message != last.Message) {
			progress(now)
		}
		last = now
		switch out.TrainingJobStatus {
		case smtypes.TrainingJobStatusCompleted:
			return trainingResult(out)
		case smtypes.TrainingJobStatusFailed:
			return TrainingResult{Status: out.TrainingJobStatus}, fmt.Errorf("training job %s failed: %s", name, aws.ToString(out.FailureReason))
		case smtypes.TrainingJobStatusStopped:
			return TrainingResult{Status: out.TrainingJobStatus}, fmt.Errorf("training job %s was stopped", name)
		}
		if err := sleep(ctx, dp.pollInterval); err != nil {
			return TrainingResult{}, fmt.Errorf("waiting for training job %s: %w", name, err)
		}
	}
}

func trainingResult(out *sm.DescribeTrainingJobOutput) (TrainingResult, error) {
	res := TrainingResult{Status: out.TrainingJobStatus}
	if out.BillableTimeInSeconds != nil {
		res.BillableTime = time.Duration(*out.BillableTimeInSeconds) * time.Second
	}
	if out.ModelArtifacts == nil || out.ModelArtifacts.S3ModelArtifacts == nil {
		return res, fmt.Errorf("training job %s completed without model artifacts", aws.ToString(out.TrainingJobName))
	}
	uri, err := ParseS3URI(*out.ModelArtifacts.S3ModelArtifacts)
	if err != nil {
		return res, fmt.Errorf("reading model artifacts of %s: %w", aws.ToString(out.TrainingJobName), err)
	}
	res.ModelArtifact = uri
	return res, nil
}

// StopTraining asks SageMaker to stop a running job (used when the CLI is
// interrupted, so an abandoned job does not keep billing).
func (dp *Deployer) StopTraining(ctx context.Context, name string) error {
	if _, err := dp.sm.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String(name)}); err != nil {
		return fmt.Errorf("stopping training job %s: %w", name, err)
	}
	return nil
}

// Download copies an S3 object (e.g. model.tar.gz) to a local file and
// returns its size.
func (dp *Deployer) Download(ctx context.Context, src S3URI, localPath string) (int64, error) {
	return downloadObject(ctx, dp.s3, src, localPath)
}

// DefaultModelArtifact is where SageMaker writes a job's model under an output prefix.
func DefaultModelArtifact(output S3URI, jobName string) S3URI {
	return S3URI{Bucket: output.Bucket, Key: path.Join(output.Key, jobName, "output", "model.tar.gz")}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
