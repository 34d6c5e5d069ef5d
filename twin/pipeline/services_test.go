package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// ringService is a pipeline over a ring of n routers (10 Gb/s, 1 ms links) whose
// devices carry management addresses and underlay labels (nothing is contacted: the
// tests validate only), with flow "gold" r-0 -> r-1 on the direct link and a 6 Gb/s
// SLO.
func ringService(t testing.TB, n int) (*pipeline.Service, *twin.Manager) {
	t.Helper()
	ctx := context.Background()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	net, err := network.Ring(n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range net.Devices {
		net.Devices[i].Address = fmt.Sprintf("127.0.0.1:%d", 20000+i)
		net.Devices[i].Labels = map[string]string{service.LabelUnderlay: fmt.Sprintf("192.0.2.%d", i+1)}
	}
	slo, _ := json.Marshal(change.SLO{MinRateGbps: 6})
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		if _, err := tx.Apply(net); err != nil {
			return err
		}
		if _, err := tx.PutFlow(network.Flow{ID: "gold", Src: "r-0", Dst: "r-1", Path: []string{"r-0--r-1"}, Owner: "bank"}, twin.Upsert, twin.Any); err != nil {
			return err
		}
		_, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:gold", Kind: "flow_slo", Spec: slo}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc := sqlitePipeline(t, m)
	return svc, m
}

func check(rep *change.Report, name string) change.Check {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	return change.Check{}
}

// TestServiceChangeValidated (REQ-SERV-01, REQ-SLI-03): a protected L2VPN compiled
// against the live twin is validated like any change: L0 passes on its device
// operations, L1 reports its two disjoint paths per direction, predicted rates and the
// effect on the existing flow.
func TestServiceChangeValidated(t *testing.T) {
	svc, _ := ringService(t, 6)
	ctx := context.Background()
	env, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &service.Service{ID: "wire", Type: service.L2VPN, L2: &service.L2Options{VNI: 42},
		Endpoints:   []service.Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-3", Interface: "eth9"}},
		Constraints: service.Constraints{CapacityGbps: 2, MaxLatencyMs: 5, Availability: 2, Protection: service.OnePlusOne}}
	cs, err := service.DefaultRegistry().Create(env, s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.Propose(ctx, cs, "orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateValidated {
		t.Fatalf("state %s: %+v", c.State, c.Report.Failed())
	}
	paths, _ := check(c.Report, "l1.paths").Evidence.(map[string]any)
	if len(paths) != 4 {
		t.Fatalf("l1.paths evidence %v; want the 4 flows' paths", check(c.Report, "l1.paths").Evidence)
	}
	rates := 0
	for _, k := range c.Report.KPIs {
		if k.Name == "rate" && strings.HasPrefix(k.Subject, "wire/") {
			rates++
		}
	}
	if rates != 4 {
		t.Fatalf("%d predicted rates for the service's flows; want 4 (%+v)", rates, c.Report.KPIs)
	}
	// gold shares r-0--r-1 with one of the paths: it loses rate but keeps its SLO
	if len(c.Report.Ripple) == 0 || c.Report.Ripple[0].Flow != "gold" {
		t.Fatalf("ripple %+v; want gold's rate change reported", c.Report.Ripple)
	}
}

// TestServiceRejected (REQ-SLI-04): a hard-isolated service that would push the
// existing flow below its SLO is rejected naming the flow and its bottleneck link; a
// soft one whose own bandwidth SLO the max-min share cannot meet is rejected naming its
// flow and bottleneck.
func TestServiceRejected(t *testing.T) {
	svc, _ := ringService(t, 6)
	ctx := context.Background()
	env, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hard := &service.Service{ID: "hard", Type: service.L2VPN, L2: &service.L2Options{VNI: 1},
		Endpoints:   []service.Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-1", Interface: "eth9"}},
		Constraints: service.Constraints{CapacityGbps: 6, Isolation: change.IsolationHard}}
	cs, err := service.DefaultRegistry().Create(env, hard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.Propose(ctx, cs, "orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	rc := check(c.Report, "l1.ripple")
	if c.State != change.StateRejected || rc.Status != change.Fail || !strings.Contains(rc.Message, "flow gold (bank)") {
		t.Fatalf("state %s ripple %+v", c.State, rc)
	}
	var gold *change.FlowImpact
	for i := range c.Report.Ripple {
		if c.Report.Ripple[i].Flow == "gold" {
			gold = &c.Report.Ripple[i]
		}
	}
	if gold == nil || !gold.Violates || !slices.Contains(gold.BottleneckAfter, "r-0--r-1") {
		t.Fatalf("gold impact %+v; want a violation with bottleneck r-0--r-1", gold)
	}

	// a fresh environment: the hard service's booking was for its own (rejected) change
	if env, err = svc.ServiceEnv(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	soft := &service.Service{ID: "soft", Type: service.L2VPN, L2: &service.L2Options{VNI: 2},
		Endpoints:   []service.Endpoint{{Device: "r-0", Interface: "eth8"}, {Device: "r-1", Interface: "eth8"}},
		Constraints: service.Constraints{CapacityGbps: 8}}
	cs, err = service.DefaultRegistry().Create(env, soft)
	if err != nil {
		t.Fatal(err)
	}
	c, err = svc.Propose(ctx, cs, "orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	bw := check(c.Report, "l1.bandwidth")
	if c.State != change.StateRejected || bw.Status != change.Fail || !strings.Contains(bw.Message, "flow soft/g1/0-1/p0") {
		t.Fatalf("state %s bandwidth %+v", c.State, bw)
	}
	ev, _ := json.Marshal(bw.Evidence)
	if !strings.Contains(string(ev), "r-0--r-1") {
		t.Fatalf("bandwidth evidence %s; want the bottleneck link", ev)
	}
}

// TestServiceEnvPerRevision: the compile environment kept per live revision equals one
// built afresh (service.NewEnv over the live devices, links and configurations), a
// caller's changes to its maps do not reach the next caller, and a new revision (a
// device's underlay label changed) gives a new environment.
func TestServiceEnvPerRevision(t *testing.T) {
	svc, m := ringService(t, 6)
	ctx := context.Background()
	fresh := func() *service.Env {
		t.Helper()
		var env *service.Env
		if err := m.Live().View(func(r *twin.Reader) error {
			n := r.Network()
			var err error
			env, err = service.NewEnv(&network.Network{Devices: n.Devices, Links: n.Links}, nil, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return env
	}
	same := func(got, want *service.Env) {
		t.Helper()
		if !maps.Equal(got.Underlay, want.Underlay) || !maps.Equal(got.SIDs, want.SIDs) || !maps.Equal(got.DownLinks, want.DownLinks) || len(got.Network.Devices) != len(want.Network.Devices) || len(got.Network.Links) != len(want.Network.Links) {
			t.Fatalf("environment %+v; built afresh %+v", got, want)
		}
	}
	e1, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	same(e1, fresh())
	e1.Underlay["r-0"] = netip.MustParseAddr("198.51.100.1")
	e1.DownLinks["r-0--r-1"] = true
	delete(e1.SIDs, "r-1")
	e2, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	same(e2, fresh())
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		d, err := tx.Device("r-2")
		if err != nil {
			return err
		}
		nd := d.Device
		nd.Labels = map[string]string{service.LabelUnderlay: "203.0.113.9"}
		_, err = tx.PutDevice(nd, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e3, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	same(e3, fresh())
	if e3.Underlay["r-2"] != netip.MustParseAddr("203.0.113.9") {
		t.Fatalf("underlay of r-2 after its label changed: %v", e3.Underlay["r-2"])
	}
}
