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
