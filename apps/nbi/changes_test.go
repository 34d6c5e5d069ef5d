package nbi_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// fakeCommitter records the operations it was asked to commit (unit test only; the
// real engine is tested against twinflow-node processes in twin/pipeline).
type fakeCommitter struct {
	mu      sync.Mutex
	commits map[string]map[string][]change.Op
	window  map[string]bool
}

func (f *fakeCommitter) Commit(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits[id] = ops
	rec := &change.CommitRecord{ChangeID: id, Phase: change.PhaseConfirmed, Devices: map[string]*change.CommitDevice{}}
	if confirm > 0 {
		rec.Phase = change.PhaseAwaitingConfirm
		f.window[id] = true
	}
	return rec, nil
}

func (f *fakeCommitter) Confirm(ctx context.Context, id string) (*change.CommitRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.window, id)
	return &change.CommitRecord{ChangeID: id, Phase: change.PhaseConfirmed}, nil
}

func (f *fakeCommitter) Rollback(ctx context.Context, id, reason string) (*change.CommitRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.window, id)
	return &change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack, Reason: reason}, nil
}

func (f *fakeCommitter) Recover(context.Context) ([]*change.CommitRecord, error) { return nil, nil }

type fakeReader struct {
	mu  sync.Mutex
	cfg map[string]map[string]json.RawMessage
}

func (f *fakeReader) ReadConfig(ctx context.Context, dev string, paths []string) (map[string]json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]json.RawMessage{}
	for _, p := range paths {
		if v, ok := f.cfg[dev][p]; ok {
			out[p] = v
		}
	}
	return out, nil
}

