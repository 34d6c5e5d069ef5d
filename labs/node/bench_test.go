package node_test

import (
	"context"
	"fmt"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/labs/node"
	"github.com/twinflow/twinflow/labs/node/sim"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// benchServer runs a node (two sim ports, as a chain's middle router has) on loopback
// with its state refresher stopped, so only the RPCs under test use CPU.
func benchServer(b *testing.B) gpb.GNMIClient {
	b.Helper()
	d, err := sim.New([]string{"eth1", "eth2"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	srv, err := node.New(ctx, node.Options{Name: "r1", Dataplane: d})
	if err != nil {
		b.Fatal(err)
	}
	return node.ServeLoopback(b, srv)
}

// BenchmarkGetSetGet is one device's share of a committed change as physical/gnmi does
// it: a pre-image Get of the config subtree, a Set (update), a read-back Get.
func BenchmarkGetSetGet(b *testing.B) {
	c := benchServer(b)
	ctx := context.Background()
	p, err := tfgnmi.PathToProto("/interfaces/interface[name=eth1]/config")
	if err != nil {
		b.Fatal(err)
	}
	get := &gpb.GetRequest{Encoding: gpb.Encoding_JSON_IETF, Type: gpb.GetRequest_CONFIG, Path: []*gpb.Path{p}}
	i := 0
	for b.Loop() {
		i++
		mtu := 1500 + i%2*7500
		if _, err := c.Get(ctx, get); err != nil {
			b.Fatal(err)
		}
		set := &gpb.SetRequest{Update: []*gpb.Update{{Path: p, Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{
			JsonIetfVal: []byte(fmt.Sprintf(`{"mtu":%d,"description":"bench-%d"}`, mtu, mtu))}}}}}
		if _, err := c.Set(ctx, set); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Get(ctx, get); err != nil {
			b.Fatal(err)
		}
	}
}
