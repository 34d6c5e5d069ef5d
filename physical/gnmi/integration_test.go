package gnmi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// startNode starts a real twinflow-node process, stopped at test end.
func startNode(t *testing.T, spec standin.NodeSpec) *standin.Node {
	t.Helper()
	if spec.StateInterval == 0 {
		spec.StateInterval = 50 * time.Millisecond
	}
	n, err := standin.StartNode(context.Background(), nodetest.Binary(t), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", n.Name, n.Stderr())
		}
	})
	return n
}

// fault posts to the node's sim fault endpoint (t.Error on failure: also called from
// goroutines).
func fault(t *testing.T, n *standin.Node, path, body string) {
	t.Helper()
	if err := n.Fault(context.Background(), path, body); err != nil {
		t.Error(err)
	}
}

func getOne(t *testing.T, c *tfgnmi.Client, path string) string {
	t.Helper()
	vs, err := c.GetJSON(context.Background(), gpb.GetRequest_ALL, path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	if len(vs) != 1 {
		t.Fatalf("get %s: %d values", path, len(vs))
	}
	return string(vs[0].JSON)
}

// TestSetGetRoundTrip drives three nodes (one with TLS and credentials) through a Pool:
// Set then Get of interface, address and static-route config (REQ-TE-01).
func TestSetGetRoundTrip(t *testing.T) {
	nodes := []*standin.Node{
		startNode(t, standin.NodeSpec{Name: "r1", Ports: []string{"eth1", "eth2"}}),
		startNode(t, standin.NodeSpec{Name: "r2", Ports: []string{"eth1", "eth2"}}),
		startNode(t, standin.NodeSpec{Name: "r3", Ports: []string{"eth1"}, TLS: true, Username: "admin", Password: "s3cret"}),
	}
	pool := tfgnmi.NewPool(2)
	t.Cleanup(func() { pool.Close() })
	for _, n := range nodes {
		if _, err := pool.Add(n.Name, n.ClientOptions()); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	errs := pool.ForEach(ctx, nil, func(ctx context.Context, name string, c *tfgnmi.Client) error {
		_, err := c.Apply(ctx, []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`9000`)},
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/description", Value: json.RawMessage(`"to-` + name + `"`)},
			{Kind: tfgnmi.OpReplace, Path: "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]",
				Value: json.RawMessage(`{"index":0,"openconfig-if-ip:ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"ip":"10.0.0.1","prefix-length":30}}]}}}`)},
			{Kind: tfgnmi.OpUpdate, Path: "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]",
				Value: json.RawMessage(`{"static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[{"index":"0","config":{"next-hop":"10.0.0.2"}}]}}]}}`)},
		})
		return err
	})
	if len(errs) > 0 {
		t.Fatalf("set: %v", errs)
	}
	for _, n := range nodes {
		c, _ := pool.Client(n.Name)
		if got, want := getOne(t, c, "/interfaces/interface[name=eth1]/config/mtu"), "9000"; got != want {
			t.Errorf("%s mtu = %s; want %s", n.Name, got, want)
		}
		if got, want := getOne(t, c, "/interfaces/interface[name=eth1]/state/mtu"), "9000"; got != want {
			t.Errorf("%s state mtu = %s; want %s", n.Name, got, want)
		}
		if got, want := getOne(t, c, "/interfaces/interface[name=eth1]/config/description"), `"to-`+n.Name+`"`; got != want {
			t.Errorf("%s description = %s; want %s", n.Name, got, want)
		}
		if got, want := getOne(t, c, "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config/prefix-length"), "30"; got != want {
			t.Errorf("%s prefix-length = %s; want %s", n.Name, got, want)
		}
		nh := getOne(t, c, "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.9.0.0/16]/next-hops/next-hop[index=0]/config/next-hop")
		if nh != `"10.0.0.2"` {
			t.Errorf("%s next-hop = %s", n.Name, nh)
		}
		// Wildcard Get expands to one update per interface.
		vs, err := c.GetJSON(ctx, gpb.GetRequest_STATE, "/interfaces/interface[name=*]/state/oper-status")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(vs), len(n.Spec.Ports); got != want {
			t.Errorf("%s: %d oper-status values; want %d", n.Name, got, want)
		}
	}
	// Without credentials the TLS node refuses.
	o := nodes[2].ClientOptions()
	o.Password = "wrong"
	c, err := tfgnmi.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Capabilities(ctx); status.Code(errorsUnwrapStatus(err)) != codes.Unauthenticated {
		t.Errorf("wrong password: %v; want Unauthenticated", err)
	}
}

