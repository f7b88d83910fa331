// Package testenv holds the helpers shared by sagewall's tests.
//
// End-to-end tests (build tag e2e) run against a real Apache Kafka broker and moto's AWS
// emulation, both started by the project's scripts (`make e2e` does everything). They find
// the services through two environment variables:
//
//	SAGEWALL_KAFKA_BROKERS  comma-separated bootstrap addresses, e.g. 127.0.0.1:19092
//	SAGEWALL_AWS_ENDPOINT   moto's endpoint URL, e.g. http://127.0.0.1:15000
//
// KafkaBrokers and AWSEndpoint fail the test (never skip it) when a variable is unset, with
// the commands that start the services. Unit tests use KFake, an in-process Kafka cluster,
// so that `go test ./...` needs nothing but Go.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/kafka-go"
)

// Environment variables naming the services that e2e tests run against.
const (
	EnvKafkaBrokers = "SAGEWALL_KAFKA_BROKERS"
	EnvAWSEndpoint  = "SAGEWALL_AWS_ENDPOINT"
)

// AWSRegion is the region of every e2e AWS resource: moto keeps one state per region, and
// S3 only notifies SQS queues of its own region.
const AWSRegion = "us-east-1"

const startHint = "e2e tests need the real services: run `make e2e`, or start them with " +
	"`scripts/kafka.sh start` and `scripts/moto.sh start` and run " +
	"`SAGEWALL_KAFKA_BROKERS=$(scripts/kafka.sh status) SAGEWALL_AWS_ENDPOINT=$(scripts/moto.sh status) " +
	"go test -tags e2e -count=1 ./...` (docs/testing.md)"

// KafkaBrokers returns the bootstrap addresses of the real Kafka broker, failing the test
// when SAGEWALL_KAFKA_BROKERS is unset.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	brokers, err := kafkaBrokers(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return brokers
}

func kafkaBrokers(getenv func(string) string) ([]string, error) {
	var brokers []string
	for _, b := range strings.Split(getenv(EnvKafkaBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%s is not set; %s", EnvKafkaBrokers, startHint)
	}
	return brokers, nil
}

// AWSEndpoint returns moto's endpoint URL, failing the test when SAGEWALL_AWS_ENDPOINT is
// unset.
func AWSEndpoint(t testing.TB) string {
	t.Helper()
	endpoint, err := awsEndpoint(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return endpoint
}

func awsEndpoint(getenv func(string) string) (string, error) {
	endpoint := strings.TrimSpace(getenv(EnvAWSEndpoint))
	if endpoint == "" {
		return "", fmt.Errorf("%s is not set; %s", EnvAWSEndpoint, startHint)
	}
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return "", fmt.Errorf("%s=%q: want a URL such as http://127.0.0.1:15000", EnvAWSEndpoint, endpoint)
	}
	return strings.TrimRight(endpoint, "/"), nil
}

// AWSConfig returns an aws.Config for moto: BaseEndpoint set to AWSEndpoint, region
// us-east-1 and static dummy credentials (test/test); nothing of the machine's own AWS setup
// (environment, ~/.aws) is read. S3 clients also need path-style addressing
// (moto on 127.0.0.1 has no DNS for bucket subdomains): s3.NewFromConfig(cfg, testenv.S3PathStyle).
// It fails the test at once, with the commands that start moto, when the endpoint does not
// answer, rather than leaving the first AWS call to time out with retries.
func AWSConfig(ctx context.Context, t testing.TB) aws.Config {
	t.Helper()
	endpoint := AWSEndpoint(t)
	if err := ping(ctx, endpoint); err != nil {
		t.Fatalf("%v; %s", err, startHint)
	}
	return awsConfig(endpoint)
}

// ping reports whether anything answers HTTP at endpoint; any status will do.
func ping(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return fmt.Errorf("pinging AWS endpoint %s: %w", endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pinging AWS endpoint %s: %w", endpoint, err)
	}
	return resp.Body.Close()
}

// awsConfig builds the config by hand rather than with config.LoadDefaultConfig, which
// reads AWS_PROFILE, AWS_ENDPOINT_URL_* and ~/.aws: none of the machine's AWS setup may
// point a test anywhere but moto. Clients fill in their defaults (HTTP client, retryer).
func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       AWSRegion,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

// S3PathStyle is an s3.Options function selecting path-style URLs (http://host/bucket/key),
// which moto on a loopback address needs.
func S3PathStyle(o *s3.Options) { o.UsePathStyle = true }

// UniqueName returns a fresh name for a topic, bucket, queue or SNS topic:
// "sagewall-<test name>-<random hex>", lower case, at most 63 characters of [a-z0-9-], so
// it is valid for every one of them, and reruns never see an earlier run's resources.
func UniqueName(t testing.TB) string {
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatalf("reading random bytes: %v", err)
	}
	return uniqueName(t.Name(), hex.EncodeToString(suffix[:]))
}

