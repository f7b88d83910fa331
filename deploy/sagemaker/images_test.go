package sagemaker

import (
	"strings"
	"testing"
)

func TestXGBoostImage(t *testing.T) {
	tests := []struct {
		region, version string
		want            string
		wantErr         string
	}{
		{"us-east-1", XGBoost17, "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", ""},
		{"us-west-2", XGBoost30, "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:3.0-5", ""},
		{"eu-central-1", XGBoost17, "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-xgboost:1.7-1", ""},
		{"cn-north-1", XGBoost17, "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1", ""},
		{"mars-north-1", XGBoost17, "", `no registry known for region "mars-north-1"`},
		{"us-east-1", "0.90-1", "", `version "0.90-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.region+"/"+tt.version, func(t *testing.T) {
			got, err := XGBoostImage(tt.region, tt.version)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("XGBoostImage = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestXGBoostRegionsSortedAndComplete(t *testing.T) {
	regions := XGBoostRegions()
	if len(regions) < 30 {
		t.Fatalf("only %d regions", len(regions))
	}
	for i := 1; i < len(regions); i++ {
		if regions[i-1] >= regions[i] {
			t.Fatalf("not sorted at %d: %q >= %q", i, regions[i-1], regions[i])
		}
	}
	for _, r := range regions {
		img, err := XGBoostImage(r, DefaultXGBoostVersion)
		if err != nil {
			t.Fatal(err)
		}
		account, _, _ := strings.Cut(img, ".")
		if len(account) != 12 {
			t.Errorf("%s: account %q is not 12 digits", r, account)
		}
	}
}

func TestParseS3URI(t *testing.T) {
	tests := []struct {
		in      string
		want    S3URI
		wantErr bool
	}{
		{"s3://bucket/key/with/parts.csv", S3URI{"bucket", "key/with/parts.csv"}, false},
		{"s3://bucket", S3URI{"bucket", ""}, false},
		{"s3://bucket/", S3URI{"bucket", ""}, false},
		{"s3:///key", S3URI{}, true},
		{"https://bucket/key", S3URI{}, true},
		{"bucket/key", S3URI{}, true},
	}
	for _, tt := range tests {
		got, err := ParseS3URI(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseS3URI(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if s := (S3URI{"b", "k/x"}).String(); s != "s3://b/k/x" {
		t.Errorf("String = %q", s)
	}
}

func TestDefaultHyperparametersAreTheOriginalRecipe(t *testing.T) {
	want := map[string]string{
		"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
		"subsample": "0.8", "num_round": "50", "objective": "binary:logistic",
	}
	got := DefaultHyperparameters()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	got["eta"] = "changed"
	if DefaultHyperparameters()["eta"] != "0.2" {
		t.Error("DefaultHyperparameters returns shared state")
	}
}

func TestDefaultModelArtifact(t *testing.T) {
	got := DefaultModelArtifact(S3URI{"b", "sagewall/training/output/"}, "job-1")
	if want := (S3URI{"b", "sagewall/training/output/job-1/output/model.tar.gz"}); got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"sagewall", ""},
		{"sagewall-prod-2", ""},
		{"A1-b2", ""},
		{strings.Repeat("a", 56), ""},
		{strings.Repeat("a", 57), "at most 56"},
		{"", "empty"},
		{"-sagewall", `character '-' at 1`},
		{"sagewall-", `character '-' at 9`},
		{"sage_wall", `character '_' at 5`},
		{"sage wall", `character ' ' at 5`},
	}
	for _, tt := range tests {
		err := ValidateEndpointName(tt.name)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ValidateEndpointName(%q) = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	if err := validateName("training job", strings.Repeat("j", 63), maxNameLen); err != nil {
		t.Errorf("63-character job name: %v", err)
	}
	if err := validateName("training job", strings.Repeat("j", 64), maxNameLen); err == nil {
		t.Error("64-character job name accepted")
	}
}
