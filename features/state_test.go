package features

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrIndex checks the address index against a map through random
// insertions and deletions, in address spaces small enough that entries
// collide, wrap around the table and are shifted back on deletion, IPv4
// and IPv6 (with zones: an address with a zone is another host).
func TestAddrIndex(t *testing.T) {
	for _, tt := range []struct {
		name  string
		space int // distinct addresses
		ops   int
	}{
		{"tiny", 3, 200},
		{"small", 40, 5000},
		{"large", 3000, 50000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.space)))
			addrs := make([]netip.Addr, tt.space)
			for i := range addrs {
				switch i % 3 {
				case 0:
					addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
				case 1:
					addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 14: byte(i >> 8), 15: byte(i)})
				default:
					addrs[i] = netip.AddrFrom16([16]byte{0xfe, 0x80, 14: byte(i >> 8), 15: byte(i)}).WithZone("eth0")
				}
			}
			var x addrIndex
			var hosts []host
			want := map[netip.Addr]int32{}
			slotOf := func(a netip.Addr) int32 {
				for i := range hosts {
					if hosts[i].addr == a {
						return int32(i)
					}
				}
				hosts = append(hosts, host{addr: a})
				return int32(len(hosts) - 1)
			}
			for op := range tt.ops {
				a := addrs[rng.IntN(len(addrs))]
				h := indexHash(a)
				got, ok := x.get(a, h, hosts)
				w, wok := want[a]
				if ok != wok || ok && got != w {
					t.Fatalf("op %d: get(%v) = %d, %v; want %d, %v", op, a, got, ok, w, wok)
				}
				if ok {
					x.delete(a, h, hosts)
					delete(want, a)
				} else {
					i := slotOf(a)
					x.put(a, h, i, hosts)
					want[a] = i
				}
				if x.len() != len(want) {
					t.Fatalf("op %d: len %d, want %d", op, x.len(), len(want))
				}
			}
			for a, w := range want {
				if got, ok := x.get(a, indexHash(a), hosts); !ok || got != w {
					t.Fatalf("at the end: get(%v) = %d, %v; want %d", a, got, ok, w)
				}
			}
		})
	}
}

// TestRoundHalfUp checks roundHalfUp against math.Round on every rate
// a window can give (counts up to 1,000) and on halves and their
// neighbours.
func TestRoundHalfUp(t *testing.T) {
	check := func(x float64) {
		if got, want := roundHalfUp(x), math.Round(x); got != want {
			t.Fatalf("roundHalfUp(%v) = %v, math.Round %v", x, got, want)
		}
	}
	for den := 1.0; den <= 1000; den++ {
		for num := 0.0; num <= den; num++ {
			check(num / den * 100)
		}
	}
	for _, x := range []float64{0, 0.5, 1.5, 2.5, 99.5, 100, 1 << 52, 1<<52 + 1, 1 << 53, math.MaxFloat64} {
		check(x)
		check(math.Nextafter(x, 0))
		check(math.Nextafter(x, math.Inf(1)))
	}
}
