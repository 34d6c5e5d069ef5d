package server

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
)

// TestDemoSwitchesCarryServices (REQ-USA-01): the demo network's switches have distinct
// underlay addresses (hosts none), so a default L2VPN between two leaves compiles on
// the demo; without the labels it fails naming the device.
func TestDemoSwitchesCarryServices(t *testing.T) {
	n, err := network.Generate(DefaultDemoSpec, 1)
	if err != nil {
		t.Fatal(err)
	}
	svc := &service.Service{ID: "svc-1", Type: service.L2VPN, L2: &service.L2Options{VNI: 1001},
		Constraints: service.Constraints{CapacityGbps: 1},
		Endpoints:   []service.Endpoint{{Device: "leaf-0", Interface: "eth3"}, {Device: "leaf-3", Interface: "eth3"}}}
	compile := func() error {
		env, err := service.NewEnv(n, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := *svc
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		_, err = service.DefaultRegistry().Create(env, &s)
		return err
	}
	if err := compile(); err == nil || !strings.Contains(err.Error(), `device "leaf-0" has no underlay`) {
		t.Fatalf("without underlay addresses: %v, want leaf-0 named as having none", err)
	}
	demoUnderlay(n)
	seen := map[netip.Addr]string{}
	for _, d := range n.Devices {
		v, ok := d.Labels[service.LabelUnderlay]
		if d.Type == network.DeviceHost {
			if ok {
				t.Fatalf("host %s has an underlay label %q", d.ID, v)
			}
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			t.Fatalf("%s: underlay %q is not an IPv4 address", d.ID, v)
		}
		if o, dup := seen[a]; dup {
			t.Fatalf("%s and %s share underlay %s", o, d.ID, a)
		}
		seen[a] = d.ID
	}
	if len(seen) != 6 {
		t.Fatalf("%d switches labelled, want 6 (4 leaves, 2 spines)", len(seen))
	}
	if err := compile(); err != nil {
		t.Fatalf("default L2VPN on the demo: %v", err)
	}
	n.Devices[0].Labels[service.LabelUnderlay] = "192.0.2.7"
	demoUnderlay(n)
	if got := n.Devices[0].Labels[service.LabelUnderlay]; got != "192.0.2.7" {
		t.Fatalf("a given label was overwritten: %q", got)
	}
}
