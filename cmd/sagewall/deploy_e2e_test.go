//go:build e2e

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sagewall/sagewall/etl/nslkdd"
	"github.com/sagewall/sagewall/internal/testenv"
)

// TestE2EDeployCommands drives `sagewall deploy` end to end against the AWS
// emulation: train (prepare, CreateTrainingJob, wait, download, load, eval),
// endpoint, status and delete. The emulation runs no training container, so
// the test puts a real model where the job's artifact would land.
func TestE2EDeployCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testenv.AWSConfig(ctx, t)
	endpoint := aws.ToString(cfg.BaseEndpoint)
	// The command loads the standard AWS chain: give it moto's dummy
	// credentials and keep the machine's own AWS files out.
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	s3c := s3.NewFromConfig(cfg, testenv.S3PathStyle)
	bucket := testenv.UniqueName(t)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	job := testenv.UniqueName(t)
	artifactKey := "sagewall/training/output/" + job + "/output/model.tar.gz"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(artifactKey), Body: bytes.NewReader(testenv.ModelTarGz(t, filepath.Join("..", "..", "scoring", "bundled", "binary.json.gz")))}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	validation := filepath.Join(dir, "validation.txt")
	writeFirstLines(t, validation, 3000)
	model := filepath.Join(dir, "model.tar.gz")

	deploy := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		full := append([]string{"deploy"}, args...)
		full = append(full[:2:2], append([]string{"-aws-endpoint", endpoint, "-poll", "50ms"}, args[1:]...)...)
		if code := run(ctx, full, stdio{in: strings.NewReader(""), out: &out, err: &errOut}); code != 0 {
			t.Fatalf("sagewall %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(full, " "), code, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}

	out, errOut := deploy("train", "-bucket", bucket, "-role", "arn:aws:iam::123456789012:role/sagewall-training",
		"-job-name", job, "-validation", validation, "-out", model, "-hp", "num_round=60")
	for _, want := range []string{"125973 rows", "3000 rows", "Completed", "downloaded s3://" + bucket + "/" + artifactKey} {
		if !strings.Contains(errOut, want) {
			t.Errorf("train progress lacks %q:\n%s", want, errOut)
		}
	}
	for _, want := range []string{"loads in the sagewall scorer", "eval on " + validation + " (3000 records", "accuracy", "roc-auc"} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}

	name := testenv.UniqueName(t)
	out, _ = deploy("endpoint", "-name", name, "-role", "arn:aws:iam::123456789012:role/sagewall-hosting",
		"-model-data", "s3://"+bucket+"/"+artifactKey, "-instance-count", "2")
	if !strings.Contains(out, "is InService") {
		t.Errorf("endpoint output: %s", out)
	}
	out, _ = deploy("status", "-name", name, "-json")
	var st struct {
		Name, Status, Config string
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Name != name || st.Status != "InService" || st.Config != name+"-config" {
		t.Errorf("status = %+v, %v from %s", st, err, out)
	}
	out, _ = deploy("delete", "-name", name)
	if !strings.Contains(out, "deleted endpoint "+name) || !strings.Contains(out, name+"-model") {
		t.Errorf("delete output: %s", out)
	}
	out, _ = deploy("delete", "-name", name)
	if !strings.Contains(out, "nothing to delete") {
		t.Errorf("second delete output: %s", out)
	}
}

func writeFirstLines(t *testing.T, path string, n int) {
	t.Helper()
	in, err := nslkdd.Open(nslkdd.Train20)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(in)
	for i := 0; i < n && sc.Scan(); i++ {
		fmt.Fprintln(f, sc.Text())
	}
}
