package features

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
)

var (
	t0      = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	wall0   = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	victim  = netip.MustParseAddr("10.0.0.1")
	victim2 = netip.MustParseAddr("10.0.0.2")
	outside = netip.MustParseAddr("192.0.2.7")
)

// numIndex maps a numeric feature name to its index in Record.Numeric.
var numIndex = func() map[string]int {
	m := map[string]int{}
	i := 0
	for _, n := range etl.FieldNames() {
		if n == "protocol_type" || n == "service" || n == "flag" {
			continue
		}
		m[n] = i
		i++
	}
	return m
}()

func feature(r *etl.Record, name string) float64 {
	i, ok := numIndex[name]
	if !ok {
		panic("no feature " + name)
	}
	return r.Numeric[i]
}

// conn builds a TCP connection at t0+at from outside:sport to dst:dport.
func conn(at time.Duration, dst netip.Addr, sport, dport uint16, state string) connlog.Conn {
	return connlog.Conn{
		Format: connlog.ZeekJSON, Start: t0.Add(at), Proto: "tcp", State: state,
		OrigAddr: outside, OrigPort: sport, RespAddr: dst, RespPort: dport,
	}
}

// derived is what a test keeps of an emitted Derived.
type derived struct {
	Ticket uint64
	Start  time.Time
	Record etl.Record
	Late   bool
}

// collect returns an emit that appends copies to *out.
func collect(out *[]derived) func(*Derived) {
	return func(d *Derived) {
		*out = append(*out, derived{Ticket: d.Ticket, Start: d.Conn.Start, Record: d.Record, Late: d.Late})
	}
}

// run adds conns in order (ticket = index), all at one wall-clock instant,
// then flushes, and returns the releases in emit order.
func run(t *testing.T, conns []connlog.Conn, opts ...Option) []derived {
	t.Helper()
	d := New(opts...)
	var out []derived
	for i := range conns {
		d.Add(&conns[i], uint64(i), wall0, collect(&out))
	}
	d.FlushAll(collect(&out))
	if len(out) != len(conns) {
		t.Fatalf("released %d of %d connections", len(out), len(conns))
	}
	return out
}

// byTicket orders releases by ticket.
func byTicket(out []derived) []derived {
	s := slices.Clone(out)
	slices.SortFunc(s, func(a, b derived) int { return int(a.Ticket) - int(b.Ticket) })
	return s
}

// want checks the named features of a record.
func want(t *testing.T, what string, r *etl.Record, features map[string]float64) {
	t.Helper()
	for name, v := range features {
		if got := feature(r, name); got != v {
			t.Errorf("%s: %s = %v, want %v", what, name, got, v)
		}
	}
}

func TestRecordBasics(t *testing.T) {
	c := conn(0, victim, 40000, 80, "SF")
	c.Service, c.Duration, c.OrigBytes, c.RespBytes = "http", 2999*time.Millisecond, 215, 45076
	out := run(t, []connlog.Conn{c})
	r := &out[0].Record
	if r.Format != etl.Derived || r.Label != "" || r.Difficulty != -1 {
		t.Errorf("format/label/difficulty = %v %q %d", r.Format, r.Label, r.Difficulty)
	}
	if r.ProtocolType != "tcp" || r.Service != "http" || r.Flag != "SF" {
		t.Errorf("categoricals = %s %s %s", r.ProtocolType, r.Service, r.Flag)
	}
	want(t, "basic", r, map[string]float64{
		"duration": 2, "src_bytes": 215, "dst_bytes": 45076, "land": 0, "wrong_fragment": 0, "urgent": 0,
		"logged_in": 0, "hot": 0,
		"count": 1, "srv_count": 1, "same_srv_rate": 1, "diff_srv_rate": 0, "srv_diff_host_rate": 0,
		"dst_host_count": 1, "dst_host_srv_count": 1, "dst_host_same_srv_rate": 1, "dst_host_same_src_port_rate": 1,
	})
	// The record encodes.
	enc := etl.NewEncoder(etl.DefaultSpec())
	dst := make([]float32, etl.Width)
	if err := enc.EncodeRecord(r, dst); err != nil {
		t.Fatalf("EncodeRecord: %v", err)
	}
}

