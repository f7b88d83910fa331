package stream

import (
	"math/rand/v2"
	"testing"
)

func TestOffsetTrackerTable(t *testing.T) {
	tests := []struct {
		name       string
		track      []int64
		ack        []int64
		wantNext   int64 // -1: nothing committable
		wantFlight int
	}{
		{"nothing acked", []int64{0, 1, 2}, nil, -1, 3},
		{"in order", []int64{0, 1, 2}, []int64{0, 1, 2}, 3, 0},
		{"gap at head holds back", []int64{0, 1, 2}, []int64{1, 2}, -1, 3},
		{"head then gap", []int64{0, 1, 2, 3}, []int64{0, 2, 3}, 1, 3},
		{"reverse order", []int64{5, 6, 7, 8}, []int64{8, 7, 6, 5}, 9, 0},
		{"sparse offsets (compaction)", []int64{10, 13, 20}, []int64{10, 13}, 14, 1},
		{"sparse all acked", []int64{10, 13, 20}, []int64{20, 10, 13}, 21, 0},
		{"starts mid-partition", []int64{1000, 1001}, []int64{1000}, 1001, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newOffsetTracker()
			for _, o := range tt.track {
				if err := tr.track(o); err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range tt.ack {
				if _, err := tr.ack(o); err != nil {
					t.Fatal(err)
				}
			}
			next, ok := tr.committable()
			if tt.wantNext < 0 {
				if ok {
					t.Fatalf("committable = %d, want none", next)
				}
			} else if !ok || next != tt.wantNext {
				t.Fatalf("committable = %d, %v; want %d", next, ok, tt.wantNext)
			}
			if got := tr.inFlight(); got != tt.wantFlight {
				t.Fatalf("inFlight = %d, want %d", got, tt.wantFlight)
			}
		})
	}
}

func TestOffsetTrackerErrors(t *testing.T) {
	tr := newOffsetTracker()
	for _, o := range []int64{3, 4} {
		if err := tr.track(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.track(4); err == nil {
		t.Fatal("tracking a repeated offset: want error")
	}
	if err := tr.track(2); err == nil {
		t.Fatal("tracking a lower offset: want error")
	}
	if _, err := tr.ack(7); err == nil {
		t.Fatal("acking an untracked offset: want error")
	}
	if _, err := tr.ack(3); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ack(3); err == nil {
		t.Fatal("acking a released offset: want error")
	}
	if _, err := tr.ack(4); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ack(4); err == nil {
		t.Fatal("acking twice: want error")
	}
}

// TestOffsetTrackerRandomAckOrder checks the invariant against a model: at
// every step the committable offset is one past the longest acknowledged
// prefix of the tracked offsets, whatever the order of acknowledgements and
// however tracking and acknowledging interleave.
func TestOffsetTrackerRandomAckOrder(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, seed*7+1))
		tr := newOffsetTracker()
		n := 1 + rng.IntN(3000)
		offsets := make([]int64, n)
		next := int64(rng.IntN(100))
		for i := range offsets {
			offsets[i] = next
			next += 1 + int64(rng.IntN(3)) // gaps, as after compaction
		}
		acked := make([]bool, n)
		var unacked []int // tracked, not yet acknowledged
		tracked := 0
		for tracked < n || len(unacked) > 0 {
			if tracked < n && (len(unacked) == 0 || rng.IntN(2) == 0) {
				burst := 1 + rng.IntN(64)
				for ; burst > 0 && tracked < n; burst-- {
					if err := tr.track(offsets[tracked]); err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					unacked = append(unacked, tracked)
					tracked++
				}
				continue
			}
			k := rng.IntN(len(unacked))
			i := unacked[k]
			unacked[k] = unacked[len(unacked)-1]
			unacked = unacked[:len(unacked)-1]
			if _, err := tr.ack(offsets[i]); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			acked[i] = true

			prefix := 0
			for prefix < tracked && acked[prefix] {
				prefix++
			}
			got, ok := tr.committable()
			if prefix == 0 {
				if ok {
					t.Fatalf("seed %d: committable %d before the first offset was acked", seed, got)
				}
			} else if !ok || got != offsets[prefix-1]+1 {
				t.Fatalf("seed %d: committable = %d, %v; want %d", seed, got, ok, offsets[prefix-1]+1)
			}
			if tr.inFlight() != tracked-prefix {
				t.Fatalf("seed %d: inFlight = %d, want %d", seed, tr.inFlight(), tracked-prefix)
			}
		}
		if got, _ := tr.committable(); got != offsets[n-1]+1 {
			t.Fatalf("seed %d: final committable = %d, want %d", seed, got, offsets[n-1]+1)
		}
	}
}

func TestOffsetTrackersRewindAndCommitFloor(t *testing.T) {
	ts := newOffsetTrackers()
	tp := topicPartition{"raw", 0}
	var old []trackedOffset
	for o := int64(0); o < 10; o++ {
		tr, rewound := ts.track(tp, o)
		if rewound {
			t.Fatalf("offset %d: unexpected rewind", o)
		}
		old = append(old, trackedOffset{tr, o})
	}
	if _, err := ts.ack(old[:6]); err != nil {
		t.Fatal(err)
	}
	commits := ts.toCommit()
	if len(commits) != 1 || commits[0].offset != 6 {
		t.Fatalf("toCommit = %+v, want raw/0 at 6", commits)
	}
	ts.markCommitted(commits)
	if c := ts.toCommit(); len(c) != 0 {
		t.Fatalf("toCommit after commit = %+v, want none", c)
	}

	// A rebalance re-delivers from offset 4: a fresh tracker, and late acks
	// of the old generation must not move anything.
	tr, rewound := ts.track(tp, 4)
	if !rewound {
		t.Fatal("re-delivered offset 4: want rewind")
	}
	if _, err := ts.ack(old[6:]); err != nil {
		t.Fatal(err)
	}
	if c := ts.toCommit(); len(c) != 0 {
		t.Fatalf("toCommit after late old acks = %+v, want none", c)
	}
	if _, err := ts.ack([]trackedOffset{{tr, 4}}); err != nil {
		t.Fatal(err)
	}
	if c := ts.toCommit(); len(c) != 0 {
		t.Fatalf("toCommit at 5 below committed 6 = %+v, want none (never move back)", c)
	}
	var fresh []trackedOffset
	for o := int64(5); o < 8; o++ {
		tr, _ := ts.track(tp, o)
		fresh = append(fresh, trackedOffset{tr, o})
	}
	if _, err := ts.ack(fresh); err != nil {
		t.Fatal(err)
	}
	if c := ts.toCommit(); len(c) != 1 || c[0].offset != 8 {
		t.Fatalf("toCommit = %+v, want raw/0 at 8", c)
	}
}
