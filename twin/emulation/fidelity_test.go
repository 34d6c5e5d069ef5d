package emulation

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestFidelityVectorA runs BOTTLENECK.md's vector A as real TCP (cubic and bbr) under
// both queue models and compares goodput with the max-min rates (goodput-corrected).
// The fq model must track max-min closely; FIFO is recorded, not asserted accurate.
func TestFidelityVectorA(t *testing.T) {
	requireRootT(t)
	n := loadNetwork(t, "labs/vector-a/network.json")
	dur := 8 * time.Second
	if s := os.Getenv("TWINFLOW_FIDELITY_SECONDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 3 {
			t.Fatalf("TWINFLOW_FIDELITY_SECONDS=%q: want an integer >= 3", s)
		}
		dur = time.Duration(v) * time.Second
	}
	b := newLab(t, "fid", Options{}) // registers the sweep; Fidelity deploys itself
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runs, err := Fidelity(ctx, n, FidelityConfig{Base: b.Options, Duration: dur, Warmup: dur / 4, ProbeCmd: b.ProbeCmd, StateDir: b.StateDir})
	if err != nil {
		t.Fatal(err)
	}
	med := map[string]float64{}
	for _, r := range runs {
		for _, row := range r.Comparison.Rows {
			t.Logf("%-4s %-5s %s predicted %6.2f Mb/s measured %6.2f Mb/s error %+6.1f%%", r.Queue, r.CC, row.Flow, row.PredictedBps/1e6, row.MeasuredBps/1e6, row.ErrorPct)
		}
		t.Logf("%-4s %-5s median |error| %.1f%%  max |error| %.1f%%", r.Queue, r.CC, r.Comparison.MedianAbsErrorPct, r.Comparison.MaxAbsErrorPct)
		if len(r.Failed) > 0 || len(r.Comparison.Missing) > 0 {
			t.Errorf("%s/%s: failed probes %v, missing %v", r.Queue, r.CC, r.Failed, r.Comparison.Missing)
		}
		med[string(r.Queue)+"/"+r.CC] = r.Comparison.MedianAbsErrorPct
	}
	for _, cc := range []string{"cubic", "bbr"} {
		fq, fifo := med["fq/"+cc], med["fifo/"+cc]
		if fq > fqBound[cc] {
			t.Errorf("fq/%s: median |error| %.1f%% > bound %.1f%%", cc, fq, fqBound[cc])
		}
		if fifo <= fq {
			t.Errorf("fifo/%s median |error| %.1f%% is not worse than fq's %.1f%%: the queue models are not distinguished", cc, fifo, fq)
		}
	}
}

// fqBound is the asserted median |error| per congestion control with fair queueing
// (see docs/fidelity.md for the measurements the bounds were chosen from).
var fqBound = map[string]float64{"cubic": 5, "bbr": 5}
