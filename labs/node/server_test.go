package node_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/labs/node"
	"github.com/twinflow/twinflow/labs/node/sim"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// inproc runs a node server in this process on loopback and returns a raw gNMI client.
func inproc(t *testing.T) (gpb.GNMIClient, *sim.Dataplane) {
	t.Helper()
	d, err := sim.New([]string{"eth1", "eth2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := node.New(ctx, node.Options{Name: "t1", Dataplane: d, StateInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Run(ctx) }()
	return node.ServeLoopback(t, srv), d
}

func path(t *testing.T, s string) *gpb.Path {
	p, err := tfgnmi.PathToProto(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func subscribe(t *testing.T, c gpb.GNMIClient, sl *gpb.SubscriptionList) gpb.GNMI_SubscribeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	st, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: sl}}); err != nil {
		t.Fatal(err)
	}
	return st
}

// collect reads until a sync response, returning the update count.
func collect(t *testing.T, st gpb.GNMI_SubscribeClient) int {
	t.Helper()
	n := 0
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetSyncResponse() {
			return n
		}
		n += len(r.GetUpdate().GetUpdate())
	}
}

func TestSubscribeOnceAndPoll(t *testing.T) {
	c, _ := inproc(t)
	st := subscribe(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_ONCE, Encoding: gpb.Encoding_PROTO,
		Subscription: []*gpb.Subscription{{Path: path(t, "/interfaces/interface[name=*]/state/counters")}}})
	if got, want := collect(t, st), 16; got != want {
		t.Fatalf("ONCE: %d updates; want %d (8 counters x 2 ports)", got, want)
	}
	if _, err := st.Recv(); err == nil {
		t.Fatal("ONCE stream did not end after sync")
	}
	st = subscribe(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_POLL, Encoding: gpb.Encoding_JSON_IETF,
		Subscription: []*gpb.Subscription{{Path: path(t, "/system")}}})
	first := collect(t, st)
	if first < 4 {
		t.Fatalf("POLL initial: %d updates; want hostname, software-version, boot-time...", first)
	}
	for i := 0; i < 2; i++ {
		if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Poll{Poll: &gpb.Poll{}}}); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, st); got != first {
			t.Fatalf("poll %d: %d updates; want %d", i, got, first)
		}
	}
}

func TestStreamUpdatesOnlyOnChange(t *testing.T) {
	c, d := inproc(t)
	st := subscribe(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Encoding: gpb.Encoding_JSON_IETF, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{
			{Path: path(t, "/interfaces/interface[name=eth1]/config"), Mode: gpb.SubscriptionMode_ON_CHANGE},
			{Path: path(t, "/interfaces/interface[name=eth2]/state/oper-status"), Mode: gpb.SubscriptionMode_ON_CHANGE},
		}})
	r, err := st.Recv()
	if err != nil || !r.GetSyncResponse() {
		t.Fatalf("first response %v, %v; want sync_response (updates_only)", r, err)
	}
	set := func(req *gpb.SetRequest) {
		if _, err := c.Set(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	set(&gpb.SetRequest{Update: []*gpb.Update{{Path: path(t, "/interfaces/interface[name=eth1]/config/description"),
		Val: &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "uplink"}}}}})
	r, err = st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	u := r.GetUpdate().GetUpdate()
	if len(u) != 1 || string(u[0].GetVal().GetJsonIetfVal()) != `"uplink"` || tfgnmi.PathString(r.GetUpdate().Prefix, u[0].Path) != "/interfaces/interface[name=eth1]/config/description" {
		t.Fatalf("on-change update %v; want only the new description", r)
	}
	set(&gpb.SetRequest{Delete: []*gpb.Path{path(t, "/interfaces/interface[name=eth1]/config/description")}})
	r, err = st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if dl := r.GetUpdate().GetDelete(); len(dl) != 1 || tfgnmi.PathString(nil, dl[0]) != "/interfaces/interface[name=eth1]/config/description" {
		t.Fatalf("delete notification %v", r)
	}
	if err := d.SetLink("eth2", false); err != nil {
		t.Fatal(err)
	}
	r, err = st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if u := r.GetUpdate().GetUpdate(); len(u) != 1 || string(u[0].GetVal().GetJsonIetfVal()) != `"DOWN"` {
		t.Fatalf("oper-status update %v; want DOWN", r)
	}
}

// TestGNMICLIInterop runs the independent gnmi_cli against a twinflow-node process over
// TLS (self-signed, skip-verify): Capabilities, Get and a streaming Subscribe.
func TestGNMICLIInterop(t *testing.T) {
	cli := os.Getenv("TWINFLOW_GNMI_CLI")
	if cli == "" {
		if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("TWINFLOW_GNMI_CLI is not set (run .ci/setup)")
		}
		t.Skip("TWINFLOW_GNMI_CLI is not set")
	}
	n, err := standin.StartNode(context.Background(), nodetest.Binary(t), standin.NodeSpec{Name: "cli1", Ports: []string{"eth1", "eth2"}, TLS: true, StateInterval: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-address", n.GNMIAddr, "-tls_skip_verify", "-timeout", "10s"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // gnmi_cli exits non-zero when -streaming_duration ends; judge by output
		return out.String()
	}
	caps := run("-capabilities")
	for _, want := range []string{`name: "openconfig-interfaces"`, `name: "openconfig-network-instance"`, "JSON_IETF", `gNMI_version: "0.10.0"`} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities output lacks %q:\n%s", want, caps)
		}
	}
	get := run("-get", "-proto", `path: <elem: <name: "interfaces"> elem: <name: "interface" key: <key: "name" value: "eth1">> elem: <name: "config">> encoding: JSON_IETF`)
	if !strings.Contains(get, `\"mtu\":1500`) || !strings.Contains(get, `\"name\":\"eth1\"`) {
		t.Errorf("get output lacks the eth1 config:\n%s", get)
	}
	if err := post("http://" + n.FaultAddr + "/traffic"); err != nil {
		t.Fatal(err)
	}
	sub := run("-query_type", "s", "-q", "/interfaces/interface[name=eth1]/state/counters", "-streaming_duration", "2s")
	re := regexp.MustCompile(`"in-octets": [^\n]*?(\d[\d.e+]*)`)
	ms := re.FindAllStringSubmatch(sub, -1)
	if len(ms) < 2 {
		t.Fatalf("streaming subscribe delivered %d in-octets updates; want at least 2:\n%s", len(ms), sub)
	}
	if ms[len(ms)-1][1] == "0" {
		t.Errorf("in-octets still 0 with traffic set:\n%s", sub)
	}
}

func post(url string) error {
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"eth1":{"in_bps":8e9,"out_bps":1e9}}`))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
