package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/aws_msk_iam_v2"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"gopkg.in/yaml.v3"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/internal/dashboard"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
)

// parseInputFormat reads input.format (also score's, eval's and features'
// --format): conn is false for nslkdd, which reads NSL-KDD records only.
func parseInputFormat(name string) (input connlog.Input, conn bool, err error) {
	switch name {
	case "", "auto":
		return connlog.Auto, true, nil
	case "nslkdd":
		return 0, false, nil
	case "zeek":
		return connlog.Zeek, true, nil
	case "vpcflow":
		return connlog.VPC, true, nil
	}
	return 0, false, fmt.Errorf("unknown input format %q (want auto, nslkdd, zeek or vpcflow)", name)
}

// deriveOptions are the features options input.* sets.
func deriveOptions(c *runConfig) []features.Option {
	return []features.Option{
		features.WithReorderWindow(c.Input.ReorderWindow),
		features.WithHoldTime(c.Input.HoldTime),
		features.WithHostHorizon(c.Input.HostHorizon),
		features.WithMaxHosts(c.Input.MaxHosts),
		features.WithMaxHeld(c.Input.MaxHeld),
	}
}

// modelThreshold is model.threshold, or nil for 0: the model's operating point.
func (c *runConfig) modelThreshold() *float64 {
	if c.Model.Threshold == 0 {
		return nil
	}
	t := c.Model.Threshold
	return &t
}

// runConfig is the configuration of `sagewall run`. Every field is one
// setting in settings(), which gives it its YAML key, environment variable
// and flag; precedence is flag > environment > file > default.
type runConfig struct {
	Kafka struct {
		Brokers []string
		TLS     struct {
			Enabled            bool
			CAFile             string
			CertFile           string
			KeyFile            string
			ServerName         string
			InsecureSkipVerify bool
		}
		SASL struct {
			Mechanism string // "", plain, scram-sha-256, scram-sha-512, aws-msk-iam
			Username  string
			Password  string
		}
		// OutageTimeout: 0 rides out any outage; more exits once a
		// dependency has been down that long.
		OutageTimeout time.Duration
	}
	Input struct {
		Topic       string
		Group       string
		StartOffset string // earliest or latest, for a group with no commits
		// Format is auto, nslkdd, zeek or vpcflow; the rest configure the
		// connection-log path (package features).
		Format         string
		ReorderWindow  time.Duration
		HoldTime       time.Duration
		HostHorizon    time.Duration
		MaxHosts       int
		MaxHeld        int
		SensorHeader   string
		SensorFromKey  bool
		Passthrough    []string
		RebuildRecords int
		RekeyTopic     string
		SessionTimeout time.Duration
	}
	Output struct {
		Topic           string
		DeadLetterTopic string
		Format          string
		Fields          string // compact or full (sinks.FieldsCompact, FieldsFull)
		Emit            string // all or attacks; "" is the format's default
		Compression     string
		// DeadLetterMaxBytes: 0 reads the dead-letter topic's
		// max.message.bytes at start.
		DeadLetterMaxBytes int
		CreateTopics       bool
		TopicPartitions    int
		TopicReplication   int
	}
	Batch struct {
		Records     int
		Bytes       int
		MaxWait     time.Duration
		MaxInFlight int
	}
	Model struct {
		Path      string // "" = the bundled model
		Threshold float64
		Explain   string // none, alerts or all: which verdicts carry an explanation
		// ExplainPerBatch caps alerts mode's explanations per micro-batch (0: no cap).
		ExplainPerBatch int
	}
	// Scorer is "local" (the model above) or "sagemaker" (the endpoint
	// below, with the local model for categories and as the fallback).
	Scorer    string
	SageMaker struct {
		Endpoint         string
		CategoryEndpoint string
		// CategoryClasses are the category endpoint's classes in output
		// order, comma-separated ("" = the local category model's).
		CategoryClasses string
		Region          string
		EndpointURL     string
		MaxRows         int
		Concurrency     int
		Timeout         time.Duration
		Fallback        bool
	}
	Alerts struct {
		SNSTopicARN string // "" = no alerts
		Topic       string // the outbox: alert-worthy verdicts, for the notifier
		Group       string // the notifier's consumer group; "" = <input.group>.alerts
		Threshold   float64
		Window      time.Duration
		MaxExamples int
		Region      string
		EndpointURL string
	}
	HTTP struct {
		Addr      string
		Dashboard bool
		// DashboardHistory is how many of the newest alerts the dashboard
		// keeps for its list, filters, drawer and exports.
		DashboardHistory int
		Pprof            bool
		AuthToken        string
		AuthTokenFile    string
	}
	Log struct {
		Format string
		Level  string
	}
	ShutdownTimeout time.Duration
	// MemoryLimit is the runtime's soft memory limit: auto, off or a size
	// (memory.go); GOMEMLIMIT, when set, wins.
	MemoryLimit string
}

// setting is one configuration key with its three sources.
type setting struct {
	key   string // YAML path, e.g. "output.format"
	usage string
	set   func(c *runConfig, v string) error
	get   func(c *runConfig) string
	// isBool makes the flag a boolean one: --http-pprof alone means true.
	isBool bool
}