func TestOtherTransportIsRejectedByTheEncoder(t *testing.T) {
	c := conn(0, victim, 1, 1, "OTH")
	c.Proto = "sctp"
	out := run(t, []connlog.Conn{c})
	r := &out[0].Record
	if r.ProtocolType != "sctp" || r.Service != "other" {
		t.Fatalf("protocol, service = %s, %s", r.ProtocolType, r.Service)
	}
	enc := etl.NewEncoder(etl.DefaultSpec())
	if err := enc.EncodeRecord(r, make([]float32, etl.Width)); err == nil || !strings.Contains(err.Error(), "protocol_type") {
		t.Fatalf("EncodeRecord = %v, want an unknown protocol_type", err)
	}
}

func TestLand(t *testing.T) {
	tests := []struct {
		name string
		c    connlog.Conn
		land float64
	}{
		{"same host and port", connlog.Conn{Start: t0, Proto: "tcp", State: "S0", OrigAddr: victim, OrigPort: 139, RespAddr: victim, RespPort: 139}, 1},
		{"same host, other port", connlog.Conn{Start: t0, Proto: "tcp", State: "S0", OrigAddr: victim, OrigPort: 138, RespAddr: victim, RespPort: 139}, 0},
		{"other host, same port", connlog.Conn{Start: t0, Proto: "tcp", State: "S0", OrigAddr: outside, OrigPort: 139, RespAddr: victim, RespPort: 139}, 0},
		{"icmp to itself", connlog.Conn{Start: t0, Proto: "icmp", State: "OTH", OrigAddr: victim, OrigPort: 8, RespAddr: victim, RespPort: 0}, 1},
		{"no addresses", connlog.Conn{Start: t0, Proto: "tcp", State: "S0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, []connlog.Conn{tt.c})
			want(t, tt.name, &out[0].Record, map[string]float64{"land": tt.land})
		})
	}
}

func TestSYNFlood(t *testing.T) {
	// 150 half-open connections to victim:80, 10 ms apart, each from its
	// own source port: all within 2 s of each other.
	var conns []connlog.Conn
	for i := range 150 {
		conns = append(conns, conn(time.Duration(i)*10*time.Millisecond, victim, uint16(20000+i), 80, "S0"))
	}
	out := byTicket(run(t, conns))
	for _, i := range []int{0, 9, 99, 100, 149} {
		n := float64(i + 1)
		want(t, fmt.Sprintf("conn %d", i), &out[i].Record, map[string]float64{
			"count": n, "srv_count": n, "serror_rate": 1, "srv_serror_rate": 1, "rerror_rate": 0,
			"same_srv_rate": 1, "diff_srv_rate": 0, "srv_diff_host_rate": 0,
			"dst_host_count": min(n, 100), "dst_host_srv_count": min(n, 100),
			"dst_host_serror_rate": 1, "dst_host_srv_serror_rate": 1, "dst_host_rerror_rate": 0,
			"dst_host_same_src_port_rate": rate(1, min(n, 100)), "dst_host_srv_diff_host_rate": 0,
		})
	}
	if out[0].Record.Flag != "S0" || out[0].Record.Service != "http" {
		t.Errorf("flag, service = %s, %s", out[0].Record.Flag, out[0].Record.Service)
	}
}

func TestPortScan(t *testing.T) {
	// One source probes 12 ports of victim with distinct KDD services,
	// 50 ms apart; closed ports answer with RST (REJ).
	ports := []uint16{21, 22, 23, 25, 79, 80, 110, 111, 113, 119, 143, 31337}
	var conns []connlog.Conn
	for i, p := range ports {
		conns = append(conns, conn(time.Duration(i)*50*time.Millisecond, victim, 55555, p, "REJ"))
	}
	out := byTicket(run(t, conns))
	last := &out[len(out)-1].Record
	if last.Service != "private" {
		t.Errorf("service of port 31337 = %s, want private", last.Service)
	}
	want(t, "last probe", last, map[string]float64{
		"count": 12, "srv_count": 1, "rerror_rate": 1, "srv_rerror_rate": 1, "serror_rate": 0,
		"same_srv_rate": rate(1, 12), "diff_srv_rate": rate(11, 12), // 0.08, 0.92
		"dst_host_count": 12, "dst_host_srv_count": 1, "dst_host_same_srv_rate": 0.08, "dst_host_diff_srv_rate": 0.92,
		"dst_host_same_src_port_rate": 1, "dst_host_rerror_rate": 1, "dst_host_srv_rerror_rate": 1,
	})
}

