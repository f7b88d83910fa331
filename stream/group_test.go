package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
)

// newGroupConsumer returns a GroupConsumer closed when the test ends.
func newGroupConsumer(t testing.TB, brokers []string, group, topic string, opts ...ReaderOption) *GroupConsumer {
	t.Helper()
	c, err := NewGroupConsumer(Conn{Brokers: brokers}, group, topic, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// numbered returns n values "0", "1", ...
func numbered(from, n int) [][]byte {
	values := make([][]byte, n)
	for i := range values {
		values[i] = []byte(strconv.Itoa(from + i))
	}
	return values
}

// fetchN fetches n messages within a minute.
func fetchN(t testing.TB, c Consumer, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, 0, n)
	for len(msgs) < n {
		m, err := c.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(msgs), n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// checkInOrder fails t unless msgs hold, per partition, consecutive offsets
// from 0 and every value of want exactly once.
func checkInOrder(t testing.TB, msgs []kafka.Message, want [][]byte) {
	t.Helper()
	next := map[int]int64{}
	seen := map[string]int{}
	for _, m := range msgs {
		if m.Offset != next[m.Partition] {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, next[m.Partition]-1)
		}
		next[m.Partition]++
		seen[string(m.Value)]++
	}
	for _, v := range want {
		if seen[string(v)] != 1 {
			t.Fatalf("value %s seen %d times, want once", v, seen[string(v)])
		}
	}
}

func TestGroupConsumerReadsEveryRecordInOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int
		records    int
		maxBytes   int // 0: NewReader's
	}{
		{"four partitions", 4, 20_000, 0},
		{"one partition", 1, 5_000, 0},
		{"partitions left empty", 8, 3, 0},
		{"fetches of a few records", 2, 2_000, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := testenv.KFake(t, kfake.SeedTopics(int32(tc.partitions), "raw"))
			want := numbered(0, tc.records)
			produceMessages(t, brokers, "raw", &kafka.RoundRobin{}, messagesOf(want))
			var opts []ReaderOption
			if tc.maxBytes > 0 {
				opts = append(opts, func(c *kafka.ReaderConfig) { c.MaxBytes = tc.maxBytes })
			}
			c := newGroupConsumer(t, brokers, "g", "raw", opts...)
			checkInOrder(t, fetchN(t, c, tc.records), want)
			// Nothing more: a long poll on every partition, ended by ctx.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if m, err := c.FetchMessage(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("FetchMessage past the end = %s/%d@%d, %v; want the context's deadline", m.Topic, m.Partition, m.Offset, err)
			}
		})
	}
}

func messagesOf(values [][]byte) []kafka.Message {
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Value: v}
	}
	return msgs
}