// flagName and envName derive a setting's flag and environment variable
// from its key: output.dead_letter_topic → --output-dead-letter-topic and
// SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC.
func (s setting) flagName() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(s.key)
}

func (s setting) envName() string {
	return "SAGEWALL_" + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}

func stringSetting(key, usage string, field func(*runConfig) *string) setting {
	return setting{key, usage,
		func(c *runConfig, v string) error { *field(c) = v; return nil },
		func(c *runConfig) string { return *field(c) }, false}
}

func intSetting(key, usage string, field func(*runConfig) *int) setting {
	return setting{key, usage,
		func(c *runConfig, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("not an integer: %q", v)
			}
			*field(c) = n
			return nil
		},
		func(c *runConfig) string { return strconv.Itoa(*field(c)) }, false}
}

func floatSetting(key, usage string, field func(*runConfig) *float64) setting {
	return setting{key, usage,
		func(c *runConfig, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return fmt.Errorf("not a number: %q", v)
			}
			*field(c) = f
			return nil
		},
		func(c *runConfig) string { return strconv.FormatFloat(*field(c), 'g', -1, 64) }, false}
}

func boolSetting(key, usage string, field func(*runConfig) *bool) setting {
	return setting{key, usage,
		func(c *runConfig, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("not a boolean: %q", v)
			}
			*field(c) = b
			return nil
		},
		func(c *runConfig) string { return strconv.FormatBool(*field(c)) }, true}
}

func durationSetting(key, usage string, field func(*runConfig) *time.Duration) setting {
	return setting{key, usage,
		func(c *runConfig, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("not a duration (e.g. 5ms, 10s): %q", v)
			}
			*field(c) = d
			return nil
		},
		func(c *runConfig) string { return field(c).String() }, false}
}

func listSetting(key, usage string, field func(*runConfig) *[]string) setting {
	return setting{key, usage,
		func(c *runConfig, v string) error {
			var list []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			*field(c) = list
			return nil
		},
		func(c *runConfig) string { return strings.Join(*field(c), ",") }, false}
}

