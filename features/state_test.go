package features

import (
	"math"
	"testing"
)

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
