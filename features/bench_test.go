package features

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
)

// benchTraffic is a realistic mix for benchmarks: 10,000 connections a
// second to 2,000 destination hosts of skewed popularity, from 500 sources,
// over common services (a tenth UDP, a fiftieth ICMP), mostly SF with
// S0/REJ/RST errors, arriving up to ~50 ms out of start order.
func benchTraffic(n int) []connlog.Conn {
	rng := rand.New(rand.NewPCG(42, 42))
	ports := []uint16{80, 80, 80, 443, 443, 443, 443, 22, 25, 53, 110, 143, 8080, 3306, 31337, 6000}
	states := []string{"SF", "SF", "SF", "SF", "SF", "SF", "S0", "REJ", "RSTO", "RSTR", "S1", "SH", "OTH"}
	zeek := []string{"http", "ssl", "", "", "ssh", "dns"}
	conns := make([]connlog.Conn, n)
	at := time.Duration(0)
	for i := range conns {
		at += time.Duration(rng.ExpFloat64() * float64(100*time.Microsecond))
		dst := min(int(rng.ExpFloat64()*200), 1999)
		c := connlog.Conn{
			Format: connlog.ZeekJSON, Start: t0.Add(at), Proto: "tcp",
			OrigAddr: netip.AddrFrom4([4]byte{192, 168, byte(rng.IntN(2)), byte(rng.IntN(250))}), OrigPort: uint16(1024 + rng.IntN(60000)),
			RespAddr: netip.AddrFrom4([4]byte{10, 1, byte(dst >> 8), byte(dst)}), RespPort: ports[rng.IntN(len(ports))],
			State: states[rng.IntN(len(states))], Service: zeek[rng.IntN(len(zeek))],
			Duration: time.Duration(rng.ExpFloat64() * float64(time.Second)), OrigBytes: int64(rng.IntN(5000)), RespBytes: int64(rng.IntN(50000)),
		}
		switch r := rng.IntN(50); {
		case r == 0:
			c.Proto, c.OrigPort, c.RespPort, c.Service, c.State = "icmp", 8, 0, "", "OTH"
		case r < 5:
			c.Proto, c.RespPort, c.Service, c.State = "udp", 53, "dns", "SF"
		}
		conns[i] = c
	}
	// Local disorder: each swaps with one up to 500 places (~50 ms) later.
	for i := range conns {
		j := i + rng.IntN(min(500, len(conns)-i))
		conns[i], conns[j] = conns[j], conns[i]
	}
	return conns
}

// BenchmarkDerive is one Add (and, amortised, its release) on the mix.
// Run with -cpu 1.
func BenchmarkDerive(b *testing.B) {
	conns := benchTraffic(1 << 16)
	starts := make([]time.Time, len(conns))
	var span time.Duration
	for i := range conns {
		starts[i] = conns[i].Start
		span = max(span, conns[i].Start.Sub(t0)+time.Second)
	}
	d := New(WithHostHorizon(time.Minute))
	var sink float64
	emit := func(x *Derived) { sink += x.Record.Numeric[fCount] }
	wall := wall0
	// One lap first so the steady state (hosts, rings, buffers) is warm.
	for i := range conns {
		d.Add(&conns[i], uint64(i), wall, emit)
	}
	b.ReportAllocs()
	b.ResetTimer()
	lap := time.Duration(1)
	for i := 0; i < b.N; i++ {
		k := i % len(conns)
		if k == 0 {
			lap++
			for j := range conns {
				conns[j].Start = starts[j].Add(lap * span)
			}
		}
		d.Add(&conns[k], uint64(i), wall, emit)
	}
	b.StopTimer()
	d.FlushAll(emit)
	_ = sink
}

// BenchmarkNaiveRecount is the alternative: recount both windows over a
// slice of the past connections, in start order (no reordering).
func BenchmarkNaiveRecount(b *testing.B) {
	conns := benchTraffic(1 << 16)
	// In start order: the naive recount has no reorder buffer.
	sortByStart(conns)
	var span time.Duration
	starts := make([]time.Time, len(conns))
	for i := range conns {
		starts[i] = conns[i].Start
		span = max(span, conns[i].Start.Sub(t0)+time.Second)
	}
	n := naive{horizon: int64(time.Minute)}
	var x [etl.NumNumeric]float64
	for i := range conns {
		n.add(&conns[i], &x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	lap := time.Duration(1)
	for i := 0; i < b.N; i++ {
		k := i % len(conns)
		if k == 0 {
			lap++
			for j := range conns {
				conns[j].Start = starts[j].Add(lap * span)
			}
		}
		n.add(&conns[k], &x)
	}
}

func sortByStart(conns []connlog.Conn) {
	slices.SortFunc(conns, func(a, b connlog.Conn) int { return a.Start.Compare(b.Start) })
}