func attachPipeline(t *testing.T, e *env) (*fakeCommitter, *pipeline.Service) {
	t.Helper()
	ctx := context.Background()
	// give one leaf a management address so it can take device operations
	if _, err := e.m.Live().Update(ctx, func(tx *twin.Txn) error {
		d, err := tx.Device("leaf-0")
		if err != nil {
			return err
		}
		nd := d.Device
		nd.Address = "127.0.0.1:9339"
		_, err = tx.PutDevice(nd, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "nbi.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fc := &fakeCommitter{commits: map[string]map[string][]change.Op{}, window: map[string]bool{}}
	svc, err := pipeline.New(pipeline.Config{Twins: e.m, Store: st, Committer: fc, DistinctApprover: true})
	if err != nil {
		t.Fatal(err)
	}
	o := e.o
	o.Changes = svc
	e.serve(o)
	return fc, svc
}

const mtuChangeJSON = `{"label":"mtu","kind":"raw-config","device_ops":{"leaf-0":[{"op":"update","path":"/interfaces/interface[name=eth9]/config","value":{"mtu":9000}}]}}`

func TestChangeAPI(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	// without a pipeline: 503
	r := e.do("GET", "/api/v1/changes", "")
	if r.status != 503 || problem(t, r).Type == "" {
		t.Fatalf("no pipeline: %d %s", r.status, r.body)
	}
	fc, svc := attachPipeline(t, e)
	// alice (engineer+operator) proposes and commits; carla approves. alice's requests
	// also name carla in the old actor header: it changes nothing (spoofing).
	bo := []string{"Authorization", bearer(e.sec.tokens["alice"]), nbi.ActorHeader, "carla"}
	carla := []string{"Authorization", bearer(e.sec.tokens["carla"])}
	op := bo

	// malformed: unknown field, named
	r = e.do("POST", "/api/v1/changes", `{"kind":"raw-config","bogus":1}`, bo...)
	if p := problem(t, r); r.status != 422 || !strings.Contains(p.Detail, "bogus") {
		t.Fatalf("unknown field: %d %+v", r.status, p)
	}
	r = e.do("POST", "/api/v1/changes", "kind: raw-config\ndevice_ops:\n  leaf-0:\n    - {op: frob, path: /a}\n", bo...)
	if p := problem(t, r); r.status != 422 || !strings.Contains(p.Detail, "device_ops[leaf-0][0].op") {
		t.Fatalf("bad op: %d %+v", r.status, p)
	}
	var list nbi.ChangeList
	e.json("GET", "/api/v1/changes", "", 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("rejected input was stored: %+v", list.Items)
	}

	// propose (JSON) -> validated
	var c pipeline.Change
	e.json("POST", "/api/v1/changes", mtuChangeJSON, 201, &c, bo...)
	if c.State != change.StateValidated || c.Author != "alice" || !c.Report.Passed {
		t.Fatalf("proposed: %+v", c)
	}
	// a rejected one (YAML body): unknown device
	var bad pipeline.Change
	e.json("POST", "/api/v1/changes", "kind: raw-config\ndevice_ops:\n  nope:\n    - {op: delete, path: \"/interfaces/interface[name=x]\"}\n", 201, &bad, bo...)
	if bad.State != change.StateRejected {
		t.Fatalf("bad change: %s", bad.State)
	}
	var failed pipeline.Change
	e.json("GET", "/api/v1/changes/"+bad.ID, "", 200, &failed)
	if len(failed.Report.Failed()) == 0 || failed.Report.Failed()[0].Name != "l0.references" || len(failed.Transitions) != 2 {
		t.Fatalf("rejected report: %+v", failed.Report.Failed())
	}

	e.json("GET", "/api/v1/changes?state=validated", "", 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != c.ID {
		t.Fatalf("list validated: %+v", list.Items)
	}
	if r := e.do("GET", "/api/v1/changes?state=bogus", ""); r.status != 400 || problem(t, r).Field != "state" {
		t.Fatalf("bad state filter: %d %s", r.status, r.body)
	}

	var d nbi.ChangeDiff
	e.json("GET", "/api/v1/changes/"+c.ID+"/diff", "", 200, &d)
	if len(d.Devices) != 1 || !strings.Contains(string(d.Devices[0].SetRequest), "jsonIetfVal") ||
		len(d.Devices[0].Lines) == 0 || !strings.Contains(d.Devices[0].Lines[0].String(), "eth9") {
		t.Fatalf("diff: %+v", d)
	}

	e.json("POST", "/api/v1/changes/"+c.ID+"/validate", "", 200, &c, bo...)
	if c.State != change.StateValidated {
		t.Fatalf("revalidated: %s", c.State)
	}
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/commit", "", op...); r.status != 409 {
		t.Fatalf("commit before approval: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/approve", "", bo...); r.status != 403 {
		t.Fatalf("self-approval: %d %s", r.status, r.body)
	}
	e.json("POST", "/api/v1/changes/"+c.ID+"/approve", "", 200, &c, carla...)
	if c.State != change.StateApproved || c.Approver != "carla" {
		t.Fatalf("approved: %+v", c)
	}
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/commit", `{"confirm_timeout":"soon"}`, op...); r.status != 400 || problem(t, r).Field != "confirm_timeout" {
		t.Fatalf("bad timeout: %d %s", r.status, r.body)
	}
	e.json("POST", "/api/v1/changes/"+c.ID+"/commit", `{"confirm_timeout":"60s"}`, 200, &c, op...)
	if c.State != change.StateCommitting || len(fc.commits[c.ID]["leaf-0"]) != 1 {
		t.Fatalf("commit: %+v %v", c, fc.commits)
	}
	e.json("POST", "/api/v1/changes/"+c.ID+"/confirm", "", 200, &c, op...)
	if c.State != change.StateCommitted {
		t.Fatalf("confirm: %s", c.State)
	}
	// the live twin holds the intended config
	var dc twin.DeviceConfig
	_ = e.m.Live().View(func(r *twin.Reader) error { dc, _ = r.DeviceConfig("leaf-0"); return nil })
	if !strings.Contains(string(dc.Config), "9000") {
		t.Fatalf("live config: %s", dc.Config)
	}
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/rollback", "", op...); r.status != 409 {
		t.Fatalf("rollback committed: %d %s", r.status, r.body)
	}

	// a second change: commit with a window, then roll back
	var c2 pipeline.Change
	e.json("POST", "/api/v1/changes", strings.Replace(mtuChangeJSON, "9000", "1400", 1), 201, &c2, bo...)
	e.json("POST", "/api/v1/changes/"+c2.ID+"/approve", "{}", 200, &c2, carla...)
	e.json("POST", "/api/v1/changes/"+c2.ID+"/commit", `{"confirm_timeout":"60s"}`, 200, &c2, op...)
	e.json("POST", "/api/v1/changes/"+c2.ID+"/rollback", `{"reason":"maintenance window closed"}`, 200, &c2, op...)
	if c2.State != change.StateRolledBack {
		t.Fatalf("rollback: %s", c2.State)
	}
	// drift: the device reports mtu 1500 where the intent says 9000
	if r := e.do("GET", "/api/v1/drift", ""); r.status != 503 {
		t.Fatalf("drift without detector: %d", r.status)
	}
	fr := &fakeReader{cfg: map[string]map[string]json.RawMessage{"leaf-0": {
		"/interfaces": json.RawMessage(`{"interface":[{"name":"eth9","config":{"mtu":1500}}]}`)}}}
	det := &pipeline.DriftDetector{Service: svc, Reader: fr}
	o := e.o
	o.Drift = det
	e.serve(o)
	var dl nbi.DriftList
	e.json("GET", "/api/v1/drift", "", 200, &dl)
	if len(dl.Items) != 0 {
		t.Fatalf("drift before a scan: %+v", dl.Items)
	}
	det.Scan(context.Background())
	e.json("GET", "/api/v1/drift", "", 200, &dl)
	if len(dl.Items) != 1 || dl.Items[0].Device != "leaf-0" || !strings.Contains(dl.Items[0].Lines[0].String(), "9000 -> 1500") {
		t.Fatalf("drift: %+v", dl.Items)
	}
	if r := e.do("POST", "/api/v1/drift/spine-0/reconcile", "", op...); r.status != 404 {
		t.Fatalf("reconcile a device without drift: %d", r.status)
	}
	var rc, ad pipeline.Change
	e.json("POST", "/api/v1/drift/leaf-0/reconcile", "", 201, &rc, op...)
	if rc.State != change.StateValidated || !strings.Contains(string(rc.ChangeSet.DeviceOps["leaf-0"][0].Value), "9000") {
		t.Fatalf("reconcile: %+v", rc)
	}
	e.json("POST", "/api/v1/drift/leaf-0/adopt", "", 201, &ad, op...)
	if ad.State != change.StateValidated || !strings.Contains(string(ad.ChangeSet.DeviceOps["leaf-0"][0].Value), "1500") {
		t.Fatalf("adopt: %+v", ad)
	}
	if r := e.do("GET", "/api/v1/changes/nope", ""); r.status != 404 {
		t.Fatalf("unknown change: %d", r.status)
	}
	b, _ := json.Marshal(c2)
	if !strings.Contains(string(b), `"rolled_back"`) {
		t.Fatalf("json: %s", b)
	}
}
