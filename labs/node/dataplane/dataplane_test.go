package dataplane

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

var ports = []Port{{Name: "eth1"}, {Name: "eth2"}}

func tree(t *testing.T, docs map[string]string) *schema.Tree {
	t.Helper()
	tr := schema.NewTree(schema.Root())
	for p, js := range docs {
		if err := tr.Update(ocpath.MustParse(p), []byte(js)); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return tr
}

const addr1 = `{"interface":[{"name":"eth1","config":{"mtu":1400},"subinterfaces":{"subinterface":[{"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"prefix-length":30}}]}}}]}},{"name":"eth2"}]}`

func TestFromTree(t *testing.T) {
	tr := tree(t, map[string]string{
		"/interfaces": addr1,
		"/network-instances": `{"network-instance":[{"name":"DEFAULT","config":{"type":"DEFAULT_INSTANCE"}},
		  {"name":"blue","interfaces":{"interface":[{"id":"eth1","config":{"interface":"eth1"}}]},
		   "protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[
		     {"index":"a","config":{"next-hop":"10.0.0.2"}},{"index":"b","config":{"next-hop":"10.0.0.3","metric":7}}]}}]}}]}}]}`,
	})
	cfg, err := FromTree(tr, ports)
	if err != nil {
		t.Fatal(err)
	}
	e1 := cfg.Interfaces["eth1"]
	if e1.MTU != 1400 || !e1.Enabled || len(e1.Addresses) != 1 || e1.Addresses[0] != netip.MustParsePrefix("10.0.0.1/30") {
		t.Errorf("eth1 = %+v", e1)
	}
	blue := cfg.Instances["blue"]
	if blue.Type != "L3VRF" || len(blue.Routes) != 1 || len(blue.Routes[0].NextHops) != 2 || blue.Routes[0].Metric != 7 {
		t.Errorf("blue = %+v", blue)
	}
	if cfg.InstanceOf("eth1") != "blue" || cfg.InstanceOf("eth2") != "" {
		t.Errorf("InstanceOf: %q %q", cfg.InstanceOf("eth1"), cfg.InstanceOf("eth2"))
	}
}

func TestFromTreeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		docs map[string]string
	}{
		{"unknown-port", map[string]string{"/interfaces": `{"interface":[{"name":"eth9"}]}`}},
		{"unconfigured-member", map[string]string{"/network-instances": `{"network-instance":[{"name":"blue","interfaces":{"interface":[{"id":"x","config":{"interface":"eth1"}}]}}]}`}},
		{"two-instances", map[string]string{"/interfaces": addr1, "/network-instances": `{"network-instance":[
			{"name":"blue","interfaces":{"interface":[{"id":"x","config":{"interface":"eth1"}}]}},
			{"name":"red","interfaces":{"interface":[{"id":"x","config":{"interface":"eth1"}}]}}]}`}},
		{"default-type-mismatch", map[string]string{"/network-instances": `{"network-instance":[{"name":"DEFAULT","config":{"type":"L3VRF"}}]}`}},
		{"other-default-instance", map[string]string{"/network-instances": `{"network-instance":[{"name":"x","config":{"type":"DEFAULT_INSTANCE"}}]}`}},
		{"l2vsi-bad-bridge-name", map[string]string{"/network-instances": `{"network-instance":[{"name":"a-bridge-name-too-long","config":{"type":"L2VSI"}}]}`}},
		{"duplicate-address", map[string]string{"/interfaces": `{"interface":[
			{"name":"eth1","subinterfaces":{"subinterface":[{"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"prefix-length":30}}]}}}]}},
			{"name":"eth2","subinterfaces":{"subinterface":[{"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"prefix-length":24}}]}}}]}}]}`}},
		{"address-without-length", map[string]string{"/interfaces": `{"interface":[{"name":"eth1","subinterfaces":{"subinterface":[{"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.0.0.1"}]}}}]}}]}`}},
		{"next-hop-without-address", map[string]string{"/network-instances": `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[{"index":"a","config":{"metric":1}}]}}]}}]}}]}`}},
		{"static-in-connected", map[string]string{"/network-instances": `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"DIRECTLY_CONNECTED","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16"}]}}]}}]}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromTree(tree(t, c.docs), ports)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v; want ErrInvalid", err)
			}
		})
	}
}
