package bottleneck

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// Benchmark inputs: fat-trees with random host pairs on ECMP-hashed paths and a
// Waxman WAN with random router pairs on shortest (least-latency) paths.

type benchInput struct {
	net    *network.Network
	router *Router
	hosts  []string
	in     *Network
}

var benchCache sync.Map // key → *benchInput

func hostsOf(n *network.Network) []string {
	var hs []string
	for _, d := range n.Devices {
		if d.Type == network.DeviceHost {
			hs = append(hs, d.ID)
		}
	}
	if len(hs) == 0 {
		for _, d := range n.Devices {
			hs = append(hs, d.ID)
		}
	}
	return hs
}

// addRandomFlows appends nFlows flows between random distinct endpoints, routed.
func addRandomFlows(tb testing.TB, bi *benchInput, nFlows int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	bi.in = &Network{}
	for _, l := range bi.net.Links {
		bi.in.Links = append(bi.in.Links, Link{ID: l.ID, Capacity: l.CapacityGbps}, Link{ID: l.ID + network.ReverseSuffix, Capacity: l.CapacityGbps})
	}
	bi.in.Flows = make([]Flow, 0, nFlows)
	for i := range nFlows {
		a := bi.hosts[rng.IntN(len(bi.hosts))]
		b := bi.hosts[rng.IntN(len(bi.hosts))]
		for b == a {
			b = bi.hosts[rng.IntN(len(bi.hosts))]
		}
		id := "f" + fmt.Sprint(i)
		p, err := bi.router.Route(network.Flow{ID: id, Src: a, Dst: b})
		if err != nil {
			tb.Fatal(err)
		}
		bi.in.Flows = append(bi.in.Flows, Flow{ID: id, Path: p})
	}
}

func fatTreeInput(tb testing.TB, k, nFlows int) *benchInput {
	key := fmt.Sprintf("ft-%d-%d", k, nFlows)
	if v, ok := benchCache.Load(key); ok {
		return v.(*benchInput)
	}
	n, err := network.FatTree(k)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewRouter(n, RouteECMP)
	if err != nil {
		tb.Fatal(err)
	}
	bi := &benchInput{net: n, router: r, hosts: hostsOf(n)}
	addRandomFlows(tb, bi, nFlows, uint64(k))
	benchCache.Store(key, bi)
	return bi
}

func wanInput(tb testing.TB, nodes, nFlows int) *benchInput {
	key := fmt.Sprintf("wan-%d-%d", nodes, nFlows)
	if v, ok := benchCache.Load(key); ok {
		return v.(*benchInput)
	}
	n, err := network.WAN(nodes, 1, network.DefaultWaxmanAlpha, network.DefaultWaxmanBetaFor(nodes))
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewRouter(n, RouteShortest)
	if err != nil {
		tb.Fatal(err)
	}
	// shortest paths for many flows: one reverse Dijkstra per destination (ECMP over
	// least-latency distances; with real-valued latencies ties are absent, so each
	// flow takes its unique shortest path).
	r.ecmp = r.g.NewECMP(routing.Options{Metric: routing.Latency})
	bi := &benchInput{net: n, router: r, hosts: hostsOf(n)}
	addRandomFlows(tb, bi, nFlows, uint64(nodes))
	benchCache.Store(key, bi)
	return bi
}

// cpuTime is the process's user+system CPU time: under the contention of a shared
// 2-core machine wall-clock ns/op overstates the cost, so benchmarks report both.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/op")
}

func benchFull(b *testing.B, bi *benchInput) {
	b.ReportAllocs()
	var s *State
	c0 := cpuTime()
	defer reportCPU(b, c0)
	for b.Loop() {
		var err error
		if s, err = New(bi.in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.Levels()), "levels")
	b.ReportMetric(float64(s.NumFlows()), "flows")
}

func benchCompute(b *testing.B, bi *benchInput) {
	s, err := New(bi.in)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpuTime()
	defer reportCPU(b, c0)
	for b.Loop() {
		s.Compute()
	}
}

func benchNaive(b *testing.B, bi *benchInput) {
	s, err := New(bi.in)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpuTime()
	defer reportCPU(b, c0)
	for b.Loop() {
		naiveWaterFill(s)
	}
}

