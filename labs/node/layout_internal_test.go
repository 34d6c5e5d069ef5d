package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/labs/node/sim"
	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

// TestMirrorKey: the suffix-rewritten key of a mirror path equals its formatted path,
// including key values holding '/', ']' and '\'.
func TestMirrorKey(t *testing.T) {
	for _, s := range []string{
		"/system/config/hostname",
		"/interfaces/interface[name=eth1]/config/mtu",
		"/interfaces/interface[name=a/b\\]c\\\\]/config/description",
		"/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config/prefix-length",
		"/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.1.0.0/16]/config/prefix",
		"/a/config/b[k=v]/c",
		"/a/config[k=v]/c",
		"/config/x",
	} {
		p := ocpath.MustParse(s)
		sp, i := mirrorPath(p)
		if sp == nil {
			t.Fatalf("%s: no mirror", s)
		}
		if got, want := mirrorKey(p.String(), sp, i), sp.String(); got != want {
			t.Errorf("mirrorKey(%s) = %s, want %s", s, got, want)
		}
		if p[i].Name != "config" {
			t.Errorf("%s: mirrorPath changed the original path", s)
		}
	}
	if sp, _ := mirrorPath(ocpath.MustParse("/system/state/hostname")); sp != nil {
		t.Errorf("mirror of a path without config: %s", sp)
	}
}

// TestLayoutMatchesNaive: the layout equals one built the straightforward way (every
// config leaf, its state mirror resolved afresh, then the static leaves overriding,
// sorted by canonical path), after config with addresses, instances and routes.
func TestLayoutMatchesNaive(t *testing.T) {
	ctx := context.Background()
	d, err := sim.New([]string{"eth1", "eth2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Options{Name: "r1", Dataplane: d})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config().Clone()
	for p, js := range map[string]string{
		"/interfaces/interface[name=eth1]/config": `{"mtu":9000,"description":"x/y]z"}`,
		"/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config": `{"prefix-length":24}`,
	} {
		if err := cfg.Update(ocpath.MustParse(p), []byte(js)); err != nil {
			t.Fatal(p, err)
		}
	}
	for _, c := range []*schema.Tree{s.Config(), cfg} {
		got := s.buildLayout(c, 7)
		want := map[string]schema.Entry{}
		for _, e := range c.Leaves() {
			want[e.Path.String()] = e
			for i := len(e.Path) - 2; i >= 0; i-- {
				if e.Path[i].Name == "config" {
					sp := e.Path.Clone()
					sp[i].Name = "state"
					if n, err := schema.Resolve(s.schema, sp, false); err == nil && n.Kind == schema.Leaf {
						want[sp.String()] = schema.Entry{Path: sp, Node: n, Value: e.Value}
					}
					break
				}
			}
		}
		for _, it := range s.staticItems() {
			want[it.key] = it.e
		}
		if len(got.keys) != len(want) {
			t.Fatalf("layout has %d leaves, want %d", len(got.keys), len(want))
		}
		for i, k := range got.keys {
			if i > 0 && got.keys[i-1] >= k {
				t.Fatalf("keys not sorted: %s then %s", got.keys[i-1], k)
			}
			w, ok := want[k]
			e := got.entries[i]
			if !ok || e.Path.String() != k || e.Node != w.Node || e.Value != w.Value {
				t.Errorf("entry %s = %v %v, want %v %v (present %v)", k, e.Node.Path(), e.Value, w.Node, w.Value, ok)
			}
		}
		if len(got.refs) != len(s.ports)*(2+len(counterLeaves)) {
			t.Errorf("%d state refs, want %d", len(got.refs), len(s.ports)*(2+len(counterLeaves)))
		}
	}
}

// TestStateOnDemandAndPolled: with no ON_CHANGE subscription the poller sleeps and a Get
// still reads state at most StateInterval old; an ON_CHANGE watcher restarts polling,
// so a counter change is published without any read.
func TestStateOnDemandAndPolled(t *testing.T) {
	var clk atomic.Int64
	clk.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clk.Load()) }
	d, err := sim.New([]string{"eth1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, Options{Name: "r1", Dataplane: d, StateInterval: 10 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := d.SetRates("eth1", sim.Rates{InBps: 8000}); err != nil {
		t.Fatal(err)
	}
	p := ocpath.MustParse("/interfaces/interface[name=eth1]/state/counters/in-octets")
	req := &gpb.GetRequest{Encoding: gpb.Encoding_PROTO, Path: []*gpb.Path{ToProto(p)}}
	clk.Add(int64(time.Second))
	resp, err := s.Get(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Notification[0].Update[0].Val.GetUintVal(); got != 1000 {
		t.Fatalf("in-octets after 1s at 8000 b/s = %d, want 1000", got)
	}
	if got := resp.Notification[0].Timestamp; got != clk.Load() {
		t.Errorf("timestamp %d, want the read time %d", got, clk.Load())
	}
	// Within StateInterval the same snapshot answers.
	clk.Add(int64(time.Millisecond))
	resp, err = s.Get(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Notification[0].Update[0].Val.GetUintVal(); got != 1000 {
		t.Fatalf("in-octets within the state interval = %d, want 1000 (cached)", got)
	}

	_, ch := s.current()
	unwatch := s.watch()
	defer unwatch()
	clk.Add(int64(time.Second))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no state change published while an ON_CHANGE watcher is registered")
	}
	snap, _ := s.current()
	i := -1
	for j, k := range snap.layout.keys {
		if k == p.String() {
			i = j
		}
	}
	if i < 0 || snap.value(i).U != 2001 {
		t.Fatalf("polled in-octets = %v (index %d), want 2001 (2.001s at 1000 B/s)", snap.value(max(i, 0)), i)
	}
}

// TestOnChangeMissesNoChangeBeforeSenderStarts: a Set made right after the sync response,
// before the subscription's sender first waits, is still sent (a client may Set as soon
// as it sees the sync; under load the sender goroutine can start after the change).
func TestOnChangeMissesNoChangeBeforeSenderStarts(t *testing.T) {
	d, err := sim.New([]string{"eth1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, Options{Name: "r1", Dataplane: d, StateInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	testHookRun = func() { <-release }
	t.Cleanup(func() { testHookRun = nil })
	c := serveLoopback(t, s)
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	st, err := c.Subscribe(sctx)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocpath.MustParse("/interfaces/interface[name=eth1]/config/description")
	if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Mode: gpb.SubscriptionList_STREAM, Encoding: gpb.Encoding_JSON_IETF, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{{Path: ToProto(desc), Mode: gpb.SubscriptionMode_ON_CHANGE}}}}}); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Recv(); err != nil || !r.GetSyncResponse() {
		t.Fatalf("first response %v, %v; want sync_response", r, err)
	}
	// The sender is held in the hook: the change below is published before it waits.
	if _, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: ToProto(desc),
		Val: &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "uplink"}}}}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	r, err := st.Recv()
	if err != nil {
		t.Fatalf("no update for a change made before the sender started: %v", err)
	}
	if u := r.GetUpdate().GetUpdate(); len(u) != 1 || string(u[0].GetVal().GetJsonIetfVal()) != `"uplink"` {
		t.Fatalf("update %v; want the new description", r)
	}
}