// TestGroupConsumerResumesAfterCommit commits part of the records, closes
// the consumer and starts another in the same group: it starts after the
// commit. A start offset of LastOffset applies only where nothing was
// committed.
func TestGroupConsumerResumesAfterCommit(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(4, "raw"))
	produceMessages(t, brokers, "raw", &kafka.RoundRobin{}, messagesOf(numbered(0, 400)))
	c := newGroupConsumer(t, brokers, "g", "raw")
	msgs := fetchN(t, c, 400)
	// Commit the first 50 of each partition (offset 49), as the pipeline
	// does: several messages, the highest per partition counts.
	var commit []kafka.Message
	for _, m := range msgs {
		if m.Offset == 49 || m.Offset == 10 {
			commit = append(commit, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CommitMessages(ctx, commit...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchMessage(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("FetchMessage after Close = %v, want io.EOF", err)
	}
	if err := c.CommitMessages(ctx, commit...); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("CommitMessages after Close = %v, want io.ErrClosedPipe", err)
	}

	again := newGroupConsumer(t, brokers, "g", "raw", WithStartOffset(kafka.LastOffset))
	resumed := fetchN(t, again, 200)
	next := map[int]int64{0: 50, 1: 50, 2: 50, 3: 50}
	for _, m := range resumed {
		if m.Offset != next[m.Partition] {
			t.Fatalf("partition %d resumed at offset %d, want %d", m.Partition, m.Offset, next[m.Partition])
		}
		next[m.Partition]++
	}

	// A new group starting at the last offset sees only what comes after.
	latest := newGroupConsumer(t, brokers, "latest", "raw", WithStartOffset(kafka.LastOffset))
	waitAssigned(t, brokers, "latest", "raw", 1, 4)
	produceMessages(t, brokers, "raw", &kafka.RoundRobin{}, messagesOf(numbered(1000, 8)))
	for _, m := range fetchN(t, latest, 8) {
		if m.Offset < 100 {
			t.Fatalf("group starting at the last offset read %d/%d", m.Partition, m.Offset)
		}
	}
}

// waitAssigned waits until group's members members have all partitions of
// topic assigned and have begun fetching (a moment after the assignment).
func waitAssigned(t testing.TB, brokers []string, group, topic string, members, partitions int) {
	t.Helper()
	client := NewClient(brokers, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		assigned := 0
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" && len(resp.Groups[0].Members) == members {
			for _, m := range resp.Groups[0].Members {
				for _, tp := range m.MemberAssignments.Topics {
					if tp.Topic == topic {
						assigned += len(tp.Partitions)
					}
				}
			}
		}
		if assigned == partitions {
			time.Sleep(500 * time.Millisecond) // the fetch loops resolve LastOffset
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: %d of %d partitions assigned after 30 s (%v)", group, assigned, partitions, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGroupConsumerTwoMembers runs two members of one group: they split
// the partitions, and together see every record, each partition's in
// offset order within a generation. A commit for a partition the member
// does not own is dropped without an error.
func TestGroupConsumerTwoMembers(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(4, "raw"))
	const n = 4000
	produceMessages(t, brokers, "raw", &kafka.RoundRobin{}, messagesOf(numbered(0, n)))
	a := newGroupConsumer(t, brokers, "g", "raw", WithClientID("member-a"))
	b := newGroupConsumer(t, brokers, "g", "raw", WithClientID("member-b"))
	waitAssigned(t, brokers, "g", "raw", 2, 4)

	var mu sync.Mutex
	seen := map[string]bool{}
	byMember := map[string]map[int]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for name, c := range map[string]*GroupConsumer{"a": a, "b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := c.FetchMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[string(m.Value)] = true
				if byMember[name] == nil {
					byMember[name] = map[int]bool{}
				}
				byMember[name][m.Partition] = true
				done := len(seen) == n
				mu.Unlock()
				if done {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("the two members saw %d of %d records", len(seen), n)
	}
	if len(byMember["a"]) == 0 || len(byMember["b"]) == 0 {
		t.Errorf("partitions read by member: %v, want both to have some", byMember)
	}

	// a commits every partition: those of b are dropped, a's committed.
	commitCtx, cancelCommit := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelCommit()
	var commit []kafka.Message
	for p := range 4 {
		commit = append(commit, kafka.Message{Topic: "raw", Partition: p, Offset: 9})
	}
	if err := a.CommitMessages(commitCtx, commit...); err != nil {
		t.Fatalf("committing partitions of another member: %v", err)
	}
	offsets, err := GroupOffsets(commitCtx, NewClient(brokers, nil), "g", "raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range offsets {
		wantCommitted := int64(-1)
		if byMember["a"][p.Partition] && !byMember["b"][p.Partition] {
			wantCommitted = 10
		}
		if p.Committed != wantCommitted {
			t.Errorf("partition %d committed at %d, want %d (read by a: %v, by b: %v)", p.Partition, p.Committed, wantCommitted,
				byMember["a"][p.Partition], byMember["b"][p.Partition])
		}
	}
}

// TestGroupConsumerRebalanceDropsOldGeneration: when a second member joins,
// the first one's generation ends; what it fetched in the old generation
// and had not returned is dropped, and its partitions that stay resume
// from the commit.
func TestGroupConsumerRebalance(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(2, "raw"))
	produceMessages(t, brokers, "raw", &kafka.RoundRobin{}, messagesOf(numbered(0, 2000)))
	a := newGroupConsumer(t, brokers, "g", "raw", WithClientID("member-a"))
	first := fetchN(t, a, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.CommitMessages(ctx, first...); err != nil {
		t.Fatal(err)
	}
	newGroupConsumer(t, brokers, "g", "raw", WithClientID("member-b"))
	waitAssigned(t, brokers, "g", "raw", 2, 2)
	owned, settled, err := GroupAssignment(ctx, NewClient(brokers, nil), "g", "raw", "member-a")
	if err != nil || !settled || len(owned) != 1 {
		t.Fatalf("member a owns %v (settled %v, %v), want one partition", owned, settled, err)
	}
	committed := map[int]int64{}
	for _, m := range first {
		committed[m.Partition] = max(committed[m.Partition], m.Offset+1)
	}
	// a's next message is of its partition, from the commit on.
	m, err := a.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Partition != owned[0] || m.Offset != committed[m.Partition] {
		t.Fatalf("after the rebalance a read %d/%d, want %d/%d", m.Partition, m.Offset, owned[0], committed[owned[0]])
	}
}

func TestGroupConsumerFetchHonoursContext(t *testing.T) {
	brokers := testenv.KFake(t, kfake.SeedTopics(2, "raw"))
	c := newGroupConsumer(t, brokers, "g", "raw")
	for _, wait := range []time.Duration{0, 50 * time.Millisecond, 2 * time.Second} {
		t.Run(fmt.Sprint(wait), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			start := time.Now()
			_, err := c.FetchMessage(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("FetchMessage on an empty topic = %v, want the deadline", err)
			}
			if late := time.Since(start) - wait; late > 100*time.Millisecond {
				t.Errorf("returned %s after the deadline", late)
			}
		})
	}
}

// TestGroupConsumerNoBroker: with nothing listening, FetchMessage reports
// the failure to join (the pipeline backs off and asks again), and Close
// returns.
func TestGroupConsumerNoBroker(t *testing.T) {
	c := newGroupConsumer(t, []string{closedPort(t)}, "g", "raw")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.FetchMessage(ctx); err == nil || ctx.Err() != nil || errors.Is(err, io.EOF) {
		t.Fatalf("FetchMessage without a broker = %v, want the group's error", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
}

// closedPort returns an address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
