package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/gnmi"
)

// restconf sends one RESTCONF request to the server as user.
func restconf(t *testing.T, srv, user, method, path, body string) (int, http.Header, string) {
	t.Helper()
	host := strings.TrimPrefix(srv, "http://")
	tok, err := os.ReadFile(filepath.Join(auth.DemoTokenDir(host), user))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, srv+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	if body != "" {
		req.Header.Set("Content-Type", nbi.YANGJSON)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// readBack reads a path from a node: with openconfig's gnmi_cli when
// TWINFLOW_GNMI_CLI is set (an independent client), else with the gNMI driver.
func readBack(t *testing.T, addr, path string) string {
	t.Helper()
	if cli := os.Getenv("TWINFLOW_GNMI_CLI"); cli != "" {
		p, err := change.ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("path: <")
		for _, e := range p {
			fmt.Fprintf(&b, "elem: <name: %q", e.Name)
			for _, k := range e.KeyNames() {
				fmt.Fprintf(&b, " key: <key: %q value: %q>", k, e.Key[k])
			}
			b.WriteString("> ")
		}
		b.WriteString("> encoding: JSON_IETF")
		out, _ := exec.Command(cli, "-address", addr, "-insecure", "-get", "-timeout", "10s", "-proto", b.String()).CombinedOutput()
		return string(out)
	}
	if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
		t.Fatal("TWINFLOW_GNMI_CLI not set: the independent read-back needs gnmi_cli")
	}
	cl, err := gnmi.Dial(gnmi.Options{Address: addr, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vals, err := cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, path)
	if err != nil {
		return err.Error()
	}
	var out strings.Builder
	for _, v := range vals {
		out.Write(v.JSON)
	}
	return out.String()
}

// TestSliceEndToEnd (REQ-SLI-01, REQ-SLI-03, REQ-COM-01, REQ-COM-05): two stand-in
// routers; a hard-isolated slice with bandwidth and latency SLOs is requested through
// the IETF network slice endpoint, approved by the administrator's rule auto-slices,
// committed, and the routers hold its VXLAN interface and bridge (read back over gNMI,
// with gnmi_cli when TWINFLOW_GNMI_CLI is set); the CLI shows its record and TE paths;
// deleting it through the endpoint removes the configuration from both routers.
func TestSliceEndToEnd(t *testing.T) {
	r1 := startStandIn(t, "tfs-r1")
	r2 := startStandIn(t, "tfs-r2")
	srv := runServer(t, server.Config{DB: "file:" + filepath.Join(t.TempDir(), "slices.db"),
		GNMI: server.GNMIConfig{Insecure: true},
		Changes: &server.ChangesConfig{ApprovalRules: []change.ApprovalRule{{Name: "auto-slices",
			Kinds: []change.Kind{change.KindSlice}, Roles: []string{"engineer"}, MinMargin: 0.1}}}})
	netDoc := fmt.Sprintf(`{"devices":[
		{"id":"r1","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,"labels":{"twinflow.underlay":"192.0.2.1"},"endpoints":[{"id":"eth1"},{"id":"eth2"}]},
		{"id":"r2","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,"labels":{"twinflow.underlay":"192.0.2.2"},"endpoints":[{"id":"eth1"},{"id":"eth2"}]}],
		"links":[{"id":"r1--r2","endpoints":[{"device":"r1","endpoint":"eth1"},{"device":"r2","endpoint":"eth1"}],"capacity_gbps":10,"latency_ms":1}]}`, r1, r2)
	mustCLI(t, srv, "apply", "-f", writeFile(t, "net.json", netDoc), "--as", "admin")

	body := hardSliceBody("r1", "eth2", "r2", "eth2")
	status, hdr, out := restconf(t, srv, "alice", "POST", "/restconf/data/ietf-network-slice-service:network-slice-services", body)
	if status != 201 || hdr.Get("X-TwinFlow-Status") != "active" {
		t.Fatalf("create: %d %v %s", status, hdr, out)
	}
	id := hdr.Get("X-TwinFlow-Change")
	show := mustCLI(t, srv, "change", "show", id)
	if !strings.Contains(show, "rule:auto-slices") || !strings.Contains(show, "COMMITTED") {
		t.Errorf("change show:\n%s", show)
	}
	vni := nbi.VNIOf("s1.c1")
	for _, r := range []string{r1, r2} {
		if got := readBack(t, r, fmt.Sprintf("/network-instances/network-instance[name=bd%d]", vni)); !strings.Contains(got, "L2VSI") {
			t.Errorf("%s lacks the slice's bridge: %s", r, got)
		}
		if got := readBack(t, r, fmt.Sprintf("/interfaces/interface[name=vx%d]", vni)); !strings.Contains(got, fmt.Sprint(vni)) {
			t.Errorf("%s lacks the slice's VXLAN interface: %s", r, got)
		}
	}
	if out := mustCLI(t, srv, "slice", "list"); !strings.Contains(out, "s1") || !strings.Contains(out, "active") {
		t.Errorf("slice list:\n%s", out)
	}
	if out := mustCLI(t, srv, "path", "--service", "s1.c1"); !strings.Contains(out, "r1--r2") || !strings.Contains(out, "hard") {
		t.Errorf("path:\n%s", out)
	}
	status, hdr, out = restconf(t, srv, "alice", "DELETE", "/restconf/data/ietf-network-slice-service:network-slice-services/slice-service=s1/", "")
	if status != 204 {
		t.Fatalf("delete: %d %v %s", status, hdr, out)
	}
	for _, r := range []string{r1, r2} {
		if got := readBack(t, r, fmt.Sprintf("/network-instances/network-instance[name=bd%d]", vni)); strings.Contains(got, "L2VSI") {
			t.Errorf("%s still holds the bridge: %s", r, got)
		}
	}
	if _, errs, code := cli(t, srv, "slice", "get", "s1"); code != 1 || !strings.Contains(errs, "Not found") {
		t.Errorf("slice get after delete: exit %d %s", code, errs)
	}
}

// hardSliceBody is an IETF network-slice request (the wrapped form) for slice
// s1 between two SDPs, a on nodeA:portA and b on nodeB:portB: 2,000 Mb/s one-way
// bandwidth (given as a string, as real clients do), 10 ms one-way delay, hard
// (traffic) isolation.
func hardSliceBody(nodeA, portA, nodeB, portB string) string {
	return fmt.Sprintf(`{"ietf-network-slice-service:network-slice-services": {"slice-service": [{"id": "s1",
		"slo-sle-policy": {"custom": {"service-slo-sle-policy": {
			"slo-policy": {"metric-bound": [
				{"metric-type": "ietf-network-slice-service:one-way-bandwidth", "metric-unit": "Mbps", "bound": "2000"},
				{"metric-type": "ietf-network-slice-service:one-way-delay-maximum", "metric-unit": "milliseconds", "bound": 10}]},
			"sle-policy": {"isolation": ["ietf-network-slice-service:traffic-isolation"]}}}},
		"sdps": {"sdp": [
			{"id": "a", "node-id": %q, "attachment-circuits": {"attachment-circuit": [{"id": "ac-a", "ac-tp-id": %q}]}},
			{"id": "b", "node-id": %q, "attachment-circuits": {"attachment-circuit": [{"id": "ac-b", "ac-tp-id": %q}]}}]}}]}}`, nodeA, portA, nodeB, portB)
}
