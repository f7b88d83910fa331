package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/stream"
)

// describedNames is a prometheus.Registerer that keeps the name of every
// metric registered on it, vectors without a series included (a registry's
// Gather leaves those out).
type describedNames map[string]bool

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (n describedNames) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			return &describeError{d.String()}
		}
		n[m[1]] = true
	}
	return nil
}

type describeError struct{ desc string }

func (e *describeError) Error() string { return "no fqName in " + e.desc }

func (n describedNames) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := n.Register(c); err != nil {
			panic(err)
		}
	}
}

func (n describedNames) Unregister(prometheus.Collector) bool { return true }

// runMetricNames registers what `sagewall run` registers with every
// optional part on (scorer sagemaker, SNS alerts), the way newService does,
// and returns the metric names.
func runMetricNames(t *testing.T) describedNames {
	t.Helper()
	cfg, err := loadRunConfig("run", nil, envOf(map[string]string{"SAGEWALL_KAFKA_BROKERS": "127.0.0.1:9"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Scorer = "sagemaker"
	cfg.SageMaker.Endpoint, cfg.SageMaker.Region = "sagewall", "us-east-1"
	cfg.Alerts.SNSTopicARN, cfg.Alerts.Region = "arn:aws:sns:us-east-1:123456789012:sagewall-alerts", "us-east-1"
	logger := slog.New(slog.DiscardHandler)
	names := describedNames{}
	names.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if _, err := stream.NewMetrics(names); err != nil {
		t.Fatal(err)
	}
	det, err := scoring.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	if err := registerBuildInfo(names, readBuildVersion(), det.Info(), det.Threshold()); err != nil {
		t.Fatal(err)
	}
	stream.NewHealth(stream.WithHealthRegisterer(names))
	ctx := context.Background()
	if _, _, err := newRunScorer(ctx, &cfg, det, names, logger); err != nil {
		t.Fatal(err)
	}
	if _, err := newAlertSink(ctx, &cfg, names, logger); err != nil {
		t.Fatal(err)
	}
	return names
}

var sagewallMetric = regexp.MustCompile(`\bsagewall_[a-zA-Z0-9_]+`)

// opsExpressions returns the PromQL of the alerting rules and the dashboard,
// each with where it comes from.
func opsExpressions(t *testing.T) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..", "deploy")
	exprs := map[string]string{}

	raw, err := os.ReadFile(filepath.Join(root, "prometheus", "sagewall-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Record, Expr, For string
				Labels                   map[string]string
				Annotations              map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("reading the alerting rules: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["rule "+r.Alert+r.Record] = r.Expr
			if r.Alert == "" {
				continue
			}
			// Every alert waits before firing, says how bad it is and
			// tells the operator where to look.
			if r.For == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" || len(r.Annotations["description"]) < 80 {
				t.Errorf("alert %s: want for, a severity label, a summary and a description (got for %q, labels %v)",
					r.Alert, r.For, r.Labels)
			}
		}
	}

	raw, err = os.ReadFile(filepath.Join(root, "grafana", "sagewall-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name, Type string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("reading the dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			exprs["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	for _, v := range dash.Templating.List {
		exprs["variable "+v.Name] = v.Definition
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions in the rules and the dashboard", len(exprs))
	}
	return exprs
}

// TestOpsMetricsExist fails when an alerting rule or a dashboard panel
// names a sagewall_ metric that `sagewall run` does not register (renamed
// or removed), so neither silently goes blank.
func TestOpsMetricsExist(t *testing.T) {
	names := runMetricNames(t)
	used := map[string]bool{}
	for where, expr := range opsExpressions(t) {
		for _, name := range sagewallMetric.FindAllString(expr, -1) {
			used[name] = true
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && names[b] {
					base = b
				}
			}
			if !names[base] {
				t.Errorf("%s uses %s, which sagewall run does not register", where, name)
			}
		}
	}
	// The dashboard covers the pipeline's main series.
	for _, want := range []string{"sagewall_records_consumed_total", "sagewall_verdicts_total", "sagewall_records_rejected_total",
		"sagewall_end_to_end_latency_seconds_bucket", "sagewall_consumer_lag", "sagewall_dependency_up", "sagewall_build_info"} {
		if !used[want] {
			t.Errorf("neither the rules nor the dashboard use %s", want)
		}
	}
}

// TestDashboardDatasource checks that every panel and query variable reads
// from the ${datasource} variable, never a hard-coded datasource uid.
func TestDashboardDatasource(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "sagewall-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type ds struct{ Type, UID string }
	var dash struct {
		Panels []struct {
			Title      string
			Type       string
			Datasource *ds
			Targets    []struct{ Datasource *ds }
		}
		Templating struct {
			List []struct {
				Name, Type string
				Datasource *ds
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	check := func(where string, d *ds) {
		if d == nil || d.UID != "${datasource}" {
			t.Errorf("%s: datasource %+v, want uid ${datasource}", where, d)
		}
	}
	var variables []string
	for _, v := range dash.Templating.List {
		variables = append(variables, v.Name)
		if v.Type == "query" {
			check("variable "+v.Name, v.Datasource)
		}
	}
	if !slices.Contains(variables, "datasource") {
		t.Errorf("no datasource variable among %v", variables)
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		check("panel "+p.Title, p.Datasource)
		for _, tg := range p.Targets {
			check("a target of panel "+p.Title, tg.Datasource)
		}
	}
}

// TestLicenceAndNotice: the project's licence is Apache 2.0, and NOTICE
// names every third-party licence file in the repository, so that bundled
// data cannot arrive without its terms being stated.
func TestLicenceAndNotice(t *testing.T) {
	root := filepath.Join("..", "..")
	licence, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(licence), "Apache License") || !strings.Contains(string(licence), "Version 2.0, January 2004") {
		t.Error("LICENSE is not the Apache License 2.0")
	}
	notice, err := os.ReadFile(filepath.Join(root, "NOTICE"))
	if err != nil {
		t.Fatal(err)
	}
	var found int
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".cache" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		name := d.Name()
		if d.IsDir() || path == filepath.Join(root, "LICENSE") || !(strings.HasPrefix(name, "LICENSE") || strings.HasPrefix(name, "COPYING")) {
			return nil
		}
		found++
		rel, _ := filepath.Rel(root, path)
		if !strings.Contains(string(notice), filepath.ToSlash(rel)) {
			t.Errorf("NOTICE does not name %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Error("no third-party licence file found: the walk is broken")
	}
}

// TestDocsExamplesNameTheShippedModels: the example verdicts and findings
// in the docs carry the bundled models' real name, version and SHA-256, so
// that a reader can match them against `sagewall --version` and their own
// verdicts (they went stale once when a model was retrained).
func TestDocsExamplesNameTheShippedModels(t *testing.T) {
	shipped := map[string]scoring.Info{}
	for _, load := range []func(...scoring.Option) (*scoring.Detector, error){scoring.Bundled, scoring.BundledConnLog} {
		d, err := load()
		if err != nil {
			t.Fatal(err)
		}
		shipped[d.Info().Name] = d.Info()
	}
	// A model object ("name", "version", "sha256") or an OCSF analytic
	// ("name", ..., "uid", "version").
	example := regexp.MustCompile(`"name": "(sagewall-[a-z-]+)",\s*(?:"version": "([^"]+)",\s*"sha256": "([0-9a-f]{64})"|"type_id": 4,\s*"type": "[^"]+",\s*"uid": "([0-9a-f]{64})",\s*"version": "([^"]+)")`)
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join("..", "..", "README.md"))
	var found int
	for _, path := range docs {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range example.FindAllStringSubmatch(string(text), -1) {
			found++
			version, sum := m[2], m[3]
			if sum == "" {
				version, sum = m[5], m[4]
			}
			want, ok := shipped[m[1]]
			if !ok {
				t.Errorf("%s: an example names %q, which is not a bundled model", path, m[1])
				continue
			}
			if version != want.Version || sum != want.SHA256 {
				t.Errorf("%s: an example names %s %s %s; the bundled model is %s %s", path, m[1], version, sum, want.Version, want.SHA256)
			}
		}
	}
	if found < 3 {
		t.Errorf("found %d example model identities in the docs, want at least 3: the pattern no longer matches them", found)
	}
}
