//go:build e2e

package s3bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/internal/captures"
	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/scoring"
	"github.com/sagewall/sagewall/sinks"
	"github.com/sagewall/sagewall/stream"
)

// TestE2EZeekThroughBridge drops a real Zeek conn.log in S3 twice — as
// Zeek's TSV (gzipped, as log shippers deliver it) and as Zeek JSON lines —
// and follows it through the bridge, the real broker and the pipeline to
// verdicts that name their connections. The same raw topic is then judged
// by one instance and by a group of two: every connection's derived
// features agree, since state is per partition and a partition that moves
// is rebuilt from the records before its commit point.
func TestE2EZeekThroughBridge(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	env := newE2EAWS(ctx, t)
	brokers := testenv.KafkaBrokers(t)
	rawTopic := testenv.NewTopic(t, brokers, 4)
	loud := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	tsv := captureBytes(t, "ctu-normal-40-day1.conn.log.labeled.gz")
	jsonLines, conns := asZeekJSON(t, "ctu-malware-230-1-njrat.conn.log.labeled.gz")
	wantConns := countData(t, tsv) + conns

	writer := NewWriter(brokers, rawTopic, nil)
	defer writer.Close()
	bridge, err := New(env.sqs, env.s3, writer, env.queueURL, WithWaitTime(time.Second), WithLogger(loud), WithConnLogs(connlog.Auto))
	if err != nil {
		t.Fatal(err)
	}
	bridgeCtx, stopBridge := context.WithCancel(ctx)
	defer stopBridge()
	go func() { _ = bridge.Run(bridgeCtx) }()
	for key, body := range map[string][]byte{"zeek/day1/conn.log.gz": gzipped(t, string(tsv)), "zeek/njrat/conn.json": jsonLines} {
		if _, err := env.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(ctx, t, "the bridge to produce every connection", func() bool { return topicSize(ctx, t, brokers, rawTopic) >= int64(wantConns) })
	stopBridge()

	det, err := scoring.BundledConnLog()
	if err != nil {
		t.Fatal(err)
	}
	bridged := consumeAll(ctx, t, brokers, rawTopic, wantConns)
	// judge runs instances pipelines in one group over a copy of the raw
	// topic, produced once every instance holds partitions: state is per
	// partition, so the features cannot depend on how many there are.
	judge := func(instances int) map[string]verdictView {
		copyTopic := testenv.NewTopic(t, brokers, 4)
		verdictTopic, deadTopic := testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 1)
		group := testenv.UniqueName(t)
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, instances)
		var pipelines []*stream.Pipeline
		for range instances {
			reader := stream.NewReader(stream.Conn{Brokers: brokers}, group, copyTopic)
			defer reader.Close()
			sink := sinks.NewKafka(brokers, verdictTopic, sinks.WithDeadLetterTopic(deadTopic), sinks.WithFormat(sinks.JSONFormat{Record: true}))
			defer sink.Close()
			client := stream.NewClient(brokers, nil)
			p, err := stream.New(reader, det, stream.WithSpec(det.Spec()), stream.WithModel(det.Info(), det.Threshold()),
				stream.WithSinks(sink), stream.WithDeadLetters(sink), stream.WithLogger(loud),
				stream.WithGroupCheck(client, group),
				stream.WithConnLogs(connlog.Zeek, nil, features.WithHoldTime(5*time.Second)),
				stream.WithStateRebuild(client, 100000))
			if err != nil {
				t.Fatal(err)
			}
			pipelines = append(pipelines, p)
			go func() { done <- p.Run(runCtx) }()
		}
		waitStableGroup(ctx, t, brokers, group, instances)
		copyMessages(ctx, t, brokers, copyTopic, bridged)
		got := map[string]verdictView{}
		for _, m := range consumeAtLeast(ctx, t, brokers, verdictTopic, wantConns, done) {
			var v verdictView
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatalf("verdict %s: %v", m.Value, err)
			}
			var raw struct {
				Record json.RawMessage `json:"record"`
			}
			_ = json.Unmarshal(m.Value, &raw)
			v.features = string(raw.Record)
			got[v.ID] = v // the last verdict of a record judged twice
		}
		if n := topicSize(ctx, t, brokers, deadTopic); n != 0 {
			t.Errorf("%d dead letters, want 0", n)
		}
		for i, p := range pipelines {
			t.Logf("%d instance(s): instance %d %+v", instances, i, p.Stats())
		}
		// Verdict IDs name the copy's topic; the features are what is compared.
		byUID := map[string]verdictView{}
		for _, v := range got {
			byUID[v.Connection.UID] = v
		}
		return byUID
	}
	one := judge(1)
	two := judge(2)
	if len(one) != wantConns || len(two) != wantConns {
		t.Fatalf("verdicts for %d and %d records, want %d", len(one), len(two), wantConns)
	}
	labelled := 0
	for uid, v := range one {
		id := uid
		if v.FeaturesSource != "zeek" || v.Connection.SrcIP == "" || v.Connection.DstIP == "" || v.Connection.UID == "" {
			t.Fatalf("verdict %s does not name its connection: %+v", id, v)
		}
		if v.Label != "" {
			labelled++
		}
		if w := two[uid]; w.features != v.features {
			t.Fatalf("connection %s: features differ between one and two instances\n one %s\n two %s", v.Connection.UID, v.features, w.features)
		}
	}
	t.Logf("%d connections judged alike by one and two instances, %d labelled", len(one), labelled)
}

