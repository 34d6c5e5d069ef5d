package queue

import (
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// fatTree returns the k-ary fat-tree with every link direction's queue q and n flows
// between random hosts, routed by ECMP (the bottleneck engine's benchmark workload).
func fatTree(tb testing.TB, k, n int, q *network.QueueConfig, cc network.CongestionControl) *Input {
	nw, err := network.FatTree(k)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range nw.Links {
		nw.Links[i].Queue = q
	}
	var hosts []string
	for _, d := range nw.Devices {
		if d.Type == network.DeviceHost {
			hosts = append(hosts, d.ID)
		}
	}
	g, err := routing.NewGraph(nw)
	if err != nil {
		tb.Fatal(err)
	}
	ecmp := g.NewECMP(routing.Options{Metric: routing.Hops})
	rng := rand.New(rand.NewPCG(uint64(k), 16))
	for i := range n {
		a, b := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
		for a == b {
			b = hosts[rng.IntN(len(hosts))]
		}
		nw.Flows = append(nw.Flows, network.Flow{ID: "f" + strconv.Itoa(i), Src: a, Dst: b, CongestionControl: cc})
	}
	in, err := FromNetwork(nw, func(f network.Flow) ([]string, error) {
		p, err := ecmp.Route(f.ID, f.Src, f.Dst)
		return p.Links, err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

// BenchmarkFatTree16 is the goal: k=16 fat-tree, 100k flows, ≤ 2 s.
func BenchmarkFatTree16(b *testing.B) {
	for _, tc := range []struct {
		name string
		q    *network.QueueConfig
		cc   network.CongestionControl
	}{
		{"fifo/cubic", fifo(100), network.CCCubic},
		{"fifo/reno", fifo(100), network.CCReno},
		{"fifo/bbr", fifo(100), network.CCBBR},
		{"fq/cubic", nil, network.CCCubic},
	} {
		in := fatTree(b, 16, 100_000, tc.q, tc.cc)
		b.Run(tc.name, func(b *testing.B) {
			var r *Result
			cpu0 := cpuTime()
			for b.Loop() {
				var err error
				if r, err = Compute(in, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(r.Iterations), "iterations")
			if !r.Converged {
				b.ReportMetric(r.Residual, "residual")
			}
		})
	}
}

func BenchmarkFatTree8(b *testing.B) {
	for _, cc := range network.KnownCongestionControls {
		in := fatTree(b, 8, 10_000, fifo(100), cc)
		b.Run("fifo/"+string(cc), func(b *testing.B) {
			var r *Result
			cpu0 := cpuTime()
			for b.Loop() {
				var err error
				if r, err = Compute(in, DefaultParams()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(r.Iterations), "iterations")
			b.ReportMetric(r.Residual, "residual")
		})
	}
}

// BenchmarkSmall is the small end: vector A (the docs' example, four links, six
// flows) and a k=4 fat-tree with 1,000 flows, 100-packet FIFOs.
func BenchmarkSmall(b *testing.B) {
	for _, cc := range []network.CongestionControl{network.CCCubic, network.CCReno} {
		for _, tc := range []struct {
			name string
			in   *Input
		}{
			{"vectorA/fifo50/" + string(cc), vectorA(fifo(50), cc)},
			{"fattree4/fifo100/" + string(cc), fatTree(b, 4, 1000, fifo(100), cc)},
		} {
			b.Run(tc.name, func(b *testing.B) {
				var r *Result
				cpu0 := cpuTime()
				for b.Loop() {
					var err error
					if r, err = Compute(tc.in, DefaultParams()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
				b.ReportMetric(float64(r.Iterations), "iterations")
			})
		}
	}
}

// cpuTime is this process's user+system CPU time: the shared machine is loaded, so
// wall time overstates the model's cost.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
