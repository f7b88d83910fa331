package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/features"
	"github.com/sagewall/sagewall/sinks"
)

// Connection logs (Zeek conn.log, VPC Flow Logs) take a longer path than
// NSL-KDD records: connlog parses a line into a connection, a per-partition
// features.Deriver holds it until its event-time window is final and derives
// the 41 features, and only then is it encoded into a batch. A held record's
// offset is tracked from the moment it is fetched, so it is committed only
// once its verdict exists, however long the deriver held it.
//
// State is per source partition: with the raw topic keyed by destination
// host (as the S3 bridge writes it), each host's connections meet in one
// deriver, and every feature is the same whichever instance owns the
// partition.

// connConfig is how the pipeline reads connection logs.
type connConfig struct {
	input      connlog.Input
	parserOpts []connlog.Option
	deriveOpts []features.Option
}

// WithConnLogs makes the pipeline read connection logs: input says which
// formats (connlog.Zeek, connlog.VPC, or connlog.Auto, which also lets NSL-KDD
// records through etl as before, telling them apart per record). Each source
// partition gets its own parser (a Zeek TSV or VPC header applies to the lines
// after it in that partition) and its own deriver.
func WithConnLogs(input connlog.Input, parserOpts []connlog.Option, deriveOpts ...features.Option) Option {
	return func(c *config) {
		c.conn = &connConfig{input: input, parserOpts: parserOpts, deriveOpts: deriveOpts}
	}
}

// WithPassthrough names the fields of a record, beyond its identity and the
// features, that its verdict carries (Zeek extension fields, extra JSON
// keys); "*" carries every one. Default: none.
func WithPassthrough(names ...string) Option {
	return func(c *config) { c.passthrough = names }
}

// keepFields filters fields in place to those named in keep.
func keepFields(fields []connlog.Field, keep []string) []connlog.Field {
	return slices.DeleteFunc(fields, func(f connlog.Field) bool { return !slices.Contains(keep, f.Name) })
}

// WithStateRebuild makes the pipeline rebuild a partition's deriver state
// when it starts reading the partition (at start, after a rebalance or a
// rewind): before the first fetched record it reads, through client, up to
// records records that precede it in the partition and feeds them to the
// deriver without judging them (they were judged before the commit point).
// Features after a restart then equal those of an uninterrupted run as long
// as every host's windows (its last 100 connections within the host
// horizon, the last 2 s) lie within those records. Needs WithConnLogs.
func WithStateRebuild(client *kafka.Client, records int) Option {
	return func(c *config) { c.rebuildClient, c.rebuildRecords = client, records }
}

// WithSensorHeader names the Kafka header that carries the sensor of a
// connection whose record names none; fromKey falls back to the message key.
func WithSensorHeader(header string, fromKey bool) Option {
	return func(c *config) { c.sensorHeader, c.sensorFromKey = header, fromKey }
}

// connPartition is one source partition's connection-log state.
type connPartition struct {
	parser    *connlog.Parser
	deriver   *features.Deriver
	sawHeader bool // a header line arrived: plain lines are this format's, not NSL-KDD CSV
}

// heldRecord is what the pipeline keeps of a record the deriver holds; its
// source is offset's and tp's.
type heldRecord struct {
	offset trackedOffset
	tp     topicPartition
	time   time.Time
	ticket uint64 // the deriver's ticket; notHeld when the slot is free
}

func (h *heldRecord) source() sinks.Source {
	return sinks.Source{Topic: h.tp.topic, Partition: h.tp.partition, Offset: h.offset.offset}
}

// notHeld is the ticket of a record the pipeline does not hold (a rebuild
// replays them), and of a free slot: its slot index is never allocated.
const notHeld = ^uint64(0)

