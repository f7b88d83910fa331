package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestKafkaBrokersFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    []string
		wantErr string
	}{
		{name: "one", value: "127.0.0.1:19092", want: []string{"127.0.0.1:19092"}},
		{name: "list with spaces", value: " 127.0.0.1:1, 127.0.0.1:2 ,", want: []string{"127.0.0.1:1", "127.0.0.1:2"}},
		{name: "unset", value: "", wantErr: "SAGEWALL_KAFKA_BROKERS is not set; e2e tests need the real services: run `make e2e`"},
		{name: "only commas", value: " , ", wantErr: "scripts/kafka.sh start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kafkaBrokers(env(map[string]string{EnvKafkaBrokers: tt.value}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAWSEndpointFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    string
		wantErr string
	}{
		{name: "url", value: "http://127.0.0.1:15000", want: "http://127.0.0.1:15000"},
		{name: "trailing slash", value: "http://127.0.0.1:15000/", want: "http://127.0.0.1:15000"},
		{name: "unset", value: "", wantErr: "SAGEWALL_AWS_ENDPOINT is not set; e2e tests need the real services: run `make e2e`, or start them with `scripts/kafka.sh start` and `scripts/moto.sh start`"},
		{name: "no scheme", value: "127.0.0.1:15000", wantErr: `SAGEWALL_AWS_ENDPOINT="127.0.0.1:15000": want a URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := awsEndpoint(env(map[string]string{EnvAWSEndpoint: tt.value}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAWSConfigPointsAtEndpoint(t *testing.T) {
	t.Setenv("AWS_PROFILE", "someone-elses-profile")
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAREAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
	ctx := context.Background()
	cfg := awsConfig("http://127.0.0.1:15000")
	if cfg.Region != AWSRegion {
		t.Errorf("region %q, want %q", cfg.Region, AWSRegion)
	}
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:15000" {
		t.Errorf("BaseEndpoint %v, want http://127.0.0.1:15000", cfg.BaseEndpoint)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("credentials %q/%q, want the dummy test/test", creds.AccessKeyID, creds.SecretAccessKey)
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	tests := []struct {
		testName string
		want     string
	}{
		{testName: "TestS3Notification", want: "sagewall-tests3notification-0a1b2c3d"},
		{testName: "TestRoundTrip/two_partitions", want: "sagewall-testroundtrip-two-partitions-0a1b2c3d"},
		{testName: "Test__Weird--Name__", want: "sagewall-test-weird-name-0a1b2c3d"},
		{testName: "///", want: "sagewall-0a1b2c3d"},
		{testName: strings.Repeat("TestLong", 20), want: "sagewall-" + strings.Repeat("testlong", 6)[:45] + "-0a1b2c3d"},
	}
	for _, tt := range tests {
		got := uniqueName(tt.testName, "0a1b2c3d")
		if got != tt.want {
			t.Errorf("uniqueName(%q) = %q, want %q", tt.testName, got, tt.want)
		}
		if len(got) > 63 || !valid.MatchString(got) {
			t.Errorf("uniqueName(%q) = %q: not a valid bucket, queue and topic name", tt.testName, got)
		}
	}
	if a, b := UniqueName(t), UniqueName(t); a == b {
		t.Errorf("two calls both returned %q", a)
	}
}

func TestPing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden) // any answer means the server is up
	}))
	defer srv.Close()
	if err := ping(t.Context(), srv.URL); err != nil {
		t.Errorf("ping(%s): %v", srv.URL, err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	err := ping(t.Context(), closed.URL)
	if err == nil || !strings.Contains(err.Error(), "pinging AWS endpoint "+closed.URL) {
		t.Errorf("ping(%s) of a closed server: error %v, want one naming the endpoint", closed.URL, err)
	}
}
