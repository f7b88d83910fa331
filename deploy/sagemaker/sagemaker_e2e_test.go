//go:build e2e

package sagemaker

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
)

func TestE2ETrainingAndEndpointLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testenv.AWSConfig(ctx, t)
	dp := New(cfg, WithS3PathStyle(), WithPollInterval(50*time.Millisecond), WithPartSize(MinPartSize))
	s3c := s3.NewFromConfig(cfg, testenv.S3PathStyle)
	smc := sm.NewFromConfig(cfg)
	bucket := testenv.UniqueName(t)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	// 1. The training CSV streams up in several multipart parts and matches
	// what WriteTrainingCSV produces locally, byte for byte.
	in, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	trainURI := S3URI{Bucket: bucket, Key: "training/train/train.csv"}
	stats, err := dp.PrepareTrainingData(ctx, in, trainURI, etl.DefaultSpec())
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Bytes <= MinPartSize {
		t.Fatalf("training CSV is %d bytes: too small to need more than one part", stats.Bytes)
	}
	var local bytes.Buffer
	in, _ = nslkdd.Open(nslkdd.Train20)
	if _, err := WriteTrainingCSV(ctx, in, &local, etl.DefaultSpec()); err != nil {
		t.Fatal(err)
	}
	in.Close()
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(trainURI.Key)})
	if err != nil {
		t.Fatal(err)
	}
	uploaded, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(uploaded) != sha256.Sum256(local.Bytes()) || int64(len(uploaded)) != stats.Bytes {
		t.Fatalf("uploaded %d bytes differ from the local %d-byte CSV", len(uploaded), local.Len())
	}
	if obj.PartsCount != nil && *obj.PartsCount < 2 {
		t.Errorf("parts = %d, want a multipart upload", *obj.PartsCount)
	}

	// 2. CreateTrainingJob with the recipe; moto records the job and reports
	// it Completed at once (it runs no container).
	job := TrainingJob{
		Name: testenv.UniqueName(t), RoleARN: "arn:aws:iam::123456789012:role/sagewall-training",
		Train: trainURI, Output: S3URI{Bucket: bucket, Key: "training/output"},
		InstanceType: "ml.m5.large", MaxRuntime: time.Hour, Hyperparameters: map[string]string{"num_round": "60"},
	}
	if _, err := dp.StartTraining(ctx, job); err != nil {
		t.Fatal(err)
	}
	described, err := smc.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(job.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := described.HyperParameters; got["num_round"] != "60" || got["max_depth"] != "5" || got["objective"] != "binary:logistic" {
		t.Errorf("hyperparameters = %v, want the recipe with num_round overridden", got)
	}
	if img := aws.ToString(described.AlgorithmSpecification.TrainingImage); img != "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1" {
		t.Errorf("training image = %q", img)
	}
	var seen []smtypes.TrainingJobStatus
	result, err := dp.WaitTraining(ctx, job.Name, func(p TrainingProgress) { seen = append(seen, p.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultModelArtifact(job.Output, job.Name); result.ModelArtifact != want {
		t.Fatalf("artifact = %v, want %v", result.ModelArtifact, want)
	}
	if len(seen) == 0 || seen[len(seen)-1] != smtypes.TrainingJobStatusCompleted {
		t.Errorf("progress saw %v", seen)
	}

	// 3. moto writes no model, so put a real one where SageMaker would (the
	// bundled binary model as the built-in container's xgboost-model file),
	// download it and check it loads and scores like the bundled detector.
	putModelTarGz(ctx, t, s3c, result.ModelArtifact)
	local2 := filepath.Join(t.TempDir(), "model.tar.gz")
	if _, err := dp.Download(ctx, result.ModelArtifact, local2); err != nil {
		t.Fatal(err)
	}
	det, err := scoring.LoadDetector(local2)
	if err != nil {
		t.Fatal(err)
	}
	bundled, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, etl.DefaultSpec().Width())
	var rec etl.Record
	if err := etl.NewEncoder(etl.DefaultSpec()).Encode([]byte(neptuneLine), &rec, row); err != nil {
		t.Fatal(err)
	}
	got, want := make([]scoring.Result, 1), make([]scoring.Result, 1)
	if err := det.Score(ctx, row, got); err != nil {
		t.Fatal(err)
	}
	if err := bundled.Score(ctx, row, want); err != nil {
		t.Fatal(err)
	}
	if d := got[0].Score - want[0].Score; d > 1e-6 || d < -1e-6 {
		t.Errorf("downloaded model scores %v, bundled %v", got[0].Score, want[0].Score)
	}

	// 4. Endpoint: create → InService → status → delete → gone.
	name := testenv.UniqueName(t)
	image, _ := XGBoostImage("us-east-1", XGBoost17)
	if _, err := dp.CreateEndpoint(ctx, Endpoint{
		Name: name, Image: image, ModelData: &result.ModelArtifact,
		RoleARN: "arn:aws:iam::123456789012:role/sagewall-hosting", InstanceType: "ml.m5.large", InstanceCount: 2,
	}); err != nil {
		t.Fatal(err)
	}
	st, err := dp.WaitEndpoint(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != smtypes.EndpointStatusInService || st.Config != ConfigName(name) {
		t.Fatalf("status = %+v", st)
	}
	if len(st.Variants) != 1 || st.Variants[0].InstanceType != "ml.m5.large" {
		t.Errorf("variants = %+v", st.Variants)
	}
	model, err := smc.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String(ModelName(name))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(model.PrimaryContainer.ModelDataUrl) != result.ModelArtifact.String() || aws.ToString(model.PrimaryContainer.Image) != image {
		t.Errorf("model container = %+v", model.PrimaryContainer)
	}
	del, err := dp.Delete(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !del.Endpoint || del.Config != ConfigName(name) || len(del.Models) != 1 || del.Models[0] != ModelName(name) {
		t.Fatalf("deleted = %+v", del)
	}
	if _, err := dp.Status(ctx, name); !errors.Is(err, ErrEndpointNotFound) {
		t.Fatalf("status after delete: %v, want ErrEndpointNotFound", err)
	}
	if _, err := smc.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String(ModelName(name))}); err == nil {
		t.Error("model still exists after delete")
	}
	// A second delete finds nothing and is not an error.
	del, err = dp.Delete(ctx, name)
	if err != nil || del.Endpoint || del.Config != "" || len(del.Models) != 0 {
		t.Fatalf("second delete = %+v, %v", del, err)
	}
}

func TestE2EPrepareTrainingDataFromS3Gzip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testenv.AWSConfig(ctx, t)
	dp := New(cfg, WithS3PathStyle())
	s3c := s3.NewFromConfig(cfg, testenv.S3PathStyle)
	bucket := testenv.UniqueName(t)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprintf(zw, "%s\n%s\n%s\n", neptuneLine, normalLine, neptuneLine)
	zw.Close()
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("in/records.txt.gz"), Body: bytes.NewReader(gz.Bytes())}); err != nil {
		t.Fatal(err)
	}
	src, err := dp.OpenSource(ctx, "s3://"+bucket+"/in/records.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stats, err := dp.PrepareTrainingData(ctx, src, S3URI{Bucket: bucket, Key: "out/train.csv"}, etl.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 3 || stats.Attacks != 2 {
		t.Fatalf("stats = %+v", stats)
	}

	// A bad record fails the preparation with its line, and aborts the upload.
	bad := fmt.Sprintf("%s\n%s\n", normalLine, "0,tcp,http,SF,oops")
	if _, err := dp.PrepareTrainingData(ctx, bytes.NewReader([]byte(bad)), S3URI{Bucket: bucket, Key: "out/bad.csv"}, etl.DefaultSpec()); err == nil {
		t.Fatal("bad input uploaded")
	} else if le := (etl.LineError{}); !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("err = %v, want line 2", err)
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("out/bad.csv")}); err == nil {
		t.Error("a failed preparation left an object behind")
	}
	uploads, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(uploads.Uploads))
	}
}

// putModelTarGz uploads model.tar.gz holding the bundled binary model as
// "xgboost-model", the file name the built-in XGBoost container writes.
func putModelTarGz(ctx context.Context, t *testing.T, client *s3.Client, dst S3URI) {
	t.Helper()
	model := testenv.ModelTarGz(t, filepath.Join("..", "..", "scoring", "bundled", "binary.json.gz"))
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dst.Bucket), Key: aws.String(dst.Key), Body: bytes.NewReader(model)}); err != nil {
		t.Fatal(err)
	}
}
