package sim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/node/dataplane"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCountersIntegrateRates(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	d, err := New([]string{"eth1", "eth2"}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetRates("eth1", Rates{InBps: 8e9, OutBps: 4e9, InPps: 1000}); err != nil {
		t.Fatal(err)
	}
	st := map[string]dataplane.PortState{}
	c.t = c.t.Add(2 * time.Second)
	_ = d.State(context.Background(), st)
	if got := st["eth1"].Counters; got.InOctets != 2e9 || got.OutOctets != 1e9 || got.InPkts != 2000 || !st["eth1"].OperUp {
		t.Fatalf("after 2 s: %+v", st["eth1"])
	}
	// Link down: oper DOWN, counters frozen.
	if err := d.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Second)
	_ = d.State(context.Background(), st)
	if st["eth1"].OperUp || st["eth1"].Counters.InOctets != 2e9 {
		t.Fatalf("link down: %+v", st["eth1"])
	}
	// Admin down through Apply: oper DOWN even with the link up.
	_ = d.SetLink("eth1", true)
	if err := d.Apply(context.Background(), dataplane.Config{Interfaces: map[string]dataplane.Interface{"eth1": {Name: "eth1", Enabled: false}}}); err != nil {
		t.Fatal(err)
	}
	_ = d.State(context.Background(), st)
	if st["eth1"].OperUp || st["eth1"].AdminUp {
		t.Fatalf("admin down: %+v", st["eth1"])
	}
	if err := d.Apply(context.Background(), dataplane.Config{Interfaces: map[string]dataplane.Interface{"eth9": {}}}); err == nil {
		t.Fatal("Apply with an unknown port succeeded")
	}
	d.FailNextApply(1)
	if err := d.Apply(context.Background(), dataplane.Config{}); err == nil {
		t.Fatal("injected failure did not fail")
	}
	if err := d.Apply(context.Background(), dataplane.Config{}); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if _, err := New([]string{"a", "a"}, nil); err == nil {
		t.Fatal("duplicate port accepted")
	}
	if _, err := New([]string{"a/b"}, nil); err == nil {
		t.Fatal("port with '/' accepted")
	}
}

func TestFaultHandler(t *testing.T) {
	d, _ := New([]string{"eth1"}, nil)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/interfaces/eth1/down", "", 204},
		{"POST", "/interfaces/eth1/up", "", 204},
		{"POST", "/interfaces/eth9/down", "", 404},
		{"POST", "/interfaces/eth1/sideways", "", 404},
		{"POST", "/traffic", `{"eth1":{"in_bps":1e9}}`, 204},
		{"POST", "/traffic", `{"eth9":{"in_bps":1e9}}`, 404},
		{"POST", "/traffic", `{"eth1":{"in_bps":-1}}`, 400},
		{"POST", "/traffic", `{"eth1":{"speed":1}}`, 400},
		{"POST", "/traffic", `[`, 400},
		{"POST", "/fail-next-apply?count=x", "", 400},
		{"POST", "/fail-next-apply?count=2", "", 204},
		{"GET", "/state", "", 200},
		{"GET", "/interfaces/eth1/down", "", 405},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s %s: %d; want %d", c.method, c.path, c.body, resp.StatusCode, c.want)
		}
	}
}

// TestTrafficAllOrNothing: a traffic document with one bad rate changes no port. The
// document is a map, handled in Go's randomised map order: over 64 documents a valid
// port comes before the bad one all but certainly (a miss has probability 3^-64).
func TestTrafficAllOrNothing(t *testing.T) {
	d, _ := New([]string{"eth1", "eth2", "eth3"}, nil)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	for range 64 {
		resp, err := http.Post(srv.URL+"/traffic", "application/json", strings.NewReader(`{"eth1":{"in_bps":1e9},"eth2":{"out_bps":-1},"eth3":{"in_pps":5}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d; want 400", resp.StatusCode)
		}
		d.mu.Lock()
		for n, p := range d.ports {
			if p.rates != (Rates{}) {
				d.mu.Unlock()
				t.Fatalf("port %s has rates %+v after a rejected traffic document", n, p.rates)
			}
		}
		d.mu.Unlock()
	}
}

// TestApplyServices: the sim dataplane holds VXLAN interfaces, L2VSI bridges and SRv6
// routes in its configuration (no ports are created for them), and still refuses an
// interface that is neither a port nor a VXLAN endpoint.
func TestApplyServices(t *testing.T) {
	d, err := New([]string{"eth1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := dataplane.Config{
		Interfaces: map[string]dataplane.Interface{
			"eth1":  {Name: "eth1", Enabled: true},
			"vx100": {Name: "vx100", Enabled: true, VXLAN: &dataplane.VXLAN{VNI: 100, Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2")}},
		},
		Instances: map[string]dataplane.Instance{"br": {Name: "br", Type: dataplane.InstanceL2VSI, Interfaces: []string{"eth1", "vx100"}}},
	}
	if err := d.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := d.Config().Interfaces["vx100"].VXLAN; got == nil || got.VNI != 100 {
		t.Fatalf("vx100 not held: %+v", d.Config().Interfaces)
	}
	ports, _ := d.Ports(context.Background())
	if len(ports) != 1 {
		t.Fatalf("ports %v: a VXLAN interface is not a port", ports)
	}
	cfg.Interfaces["eth9"] = dataplane.Interface{Name: "eth9"}
	if err := d.Apply(context.Background(), cfg); !errors.Is(err, dataplane.ErrInvalid) {
		t.Fatalf("unknown non-VXLAN interface: %v", err)
	}
}

// TestCarryFault: a port told to carry 50% counts half its configured traffic (the
// fault the model-divergence test injects, issue 17); bad requests change nothing.
func TestCarryFault(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	d, err := New([]string{"eth1"}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetRates("eth1", Rates{InBps: 8e9, OutBps: 8e9, InPps: 1000, OutPps: 1000, InErrorsPs: 10}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	post := func(path string) int {
		res, err := http.Post(srv.URL+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("/interfaces/eth1/carry?percent=50"); code != http.StatusNoContent {
		t.Fatalf("carry: %d", code)
	}
	for path, want := range map[string]int{"/interfaces/eth1/carry?percent=150": 400, "/interfaces/eth1/carry?percent=x": 400,
		"/interfaces/eth1/carry": 400, "/interfaces/eth1/carry?percent=NaN": 400, "/interfaces/eth9/carry?percent=10": 404} {
		if code := post(path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	c.t = c.t.Add(time.Second)
	st := map[string]dataplane.PortState{}
	_ = d.State(context.Background(), st)
	if got := st["eth1"].Counters; got.InOctets != 5e8 || got.OutOctets != 5e8 || got.InPkts != 500 || got.InErrors != 10 {
		t.Fatalf("at 50%%: %+v", got)
	}
	if err := d.SetCarry("eth1", 100); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Second)
	_ = d.State(context.Background(), st)
	if got := st["eth1"].Counters; got.InOctets != 15e8 {
		t.Fatalf("restored: %+v", got)
	}
}
