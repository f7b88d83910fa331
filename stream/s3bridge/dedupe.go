package s3bridge

import "sync"

// dedupe remembers the last size objects fully produced, so a notification
// delivered twice (SQS is at-least-once, S3 may notify twice) is skipped.
// Oldest entries are forgotten first.
type dedupe struct {
	size int

	mu    sync.Mutex
	seen  map[dedupeKey]struct{}
	order []dedupeKey // ring buffer of the keys in seen
	next  int
}

type dedupeKey struct{ bucket, key, version, sequencer string }

func newDedupe(size int) *dedupe {
	return &dedupe{size: size, seen: make(map[dedupeKey]struct{}, size)}
}

func keyOf(o Object) dedupeKey { return dedupeKey{o.Bucket, o.Key, o.Version(), o.Sequencer} }

func (d *dedupe) contains(o Object) bool {
	if d.size <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[keyOf(o)]
	return ok
}

func (d *dedupe) add(o Object) {
	if d.size <= 0 {
		return
	}
	k := keyOf(o)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[k]; ok {
		return
	}
	if len(d.order) < d.size {
		d.order = append(d.order, k)
	} else {
		delete(d.seen, d.order[d.next])
		d.order[d.next] = k
		d.next = (d.next + 1) % d.size
	}
	d.seen[k] = struct{}{}
}
