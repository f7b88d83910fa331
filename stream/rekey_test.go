package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/internal/testenv"
)

// TestRekeyerRepartitionsByDestinationHost: Zeek JSON lines spread over the
// raw topic with no key (as Zeek's Kafka writer leaves them) are
// repartitioned by destination host, so each host's connections meet in one
// partition of the internal topic; the pipeline reading it judges every
// connection with the features a per-partition derivation gives, a line
// that does not parse becomes a dead letter with its reason, and the raw
// topic is committed to its end.
func TestRekeyerRepartitionsByDestinationHost(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(3, "raw", "rekeyed", "verdicts", "dlq"))
	msgs := zeekJSONByHost(t, "ctu-normal-40-day1.conn.log.labeled.gz")
	for i := range msgs {
		msgs[i].Key = nil
	}
	msgs = append(msgs, kafka.Message{Value: []byte(`{"ts":1655071198.4,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.999","proto":"tcp"}`)})
	produceMessages(t, brokers, "raw", &kafka.RoundRobin{}, msgs)

	reader := NewReader(Conn{Brokers: brokers}, "rekey", "raw")
	defer reader.Close()
	writer := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "rekeyed", Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond}
	defer writer.Close()
	rekeyer, err := NewRekeyer(reader, writer, connlog.Zeek)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rekeyed := make(chan error, 1)
	go func() { rekeyed <- rekeyer.Run(ctx) }()

	tp := startPipelineOn(t, brokers, topics{"rekeyed", "verdicts", "dlq"}, "judge", nil, WithConnLogs(connlog.Zeek, nil, testDerive...))
	waitCommittedOn(t, brokers, "raw", "rekey", tp, 60*time.Second)
	waitCommittedOn(t, brokers, "rekeyed", "judge", tp, 60*time.Second)
	cancel()
	if err := <-rekeyed; err != nil {
		t.Fatalf("rekeyer: %v", err)
	}
	if err := tp.stop(t); err != nil {
		t.Fatalf("pipeline: %v", err)
	}

	hostPartition := map[string]int{}
	for partition, ms := range readAll(t, brokers, "rekeyed") {
		for _, m := range ms {
			if len(m.Key) == 0 {
				continue // the line that does not parse keeps its (empty) key
			}
			if p, ok := hostPartition[string(m.Key)]; ok && p != partition {
				t.Fatalf("host %s in partitions %d and %d", m.Key, p, partition)
			}
			hostPartition[string(m.Key)] = partition
		}
	}
	got, _ := verdictFeatures(t, brokers, "verdicts")
	want := expectedFeatures(t, brokers, "rekeyed", testDerive)
	if len(got) != len(msgs)-1 || len(want) != len(msgs)-1 {
		t.Fatalf("%d verdicts, %d derived offline, want %d", len(got), len(want), len(msgs)-1)
	}
	for key, w := range want {
		if got[key] != w {
			t.Fatalf("verdict %s features\n got %s\nwant %s", key, got[key], w)
		}
	}
	letters := 0
	testenv.ScanTopic(t, brokers, "dlq", func(m kafka.Message) {
		letters++
		reason := ""
		for _, h := range m.Headers {
			if h.Key == "sagewall.reason" {
				reason = string(h.Value)
			}
		}
		if reason != "upstream_parse_error" || !strings.Contains(string(m.Value), "10.0.0.999") {
			t.Errorf("dead letter %s: reason %q", m.Value, reason)
		}
	})
	if letters != 1 {
		t.Fatalf("%d dead letters, want 1", letters)
	}
	t.Logf("%d connections to %d hosts over 3 partitions", len(got), len(hostPartition))
}
