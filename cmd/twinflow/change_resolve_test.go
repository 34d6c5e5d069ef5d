package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// TestChangeResolveCLI (REQ-REL-02): `twinflow change resolve` on a committed change
// reports every device at the intent (exit 0); edited by hand afterwards, the device
// is reported at "other" with the differing path (exit 1); a change without a commit
// is refused (exit 1, wrong state); no ID is a usage error (exit 2).
func TestChangeResolveCLI(t *testing.T) {
	r1 := startStandIn(t, "tfc-res-r1")
	srv := startChangeServer(t)
	netDoc := fmt.Sprintf(`{"devices":[{"id":"r1","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,
		"endpoints":[{"id":"eth1"},{"id":"eth2"}]}]}`, r1)
	mustCLI(t, srv, "apply", "-f", writeFile(t, "net.json", netDoc), "--as", "admin")
	propose := func(mtu int) string {
		doc := fmt.Sprintf("label: m%d\nkind: raw-config\ndevice_ops:\n  r1:\n    - op: update\n      path: /interfaces/interface[name=eth1]/config\n      value: {mtu: %d}\n", mtu, mtu)
		out := mustCLI(t, srv, "change", "propose", "-f", writeFile(t, "c.yaml", doc), "-o", "json")
		var c pipeline.Change
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		mustCLI(t, srv, "change", "approve", c.ID, "--as", "carla")
		return c.ID
	}
	id := propose(9000)
	mustCLI(t, srv, "change", "commit", id)
	out := mustCLI(t, srv, "change", "resolve", id)
	if !strings.Contains(out, "COMMITTED") || !strings.Contains(out, "r1") || !strings.Contains(out, "intent") {
		t.Fatalf("resolve of a committed change:\n%s", out)
	}
	cl, err := gnmi.Dial(gnmi.Options{Address: r1, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Apply(context.Background(), []gnmi.Op{{Kind: gnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: []byte("1400")}}); err != nil {
		t.Fatal(err)
	}
	out, errs, code := cli(t, srv, "change", "resolve", id)
	if code != 1 || !strings.Contains(out, "other") || !strings.Contains(out, "mtu") || !strings.Contains(errs, "r1 (other)") {
		t.Fatalf("resolve after a hand edit: exit %d\n%s%s", code, out, errs)
	}
	if _, err := cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, "/interfaces/interface[name=eth1]/config/mtu"); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, srv, "change", "resolve", propose(9100)); code != 1 || !strings.Contains(errs, "no commit to resolve") {
		t.Fatalf("resolve of an approved change: exit %d %s", code, errs)
	}
	if _, _, code := cli(t, srv, "change", "resolve"); code != 2 {
		t.Fatalf("resolve without an ID: exit %d", code)
	}
}