// errorsUnwrapStatus digs the gRPC status out of a wrapped error.
func errorsUnwrapStatus(err error) error {
	for e := err; e != nil; {
		if _, ok := status.FromError(e); ok {
			return e
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return err
}

func code(err error) codes.Code { return status.Code(errorsUnwrapStatus(err)) }

// TestSetAtomic: a Set with one bad path changes nothing; a dataplane failure rolls back.
func TestSetAtomic(t *testing.T) {
	n := startNode(t, standin.NodeSpec{Name: "a1", Ports: []string{"eth1", "eth2"}})
	c, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	before := getOne(t, c, "/interfaces")
	cases := []struct {
		name string
		ops  []tfgnmi.Op
		want codes.Code
	}{
		{"unknown-leaf", []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)},
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth2]/config/bogus", Value: json.RawMessage(`1`)},
		}, codes.NotFound},
		{"wrong-type", []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)},
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth2]/config/enabled", Value: json.RawMessage(`"yes"`)},
		}, codes.InvalidArgument},
		{"unknown-port", []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)},
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth9]/config/mtu", Value: json.RawMessage(`1400`)},
		}, codes.InvalidArgument},
		{"read-only", []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)},
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/state/mtu", Value: json.RawMessage(`1400`)},
		}, codes.InvalidArgument},
		{"mtu-out-of-range", []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`10`)},
		}, codes.InvalidArgument},
		{"route-without-next-hop", []tfgnmi.Op{
			{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)},
			{Kind: tfgnmi.OpUpdate, Path: "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=s]/static-routes/static[prefix=10.1.0.0/16]", Value: json.RawMessage(`{}`)},
		}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Apply(ctx, tc.ops)
			if got := code(err); got != tc.want {
				t.Fatalf("code = %v (%v); want %v", got, err, tc.want)
			}
			if after := getOne(t, c, "/interfaces"); !sameConfig(before, after) {
				t.Fatalf("config changed by a rejected Set:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	t.Run("dataplane-failure", func(t *testing.T) {
		fault(t, n, "/fail-next-apply?count=1", "")
		_, err := c.Apply(ctx, []tfgnmi.Op{{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)}})
		if got := code(err); got != codes.Aborted {
			t.Fatalf("code = %v (%v); want Aborted", got, err)
		}
		if got := getOne(t, c, "/interfaces/interface[name=eth1]/config/mtu"); got != "1500" {
			t.Fatalf("mtu = %s after failed apply; want 1500", got)
		}
		// The next Set succeeds.
		if _, err := c.Apply(ctx, []tfgnmi.Op{{Kind: tfgnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)}}); err != nil {
			t.Fatal(err)
		}
		if got := getOne(t, c, "/interfaces/interface[name=eth1]/config/mtu"); got != "1400" {
			t.Fatalf("mtu = %s; want 1400", got)
		}
	})
}

