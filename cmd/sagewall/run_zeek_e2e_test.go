//go:build e2e

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/internal/captures"
	"github.com/sagewall/sagewall/internal/testenv"
)

// TestE2EZeekKillAndRestart runs the real binary on Zeek connections
// (a real capture, replayed eleven times forward in time, keyed by
// destination host as the bridge writes them) against the real broker,
// SIGKILLs it mid-stream and starts it again: every connection gets a
// verdict naming it, and the features of every connection's latest
// verdict equal an uninterrupted derivation's, since the restarted process
// rebuilds each partition's state from the records before its commit point.
func TestE2EZeekKillAndRestart(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	bin := buildSagewall(t)
	raw, verdicts, dead := testenv.NewTopic(t, brokers, 4), testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 1)
	group := testenv.UniqueName(t)
	n := produceCapture(t, brokers, raw, 11, &kafka.Hash{})

	env := append(os.Environ(),
		"SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+group, "SAGEWALL_INPUT_FORMAT=zeek",
		"SAGEWALL_INPUT_HOLD_TIME=2s", // the replay ends: its last connections wait this long
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_OUTPUT_FIELDS=full", // the derived features are compared
		"SAGEWALL_HTTP_ADDR=127.0.0.1:0", "SAGEWALL_LOG_LEVEL=warn",
	)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	committed := groupCommitted(brokers, group, raw)
	waitUntil := func(what string, cond func() bool) { waitWithin(t, 4*time.Minute, what, cond) }
	first := start()
	waitUntil("first run commits a third", func() bool { return committed() >= int64(n/3) })
	if err := first.Process.Kill(); err != nil { // SIGKILL: no shutdown, no final commit
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill := committed()
	start()
	waitUntil("second run commits everything", func() bool { return committed() == int64(n) })

	// The features every connection must have: one deriver per partition,
	// fed in offset order, as an uninterrupted run would.
	want := map[string]string{}
	byPartition := map[int][]kafka.Message{}
	testenv.ScanTopic(t, brokers, raw, func(m kafka.Message) { byPartition[m.Partition] = append(byPartition[m.Partition], m) })
	enc := etl.NewEncoder(nil)
	row := make([]float32, etl.Width)
	for partition, msgs := range byPartition {
		parser, d := connlog.NewParser(connlog.Zeek), features.New()
		emit := func(dv *features.Derived) {
			rec := dv.Record
			if err := enc.EncodeRecord(&rec, row); err != nil {
				t.Fatal(err)
			}
			want[raw+"/"+strconv.Itoa(partition)+"/"+strconv.FormatUint(dv.Ticket, 10)] = "{" + string(rec.AppendJSONFields(nil)) + "}"
		}
		for _, m := range msgs {
			var c connlog.Conn
			if ok, err := parser.Parse(m.Value, &c); err != nil || !ok {
				t.Fatalf("%s/%d/%d: %v", raw, partition, m.Offset, err)
			}
			d.Add(&c, uint64(m.Offset), time.Unix(0, 0), emit)
		}
		d.FlushAll(emit)
	}
	got := map[string]string{}
	total := 0
	testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) {
		var v struct {
			ID         string          `json:"id"`
			Record     json.RawMessage `json:"record"`
			Connection struct {
				SrcIP string `json:"src_ip"`
				DstIP string `json:"dst_ip"`
			} `json:"connection"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("verdict %s: %v", m.Value, err)
		}
		if v.Connection.SrcIP == "" || v.Connection.DstIP == "" {
			t.Fatalf("verdict %s names no connection", v.ID)
		}
		got[v.ID] = string(v.Record) // the latest verdict of a record judged twice
		total++
	})
	if len(got) != n || len(want) != n {
		t.Fatalf("%d records have verdicts, %d derived offline, want %d", len(got), len(want), n)
	}
	differ := 0
	for id, w := range want {
		if got[id] != w {
			if differ++; differ <= 3 {
				t.Errorf("%s: features\n got %s\nwant %s", id, got[id], w)
			}
		}
	}
	t.Logf("killed at %d of %d committed; %d verdicts, %d duplicates; %d connections' features differ from an uninterrupted run's",
		atKill, n, total, total-n, differ)
	if differ > 0 {
		t.Fatalf("%d connections' features differ after the restart", differ)
	}
}

// produceCapture writes the labelled capture's connections passes times,
// each pass shifted a day forward, as Zeek JSON keyed by destination host
// and spread by balancer (kafka.Hash: by that key).
func produceCapture(t *testing.T, brokers []string, topic string, passes int, balancer kafka.Balancer) int {
	t.Helper()
	rc, err := captures.Open("ctu-normal-40-day1.conn.log.labeled.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	parser := connlog.NewParser(connlog.Zeek)
	var conns []connlog.Conn
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		var c connlog.Conn
		if ok, err := parser.Parse(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		} else if ok {
			conns = append(conns, c)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: balancer,
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: 2 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := 0
	for pass := range passes {
		msgs := make([]kafka.Message, len(conns))
		for i, c := range conns {
			c.Start = c.Start.Add(time.Duration(pass) * 25 * time.Hour)
			c.UID += "-" + strconv.Itoa(pass)
			msgs[i] = kafka.Message{Key: c.RespAddr.AppendTo(nil), Value: connlog.AppendZeekJSON(nil, &c)}
		}
		err := testenv.WriteToNewTopic(ctx, w, msgs...)
		if err != nil {
			t.Fatalf("producing: %v", err)
		}
		n += len(msgs)
	}
	return n
}

// TestE2EZeekRekey runs the real binary on Zeek connections spread over
// the raw topic round-robin, not by host (as Zeek's Kafka writer leaves
// them), with input.rekey_topic: the raw topic is repartitioned by destination host
// and committed, every connection is judged from the internal topic, each
// host's connections land in one partition, and SIGTERM stops it cleanly.
func TestE2EZeekRekey(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	bin := buildSagewall(t)
	raw, rekeyed := testenv.NewTopic(t, brokers, 4), testenv.NewTopic(t, brokers, 4)
	verdicts, dead := testenv.NewTopic(t, brokers, 2), testenv.NewTopic(t, brokers, 1)
	group := testenv.UniqueName(t)
	n := produceCapture(t, brokers, raw, 2, &kafka.RoundRobin{})

	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(),
		"SAGEWALL_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"SAGEWALL_INPUT_TOPIC="+raw, "SAGEWALL_INPUT_GROUP="+group, "SAGEWALL_INPUT_FORMAT=zeek",
		"SAGEWALL_INPUT_REKEY_TOPIC="+rekeyed, "SAGEWALL_INPUT_HOLD_TIME=2s",
		"SAGEWALL_OUTPUT_TOPIC="+verdicts, "SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC="+dead,
		"SAGEWALL_HTTP_ADDR=127.0.0.1:0", "SAGEWALL_LOG_LEVEL=warn",
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rawCommitted := groupCommitted(brokers, group+".rekey", raw)
	judged := groupCommitted(brokers, group, rekeyed)
	waitWithin(t, 4*time.Minute, "the raw topic rekeyed and every connection judged", func() bool {
		return rawCommitted() == int64(n) && judged() == int64(n)
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("no exit within 25 s of SIGTERM")
	}

	partitionOf := map[string]int{}
	testenv.ScanTopic(t, brokers, rekeyed, func(m kafka.Message) {
		if p, ok := partitionOf[string(m.Key)]; ok && p != m.Partition {
			t.Fatalf("host %s in partitions %d and %d of the rekeyed topic", m.Key, p, m.Partition)
		}
		partitionOf[string(m.Key)] = m.Partition
	})
	ids := map[string]bool{}
	testenv.ScanTopic(t, brokers, verdicts, func(m kafka.Message) {
		var v struct {
			ID         string `json:"id"`
			Connection struct {
				DstIP string `json:"dst_ip"`
			} `json:"connection"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || v.Connection.DstIP == "" {
			t.Fatalf("verdict %s: %v", m.Value, err)
		}
		ids[v.ID] = true
	})
	if len(ids) != n {
		t.Fatalf("%d connections judged, want %d", len(ids), n)
	}
	t.Logf("%d connections spread round-robin, rekeyed by %d destination hosts and judged", n, len(partitionOf))
}
