package whatif

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

func backbone(t *testing.T) *network.Network {
	t.Helper()
	b, err := os.ReadFile("testdata/backbone.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n, err := network.Decode(strings.NewReader(string(b)), network.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTopologyEdits (issue #18 item 3): a case adding a link (to existing devices,
// whose new ports are created) or a device with links agrees with a runner built on
// the edited network from scratch, flow by flow; other perturbations in the same case
// apply to the edited network; a bad edit is the case's error; the base is untouched.
func TestTopologyEdits(t *testing.T) {
	sc := mustScenario(t, `
cases:
  - name: add bd
    perturbations:
      add_links: [{id: bd, endpoints: [{device: b, endpoint: e9}, {device: d, endpoint: e9}], capacity_gbps: 40, latency_ms: 1}]
  - name: add pop e and cut ac
    perturbations:
      add_devices: [{id: e, type: packet-router}]
      add_links:
        - {id: ae, endpoints: [{device: a, endpoint: e8}, {device: e, endpoint: x1}], capacity_gbps: 40, latency_ms: 1}
        - {id: ec, endpoints: [{device: e, endpoint: x2}, {device: c, endpoint: e8}], capacity_gbps: 40, latency_ms: 1}
      fail_links: [ac]
  - name: bad edit
    perturbations:
      add_links: [{id: bz, endpoints: [{device: b, endpoint: e9}, {device: zz, endpoint: e1}], capacity_gbps: 1}]
`)
	base := backbone(t)
	r, err := NewRunner(sc, base)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// full recomputations of the edited networks
	for i, c := range sc.Cases[:2] {
		p := c.Perturbations
		n2, err := editedNetwork(base, p.AddDevices, p.AddLinks)
		if err != nil {
			t.Fatal(err)
		}
		var fail []string
		for _, l := range n2.Links {
			if slicesContains(p.FailLinks, l.ID) {
				fail = append(fail, l.ID)
			}
		}
		n2.Links = removeLinks(n2.Links, fail)
		full, err := NewRunner(sc, n2)
		if err != nil {
			t.Fatal(err)
		}
		got := rep.Cases[i]
		if got.Error != "" {
			t.Fatalf("%s: %s", c.Name, got.Error)
		}
		if math.Abs(got.TotalGbps-full.total) > 1e-9*full.total {
			t.Errorf("%s: total %v; full recomputation %v", c.Name, got.TotalGbps, full.total)
		}
		if math.Abs(got.DeltaGbps-(full.total-r.total)) > 1e-6 {
			t.Errorf("%s: delta %v; want %v", c.Name, got.DeltaGbps, full.total-r.total)
		}
		if got.TotalGbps <= r.total && i == 0 {
			t.Errorf("%s: a 40 Gb/s shortcut bought nothing (%v -> %v)", c.Name, r.total, got.TotalGbps)
		}
		for _, fd := range got.Flows {
			if want := full.baseRate[fd.Flow]; math.Abs(fd.NewGbps-want) > 1e-9*math.Max(want, 1) {
				t.Errorf("%s: flow %s %v; full recomputation %v", c.Name, fd.Flow, fd.NewGbps, want)
			}
		}
		if got.Rerouted == 0 {
			t.Errorf("%s: no flow moved to the new topology", c.Name)
		}
	}
	if e := rep.Cases[2].Error; !strings.Contains(e, "edited topology") || !strings.Contains(e, "zz") {
		t.Errorf("bad edit: %q", e)
	}
	sameRates(t, "after the run", rates(t, r.State()), r.baseRate)
	if len(base.Links) != 5 || len(base.Devices) != 4 {
		t.Errorf("the base network was edited: %d links %d devices", len(base.Links), len(base.Devices))
	}
	if _, err := ParseScenario([]byte("cases: [{name: x, perturbations: {add_links: [{id: l, endpoints: []}]}}]")); err == nil || !strings.Contains(err.Error(), "two endpoints") {
		t.Errorf("a link without endpoints: %v", err)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func removeLinks(ls []network.Link, drop []string) []network.Link {
	var out []network.Link
	for _, l := range ls {
		if !slicesContains(drop, l.ID) {
			out = append(out, l)
		}
	}
	return out
}
