package sinks

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sagewall/sagewall/internal/testenv"
)

// batchChunks is records of several sizes (a nil key, an empty value, a
// value whose length needs a two-byte varint, a long one) in chunks put at
// different times.
func batchChunks() []chunk {
	long := bytes.Repeat([]byte("verdict "), 300)
	return []chunk{
		{time: 1_795_608_000_123, records: []record{{key: []byte("raw/0/1"), value: []byte(`{"score":0.99}`)}, {key: nil, value: []byte{}}}},
		{time: 1_795_608_000_124, records: []record{{key: []byte("raw/0/2"), value: long[:200]}}},
		{time: 1_795_608_000_125, records: []record{{key: []byte("raw/0/3"), value: long}, {key: []byte("k"), value: []byte("v")}}},
	}
}

// TestBatchEncoderMatchesKafkaGo holds the producer's record batches to
// kafka-go's own encoder: byte for byte uncompressed, and record for record
// (read back by kafka-go) with every codec, also for a records section of
// several compression blocks (snappyChunk, lz4's 256 KB).
func TestBatchEncoderMatchesKafkaGo(t *testing.T) {
	chunks := batchChunks()
	crcTable := crc32.MakeTable(crc32.Castagnoli)
	var e batchEncoder
	t.Run("none", func(t *testing.T) {
		got, err := e.encode(chunks, 0, crcTable)
		if err != nil {
			t.Fatal(err)
		}
		var records []protocol.Record
		for _, w := range timedRecords(chunks) {
			rec := protocol.Record{Time: w.time, Value: protocol.NewBytes(w.value)}
			if w.key != nil {
				rec.Key = protocol.NewBytes(w.key)
			}
			records = append(records, rec)
		}
		var buf bytes.Buffer
		rs := protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(records...)}
		if _, err := rs.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("batch differs from kafka-go's:\n got %x\nwant %x", got, buf.Bytes())
		}
	})
	// Three records of 300 KB: the records section spans three blocks.
	rng := rand.New(rand.NewPCG(3, 4))
	large := []chunk{{time: 1_795_608_000_200}}
	for i := range 3 {
		value := make([]byte, 300<<10)
		for j := range value {
			value[j] = "verdict:0123456789"[rng.IntN(18)]
		}
		large[0].records = append(large[0].records, record{key: []byte("raw/1/" + strconv.Itoa(i)), value: value})
	}
	for name, chunks := range map[string][]chunk{"small": chunks, "large": large} {
		for _, codec := range []kafka.Compression{0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd} {
			t.Run("read_back_"+name+"_"+strconv.Itoa(int(codec)), func(t *testing.T) {
				batch, err := e.encode(chunks, codec, crcTable)
				if err != nil {
					t.Fatal(err)
				}
				checkReadBack(t, batch, codec, timedRecords(chunks))
			})
		}
	}
}

type timedRecord struct {
	record
	time time.Time
}

func timedRecords(chunks []chunk) []timedRecord {
	var out []timedRecord
	for _, c := range chunks {
		for _, r := range c.records {
			out = append(out, timedRecord{r, time.UnixMilli(c.time)})
		}
	}
	return out
}

// checkReadBack reads batch with kafka-go and compares its records with want.
func checkReadBack(t *testing.T, batch []byte, codec kafka.Compression, want []timedRecord) {
	t.Helper()
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(bytes.NewReader(batch)); err != nil {
		t.Fatalf("kafka-go reading the batch: %v", err)
	}
	if rs.Attributes.Compression() != codec {
		t.Errorf("codec %d, want %d", rs.Attributes.Compression(), codec)
	}
	i := 0
	for ; ; i++ {
		r, err := rs.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			t.Fatalf("more than %d records", len(want))
		}
		if r.Offset != int64(i) || !r.Time.Equal(want[i].time) {
			t.Errorf("record %d: offset %d time %v, want %d %v", i, r.Offset, r.Time, i, want[i].time)
		}
		key, value := readAll(t, r.Key), readAll(t, r.Value)
		if (key == nil) != (want[i].key == nil) || !bytes.Equal(key, want[i].key) || !bytes.Equal(value, want[i].value) {
			t.Errorf("record %d: key %q value %d bytes, want %q and %d", i, key, len(value), want[i].key, len(want[i].value))
		}
	}
	if i != len(want) {
		t.Fatalf("%d records, want %d", i, len(want))
	}
}

