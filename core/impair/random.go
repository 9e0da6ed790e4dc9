package impair

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// source is the random stream of one direction: PCG (specified, so the
// same seed gives the same stream on every platform and Go release), with
// a count of draws so that tests can see when nothing was drawn.
type source struct {
	pcg   rand.PCG
	draws uint64
}

func newSource(seed uint64, d Dir) source {
	// The second PCG word separates the directions' streams.
	return source{pcg: *rand.NewPCG(seed, 0x9e3779b97f4a7c15*uint64(d))}
}

func (s *source) uint64() uint64 {
	s.draws++
	return s.pcg.Uint64()
}

// open returns a uniform value in (0, 1), never 0 or 1, so that quantile
// functions stay finite.
func (s *source) open() float64 {
	return (float64(s.uint64()>>11) + 0.5) * 0x1p-53
}

// below returns a uniform integer in [0, n) from one draw.
func (s *source) below(n uint64) uint64 {
	hi, _ := bits.Mul64(s.uint64(), n)
	return hi
}

// The delay shapes return t for a uniform u: the delay is TIME + t·JITTER.
// netem draws t from tables of 16-bit values scaled by 8192, so t never
// leaves [-4, 32767/8192]; the same limits apply here.
const (
	shapeMin = -32768.0 / 8192
	shapeMax = 32767.0 / 8192
)

func shape(d Distribution, u float64) float64 {
	var t float64
	switch d {
	case Uniform:
		t = 2*u - 1
	case Normal:
		t = normalQuantile(u)
	case Pareto:
		t = paretoQuantile(u)
	case ParetoNormal:
		// iproute2's paretonormal.c: a quarter of the normal value plus
		// three quarters of the (already limited) pareto value at the
		// same quantile.
		t = (normalQuantile(u) + 3*paretoQuantile(u)) / 4
	}
	return min(max(t, shapeMin), shapeMax)
}

func normalQuantile(u float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*u-1)
}

// paretoQuantile is iproute2's pareto.c: a Pareto variable of alpha 3 and
// scale 1, less its mean of 1.5, times 4/3, limited to the table's range.
func paretoQuantile(u float64) float64 {
	t := (math.Pow(1-u, -1.0/3) - 1.5) * 4 / 3
	return min(t, shapeMax)
}