// connState is the connection-log side of one Run.
type connState struct {
	cfg            *config // the pipeline's; cfg.conn is set
	passthroughAll bool    // input.passthrough is "*"
	deriveOpts     []features.Option
	partitions     map[topicPartition]*connPartition
	// Held records by slot, the low 32 bits of their ticket (the high
	// ones count): a slice and a free list cost less per record than a map.
	held       []heldRecord
	freeHeld   []uint32
	nextTicket uint64
	conn       connlog.Conn // parse target, reused
	// The derivers' clock: epoch plus the monotonic time since, which
	// costs half a time.Now and never steps back, so arrivals are in
	// order (see noteDeadline).
	epoch     time.Time
	nextFlush time.Time // earliest deriver deadline; zero when nothing is held
	// The last label mapped by KDDLabel, which lower-cases (allocating)
	// and the labels of a capture repeat.
	label, kddLabel string
}

func newConnState(cfg *config) *connState {
	return &connState{
		cfg:            cfg,
		passthroughAll: slices.Contains(cfg.passthrough, "*"),
		deriveOpts:     slices.Concat(cfg.conn.deriveOpts, []features.Option{features.WithHooks(cfg.metrics.derivationHooks())}),
		partitions:     map[topicPartition]*connPartition{},
		epoch:          time.Now(),
	}
}

// partition returns tp's state, fresh (and reported so) when first seen or
// rewound: the held records of the old state are forgotten, since they are
// fetched again from the commit point.
func (s *connState) partition(tp topicPartition, rewound bool) (*connPartition, bool) {
	p := s.partitions[tp]
	fresh := p == nil || rewound
	if fresh {
		if p != nil {
			for i := range s.held {
				if h := &s.held[i]; h.ticket != notHeld && h.tp == tp {
					s.release(uint32(i))
				}
			}
		}
		p = &connPartition{
			parser:  connlog.NewParser(s.cfg.conn.input, s.cfg.conn.parserOpts...),
			deriver: features.New(s.deriveOpts...),
		}
		s.partitions[tp] = p
	}
	return p, fresh
}

// wants reports whether line goes the connection-log way in partition p.
func (s *connState) wants(p *connPartition, line []byte) bool {
	return s.cfg.conn.input != connlog.Auto || p.sawHeader || connlog.IsConnLogLine(line)
}

// addConn parses m as a connection-log line and hands it to its partition's
// deriver, which releases every connection now final into batches. A header
// line has no output: its offset rides on the current batch. A bad line is
// a dead letter.
func (r *run) addConn(p *connPartition, tp topicPartition, offset trackedOffset, m *kafka.Message) {
	s := r.conns
	c := &s.conn
	var ok bool
	var err error
	if reason := headerValue(m, connlog.ParseErrorHeader); reason != nil {
		err = upstreamParseError(reason)
	} else {
		ok, err = p.parser.Parse(m.Value, c)
	}
	if err != nil {
		b := r.current()
		if b == nil {
			return
		}
		b.offsets = append(b.offsets, offset)
		b.bytes += len(m.Value)
		r.deadLetter(b, m, err)
		r.fullCheck()
		return
	}
	if !ok {
		p.sawHeader = true
		b := r.current()
		if b == nil {
			return
		}
		b.offsets = append(b.offsets, offset)
		r.fullCheck()
		return
	}
	if c.Sensor == "" {
		c.Sensor = sensorOf(m, s.cfg.sensorHeader, s.cfg.sensorFromKey)
	}
	if !s.passthroughAll {
		c.Extra = keepFields(c.Extra, s.cfg.passthrough)
	}
	ticket := s.hold(heldRecord{offset: offset, tp: tp, time: m.Time})
	p.deriver.Add(c, ticket, s.now(), r.emitDerived)
	s.noteDeadline(p)
}

// hold keeps h until its connection is released and returns its ticket.
func (s *connState) hold(h heldRecord) uint64 {
	var i uint32
	if n := len(s.freeHeld); n > 0 {
		i, s.freeHeld = s.freeHeld[n-1], s.freeHeld[:n-1]
	} else {
		i = uint32(len(s.held))
		s.held = append(s.held, heldRecord{})
	}
	h.ticket = s.nextTicket<<32 | uint64(i)
	s.nextTicket++
	s.held[i] = h
	return h.ticket
}

