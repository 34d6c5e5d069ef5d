package queue

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/twinflow/twinflow/models/bottleneck"
)

// TestWaterFillExample: two links of capacity 10 and 4; flow a crosses both, b only the
// first, c only the second with demand 1. c takes its demand, a the rest of the second
// link (3), b the rest of the first (7).
func TestWaterFillExample(t *testing.T) {
	var w waterFill
	w.init([]float64{10, 4}, []int32{0, 2, 3, 4}, []int32{0, 1, 0, 1})
	w.demand[0], w.demand[1], w.demand[2] = math.Inf(1), math.Inf(1), 1
	for range 2 { // reused: the same answer again
		w.solve()
		for k, want := range []float64{3, 7, 1} {
			if w.rate[k] != want {
				t.Fatalf("flow %d: rate %v, want %v (rates %v)", k, w.rate[k], want, w.rate)
			}
		}
	}
}

// TestWaterFillMatchesBottleneck compares the solver's max-min allocation with the
// bottleneck engine's on random networks with demands, ties and shared links.
func TestWaterFillMatchesBottleneck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for trial := range 300 {
		nl := 1 + rng.IntN(12)
		var bn bottleneck.Network
		caps := make([]float64, nl)
		for l := range nl {
			caps[l] = float64(1 + rng.IntN(20)) // integers: ties between links happen
			if rng.IntN(3) == 0 {
				caps[l] = 0.01 + rng.Float64()*50
			}
			bn.Links = append(bn.Links, bottleneck.Link{ID: "l" + strconv.Itoa(l), Capacity: caps[l]})
		}
		off, idx := []int32{0}, []int32(nil)
		var demands []float64
		nf := 1 + rng.IntN(60)
		for k := range nf {
			f := bottleneck.Flow{ID: "f" + strconv.Itoa(k)}
			for _, l := range rng.Perm(nl)[:1+rng.IntN(min(nl, 4))] {
				idx = append(idx, int32(l))
				f.Path = append(f.Path, "l"+strconv.Itoa(l))
			}
			off = append(off, int32(len(idx)))
			d := math.Inf(1)
			if rng.IntN(3) == 0 {
				d = float64(1+rng.IntN(5)) / 2
				f.Demand = &d
			}
			demands = append(demands, d)
			bn.Flows = append(bn.Flows, f)
		}
		st, err := bottleneck.New(&bn)
		if err != nil {
			t.Fatal(err)
		}
		var w waterFill
		w.init(caps, off, idx)
		copy(w.demand, demands)
		w.solve()
		for k := range nf {
			want, err := st.Rate("f" + strconv.Itoa(k))
			if err != nil {
				t.Fatal(err)
			}
			if got := w.rate[k]; math.Abs(got-want) > 1e-9*math.Max(1, want) {
				t.Fatalf("trial %d flow %d: rate %v, bottleneck engine %v", trial, k, got, want)
			}
		}
	}
}
