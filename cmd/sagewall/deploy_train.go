package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/sagewall/sagewall/deploy/sagemaker"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/scoring/evaluate"
)

// hyperparameterFlag collects repeated -hp key=value flags.
type hyperparameterFlag map[string]string

func (h hyperparameterFlag) String() string { return fmt.Sprint(map[string]string(h)) }

func (h hyperparameterFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("hyperparameter %q: want key=value", s)
	}
	h[k] = v
	return nil
}

func runDeployTrain(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("sagewall deploy train", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var conn deployAWSFlags
	conn.register(fs)
	data := fs.String("data", "", "labelled NSL-KDD records to train on: a local file or s3://bucket/key (.gz is decompressed); default: the embedded KDDTrain+")
	validation := fs.String("validation", "", "labelled records for the validation channel and the local evaluation (local file or s3://)")
	bucket := fs.String("bucket", "", "processed-data bucket for the training CSV and the model output (required)")
	prefix := fs.String("prefix", "sagewall/training", "key prefix in -bucket")
	role := fs.String("role", "", "ARN of the SageMaker training execution role (required unless -prepare-only)")
	jobName := fs.String("job-name", "", "training job name (default sagewall-xgb-<UTC time>)")
	imageVersion := fs.String("image-version", sagemaker.DefaultXGBoostVersion, "built-in XGBoost image version: "+sagemaker.XGBoost17+" or "+sagemaker.XGBoost30)
	image := fs.String("image", "", "training image URI (overrides -image-version)")
	instanceType := fs.String("instance-type", "ml.m5.large", "training instance type")
	instanceCount := fs.Int("instance-count", 1, "training instances")
	volumeGB := fs.Int("volume-gb", 5, "training volume size in GB")
	maxRuntime := fs.Duration("max-runtime", time.Hour, "stop the job after this long")
	out := fs.String("out", "model.tar.gz", "where to save the trained model.tar.gz")
	prepareOnly := fs.Bool("prepare-only", false, "only write the training CSV to S3")
	noWait := fs.Bool("no-wait", false, "start the job and return without waiting")
	hyper := hyperparameterFlag{}
	fs.Var(hyper, "hp", "hyperparameter key=value over the defaults (repeatable): "+formatHyperparameters(sagemaker.DefaultHyperparameters()))
	if err := parseDeployFlags(fs, args); err != nil {
		return err
	}
	if *bucket == "" {
		return usageError{errors.New("-bucket is required")}
	}
	if *role == "" && !*prepareOnly {
		return usageError{errors.New("-role is required (or -prepare-only)")}
	}
	if *instanceCount < 1 || *volumeGB < 1 {
		return usageError{errors.New("-instance-count and -volume-gb must be at least 1")}
	}
	if *jobName == "" {
		*jobName = "sagewall-xgb-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := sagemaker.ValidateTrainingJobName(*jobName); err != nil {
		return usageError{err}
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

	spec := etl.DefaultSpec()
	base := strings.Trim(*prefix, "/")
	trainURI := sagemaker.S3URI{Bucket: *bucket, Key: path.Join(base, *jobName, "train", "train.csv")}
	if err := prepareChannel(ctx, dp, *data, trainURI, spec, io); err != nil {
		return err
	}
	var validationURI *sagemaker.S3URI
	if *validation != "" {
		validationURI = &sagemaker.S3URI{Bucket: *bucket, Key: path.Join(base, *jobName, "validation", "validation.csv")}
		if err := prepareChannel(ctx, dp, *validation, *validationURI, spec, io); err != nil {
			return err
		}
	}
	if *prepareOnly {
		return nil
	}

	output := sagemaker.S3URI{Bucket: *bucket, Key: path.Join(base, "output")}
	arn, err := dp.StartTraining(ctx, sagemaker.TrainingJob{
		Name: *jobName, RoleARN: *role, Image: *image,
		Train: trainURI, Validation: validationURI, Output: output,
		InstanceType: *instanceType, InstanceCount: int32(*instanceCount), VolumeGB: int32(*volumeGB),
		MaxRuntime: *maxRuntime, Hyperparameters: hyper,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "started training job %s (%s) on %s\n", *jobName, arn, *image)
	if *noWait {
		fmt.Fprintln(io.out, *jobName)
		return nil
	}

	result, err := dp.WaitTraining(ctx, *jobName, func(p sagemaker.TrainingProgress) {
		fmt.Fprintf(io.err, "[%s] %s/%s %s\n", p.Elapsed.Truncate(time.Second), p.Status, p.SecondaryStatus, p.Message)
	})
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted: stop the job so it does not keep billing.
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if stopErr := dp.StopTraining(stopCtx, *jobName); stopErr != nil {
				return errors.Join(err, stopErr)
			}
			fmt.Fprintf(io.err, "asked SageMaker to stop training job %s\n", *jobName)
		}
		return err
	}
	size, err := dp.Download(ctx, result.ModelArtifact, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "downloaded %s (%d bytes) to %s; billable time %s\n", result.ModelArtifact, size, *out, result.BillableTime)

	det, err := scoring.LoadDetector(*out)
	if err != nil {
		return fmt.Errorf("checking the trained model loads in the scorer: %w", err)
	}
	info := det.Info()
	fmt.Fprintf(io.out, "model %s: loads in the sagewall scorer (name %q, version %q, sha256 %s, %d features)\n",
		*out, info.Name, info.Version, info.SHA256, det.Spec().Width())
	if *validation == "" {
		fmt.Fprintln(io.out, "no -validation file: skipped the evaluation (training-set figures would overstate accuracy)")
		return nil
	}
	in, err := dp.OpenSource(ctx, *validation)
	if err != nil {
		return err
	}
	defer in.Close()
	report, err := evaluateDetector(ctx, det, in)
	if err != nil {
		return fmt.Errorf("evaluating on %s: %w", *validation, err)
	}
	report.write(io.out, *validation, det.Threshold())
	return nil
}

// prepareChannel streams one labelled source into its training CSV on S3.
func prepareChannel(ctx context.Context, dp *sagemaker.Deployer, src string, dst sagemaker.S3URI, spec *etl.Spec, std stdio) error {
	var in io.ReadCloser
	var err error
	name := src
	if src == "" {
		name = "embedded " + nslkdd.Train
		in, err = nslkdd.Open(nslkdd.Train)
	} else {
		in, err = dp.OpenSource(ctx, src)
	}
	if err != nil {
		return err
	}
	defer in.Close()
	stats, err := dp.PrepareTrainingData(ctx, in, dst, spec)
	if err != nil {
		return fmt.Errorf("preparing %s: %w", name, err)
	}
	fmt.Fprintf(std.err, "wrote %s from %s: %d rows (%d attacks), %d bytes\n", dst, name, stats.Rows, stats.Attacks, stats.Bytes)
	return nil
}

// evaluation holds the figures printed after training.
type evaluation struct {
	confusion evaluate.Confusion
	auc       float64
	aucOK     bool
}

// evaluateDetector scores every labelled line of r and compares with the labels.
func evaluateDetector(ctx context.Context, det *scoring.Detector, r io.Reader) (evaluation, error) {
	const batch = 512
	spec := det.Spec()
	width := spec.Width()
	enc := etl.NewEncoder(spec)
	rows := make([]float32, batch*width)
	results := make([]scoring.Result, batch)
	truth := make([]bool, 0, batch)
	var ev evaluation
	var scored []evaluate.Scored
	var rec etl.Record
	flush := func() error {
		n := len(truth)
		if n == 0 {
			return nil
		}
		if err := det.Score(ctx, rows[:n*width], results[:n]); err != nil {
			return fmt.Errorf("scoring: %w", err)
		}
		for i, attack := range truth {
			ev.confusion.Add(attack, results[i].Attack)
			scored = append(scored, evaluate.Scored{Score: results[i].Score, Attack: attack})
		}
		truth = truth[:0]
		return nil
	}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for scanner.Scan() {
		line++
		if len(scanner.Bytes()) == 0 {
			continue
		}
		n := len(truth)
		if err := enc.Encode(scanner.Bytes(), &rec, rows[n*width:(n+1)*width]); err != nil {
			return ev, etl.LineError{Line: line, Err: err}
		}
		class, ok := etl.ClassOfLabel(rec.Label)
		if !ok {
			return ev, etl.LineError{Line: line, Err: &etl.FieldError{Field: "label", Value: rec.Label, Reason: "unknown or missing label"}}
		}
		truth = append(truth, class != etl.Normal)
		if len(truth) == batch {
			if err := flush(); err != nil {
				return ev, err
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return ev, fmt.Errorf("reading after line %d: %w", line, err)
	}
	if err := flush(); err != nil {
		return ev, err
	}
	ev.auc, ev.aucOK = evaluate.ROCAUC(scored)
	return ev, nil
}

func (ev evaluation) write(w io.Writer, source string, threshold float64) {
	c := ev.confusion
	fmt.Fprintf(w, "eval on %s (%d records, threshold %.2f):\n", source, c.Total(), threshold)
	fmt.Fprintf(w, "  accuracy   %.4f\n  precision  %.4f\n  recall     %.4f\n  f1         %.4f\n  false-alarm rate %.4f\n",
		c.Accuracy(), c.Precision(), c.Recall(), c.F1(), c.FalseAlarmRate())
	if ev.aucOK {
		fmt.Fprintf(w, "  roc-auc    %.4f\n", ev.auc)
	}
	fmt.Fprintf(w, "  confusion  tn=%d fp=%d fn=%d tp=%d\n", c.TN, c.FP, c.FN, c.TP)
}

func formatHyperparameters(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + h[k]
	}
	return strings.Join(parts, " ")
}