func TestBruteForce(t *testing.T) {
	// 40 ssh logins from one source, 100 ms apart, each from a new port;
	// a second source's ssh connection to another host sits in between.
	var conns []connlog.Conn
	for i := range 40 {
		c := conn(time.Duration(i)*100*time.Millisecond, victim, uint16(30000+i), 22, "SF")
		c.Service = "ssh"
		conns = append(conns, c)
	}
	other := conn(1950*time.Millisecond, victim2, 40000, 22, "SF")
	conns = append(conns, other)
	out := byTicket(run(t, conns))
	// Conn 19 at 1.9 s: 20 ssh connections to victim within [−0.1 s, 1.9 s].
	want(t, "conn 19", &out[19].Record, map[string]float64{
		"count": 20, "srv_count": 20, "same_srv_rate": 1, "diff_srv_rate": 0, "srv_diff_host_rate": 0,
		"dst_host_count": 20, "dst_host_srv_count": 20, "dst_host_same_src_port_rate": 0.05,
	})
	// Conn 20 at 2.0 s: the window [0 s, 2 s] holds conns 0–20 to victim
	// and the one to victim2 at 1.95 s: srv_count 22, 1 of them elsewhere.
	want(t, "conn 20", &out[20].Record, map[string]float64{
		"count": 21, "srv_count": 22, "same_srv_rate": 1, "srv_diff_host_rate": rate(1, 22),
	})
	// Conn 39 at 3.9 s: [1.9 s, 3.9 s] holds conns 19–39 (21) to victim;
	// victim2's at 1.95 s is in too.
	want(t, "conn 39", &out[39].Record, map[string]float64{
		"count": 21, "srv_count": 22, "dst_host_count": 40, "dst_host_srv_count": 40,
		"dst_host_same_srv_rate": 1, "dst_host_srv_diff_host_rate": 0,
	})
	// victim2's connection: its host has one connection; the service 20 in
	// [−0.05 s, 1.95 s] (conns 0–19 plus itself = 21), 20 to another host.
	want(t, "victim2", &out[40].Record, map[string]float64{
		"count": 1, "srv_count": 21, "srv_diff_host_rate": rate(20, 21), "dst_host_count": 1,
	})
}

func TestDstHostSrvDiffHostRate(t *testing.T) {
	// Four http connections to victim from three sources, then one from the first.
	srcs := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1"}
	var conns []connlog.Conn
	for i, s := range srcs {
		c := conn(time.Duration(i)*time.Minute, victim, 40000, 80, "SF")
		c.OrigAddr = netip.MustParseAddr(s)
		conns = append(conns, c)
	}
	out := byTicket(run(t, conns))
	// The last: 4 http conns to victim, 2 from other sources than 192.0.2.1.
	want(t, "last", &out[3].Record, map[string]float64{
		"count": 1, "dst_host_count": 4, "dst_host_srv_count": 4, "dst_host_srv_diff_host_rate": 0.5,
		"dst_host_same_src_port_rate": 1,
	})
}

func TestTimeWindowEdges(t *testing.T) {
	// [t−2s, t]: a connection exactly 2 s before is in, 2 s + 1 ns before is out.
	tests := []struct {
		name  string
		gap   time.Duration
		count float64
	}{
		{"1 s before", time.Second, 2},
		{"exactly 2 s before", 2 * time.Second, 2},
		{"2 s + 1 ns before", 2*time.Second + 1, 1},
		{"same instant", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := byTicket(run(t, []connlog.Conn{
				conn(0, victim, 40000, 80, "SF"),
				conn(tt.gap, victim, 40001, 80, "SF"),
			}))
			want(t, "second", &out[1].Record, map[string]float64{"count": tt.count, "srv_count": tt.count, "dst_host_count": 2})
		})
	}
}

func TestHostWindowHolds100(t *testing.T) {
	// 101 connections a minute apart (never two in 2 s): the first is an
	// S0, the rest SF. The 100th still sees the S0; the 101st pushed it out.
	var conns []connlog.Conn
	for i := range 101 {
		state := "SF"
		if i == 0 {
			state = "S0"
		}
		conns = append(conns, conn(time.Duration(i)*time.Second*3, victim, uint16(40000+i), 80, state))
	}
	out := byTicket(run(t, conns))
	want(t, "100th", &out[99].Record, map[string]float64{"count": 1, "dst_host_count": 100, "dst_host_serror_rate": 0.01})
	want(t, "101st", &out[100].Record, map[string]float64{"count": 1, "dst_host_count": 100, "dst_host_serror_rate": 0})
}