func readAll(t *testing.T, b protocol.Bytes) []byte {
	t.Helper()
	if b == nil {
		return nil
	}
	out, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{}, out...)
}

func TestTakeChunks(t *testing.T) {
	rec := func(n int) record { return record{key: []byte("k"), value: make([]byte, n-1-recordOverhead)} } // n bytes as counted
	settle := func(int, error) {}
	for _, tc := range []struct {
		name    string
		pending [][]int // record sizes per chunk
		max     int
		taken   []int // records taken per chunk
		left    []int // records left per chunk
	}{
		{"all fit", [][]int{{100, 100}, {100}}, 1000, []int{2, 1}, nil},
		{"whole chunks then a part", [][]int{{100, 100}, {100, 100, 100}, {100}}, 400, []int{2, 2}, []int{1, 1}},
		{"a chunk ends exactly at the limit", [][]int{{100, 100}, {100}}, 200, []int{2}, []int{1}},
		{"one record above the limit is taken alone", [][]int{{500, 100}}, 200, []int{1}, []int{1}},
		{"a first chunk larger than the limit is split", [][]int{{150, 150, 150}}, 400, []int{2}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pending []chunk
			for _, sizes := range tc.pending {
				c := chunk{settle: settle}
				for _, n := range sizes {
					c.records = append(c.records, rec(n))
				}
				pending = append(pending, c)
			}
			taken, left := takeChunks(pending, nil, tc.max)
			count := func(cs []chunk) []int {
				var n []int
				for _, c := range cs {
					n = append(n, len(c.records))
				}
				return n
			}
			if got := count(taken); !slices.Equal(got, tc.taken) {
				t.Errorf("taken %v, want %v", got, tc.taken)
			}
			if got := count(left); !slices.Equal(got, tc.left) {
				t.Errorf("left %v, want %v", got, tc.left)
			}
		})
	}
}

// refusedProduce answers a produce request with code for every partition
// it names, as a broker refusing it would.
func refusedProduce(req kmsg.Request, code kafka.Error) *kmsg.ProduceResponse {
	produce := req.(*kmsg.ProduceRequest)
	resp := produce.ResponseKind().(*kmsg.ProduceResponse)
	for _, topic := range produce.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = topic.Topic
		for _, p := range topic.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = int16(code)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// TestProducerRetriesAndCloses: produce requests the broker refuses with
// a temporary error are retried until it accepts them; close sends what
// is queued before it returns; a put after close is refused.
func TestProducerRetriesAndCloses(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "verdicts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var refused atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if refused.Add(1) > 3 {
			return nil, nil, false // the broker handles it
		}
		return refusedProduce(req, kafka.NotLeaderForPartition), nil, true
	})
	brokers := cluster.ListenAddrs()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	p := newProducer(client, "verdicts", kafkaConfig{compression: kafka.Lz4, maxAttempts: 10}, 1_000_000)
	p.backoffMax = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const n = 50
	records := make([]record, n)
	for i := range records {
		records[i] = record{key: []byte("raw/" + strconv.Itoa(i%3) + "/" + strconv.Itoa(i/3)), value: []byte("v" + strconv.Itoa(i))}
	}
	var settled atomic.Int64
	errs := make(chan error, 2*n)
	var partitioner sourcePartitioner
	put := func(records []record) {
		p.put(ctx, records, partitioner.partition, func(k int, err error) {
			settled.Add(int64(k))
			if err != nil {
				errs <- err
			}
		})
	}
	put(records[:n/2])
	for settled.Load() < n/2 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	put(records[n/2:])
	p.close()
	if got := settled.Load(); got != n {
		t.Fatalf("%d of %d records settled by close", got, n)
	}
	select {
	case err := <-errs:
		t.Fatalf("after retries: %v", err)
	default:
	}
	if refused.Load() <= 3 {
		t.Fatalf("%d produce requests, want the 3 refused and more", refused.Load())
	}
	got := map[string]string{}
	testenv.ScanTopic(t, brokers, "verdicts", func(m kafka.Message) { got[string(m.Key)] = string(m.Value) })
	if len(got) != n {
		t.Fatalf("%d records in the topic, want %d", len(got), n)
	}
	for _, r := range records {
		if got[string(r.key)] != string(r.value) {
			t.Errorf("%s: %q, want %q", r.key, got[string(r.key)], r.value)
		}
	}

	var afterClose error
	p.put(ctx, records[:1], partitioner.partition, func(_ int, err error) { afterClose = err })
	if !errors.Is(afterClose, errProducerClosed) {
		t.Fatalf("put after close: %v, want errProducerClosed", afterClose)
	}
}

