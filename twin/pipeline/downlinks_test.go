package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// REQ-REL-01: L1 refuses an ordinary change that routes a flow over a link telemetry
// reports down (l1.down-links names the flow, its path, the link and since when), or
// over a link of a device telemetry reports unreachable; with the link reported up
// again the same change passes. Flows that avoid the link pass while it is down.
func TestL1RefusesObservedDownLinks(t *testing.T) {
	ctx := context.Background()
	m := chainTwin(t, network.Flow{ID: "f1", Src: "a", Dst: "c", Path: []string{"ab", "bc"}}) // f1, live on a-b-c
	svc := sqlitePipeline(t, m)
	propose := func(id string, path []string) *change.Check {
		t.Helper()
		cs := &change.ChangeSet{Kind: change.KindIntent, Level: change.L1, Twin: change.TwinDelta{AddFlows: []change.FlowSpec{
			{Flow: network.Flow{ID: id, Src: "a", Dst: path2dst(path), Path: path}}}}}
		if _, err := m.Live().Flow(id); err == nil {
			cs.Twin.RemoveFlows = []string{id}
			one := 1.0
			cs.Twin.AddFlows[0].DemandGbps = &one
		}
		c, err := svc.Propose(ctx, cs, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.Report.Checks {
			if c.Report.Checks[i].Name == "l1.down-links" {
				ck := c.Report.Checks[i]
				if ck.Status == change.Fail && c.State != change.StateRejected {
					t.Fatalf("%s failed but the change is %s", ck.Name, c.State)
				}
				return &ck
			}
		}
		t.Fatalf("no l1.down-links check in %+v", c.Report.Checks)
		return nil
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if ck := propose("f0", []string{"ab", "bc"}); ck.Status != change.Pass || ck.Message != "telemetry reports no link down" {
		t.Fatalf("before the failure: %+v", ck)
	}

	if err := m.Live().ObserveLink(ctx, "bc", twin.LinkState{OperStatus: network.StatusDisabled, At: at}); err != nil {
		t.Fatal(err)
	}
	ck := propose("f2", []string{"ab", "bc"})
	want := "flow f2: path ab,bc crosses link bc (oper status disabled since 2026-12-07T10:00:00Z), which telemetry reports down"
	if ck.Status != change.Fail || ck.Message != want {
		t.Fatalf("over the down link: %s %q; want %q", ck.Status, ck.Message, want)
	}
	// f1 re-added on the path it has (a change of its demand): not routed anew
	if ck := propose("f1", []string{"ab", "bc"}); ck.Status != change.Pass {
		t.Fatalf("f1 kept on its path: %+v", ck)
	}
	if ck := propose("f3", []string{"ab"}); ck.Status != change.Pass || ck.Message != "no added flow takes a link telemetry reports down (1 link)" {
		t.Fatalf("avoiding the down link: %+v", ck)
	}
	if err := m.Live().ObserveLink(ctx, "bc", twin.LinkState{OperStatus: network.StatusEnabled, At: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := m.Live().ObserveDevice(ctx, "a", false, at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ck = propose("f4", []string{"ab", "bc"})
	want = "flow f4: path ab,bc crosses link ab (device a unreachable since 2026-12-07T10:02:00Z), which telemetry reports down"
	if ck.Status != change.Fail || ck.Message != want {
		t.Fatalf("over an unreachable device's link: %s %q; want %q", ck.Status, ck.Message, want)
	}
	if err := m.Live().ObserveDevice(ctx, "a", true, at.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ck := propose("f5", []string{"ab", "bc"}); ck.Status != change.Pass {
		t.Fatalf("after the repair: %+v", ck)
	}
}

func path2dst(p []string) string {
	if len(p) == 2 {
		return "c"
	}
	return "b"
}
