package emulation

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/probe"
)

// NetworkGbps inverts the goodput Compare expects for a model rate.
func TestNetworkGbpsInvertsCompare(t *testing.T) {
	for _, scale := range []float64{DefaultScale, 1e-3, 1} {
		measured := 7.5 * 1e9 * scale * GoodputFactor // what a perfect lab measures
		c := Compare([]Prediction{{Flow: "f", RateGbps: 7.5}},
			[]ProbeResult{{ID: "f", Kind: ProbeTCP, OK: true, TCP: &probe.TCPClientResult{GoodputBps: measured}}}, scale, GoodputFactor)
		if len(c.Rows) != 1 || math.Abs(c.Rows[0].ErrorPct) > 1e-9 {
			t.Fatalf("scale %v: compare %+v, want a 0%% error", scale, c)
		}
		if got := NetworkGbps(measured, scale); math.Abs(got-7.5) > 1e-9 {
			t.Errorf("scale %v: NetworkGbps(%v) = %v, want 7.5", scale, measured, got)
		}
	}
}

// WithLab destroys the lab when fn fails; MeasureFlows measures every flow and leaves
// nothing behind.
func TestWithLabAndMeasureFlows(t *testing.T) {
	b := newLab(t, "wl", Options{})
	ctx := context.Background()
	boom := errors.New("boom")
	err := WithLab(ctx, b, vectorA(t), func(context.Context) error {
		if left := residue(t, "tfe-wl"); len(left) == 0 {
			t.Error("lab not deployed while fn runs")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithLab = %v, want fn's error", err)
	}
	if left := residue(t, "tfe-wl"); len(left) != 0 {
		t.Fatalf("left behind after fn failed: %v", left)
	}
	n := vectorA(t)
	res, latency, err := MeasureFlows(ctx, b, n, "cubic", 2*time.Second, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(n.Flows) {
		t.Fatalf("%d results for %d flows", len(res), len(n.Flows))
	}
	if latency != LatencyNone { // vector A's links have no latency
		t.Errorf("latency = %q, want %q", latency, LatencyNone)
	}
	for _, r := range res {
		if !r.OK || r.TCP == nil || !(r.TCP.GoodputBps > 0) {
			t.Errorf("flow %s: %+v", r.ID, r)
		}
	}
	if left := residue(t, "tfe-wl"); len(left) != 0 {
		t.Fatalf("left behind after MeasureFlows: %v", left)
	}
}
