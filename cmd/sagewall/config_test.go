package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sagewall.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, `
kafka:
  brokers: [file-a:9092, file-b:9092]
input:
  topic: file.raw
  group: file-group
output:
  format: ocsf
  topic: file.verdicts
batch:
  records: 100
  max_wait: 20ms
shutdown_timeout: 30s
`)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c runConfig)
	}{
		{"defaults", nil, nil, func(t *testing.T, c runConfig) {
			if c.Input.Topic != "nslkdd.raw" || c.Batch.Records != 512 || c.Batch.MaxWait != 2*time.Millisecond || c.Output.Compression != "lz4" || c.HTTP.Addr != "127.0.0.1:9090" {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c runConfig) {
			if strings.Join(c.Kafka.Brokers, ",") != "file-a:9092,file-b:9092" || c.Input.Topic != "file.raw" ||
				c.Output.Format != "ocsf" || c.Batch.Records != 100 || c.Batch.MaxWait != 20*time.Millisecond ||
				c.ShutdownTimeout != 30*time.Second || c.Batch.Bytes != 1<<20 {
				t.Errorf("from file = %+v", c)
			}
		}},
		{"config file from the environment", nil, map[string]string{"SAGEWALL_CONFIG": file}, func(t *testing.T, c runConfig) {
			if c.Input.Topic != "file.raw" {
				t.Errorf("input.topic = %q, want the file's", c.Input.Topic)
			}
		}},
		{"env over file", []string{"--config", file}, map[string]string{
			"SAGEWALL_INPUT_TOPIC": "env.raw", "SAGEWALL_BATCH_RECORDS": "64", "SAGEWALL_KAFKA_BROKERS": "env:9092",
		}, func(t *testing.T, c runConfig) {
			if c.Input.Topic != "env.raw" || c.Batch.Records != 64 || strings.Join(c.Kafka.Brokers, ",") != "env:9092" || c.Input.Group != "file-group" {
				t.Errorf("env over file = %+v", c)
			}
		}},
		{"flags over env", []string{"--config", file, "--input-topic", "flag.raw", "--batch-max-wait=2ms"}, map[string]string{
			"SAGEWALL_INPUT_TOPIC": "env.raw", "SAGEWALL_BATCH_MAX_WAIT": "9ms",
		}, func(t *testing.T, c runConfig) {
			if c.Input.Topic != "flag.raw" || c.Batch.MaxWait != 2*time.Millisecond || c.Output.Format != "ocsf" {
				t.Errorf("flags over env = %+v", c)
			}
		}},
		{"empty env is unset", nil, map[string]string{"SAGEWALL_INPUT_TOPIC": ""}, func(t *testing.T, c runConfig) {
			if c.Input.Topic != "nslkdd.raw" {
				t.Errorf("input.topic = %q, want the default", c.Input.Topic)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := loadRunConfig("run", tt.args, envOf(tt.env), &stderr)
			if err != nil {
				t.Fatalf("loadRunConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"unknown key in file", "output:\n  formatt: json\n", nil, nil, []string{":2:", `unknown setting "output.formatt"`}},
		{"bad value in file", "batch:\n  records: many\n", nil, nil, []string{":2:", "batch.records", `not an integer: "many"`}},
		{"bad duration in env", "", nil, map[string]string{"SAGEWALL_BATCH_MAX_WAIT": "soon"}, []string{"batch.max_wait", "SAGEWALL_BATCH_MAX_WAIT", `"soon"`}},
		{"bad format flag", "", []string{"--output-format", "xml"}, nil, []string{"output.format", "flag --output-format", `"xml"`}},
		{"format from file", "output:\n  format: csv\n", nil, nil, []string{"output.format", "sagewall.yaml:2", `"csv"`}},
		{"compression from the environment", "", nil, map[string]string{"SAGEWALL_OUTPUT_COMPRESSION": "brotli"}, []string{"output.compression", "environment SAGEWALL_OUTPUT_COMPRESSION", `"brotli"`}},
		{"same input and output", "", []string{"--output-topic", "nslkdd.raw"}, nil, []string{"output.topic", "also the input topic"}},
		{"threshold range", "", []string{"--model-threshold", "1.5"}, nil, []string{"model.threshold", "1.5"}},
		{"negative threshold", "model:\n  threshold: -0.2\n", nil, nil, []string{"model.threshold", "-0.2", "or 0 for the model's operating point"}},
		{"broker without port", "", nil, map[string]string{"SAGEWALL_KAFKA_BROKERS": "kafka.internal"}, []string{"kafka.brokers", `"kafka.internal"`, "SAGEWALL_KAFKA_BROKERS"}},
		{"sasl without password", "kafka:\n  sasl:\n    mechanism: scram-sha-512\n    username: sagewall\n", nil, nil, []string{"kafka.sasl.password", "scram-sha-512"}},
		{"unknown sasl", "", []string{"--kafka-sasl-mechanism", "kerberos"}, nil, []string{"kafka.sasl.mechanism", `"kerberos"`}},
		{"msk iam needs tls", "", []string{"--kafka-sasl-mechanism", "aws-msk-iam"}, nil, []string{"kafka.tls.enabled", "aws-msk-iam"}},
		{"zero shutdown", "shutdown_timeout: 0s\n", nil, nil, []string{"shutdown_timeout", "want more than 0"}},
		{"log format", "", []string{"--log-format", "xml"}, nil, []string{"log.format", `"xml"`}},
		{"input format", "input:\n  format: pcap\n", nil, nil, []string{"input.format", "sagewall.yaml:2", `"pcap"`}},
		{"negative reorder window", "", []string{"--input-reorder-window", "-1s"}, nil, []string{"input.reorder_window", "want 0 or more"}},
		{"no hosts", "", nil, map[string]string{"SAGEWALL_INPUT_MAX_HOSTS": "0"}, []string{"input.max_hosts", "want at least 1"}},
		{"not an ARN", "", []string{"--alerts-sns-topic-arn", "not-an-arn"}, nil, []string{"alerts.sns_topic_arn", "not-an-arn"}},
		{"not an SNS ARN", "", []string{"--alerts-sns-topic-arn", "arn:aws:sqs:us-east-1:123456789012:q"}, nil, []string{"alerts.sns_topic_arn", "is not an SNS topic ARN"}},
		{"negative outage timeout", "", []string{"--kafka-outage-timeout", "-1s"}, nil, []string{"kafka.outage_timeout", "want 0"}},
		{"short session", "", []string{"--input-session-timeout", "1s"}, nil, []string{"input.session_timeout", "between 6s and 30m"}},
		{"tiny dead letters", "", []string{"--output-dead-letter-max-bytes", "100"}, nil, []string{"output.dead_letter_max_bytes", "at least 4096"}},
		{"rekey nsl-kdd", "", []string{"--input-format", "nslkdd", "--input-rekey-topic", "zeek.by-host"}, nil, []string{"input.rekey_topic", "not nslkdd"}},
		{"rekey onto the output", "", []string{"--input-rekey-topic", "nslkdd.verdicts"}, nil, []string{"input.rekey_topic", "must differ"}},
		{"unknown category class", "", []string{"--sagemaker-category-classes", "dos,probe,worm"}, nil, []string{"sagemaker.category_classes", `"dos,probe,worm"`, `"worm" is not one of`}},
		{"category classes twice", "", nil, map[string]string{"SAGEWALL_SAGEMAKER_CATEGORY_CLASSES": "dos,dos"}, []string{"sagemaker.category_classes", "dos twice"}},
		{"category classes without an attack", "sagemaker:\n  category_classes: normal\n", nil, nil, []string{"sagemaker.category_classes", "no attack class"}},
		{"mapping where a value goes", "input:\n  topic:\n    name: x\n", nil, nil, []string{":3:", "input.topic", "not a mapping"}},
		{"unknown flag", "", []string{"--batch-size", "3"}, nil, []string{"batch-size"}},
		{"stray argument", "", []string{"extra"}, nil, []string{`unexpected argument "extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"--config", writeConfig(t, tt.yaml)}, args...)
			}
			var stderr bytes.Buffer
			_, err := loadRunConfig("run", args, envOf(tt.env), &stderr)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigHelpListsEverySetting(t *testing.T) {
	var stderr bytes.Buffer
	_, err := loadRunConfig("run", []string{"-h"}, envOf(nil), &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, s := range settings() {
		if !strings.Contains(stderr.String(), "-"+s.flagName()) || !strings.Contains(stderr.String(), s.envName()) {
			t.Errorf("help does not mention --%s / %s", s.flagName(), s.envName())
		}
	}
}

// TestConfigReferenceInDocs keeps docs/pipeline.md's table in step with
// the settings.
func TestConfigReferenceInDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "pipeline.md"))
	if err != nil {
		t.Fatal(err)
	}
	if ref := configReference(); !strings.Contains(string(doc), ref) {
		t.Fatalf("docs/pipeline.md does not contain the current configuration reference; paste:\n%s", ref)
	}
}

// TestSettingsCoverEveryField checks that every field of runConfig is set
// by exactly one setting, so the reference above (and the help, and the
// YAML keys) cannot miss one — scorer, sagemaker.* and alerts.* included.
func TestSettingsCoverEveryField(t *testing.T) {
	var fields []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if v.Kind() != reflect.Struct {
			fields = append(fields, path)
			return
		}
		for i := range v.NumField() {
			walk(v.Field(i), strings.TrimPrefix(path+"."+v.Type().Field(i).Name, "."))
		}
	}
	walk(reflect.ValueOf(runConfig{}), "")

	setBy := map[string]string{}
	for _, s := range settings() {
		// One of these parses for every kind of setting.
		var changed []string
		for _, value := range []string{"7", "true", "7s", "x"} {
			var c runConfig
			if s.set(&c, value) != nil {
				continue
			}
			changed = changed[:0]
			for _, f := range fields {
				if !fieldByPath(reflect.ValueOf(c), f).IsZero() {
					changed = append(changed, f)
				}
			}
			break
		}
		if len(changed) != 1 {
			t.Errorf("setting %s changes fields %v, want exactly one", s.key, changed)
			continue
		}
		if other, ok := setBy[changed[0]]; ok {
			t.Errorf("field %s is set by both %s and %s", changed[0], other, s.key)
		}
		setBy[changed[0]] = s.key
	}
	for _, f := range fields {
		if _, ok := setBy[f]; !ok {
			t.Errorf("runConfig.%s has no setting: add one to settings() (and the docs/pipeline.md table)", f)
		}
	}
}

func fieldByPath(v reflect.Value, path string) reflect.Value {
	for name := range strings.SplitSeq(path, ".") {
		v = v.FieldByName(name)
	}
	return v
}

// FuzzConfigFile feeds arbitrary YAML to the loader: it must return a
// config or an error, never panic, and a loaded config must be valid.
func FuzzConfigFile(f *testing.F) {
	f.Add("kafka:\n  brokers: [a:1]\ninput:\n  topic: x\n")
	f.Add("batch: {records: 3, max_wait: 1ms}\noutput: {format: ocsf}\n")
	f.Add("kafka:\n  tls:\n    enabled: true\n  sasl: {mechanism: plain, username: u, password: p}\n")
	f.Add("- a\n- b\n")
	f.Add("input: [1, 2]\n")
	f.Add("shutdown_timeout: 1h\nmodel: {threshold: 0.7}\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yaml string) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadRunConfig("run", []string{"--config", path}, envOf(nil), io.Discard)
		if err != nil {
			return
		}
		if len(c.Kafka.Brokers) == 0 || c.Batch.Records < 1 || c.Batch.MaxWait <= 0 || c.ShutdownTimeout <= 0 {
			t.Fatalf("loaded an invalid config from %q: %+v", yaml, c)
		}
	})
}

// TestBoolFlagsTakeNoValue checks that a boolean flag given alone means true
// and does not swallow the next argument, and that --flag=false still works.
func TestBoolFlagsTakeNoValue(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		args             []string
		pprof, dashboard bool
		addr             string
	}{
		{[]string{"--http-pprof", "--http-addr", "127.0.0.1:9099"}, true, true, "127.0.0.1:9099"},
		{[]string{"--http-dashboard=false", "--http-pprof=true"}, true, false, "127.0.0.1:9090"},
		{[]string{"--http-addr", "0.0.0.0:9000", "--http-dashboard=0"}, false, false, "0.0.0.0:9000"},
	} {
		cfg, err := loadRunConfig("run", tc.args, noEnv, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if cfg.HTTP.Pprof != tc.pprof || cfg.HTTP.Dashboard != tc.dashboard || cfg.HTTP.Addr != tc.addr {
			t.Errorf("%q: pprof %v dashboard %v addr %q, want %v %v %q", tc.args,
				cfg.HTTP.Pprof, cfg.HTTP.Dashboard, cfg.HTTP.Addr, tc.pprof, tc.dashboard, tc.addr)
		}
	}
	if _, err := loadRunConfig("run", []string{"--http-pprof=maybe"}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "http.pprof") {
		t.Errorf("--http-pprof=maybe: %v, want an error naming http.pprof", err)
	}
}