// settings lists every key of `sagewall run`, in documentation order.
func settings() []setting {
	return []setting{
		listSetting("kafka.brokers", "Kafka bootstrap addresses, comma-separated (YAML: a list)",
			func(c *runConfig) *[]string { return &c.Kafka.Brokers }),
		boolSetting("kafka.tls.enabled", "connect with TLS",
			func(c *runConfig) *bool { return &c.Kafka.TLS.Enabled }),
		stringSetting("kafka.tls.ca_file", "PEM CA bundle to verify the brokers (default: system roots)",
			func(c *runConfig) *string { return &c.Kafka.TLS.CAFile }),
		stringSetting("kafka.tls.cert_file", "PEM client certificate for mutual TLS",
			func(c *runConfig) *string { return &c.Kafka.TLS.CertFile }),
		stringSetting("kafka.tls.key_file", "PEM client key for mutual TLS",
			func(c *runConfig) *string { return &c.Kafka.TLS.KeyFile }),
		stringSetting("kafka.tls.server_name", "server name to verify (default: the broker host)",
			func(c *runConfig) *string { return &c.Kafka.TLS.ServerName }),
		boolSetting("kafka.tls.insecure_skip_verify", "do not verify broker certificates (testing only)",
			func(c *runConfig) *bool { return &c.Kafka.TLS.InsecureSkipVerify }),
		stringSetting("kafka.sasl.mechanism", "SASL: plain, scram-sha-256, scram-sha-512 or aws-msk-iam (empty: none)",
			func(c *runConfig) *string { return &c.Kafka.SASL.Mechanism }),
		stringSetting("kafka.sasl.username", "SASL username (plain, scram)",
			func(c *runConfig) *string { return &c.Kafka.SASL.Username }),
		stringSetting("kafka.sasl.password", "SASL password (plain, scram); prefer the environment variable",
			func(c *runConfig) *string { return &c.Kafka.SASL.Password }),
		durationSetting("kafka.outage_timeout", "exit (status 1) once Kafka, the scorer or an output has been down this long; 0: ride out any outage, with /readyz false meanwhile",
			func(c *runConfig) *time.Duration { return &c.Kafka.OutageTimeout }),
		stringSetting("input.topic", "raw topic: NSL-KDD records or connection logs (input.format)",
			func(c *runConfig) *string { return &c.Input.Topic }),
		stringSetting("input.group", "consumer group",
			func(c *runConfig) *string { return &c.Input.Group }),
		stringSetting("input.start_offset", "where a group without commits starts: earliest or latest",
			func(c *runConfig) *string { return &c.Input.StartOffset }),
		stringSetting("input.format", "record format: auto (per record), nslkdd, zeek (conn.log, JSON or TSV) or vpcflow",
			func(c *runConfig) *string { return &c.Input.Format }),
		durationSetting("input.reorder_window", "connection logs: event time a connection is held so that earlier-starting ones logged later are counted first",
			func(c *runConfig) *time.Duration { return &c.Input.ReorderWindow }),
		durationSetting("input.hold_time", "connection logs: wall-clock time a connection may wait for the reorder window before it is judged anyway",
			func(c *runConfig) *time.Duration { return &c.Input.HoldTime }),
		durationSetting("input.host_horizon", "connection logs: a destination host idle this long (event time) is forgotten",
			func(c *runConfig) *time.Duration { return &c.Input.HostHorizon }),
		intSetting("input.max_hosts", "connection logs: destination hosts tracked per partition (least recently seen evicted)",
			func(c *runConfig) *int { return &c.Input.MaxHosts }),
		intSetting("input.max_held", "connection logs: connections held for reordering per partition; beyond it the earliest is judged at once",
			func(c *runConfig) *int { return &c.Input.MaxHeld }),
		stringSetting("input.sensor_header", "Kafka header naming the sensor of a connection whose record names none",
			func(c *runConfig) *string { return &c.Input.SensorHeader }),
		listSetting("input.passthrough", "fields of a record (Zeek extension fields, extra JSON keys) its verdict carries under connection.fields; * for all",
			func(c *runConfig) *[]string { return &c.Input.Passthrough }),
		stringSetting("input.rekey_topic", "connection logs: repartition input.topic by destination host into this topic (group <input.group>.rekey) and judge it from there; for producers that do not key by destination host (empty: off)",
			func(c *runConfig) *string { return &c.Input.RekeyTopic }),
		intSetting("input.rebuild_records", "connection logs (zeek, vpcflow): records before the commit point replayed into a partition's feature state when it is assigned (0: off)",
			func(c *runConfig) *int { return &c.Input.RebuildRecords }),
		boolSetting("input.sensor_from_key", "use the Kafka message key as the sensor when neither the record nor the header names one",
			func(c *runConfig) *bool { return &c.Input.SensorFromKey }),
		durationSetting("input.session_timeout", "how long the group waits for a silent member (killed, frozen) before its partitions move to the others",
			func(c *runConfig) *time.Duration { return &c.Input.SessionTimeout }),
		stringSetting("output.topic", "verdict topic",
			func(c *runConfig) *string { return &c.Output.Topic }),
		stringSetting("output.dead_letter_topic", "topic for records that cannot be encoded",
			func(c *runConfig) *string { return &c.Output.DeadLetterTopic }),
		stringSetting("output.format", "verdict format: json or ocsf",
			func(c *runConfig) *string { return &c.Output.Format }),
		stringSetting("output.fields", "what a verdict carries: compact (identity, connection, label, score, category, model, source) or full (also the source record's 41 features, ~3× the bytes)",
			func(c *runConfig) *string { return &c.Output.Fields }),
		stringSetting("output.emit", "which verdicts are written: all (one per record) or attacks (findings only); empty: attacks for ocsf, all for json",
			func(c *runConfig) *string { return &c.Output.Emit }),
		stringSetting("output.compression", "compression of the verdict and dead-letter batches: none, gzip, snappy, lz4 or zstd",
			func(c *runConfig) *string { return &c.Output.Compression }),
		intSetting("output.dead_letter_max_bytes", "largest dead letter (key, value, headers); longer values are cut and marked sagewall.truncated (0: the dead-letter topic's max.message.bytes, read at start, at most 1000000)",
			func(c *runConfig) *int { return &c.Output.DeadLetterMaxBytes }),
		boolSetting("output.create_topics", "create the verdict and dead-letter topics at start when they do not exist",
			func(c *runConfig) *bool { return &c.Output.CreateTopics }),
		intSetting("output.topic_partitions", "partitions of a created output topic (0: as many as input.topic has)",
			func(c *runConfig) *int { return &c.Output.TopicPartitions }),
		intSetting("output.topic_replication", "replication factor of a created output topic (-1: the broker's default.replication.factor)",
			func(c *runConfig) *int { return &c.Output.TopicReplication }),
		intSetting("batch.records", "close a micro-batch at this many records",
			func(c *runConfig) *int { return &c.Batch.Records }),
		intSetting("batch.bytes", "close a micro-batch at this many input bytes",
			func(c *runConfig) *int { return &c.Batch.Bytes }),
		durationSetting("batch.max_wait", "close a micro-batch this long after its first record",
			func(c *runConfig) *time.Duration { return &c.Batch.MaxWait }),
		intSetting("batch.max_in_flight", "micro-batches being scored or written at once (bounds memory)",
			func(c *runConfig) *int { return &c.Batch.MaxInFlight }),
		stringSetting("model.path", "model directory or file, or embedded:nslkdd / embedded:connlog (empty: embedded:connlog for input.format zeek or vpcflow, else embedded:nslkdd)",
			func(c *runConfig) *string { return &c.Model.Path }),
		floatSetting("model.threshold", "attack threshold on the binary score (0: the model's operating point, from its manifest; 0.5 for a model without one)",
			func(c *runConfig) *float64 { return &c.Model.Threshold }),
		stringSetting("model.explain", "which verdicts carry their 5 largest feature contributions (TreeSHAP): none, alerts (attacks scoring at least alerts.threshold) or all",
			func(c *runConfig) *string { return &c.Model.Explain }),
		intSetting("model.explain_per_batch", "alerts mode: at most this many explanations a micro-batch, the first alerts (bounds their cost in a flood, when nearly every record is an alert; 0: no cap)",
			func(c *runConfig) *int { return &c.Model.ExplainPerBatch }),
		stringSetting("scorer", "where rows are scored: local (model.path) or sagemaker (sagemaker.endpoint)",
			func(c *runConfig) *string { return &c.Scorer }),
		stringSetting("sagemaker.endpoint", "SageMaker endpoint serving the binary model (scorer: sagemaker)",
			func(c *runConfig) *string { return &c.SageMaker.Endpoint }),
		stringSetting("sagemaker.category_endpoint", "optional endpoint serving the category model (default: the local category model)",
			func(c *runConfig) *string { return &c.SageMaker.CategoryEndpoint }),
		stringSetting("sagemaker.category_classes", "the category endpoint's classes in output order, comma-separated (default: the local category model's: dos,probe,r2l,u2r for the bundled models, normal,dos,probe,r2l,u2r for a 5-class model)",
			func(c *runConfig) *string { return &c.SageMaker.CategoryClasses }),
		stringSetting("sagemaker.region", "AWS region of the endpoint (default: from the environment)",
			func(c *runConfig) *string { return &c.SageMaker.Region }),
		stringSetting("sagemaker.endpoint_url", "override URL of the SageMaker runtime API (VPC endpoint, tests)",
			func(c *runConfig) *string { return &c.SageMaker.EndpointURL }),
		intSetting("sagemaker.max_rows", "rows per InvokeEndpoint request (larger batches are split)",
			func(c *runConfig) *int { return &c.SageMaker.MaxRows }),
		intSetting("sagemaker.concurrency", "InvokeEndpoint requests in flight",
			func(c *runConfig) *int { return &c.SageMaker.Concurrency }),
		durationSetting("sagemaker.timeout", "timeout of one InvokeEndpoint request",
			func(c *runConfig) *time.Duration { return &c.SageMaker.Timeout }),
		boolSetting("sagemaker.fallback", "score on the local model when the endpoint fails",
			func(c *runConfig) *bool { return &c.SageMaker.Fallback }),
		stringSetting("alerts.sns_topic_arn", "SNS topic for alerts (empty: no alerts)",
			func(c *runConfig) *string { return &c.Alerts.SNSTopicARN }),
		stringSetting("alerts.topic", "Kafka topic the pipeline writes alert-worthy verdicts to (acks=all) and the notifier publishes to SNS from",
			func(c *runConfig) *string { return &c.Alerts.Topic }),
		stringSetting("alerts.group", "consumer group of the notifier on alerts.topic (empty: <input.group>.alerts)",
			func(c *runConfig) *string { return &c.Alerts.Group }),
		floatSetting("alerts.threshold", "score from which a verdict raises an alert",
			func(c *runConfig) *float64 { return &c.Alerts.Threshold }),
		durationSetting("alerts.window", "alerts are aggregated per category and service over this window",
			func(c *runConfig) *time.Duration { return &c.Alerts.Window }),
		intSetting("alerts.max_examples", "example records in one aggregated alert",
			func(c *runConfig) *int { return &c.Alerts.MaxExamples }),
		stringSetting("alerts.region", "AWS region of the SNS topic (default: from the environment)",
			func(c *runConfig) *string { return &c.Alerts.Region }),
		stringSetting("alerts.endpoint_url", "override URL of the SNS API (VPC endpoint, tests)",
			func(c *runConfig) *string { return &c.Alerts.EndpointURL }),
		stringSetting("http.addr", "address of /metrics, /healthz and /readyz",
			func(c *runConfig) *string { return &c.HTTP.Addr }),
		boolSetting("http.dashboard", "serve the web dashboard at /dashboard/ on http.addr",
			func(c *runConfig) *bool { return &c.HTTP.Dashboard }),
		intSetting("http.dashboard_history", "alerts the dashboard keeps for its list, filters, drawer and exports, newest first (about 1.1 KB each, at most 6 KB; 0: none)",
			func(c *runConfig) *int { return &c.HTTP.DashboardHistory }),
		stringSetting("http.auth_token", "bearer token the dashboard requires (required when http.addr is not loopback and the dashboard is on); prefer the variable or http.auth_token_file",
			func(c *runConfig) *string { return &c.HTTP.AuthToken }),
		stringSetting("http.auth_token_file", "file holding the dashboard token (a Kubernetes Secret), read at start",
			func(c *runConfig) *string { return &c.HTTP.AuthTokenFile }),
		boolSetting("http.pprof", "serve Go's profiles at /debug/pprof/ on http.addr (CPU, heap, goroutines, execution trace); beyond loopback only with http.auth_token, sent as a Bearer header",
			func(c *runConfig) *bool { return &c.HTTP.Pprof }),
		stringSetting("log.format", "log format: json or text",
			func(c *runConfig) *string { return &c.Log.Format }),
		stringSetting("log.level", "log level: debug, info, warn or error",
			func(c *runConfig) *string { return &c.Log.Level }),
		durationSetting("shutdown_timeout", "on SIGTERM/SIGINT, how long to finish in-flight batches and commit",
			func(c *runConfig) *time.Duration { return &c.ShutdownTimeout }),
		stringSetting("memory_limit", "Go's soft memory limit: auto (120MiB, plus 3KiB per in-flight row beyond 16 x 512), off, or a size such as 256MiB; the GOMEMLIMIT variable, when set, wins",
			func(c *runConfig) *string { return &c.MemoryLimit }),
	}
}