// BenchmarkFull measures New (interning, adjacency and the full structure) and
// Compute alone, for the sizes of the issue and a scaling series.
func BenchmarkFull(b *testing.B) {
	cases := []struct {
		name string
		in   func(testing.TB) *benchInput
	}{
		{"fattree16/flows=25k", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 16, 25_000) }},
		{"fattree16/flows=50k", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 16, 50_000) }},
		{"fattree16/flows=100k", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 16, 100_000) }},
		{"fattree16/flows=200k", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 16, 200_000) }},
		{"fattree16/flows=400k", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 16, 400_000) }},
		{"fattree32/flows=1M", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 32, 1_000_000) }},
		{"wan1000/flows=200k", func(tb testing.TB) *benchInput { return wanInput(tb, 1000, 200_000) }},
	}
	for _, c := range cases {
		b.Run(c.name+"/new", func(b *testing.B) { benchFull(b, c.in(b)) })
		b.Run(c.name+"/compute", func(b *testing.B) { benchCompute(b, c.in(b)) })
		if !testing.Short() && !strings.Contains(c.name, "1M") && !strings.Contains(c.name, "400k") {
			b.Run(c.name+"/naive", func(b *testing.B) { benchNaive(b, c.in(b)) })
		}
	}
}

// BenchmarkPeakHeap1M reports the heap held by a State of fat-tree(k=32) with 1M flows
// (after a forced GC) and the peak heap in use while building it.
func BenchmarkPeakHeap1M(b *testing.B) {
	bi := fatTreeInput(b, 32, 1_000_000)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		peak := uint64(0)
		done := make(chan struct{})
		go func() {
			var m runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
					runtime.ReadMemStats(&m)
					peak = max(peak, m.HeapInuse)
				}
			}
		}()
		s, err := New(bi.in)
		close(done)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MiB-held")
		b.ReportMetric(float64(peak-before.HeapInuse)/(1<<20), "MiB-peak")
		runtime.KeepAlive(s)
	}
}

// incStats accumulates what incremental operations did.
type incStats struct {
	ops, resumed, changes, moved, dirty, links int
	stale                                      int             // stale queue keys pushed again (re-fills)
	layouts0, layouts                          int             // column layouts made (re-fills)
	list                                       []time.Duration // per-flow listing (AppendRateChanges)
	buf                                        []RateChange    // the listing's buffer, reused
}

func (st *incStats) add(d *Delta, s *State) {
	if d == nil {
		return
	}
	st.ops++
	if d.Resumed {
		st.stale += s.agg.stale
	}
	if st.ops == 1 {
		st.layouts0 = s.agg.layouts
	}
	st.layouts = s.agg.layouts - st.layouts0
	t0 := time.Now()
	st.buf, _ = d.AppendRateChanges(st.buf[:0])
	st.list = append(st.list, time.Since(t0))
	st.changes += len(st.buf)
	st.links += len(d.Links)
	st.dirty += d.DirtyLinks
	if d.Resumed {
		st.resumed++
		st.moved += d.ExaminedFlows
	}
}

func (st *incStats) report(b *testing.B) {
	if st.ops == 0 {
		return
	}
	b.ReportMetric(float64(st.resumed)/float64(st.ops), "resumed-ratio")
	b.ReportMetric(float64(st.moved)/float64(st.ops), "examined-flows/op")
	b.ReportMetric(float64(st.changes)/float64(st.ops), "changed-flows/op")
	b.ReportMetric(float64(st.dirty)/float64(st.ops), "recomputed-links/op")
	b.ReportMetric(float64(st.links)/float64(st.ops), "moved-links/op")
	b.ReportMetric(float64(st.stale)/float64(st.ops), "stale-keys/op")
	b.ReportMetric(float64(st.layouts)/float64(st.ops), "col-layouts/op")
	slices.Sort(st.list)
	b.ReportMetric(float64(st.list[len(st.list)/2].Nanoseconds())/1e3, "list-median-µs")
}

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID, exact; the
// thread's rusage only advances at scheduler ticks), for per-operation CPU times of a
// goroutine locked to its thread: on the shared machine wall times mostly measure
// the run queue.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// reportCPUMedian reports the median of per-operation thread CPU times.
func reportCPUMedian(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	if len(d) > 0 {
		b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "cpu-median-µs")
	}
}

