package queue

import (
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// Requirement trace: issue 16 (RTT under load within 25% per flow in emulation).

// linkRes returns the result of link direction id.
func linkRes(t *testing.T, r *Result, id string) LinkResult {
	t.Helper()
	for _, l := range r.Links {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("no link %q in the result", id)
	return LinkResult{}
}

// One CUBIC flow alone on a full FIFO: its queue is the Reno-friendly sawtooth's mean,
// 1 − 2·(1 − 0.75)·(1 − 0.7) = 0.85 of the buffer. 100 packets of 1514 bytes at
// 100 Mb/s drain in 12.112 ms: 10.2952 ms.
func TestCubicFIFOFill(t *testing.T) {
	if got := CubicFIFOFill(DefaultParams()); !near(got, 0.85, 1e-12) {
		t.Fatalf("CubicFIFOFill %v, want 0.85", got)
	}
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 0.1, Queue: fifo(100)}},
		Flows: []Flow{{ID: "a", Path: []string{"l"}, CC: network.CCCubic}}}
	r := compute(t, in)
	if q := r.Links[0].QueueDelayMs; !near(q, 10.2952, 5e-3) {
		t.Errorf("queueing %v ms, want 10.2952 (0.85 × 12.112)", q)
	}
	// A Reno flow in the same FIFO keeps QueueFill (0.75): 9.084 ms; the two together
	// the mean of their fills, 0.8: 9.6896 ms.
	in.Flows[0].CC = network.CCReno
	if q := compute(t, in).Links[0].QueueDelayMs; !near(q, 9.084, 2e-3) {
		t.Errorf("reno: queueing %v ms, want 9.084", q)
	}
	in.Flows = append(in.Flows, Flow{ID: "b", Path: []string{"l"}, CC: network.CCCubic})
	if q := compute(t, in).Links[0].QueueDelayMs; !near(q, 9.6896, 2e-3) {
		t.Errorf("reno + cubic: queueing %v ms, want 9.6896", q)
	}
}

// A full FIFO that also holds the ACKs of a flow the other way: flow a fills l
// (100 Mb/s, 100 packets, Reno), flow b sends 50 Mb/s (its demand) over l~r, which is
// not full, and its ACKs (one 66-byte frame per two data frames: 25 Mb/s worth of
// full-size frames) queue in l. ACK share of l's packets a = 25/(100 + 25) = 0.2, mean
// frame 0.8·1514 + 0.2·66 = 1224.4 bytes: the full buffer drains in 9.7952 ms (12.112
// with data only). Reno's fill 0.75, less (0.75 − 0.5) × how full l~r is — its M/D/1
// wait 0.06056 ms (ρ = 0.5) over half its buffer, which is half a's ACKs (a = 50/(50 +
// 50), 790-byte frames: 6.32 ms): 0.019165 — gives 0.745209 × 9.7952 = 7.29947 ms.
func TestFIFODelayCountsACKs(t *testing.T) {
	half := 0.05
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 0.1, Queue: fifo(100)}, {ID: "l~r", CapacityGbps: 0.1, Queue: fifo(100)}},
		Flows: []Flow{{ID: "a", Path: []string{"l"}, CC: network.CCReno}, {ID: "b", Path: []string{"l~r"}, CC: network.CCReno, DemandGbps: &half}}}
	r := compute(t, in)
	l := linkRes(t, r, "l")
	if !near(l.LoadGbps, 0.1, 2e-3) || !near(r.Flows[1].RateGbps, 0.05, 1e-9) {
		t.Fatalf("load %v, b's rate %v: want l full and b at its demand", l.LoadGbps, r.Flows[1].RateGbps)
	}
	if !near(l.QueueDelayMs, 7.29947, 2e-3) {
		t.Errorf("l queueing %v ms, want 7.29947 (ACKs are a fifth of its packets)", l.QueueDelayMs)
	}
	// b's RTT: l~r (not full, M/D/1 at ρ = 0.5 of 1514-byte frames: 0.5·0.12112/(2·0.5)
	// = 0.06056 ms) plus l, where its ACKs wait, plus MinRTT 0.05 ms.
	if want := 0.06056 + 7.29947 + 0.05; !near(r.Flows[1].RTTMs, want, 2e-3) {
		t.Errorf("b's RTT %v ms, want %v", r.Flows[1].RTTMs, want)
	}
}