// sameConfig compares two /interfaces JSON documents ignoring counters.
func sameConfig(a, b string) bool {
	strip := func(s string) string {
		var v map[string]any
		_ = json.Unmarshal([]byte(s), &v)
		for _, it := range v["interface"].([]any) {
			delete(it.(map[string]any)["state"].(map[string]any), "counters")
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return strip(a) == strip(b)
}

// TestBadInputs checks gRPC status codes for malformed requests.
func TestBadInputs(t *testing.T) {
	n := startNode(t, standin.NodeSpec{Name: "b1", Ports: []string{"eth1"}})
	c, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p := func(s string) *gpb.Path {
		pp, err := tfgnmi.PathToProto(s)
		if err != nil {
			t.Fatal(err)
		}
		return pp
	}
	js := func(s string) *gpb.TypedValue {
		return &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(s)}}
	}
	big := bytes.Repeat([]byte("x"), 5<<20)
	many := &gpb.SetRequest{}
	for i := 0; i < 10001; i++ {
		many.Delete = append(many.Delete, p("/interfaces/interface[name=eth1]/config/description"))
	}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"get-empty-elem", func() error {
			_, err := c.Get(ctx, &gpb.GetRequest{Path: []*gpb.Path{{Elem: []*gpb.PathElem{{Name: "interfaces"}, {Name: ""}}}}})
			return err
		}, codes.InvalidArgument},
		{"get-unknown-element", func() error { _, err := c.GetJSON(ctx, 0, "/interfaces/interface[name=eth1]/bogus"); return err }, codes.NotFound},
		{"get-unknown-key", func() error { _, err := c.GetJSON(ctx, 0, "/interfaces/interface[id=eth1]"); return err }, codes.InvalidArgument},
		{"get-no-data", func() error { _, err := c.GetJSON(ctx, 0, "/interfaces/interface[name=eth7]"); return err }, codes.NotFound},
		{"get-bad-key-type", func() error {
			_, err := c.GetJSON(ctx, 0, "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=x]")
			return err
		}, codes.InvalidArgument},
		{"get-bad-encoding", func() error {
			_, err := c.Get(ctx, &gpb.GetRequest{Path: []*gpb.Path{p("/system")}, Encoding: gpb.Encoding_ASCII})
			return err
		}, codes.Unimplemented},
		{"get-bad-origin", func() error {
			pp := p("/system")
			pp.Origin = "cli"
			_, err := c.Get(ctx, &gpb.GetRequest{Path: []*gpb.Path{pp}})
			return err
		}, codes.InvalidArgument},
		{"set-empty", func() error { _, err := c.Set(ctx, &gpb.SetRequest{}); return err }, codes.InvalidArgument},
		{"set-wildcard", func() error {
			_, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: p("/interfaces/interface[name=*]/config/mtu"), Val: js("1400")}}})
			return err
		}, codes.InvalidArgument},
		{"set-bad-json", func() error {
			_, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: p("/interfaces/interface[name=eth1]/config"), Val: js(`{"mtu":`)}}})
			return err
		}, codes.InvalidArgument},
		{"set-unknown-member", func() error {
			_, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: p("/interfaces/interface[name=eth1]/config"), Val: js(`{"speed":1}`)}}})
			return err
		}, codes.NotFound},
		{"set-list-key-mismatch", func() error {
			_, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: p("/interfaces/interface[name=eth1]/config/name"), Val: js(`"eth2"`)}}})
			return err
		}, codes.InvalidArgument},
		{"set-bad-prefix", func() error {
			_, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: p("/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=s]/static-routes/static[prefix=10.1.2.3/16]"), Val: js(`{}`)}}})
			return err
		}, codes.InvalidArgument},
		{"set-oversized", func() error {
			_, err := c.Set(ctx, &gpb.SetRequest{Update: []*gpb.Update{{Path: p("/interfaces/interface[name=eth1]/config/description"), Val: js(`"` + string(big) + `"`)}}})
			return err
		}, codes.ResourceExhausted},
		{"set-too-many-ops", func() error { _, err := c.Set(ctx, many); return err }, codes.ResourceExhausted},
		{"subscribe-unknown", func() error {
			return c.Subscribe(ctx, subReq(gpb.SubscriptionList_ONCE, gpb.SubscriptionMode_TARGET_DEFINED, 0, p("/nope")), func(*gpb.SubscribeResponse) error { return nil })
		}, codes.NotFound},
		{"subscribe-tiny-interval", func() error {
			return c.Subscribe(ctx, subReq(gpb.SubscriptionList_STREAM, gpb.SubscriptionMode_SAMPLE, 1000, p("/interfaces")), func(*gpb.SubscribeResponse) error { return nil })
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(tc.call()); got != tc.want {
				t.Fatalf("code = %v; want %v", got, tc.want)
			}
		})
	}
	// After all of that, the node still has its initial config.
	if got := getOne(t, c, "/interfaces/interface[name=eth1]/config/mtu"); got != "1500" {
		t.Fatalf("mtu = %s; want 1500", got)
	}
}

func subReq(mode gpb.SubscriptionList_Mode, smode gpb.SubscriptionMode, interval time.Duration, paths ...*gpb.Path) *gpb.SubscribeRequest {
	sl := &gpb.SubscriptionList{Mode: mode, Encoding: gpb.Encoding_JSON_IETF}
	for _, p := range paths {
		sl.Subscription = append(sl.Subscription, &gpb.Subscription{Path: p, Mode: smode, SampleInterval: uint64(interval)})
	}
	return &gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: sl}}
}

