package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func runDeployForTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"deploy"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

func TestDeployUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no action", nil, "missing action"},
		{"unknown action", []string{"launch"}, `unknown action "launch"`},
		{"train without bucket", []string{"train", "-role", "arn:aws:iam::1:role/r"}, "-bucket is required"},
		{"train without role", []string{"train", "-bucket", "b"}, "-role is required"},
		{"train bad hyperparameter", []string{"train", "-bucket", "b", "-hp", "eta"}, `hyperparameter "eta": want key=value`},
		{"train zero instances", []string{"train", "-bucket", "b", "-role", "r", "-instance-count", "0"}, "-instance-count"},
		{"train stray argument", []string{"train", "-bucket", "b", "extra"}, "unexpected arguments"},
		{"endpoint without role", []string{"endpoint", "-model-data", "s3://b/m.tar.gz"}, "-role is required"},
		{"endpoint built-in image without model", []string{"endpoint", "-role", "r"}, "-model-data is required"},
		{"endpoint bad model URI", []string{"endpoint", "-role", "r", "-model-data", "b/m.tar.gz"}, "want s3://bucket/key"},
		{"train bad job name", []string{"train", "-bucket", "b", "-role", "r", "-job-name", "my_job"}, `training job name "my_job"`},
		{"endpoint name too long", []string{"endpoint", "-role", "r", "-model-data", "s3://b/m", "-name", strings.Repeat("e", 60)}, "at most 56"},
		{"status bad flag", []string{"status", "-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runDeployForTest(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

// TestDeployHelp: help asked for goes to stdout, exit 0.
func TestDeployHelp(t *testing.T) {
	code, stdout, stderr := runDeployForTest(t, "-h")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, action := range []string{"train", "endpoint", "status", "delete"} {
		if !strings.Contains(stdout, "  "+action) {
			t.Errorf("help does not list %q:\n%s", action, stdout)
		}
	}
	code, stdout, _ = runDeployForTest(t, "train", "-h")
	if code != 0 || !strings.Contains(stdout, "-hp") || !strings.Contains(stdout, "max_depth=5") {
		t.Errorf("train -h: exit %d, output %q", code, stdout)
	}
}

func TestHyperparameterFlag(t *testing.T) {
	tests := []struct {
		in      string
		key     string
		value   string
		wantErr bool
	}{
		{"eta=0.1", "eta", "0.1", false},
		{"objective=multi:softprob", "objective", "multi:softprob", false},
		{"eval_metric=auc=x", "eval_metric", "auc=x", false},
		{"eta", "", "", true},
		{"=1", "", "", true},
		{"eta=", "", "", true},
	}
	for _, tt := range tests {
		h := hyperparameterFlag{}
		err := h.Set(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Set(%q) err = %v", tt.in, err)
			continue
		}
		if !tt.wantErr && h[tt.key] != tt.value {
			t.Errorf("Set(%q) = %v", tt.in, h)
		}
	}
}