func TestHostHorizon(t *testing.T) {
	// The horizon bounds the host window, inclusive, and evicts idle hosts.
	var evicted []int
	conns := []connlog.Conn{
		conn(0, victim, 40000, 80, "SF"),
		conn(0, victim2, 40000, 80, "SF"),
		conn(time.Minute, victim, 40001, 80, "SF"),      // exactly one horizon later: sees the first
		conn(time.Minute+1, victim, 40002, 80, "SF"),    // the first is beyond the horizon
		conn(2*time.Minute, victim2, 40001, 80, "SF"),   // victim2 evicted at conn 3: fresh
		conn(3*time.Minute+2, outside, 40001, 80, "SF"), // evicts victim (1 min + 1 ns) and victim2 (2 min) at once
	}
	d := New(WithHostHorizon(time.Minute), WithReorderWindow(0), WithHooks(Hooks{Evicted: func(n int) { evicted = append(evicted, n) }}))
	var out []derived
	for i := range conns {
		d.Add(&conns[i], uint64(i), wall0, collect(&out))
		if i == 3 {
			if st := d.Stats(); st.Hosts != 1 || st.Evicted != 1 {
				t.Errorf("after conn 3: stats %+v, want victim2 evicted", st)
			}
		}
	}
	d.FlushAll(collect(&out))
	out = byTicket(out)
	want(t, "conn 2", &out[2].Record, map[string]float64{"dst_host_count": 2})
	want(t, "conn 3", &out[3].Record, map[string]float64{"dst_host_count": 2})
	want(t, "victim2 again", &out[4].Record, map[string]float64{"dst_host_count": 1})
	if st := d.Stats(); st.Evicted != 3 || st.Hosts != 1 || !slices.Equal(evicted, []int{1, 2}) {
		t.Errorf("stats %+v, hooks %v: want 3 evictions, hooks [1 2]", st, evicted)
	}
}

func TestMaxHosts(t *testing.T) {
	// Three hosts, room for two: the least recently seen goes.
	conns := []connlog.Conn{
		conn(0, victim, 40000, 80, "SF"),
		conn(time.Second, victim2, 40000, 80, "SF"),
		conn(2*time.Second, victim, 40001, 80, "SF"), // victim is now the most recent
		conn(3*time.Second, outside, 40000, 80, "SF"),
		conn(4*time.Second, victim, 40002, 80, "SF"),
		conn(5*time.Second, victim2, 40001, 80, "SF"),
	}
	d := New(WithMaxHosts(2), WithReorderWindow(0))
	var out []derived
	for i := range conns {
		d.Add(&conns[i], uint64(i), wall0, collect(&out))
	}
	out = byTicket(out)
	want(t, "victim kept", &out[4].Record, map[string]float64{"dst_host_count": 3})
	want(t, "victim2 evicted", &out[5].Record, map[string]float64{"dst_host_count": 1})
	if st := d.Stats(); st.Hosts != 2 || st.Evicted != 2 {
		t.Errorf("stats %+v, want 2 hosts, 2 evicted", st)
	}
}

func TestMaxHostsEvictsWithinTimeWindow(t *testing.T) {
	// A host evicted while its connections are in the time window: its
	// counts restart, the per-service counts keep them.
	conns := []connlog.Conn{
		conn(0, victim, 40000, 80, "S0"),
		conn(100*time.Millisecond, victim2, 40000, 80, "S0"),
		conn(200*time.Millisecond, victim, 40001, 80, "SF"),
		conn(2100*time.Millisecond, victim2, 40001, 80, "SF"),
		conn(2200*time.Millisecond, victim2, 40002, 80, "SF"), // expires the old victim2's entry at 0.1 s
	}
	out := byTicket(run(t, conns, WithMaxHosts(1)))
	want(t, "victim again", &out[2].Record, map[string]float64{"count": 1, "srv_count": 3, "serror_rate": 0, "srv_serror_rate": 0.67, "srv_diff_host_rate": 0.67})
	want(t, "victim2 again", &out[3].Record, map[string]float64{"count": 1, "srv_count": 3, "srv_serror_rate": 0.33, "dst_host_count": 1})
	want(t, "victim2 twice", &out[4].Record, map[string]float64{"count": 2, "srv_count": 3, "srv_serror_rate": 0, "same_srv_rate": 1, "dst_host_count": 2})
}

