package whatif

import (
	"context"
	"testing"
)

// BenchmarkN1WAN100x50k: the N-1 sweep (every link failed in turn, flows rerouted,
// reverted) of a 100-device Waxman WAN (203 links, 406 directed) with 50,000 flows
// (issue 18 goal: <= 5 s on the 2-core machine). The runner (routing and the first
// computation) is built outside the timed loop and reported separately by
// BenchmarkNewRunnerWAN100x50k.
func BenchmarkN1WAN100x50k(b *testing.B) {
	nw := testNetwork(b, 100, 50_000, 1)
	sc := mustScenario(b, "sweeps: {n1: true}\n")
	r, err := NewRunner(sc, nw)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := r.Run(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Cases) != 203 {
			b.Fatalf("%d cases", len(rep.Cases))
		}
	}
}

func BenchmarkNewRunnerWAN100x50k(b *testing.B) {
	nw := testNetwork(b, 100, 50_000, 1)
	sc := mustScenario(b, "sweeps: {n1: true}\n")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NewRunner(sc, nw); err != nil {
			b.Fatal(err)
		}
	}
}
