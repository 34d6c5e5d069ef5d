package pipeline

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
)

func intentCS(kind change.Kind, typ, name string, spec any) *change.ChangeSet {
	b, _ := json.Marshal(spec)
	return &change.ChangeSet{Kind: kind, Intents: []change.Intent{{Type: typ, Name: name, Spec: b}}}
}

// TestServiceRecordLifecycle (REQ-SLI-01): the record of a service goes planned (in the
// fork) -> active (committed) -> updating -> active -> pending-removal -> removed, in
// the services table beside (never over) the flows' "slo:" records; malformed intents
// fail the twin update.
func TestServiceRecordLifecycle(t *testing.T) {
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	live := m.Live()
	s := service.Service{ID: "wire", Type: service.L2VPN}
	step := func(cs *change.ChangeSet, committed bool) error {
		_, err := live.Update(context.Background(), func(tx *twin.Txn) error { _, err := serviceRecords(tx, cs, committed); return err })
		return err
	}
	status := func() string {
		var st string
		_ = live.View(func(r *twin.Reader) error {
			rec, err := r.Record(twin.TableServices, "wire")
			if err == nil {
				st = rec.Status + "/" + rec.Kind
			}
			return nil
		})
		return st
	}
	create := intentCS(change.KindService, service.IntentService, "wire", s)
	del := intentCS(change.KindService, service.IntentServiceDelete, "wire", s)
	for i, c := range []struct {
		cs        *change.ChangeSet
		committed bool
		want      string
	}{
		{create, false, "planned/l2vpn"},
		{create, true, "active/l2vpn"},
		{create, false, "updating/l2vpn"},
		{create, true, "active/l2vpn"},
		{del, false, "pending-removal/l2vpn"},
		{del, true, ""},
	} {
		if err := step(c.cs, c.committed); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := status(); got != c.want {
			t.Fatalf("step %d: record %q; want %q", i, got, c.want)
		}
	}
	sl := service.Slice{ID: "factory"}
	if err := step(intentCS(change.KindSlice, service.IntentSlice, "factory", sl), true); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		cs   *change.ChangeSet
		want string
	}{
		{del, "does not exist"},
		{intentCS(change.KindService, service.IntentService, "slo:gold", service.Service{ID: "slo:gold"}), "no ':'"},
		{intentCS(change.KindService, service.IntentService, "a", service.Service{ID: "b"}), "must equal its name"},
		{intentCS(change.KindSlice, service.IntentService, "wire", s), "carries a service intent"},
		{intentCS(change.KindService, "policy", "x", s), "not a service or slice"},
	} {
		if err := step(bad.cs, false); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v; want an error mentioning %q", bad.cs.Intents[0], err, bad.want)
		}
	}
}