// mixedTraffic is a deterministic mix of hosts, services and flags with
// distinct starts, 1–30 ms apart.
func mixedTraffic(n int, seed uint64) []connlog.Conn {
	rng := rand.New(rand.NewPCG(seed, 1))
	dsts := make([]netip.Addr, 20)
	for i := range dsts {
		dsts[i] = netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})
	}
	states := []string{"SF", "SF", "SF", "S0", "REJ", "RSTO", "S1", "SH", "OTH"}
	ports := []uint16{80, 443, 22, 25, 53, 8080, 31337, 6000}
	at := time.Duration(0)
	conns := make([]connlog.Conn, n)
	for i := range conns {
		at += time.Duration(1+rng.IntN(30)) * time.Millisecond
		c := conn(at, dsts[rng.IntN(len(dsts))], uint16(1024+rng.IntN(5000)), ports[rng.IntN(len(ports))], states[rng.IntN(len(states))])
		c.OrigAddr = netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(8))})
		if rng.IntN(10) == 0 {
			c.Proto, c.OrigPort, c.RespPort = "udp", 5353, 53
		}
		c.Duration = time.Duration(rng.IntN(5000)) * time.Millisecond
		c.OrigBytes = int64(rng.IntN(2000))
		conns[i] = c
	}
	return conns
}

func TestShuffledWithinReorderWindowIsInOrder(t *testing.T) {
	inOrder := run(t, mixedTraffic(3000, 1))
	for seed := range uint64(5) {
		conns := mixedTraffic(3000, 1)
		// Shuffle locally: swap each connection with one up to 120 ms
		// later (< 5 s), as an end-ordered log reorders starts.
		rng := rand.New(rand.NewPCG(seed, 2))
		for i := range conns {
			j := i + rng.IntN(min(8, len(conns)-i))
			conns[i], conns[j] = conns[j], conns[i]
		}
		// Tickets follow the in-order index so releases compare by ticket.
		d := New()
		var out []derived
		idx := make(map[time.Time]uint64, len(conns))
		for i, c := range inOrderConns(3000, 1) {
			idx[c.Start] = uint64(i)
		}
		for i := range conns {
			d.Add(&conns[i], idx[conns[i].Start], wall0, collect(&out))
		}
		d.FlushAll(collect(&out))
		if st := d.Stats(); st.Late != 0 {
			t.Fatalf("seed %d: %d late", seed, st.Late)
		}
		for i := range out {
			if out[i].Ticket != uint64(i) {
				t.Fatalf("seed %d: release %d is ticket %d: not in event-time order", seed, i, out[i].Ticket)
			}
			if out[i].Record != inOrder[i].Record {
				t.Fatalf("seed %d: conn %d features differ:\n%+v\n%+v", seed, i, out[i].Record, inOrder[i].Record)
			}
		}
	}
}

func inOrderConns(n int, seed uint64) []connlog.Conn { return mixedTraffic(n, seed) }

func TestReleaseOrderAndWatermark(t *testing.T) {
	// Reorder window 5 s: a connection is held until one starting 5 s
	// later arrives; ties leave in arrival order.
	d := New(WithReorderWindow(5 * time.Second))
	var out []derived
	add := func(at time.Duration, ticket uint64) {
		c := conn(at, victim, 40000, 80, "SF")
		d.Add(&c, ticket, wall0, collect(&out))
	}
	add(3*time.Second, 0)
	add(time.Second, 1)
	add(time.Second, 2)
	add(5*time.Second, 3)
	if len(out) != 0 || d.Stats().Held != 4 {
		t.Fatalf("released %d, held %d before the watermark passed", len(out), d.Stats().Held)
	}
	add(6*time.Second, 4) // watermark 1 s: releases 1, 2
	add(8*time.Second, 5) // watermark 3 s: releases 0
	var tickets []uint64
	for _, o := range out {
		tickets = append(tickets, o.Ticket)
	}
	if !slices.Equal(tickets, []uint64{1, 2, 0}) {
		t.Fatalf("released %v, want [1 2 0]", tickets)
	}
	// The two at 1 s: the second sees the first.
	want(t, "tie", &out[1].Record, map[string]float64{"count": 2})
	want(t, "at 3 s", &out[2].Record, map[string]float64{"count": 3})
}

