package standin_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// TestStartStop starts a node per device (ports from endpoints), checks each answers
// with its name and ports, and that cancelling the context ends every process.
func TestStartStop(t *testing.T) {
	net := network.Network{Devices: []network.Device{
		{ID: "a", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}},
		{ID: "b", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}}},
		{ID: "c", Type: network.DeviceHost},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := standin.Start(ctx, net, standin.Options{Bin: nodetest.Binary(t), TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if got := len(w.Addresses()); got != 3 {
		t.Fatalf("%d addresses; want 3", got)
	}
	pool := tfgnmi.NewPool(0)
	defer pool.Close()
	if err := w.Register(pool); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a": 2, "b": 1, "c": 1}
	errs := pool.ForEach(ctx, nil, func(ctx context.Context, name string, c *tfgnmi.Client) error {
		vs, err := c.GetJSON(ctx, 0, "/system/config/hostname", "/interfaces/interface[name=*]/config/name")
		if err != nil {
			return err
		}
		if vs[0].JSON == nil || string(vs[0].JSON) != `"`+name+`"` {
			return errors.New("hostname " + string(vs[0].JSON))
		}
		if len(vs)-1 != want[name] {
			return errors.New("wrong number of ports")
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cancel()
	for _, n := range w.Names() {
		nd, _ := w.Node(n)
		select {
		case <-nd.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("node %s still running after cancel", n)
		}
	}
}

func TestStartFailsCleanly(t *testing.T) {
	_, err := standin.Start(context.Background(), network.Network{Devices: []network.Device{{ID: "bad/name", Endpoints: []network.EndPoint{{ID: "eth[1"}}}}},
		standin.Options{Bin: nodetest.Binary(t)})
	if !errors.Is(err, standin.ErrStart) {
		t.Fatalf("err = %v; want ErrStart", err)
	}
	if _, err := standin.Start(context.Background(), network.Network{}, standin.Options{}); !errors.Is(err, standin.ErrSpec) {
		t.Fatalf("no binary: %v; want ErrSpec", err)
	}
}
