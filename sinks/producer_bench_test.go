package sinks

import (
	"bytes"
	"context"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/internal/testenv"
)

// BenchmarkProducer produces the same 200,000 compact JSON verdicts (keys
// "raw/p/offset" of 4 source partitions, scores varying) to a 4-partition
// topic, lz4, acks=all, in batches of 512 with up to 16 in flight as the
// pipeline writes them: through the sink's producer (producer.go) and
// through the kafka-go Writer configured as the sink had it before (async,
// a completion callback, batches of up to 1000 messages or 1 MB, 1 ms
// linger, the metadata cache). Reported per verdict: wall ns, CPU ns of the
// whole process (getrusage: on kfake the in-process broker's share too,
// the same for both) and allocations; for the producer, the CPU saved per
// verdict against the writer of the same run.
//
// On kfake by default; against a real broker with
// SAGEWALL_BENCH_KAFKA_BROKERS=127.0.0.1:19092 (scripts/kafka.sh start),
// when the broker's CPU is not in the process.
func BenchmarkProducer(b *testing.B) {
	const n, batch, inFlight = 200_000, 512, 16
	brokers, topic := testenv.BenchKafka(b, 4, "verdicts")
	verdicts := makeVerdicts(b, n, 4, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	format := NewJSONFormat(false)
	keys, values := make([][]byte, n), make([][]byte, n)
	for i := range verdicts {
		verdicts[i].Result.Score = rng.Float32()
		verdicts[i].Result.CategoryProb = rng.Float32()
		keys[i] = verdicts[i].Source.AppendKey(nil)
		values[i] = format.Append(nil, &verdicts[i])
	}
	compression := kafka.Lz4
	cfg := kafkaConfig{compression: compression, maxAttempts: 10}

	type variant struct {
		name  string
		write func(ctx context.Context, from, to int, done func(error)) // verdicts [from, to)
		close func()
	}
	writerVariant := func() variant {
		w := &kafka.Writer{
			Addr: kafka.TCP(brokers...), Topic: topic, Balancer: SourcePartitionBalancer{}, RequiredAcks: kafka.RequireAll,
			Async: true, Completion: complete, BatchSize: defaultProduceBatchSize, BatchBytes: 1_000_000,
			BatchTimeout: time.Millisecond, Compression: compression,
			Transport: newMetadataCache(kafka.DefaultTransport, metadataCacheTTL),
		}
		msgs := make([]kafka.Message, batch)
		return variant{"writer", func(ctx context.Context, from, to int, done func(error)) {
			ack := newBatchAck(to-from, done)
			now := time.Now()
			for i := from; i < to; i++ {
				msgs[i-from] = kafka.Message{Key: keys[i], Value: values[i], Time: now, WriterData: ack}
			}
			if err := w.WriteMessages(ctx, msgs[:to-from]...); err != nil {
				b.Fatal(err)
			}
		}, func() { w.Close() }}
	}
	producerVariant := func() variant {
		client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: newMetadataCache(kafka.DefaultTransport, metadataCacheTTL)}
		p := newProducer(client, topic, cfg, 1_000_000-recordBatchOverhead)
		var partitioner sourcePartitioner
		pool := sync.Pool{New: func() any { return new([]record) }}
		return variant{"producer", func(ctx context.Context, from, to int, done func(error)) {
			rp := pool.Get().(*[]record)
			records := (*rp)[:0]
			for i := from; i < to; i++ {
				records = append(records, record{key: keys[i], value: values[i]})
			}
			*rp = records
			p.put(ctx, records, partitioner.partition, newBatchAck(len(records), func(err error) {
				pool.Put(rp)
				done(err)
			}).settle)
		}, p.close}
	}

	cpu := map[string]float64{}
	for _, open := range []func() variant{writerVariant, producerVariant} {
		v := open()
		b.Run(v.name, func(b *testing.B) {
			var wall, busy time.Duration
			var allocs uint64
			iterations := 0
			ctx := context.Background()
			for b.Loop() {
				iterations++
				sem := make(chan struct{}, inFlight)
				var failed error
				var mu sync.Mutex
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				cpu0, start := testenv.ProcessCPU(b), time.Now()
				for from := 0; from < n; from += batch {
					sem <- struct{}{}
					v.write(ctx, from, min(from+batch, n), func(err error) {
						if err != nil {
							mu.Lock()
							failed = err
							mu.Unlock()
						}
						<-sem
					})
				}
				for range inFlight {
					sem <- struct{}{}
				}
				wall += time.Since(start)
				busy += testenv.ProcessCPU(b) - cpu0
				runtime.ReadMemStats(&after)
				allocs += after.Mallocs - before.Mallocs
				if failed != nil {
					b.Fatal(failed)
				}
			}
			records := float64(iterations * n)
			b.ReportMetric(float64(wall.Nanoseconds())/records, "wall-ns/verdict")
			b.ReportMetric(float64(busy.Nanoseconds())/records, "cpu-ns/verdict")
			b.ReportMetric(float64(allocs)/records, "allocs/verdict")
			cpu[v.name] = float64(busy.Nanoseconds()) / records
			if v.name != "writer" && cpu["writer"] > 0 {
				b.ReportMetric(cpu["writer"]-cpu[v.name], "cpu-ns-saved/verdict")
			}
		})
		v.close()
	}
}