func TestLateArrival(t *testing.T) {
	var lateHook int
	d := New(WithReorderWindow(time.Second), WithHooks(Hooks{Late: func() { lateHook++ }}))
	var out []derived
	add := func(at time.Duration, ticket uint64) {
		c := conn(at, victim, uint16(40000+ticket), 80, "S0")
		d.Add(&c, ticket, wall0, collect(&out))
	}
	add(10*time.Second, 0)
	add(10500*time.Millisecond, 1)
	add(12*time.Second, 2) // watermark 11 s: releases 0 and 1
	if len(out) != 2 {
		t.Fatalf("released %d, want 2", len(out))
	}
	// Starts at 9 s, before the last release (10.5 s): late, emitted at once,
	// derived as if at 10.5 s (window [8.5 s, 10.5 s] holds 0, 1 and itself).
	add(9*time.Second, 3)
	if len(out) != 3 || !out[2].Late || out[2].Ticket != 3 {
		t.Fatalf("late connection not emitted at once as late: %+v", out)
	}
	if !out[2].Start.Equal(t0.Add(9 * time.Second)) {
		t.Errorf("late connection's Conn.Start changed to %v", out[2].Start)
	}
	want(t, "late", &out[2].Record, map[string]float64{"count": 3, "dst_host_count": 3, "serror_rate": 1})
	// Starting exactly with the last release is not late.
	add(10500*time.Millisecond, 4)
	if out[3].Late || out[3].Ticket != 4 {
		t.Errorf("a connection starting with the last release: %+v", out[3])
	}
	d.FlushAll(collect(&out))
	// Conn 2 at 12 s counts everything in [10 s, 12 s]: 0, 1, 3 (placed at
	// 10.5 s), 4 and itself.
	want(t, "after late", &out[4].Record, map[string]float64{"count": 5})
	if st := d.Stats(); st.Late != 1 || lateHook != 1 {
		t.Errorf("late: stats %d, hook %d, want 1", st.Late, lateHook)
	}
}

func TestZeroStart(t *testing.T) {
	// A masked timestamp is placed at the watermark: released at once,
	// never late, counted with what is released around it.
	d := New(WithReorderWindow(time.Second))
	var out []derived
	z := conn(0, victim, 40000, 80, "SF")
	z.Start = time.Time{}
	d.Add(&z, 0, wall0, collect(&out)) // nothing seen: placed at the epoch
	d.Add(&z, 1, wall0, collect(&out))
	if len(out) != 2 || out[0].Late || out[1].Late {
		t.Fatalf("zero-start connections: %+v", out)
	}
	want(t, "second masked", &out[1].Record, map[string]float64{"count": 2, "dst_host_count": 2})
	c := conn(10*time.Second, victim, 40001, 80, "SF")
	d.Add(&c, 2, wall0, collect(&out)) // held; watermark 9 s
	d.Add(&z, 3, wall0, collect(&out)) // placed at 9 s: released before conn 2
	if len(out) != 3 || out[2].Ticket != 3 || out[2].Late {
		t.Fatalf("masked after a start: %+v", out[2:])
	}
	want(t, "masked at 9 s", &out[2].Record, map[string]float64{"count": 1, "dst_host_count": 1}) // the epoch ones are beyond the horizon
	d.FlushAll(collect(&out))
	want(t, "conn 2", &out[3].Record, map[string]float64{"count": 2, "dst_host_count": 2})
}

