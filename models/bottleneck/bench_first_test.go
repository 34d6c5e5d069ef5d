package bottleneck

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkFirstUpdate1M measures the first update after New on fat-tree(k=32) with
// 1M flows: a flow arriving on the path of an existing one (New itself untimed). It
// used to build the re-fill's columns and the per-link prefixes from scratch.
func BenchmarkFirstUpdate1M(b *testing.B) {
	bi := fatTreeInput(b, 32, 1_000_000)
	var ds, cs []time.Duration
	runtime.LockOSThread() // per-update thread CPU times
	defer runtime.UnlockOSThread()
	for b.Loop() {
		b.StopTimer()
		s, err := New(bi.in)
		if err != nil {
			b.Fatal(err)
		}
		f := bi.in.Flows[12345]
		f.ID = "first-update"
		b.StartTimer()
		t0, c0 := time.Now(), threadCPU()
		if _, err := s.AddFlow(f); err != nil {
			b.Fatal(err)
		}
		ds, cs = append(ds, time.Since(t0)), append(cs, threadCPU()-c0)
	}
	reportQuantiles(b, ds)
	reportCPUMedian(b, cs)
}

// BenchmarkRefresh measures Refresh after an update that re-filled the rates (levels
// stale): a flow arriving on the path of an existing one, then leaving (untimed),
// alternately; fat-tree(k=16) with 100k flows and fat-tree(k=32) with 1M. Only
// refreshes after a re-fill are timed (stale-refreshes/op says how many were).
func BenchmarkRefresh(b *testing.B) {
	for _, c := range []struct {
		name  string
		k, nF int
	}{{"fattree16/flows=100k", 16, 100_000}, {"fattree32/flows=1M", 32, 1_000_000}} {
		b.Run(c.name, func(b *testing.B) {
			bi := fatTreeInput(b, c.k, c.nF)
			s, err := New(bi.in)
			if err != nil {
				b.Fatal(err)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var ds, cs []time.Duration
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				f := bi.in.Flows[(i*7919)%len(bi.in.Flows)]
				f.ID = "refresh-bench"
				if i%2 == 1 {
					_, err = s.AddFlow(f)
				} else {
					_, err = s.RemoveFlow(f.ID)
				}
				if err != nil {
					b.Fatal(err)
				}
				stale := s.stale
				b.StartTimer()
				t0, c0 := time.Now(), threadCPU()
				s.Refresh()
				if stale {
					ds, cs = append(ds, time.Since(t0)), append(cs, threadCPU()-c0)
				}
			}
			b.ReportMetric(float64(len(ds))/float64(b.N), "stale-refreshes/op")
			reportQuantiles(b, ds)
			reportCPUMedian(b, cs)
		})
	}
}