// TestSubscribeCountersAndOperStatus: a STREAM subscription delivers growing counters
// and an oper-status change caused by a link fault within 1 s.
func TestSubscribeCountersAndOperStatus(t *testing.T) {
	n := startNode(t, standin.NodeSpec{Name: "s1", Ports: []string{"eth1", "eth2"}})
	c, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fault(t, n, "/traffic", `{"eth1":{"in_bps":8e9,"out_bps":4e9,"in_pps":1e6,"out_pps":5e5}}`)
	counters, _ := tfgnmi.PathToProto("/interfaces/interface[name=eth1]/state/counters")
	oper, _ := tfgnmi.PathToProto("/interfaces/interface[name=eth1]/state/oper-status")
	req := subReq(gpb.SubscriptionList_STREAM, gpb.SubscriptionMode_SAMPLE, 100*time.Millisecond, counters)
	req.GetSubscribe().Subscription = append(req.GetSubscribe().Subscription, &gpb.Subscription{Path: oper, Mode: gpb.SubscriptionMode_ON_CHANGE})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		synced     bool
		octets     []uint64
		downAt     time.Time
		faultAt    time.Time
		sawInitial bool
	)
	err = c.Subscribe(ctx, req, func(r *gpb.SubscribeResponse) error {
		if r.GetSyncResponse() {
			synced = true
			return nil
		}
		for _, u := range r.GetUpdate().GetUpdate() {
			path := tfgnmi.PathString(r.GetUpdate().GetPrefix(), u.Path)
			val := string(u.GetVal().GetJsonIetfVal())
			switch {
			case strings.HasSuffix(path, "/in-octets"):
				var v uint64
				if _, err := fmt.Sscanf(strings.Trim(val, `"`), "%d", &v); err != nil {
					return fmt.Errorf("in-octets %q: %v", val, err)
				}
				octets = append(octets, v)
			case strings.HasSuffix(path, "/oper-status"):
				if !synced {
					sawInitial = val == `"UP"`
				} else if val == `"DOWN"` {
					downAt = time.Now()
					return tfgnmi.ErrStop
				}
			}
		}
		if synced && len(octets) >= 5 && faultAt.IsZero() {
			faultAt = time.Now()
			go fault(t, n, "/interfaces/eth1/down", "")
		}
		return nil
	})
	if err != tfgnmi.ErrStop {
		t.Fatalf("subscribe ended with %v (octet samples %d)", err, len(octets))
	}
	if !sawInitial {
		t.Error("initial sync did not report oper-status UP")
	}
	for i := 1; i < len(octets); i++ {
		if octets[i] < octets[i-1] {
			t.Errorf("in-octets went backwards: %v", octets)
		}
	}
	if octets[len(octets)-1] <= octets[0] {
		t.Errorf("in-octets did not grow: %v", octets)
	}
	lat := downAt.Sub(faultAt)
	t.Logf("oper-status DOWN seen %v after the fault; %d counter samples", lat, len(octets))
	if lat > time.Second {
		t.Errorf("oper-status change took %v; want within 1s", lat)
	}
}

// TestReconnectAfterRestart: SubscribeLoop notices a node restart and resubscribes;
// unary RPCs work again against the restarted node.
func TestReconnectAfterRestart(t *testing.T) {
	n := startNode(t, standin.NodeSpec{Name: "rc1", Ports: []string{"eth1"}})
	c, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, _ := tfgnmi.PathToProto("/system/state/boot-time")
	req := subReq(gpb.SubscriptionList_STREAM, gpb.SubscriptionMode_SAMPLE, 100*time.Millisecond, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	boots := make(chan string, 100)
	var downs atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- c.SubscribeLoop(ctx, req, 50*time.Millisecond, time.Second, func(r *gpb.SubscribeResponse) error {
			for _, u := range r.GetUpdate().GetUpdate() {
				select {
				case boots <- string(u.GetVal().GetJsonIetfVal()):
				default:
				}
			}
			return nil
		}, func(error) { downs.Add(1) })
	}()
	first := <-boots
	if err := n.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case b := <-boots:
			if b != first {
				if downs.Load() == 0 {
					t.Error("onDown was not called")
				}
				cancel()
				<-done
				if got := getOne(t, c, "/system/config/hostname"); got != `"rc1"` {
					t.Errorf("hostname after restart = %s", got)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no data from the restarted node (downs=%d)", downs.Load())
		}
	}
}
