// Command kafkaready waits until a Kafka cluster really serves requests: a metadata
// request lists at least one broker and a scratch topic can be created and deleted.
// scripts/kafka.sh uses it after starting the broker, because an open port is not
// enough (the broker accepts connections before its controller has elected itself).
//
//	kafkaready -brokers 127.0.0.1:19092 -timeout 60s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaready:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("kafkaready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "127.0.0.1:19092", "comma-separated bootstrap addresses")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	interval := fs.Duration("interval", 250*time.Millisecond, "pause between attempts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	addr := kafka.TCP(strings.Split(*brokers, ",")...)
	for attempt := 1; ; attempt++ {
		// A fresh transport per attempt: kafka-go's transport caches metadata, including the
		// failure from before the broker was up, and would answer from that cache.
		transport := &kafka.Transport{}
		client := &kafka.Client{Addr: addr, Timeout: 5 * time.Second, Transport: transport}
		summary, err := check(ctx, client, fmt.Sprintf("sagewall-ready-%d-%d", os.Getpid(), attempt))
		transport.CloseIdleConnections()
		if err == nil {
			fmt.Fprintf(stderr, "kafkaready: %s ready: %s\n", *brokers, summary)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %w)", *brokers, ctx.Err(), err)
		case <-time.After(*interval):
		}
	}
}

// check asks for metadata, then creates and deletes topic, the round trip every test
// depends on; it returns a one-line description of the cluster.
func check(ctx context.Context, client *kafka.Client, topic string) (string, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return "", fmt.Errorf("requesting metadata: %w", err)
	}
	if len(meta.Brokers) == 0 {
		return "", errors.New("requesting metadata: no brokers registered yet")
	}
	created, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}},
	})
	if err != nil {
		return "", fmt.Errorf("creating topic %q: %w", topic, err)
	}
	if err := created.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return "", fmt.Errorf("creating topic %q: %w", topic, err)
	}
	deleted, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return "", fmt.Errorf("deleting topic %q: %w", topic, err)
	}
	if err := deleted.Errors[topic]; err != nil {
		return "", fmt.Errorf("deleting topic %q: %w", topic, err)
	}
	return fmt.Sprintf("cluster %s, %d broker(s), controller %d", meta.ClusterID, len(meta.Brokers), meta.Controller.ID), nil
}
