package network

import (
	"errors"
	"slices"
	"testing"
)

// TestDomainPart: AS2's part of the three-domain example is its four devices and the
// two neighbouring borders (without their labels), its five links, and topologies
// restricted to them; a domain with no device is an error.
func TestDomainPart(t *testing.T) {
	n, err := ALTOThreeDomain()
	if err != nil {
		t.Fatal(err)
	}
	p, err := DomainPart(n, "AS2")
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, d := range p.Devices {
		devs = append(devs, d.ID)
		if d.Domain != "AS2" && (len(d.Labels) != 1 || d.Labels[LabelRole] != "border") {
			t.Fatalf("neighbour %s keeps labels %v", d.ID, d.Labels)
		}
	}
	slices.Sort(devs)
	if !slices.Equal(devs, []string{"as1-br", "as2-br1", "as2-br2", "as2-core", "as2-nfvi", "as3-br"}) {
		t.Fatalf("devices %v", devs)
	}
	if len(p.Links) != 5 {
		t.Fatalf("%d links", len(p.Links))
	}
	for _, tp := range p.Topologies {
		if len(tp.DeviceIDs) > 6 || len(tp.LinkIDs) > 5 {
			t.Fatalf("topology %s not restricted: %v %v", tp.ID, tp.DeviceIDs, tp.LinkIDs)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("the part is not a valid network: %v", err)
	}
	if len(n.Devices) != 12 || n.Devices[0].Labels == nil {
		t.Fatal("DomainPart modified its input")
	}
	if _, err := DomainPart(n, "AS9"); !errors.Is(err, ErrSpec) {
		t.Fatalf("unknown domain: %v", err)
	}
}
