package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/retry"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
)

// dependencyKafka is the name /readyz and sagewall_dependency_up give the
// brokers as the lag monitor and the start-up check see them.
const dependencyKafka = "kafka"

// waitForKafka asks the brokers for their API versions until one answers.
// A broker that refuses connections or does not resolve is an outage: it
// is waited for (health down, /readyz false, one log line), since a broker
// restarting or a DNS name not yet published is normal at start. An address
// that accepts connections but answers in another protocol, fails the TLS
// handshake or refuses SASL — or stays silent for silentLimit attempts in a
// row — is a misconfiguration: a usageError naming kafka.brokers (exit 2).
func waitForKafka(ctx context.Context, client *kafka.Client, brokers []string, health *stream.Health) error {
	silent := 0
	for attempt := 1; ; attempt++ {
		kind, err := pingKafka(ctx, client, brokers)
		if kind == brokerAnswers {
			health.Up(dependencyKafka)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if kind == brokerSilent {
			silent++
		}
		if kind == brokerForeign || silent >= silentLimit {
			return usageError{fmt.Errorf("kafka.brokers %v: the address accepts connections but does not answer as a Kafka broker "+
				"(wrong port, or TLS/SASL settings that do not match the listener?): %w", brokers, err)}
		}
		health.Down(dependencyKafka, err)
		if xerr := health.Expired(dependencyKafka); xerr != nil {
			return fmt.Errorf("waiting for kafka.brokers %v: %w", brokers, xerr)
		}
		if err := retry.Sleep(ctx, retry.Backoff(attempt, 200*time.Millisecond, 10*time.Second)); err != nil {
			return err
		}
	}
}

// What a bootstrap address did when asked for its API versions.
type brokerState int

const (
	brokerAnswers     brokerState = iota
	brokerUnreachable             // refused, unresolved, unroutable: not there (yet)
	brokerSilent                  // connected, but no answer within pingTimeout
	brokerForeign                 // connected, and answered something that is not Kafka
)

// pingTimeout bounds one ApiVersions round trip: a live broker answers in
// milliseconds. silentLimit silent attempts in a row (~15 s) take an open
// but silent port for a service that is not Kafka.
const (
	pingTimeout = 5 * time.Second
	silentLimit = 3
)

// pingKafka asks each bootstrap broker for its API versions, and returns
// at the first that answers; otherwise the most telling failure.
func pingKafka(ctx context.Context, client *kafka.Client, brokers []string) (brokerState, error) {
	worst, errs := brokerUnreachable, []error(nil)
	for _, b := range brokers {
		state, err := pingBroker(ctx, client, b)
		if state == brokerAnswers {
			return brokerAnswers, nil
		}
		worst = max(worst, state)
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return worst, errors.Join(errs...)
}

func pingBroker(ctx context.Context, client *kafka.Client, addr string) (brokerState, error) {
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	// A bare TCP connection first tells "not there" from "there but not
	// Kafka" whatever TLS and SASL add on top.
	conn, err := (&net.Dialer{}).DialContext(pingCtx, "tcp", addr)
	if err != nil {
		return brokerUnreachable, err
	}
	conn.Close()
	resp, err := client.ApiVersions(pingCtx, &kafka.ApiVersionsRequest{Addr: kafka.TCP(addr)})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	var netErr net.Error
	switch {
	case err == nil:
		return brokerAnswers, nil
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return brokerSilent, err
	case errors.Is(err, syscall.ECONNREFUSED):
		return brokerUnreachable, err // it went away between the two dials
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) && kerr.Temporary() {
		return brokerUnreachable, err // a broker still starting
	}
	return brokerForeign, err
}

// prepareOutputs creates the verdict, dead-letter and alert topics that do not
// exist yet (output.create_topics), then sets the dead-letter limit from the
// dead-letter topic's max.message.bytes unless output.dead_letter_max_bytes
// sets it. Failures here are logged, not fatal: a topic that cannot be
// created may be created by someone else, and the writer waits for it.
func prepareOutputs(ctx context.Context, client *kafka.Client, cfg *runConfig, sink *sinks.Kafka, logger *slog.Logger) {
	if cfg.Output.CreateTopics {
		topics := []string{cfg.Output.Topic, cfg.Output.DeadLetterTopic}
		if cfg.Alerts.SNSTopicARN != "" {
			topics = append(topics, cfg.Alerts.Topic)
		}
		if err := createTopics(ctx, client, cfg, topics, logger); err != nil {
			logger.Warn("creating output topics (output.create_topics): the writers wait for them", "err", err)
		}
	}
	limit := cfg.Output.DeadLetterMaxBytes
	if limit == 0 {
		var err error
		if limit, err = sinks.TopicMaxMessageBytes(ctx, client, cfg.Output.DeadLetterTopic); err != nil {
			logger.Warn("reading the dead-letter topic's max.message.bytes: dead letters keep the default limit", "err", err)
			return
		}
	}
	sink.SetDeadLetterMaxBytes(limit)
}

// createTopics creates those of topics the brokers do not have, with
// output.topic_partitions partitions (0: as many as input.topic) and
// output.topic_replication replicas.
func createTopics(ctx context.Context, client *kafka.Client, cfg *runConfig, topics []string, logger *slog.Logger) error {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: append([]string{cfg.Input.Topic}, topics...)})
	if err != nil {
		return fmt.Errorf("reading topic metadata: %w", err)
	}
	exists := map[string]int{}
	for _, t := range meta.Topics {
		if t.Error == nil {
			exists[t.Name] = len(t.Partitions)
		}
	}
	partitions := cfg.Output.TopicPartitions
	if partitions == 0 {
		partitions = max(exists[cfg.Input.Topic], 1)
	}
	var missing []kafka.TopicConfig
	for _, t := range topics {
		if _, ok := exists[t]; !ok && t != "" {
			missing = append(missing, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: cfg.Output.TopicReplication})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("creating %d topics: %w", len(missing), err)
	}
	var errs []error
	for _, t := range missing {
		switch err := resp.Errors[t.Topic]; {
		case err == nil:
			logger.Info("created output topic", "topic", t.Topic, "partitions", t.NumPartitions, "replication", t.ReplicationFactor)
		case errors.Is(err, kafka.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("creating topic %s: %w", t.Topic, err))
		}
	}
	return errors.Join(errs...)
}