// defaultRunConfig is the configuration before any file, variable or flag.
func defaultRunConfig() runConfig {
	var c runConfig
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	c.Input.Topic = "nslkdd.raw"
	c.Input.Group = "sagewall"
	c.Input.StartOffset = "earliest"
	c.Input.Format = "auto"
	c.Input.ReorderWindow = features.DefaultReorderWindow
	c.Input.HoldTime = features.DefaultHoldTime
	c.Input.HostHorizon = features.DefaultHostHorizon
	c.Input.MaxHosts = features.DefaultMaxHosts
	c.Input.MaxHeld = features.DefaultMaxHeld
	c.Input.RebuildRecords = 100000
	c.Output.Topic = "nslkdd.verdicts"
	c.Output.DeadLetterTopic = "nslkdd.dead-letters"
	c.Output.Format = "json"
	c.Output.Fields = sinks.FieldsCompact
	c.Output.Compression = "lz4"
	c.Output.CreateTopics = true
	c.Output.TopicReplication = -1
	c.Input.SessionTimeout = 10 * time.Second
	c.Batch.Records = 512
	c.Batch.Bytes = 1 << 20
	c.Batch.MaxWait = 2 * time.Millisecond
	c.Batch.MaxInFlight = 16
	c.Model.Threshold = 0 // the model's operating point
	c.Model.Explain = stream.ExplainAlerts
	c.Model.ExplainPerBatch = 4
	c.Scorer = "local"
	c.SageMaker.MaxRows = 250
	c.SageMaker.Concurrency = 4
	c.SageMaker.Timeout = 10 * time.Second
	c.SageMaker.Fallback = true
	c.Alerts.Topic = "sagewall.alerts"
	c.Alerts.Threshold = sinks.DefaultAlertThreshold
	c.Alerts.Window = 10 * time.Second
	c.Alerts.MaxExamples = 5
	c.HTTP.Addr = "127.0.0.1:9090"
	c.HTTP.Dashboard = true
	c.HTTP.DashboardHistory = dashboard.DefaultHistory
	c.Log.Format = "json"
	c.Log.Level = "info"
	c.ShutdownTimeout = 15 * time.Second
	c.MemoryLimit = "auto"
	return c
}

