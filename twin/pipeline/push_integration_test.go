package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/certify"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// certifyChange records a certification of cs's content, as twinflow certify does.
func certifyChange(t *testing.T, l *lab, cs *change.ChangeSet, c *pipeline.Change, passed bool) repository.Certification {
	t.Helper()
	res, err := certify.FromReport(cs, c.Report, "server:test", time.Now(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	res.Passed = passed
	md, _ := certify.Markdown(res)
	h := sha256.Sum256(append(md, []byte(fmt.Sprint(passed))...))
	cert, err := certify.Record(context.Background(), l.store, res, hex.EncodeToString(h[:]))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func mtuOf(t *testing.T, l *lab, dev string) any {
	t.Helper()
	cfg := l.configOf(t, dev)
	ifs, _ := cfg["interfaces"].(map[string]any)
	list, _ := ifs["interface"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m["name"] == "eth1" {
			c, _ := m["config"].(map[string]any)
			return c["mtu"]
		}
	}
	return nil
}

// TestPushPolicyGate (issue #18 item 4; REQ-DLT-03) on PostgreSQL with three
// twinflow-node processes: a raw-config change where the push policy requires a
// certification is refused with the reason, sends nothing and stays approved, and the
// refusal is in the ledger; a certification of other content or a failing one does
// not count; once its content is certified it commits in the policy's stages (canary
// first); outside every maintenance window a commit is refused with the next opening.
func TestPushPolicyGate(t *testing.T) {
	l := newLabDSN(t, 3, postgresDSN(t))
	ctx := context.Background()
	pol, err := change.DecodePushPolicy([]byte(`
device_groups: {canary: [tfc-r1], core: ["tfc-r[23]"]}
require_certification: {kinds: [raw-config]}
stages: [canary, core]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.SetPushPolicy(ctx, pol, "admin", 0); err != nil {
		t.Fatal(err)
	}
	cs := mtuChange("gated", 9000, "tfc-r1", "tfc-r2", "tfc-r3")
	c := proposeApproved(t, l, cs)
	before := l.snapshot(t)

	c, err = l.svc.Commit(ctx, c.ID, "carla", 0)
	if !errors.Is(err, pipeline.ErrUncertified) || !strings.Contains(err.Error(), "raw-config") || !strings.Contains(err.Error(), "no passing certification") {
		t.Fatalf("uncertified commit: %v", err)
	}
	if c.State != change.StateApproved {
		t.Fatalf("a refused commit moved the change to %s", c.State)
	}
	sameConfigs(t, "after a refused push", before, l.snapshot(t))
	recs, err := l.store.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var refused, policy int
	for _, r := range recs {
		switch r.Kind {
		case pipeline.LedgerPushRefused:
			refused++
			if r.Subject != c.ID || !strings.Contains(string(r.Payload), "no passing certification") {
				t.Errorf("refusal record %s %s", r.Subject, r.Payload)
			}
		case pipeline.LedgerPushPolicy:
			policy++
		}
	}
	if refused != 1 || policy != 1 {
		t.Errorf("ledger: %d refusals, %d policies; want 1 and 1", refused, policy)
	}

	// a certification of other content, and a failing one of this content, do not count
	other := mtuChange("other", 9001, "tfc-r1", "tfc-r2", "tfc-r3")
	certifyChange(t, l, other, c, true)
	certifyChange(t, l, cs, c, false)
	if _, err := l.svc.Commit(ctx, c.ID, "carla", 0); !errors.Is(err, pipeline.ErrUncertified) {
		t.Fatalf("commit with only other or failing certifications: %v", err)
	}
	plan, err := l.svc.Plan(ctx, c.ID)
	if err != nil || plan.Allowed || !plan.CertificationRequired || len(plan.Stages) != 2 {
		t.Fatalf("plan %+v %v", plan, err)
	}

	// certified: the same content under another label and author counts
	same := *cs
	same.Label, same.Author = "ci-run-17", "ci"
	cert := certifyChange(t, l, &same, c, true)
	c, err = l.svc.Commit(ctx, c.ID, "carla", 0)
	if err != nil || c.State != change.StateCommitted {
		t.Fatalf("certified commit: %v %+v", err, c)
	}
	if c.Commit == nil || len(c.Commit.Stages) != 2 || c.Commit.StagesDone != 2 ||
		strings.Join(c.Commit.Stages[0], ",") != "tfc-r1" || strings.Join(c.Commit.Stages[1], ",") != "tfc-r2,tfc-r3" {
		t.Fatalf("commit record stages %v done %d", c.Commit.Stages, c.Commit.StagesDone)
	}
	got, _ := l.svc.Get(ctx, c.ID)
	var started string
	for _, tr := range got.Transitions {
		if tr.To == repository.StateCommitting {
			started = tr.Reason
		}
	}
	if !strings.Contains(started, "certified by "+cert.ID) || !strings.Contains(started, "canary[tfc-r1] -> core[tfc-r2,tfc-r3]") {
		t.Errorf("commit transition reason %q", started)
	}
	for _, d := range []string{"tfc-r1", "tfc-r2", "tfc-r3"} {
		if m := mtuOf(t, l, d); fmt.Sprint(m) != "9000" {
			t.Errorf("%s mtu %v after the staged commit", d, m)
		}
	}

	// a maintenance window that opens in two hours: commits are refused until then
	now := time.Now().UTC()
	open, end := now.Add(2*time.Hour), now.Add(3*time.Hour)
	win := fmt.Sprintf(`{"maintenance_windows":[{"start":%q,"end":%q}],"outside_window":"wait"}`, open.Format("15:04"), end.Format("15:04"))
	if pol, err = change.DecodePushPolicy([]byte(win)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.SetPushPolicy(ctx, pol, "admin", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.SetPushPolicy(ctx, pol, "admin", 1); !errors.Is(err, pipeline.ErrState) {
		t.Fatalf("a write at a stale version: %v", err)
	}
	late := mtuChange("late", 9100, "tfc-r2")
	late.DeviceOps["tfc-r2"] = late.DeviceOps["tfc-r2"][:1] // the MTU only (10.9.1.1 is on tfc-r1)
	c2 := proposeApproved(t, l, late)
	_, err = l.svc.Commit(ctx, c2.ID, "carla", 0)
	var we *pipeline.WindowError
	if !errors.Is(err, pipeline.ErrOutsideWindow) || !errors.As(err, &we) || !we.Wait {
		t.Fatalf("commit outside the window: %v", err)
	}
	if d := we.Next.Sub(open.Truncate(time.Minute)); d != 0 {
		t.Errorf("next window %s; want %s", we.Next, open.Truncate(time.Minute))
	}
	if m := mtuOf(t, l, "tfc-r2"); fmt.Sprint(m) != "9000" {
		t.Errorf("a commit refused outside the window reached tfc-r2 (mtu %v)", m)
	}
	// a malformed policy is refused and the stored one stays
	bad := &change.PushPolicy{Stages: []string{"nope"}}
	if _, err := l.svc.SetPushPolicy(ctx, bad, "admin", 0); !errors.Is(err, pipeline.ErrInvalid) {
		t.Fatalf("malformed policy: %v", err)
	}
	if _, rec, err := l.svc.PushPolicy(ctx); err != nil || rec.Version != 2 || !json.Valid(rec.Doc) {
		t.Fatalf("policy after a refused write: %+v %v", rec, err)
	}
	if v, err := l.store.Ledger().Verify(ctx); err != nil || !v.OK {
		t.Fatalf("ledger: %+v %v", v, err)
	}
}