// Both directions of a link full of loss-based flows crossed by each other's ACKs: the
// two queues oscillate out of phase and each holds half its buffer on average
// (twoWayFill). Equal flows both ways: ACK share 0.5/(1 + 0.5) = 1/3, mean frame
// (2·1514 + 66)/3 = 1031.33 bytes, full buffer 8.25067 ms, half of it 4.12533 ms each
// way; a flow's RTT is both plus MinRTT: 8.30067 ms.
func TestTwoWayFIFOs(t *testing.T) {
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 0.1, Queue: fifo(100)}, {ID: "l~r", CapacityGbps: 0.1, Queue: fifo(100)}},
		Flows: []Flow{{ID: "a", Path: []string{"l"}, CC: network.CCReno}, {ID: "b", Path: []string{"l~r"}, CC: network.CCReno}}}
	r := compute(t, in)
	for _, id := range []string{"l", "l~r"} {
		l := linkRes(t, r, id)
		if !near(l.LoadGbps, 0.1, 2e-3) || l.Loss <= 0 {
			t.Errorf("%s: load %v, loss %v: want full and dropping", id, l.LoadGbps, l.Loss)
		}
		if !near(l.QueueDelayMs, 4.12533, 3e-3) {
			t.Errorf("%s: queueing %v ms, want 4.12533 (half of a buffer a third ACKs)", id, l.QueueDelayMs)
		}
	}
	for _, f := range r.Flows {
		if !near(f.RTTMs, 8.30067, 3e-3) {
			t.Errorf("%s: RTT %v ms, want 8.30067", f.ID, f.RTTMs)
		}
	}
}

// A FIFO fed only through an upstream link of no more capacity cannot fill: its flows
// arrive no faster than it serves them. Flow a crosses l1 then l2 (both 100 Mb/s): l1
// drops and queues (0.85 of its 12.112 ms for CUBIC), l2 neither. With l2 at 50 Mb/s it
// is the bottleneck and l1 is idle instead; with a second flow entering at l2 (fed by a
// sender as well), l2 can fill again.
func TestFedFIFOCannotFill(t *testing.T) {
	in := &Input{Links: []Link{{ID: "l1", CapacityGbps: 0.1, Queue: fifo(100)}, {ID: "l2", CapacityGbps: 0.1, Queue: fifo(100)}},
		Flows: []Flow{{ID: "a", Path: []string{"l1", "l2"}, CC: network.CCCubic}}}
	r := compute(t, in)
	l1, l2 := linkRes(t, r, "l1"), linkRes(t, r, "l2")
	if l2.Loss != 0 || l2.QueueDelayMs != 0 {
		t.Errorf("l2: loss %v, queueing %v ms: want 0 (fed by l1 alone)", l2.Loss, l2.QueueDelayMs)
	}
	if l1.Loss <= 0 || !near(l1.QueueDelayMs, 10.2952, 5e-3) {
		t.Errorf("l1: loss %v, queueing %v ms: want it to drop, 10.2952 ms", l1.Loss, l1.QueueDelayMs)
	}
	if !near(r.Flows[0].RateGbps, 0.1, 2e-3) {
		t.Errorf("rate %v, want 0.1", r.Flows[0].RateGbps)
	}
	in.Links[1].CapacityGbps = 0.05
	r = compute(t, in)
	if l1, l2 := linkRes(t, r, "l1"), linkRes(t, r, "l2"); l2.Loss <= 0 || l1.Loss > 1e-9 || !near(r.Flows[0].RateGbps, 0.05, 2e-3) {
		t.Errorf("l2 at 50 Mb/s: loss l1 %v, l2 %v, rate %v: want l2 the bottleneck", l1.Loss, l2.Loss, r.Flows[0].RateGbps)
	}
	in.Links[1].CapacityGbps = 0.1
	in.Flows = append(in.Flows, Flow{ID: "b", Path: []string{"l2"}, CC: network.CCCubic})
	r = compute(t, in)
	if l2 := linkRes(t, r, "l2"); l2.Loss <= 0 || !near(l2.LoadGbps, 0.1, 2e-3) {
		t.Errorf("l2 with a local flow: loss %v, load %v: want it full", l2.Loss, l2.LoadGbps)
	}
}

// BBR keeps gain × min window + 3 packets queued beyond its propagation BDP: alone at
// an fq link's share its own queue is 11 packets of 1448-byte payload at its rate —
// 11·11584 bits / 50 Mb/s = 2.54848 ms for each of two flows on a 100 Mb/s fq link.
func TestBBRQueuePackets(t *testing.T) {
	if got := BBRQueuePackets(DefaultParams()); got != 11 {
		t.Fatalf("BBRQueuePackets %v, want 11", got)
	}
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 0.1}},
		Flows: []Flow{{ID: "a", Path: []string{"l"}, CC: network.CCBBR}, {ID: "b", Path: []string{"l"}, CC: network.CCBBR}}}
	r := compute(t, in)
	for _, f := range r.Flows {
		// plus the link's own wait when full: half a frame's service, 0.06056 ms
		if want := 2.54848 + 0.06056; !near(f.QueueDelayMs, want, 1e-3) {
			t.Errorf("%s: queueing %v ms, want %v", f.ID, f.QueueDelayMs, want)
		}
	}
}