func uniqueName(testName, suffix string) string {
	const maxLen = 63
	var b strings.Builder
	dash := true // no leading dash and no runs of dashes
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	middle := strings.TrimSuffix(b.String(), "-")
	if room := maxLen - len("sagewall--") - len(suffix); len(middle) > room {
		middle = strings.TrimSuffix(middle[:room], "-")
	}
	if middle == "" {
		return "sagewall-" + suffix
	}
	return "sagewall-" + middle + "-" + suffix
}

// NewTopic creates a topic with the given number of partitions (replication factor 1) on
// brokers, waits until every partition has a leader, and deletes the topic when the test
// ends. It works against the real broker and against KFake.
func NewTopic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	topic := UniqueName(t)
	// A transport of its own, so that its metadata cache sees the topic come and go.
	transport := &kafka.Transport{}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := createTopic(ctx, client, topic, partitions); err != nil {
		transport.CloseIdleConnections()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer transport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		if err == nil {
			err = resp.Errors[topic]
		}
		if err != nil {
			t.Errorf("deleting topic %q: %v", topic, err)
		}
	})
	return topic
}

func createTopic(ctx context.Context, client *kafka.Client, topic string, partitions int) error {
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	// A created topic can take a moment to get leaders; producing before that fails.
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			err = leadersReady(meta, topic, partitions)
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for leaders of topic %q: %w (last error: %w)", topic, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func leadersReady(meta *kafka.MetadataResponse, topic string, partitions int) error {
	for _, tp := range meta.Topics {
		if tp.Name != topic {
			continue
		}
		if tp.Error != nil {
			return tp.Error
		}
		if len(tp.Partitions) != partitions {
			return fmt.Errorf("%d of %d partitions visible", len(tp.Partitions), partitions)
		}
		for _, p := range tp.Partitions {
			if p.Error != nil {
				return p.Error
			}
			if p.Leader.Host == "" {
				return fmt.Errorf("partition %d has no leader", p.ID)
			}
		}
		return nil
	}
	return errors.New("topic not in metadata yet")
}

// ScanTopic calls fn for every record of topic, partition by partition in
// offset order, up to the end offsets when it is called.
func ScanTopic(t testing.TB, brokers []string, topic string, fn func(kafka.Message)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err == nil && (len(meta.Topics) != 1 || meta.Topics[0].Error != nil) {
		err = fmt.Errorf("topic %q not found", topic)
		if len(meta.Topics) == 1 {
			err = meta.Topics[0].Error
		}
	}
	if err != nil {
		t.Fatalf("reading metadata of %s: %v", topic, err)
	}
	var requests []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		requests = append(requests, kafka.LastOffsetOf(p.ID))
	}
	offsets, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: requests}})
	if err != nil {
		t.Fatalf("listing end offsets of %s: %v", topic, err)
	}
	for _, p := range offsets.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("listing end offset of %s/%d: %v", topic, p.Partition, p.Error)
		}
		if p.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.Partition, MaxWait: time.Second, MaxBytes: 10 << 20})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("reading %s/%d: %v", topic, p.Partition, err)
			}
			fn(m)
			if m.Offset >= p.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
}

// WriteToNewTopic writes msgs with w, retrying while the broker or kafka-go's
// metadata cache does not know w's topic yet: kafka-go's transport caches
// metadata for 6 s, so a topic created just before can be refused for that
// long. A refused write queued nothing, so retrying duplicates nothing.
func WriteToNewTopic(ctx context.Context, w *kafka.Writer, msgs ...kafka.Message) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil || !errors.Is(err, kafka.UnknownTopicOrPartition) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("writing to %s: %w (last error: %w)", w.Topic, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