// TestProducerFailsAfterMaxAttempts: a broker refusing every request fails
// the records after maxAttempts tries, with the broker's error.
func TestProducerFailsAfterMaxAttempts(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "verdicts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var tries atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		tries.Add(1)
		return refusedProduce(req, kafka.RequestTimedOut), nil, true
	})
	client := &kafka.Client{Addr: kafka.TCP(cluster.ListenAddrs()...)}
	p := newProducer(client, "verdicts", kafkaConfig{maxAttempts: 3}, 1_000_000)
	p.backoffMax = time.Millisecond
	defer p.close()
	errc := make(chan error, 1)
	var partitioner sourcePartitioner
	p.put(context.Background(), []record{{key: []byte("raw/0/0"), value: []byte("v")}}, partitioner.partition, func(_ int, err error) { errc <- err })
	select {
	case err := <-errc:
		if !errors.Is(err, kafka.RequestTimedOut) {
			t.Fatalf("error %v, want the broker's RequestTimedOut", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("not settled")
	}
	if got := tries.Load(); got != 3 {
		t.Fatalf("%d tries, want 3", got)
	}
}

func TestSourcePartitionerRemembersRuns(t *testing.T) {
	var s sourcePartitioner
	for _, key := range []string{"raw/0/1", "raw/0/2", "raw/1/1", "raw/0/3", "other/0/1", "nokey", "nokey2", "raw/1/2", "a/b/c/2/9"} {
		for _, n := range []int{1, 4, 7} {
			if got, want := s.partition([]byte(key), n), sourcePartition([]byte(key), n); got != want {
				t.Errorf("%s over %d: %d, want %d", key, n, got, want)
			}
		}
	}
}

// TestProducerCloseAbandonsAHungRequest: a broker that stops answering
// holds close for closeGrace, not for the request's 10 s timeout, and the
// records in flight settle with an error.
func TestProducerCloseAbandonsAHungRequest(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "verdicts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	release := make(chan struct{})
	defer close(release)
	received := make(chan struct{}, 1)
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		received <- struct{}{}
		<-release // never answers while the test runs
		return nil, errors.New("closed"), true
	})
	client := &kafka.Client{Addr: kafka.TCP(cluster.ListenAddrs()...)}
	p := newProducer(client, "verdicts", kafkaConfig{maxAttempts: 3}, 1_000_000)
	p.closeGrace = 200 * time.Millisecond
	errc := make(chan error, 1)
	var partitioner sourcePartitioner
	p.put(context.Background(), []record{{key: []byte("raw/0/0"), value: []byte("v")}}, partitioner.partition, func(_ int, err error) { errc <- err })
	<-received
	start := time.Now()
	p.close()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("close took %v", took)
	}
	if err := <-errc; err == nil {
		t.Fatal("the abandoned request's records settled without an error")
	}
}