// configSources loads a runConfig: defaults, then the YAML file, then
// SAGEWALL_* variables, then flags. origin records where each key was last
// set, so errors can say which source to fix.
type configSources struct {
	config runConfig
	origin map[string]string
}

// loadRunConfig parses args (flags, including --config) and merges the
// sources. getenv is os.Getenv outside tests.
func loadRunConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (runConfig, error) {
	all := settings()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (env SAGEWALL_CONFIG)")
	type flagValue struct {
		s     setting
		value string
	}
	var flagged []flagValue
	defaults := defaultRunConfig()
	for _, s := range all {
		usage := fmt.Sprintf("%s (env %s, default %q)", s.usage, s.envName(), s.get(&defaults))
		record := func(v string) error {
			flagged = append(flagged, flagValue{s, v})
			return nil
		}
		if s.isBool {
			fs.BoolFunc(s.flagName(), usage, record)
		} else {
			fs.Func(s.flagName(), usage, record)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sagewall %s [--config file.yaml] [flags]\n\nflags (override SAGEWALL_* variables, which override the file):\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return runConfig{}, err
	}
	if fs.NArg() > 0 {
		return runConfig{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	src := configSources{config: defaults, origin: map[string]string{}}
	if err := src.applyFileAndEnv(*configPath, getenv, all, all); err != nil {
		return runConfig{}, err
	}
	for _, f := range flagged {
		if err := f.s.set(&src.config, f.value); err != nil {
			return runConfig{}, fmt.Errorf("%s (flag --%s): %w", f.s.key, f.s.flagName(), err)
		}
		src.origin[f.s.key] = "flag --" + f.s.flagName()
	}
	if err := src.validate(); err != nil {
		return runConfig{}, err
	}
	return src.config, nil
}

// applyFileAndEnv applies the YAML file at path (or $SAGEWALL_CONFIG; none
// when both are empty), which may hold any of all, then the SAGEWALL_*
// variables of the settings in env.
func (src *configSources) applyFileAndEnv(path string, getenv func(string) string, all, env []setting) error {
	if path == "" {
		path = getenv("SAGEWALL_CONFIG")
	}
	if path != "" {
		if err := src.applyFile(path, all); err != nil {
			return err
		}
	}
	for _, s := range env {
		if v, ok := lookupEnv(getenv, s.envName()); ok {
			if err := s.set(&src.config, v); err != nil {
				return fmt.Errorf("%s (environment %s): %w", s.key, s.envName(), err)
			}
			src.origin[s.key] = "environment " + s.envName()
		}
	}
	return nil
}

// lookupEnv treats an empty variable as unset, as shells and container
// runtimes often pass them.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// applyFile reads the YAML file: nested mappings of known keys whose leaves
// are scalars (or, for lists, sequences of scalars).
func (src *configSources) applyFile(path string, all []setting) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("parsing config %s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil // empty file
	}
	byKey := map[string]setting{}
	for _, s := range all {
		byKey[s.key] = s
	}
	return src.walk(path, "", root.Content[0], byKey)
}

func (src *configSources) walk(path, prefix string, n *yaml.Node, byKey map[string]setting) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: %s: want a mapping of settings", path, n.Line, orRoot(prefix))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + k.Value
		}
		s, known := byKey[key]
		if !known {
			if v.Kind == yaml.MappingNode && hasKeyPrefix(byKey, key+".") {
				if err := src.walk(path, key, v, byKey); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("%s:%d: unknown setting %q", path, k.Line, key)
		}
		var value string
		switch v.Kind {
		case yaml.ScalarNode:
			value = v.Value
		case yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return fmt.Errorf("%s:%d: %s: want a list of plain values", path, item.Line, key)
				}
				items = append(items, item.Value)
			}
			value = strings.Join(items, ",")
		default:
			return fmt.Errorf("%s:%d: %s: want a value, not a mapping", path, v.Line, key)
		}
		if err := s.set(&src.config, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, v.Line, key, err)
		}
		src.origin[key] = fmt.Sprintf("%s:%d", path, v.Line)
	}
	return nil
}

