package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sagewall/sagewall/scoring"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, stdio{out: &out, err: &errOut}); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "sagewall ") ||
			!strings.Contains(lines[1], "embedded:nslkdd: sagewall-nslkdd 3.0.0, threshold 0.5508, sha256 ") ||
			!strings.Contains(lines[2], "embedded:connlog: sagewall-nslkdd-connlog 3.0.0, threshold 0.6046, sha256 ") {
			t.Errorf("%v:\n%s", args, out.String())
		}
	}
	if code := run(context.Background(), []string{"version", "extra"}, stdio{out: &bytes.Buffer{}, err: &bytes.Buffer{}}); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}

func TestBuildVersionString(t *testing.T) {
	for _, tc := range []struct {
		v    buildVersion
		want string
	}{
		{buildVersion{Version: "(devel)"}, "sagewall (devel)"},
		{buildVersion{Version: "v1.2.0", GoVersion: "go1.26.8"}, "sagewall v1.2.0, go1.26.8"},
		{buildVersion{Version: "(devel)", Revision: "abc123", Time: "2026-12-05T19:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			"sagewall (devel) (commit abc123, modified, 2026-12-05T19:00:00Z), go1.26.8"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	v := buildVersion{Version: "v1.2.0", Revision: "abc123", GoVersion: "go1.26.8"}
	if err := registerBuildInfo(reg, v, scoring.Info{Name: "sagewall-nslkdd", Version: "2.0.0"}, 0.5508); err != nil {
		t.Fatal(err)
	}
	want := `# HELP sagewall_build_info Always 1; its labels name the build (version, git revision, Go version) and the model it runs.
# TYPE sagewall_build_info gauge
sagewall_build_info{goversion="go1.26.8",model="sagewall-nslkdd",model_version="2.0.0",revision="abc123",threshold="0.5508",version="v1.2.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sagewall_build_info"); err != nil {
		t.Error(err)
	}
}