type verdictView struct {
	ID             string `json:"id"`
	FeaturesSource string `json:"features_source"`
	Label          string `json:"label"`
	Connection     struct {
		UID   string `json:"uid"`
		SrcIP string `json:"src_ip"`
		DstIP string `json:"dst_ip"`
	} `json:"connection"`
	features string
}

func captureBytes(t *testing.T, name string) []byte {
	t.Helper()
	rc, err := captures.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countData counts the data lines of a TSV log.
func countData(t *testing.T, tsv []byte) int {
	n := 0
	for _, l := range bytes.Split(bytes.TrimRight(tsv, "\n"), []byte("\n")) {
		if len(l) > 0 && l[0] != '#' {
			n++
		}
	}
	return n
}

// asZeekJSON rewrites a TSV capture as Zeek's JSON writer would.
func asZeekJSON(t *testing.T, name string) ([]byte, int) {
	t.Helper()
	parser := connlog.NewParser(connlog.Zeek)
	var out []byte
	n := 0
	for i, l := range bytes.Split(bytes.TrimRight(captureBytes(t, name), "\n"), []byte("\n")) {
		var c connlog.Conn
		ok, err := parser.Parse(l, &c)
		if err != nil {
			t.Fatalf("%s line %d: %v", name, i+1, err)
		}
		if ok {
			out = append(connlog.AppendZeekJSON(out, &c), '\n')
			n++
		}
	}
	return out, n
}

// consumeAtLeast waits until every record has a verdict, failing at once if
// a pipeline stops, and reads the verdict topic.
func consumeAtLeast(ctx context.Context, t *testing.T, brokers []string, topic string, n int, done <-chan error) []kafka.Message {
	t.Helper()
	var msgs []kafka.Message
	ids := map[string]bool{}
	for len(ids) < n {
		select {
		case err := <-done:
			t.Fatalf("a pipeline stopped: %v", err)
		case <-ctx.Done():
			t.Fatalf("verdicts for %d of %d records: %v", len(ids), n, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		if size := topicSize(ctx, t, brokers, topic); size < int64(n) {
			continue
		}
		msgs = consumeAll(ctx, t, brokers, topic, int(topicSize(ctx, t, brokers, topic)))
		clear(ids)
		for _, m := range msgs {
			var v struct{ ID string }
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatal(fmt.Errorf("verdict %s: %w", m.Value, err))
			}
			ids[v.ID] = true
		}
	}
	return msgs
}

// copyMessages produces msgs, read partition by partition, to topic with
// the bridge's key hashing: the same keys land in the same partitions, in
// the same order.
func copyMessages(ctx context.Context, t *testing.T, brokers []string, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 1000, BatchTimeout: time.Millisecond}
	defer w.Close()
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers}
	}
	if err := testenv.WriteToNewTopic(ctx, w, out...); err != nil {
		t.Fatalf("copying %d messages to %s: %v", len(msgs), topic, err)
	}
}

// waitStableGroup waits until group is stable with members instances that
// each hold a partition.
func waitStableGroup(ctx context.Context, t *testing.T, brokers []string, group string, members int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	waitFor(ctx, t, fmt.Sprintf("group %s to hold %d members", group, members), func() bool {
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" || len(resp.Groups[0].Members) != members {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			assigned := 0
			for _, topic := range m.MemberAssignments.Topics {
				assigned += len(topic.Partitions)
			}
			if assigned == 0 {
				return false
			}
		}
		return true
	})
}