func orRoot(prefix string) string {
	if prefix == "" {
		return "top level"
	}
	return prefix
}

func hasKeyPrefix(byKey map[string]setting, prefix string) bool {
	for k := range byKey {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// invalid formats a validation error naming the setting and where its
// value came from.
func (src *configSources) invalid(key, format string, args ...any) error {
	from := src.origin[key]
	if from == "" {
		from = "default"
	}
	return fmt.Errorf("invalid setting %s (from %s): %s", key, from, fmt.Sprintf(format, args...))
}

func (src *configSources) validate() error {
	c := &src.config
	if len(c.Kafka.Brokers) == 0 {
		return src.invalid("kafka.brokers", "no broker address")
	}
	for _, b := range c.Kafka.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return src.invalid("kafka.brokers", "%q is not host:port", b)
		}
	}
	switch c.Kafka.SASL.Mechanism {
	case "", "aws-msk-iam":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.Kafka.SASL.Username == "" {
			return src.invalid("kafka.sasl.username", "required by SASL mechanism %s", c.Kafka.SASL.Mechanism)
		}
		if c.Kafka.SASL.Password == "" {
			return src.invalid("kafka.sasl.password", "required by SASL mechanism %s", c.Kafka.SASL.Mechanism)
		}
	default:
		return src.invalid("kafka.sasl.mechanism", "%q: want plain, scram-sha-256, scram-sha-512 or aws-msk-iam", c.Kafka.SASL.Mechanism)
	}
	if c.Kafka.SASL.Mechanism == "aws-msk-iam" && !c.Kafka.TLS.Enabled {
		return src.invalid("kafka.tls.enabled", "must be true with SASL mechanism aws-msk-iam (MSK serves IAM on TLS only)")
	}
	if (c.Kafka.TLS.CertFile == "") != (c.Kafka.TLS.KeyFile == "") {
		return src.invalid("kafka.tls.cert_file", "cert_file and key_file go together")
	}
	for _, t := range []struct{ key, value string }{
		{"input.topic", c.Input.Topic}, {"input.group", c.Input.Group},
		{"output.topic", c.Output.Topic}, {"output.dead_letter_topic", c.Output.DeadLetterTopic},
	} {
		if strings.TrimSpace(t.value) == "" {
			return src.invalid(t.key, "empty")
		}
	}
	if c.Input.RekeyTopic != "" {
		if _, conn, _ := parseInputFormat(c.Input.Format); !conn {
			return src.invalid("input.rekey_topic", "needs input.format zeek, vpcflow or auto (not nslkdd)")
		}
		for _, other := range []string{c.Input.Topic, c.Output.Topic, c.Output.DeadLetterTopic} {
			if c.Input.RekeyTopic == other {
				return src.invalid("input.rekey_topic", "%q must differ from the input, output and dead-letter topics", other)
			}
		}
	}
	if c.Output.Topic == c.Input.Topic {
		return src.invalid("output.topic", "%q is also the input topic", c.Output.Topic)
	}
	if c.Output.DeadLetterTopic == c.Input.Topic || c.Output.DeadLetterTopic == c.Output.Topic {
		return src.invalid("output.dead_letter_topic", "%q must differ from the input and output topics", c.Output.DeadLetterTopic)
	}
	if c.Input.StartOffset != "earliest" && c.Input.StartOffset != "latest" {
		return src.invalid("input.start_offset", "%q: want earliest or latest", c.Input.StartOffset)
	}
	if _, _, err := parseInputFormat(c.Input.Format); err != nil {
		return src.invalid("input.format", "%q: want auto, nslkdd, zeek or vpcflow", c.Input.Format)
	}
	for _, d := range []struct {
		key   string
		value time.Duration
	}{{"input.reorder_window", c.Input.ReorderWindow}, {"input.hold_time", c.Input.HoldTime}, {"input.host_horizon", c.Input.HostHorizon}} {
		if d.value < 0 {
			return src.invalid(d.key, "%s: want 0 or more", d.value)
		}
	}
	if c.Input.RebuildRecords < 0 {
		return src.invalid("input.rebuild_records", "%d: want 0 or more", c.Input.RebuildRecords)
	}
	if c.Input.MaxHeld < 1 {
		return src.invalid("input.max_held", "%d: want at least 1", c.Input.MaxHeld)
	}
	if c.Input.MaxHosts < 1 {
		return src.invalid("input.max_hosts", "%d: want at least 1", c.Input.MaxHosts)
	}
	if c.HTTP.DashboardHistory < 0 {
		return src.invalid("http.dashboard_history", "%d: want 0 or more", c.HTTP.DashboardHistory)
	}
	if _, err := sinks.ParseFormat(c.Output.Format, ""); err != nil {
		return src.invalid("output.format", "%q: want json or ocsf", c.Output.Format)
	}
	if _, err := c.attacksOnly(); err != nil {
		return src.invalid("output.emit", "%q: want all or attacks", c.Output.Emit)
	}
	if _, err := sinks.ParseFormat("", c.Output.Fields); err != nil {
		return src.invalid("output.fields", "%q: want %s or %s", c.Output.Fields, sinks.FieldsCompact, sinks.FieldsFull)
	}
	if _, err := sinks.ParseCompression(c.Output.Compression); err != nil {
		return src.invalid("output.compression", "%q: want none, gzip, snappy, lz4 or zstd", c.Output.Compression)
	}
	if c.Batch.Records < 1 || c.Batch.Records > 1<<16 {
		return src.invalid("batch.records", "%d: want 1 to 65536", c.Batch.Records)
	}
	if c.Batch.Bytes < 1 {
		return src.invalid("batch.bytes", "%d: want at least 1", c.Batch.Bytes)
	}
	if c.Batch.MaxWait <= 0 {
		return src.invalid("batch.max_wait", "%s: want more than 0", c.Batch.MaxWait)
	}
	if c.Batch.MaxInFlight < 1 || c.Batch.MaxInFlight > 1024 {
		return src.invalid("batch.max_in_flight", "%d: want 1 to 1024", c.Batch.MaxInFlight)
	}
	if c.Model.Threshold != 0 && !(c.Model.Threshold > 0 && c.Model.Threshold < 1) {
		return src.invalid("model.threshold", "%g: want strictly between 0 and 1, or 0 for the model's operating point", c.Model.Threshold)
	}
	if err := stream.CheckExplainMode(c.Model.Explain); err != nil {
		return src.invalid("model.explain", "%q: want none, alerts or all", c.Model.Explain)
	}
	if c.Model.ExplainPerBatch < 0 {
		return src.invalid("model.explain_per_batch", "%d: want 0 (no cap) or more", c.Model.ExplainPerBatch)
	}
	switch c.Scorer {
	case "local":
	case "sagemaker":
		if c.SageMaker.Endpoint == "" {
			return src.invalid("sagemaker.endpoint", "required with scorer: sagemaker")
		}
	default:
		return src.invalid("scorer", "%q: want local or sagemaker", c.Scorer)
	}
	if _, err := parseCategoryClasses(c.SageMaker.CategoryClasses); err != nil {
		return src.invalid("sagemaker.category_classes", "%q: %v", c.SageMaker.CategoryClasses, err)
	}
	if c.SageMaker.MaxRows < 1 || c.SageMaker.Concurrency < 1 || c.SageMaker.Timeout <= 0 {
		return src.invalid("sagemaker.max_rows", "max_rows %d, concurrency %d and timeout %s must be positive",
			c.SageMaker.MaxRows, c.SageMaker.Concurrency, c.SageMaker.Timeout)
	}
	if !(c.Alerts.Threshold > 0 && c.Alerts.Threshold <= 1) {
		return src.invalid("alerts.threshold", "%g: want more than 0, at most 1", c.Alerts.Threshold)
	}
	if c.Alerts.SNSTopicARN != "" {
		if err := checkTopicARN(c.Alerts.SNSTopicARN); err != nil {
			return src.invalid("alerts.sns_topic_arn", "%v", err)
		}
		if c.Alerts.Topic == "" {
			return src.invalid("alerts.topic", "required with alerts.sns_topic_arn")
		}
	}
	if c.Alerts.Window <= 0 || c.Alerts.MaxExamples < 0 {
		return src.invalid("alerts.window", "window %s must be positive and max_examples %d not negative", c.Alerts.Window, c.Alerts.MaxExamples)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		return src.invalid("http.addr", "%q is not host:port", c.HTTP.Addr)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		return src.invalid("log.format", "%q: want json or text", c.Log.Format)
	}
	if _, err := parseLogLevel(c.Log.Level); err != nil {
		return src.invalid("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Kafka.OutageTimeout < 0 {
		return src.invalid("kafka.outage_timeout", "%s: want 0 (ride out any outage) or more", c.Kafka.OutageTimeout)
	}
	if c.Input.SessionTimeout < 6*time.Second || c.Input.SessionTimeout > 30*time.Minute {
		// The broker's group.min/max.session.timeout.ms defaults.
		return src.invalid("input.session_timeout", "%s: want between 6s and 30m (the broker's default bounds)", c.Input.SessionTimeout)
	}
	if c.Output.DeadLetterMaxBytes < 0 || (c.Output.DeadLetterMaxBytes > 0 && c.Output.DeadLetterMaxBytes < 4096) {
		return src.invalid("output.dead_letter_max_bytes", "%d: want 0 (the topic's limit) or at least 4096", c.Output.DeadLetterMaxBytes)
	}
	if c.Output.TopicPartitions < 0 || c.Output.TopicReplication < -1 || c.Output.TopicReplication == 0 {
		return src.invalid("output.topic_partitions", "partitions %d and replication %d: want partitions >= 0 and replication -1 or >= 1",
			c.Output.TopicPartitions, c.Output.TopicReplication)
	}
	if _, err := memoryLimit(c.MemoryLimit, c.Batch.MaxInFlight*c.Batch.Records); err != nil {
		return src.invalid("memory_limit", "%v", err)
	}
	if c.ShutdownTimeout <= 0 {
		return src.invalid("shutdown_timeout", "%s: want more than 0", c.ShutdownTimeout)
	}
	return nil
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// newLogger builds the process logger from log.format and log.level.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	l, _ := parseLogLevel(level) // validated
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// kafkaConn turns the kafka.* settings into connection settings, loading
// certificates and AWS credentials (for aws-msk-iam) as needed.
func kafkaConn(ctx context.Context, c *runConfig) (stream.Conn, error) {
	conn := stream.Conn{Brokers: c.Kafka.Brokers}
	if c.Kafka.TLS.Enabled {
		tc := &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         c.Kafka.TLS.ServerName,
			InsecureSkipVerify: c.Kafka.TLS.InsecureSkipVerify, //nolint:gosec // opt-in, for testing
		}
		if c.Kafka.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.Kafka.TLS.CAFile)
			if err != nil {
				return conn, fmt.Errorf("reading kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return conn, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate", c.Kafka.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.Kafka.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.Kafka.TLS.CertFile, c.Kafka.TLS.KeyFile)
			if err != nil {
				return conn, fmt.Errorf("loading kafka.tls.cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		conn.TLS = tc
	}
	var mech sasl.Mechanism
	switch user, pass := c.Kafka.SASL.Username, c.Kafka.SASL.Password; c.Kafka.SASL.Mechanism {
	case "plain":
		mech = plain.Mechanism{Username: user, Password: pass}
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if c.Kafka.SASL.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, user, pass)
		if err != nil {
			return conn, fmt.Errorf("setting up SASL %s: %w", c.Kafka.SASL.Mechanism, err)
		}
		mech = m
	case "aws-msk-iam":
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return conn, fmt.Errorf("loading AWS credentials for SASL aws-msk-iam: %w", err)
		}
		mech = aws_msk_iam_v2.NewMechanism(awsCfg)
	}
	conn.SASL = mech
	return conn, nil
}

// configReference renders every setting as a Markdown table; a test keeps
// docs/pipeline.md in step with it.
func configReference() string {
	defaults := defaultRunConfig()
	var b strings.Builder
	b.WriteString("| key | environment | flag | default | meaning |\n|---|---|---|---|---|\n")
	for _, s := range settings() {
		fmt.Fprintf(&b, "| `%s` | `%s` | `--%s` | `%s` | %s |\n", s.key, s.envName(), s.flagName(), s.get(&defaults), s.usage)
	}
	return b.String()
}

// attacksOnly reports whether only attacks' verdicts are written: output.emit,
// or by default attacks for OCSF findings (a SIEM's findings should be
// signal) and all for the JSON verdict topic (one verdict per record).
func (c *runConfig) attacksOnly() (bool, error) {
	switch c.Output.Emit {
	case "":
		return c.Output.Format == "ocsf", nil
	case "all":
		return false, nil
	case "attacks":
		return true, nil
	}
	return false, fmt.Errorf("output.emit %q: want all or attacks", c.Output.Emit)
}

// parseCategoryClasses parses sagemaker.category_classes: class names
// separated by commas; nil for "" (the local category model's classes).
func parseCategoryClasses(s string) ([]etl.Class, error) {
	if s == "" {
		return nil, nil
	}
	names := strings.Split(s, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return scoring.ParseCategoryClasses(names)
}
