package queue

import (
	"errors"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// shallowNet: BBR flows a and b share FIFO l, b and c share FIFO m (1 Gb/s each, buf
// packets, no propagation delay): b crosses both.
func shallowNet(buf int) *Input {
	return &Input{
		Links: []Link{{ID: "l", CapacityGbps: 1, Queue: fifo(buf)}, {ID: "m", CapacityGbps: 1, Queue: fifo(buf)}},
		Flows: []Flow{{ID: "a", Path: []string{"l"}, CC: network.CCBBR}, {ID: "b", Path: []string{"l", "m"}, CC: network.CCBBR},
			{ID: "c", Path: []string{"m"}, CC: network.CCBBR}},
	}
}

// With BBRShallow a FIFO shallower than its BBR flows' in-flight excess (20 packets
// against 2 × 11) is shared by window: every flow is held by its in-flight cap, its
// rate 1/(Σπ · RTT). Here π is the same at l and m (symmetry), l and m are full
// (20 packets of 1514 bytes at 1 Gb/s: q = 0.242 ms), a's round trip is R1 = 0.05 +
// q, b's R2 = 0.05 + 2q, so x_b / x_a = R1 / (2·R2) and x_a + x_b = 1 Gb/s: x_a =
// 0.785, x_b = 0.215 Gb/s. Without it (theory-1) max-min gives them half each.
func TestBBRShallowSharesByWindow(t *testing.T) {
	base := computeWith(t, shallowNet(20), DefaultParams())
	if a, b := flowOf(base, "a").RateGbps, flowOf(base, "b").RateGbps; !near(a, 0.5, 1e-3) || !near(b, 0.5, 1e-3) {
		t.Fatalf("theory-1: a %g, b %g Gb/s, want 0.5 each", a, b)
	}
	p := DefaultParams()
	p.BBRShallow = 1
	r := computeWith(t, shallowNet(20), p)
	a, b, c := flowOf(r, "a"), flowOf(r, "b"), flowOf(r, "c")
	t.Logf("a %.4f Gb/s RTT %.3f ms, b %.4f Gb/s RTT %.3f ms", a.RateGbps, a.RTTMs, b.RateGbps, b.RTTMs)
	q := 20 * 1514 * 8 / 1e9 * 1e3 // ms
	r1, r2 := 0.05+q, 0.05+2*q
	if !near(a.RTTMs, r1, 1e-3) || !near(b.RTTMs, r2, 1e-3) {
		t.Errorf("RTT a %g, b %g ms, want %g and %g (full FIFOs)", a.RTTMs, b.RTTMs, r1, r2)
	}
	wantA := 1 / (1 + r1/(2*r2))
	if !near(a.RateGbps, wantA, 5e-3) || !near(b.RateGbps, 1-wantA, 5e-3) || !near(c.RateGbps, a.RateGbps, 1e-3) {
		t.Errorf("a %g, b %g, c %g Gb/s, want %g, %g, %g", a.RateGbps, b.RateGbps, c.RateGbps, wantA, 1-wantA, wantA)
	}
}

// FIFOs deep enough for their BBR flows' excess (50 and 200 packets against 2 × 11)
// stay max-min.
func TestBBRShallowDeepUnchanged(t *testing.T) {
	p := DefaultParams()
	p.BBRShallow = 1
	for _, buf := range []int{50, 200} {
		in := shallowNet(buf)
		a, b := computeWith(t, in, DefaultParams()), computeWith(t, in, p)
		for i := range a.Flows {
			if a.Flows[i].RateGbps != b.Flows[i].RateGbps || a.Flows[i].RTTMs != b.Flows[i].RTTMs {
				t.Errorf("buffer %d, %s: %g Gb/s %g ms with theory-1, %g Gb/s %g ms with BBRShallow", buf, a.Flows[i].ID, a.Flows[i].RateGbps, a.Flows[i].RTTMs, b.Flows[i].RateGbps, b.Flows[i].RTTMs)
			}
		}
	}
}

func TestBBRShallowValidated(t *testing.T) {
	p := DefaultParams()
	p.BBRShallow = 0.5
	if _, err := Compute(shallowNet(20), p); !errors.Is(err, ErrInvalid) {
		t.Errorf("bbr_shallow 0.5: err %v, want ErrInvalid", err)
	}
}
