package s3bridge

import (
	"context"
	"sync"
)

// dedupe remembers the last size objects fully produced, so a notification
// delivered twice (SQS is at-least-once, S3 may notify twice) is skipped.
// Oldest entries are forgotten first.
type dedupe struct {
	size int

	mu       sync.Mutex
	inFlight map[dedupeKey]chan struct{} // closed when the object's producer finishes
	seen     map[dedupeKey]struct{}
	order    []dedupeKey // ring buffer of the keys in seen
	next     int
}

type dedupeKey struct{ bucket, key, version, sequencer string }

func newDedupe(size int) *dedupe {
	return &dedupe{size: size, inFlight: make(map[dedupeKey]chan struct{}), seen: make(map[dedupeKey]struct{}, size)}
}

// claim makes the caller the object's only producer. A notification for an
// object that another handler is producing right now (a duplicate, or a
// redelivery after a missed visibility extension) waits for that handler:
// skip is true when the object has been produced, and otherwise the caller
// produces it and must call done with whether it succeeded.
func (d *dedupe) claim(ctx context.Context, o Object) (done func(produced bool), skip bool, err error) {
	k := keyOf(o)
	for {
		d.mu.Lock()
		if _, ok := d.seen[k]; ok {
			d.mu.Unlock()
			return nil, true, nil
		}
		wait, busy := d.inFlight[k]
		if !busy {
			finished := make(chan struct{})
			d.inFlight[k] = finished
			d.mu.Unlock()
			var once sync.Once
			return func(produced bool) {
				once.Do(func() {
					if produced {
						d.add(o)
					}
					d.mu.Lock()
					delete(d.inFlight, k)
					d.mu.Unlock()
					close(finished)
				})
			}, false, nil
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
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
