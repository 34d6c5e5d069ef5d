package closedloop_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// srPolicy commits an SR policy "te1" from a to c (SIDs on every device of the square)
// through the pipeline and returns its create change.
func srPolicy(t *testing.T, e *env, c service.Constraints) *pipeline.Change {
	t.Helper()
	return commitCompiled(t, e, func(reg *service.Registry, env *service.Env) (*change.ChangeSet, error) {
		return reg.Create(env, &service.Service{ID: "te1", Type: service.SRPolicy,
			SR: &service.SROptions{Prefix: "10.9.0.0/16"}, Constraints: c,
			Endpoints: []service.Endpoint{{Device: "a"}, {Device: "c"}}})
	})
}

// commitCompiled labels the square's devices (SRv6 SIDs, underlay addresses, a
// management address), compiles a service or slice in the live twin's environment and
// commits it through the pipeline.
func commitCompiled(t *testing.T, e *env, compile func(*service.Registry, *service.Env) (*change.ChangeSet, error)) *pipeline.Change {
	t.Helper()
	ctx := context.Background()
	if _, err := e.m.Live().Update(ctx, func(tx *twin.Txn) error {
		for i, id := range []string{"a", "b", "c", "d"} {
			d, err := tx.Device(id)
			if err != nil {
				return err
			}
			d.Labels = map[string]string{service.LabelSID: "fc00::" + string(rune('1'+i)), service.LabelUnderlay: "192.0.2." + string(rune('1'+i))}
			d.Address, d.Drivers = "127.0.0.1:9", []network.DriverKind{network.DriverGNMI} // never dialled: the committer is in-process
			if _, err := tx.PutDevice(d.Device, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	senv, err := e.svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := compile(service.DefaultRegistry(), senv)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := e.svc.Propose(ctx, cs, "alice")
	if err != nil || ch.State != change.StateValidated {
		t.Fatalf("propose the service: %v %v", err, failed(ch))
	}
	if _, err := e.svc.Approve(ctx, ch.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if ch, err = e.svc.Commit(ctx, ch.ID, "alice", 0); err != nil || ch.State != change.StateCommitted {
		t.Fatalf("commit the service: %+v %v", ch, err)
	}
	return ch
}

func record(t *testing.T, m *twin.Manager, id string) twin.Record {
	t.Helper()
	var rec twin.Record
	if err := m.Live().View(func(rd *twin.Reader) error {
		var err error
		rec, err = rd.Record(twin.TableServices, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rec
}

// REQ-REL-01, REQ-TE-03: a restoration moving a compiled service's flow recompiles the
// service onto a TE path avoiding the failed link, through the service compiler's
// update path: the restoration's change carries the device operations that move the
// SR policy (the old route deleted and the new one, out of the new first link with
// the new segment list, created on the head end), the service's new-generation flow,
// and its intent; committed, the record is active at generation 2, the twin holds the
// flow on the new path, and a service_events update names it. The plain flow that
// crossed the link moves as before, in the same change.
func TestRestoreRecompilesService(t *testing.T) {
	e := square(t, nil)
	ctx := context.Background()
	srPolicy(t, e, service.Constraints{CapacityGbps: 1, MaxLatencyMs: 10})
	// silver (on ad) asks 4 Gb/s here: on a-d-c, gold, silver and te1 (1 Gb/s) share ad
	if _, err := e.m.Live().Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:silver", Kind: "flow_slo", Spec: mustJSON(change.SLO{MinRateGbps: 4})}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if p := flowPath(t, e.m, "te1/g1/0-1/p0"); !slices.Equal(p, []string{"ab", "bc"}) {
		t.Fatalf("te1 created on %v; want [ab bc]", p)
	}
	sub := e.m.Events().Subscribe(twin.LiveID, e.m.Events().Seq())
	defer sub.Close()
	ck := newClock()
	r, err := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: e.m, Pipeline: e.svc, Services: e.svc,
		Approver: closedloop.NamedRule{Name: "auto-restore"}, Ledger: e.st.Ledger(), Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	rs := r.Restore(ctx, "link-down bc", []string{"bc"}, time.Time{}, ck.Now())
	if rs.Outcome != closedloop.OutcomeCommitted {
		t.Fatalf("restoration %s: %s", rs.Outcome, rs.Reason)
	}
	if len(rs.Recompiled) != 1 || rs.Recompiled[0].ID != "te1" || rs.Recompiled[0].Generation != 2 ||
		!slices.Equal(rs.Recompiled[0].Paths["te1/g2/0-1/p0"], []string{"ad", "dc"}) || !slices.Equal(rs.Recompiled[0].Devices, []string{"a"}) {
		t.Fatalf("recompiled %+v", rs.Recompiled)
	}
	if _, moved := rs.Paths["te1/g1/0-1/p0"]; moved || !slices.Equal(rs.Paths["gold"], []string{"ad", "dc"}) || len(rs.ServiceErrors) != 0 {
		t.Fatalf("plain moves %v, service errors %v", rs.Paths, rs.ServiceErrors)
	}
	c, err := e.svc.Get(ctx, rs.Change)
	if err != nil || c.State != change.StateCommitted {
		t.Fatalf("change %+v %v", c, err)
	}
	if n := len(c.ChangeSet.Intents); n != 2 || c.ChangeSet.Intents[0].Type != "restoration" || c.ChangeSet.Intents[1].Type != service.IntentService {
		t.Fatalf("intents %+v", c.ChangeSet.Intents)
	}
	// the device operations committed: on a only, delete the old route, create the new
	ops := e.fc.ops[rs.Change]
	if len(ops) != 1 || len(ops["a"]) == 0 {
		t.Fatalf("device ops %v", ops)
	}
	var del, upd bool
	for _, op := range ops["a"] {
		if !strings.Contains(op.Path, "static[prefix=10.9.0.0/16]") {
			continue
		}
		switch op.Op {
		case change.OpDelete:
			del = true
		case change.OpUpdate, change.OpReplace:
			v := string(op.Value)
			upd = strings.Contains(v, `"interface":"ad"`) && strings.Contains(v, `"sid":"fc00::4"`) && strings.Contains(v, `"sid":"fc00::3"`) && !strings.Contains(v, `"sid":"fc00::2"`)
		}
	}
	if !del || !upd {
		t.Fatalf("the SR route is not moved to a-d-c on a: %+v", ops["a"])
	}
	if p := flowPath(t, e.m, "te1/g2/0-1/p0"); !slices.Equal(p, []string{"ad", "dc"}) {
		t.Fatalf("te1 flow after restoration %v", p)
	}
	if _, err := e.m.Live().Flow("te1/g1/0-1/p0"); err == nil {
		t.Fatal("the old generation's flow is still in the twin")
	}
	rec := record(t, e.m, "te1")
	var spec service.Service
	if err := json.Unmarshal(rec.Spec, &spec); err != nil || rec.Status != string(service.StatusActive) || spec.Generation != 2 {
		t.Fatalf("record %+v %v", rec, err)
	}
	var ev *pipeline.ServiceEvent
	for done := false; !done; {
		select {
		case x := <-sub.C:
			if se, ok := x.Object.(*pipeline.ServiceEvent); ok && x.Table == pipeline.TableServiceEvents && se.ID == "te1" {
				ev = se
			}
		default:
			done = true
		}
	}
	if ev == nil || ev.Event != "update" || ev.Change != rs.Change || len(ev.Paths) != 1 || !slices.Equal(ev.Paths["te1/g2/0-1/p0"], []string{"ad", "dc"}) {
		t.Fatalf("service event %+v", ev)
	}
	led, err := e.st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range led {
		if l.Kind == "restoration.completed" && l.Subject == rs.ID && strings.Contains(string(l.Payload), `"id":"te1"`) {
			found = true
		}
	}
	if !found {
		t.Fatal("the ledger's restoration record does not name the recompiled service")
	}
}

// A service that cannot be recompiled (its latency bound is not met by any path left)
// is named; its flow then moves in the twin only, and L1 refuses the restoration for
// the latency SLO it would break (nothing is applied: a person decides).
func TestRestoreServiceNotRecompilable(t *testing.T) {
	e := square(t, nil)
	srPolicy(t, e, service.Constraints{CapacityGbps: 1, MaxLatencyMs: 3})
	r, _ := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: e.m, Pipeline: e.svc, Services: e.svc,
		Approver: closedloop.NamedRule{Name: "auto"}, Now: newClock().Now})
	rs := r.Restore(context.Background(), "link-down bc", []string{"bc"}, time.Time{}, time.Now())
	if len(rs.Recompiled) != 0 || len(rs.ServiceErrors) != 1 || !strings.HasPrefix(rs.ServiceErrors[0], "service te1 not recompiled") ||
		!strings.Contains(rs.ServiceErrors[0], "latency") {
		t.Fatalf("recompiled %+v errors %v", rs.Recompiled, rs.ServiceErrors)
	}
	if rs.Outcome != closedloop.OutcomeRejected || !strings.Contains(rs.Reason, "te1/g1/0-1/p0") {
		t.Fatalf("restoration %s: %s", rs.Outcome, rs.Reason)
	}
	if p := flowPath(t, e.m, "te1/g1/0-1/p0"); !slices.Equal(p, []string{"ab", "bc"}) {
		t.Fatalf("te1 moved although the restoration was refused: %v", p)
	}
}

func failed(c *pipeline.Change) []string {
	var out []string
	if c == nil || c.Report == nil {
		return nil
	}
	for _, ck := range c.Report.Checks {
		if ck.Status == change.Fail {
			out = append(out, ck.Name+": "+ck.Message)
		}
	}
	return out
}

// A slice whose member's flows cross the failed link is recompiled as a whole
// (UpdateSlice): its record is active at generation 2, both directions of its L2VPN
// member are on a-d-c, and the change deletes and re-creates the member's VXLAN
// interface and bridge on both PEs.
func TestRestoreRecompilesSlice(t *testing.T) {
	e := square(t, nil)
	ctx := context.Background()
	commitCompiled(t, e, func(reg *service.Registry, env *service.Env) (*change.ChangeSet, error) {
		return reg.CreateSlice(env, &service.Slice{ID: "s1", Constraints: service.Constraints{CapacityGbps: 1, Metric: "latency"},
			Services: []service.Service{{ID: "w", Type: service.L2VPN, L2: &service.L2Options{VNI: 42},
				Endpoints: []service.Endpoint{{Device: "a", Interface: "e1"}, {Device: "c", Interface: "e1"}}}}})
	})
	if p := flowPath(t, e.m, "s1.w/g1/0-1/p0"); !slices.Equal(p, []string{"ab", "bc"}) {
		t.Fatalf("s1.w created on %v; want [ab bc]", p)
	}
	if _, err := e.m.Live().Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:silver", Kind: "flow_slo", Spec: mustJSON(change.SLO{MinRateGbps: 4})}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r, _ := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: e.m, Pipeline: e.svc, Services: e.svc,
		Approver: closedloop.NamedRule{Name: "auto"}, Now: newClock().Now})
	rs := r.Restore(ctx, "link-down bc", []string{"bc"}, time.Time{}, time.Now())
	if rs.Outcome != closedloop.OutcomeCommitted {
		t.Fatalf("restoration %s: %s", rs.Outcome, rs.Reason)
	}
	if len(rs.Recompiled) != 1 || rs.Recompiled[0].Kind != "slices" || rs.Recompiled[0].ID != "s1" || rs.Recompiled[0].Generation != 2 ||
		!slices.Equal(rs.Recompiled[0].Devices, []string{"a", "c"}) {
		t.Fatalf("recompiled %+v (errors %v)", rs.Recompiled, rs.ServiceErrors)
	}
	if p := flowPath(t, e.m, "s1.w/g2/0-1/p0"); !slices.Equal(p, []string{"ad", "dc"}) {
		t.Fatalf("s1.w a->c after restoration %v", p)
	}
	if p := flowPath(t, e.m, "s1.w/g2/1-0/p0"); !slices.Equal(p, []string{"dc" + network.ReverseSuffix, "ad" + network.ReverseSuffix}) {
		t.Fatalf("s1.w c->a after restoration %v", p)
	}
	var rec twin.Record
	_ = e.m.Live().View(func(rd *twin.Reader) error { rec, _ = rd.Record(twin.TableSlices, "s1"); return nil })
	var sl service.Slice
	if err := json.Unmarshal(rec.Spec, &sl); err != nil || rec.Status != string(service.StatusActive) || sl.Generation != 2 {
		t.Fatalf("slice record %+v %v", rec, err)
	}
	for _, dev := range []string{"a", "c"} {
		var del, add bool
		for _, op := range e.fc.ops[rs.Change][dev] {
			if strings.Contains(op.Path, "interface[name=vx") {
				del = del || op.Op == change.OpDelete
				add = add || op.Op != change.OpDelete
			}
		}
		if !del || !add {
			t.Fatalf("%s: the member's VXLAN interface is not re-created: %+v", dev, e.fc.ops[rs.Change][dev])
		}
	}
}
