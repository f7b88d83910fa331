package features

import (
	"testing"
	"time"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/etl"
)

// naive recounts the traffic features of past[len(past)-1] over a slice of
// every connection before it (in start order): the definitions in doc.go
// written the obvious way, as an oracle for the Deriver and the baseline of
// BenchmarkDerive.
type naive struct {
	past    []naiveConn
	horizon int64
}

type naiveConn struct {
	start   int64
	dst     uint64
	src     uint64
	srcPort uint16
	svc     service
	class   flagClass
}

func (n *naive) add(c *connlog.Conn, x *[etl.NumNumeric]float64) {
	p := protoOf(c.Proto)
	cur := naiveConn{
		start: c.Start.UnixNano(), dst: addrHash(c.RespAddr), src: uint64(uint32(addrHash(c.OrigAddr))), srcPort: c.OrigPort,
		svc: resolveService(p, c.Service, c.OrigPort, c.RespPort), class: flagOf(c.State).class,
	}
	n.past = append(n.past, cur)
	// Forget what no window can reach.
	drop := 0
	for drop < len(n.past) && n.past[drop].start < cur.start-n.horizon {
		drop++
	}
	n.past = n.past[drop:]

	var count, srvCount, serr, rerr, srvSerr, srvRerr, sameSrv, srvDiffHost float64
	var hn, hSrv, hSport, hSerr, hRerr, hSrvSerr, hSrvRerr, hSrvDiffSrc float64
	for i := len(n.past) - 1; i >= 0; i-- {
		e := &n.past[i]
		inTime := e.start >= cur.start-int64(timeWindow)
		if !inTime && hn == hostWindow {
			break
		}
		if inTime {
			if e.dst == cur.dst {
				count++
				serr += b2f(e.class == classSError)
				rerr += b2f(e.class == classRError)
				sameSrv += b2f(e.svc == cur.svc)
			}
			if e.svc == cur.svc {
				srvCount++
				srvSerr += b2f(e.class == classSError)
				srvRerr += b2f(e.class == classRError)
				srvDiffHost += b2f(e.dst != cur.dst)
			}
		}
		if e.dst == cur.dst && hn < hostWindow {
			hn++
			hSport += b2f(e.srcPort == cur.srcPort)
			hSerr += b2f(e.class == classSError)
			hRerr += b2f(e.class == classRError)
			if e.svc == cur.svc {
				hSrv++
				hSrvSerr += b2f(e.class == classSError)
				hSrvRerr += b2f(e.class == classRError)
				hSrvDiffSrc += b2f(e.src != cur.src)
			}
		}
	}
	x[fCount], x[fSrvCount] = min(count, maxCount), min(srvCount, maxCount)
	x[fSerrorRate], x[fRerrorRate] = rate(serr, count), rate(rerr, count)
	x[fSrvSerrorRate], x[fSrvRerrorRate] = rate(srvSerr, srvCount), rate(srvRerr, srvCount)
	x[fSameSrvRate], x[fDiffSrvRate] = rate(sameSrv, count), rate(count-sameSrv, count)
	x[fSrvDiffHostRate] = rate(srvDiffHost, srvCount)
	x[fDstHostCount], x[fDstHostSrvCount] = hn, hSrv
	x[fDstHostSameSrvRate], x[fDstHostDiffSrvRate] = rate(hSrv, hn), rate(hn-hSrv, hn)
	x[fDstHostSameSrcPortRate] = rate(hSport, hn)
	x[fDstHostSrvDiffHostRate] = rate(hSrvDiffSrc, hSrv)
	x[fDstHostSerrorRate], x[fDstHostRerrorRate] = rate(hSerr, hn), rate(hRerr, hn)
	x[fDstHostSrvSerrorRate], x[fDstHostSrvRerrorRate] = rate(hSrvSerr, hSrv), rate(hSrvRerr, hSrv)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestDeriverMatchesNaiveRecount(t *testing.T) {
	for _, horizon := range []time.Duration{DefaultHostHorizon, 3 * time.Second} {
		conns := mixedTraffic(5000, 7)
		out := run(t, conns, WithHostHorizon(horizon))
		n := naive{horizon: int64(horizon)}
		var x [etl.NumNumeric]float64
		for i := range conns {
			n.add(&conns[i], &x)
			got := out[i].Record.Numeric
			for f := fCount; f < numNumeric; f++ {
				if got[f] != x[f] {
					t.Fatalf("horizon %v, conn %d: %s = %v, naive %v", horizon, i, etl.FieldNames()[f+3], got[f], x[f])
				}
			}
		}
	}
}
