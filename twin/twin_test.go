package twin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

var ctx = context.Background()

func setCapacity(t *testing.T, tw *twin.Twin, id string, c float64) {
	t.Helper()
	if _, err := tw.Update(ctx, func(tx *twin.Txn) error {
		l, err := tx.Link(id)
		if err != nil {
			return err
		}
		l.CapacityGbps = c
		_, err = tx.PutLink(l.Link, twin.UpdateOnly, l.Revision)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestForkIsolation(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	load(t, live, leafSpine(t))
	rev := live.Revision()
	f, err := m.Fork(ctx, twin.LiveID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Info().Parent, twin.LiveID; got != want {
		t.Errorf("parent %q; want %q", got, want)
	}
	if got := f.Info().ParentRevision; got != rev {
		t.Errorf("parent revision %d; want %d", got, rev)
	}
	const id = "spine-0--leaf-0"
	setCapacity(t, f, id, 40)
	if l, _ := f.Link(id); l.CapacityGbps != 40 {
		t.Errorf("fork capacity %v; want 40", l.CapacityGbps)
	}
	if l, _ := live.Link(id); l.CapacityGbps == 40 {
		t.Errorf("write in fork reached the parent")
	}
	if live.Revision() != rev {
		t.Errorf("parent revision moved: %d -> %d", rev, live.Revision())
	}
	// Write in the parent after the fork: the fork is unchanged.
	setCapacity(t, live, "spine-1--leaf-1", 7)
	if l, _ := f.Link("spine-1--leaf-1"); l.CapacityGbps == 7 {
		t.Errorf("write in parent reached the fork")
	}
	// Fork of a fork sees the fork's state, and stays independent.
	ff, err := m.Fork(ctx, f.ID())
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := ff.Link(id); l.CapacityGbps != 40 {
		t.Errorf("fork of fork capacity %v; want 40", l.CapacityGbps)
	}
	if _, err := ff.Update(ctx, func(tx *twin.Txn) error { return tx.DeleteFlow("nope", twin.Any) }); !errors.Is(err, twin.ErrNotFound) {
		t.Errorf("delete unknown flow: %v; want ErrNotFound", err)
	}
	// Deleting a fork leaves its fork alone; deleting live is refused.
	if err := m.Delete(ctx, f.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(f.ID()); !errors.Is(err, twin.ErrNotFound) {
		t.Errorf("deleted fork still there: %v", err)
	}
	if _, err := m.Get(ff.ID()); err != nil {
		t.Errorf("fork of deleted fork gone: %v", err)
	}
	if err := m.Delete(ctx, twin.LiveID); !errors.Is(err, twin.ErrLiveTwin) {
		t.Errorf("delete live: %v; want ErrLiveTwin", err)
	}
	if _, err := m.Fork(ctx, "fork-99"); !errors.Is(err, twin.ErrNotFound) {
		t.Errorf("fork of unknown twin: %v; want ErrNotFound", err)
	}
}

func TestReferentialIntegrity(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	n := leafSpine(t)
	load(t, live, n)
	h := hops(n)
	before := live.Revision()
	cases := []struct {
		name      string
		fn        func(tx *twin.Txn) error
		sentinel  error
		table     twin.Table
		field     string
		wantInMsg string
	}{
		{"link-unknown-device", func(tx *twin.Txn) error {
			_, err := tx.PutLink(network.Link{ID: "x", CapacityGbps: 1, Endpoints: []network.EndPointRef{
				{Device: "leaf-0", EndPoint: "eth9"}, {Device: "ghost", EndPoint: "eth1"}}}, twin.CreateOnly, twin.Any)
			return err
		}, twin.ErrConflict, twin.TableLinks, "endpoints[0].endpoint", "no endpoint"},
		{"link-endpoint-in-use", func(tx *twin.Txn) error {
			if _, err := tx.PutDevice(network.Device{ID: "new", Type: network.DeviceHost,
				Endpoints: []network.EndPoint{{ID: "eth1"}}}, twin.CreateOnly, twin.Any); err != nil {
				return err
			}
			_, err := tx.PutLink(network.Link{ID: "x", CapacityGbps: 1, Endpoints: []network.EndPointRef{
				{Device: "new", EndPoint: "eth1"}, {Device: "leaf-0", EndPoint: "eth1"}}}, twin.CreateOnly, twin.Any)
			return err
		}, twin.ErrConflict, twin.TableLinks, "endpoints[1]", "already used by link"},
		{"delete-device-in-use", func(tx *twin.Txn) error {
			return tx.DeleteDevice("spine-0", twin.Any)
		}, twin.ErrConflict, twin.TableDevices, "", `link "spine-0--leaf-0"`},
		{"delete-link-in-use-by-flow", func(tx *twin.Txn) error {
			if _, err := tx.PutFlow(network.Flow{ID: "f1", Src: "h-0-0", Dst: "h-1-0",
				Path: pathOf(t, h, "h-0-0", "leaf-0", "spine-0", "leaf-1", "h-1-0")}, twin.CreateOnly, twin.Any); err != nil {
				return err
			}
			return tx.DeleteLink("spine-0--leaf-1", twin.Any)
		}, twin.ErrConflict, twin.TableLinks, "", `flow "f1"`},
		{"move-link-under-flow", func(tx *twin.Txn) error {
			if _, err := tx.PutFlow(network.Flow{ID: "f1", Src: "h-0-0", Dst: "h-1-0",
				Path: pathOf(t, h, "h-0-0", "leaf-0", "spine-0", "leaf-1", "h-1-0")}, twin.CreateOnly, twin.Any); err != nil {
				return err
			}
			if _, err := tx.PutDevice(network.Device{ID: "new", Type: network.DeviceHost,
				Endpoints: []network.EndPoint{{ID: "e1"}}}, twin.CreateOnly, twin.Any); err != nil {
				return err
			}
			l, _ := tx.Link("leaf-1--h-1-0")
			l.Endpoints = []network.EndPointRef{l.Endpoints[0], {Device: "new", EndPoint: "e1"}}
			_, err := tx.PutLink(l.Link, twin.UpdateOnly, twin.Any)
			return err
		}, twin.ErrConflict, twin.TableFlows, "path", "not dst"},
		{"flow-broken-path", func(tx *twin.Txn) error {
			_, err := tx.PutFlow(network.Flow{ID: "f2", Src: "h-0-0", Dst: "h-1-0",
				Path: pathOf(t, h, "h-0-0", "leaf-0", "spine-0")}, twin.CreateOnly, twin.Any)
			return err
		}, twin.ErrConflict, twin.TableFlows, "path", "not dst"},
		{"remove-endpoint-in-use", func(tx *twin.Txn) error {
			d, err := tx.Device("h-0-0")
			if err != nil {
				return err
			}
			d.Endpoints = nil
			_, err = tx.PutDevice(d.Device, twin.UpdateOnly, d.Revision)
			return err
		}, twin.ErrConflict, twin.TableLinks, "endpoints[1].endpoint", "no endpoint"},
		{"create-existing", func(tx *twin.Txn) error {
			_, err := tx.PutDevice(network.Device{ID: "leaf-0", Type: network.DeviceSwitch}, twin.CreateOnly, twin.Any)
			return err
		}, twin.ErrExists, twin.TableDevices, "", "already exists"},
		{"stale-revision", func(tx *twin.Txn) error {
			l, _ := tx.Link("spine-0--leaf-0")
			l.CapacityGbps = 1
			_, err := tx.PutLink(l.Link, twin.UpdateOnly, l.Revision+1)
			return err
		}, twin.ErrPrecondition, "", "", "expected"},
		{"invalid-device", func(tx *twin.Txn) error {
			_, err := tx.PutDevice(network.Device{ID: "bad", Type: "toaster"}, twin.CreateOnly, twin.Any)
			return err
		}, twin.ErrInvalid, twin.TableDevices, "type", "unknown device type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := live.Update(ctx, c.fn)
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("got %v; want %v", err, c.sentinel)
			}
			if msg := err.Error(); !contains(msg, c.wantInMsg) {
				t.Errorf("error %q does not mention %q", msg, c.wantInMsg)
			}
			var oe *twin.ObjectError
			if c.table != "" {
				if !errors.As(err, &oe) {
					t.Fatalf("not an ObjectError: %T", err)
				}
				if oe.Table != c.table || oe.Field != c.field {
					t.Errorf("table/field %s/%q; want %s/%q", oe.Table, oe.Field, c.table, c.field)
				}
			}
			if live.Revision() != before {
				t.Errorf("revision moved after a failed transaction")
			}
			// State untouched.
			if _, err := live.Device("new"); !errors.Is(err, twin.ErrNotFound) {
				t.Errorf("partial write visible: %v", err)
			}
			if _, err := live.Flow("f1"); !errors.Is(err, twin.ErrNotFound) {
				t.Errorf("partial write visible: %v", err)
			}
			if _, err := live.Device("spine-0"); err != nil {
				t.Errorf("device deleted by a failed txn: %v", err)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestRevisions(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	if live.Revision() != 0 {
		t.Fatalf("empty twin revision %d", live.Revision())
	}
	load(t, live, leafSpine(t))
	if got := live.Revision(); got != 1 {
		t.Errorf("revision after one txn %d; want 1", got)
	}
	d, _ := live.Device("leaf-0")
	if d.Revision != 1 {
		t.Errorf("object revision %d; want 1", d.Revision)
	}
	// An unchanged write does not advance the revision.
	load(t, live, leafSpine(t))
	if got := live.Revision(); got != 1 {
		t.Errorf("revision after no-op apply %d; want 1", got)
	}
	setCapacity(t, live, "spine-0--leaf-0", 5)
	l, _ := live.Link("spine-0--leaf-0")
	if live.Revision() != 2 || l.Revision != 2 {
		t.Errorf("after update: twin %d link %d; want 2 2", live.Revision(), l.Revision)
	}
	if d, _ := live.Device("leaf-0"); d.Revision != 1 {
		t.Errorf("untouched object revision changed to %d", d.Revision)
	}
}

func TestEvents(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	sub := m.Events().Subscribe(twin.LiveID, 0)
	defer sub.Close()
	all := m.Events().Subscribe("", 0)
	defer all.Close()
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutDevice(network.Device{ID: "d1", Type: network.DeviceRouter}, twin.CreateOnly, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutDevice(network.Device{ID: "d1", Type: network.DeviceSwitch}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Update(ctx, func(tx *twin.Txn) error { return tx.DeleteDevice("d1", twin.Any) }); err != nil {
		t.Fatal(err)
	}
	f, _ := m.Fork(ctx, twin.LiveID)
	want := []twin.Op{twin.OpCreate, twin.OpUpdate, twin.OpRemove}
	for i, op := range want {
		ev := recv(t, sub.C)
		if ev.Op != op || ev.ID != "d1" || ev.Table != twin.TableDevices || ev.Twin != twin.LiveID {
			t.Errorf("event %d: %+v; want %s devices/d1", i, ev, op)
		}
		if ev.Seq != uint64(i+1) || ev.Revision != uint64(i+1) {
			t.Errorf("event %d: seq %d revision %d; want %d", i, ev.Seq, ev.Revision, i+1)
		}
		if d, ok := ev.Object.(*twin.Device); !ok || d.ID != "d1" {
			t.Errorf("event %d object %T %v", i, ev.Object, ev.Object)
		}
	}
	for range want {
		recv(t, all.C)
	}
	if ev := recv(t, all.C); ev.Table != twin.TableTwins || ev.Op != twin.OpCreate || ev.ID != f.ID() {
		t.Errorf("fork event %+v", ev)
	}
	select {
	case ev := <-sub.C:
		t.Errorf("live subscriber got a fork event %+v", ev)
	default:
	}
	// Resume after seq 1: events 2, 3 and the fork event.
	res := m.Events().Subscribe("", 1)
	defer res.Close()
	for _, seq := range []uint64{2, 3, 4} {
		if ev := recv(t, res.C); ev.Seq != seq {
			t.Errorf("resumed seq %d; want %d", ev.Seq, seq)
		}
	}
}

func recv(t *testing.T, c <-chan twin.Event) twin.Event {
	t.Helper()
	select {
	case ev := <-c:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return twin.Event{}
	}
}

func TestHubLagged(t *testing.T) {
	h := twin.NewHub(twin.HubOptions{History: 8, Buffer: 2})
	slow := h.Subscribe("", 0)
	defer slow.Close()
	for i := range 5 {
		h.Publish([]twin.Event{{Twin: "live", Op: twin.OpCreate, ID: fmt.Sprint(i)}})
	}
	got := []twin.Op{}
	for range 3 {
		got = append(got, (<-slow.C).Op)
	}
	if want := []twin.Op{twin.OpCreate, twin.OpCreate, twin.OpLagged}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v; want %v", got, want)
	}
	// After draining, delivery resumes.
	h.Publish([]twin.Event{{Twin: "live", Op: twin.OpUpdate, ID: "x"}})
	if ev := <-slow.C; ev.Op != twin.OpUpdate || ev.Seq != 6 {
		t.Errorf("after lag: %+v", ev)
	}
	// Resuming from before the kept history starts with a lagged marker.
	for i := range 10 {
		h.Publish([]twin.Event{{Twin: "live", Op: twin.OpCreate, ID: fmt.Sprint(i)}})
	}
	r := h.Subscribe("", 1)
	defer r.Close()
	if ev := <-r.C; ev.Op != twin.OpLagged {
		t.Errorf("resume from forgotten seq: first %+v; want lagged", ev)
	}
	if ev := <-r.C; ev.Seq != 9 {
		t.Errorf("first kept event seq %d; want 9", ev.Seq)
	}
	// A sequence number from the future (a restarted server) also starts with lagged.
	fut := h.Subscribe("", 1000)
	defer fut.Close()
	if ev := <-fut.C; ev.Op != twin.OpLagged {
		t.Errorf("resume from unknown future seq: first %+v; want lagged", ev)
	}
	h.Close()
	if _, ok := <-slow.C; ok {
		// drain the remaining buffered events; the channel must end closed
		for range slow.C {
		}
	}
}

func TestObserve(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	load(t, live, leafSpine(t))
	rev := live.Revision()
	sub := m.Events().Subscribe(twin.LiveID, 0)
	defer sub.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := twin.InterfaceState{OperStatus: network.StatusEnabled, InOctets: 100, OutRateGbps: 2.5, At: at}
	if err := live.ObserveInterface(ctx, "leaf-0", "eth1", st); err != nil {
		t.Fatal(err)
	}
	if err := live.ObserveDevice(ctx, "leaf-0", false, at); err != nil {
		t.Fatal(err)
	}
	ls := twin.LinkState{OperStatus: network.StatusEnabled, RateGbps: [2]float64{1, 2}, Utilisation: [2]float64{0.01, 0.02}}
	if err := live.ObserveLink(ctx, "spine-0--leaf-0", ls); err != nil {
		t.Fatal(err)
	}
	if err := live.ObserveLink(ctx, "ghost", ls); !errors.Is(err, twin.ErrNotFound) {
		t.Errorf("observe unknown link: %v; want ErrNotFound", err)
	}
	// A batch that fails records nothing.
	err0 := live.Observe(ctx, func(o *twin.Observation) error {
		if err := o.Device("leaf-1", false, at); err != nil {
			return err
		}
		return o.Device("ghost", false, at)
	})
	if !errors.Is(err0, twin.ErrNotFound) {
		t.Errorf("batch with unknown device: %v", err0)
	}
	if err := live.View(func(r *twin.Reader) error {
		if _, err := r.ObservedDevice("leaf-1"); !errors.Is(err, twin.ErrNotFound) {
			t.Errorf("failed batch left leaf-1 observed: %v", err)
		}
		ol, err := r.ObservedLink("spine-0--leaf-0")
		if err != nil || ol.RateGbps[1] != 2 || ol.At.IsZero() {
			t.Errorf("observed link %+v %v", ol, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := live.ObserveDevice(ctx, "ghost", true, at); !errors.Is(err, twin.ErrNotFound) {
		t.Errorf("observe unknown device: %v; want ErrNotFound", err)
	}
	if live.Revision() != rev {
		t.Errorf("observation moved the intended revision")
	}
	err := live.View(func(r *twin.Reader) error {
		oi, err := r.ObservedInterface("leaf-0", "eth1")
		if err != nil {
			return err
		}
		if oi.InOctets != 100 || oi.OutRateGbps != 2.5 || oi.OperStatus != network.StatusEnabled {
			t.Errorf("observed %+v", oi)
		}
		od, err := r.ObservedDevice("leaf-0")
		if err != nil {
			return err
		}
		if od.Reachable || !od.At.Equal(at) {
			t.Errorf("observed device %+v", od)
		}
		if d, _ := r.Device("leaf-0"); d.OperStatus != network.StatusEnabled {
			t.Errorf("intended device changed: %+v", d.Device)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, sub.C); ev.Table != twin.TableObservedInterfaces || ev.ID != "leaf-0/eth1" {
		t.Errorf("event %+v", ev)
	}
	if ev := recv(t, sub.C); ev.Table != twin.TableObservedDevices || ev.ID != "leaf-0" {
		t.Errorf("event %+v", ev)
	}
	if ev := recv(t, sub.C); ev.Table != twin.TableObservedLinks || ev.ID != "spine-0--leaf-0" || ev.Op != twin.OpCreate {
		t.Errorf("event %+v", ev)
	}
}

func TestListPagination(t *testing.T) {
	m := newManager(t)
	load(t, m.Live(), leafSpine(t))
	var ids []string
	after := ""
	pages := 0
	for {
		var items []twin.Device
		var next string
		err := m.Live().View(func(r *twin.Reader) error {
			var err error
			items, next, err = r.Devices(twin.ListOptions{After: after, Limit: 2})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range items {
			ids = append(ids, d.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	want := []string{"h-0-0", "h-1-0", "leaf-0", "leaf-1", "spine-0", "spine-1"}
	if fmt.Sprint(ids) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("got %v in %d pages; want %v in 3", ids, pages, want)
	}
}

// TestConcurrency runs writers, readers and forks at once (run with -race).
func TestConcurrency(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	load(t, live, leafSpine(t))
	sub := m.Events().Subscribe("", 0) // never read: must not block writers
	defer sub.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id := fmt.Sprintf("d-%d-%d", w, i)
				if _, err := live.Update(ctx, func(tx *twin.Txn) error {
					_, err := tx.PutDevice(network.Device{ID: id, Type: network.DeviceRouter}, twin.CreateOnly, twin.Any)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 50 {
				f, err := m.Fork(ctx, twin.LiveID)
				if err != nil {
					t.Error(err)
					return
				}
				n := 0
				_ = f.View(func(r *twin.Reader) error { n = r.Count(twin.TableDevices); return nil })
				if uint64(n) != 6+(f.Info().ParentRevision-1) {
					t.Errorf("fork at revision %d sees %d devices", f.Info().ParentRevision, n)
				}
				if err := m.Delete(ctx, f.ID()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := live.Revision(); got != 201 {
		t.Errorf("revision %d; want 201", got)
	}
}

func TestPanicInUpdateReleasesTheTwin(t *testing.T) {
	m := newManager(t)
	live := m.Live()
	func() {
		defer func() { _ = recover() }()
		_, _ = live.Update(ctx, func(tx *twin.Txn) error {
			_, _ = tx.PutDevice(network.Device{ID: "p", Type: network.DeviceHost}, twin.CreateOnly, twin.Any)
			panic("boom")
		})
	}()
	done := make(chan error, 1)
	go func() {
		_, err := live.Update(ctx, func(tx *twin.Txn) error {
			_, err := tx.PutDevice(network.Device{ID: "q", Type: network.DeviceHost}, twin.CreateOnly, twin.Any)
			return err
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("twin stayed locked after a panic in Update")
	}
	if _, err := live.Device("p"); !errors.Is(err, twin.ErrNotFound) {
		t.Errorf("write of the panicking txn visible: %v", err)
	}
}

// TestWriteToDeletedFork: a write that holds a fork deleted before it committed (a PUT
// that found the fork, then a DELETE) fails with ErrNotFound and publishes nothing
// after the fork's remove event. It used to be applied and acknowledged, and its
// events followed the remove event.
func TestWriteToDeletedFork(t *testing.T) {
	m := newManager(t)
	f, err := m.Fork(ctx, twin.LiveID)
	if err != nil {
		t.Fatal(err)
	}
	sub := m.Events().Subscribe(f.ID(), 0)
	defer sub.Close()
	if err := m.Delete(ctx, f.ID()); err != nil {
		t.Fatal(err)
	}
	_, err = f.Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutDevice(network.Device{ID: "late", Type: network.DeviceRouter}, twin.CreateOnly, twin.Any)
		return err
	})
	if !errors.Is(err, twin.ErrNotFound) {
		t.Fatalf("write to a deleted fork: %v; want ErrNotFound", err)
	}
	if err := f.ObserveDevice(ctx, "late", true, time.Time{}); !errors.Is(err, twin.ErrNotFound) {
		t.Fatalf("observation of a deleted fork: %v; want ErrNotFound", err)
	}
	if ev := recv(t, sub.C); ev.Table != twin.TableTwins || ev.Op != twin.OpRemove {
		t.Fatalf("first event %+v; want the fork's removal", ev)
	}
	m.Close() // closes sub once everything published is delivered
	for ev := range sub.C {
		t.Errorf("event after the fork's removal: %+v", ev)
	}
}
