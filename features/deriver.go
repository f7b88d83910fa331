package features

import (
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
)

// Defaults of the options, each stated once.
const (
	// DefaultReorderWindow is how far (in event time) a connection may
	// start before the latest start seen and still be released in order.
	DefaultReorderWindow = 5 * time.Second
	// DefaultHoldTime is the longest (wall clock) a connection is held
	// waiting for the watermark: twice the reorder window, so that on a live
	// stream the watermark, not the clock, releases connections.
	DefaultHoldTime = 10 * time.Second
	// DefaultHostHorizon is how long (event time) a destination host's
	// connections count for its host window, and how long an idle host's
	// state is kept.
	DefaultHostHorizon = 10 * time.Minute
	// DefaultMaxHosts bounds the destination hosts with state.
	DefaultMaxHosts = 100_000
	// DefaultMaxHeld bounds the connections held for reordering: about
	// 60 MB of them, 20 s of a 10,000 connections/s stream.
	DefaultMaxHeld = 200_000
)

// Fixed by the KDD feature definitions.
const (
	timeWindow = 2 * time.Second // the time-based traffic features' window
	hostWindow = 100             // the host-based features' window, in connections
	maxCount   = 511             // count and srv_count never exceed it in NSL-KDD
)

// Derived is one released connection with its features.
type Derived struct {
	Conn   connlog.Conn
	Ticket uint64     // the caller's token, returned as given
	Record etl.Record // Numeric, ProtocolType, Service, Flag filled; Format etl.Derived; Label ""; Difficulty -1
	// Late is set when the connection arrived after connections starting
	// later than it had been released: its features were derived at once,
	// as if it had started with the last released one (see doc.go).
	Late bool
}

// Hooks are callbacks for metrics. Each runs synchronously on the goroutine
// calling Add, Flush or FlushAll, so it must not call back into the Deriver
// and should be quick; a nil hook is skipped.
type Hooks struct {
	// Evicted runs after a sweep dropped the state of n > 0 destination
	// hosts (idle beyond the host horizon, or least recently seen beyond
	// MaxHosts).
	Evicted func(n int)
	// Late runs once per late connection, before it is emitted.
	Late func()
	// Forced runs once per connection released early because MaxHeld
	// connections were held, before it is emitted.
	Forced func()
}

// Stats is a snapshot of a Deriver's state.
type Stats struct {
	Held    int    // connections waiting for release
	Hosts   int    // destination hosts with state
	Evicted uint64 // host states evicted so far
	Late    uint64 // late connections so far
	Forced  uint64 // connections released early because MaxHeld were held
}

// Option configures a Deriver.
type Option func(*config)

type config struct {
	reorder     time.Duration
	hold        time.Duration
	hostHorizon time.Duration
	maxHosts    int
	maxHeld     int
	hooks       Hooks
}

// WithReorderWindow sets how far (event time) behind the latest start a
// connection may start and still be released in order; 0 releases each
// connection as soon as none can precede it among those seen. Negative:
// DefaultReorderWindow.
func WithReorderWindow(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.reorder = d
		}
	}
}

// WithHoldTime sets the longest wall-clock time a connection is held; Flush
// releases it then even if the watermark has not passed it. Zero or
// negative: DefaultHoldTime.
func WithHoldTime(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.hold = d
		}
	}
}

// WithHostHorizon sets how long (event time) a destination host's
// connections stay in its host window and its idle state is kept. Values
// below the 2 s time window are raised to it, so a host with connections in
// the time window is never evicted for idleness. Zero or negative:
// DefaultHostHorizon.
func WithHostHorizon(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.hostHorizon = max(d, timeWindow)
		}
	}
}

// WithMaxHosts bounds the destination hosts with state; beyond it the least
// recently seen is evicted. Zero or negative: DefaultMaxHosts.
func WithMaxHosts(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxHosts = n
		}
	}
}

// WithMaxHeld bounds the connections held for reordering, and so the
// memory they take whatever the input rate: when one more would be held,
// the earliest-starting held connection is released at once, as the
// watermark would have released it later. A connection that then arrives
// starting before it is late. Zero or negative: DefaultMaxHeld.
func WithMaxHeld(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxHeld = n
		}
	}
}

// WithHooks sets the metric callbacks.
func WithHooks(h Hooks) Option {
	return func(c *config) { c.hooks = h }
}

// Deriver derives NSL-KDD features from connections in event-time order.
// It is not safe for concurrent use: use one per partition or goroutine.
type Deriver struct {
	cfg config

	// Holding.
	slots   []heldConn  // slab of held connections
	free    []int32     // free slots
	heap    []heapEntry // held slots, min-heap by (start, seq)
	arrived ring[arrival]
	seq     uint64

	// Event time, in Unix nanoseconds.
	sawStart     bool  // a connection with a start has been added
	maxStart     int64 // latest start added
	released     bool  // a connection has been released
	lastReleased int64 // start (effective) of the last released connection

	state state
	out   Derived

	late, evicted, forced uint64
}