func TestHoldTime(t *testing.T) {
	d := New(WithReorderWindow(5*time.Second), WithHoldTime(2*time.Second))
	var out []derived
	if _, ok := d.Deadline(); ok {
		t.Fatal("deadline with nothing held")
	}
	a := conn(10*time.Second, victim, 40000, 80, "SF")
	b := conn(11*time.Second, victim, 40001, 80, "SF")
	c := conn(9*time.Second, victim, 40002, 80, "SF")
	d.Add(&a, 0, wall0, collect(&out))
	d.Add(&b, 1, wall0.Add(time.Second), collect(&out))
	dl, ok := d.Deadline()
	if !ok || !dl.Equal(wall0.Add(2*time.Second)) {
		t.Fatalf("deadline %v %v, want wall0+2s", dl, ok)
	}
	d.Flush(wall0.Add(1999*time.Millisecond), collect(&out))
	if len(out) != 0 {
		t.Fatalf("released %d before the hold time", len(out))
	}
	// A connection arriving later but starting earlier (9 s) rides along:
	// the release keeps event-time order.
	d.Add(&c, 2, wall0.Add(1500*time.Millisecond), collect(&out))
	d.Flush(wall0.Add(2*time.Second), collect(&out))
	if len(out) != 2 || out[0].Ticket != 2 || out[1].Ticket != 0 || out[0].Late || out[1].Late {
		t.Fatalf("after the first hold time: %+v", out)
	}
	dl, ok = d.Deadline()
	if !ok || !dl.Equal(wall0.Add(3*time.Second)) {
		t.Fatalf("next deadline %v %v, want wall0+3s", dl, ok)
	}
	// Add also releases what is due.
	e := conn(11500*time.Millisecond, victim, 40003, 80, "SF")
	d.Add(&e, 3, wall0.Add(3*time.Second), collect(&out))
	if len(out) != 3 || out[2].Ticket != 1 {
		t.Fatalf("Add did not release the expired connection: %+v", out)
	}
	if st := d.Stats(); st.Held != 1 {
		t.Errorf("held %d, want 1", st.Held)
	}
	d.FlushAll(collect(&out))
	if _, ok := d.Deadline(); ok || len(out) != 4 {
		t.Errorf("after FlushAll: deadline %v, released %d", ok, len(out))
	}
}

func TestExtraIsCopied(t *testing.T) {
	d := New()
	extra := []connlog.Field{{Name: "a", Value: "1"}}
	c := conn(0, victim, 40000, 80, "SF")
	c.Extra = extra
	d.Add(&c, 0, wall0, func(*Derived) { t.Fatal("released early") })
	extra[0] = connlog.Field{Name: "b", Value: "2"}
	d.FlushAll(func(d *Derived) {
		if len(d.Conn.Extra) != 1 || d.Conn.Extra[0].Name != "a" {
			t.Errorf("extra = %v, want the fields as added", d.Conn.Extra)
		}
	})
}

func TestCountCap(t *testing.T) {
	var conns []connlog.Conn
	for i := range 600 {
		conns = append(conns, conn(time.Duration(i)*time.Millisecond, victim, uint16(1024+i), 80, "S0"))
	}
	out := byTicket(run(t, conns))
	want(t, "600th", &out[599].Record, map[string]float64{"count": 511, "srv_count": 511, "serror_rate": 1})
}

// TestMaxHeld: with MaxHeld connections held, one more releases the
// earliest at once; a connection then arriving with an earlier start is
// late; what is held never exceeds the bound.
func TestMaxHeld(t *testing.T) {
	var forcedHook int
	d := New(WithReorderWindow(time.Hour), WithMaxHeld(3), WithHooks(Hooks{Forced: func() { forcedHook++ }}))
	var out []derived
	add := func(at time.Duration, ticket uint64) {
		c := conn(at, victim, uint16(40000+ticket), 80, "S0")
		d.Add(&c, ticket, wall0, collect(&out))
	}
	for i := range 3 {
		add(time.Duration(10+i)*time.Second, uint64(i)) // an hour's reorder window holds them all
	}
	if len(out) != 0 || d.Stats().Held != 3 {
		t.Fatalf("released %d, holding %d; want 0 and 3", len(out), d.Stats().Held)
	}
	add(20*time.Second, 3)
	if len(out) != 1 || out[0].Ticket != 0 || out[0].Late || d.Stats().Held != 3 {
		t.Fatalf("a fourth connection: released %+v, holding %d; want the earliest (0) released, 3 held", out, d.Stats().Held)
	}
	add(5*time.Second, 4) // before the forced release at 10 s
	if len(out) != 2 || out[1].Ticket != 4 || !out[1].Late {
		t.Fatalf("a connection starting before the forced release: %+v, want it late", out)
	}
	for i := range 100 {
		add(time.Duration(30+i)*time.Second, uint64(5+i))
		if held := d.Stats().Held; held > 3 {
			t.Fatalf("holding %d, bound 3", held)
		}
	}
	if st := d.Stats(); st.Forced != 101 || forcedHook != 101 {
		t.Fatalf("forced releases: stats %d, hook %d, want 101", st.Forced, forcedHook)
	}
}