// take returns and forgets the record held under ticket; ok is false when
// none is (a replayed record, or its partition was rewound).
func (s *connState) take(ticket uint64) (h heldRecord, ok bool) {
	i := uint32(ticket)
	if int(i) >= len(s.held) || s.held[i].ticket != ticket {
		return heldRecord{}, false
	}
	h = s.held[i]
	s.release(i)
	return h, true
}

// release frees held slot i.
func (s *connState) release(i uint32) {
	s.held[i] = heldRecord{ticket: notHeld}
	s.freeHeld = append(s.freeHeld, i)
}

// now reads the derivers' clock.
func (s *connState) now() time.Time { return s.epoch.Add(time.Since(s.epoch)) }

// rebuild replays up to rebuildRecords records before offset first of tp
// into p's deriver (see WithStateRebuild). Their tickets are never held, so
// what they release updates state and is otherwise ignored. A failure costs
// exactness, not records: it is logged and counted, and judging goes on.
func (r *run) rebuild(p *connPartition, tp topicPartition, first int64) {
	s := r.conns
	client, n := s.cfg.rebuildClient, int64(s.cfg.rebuildRecords)
	if client == nil || n <= 0 || first <= 0 {
		return
	}
	log := r.p.cfg.logger.With("topic", tp.topic, "partition", tp.partition)
	start := s.now()
	offset, replayed := max(0, first-n), 0
	var c connlog.Conn
	for offset < first {
		ctx, cancel := context.WithTimeout(r.workCtx, 30*time.Second)
		resp, err := client.Fetch(ctx, &kafka.FetchRequest{
			Topic: tp.topic, Partition: tp.partition, Offset: offset, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond,
		})
		if err == nil && resp.Error != nil {
			if errors.Is(resp.Error, kafka.OffsetOutOfRange) && resp.LogStartOffset > offset {
				cancel()
				offset = resp.LogStartOffset // retention removed the start
				continue
			}
			err = resp.Error
		}
		if err != nil {
			cancel()
			r.p.cfg.metrics.addRebuild("error")
			log.Warn("rebuilding connection state: features of the first connections may miss older ones", "from_offset", offset, "err", err)
			return
		}
		progressed := false
		for {
			rec, err := resp.Records.ReadRecord()
			if err != nil {
				break // io.EOF, or a truncated last record: fetched again from offset
			}
			if rec.Offset < offset {
				continue // a compressed batch starts before the requested offset
			}
			if rec.Offset >= first {
				offset = first
				break
			}
			offset, progressed = rec.Offset+1, true
			if rec.Value == nil {
				continue
			}
			value, err := kafka.ReadAll(rec.Value)
			if err != nil || !s.wants(p, value) {
				continue
			}
			if ok, err := p.parser.Parse(value, &c); err != nil || !ok {
				if err == nil {
					p.sawHeader = true
				}
				continue
			}
			p.deriver.Add(&c, notHeld, start, r.emitDerived)
			replayed++
		}
		cancel()
		if !progressed && offset < first {
			break // nothing readable before first (e.g. transaction markers only)
		}
	}
	r.p.cfg.metrics.addRebuild("ok")
	log.Info("rebuilt connection state", "records", replayed, "up_to_offset", first, "took", time.Since(start))
}

// identify fills c with the connection an NSL-KDD record names: the
// identity keys of a JSON record (src_ip, dst_ip, ...) and the configured
// passthrough fields, and the sensor from the configured header or key.
func (r *run) identify(c *connlog.Conn, m *kafka.Message) {
	if len(m.Value) > 0 && m.Value[0] == '{' {
		r.identity.ParseIdentity(m.Value, c, r.p.cfg.passthrough)
	} else {
		*c = connlog.Conn{}
	}
	if c.Sensor == "" {
		c.Sensor = sensorOf(m, r.p.cfg.sensorHeader, r.p.cfg.sensorFromKey)
	}
}

