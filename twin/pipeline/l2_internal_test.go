package pipeline

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin/emulation"
)

// leafPair: two leaves, each with two hosts (eth3, eth4) and an uplink to a spine;
// leaf-1 has an unlinked eth5.
func leafPair() *network.Network {
	n := &network.Network{}
	dev := func(id string, typ network.DeviceType, eps ...string) {
		d := network.Device{ID: id, Type: typ}
		for _, e := range eps {
			d.Endpoints = append(d.Endpoints, network.EndPoint{ID: e})
		}
		n.Devices = append(n.Devices, d)
	}
	link := func(a, ae, b, be string) {
		n.Links = append(n.Links, network.Link{ID: a + "--" + b, CapacityGbps: 10,
			Endpoints: []network.EndPointRef{{Device: a, EndPoint: ae}, {Device: b, EndPoint: be}}})
	}
	dev("spine", network.DeviceSwitch, "eth1", "eth2")
	dev("leaf-0", network.DeviceSwitch, "eth1", "eth3", "eth4")
	dev("leaf-1", network.DeviceSwitch, "eth1", "eth3", "eth4", "eth5")
	for _, h := range []string{"h00", "h01", "h10", "h11"} {
		dev(h, network.DeviceHost, "eth1")
	}
	link("spine", "eth1", "leaf-0", "eth1")
	link("spine", "eth2", "leaf-1", "eth1")
	link("leaf-0", "eth3", "h00", "eth1")
	link("leaf-0", "eth4", "h01", "eth1")
	link("leaf-1", "eth3", "h10", "eth1")
	link("leaf-1", "eth4", "h11", "eth1")
	return n
}

func sliceChange(t *testing.T, eps ...service.Endpoint) *change.ChangeSet {
	t.Helper()
	sl := service.Slice{ID: "s", Services: []service.Service{{ID: "c1", Type: service.L2VPN, L2: &service.L2Options{VNI: 5000}, Endpoints: eps}}}
	b, err := json.Marshal(sl)
	if err != nil {
		t.Fatal(err)
	}
	return &change.ChangeSet{Kind: change.KindSlice, Intents: []change.Intent{{Type: service.IntentSlice, Name: "s", Spec: b}}}
}

// TestAttachmentProbes: an L2VPN member gets a reach probe between its attachments and
// an isolation probe from a non-member attachment whose far side is a host (preferred
// over the spine uplink); an endpoint with nothing attached is a skip naming it; the
// verdicts: reach passes when answered, isolation when it ran and was not answered.
func TestAttachmentProbes(t *testing.T) {
	n := leafPair()
	p, err := attachmentProbes(n, sliceChange(t, service.Endpoint{Device: "leaf-0", Interface: "eth3"}, service.Endpoint{Device: "leaf-1", Interface: "eth3"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.specs) != 2 || len(p.checks) != 0 {
		t.Fatalf("specs %+v checks %+v", p.specs, p.checks)
	}
	reach, iso := p.specs[0], p.specs[1]
	if reach.Kind != emulation.ProbeL2Ping || reach.Src != "leaf-0" || reach.SrcPort != "eth3" || reach.Dst != "leaf-1" || reach.DstPort != "eth3" {
		t.Errorf("reach probe %+v", reach)
	}
	if iso.Src != "leaf-0" || iso.SrcPort != "eth4" || iso.Dst != "leaf-1" || iso.DstPort != "eth3" {
		t.Errorf("isolation probe %+v, want from leaf-0:eth4 (host h01)", iso)
	}
	answered := &probe.PingResult{Sent: 3, Received: 3}
	silent := &probe.PingResult{Sent: 3}
	checks := p.judge([]emulation.ProbeResult{{OK: true, Ping: answered, Src: "leaf-0:eth3", Dst: "leaf-1:eth3"}, {Ping: silent, Src: "leaf-0:eth4", Dst: "leaf-1:eth3", Error: "timeout"}})
	if checks[0].Name != "l2.service_reach_s.c1" || checks[0].Status != change.Pass || checks[1].Name != "l2.service_isolation_s.c1" || checks[1].Status != change.Pass {
		t.Errorf("good verdicts: %+v", checks)
	}
	checks = p.judge([]emulation.ProbeResult{{Ping: silent, Error: "timeout"}, {OK: true, Ping: answered, Src: "leaf-0:eth4", Dst: "leaf-1:eth3"}})
	if checks[0].Status != change.Fail || checks[1].Status != change.Fail || !strings.Contains(checks[1].Message, "not isolated") {
		t.Errorf("bad verdicts: %+v", checks)
	}
	// An isolation probe that could not set up its hosts is no evidence of isolation.
	checks = p.judge([]emulation.ProbeResult{{OK: true, Ping: answered}, {Error: "netns add: exists"}})
	if checks[1].Status != change.Fail || !strings.Contains(checks[1].Message, "did not run") {
		t.Errorf("unrun isolation probe: %+v", checks[1])
	}

	p, err = attachmentProbes(n, sliceChange(t, service.Endpoint{Device: "leaf-0", Interface: "eth3"}, service.Endpoint{Device: "leaf-1", Interface: "eth5"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.specs) != 0 || len(p.checks) != 1 || p.checks[0].Status != change.Skip || !strings.Contains(p.checks[0].Message, "leaf-1:eth5") {
		t.Errorf("unattached endpoint: specs %+v checks %+v", p.specs, p.checks)
	}
}

// TestVirtualObjects: what the sandbox deletes before the next validation is the
// list entries of interfaces that are not the device's ports and of non-default
// network instances, never a port or its settings.
func TestVirtualObjects(t *testing.T) {
	n := leafPair()
	d := &n.Devices[1] // leaf-0
	ops := []change.Op{
		{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth3]/config", Value: json.RawMessage(`{"enabled":true}`)},
		{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth4]", Value: json.RawMessage(`{}`)},
		{Op: change.OpUpdate, Path: "/interfaces/interface[name=vx5000]", Value: json.RawMessage(`{}`)},
		{Op: change.OpUpdate, Path: "/network-instances/network-instance[name=bd5000]", Value: json.RawMessage(`{}`)},
		{Op: change.OpUpdate, Path: "/network-instances/network-instance[name=DEFAULT]", Value: json.RawMessage(`{}`)},
		{Op: change.OpDelete, Path: "/interfaces/interface[name=vx7]"},
	}
	got := strings.Join(virtualObjects(d, ops), " ")
	if got != "/interfaces/interface[name=vx5000] /network-instances/network-instance[name=bd5000]" {
		t.Errorf("virtual objects: %s", got)
	}
}