// BenchmarkBatchEncoder encodes one request's record batch of 512 compact
// JSON verdicts, as the producer does per partition, with each codec it
// encodes itself: lz4 (the default), snappy and none, and snappy through
// kafka-go's codec. Scores, offsets and,
// for the connection verdicts, ports and times vary, so that the batch
// compresses like the verdict topic's. One op is one batch; ns/verdict is
// reported.
func BenchmarkBatchEncoder(b *testing.B) {
	const n = 512
	rng := rand.New(rand.NewPCG(5, 6))
	format := NewJSONFormat(false)
	for _, kind := range []string{"nslkdd", "zeek"} {
		verdicts := makeVerdicts(b, n, 4, 1_000_000)
		if kind == "zeek" {
			conn := zeekVerdict(b)
			for i := range verdicts {
				source := verdicts[i].Source
				verdicts[i] = conn
				verdicts[i].Source = source
				verdicts[i].Conn.OrigPort = uint16(rng.IntN(65536))
				verdicts[i].Conn.Start = verdicts[i].Conn.Start.Add(time.Duration(rng.IntN(1e9)))
			}
		}
		records := make([]record, n)
		for i := range verdicts {
			verdicts[i].Result.Score = rng.Float32()
			verdicts[i].Result.CategoryProb = rng.Float32()
			records[i] = record{key: verdicts[i].Source.AppendKey(nil), value: format.Append(nil, &verdicts[i])}
		}
		chunks := []chunk{{time: 1_795_608_000_000, records: records}}
		crcTable := crc32.MakeTable(crc32.Castagnoli)
		for _, codec := range []kafka.Compression{kafka.Lz4, kafka.Snappy, 0} {
			name := "none"
			if codec != 0 {
				name = codec.String()
			}
			b.Run("verdicts="+kind+"/codec="+name, func(b *testing.B) {
				var e batchEncoder
				var size int
				for b.Loop() {
					batch, err := e.encode(chunks, codec, crcTable)
					if err != nil {
						b.Fatal(err)
					}
					size = len(batch)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/verdict")
				b.ReportMetric(float64(size)/n, "bytes/verdict")
			})
		}
		// What snappy cost through kafka-go's codec, as the producer wrote
		// it before: the records section, then the codec's writer over it.
		b.Run("verdicts="+kind+"/codec=snappy-kafka-go", func(b *testing.B) {
			var e batchEncoder
			var out bytes.Buffer
			codec := kafka.Snappy.Codec()
			for b.Loop() {
				if _, err := e.encode(chunks, 0, crcTable); err != nil {
					b.Fatal(err)
				}
				out.Reset()
				w := codec.NewWriter(&out)
				if _, err := w.Write(e.records); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/verdict")
			b.ReportMetric(float64(out.Len()+recordBatchHeaderSize+4)/n, "bytes/verdict")
		})
	}
}
