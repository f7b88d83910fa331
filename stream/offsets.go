package stream

import (
	"fmt"
	"sort"
	"sync"
)

// offsetTracker follows the fetched offsets of one partition, in fetch
// order, and releases them for commit only as a contiguous acknowledged
// prefix: an offset is committable once it and every offset fetched before
// it are acknowledged. Offsets need not be consecutive (compaction and
// transaction markers leave gaps). It is not safe for concurrent use;
// offsetTrackers guards it.
type offsetTracker struct {
	pending []pendingOffset // fetched, not yet released; ascending
	head    int             // pending[:head] are released
	last    int64           // highest offset tracked, -1 before the first
	next    int64           // offset to commit: last released + 1, -1 before any release
}

type pendingOffset struct {
	offset int64
	acked  bool
}

func newOffsetTracker() *offsetTracker { return &offsetTracker{last: -1, next: -1} }

// track registers a fetched offset; it must be above every tracked offset.
func (t *offsetTracker) track(offset int64) error {
	if offset <= t.last {
		return fmt.Errorf("tracking offset %d: not above the last tracked offset %d", offset, t.last)
	}
	t.last = offset
	if t.head == len(t.pending) {
		t.pending, t.head = t.pending[:0], 0
	} else if t.head > len(t.pending)/2 && t.head >= 1024 {
		// Compact: drop the released prefix so memory stays proportional
		// to the records in flight.
		n := copy(t.pending, t.pending[t.head:])
		t.pending, t.head = t.pending[:n], 0
	}
	t.pending = append(t.pending, pendingOffset{offset: offset})
	return nil
}

// ack marks offset acknowledged and reports whether the committable offset
// advanced. Acknowledging an unknown or already released offset is an error.
func (t *offsetTracker) ack(offset int64) (bool, error) {
	live := t.pending[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset {
		return false, fmt.Errorf("acknowledging offset %d: not pending", offset)
	}
	if live[i].acked {
		return false, fmt.Errorf("acknowledging offset %d: already acknowledged", offset)
	}
	live[i].acked = true
	if i != 0 {
		return false, nil
	}
	for t.head < len(t.pending) && t.pending[t.head].acked {
		t.next = t.pending[t.head].offset + 1
		t.head++
	}
	return true, nil
}

// committable returns the offset to commit (the next offset to consume)
// and whether any offset has been released.
func (t *offsetTracker) committable() (int64, bool) { return t.next, t.next >= 0 }

// inFlight is the number of tracked offsets not yet released.
func (t *offsetTracker) inFlight() int { return len(t.pending) - t.head }

// topicPartition names a source partition.
type topicPartition struct {
	topic     string
	partition int
}

// offsetTrackers holds one tracker per partition. When a partition's
// offsets go backwards (a rebalance re-delivered uncommitted records) the
// partition gets a fresh tracker; acknowledgements still arriving for the
// old one land on the detached tracker and are ignored, and commits never
// move a partition below what this process already committed.
type offsetTrackers struct {
	mu        sync.Mutex
	trackers  map[topicPartition]*offsetTracker
	committed map[topicPartition]int64
}

func newOffsetTrackers() *offsetTrackers {
	return &offsetTrackers{
		trackers:  make(map[topicPartition]*offsetTracker),
		committed: make(map[topicPartition]int64),
	}
}

// track registers a fetched record and returns the tracker to acknowledge
// it on, and whether the partition was rewound.
func (ts *offsetTrackers) track(tp topicPartition, offset int64) (*offsetTracker, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.trackers[tp]
	rewound := false
	if !ok || offset <= t.last {
		rewound = ok
		t = newOffsetTracker()
		ts.trackers[tp] = t
	}
	// Cannot fail: a fresh tracker accepts any offset and otherwise
	// offset > t.last.
	_ = t.track(offset)
	return t, rewound
}

// ack acknowledges offsets on their trackers and reports whether any
// committable offset advanced.
func (ts *offsetTrackers) ack(acks []trackedOffset) (bool, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	advanced := false
	for _, a := range acks {
		moved, err := a.tracker.ack(a.offset)
		if err != nil {
			return advanced, err
		}
		advanced = advanced || moved
	}
	return advanced, nil
}

// commitOffset is a partition's offset to commit.
type commitOffset struct {
	topicPartition
	offset int64 // the next offset to consume
}

// toCommit returns the partitions whose committable offset is above what was
// last committed.
func (ts *offsetTrackers) toCommit() []commitOffset {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []commitOffset
	for tp, t := range ts.trackers {
		next, ok := t.committable()
		if !ok || next <= ts.committed[tp] {
			continue
		}
		out = append(out, commitOffset{tp, next})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// partitions lists the tracked partitions by topic.
func (ts *offsetTrackers) partitions() map[string][]int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := map[string][]int{}
	for tp := range ts.trackers {
		out[tp.topic] = append(out[tp.topic], tp.partition)
	}
	return out
}

// setCommitted replaces what is known to be committed for tp with the
// group's offset on the broker — lower (another member, or this one before
// a rebalance, moved it back) or higher (the partition moved on without
// us) — so toCommit commits exactly where this process is ahead.
func (ts *offsetTrackers) setCommitted(tp topicPartition, offset int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.committed[tp] = offset
}

// markCommitted records a successful commit.
func (ts *offsetTrackers) markCommitted(commits []commitOffset) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, c := range commits {
		if c.offset > ts.committed[c.topicPartition] {
			ts.committed[c.topicPartition] = c.offset
		}
	}
}

// inFlight is the number of tracked records not yet released, over all
// current trackers.
func (ts *offsetTrackers) inFlight() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := 0
	for _, t := range ts.trackers {
		n += t.inFlight()
	}
	return n
}

// trackedOffset is one record's offset and the tracker to acknowledge it on.
type trackedOffset struct {
	tracker *offsetTracker
	offset  int64
}
