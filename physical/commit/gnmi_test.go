package commit_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/physical/gnmi"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// TestGNMIDevicesFollowAddressChange: GNMIDevices resolves a device on every use, so
// once its management address changes (two real twinflow-node processes stand for the
// old and the new box) its Sets and Gets go to the new address, and the old client is
// closed; it used to keep the first client for good and configure the old box.
func TestGNMIDevicesFollowAddressChange(t *testing.T) {
	ctx := context.Background()
	var boxes [2]*standin.Node
	for i := range boxes {
		n, err := standin.StartNode(ctx, nodetest.Binary(t), standin.NodeSpec{Name: "r1", Ports: []string{"eth1"}, FaultAddr: "-"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Stop)
		boxes[i] = n
	}
	var addr atomic.Value
	addr.Store(boxes[0].GNMIAddr)
	pool := gnmi.NewPool(4)
	t.Cleanup(func() { _ = pool.Close() })
	devs := &commit.GNMIDevices{Pool: pool, Resolve: func(context.Context, string) (gnmi.Options, error) {
		return gnmi.Options{Address: addr.Load().(string), Target: "r1", Insecure: true}, nil
	}}
	const desc = "/interfaces/interface[name=eth1]/config/description"
	set := func(v string) {
		t.Helper()
		d, err := devs.Device(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(v)
		if err := d.Set(ctx, []change.Op{{Op: change.OpUpdate, Path: desc, Value: raw}}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(n *standin.Node) string {
		t.Helper()
		c, err := gnmi.Dial(gnmi.Options{Address: n.GNMIAddr, Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := commit.GNMIDevice{C: c}.Get(ctx, []string{desc})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(string(got[desc]), `"`)
	}

	set("at-old-address")
	old, _ := pool.Client("r1")
	addr.Store(boxes[1].GNMIAddr)
	set("at-new-address")
	if got := read(boxes[1]); got != "at-new-address" {
		t.Errorf("the box at the new address has description %q, want at-new-address", got)
	}
	if got := read(boxes[0]); got != "at-old-address" {
		t.Errorf("the box at the old address has description %q: it was configured after the address changed", got)
	}
	cur, _ := pool.Client("r1")
	if cur == old || cur.Address() != boxes[1].GNMIAddr {
		t.Errorf("pooled client %p at %s; want a new one at %s", cur, cur.Address(), boxes[1].GNMIAddr)
	}
	if err := old.Close(); err == nil {
		t.Error("the client of the old address was not closed when replaced")
	}
	// unchanged address: the pooled client is reused
	if d, err := devs.Device(ctx, "r1"); err != nil || d.(commit.GNMIDevice).C != cur {
		t.Errorf("same address: client %v, err %v; want the pooled %p", d, err, cur)
	}
}