// heldConn is a held connection; extra keeps its Extra fields so the
// caller's slice can be reused.
type heldConn struct {
	conn   connlog.Conn
	extra  []connlog.Field
	start  int64
	seq    uint64
	ticket uint64
}

// heapEntry keeps a held slot's sort key beside its index: comparing in
// the heap then reads no slot (a held Conn is ~300 bytes; the heap is
// tens of thousands deep on a busy stream).
type heapEntry struct {
	start int64
	seq   uint64
	slot  int32
}

// arrival records when (wall clock) a held connection arrived.
type arrival struct {
	at    int64 // Unix nanoseconds
	start int64
}

// New returns a Deriver with the given options over the defaults.
func New(opts ...Option) *Deriver {
	cfg := config{
		reorder:     DefaultReorderWindow,
		hold:        DefaultHoldTime,
		hostHorizon: DefaultHostHorizon,
		maxHosts:    DefaultMaxHosts,
		maxHeld:     DefaultMaxHeld,
	}
	for _, o := range opts {
		o(&cfg)
	}
	d := &Deriver{cfg: cfg}
	d.state.init(cfg.hostHorizon, cfg.maxHosts)
	return d
}

// Add takes a connection (copied: c may be reused once Add returns) and
// releases, through emit, every held connection that is now final, in
// event-time order: those starting no later than the watermark (the latest
// start seen minus the reorder window) and those held past the hold time
// at now (wall clock). A late connection, or one without a start, is
// emitted at once. The *Derived passed to emit is valid only during the
// call.
func (d *Deriver) Add(c *connlog.Conn, ticket uint64, now time.Time, emit func(*Derived)) {
	if c.Start.IsZero() {
		// A masked timestamp: derived at the current release position,
		// after everything already final.
		d.releaseExpired(now.UnixNano(), emit)
		d.deriveNow(c, ticket, d.position(), false, emit)
		return
	}
	start := c.Start.UnixNano()
	if !(d.released && start < d.lastReleased) {
		// It is to be held: make room first, so that the late check below
		// sees the release this forces.
		for len(d.heap) >= d.cfg.maxHeld {
			d.forced++
			if d.cfg.hooks.Forced != nil {
				d.cfg.hooks.Forced()
			}
			d.releaseTop(emit)
		}
	}
	if d.released && start < d.lastReleased {
		d.late++
		if d.cfg.hooks.Late != nil {
			d.cfg.hooks.Late()
		}
		d.deriveNow(c, ticket, d.lastReleased, true, emit)
		d.releaseExpired(now.UnixNano(), emit)
		return
	}
	d.hold(c, ticket, start, now.UnixNano())
	if !d.sawStart || start > d.maxStart {
		d.sawStart, d.maxStart = true, start
	}
	d.releaseUpTo(d.watermark(), emit)
	d.releaseExpired(now.UnixNano(), emit)
	// Keeps the arrival records proportional to what is held even when the
	// caller never asks for the Deadline.
	d.dropReleasedArrivals()
}

// Flush releases the connections held past the hold time at now, and with
// each every held connection that starts no later (order is kept). Call it
// when Deadline passes, even without input.
func (d *Deriver) Flush(now time.Time, emit func(*Derived)) {
	d.releaseExpired(now.UnixNano(), emit)
}

// FlushAll releases every held connection, in event-time order: the end of
// input.
func (d *Deriver) FlushAll(emit func(*Derived)) {
	for len(d.heap) > 0 {
		d.releaseTop(emit)
	}
	d.arrived.clear()
}

// Deadline reports when Flush would next release something: the arrival
// of the longest-held connection plus the hold time. ok is false when
// nothing is held.
func (d *Deriver) Deadline() (deadline time.Time, ok bool) {
	d.dropReleasedArrivals()
	if d.arrived.len() == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, d.arrived.front().at+int64(d.cfg.hold)), true
}

// Stats returns a snapshot of the Deriver's state.
func (d *Deriver) Stats() Stats {
	return Stats{Held: len(d.heap), Hosts: d.state.hostCount(), Evicted: d.evicted, Late: d.late, Forced: d.forced}
}

// watermark is the latest start that is final by event time: no
// connection within the reorder window can start before it. It is never
// below the last release, so a connection starting with the last released
// one is released at once rather than held.
func (d *Deriver) watermark() int64 {
	w := d.maxStart - int64(d.cfg.reorder)
	if d.released && d.lastReleased > w {
		w = d.lastReleased
	}
	return w
}

// position is where a connection without a start is placed: the
// watermark, or the last release when that is later; the Unix epoch before
// any connection.
func (d *Deriver) position() int64 {
	switch {
	case d.sawStart:
		return d.watermark()
	case d.released:
		return d.lastReleased
	}
	return 0
}