// reportQuantiles reports the median and 90th percentile of per-operation durations.
func reportQuantiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "median-µs")
	b.ReportMetric(float64(d[len(d)*9/10].Nanoseconds())/1e3, "p90-µs")
}

// BenchmarkIncremental measures single perturbations on fat-tree(k=16) with 100k
// flows: flow arrival and departure (alternating), capacity change (alternating
// between 100% and 90% of a random link's capacity), and a link failure with ECMP
// reroute (the link is restored, untimed, afterwards).
func BenchmarkIncremental(b *testing.B) {
	bi := fatTreeInput(b, 16, 100_000)
	newState := func(b *testing.B) *State {
		s, err := New(bi.in)
		if err != nil {
			b.Fatal(err)
		}
		s.ensurePrefix()
		return s
	}
	b.Run("flow-arrival-departure", func(b *testing.B) {
		s := newState(b)
		rng := rand.New(rand.NewPCG(9, 9))
		runtime.LockOSThread() // per-operation thread CPU times
		defer runtime.UnlockOSThread()
		var ds, cs []time.Duration
		var st incStats
		i := 0
		for b.Loop() {
			i++
			id := fmt.Sprintf("bench-%d", (i+1)/2)
			b.StopTimer()
			var fl Flow
			if i%2 == 1 {
				a := bi.hosts[rng.IntN(len(bi.hosts))]
				c := bi.hosts[rng.IntN(len(bi.hosts))]
				for c == a {
					c = bi.hosts[rng.IntN(len(bi.hosts))]
				}
				p, err := bi.router.Route(network.Flow{ID: id, Src: a, Dst: c})
				if err != nil {
					b.Fatal(err)
				}
				fl = Flow{ID: id, Path: p}
			}
			b.StartTimer()
			c0, t0 := threadCPU(), time.Now()
			var err error
			var d *Delta
			if i%2 == 1 {
				d, err = s.AddFlow(fl)
			} else {
				d, err = s.RemoveFlow(id)
			}
			ds = append(ds, time.Since(t0))
			cs = append(cs, threadCPU()-c0)
			st.add(d, s)
			if err != nil {
				b.Fatal(err)
			}
		}
		reportQuantiles(b, ds)
		reportCPUMedian(b, cs)
		st.report(b)
	})
	b.Run("capacity-change", func(b *testing.B) {
		s := newState(b)
		rng := rand.New(rand.NewPCG(10, 10))
		runtime.LockOSThread() // per-operation thread CPU times
		defer runtime.UnlockOSThread()
		var ds, cs []time.Duration
		var st incStats
		ids := make([]string, 0, len(bi.in.Links))
		for _, l := range bi.in.Links {
			ids = append(ids, l.ID)
		}
		var last string
		i := 0
		for b.Loop() {
			i++
			var id string
			c := network.FatTreeCapacityGbps
			if i%2 == 1 {
				id = ids[rng.IntN(len(ids))]
				c *= 0.9
			} else {
				id = last
			}
			last = id
			c0, t0 := threadCPU(), time.Now()
			d, err := s.SetCapacity(id, c)
			ds = append(ds, time.Since(t0))
			cs = append(cs, threadCPU()-c0)
			st.add(d, s)
			if err != nil {
				b.Fatal(err)
			}
		}
		reportQuantiles(b, ds)
		reportCPUMedian(b, cs)
		st.report(b)
	})
	b.Run("link-failure-reroute", func(b *testing.B) {
		s := newState(b)
		rng := rand.New(rand.NewPCG(11, 11))
		runtime.LockOSThread() // per-operation thread CPU times
		defer runtime.UnlockOSThread()
		var ds, cs []time.Duration
		var st incStats
		for b.Loop() {
			l := bi.net.Links[rng.IntN(len(bi.net.Links))]
			c0, t0 := threadCPU(), time.Now()
			d, err := s.FailLinks([]string{l.ID, l.ID + network.ReverseSuffix}, bi.router.Reroute())
			ds = append(ds, time.Since(t0))
			cs = append(cs, threadCPU()-c0)
			st.add(d, s)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.RestoreLink(l.ID)
			s.RestoreLink(l.ID + network.ReverseSuffix)
			b.StartTimer()
		}
		reportQuantiles(b, ds)
		reportCPUMedian(b, cs)
		st.report(b)
	})
	b.Run("full-recompute-reference", func(b *testing.B) {
		s := newState(b)
		for b.Loop() {
			s.Compute()
		}
	})
}