// checkAWSCredentials fails, as a misconfiguration, when no AWS credentials
// can be had for what setting configures.
func checkAWSCredentials(ctx context.Context, cfg aws.Config, setting string) error {
	if cfg.Credentials == nil {
		return usageError{fmt.Errorf("%s: no AWS credentials found (environment, shared config files or an instance/pod role)", setting)}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return usageError{fmt.Errorf("%s: no usable AWS credentials (environment, shared config files or an instance/pod role): %w", setting, err)}
	}
	return nil
}

// checkQueueURL fails for a queue URL that cannot name an SQS queue.
func checkQueueURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Count(strings.Trim(u.Path, "/"), "/") != 1 {
		return usageError{fmt.Errorf("--queue-url %q: want https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE", raw)}
	}
	return nil
}

// checkQueue asks SQS for the queue's attributes once: an answer refusing
// the request (no such queue, access denied, bad credentials) is a
// misconfiguration; no answer (network, throttling, a 5xx) is an outage the
// bridge rides out, so it only logs.
func checkQueue(ctx context.Context, client *sqs.Client, queueURL string, logger *slog.Logger) error {
	checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := client.GetQueueAttributes(checkCtx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	var apiErr smithy.APIError
	if err != nil && errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultClient && !strings.Contains(apiErr.ErrorCode(), "Throttl") {
		return usageError{fmt.Errorf("--queue-url %s: SQS refuses it (%s): %w", queueURL, apiErr.ErrorCode(), err)}
	}
	if err != nil && ctx.Err() == nil {
		logger.Warn("checking the SQS queue at start: no answer yet, the bridge keeps trying", "queue", queueURL, "err", err)
	}
	return nil
}

// checkTopicARN fails for an alerts.sns_topic_arn that is not an SNS topic ARN.
func checkTopicARN(s string) error {
	a, err := arn.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if a.Service != "sns" || a.Resource == "" || strings.Contains(a.Resource, ":") {
		return fmt.Errorf("%q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)", s)
	}
	return nil
}