// hold copies c into a free slot and pushes it on the heap.
func (d *Deriver) hold(c *connlog.Conn, ticket uint64, start, now int64) {
	var i int32
	if n := len(d.free); n > 0 {
		i, d.free = d.free[n-1], d.free[:n-1]
	} else {
		d.slots = append(d.slots, heldConn{})
		i = int32(len(d.slots) - 1)
	}
	h := &d.slots[i]
	extra := append(h.extra[:0], c.Extra...)
	h.conn = *c
	h.conn.Extra, h.extra = extra, extra
	h.start, h.seq, h.ticket = start, d.seq, ticket
	d.seq++
	d.push(heapEntry{start: start, seq: h.seq, slot: i})
	d.arrived.push(arrival{at: now, start: start})
}

// releaseUpTo releases every held connection starting no later than t.
func (d *Deriver) releaseUpTo(t int64, emit func(*Derived)) {
	for len(d.heap) > 0 && d.heap[0].start <= t {
		d.releaseTop(emit)
	}
}

// releaseExpired releases the connections that arrived a hold time or more
// before now, with every held connection starting no later than the latest
// of them.
func (d *Deriver) releaseExpired(now int64, emit func(*Derived)) {
	cutoff := now - int64(d.cfg.hold)
	var upTo int64
	expired := false
	for d.arrived.len() > 0 && d.arrived.front().at <= cutoff {
		a := d.arrived.pop()
		if !expired || a.start > upTo {
			upTo, expired = a.start, true
		}
	}
	if expired {
		d.releaseUpTo(upTo, emit)
	}
}

// dropReleasedArrivals drops arrival records of released connections from
// the front: after every release every held connection starts after the
// last released one, so a record starting no later was released.
func (d *Deriver) dropReleasedArrivals() {
	for d.arrived.len() > 0 && d.released && d.arrived.front().start <= d.lastReleased {
		d.arrived.pop()
	}
}

// releaseTop derives and emits the earliest held connection.
func (d *Deriver) releaseTop(emit func(*Derived)) {
	i := d.pop()
	h := &d.slots[i]
	d.out.Conn = h.conn
	d.out.Ticket = h.ticket
	d.out.Late = false
	d.released, d.lastReleased = true, h.start
	d.derive(&d.out.Conn, h.start)
	emit(&d.out)
	d.out.Conn = connlog.Conn{} // keep no references to the slot's strings
	h.conn = connlog.Conn{}
	d.free = append(d.free, i)
}

// deriveNow derives and emits a connection that is not held, at
// effective start t.
func (d *Deriver) deriveNow(c *connlog.Conn, ticket uint64, t int64, late bool, emit func(*Derived)) {
	d.out.Conn = *c
	d.out.Ticket = ticket
	d.out.Late = late
	d.released, d.lastReleased = true, t
	d.derive(&d.out.Conn, t)
	emit(&d.out)
	d.out.Conn = connlog.Conn{}
}

// derive fills d.out.Record for c at effective start t and adds c to the
// windows.
func (d *Deriver) derive(c *connlog.Conn, t int64) {
	if n := d.state.add(c, t, &d.out.Record); n > 0 {
		d.evicted += uint64(n)
		if d.cfg.hooks.Evicted != nil {
			d.cfg.hooks.Evicted(n)
		}
	}
}

// less orders held connections by start, then arrival.
func (x *heapEntry) less(y *heapEntry) bool {
	if x.start != y.start {
		return x.start < y.start
	}
	return x.seq < y.seq
}

func (d *Deriver) push(e heapEntry) {
	d.heap = append(d.heap, e)
	h := d.heap
	j := len(h) - 1
	for j > 0 {
		p := (j - 1) / 2
		if !e.less(&h[p]) {
			break
		}
		h[j] = h[p]
		j = p
	}
	h[j] = e
}

// pop removes the earliest held connection and returns its slot.
func (d *Deriver) pop() int32 {
	h := d.heap
	top := h[0].slot
	n := len(h) - 1
	e := h[n]
	h = h[:n]
	j := 0
	for {
		l := 2*j + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].less(&h[l]) {
			m = r
		}
		if !h[m].less(&e) {
			break
		}
		h[j] = h[m]
		j = m
	}
	if n > 0 {
		h[j] = e
	}
	d.heap = h
	return top
}

// ring is a growable FIFO that reuses its buffer. Its capacity is a power
// of two, so an index wraps with a mask rather than a division.
type ring[T any] struct {
	buf        []T
	head, size int
}

func (r *ring[T]) len() int { return r.size }

func (r *ring[T]) front() *T { return &r.buf[r.head] }

func (r *ring[T]) push(v T) {
	if r.size == len(r.buf) {
		n := max(16, 2*len(r.buf))
		buf := make([]T, n)
		k := copy(buf, r.buf[r.head:])
		copy(buf[k:], r.buf[:r.head])
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = v
	r.size++
}

func (r *ring[T]) pop() T {
	v := r.buf[r.head]
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
	return v
}

func (r *ring[T]) clear() { r.head, r.size = 0, 0 }

// segments returns the elements, oldest first, as at most two slices.
func (r *ring[T]) segments() (a, b []T) {
	if r.head+r.size <= len(r.buf) {
		return r.buf[r.head : r.head+r.size], nil
	}
	return r.buf[r.head:], r.buf[:r.head+r.size-len(r.buf)]
}