// BenchmarkGradient measures a link gradient (both sides) of a core link and a flow
// gradient on fat-tree(k=16) with 100k flows.
func BenchmarkGradient(b *testing.B) {
	bi := fatTreeInput(b, 16, 100_000)
	s, err := New(bi.in)
	if err != nil {
		b.Fatal(err)
	}
	link := bi.net.Links[0].ID
	b.Run("link", func(b *testing.B) {
		c0 := cpuTime()
		var g *Gradient
		for b.Loop() {
			g, _ = s.LinkGradient(link)
		}
		reportCPU(b, c0)
		b.ReportMetric(float64(len(g.Right.Flows)), "region-flows")
	})
	b.Run("flow", func(b *testing.B) {
		c0 := cpuTime()
		var g *Gradient
		for b.Loop() {
			g, _ = s.FlowGradient("f0")
		}
		reportCPU(b, c0)
		b.ReportMetric(float64(len(g.Left.Flows)), "region-flows")
	})
}

// BenchmarkWholeAnalysis is `twinflow analyze bottleneck` without the process: the
// input as a JSON document (the engine's format) parsed, the structure built, and the
// v2 JSON (compact) and the table written to io.Discard. Stages are reported as
// metrics (ms per op).
func BenchmarkWholeAnalysis(b *testing.B) {
	cases := []struct {
		name string
		in   func(testing.TB) *benchInput
	}{
		{"fattree16/flows=100k", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 16, 100_000) }},
		{"fattree32/flows=1M", func(tb testing.TB) *benchInput { return fatTreeInput(tb, 32, 1_000_000) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			data, err := json.Marshal(c.in(b).in)
			if err != nil {
				b.Fatal(err)
			}
			var tParse, tNew, tJSON, tTable time.Duration
			for b.Loop() {
				t0 := time.Now()
				doc, err := Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				s, err := New(doc.Bottleneck)
				if err != nil {
					b.Fatal(err)
				}
				doc = nil
				t2 := time.Now()
				if err := s.WriteJSON(io.Discard, GraphFGG, false); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				if err := s.WriteTable(io.Discard, GraphFGG); err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				tParse += t1.Sub(t0)
				tNew += t2.Sub(t1)
				tJSON += t3.Sub(t2)
				tTable += t4.Sub(t3)
			}
			n := float64(b.N) * 1e6
			b.ReportMetric(float64(tParse)/n, "parse-ms/op")
			b.ReportMetric(float64(tNew)/n, "new-ms/op")
			b.ReportMetric(float64(tJSON)/n, "json-ms/op")
			b.ReportMetric(float64(tTable)/n, "table-ms/op")
		})
	}
}

// BenchmarkFailHighDegree fails a link that all 20,000 flows cross (each also has a
// private link) and reroutes them to a parallel link, so that every flow is detached
// from a list of up to 20,000 flows; the link is restored (untimed) afterwards.
func BenchmarkFailHighDegree(b *testing.B) {
	const nf = 20_000
	n := &Network{Links: []Link{{ID: "hub", Capacity: 1000}, {ID: "hub2", Capacity: 1000}}}
	for i := range nf {
		id := fmt.Sprintf("p%d", i)
		n.Links = append(n.Links, Link{ID: id, Capacity: float64(1 + i%7)})
		n.Flows = append(n.Flows, Flow{ID: fmt.Sprintf("f%d", i), Path: []string{"hub", id}})
	}
	s, err := New(n)
	if err != nil {
		b.Fatal(err)
	}
	toHub2 := func(_ string, f *Failure) ([]string, bool) {
		return []string{"hub2", f.OldPath()[1]}, true
	}
	toHub := func(_ string, f *Failure) ([]string, bool) {
		return []string{"hub", f.OldPath()[1]}, true
	}
	for b.Loop() {
		if _, err := s.FailLink("hub", toHub2); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := s.RestoreLink("hub"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.FailLink("hub2", toHub); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RestoreLink("hub2"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
