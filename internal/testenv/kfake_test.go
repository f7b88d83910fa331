package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestKFakeKafkaGoRoundTrip(t *testing.T) {
	kafkaRoundTrip(t, KFake(t))
}

func TestKFakeSeedTopics(t *testing.T) {
	brokers := KFake(t, kfake.SeedTopics(3, "connections"))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"connections"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 3 {
		t.Fatalf("metadata for seeded topic: %+v, want 3 partitions of \"connections\"", meta.Topics)
	}
	for _, addr := range brokers {
		if host := addr[:len(addr)-len(":")-len(portOf(addr))]; host != "127.0.0.1" {
			t.Errorf("kfake listens on %s, want 127.0.0.1 only", addr)
		}
	}
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return ""
}

func TestNewTopicDeletesOnCleanup(t *testing.T) {
	brokers := KFake(t)
	var topic string
	t.Run("create", func(t *testing.T) {
		topic = NewTopic(t, brokers, 3)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// A transport of its own: kafka-go's default one caches metadata across clients.
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range meta.Topics {
		if tp.Name == topic {
			t.Errorf("topic %q still exists after its test ended", topic)
		}
	}
}