// headerValue returns the value of m's header key, or nil.
func headerValue(m *kafka.Message, key string) []byte {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// sensorOf names the sensor from the header named header, or the key.
func sensorOf(m *kafka.Message, header string, fromKey bool) string {
	if header != "" {
		if v := headerValue(m, header); v != nil {
			return string(v)
		}
	}
	if fromKey {
		return string(m.Key)
	}
	return ""
}

// noteDeadline makes p's deadline the next flush when it is earlier. On
// the derivers' clock arrivals are in order, so a deadline once noted (or
// recomputed by flushDue) is no later than any arriving after it: only
// an unset next flush needs asking for.
func (s *connState) noteDeadline(p *connPartition) {
	if !s.nextFlush.IsZero() {
		return
	}
	if d, ok := p.deriver.Deadline(); ok {
		// Deadline's time has no monotonic reading; on the epoch's it
		// compares with time.Now's.
		s.nextFlush = s.epoch.Add(d.Sub(s.epoch))
	}
}

// flushDue releases what every deriver has held past its hold time,
// recomputes the next deadline and updates the state gauges.
func (r *run) flushDue(now time.Time) {
	s := r.conns
	s.nextFlush = time.Time{}
	now = s.epoch.Add(now.Sub(s.epoch)) // on the derivers' clock
	held, hosts := 0, 0
	for _, p := range s.partitions {
		p.deriver.Flush(now, r.emitDerived)
		if d, ok := p.deriver.Deadline(); ok {
			if d = s.epoch.Add(d.Sub(s.epoch)); s.nextFlush.IsZero() || d.Before(s.nextFlush) {
				s.nextFlush = d
			}
		}
		st := p.deriver.Stats()
		held, hosts = held+st.Held, hosts+st.Hosts
	}
	r.p.cfg.metrics.setConnState(held, hosts)
}

// emitDerived puts one released connection into the current batch.
func (r *run) emitDerived(d *features.Derived) {
	s := r.conns
	h, ok := s.take(d.Ticket)
	if !ok {
		return // replayed, or its partition was rewound: it is fetched again
	}
	b := r.current()
	if b == nil {
		return
	}
	b.offsets = append(b.offsets, h.offset)
	v := &b.verdicts[b.n]
	v.Record = d.Record
	if err := r.encoder.EncodeRecord(&v.Record, b.rows[b.n*r.p.width:(b.n+1)*r.p.width]); err != nil {
		// A connection NSL-KDD has no features for: a transport other than
		// tcp, udp and icmp (sctp, gre, ...) has no protocol_type.
		r.deadLetterConn(b, h, &d.Conn, err)
		r.fullCheck()
		return
	}
	v.Source, v.Time = h.source(), h.time
	v.Conn = d.Conn
	v.Conn.Extra = append(v.Conn.Extra[:0:0], d.Conn.Extra...)
	v.FeaturesSource = d.Conn.Format.Source()
	if d.Conn.Label != s.label {
		s.label, s.kddLabel = d.Conn.Label, connlog.KDDLabel(d.Conn.Label)
	}
	v.Record.Label = s.kddLabel
	b.n++
	r.fullCheck()
}

// deadLetterConn makes a held connection a dead letter (its original bytes
// are gone; the connection is rewritten as Zeek JSON).
func (r *run) deadLetterConn(b *batch, h heldRecord, c *connlog.Conn, err error) {
	reason, field := rejection(err)
	source := h.source()
	b.letters = append(b.letters, sinks.DeadLetter{
		Source: source,
		Time:   h.time,
		Value:  connlog.AppendZeekJSON(nil, c),
		Reason: reason,
		Err:    fmt.Sprintf("%s: %v", source.Key(), err),
	})
	r.p.cfg.metrics.addRejected(reason, field)
}

// upstreamParseError is a producer's reason for a line it could not parse
// (the connlog.ParseErrorHeader).
type upstreamParseError string

func (e upstreamParseError) Error() string { return "parsing at the producer: " + string(e) }

// connRejection names a connlog parse error's reason and field.
func connRejection(err error) (reason, field string, ok bool) {
	var upstream upstreamParseError
	if errors.As(err, &upstream) {
		return "upstream_parse_error", "", true
	}
	var fieldErr *connlog.FieldError
	if !errors.As(err, &fieldErr) {
		return "", "", false
	}
	return fieldErr.Code(), fieldErr.Field, true
}
