package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/apps/interdomain"
	"github.com/twinflow/twinflow/physical/gnmi"
)

// idDomain is one `twinflow serve` holding one domain of the alto3 example, with a
// user of the dedicated peer role the coordinator uses.
type idDomain struct {
	name, url, peerToken, pin string
}

// startIDDomain runs the domain's controller; each device in managed gets a stand-in
// twinflow-node (plaintext gNMI, in-memory dataplane) as its management address.
func startIDDomain(t *testing.T, bin, name string, managed []string, extra ...string) idDomain {
	t.Helper()
	dir := t.TempDir()
	db := "file:" + filepath.Join(dir, "state.db")
	out, err := exec.Command(bin, "user", "create", "peer-as1", "--role", "peer", "--db", db, "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Token == "" {
		t.Fatalf("user create: %v %s", err, out)
	}
	args := append([]string{"--db=" + db, "--tls-dir=" + filepath.Join(dir, "tls"), "--alto-pids", "domain", "--telemetry=false", "--gnmi-insecure"}, extra...)
	s := serveBinary(t, bin, args...)
	doc := mustRun(t, bin, "topology", "generate", "alto3", "--domain", name, "--format", "yaml")
	for _, dev := range managed {
		at := "  - id: " + dev + "\n"
		if !strings.Contains(doc, at) {
			t.Fatalf("%s: no device %s", name, dev)
		}
		doc = strings.Replace(doc, at, at+"    address: "+startStandIn(t, dev)+"\n", 1)
	}
	part := writeFile(t, name+".yaml", doc)
	mustCLI(t, s.URL, "apply", "-f", part)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, s.Stderr.String())
		}
	})
	return idDomain{name: name, url: s.URL, peerToken: created.Token, pin: certPin(t, filepath.Join(dir, "tls", "cert.pem"))}
}

// coordinatorConfig writes AS1's --interdomain file naming the peers.
func coordinatorConfig(t *testing.T, peers ...idDomain) string {
	t.Helper()
	dir := t.TempDir()
	type peer struct {
		Name       string `json:"name"`
		URL        string `json:"url"`
		TokenFile  string `json:"token-file"`
		CertSHA256 string `json:"cert-sha256"`
	}
	cfg := struct {
		Domain   string `json:"domain"`
		StateDir string `json:"state-dir"`
		Peers    []peer `json:"peers"`
	}{Domain: "AS1", StateDir: "state"}
	for _, p := range peers {
		if err := os.WriteFile(filepath.Join(dir, p.name+".token"), []byte(p.peerToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Peers = append(cfg.Peers, peer{p.name, p.url, p.name + ".token", p.pin})
	}
	b, _ := json.Marshal(cfg)
	file := filepath.Join(dir, "interdomain.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

type changeView struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Commit *struct {
		Reason string `json:"reason"`
	} `json:"commit"`
}

func showChange(t *testing.T, url, id string) changeView {
	t.Helper()
	var c changeView
	out := mustCLI(t, url, "change", "show", id, "-o", "json")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("change show %s: %v\n%s", id, err, out)
	}
	return c
}

// liveFlow reports whether the domain's live twin holds flow id, and its owner.
func liveFlow(t *testing.T, url, id string) (bool, string) {
	t.Helper()
	out := mustCLI(t, url, "get", "flows", "-o", "json")
	var flows []struct {
		ID    string `json:"id"`
		Owner string `json:"owner"`
		Path  []string
	}
	if err := json.Unmarshal([]byte(out), &flows); err != nil {
		var wrapped struct {
			Items []struct {
				ID    string `json:"id"`
				Owner string `json:"owner"`
			} `json:"items"`
		}
		if err2 := json.Unmarshal([]byte(out), &wrapped); err2 != nil {
			t.Fatalf("get flows: %v\n%s", err, out)
		}
		for _, f := range wrapped.Items {
			if f.ID == id {
				return true, f.Owner
			}
		}
		return false, ""
	}
	for _, f := range flows {
		if f.ID == id {
			return true, f.Owner
		}
	}
	return false, ""
}

// TestInterdomainSliceThreeDomains (issue 19 item 3; REQ-INT-01, REQ-INT-02; seed 000
// §6.3.2.8, §8.9): three `twinflow serve` processes, one per domain of the alto3
// example (AS1, AS2 transit, AS3), AS1 coordinating with the peers' certificates
// pinned and a token of the dedicated peer role on each. An end-to-end slice
// AS1–AS2–AS3 is built: every domain's sub-slice change is committed and its live twin
// holds the sub-slice's flow (the domains run without device processes, so the check
// is each domain's committed change and twin state, not a device read-back), and the
// coordinator shows each sub-slice's state and predicted KPIs. A second slice whose
// latency budget AS2 cannot meet is refused by AS2 and nothing is committed anywhere:
// AS1's and AS3's sub-slices, already in their confirm windows, are rolled back, and
// no live twin holds its flow. A peer without a token, or with another's, is refused,
// and the peer role can do nothing else.
func TestInterdomainSliceThreeDomains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(labBinaries(t), "twinflow")
	// the managed devices at the sub-slices' ends run as stand-in nodes; the rest of
	// each domain is in its twin only
	devs := map[string][]string{"AS1": {"as1-sap1"}, "AS2": {"as2-br1"}, "AS3": {"as3-br", "as3-sap2"}}
	as2 := startIDDomain(t, bin, "AS2", devs["AS2"])
	as3 := startIDDomain(t, bin, "AS3", devs["AS3"])
	as1 := startIDDomain(t, bin, "AS1", devs["AS1"], "--interdomain", coordinatorConfig(t, as2, as3))
	urls := map[string]string{"AS1": as1.url, "AS2": as2.url, "AS3": as3.url}
	addrs := map[string]string{}
	for dom, ds := range devs {
		for _, d := range ds {
			out := mustCLI(t, urls[dom], "get", "device", d, "-o", "json")
			var dv struct {
				Address string `json:"address"`
			}
			if err := json.Unmarshal([]byte(out), &dv); err != nil || dv.Address == "" {
				t.Fatalf("%s: %v %s", d, err, out)
			}
			addrs[d] = dv.Address
		}
	}
	// niOn reads device d's network instance of slice back over gNMI ("" if absent)
	niOn := func(d, slice string) string {
		t.Helper()
		cl, err := gnmi.Dial(gnmi.Options{Address: addrs[d], Insecure: true})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		vals, err := cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, "/network-instances")
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for _, v := range vals {
			if strings.Contains(string(v.JSON), interdomain.NetworkInstance(slice)) {
				return string(v.JSON)
			}
		}
		return ""
	}

	// an unauthenticated peer, or one with a token of no user there, is refused; the
	// peer role orders sub-slices and reads the abstraction, nothing else
	hc := pinnedClient(as2.pin)
	do := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, as2.url+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sub := `{"slice":"x","coordinator":"AS1","src":"as2-br1","dst":"as3-br","slo":{"min_rate_gbps":1}}`
	if code, b := do(http.MethodPost, "/api/v1/interdomain/subslices", "", sub); code != http.StatusUnauthorized {
		t.Fatalf("anonymous peer: %d %s", code, b)
	}
	if code, b := do(http.MethodPost, "/api/v1/interdomain/subslices", "tfk_not-a-token", sub); code != http.StatusUnauthorized {
		t.Fatalf("peer with a bogus token: %d %s", code, b)
	}
	if code, b := do(http.MethodGet, "/api/v1/changes", as2.peerToken, ""); code != http.StatusForbidden {
		t.Fatalf("the peer role listing changes: %d %s", code, b)
	}
	if code, b := do(http.MethodGet, "/api/v1/twins/live/devices", as2.peerToken, ""); code != http.StatusForbidden {
		t.Fatalf("the peer role reading the twin: %d %s", code, b)
	}
	if code, b := do(http.MethodGet, "/alto/interdomain", as2.peerToken, ""); code != http.StatusOK {
		t.Fatalf("the peer role reading the abstraction: %d %s", code, b)
	}
	if code, b := do(http.MethodPost, "/api/v1/interdomain/subslices", as2.peerToken, `{"slice":"x","src":"a"}`); code != http.StatusBadRequest || !strings.Contains(b, "coordinator") {
		t.Fatalf("a malformed sub-slice request: %d %s", code, b)
	}

	// the end-to-end slice
	req := writeFile(t, "e2e-1.json", `{"name": "e2e-1", "src": {"domain": "AS1", "device": "as1-sap1"},
	  "dst": {"domain": "AS3", "device": "as3-sap2"}, "domains": ["AS1", "AS2", "AS3"],
	  "slo": {"min_rate_gbps": 2, "max_latency_ms": 30, "isolation": "hard"}, "confirm_timeout": "60s"}`)
	out := mustCLI(t, as1.url, "interdomain", "slice", "create", "-f", req, "-o", "json")
	var rec interdomain.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rec.Phase != interdomain.PhaseActive || len(rec.Domains) != 3 {
		t.Fatalf("slice e2e-1: %s", out)
	}
	wantEnds := [][2]string{{"as1-sap1", "as2-br1"}, {"as2-br1", "as3-br"}, {"as3-br", "as3-sap2"}}
	for i, d := range rec.Domains {
		if d.Step != interdomain.StepConfirmed || d.Change == "" || d.Src != wantEnds[i][0] || d.Dst != wantEnds[i][1] {
			t.Fatalf("domain %d: %+v", i, d)
		}
		if c := showChange(t, urls[d.Domain], d.Change); c.State != "committed" {
			t.Fatalf("%s: its sub-slice change %s is %s", d.Domain, d.Change, c.State)
		}
		if ok, owner := liveFlow(t, urls[d.Domain], "interdomain/e2e-1"); !ok || owner != "e2e-1" {
			t.Fatalf("%s: the live twin has no flow interdomain/e2e-1 owned by the slice (%v %q)", d.Domain, ok, owner)
		}
		// the domain's managed devices hold the slice's network instance (gNMI read-back)
		for _, dev := range devs[d.Domain] {
			if got := niOn(dev, "e2e-1"); !strings.Contains(got, "L3VRF") || !strings.Contains(got, "coordinator AS1") {
				t.Fatalf("%s: device %s has no network instance of e2e-1: %s", d.Domain, dev, got)
			}
		}
	}
	out = mustCLI(t, as1.url, "interdomain", "slice", "show", "e2e-1", "-o", "json")
	rec = interdomain.Record{}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	for _, d := range rec.Domains {
		if d.Status == nil || d.Status.State != "committed" || d.Status.PredictedRateGbps == nil || *d.Status.PredictedRateGbps < 2 || d.Status.PredictedLatencyMs == nil {
			t.Fatalf("%s: status %+v (%s)", d.Domain, d.Status, d.StatusError)
		}
	}
	if rec.PredictedRateGbps == nil || *rec.PredictedRateGbps < 2 || rec.PredictedLatencyMs == nil || *rec.PredictedLatencyMs > 30 {
		t.Fatalf("end-to-end prediction: %s", out)
	}
	if out := mustCLI(t, as1.url, "interdomain", "slice", "list"); !strings.Contains(out, "e2e-1") || !strings.Contains(out, "active") {
		t.Fatalf("list:\n%s", out)
	}

	// AS2 cannot meet a 1 ms budget: it refuses, and nothing is committed anywhere
	req = writeFile(t, "e2e-2.json", `{"name": "e2e-2", "src": {"domain": "AS1", "device": "as1-sap1"},
	  "dst": {"domain": "AS3", "device": "as3-sap2"}, "domains": ["AS1", "AS2", "AS3"],
	  "slo": {"min_rate_gbps": 2, "max_latency_ms": 30}, "latency_budget_ms": {"AS2": 1}}`)
	_, errs, code := cli(t, as1.url, "interdomain", "slice", "create", "-f", req)
	if code == 0 || !strings.Contains(errs, "aborted") || !strings.Contains(errs, "l1.latency") {
		t.Fatalf("a slice AS2 cannot meet: exit %d: %s", code, errs)
	}
	out = mustCLI(t, as1.url, "interdomain", "slice", "show", "e2e-2", "-o", "json")
	rec = interdomain.Record{}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Phase != interdomain.PhaseAborted {
		t.Fatalf("e2e-2: %s", out)
	}
	for _, d := range rec.Domains {
		want := interdomain.StepRolledBack
		if d.Domain == "AS2" {
			want = interdomain.StepRefused
		}
		if d.Step != want {
			t.Fatalf("%s: step %s, want %s: %+v", d.Domain, d.Step, want, d)
		}
		if d.Domain != "AS2" {
			if c := showChange(t, urls[d.Domain], d.Change); c.State != "rolled_back" {
				t.Fatalf("%s: its sub-slice change %s is %s, want rolled_back", d.Domain, d.Change, c.State)
			}
		}
		if ok, _ := liveFlow(t, urls[d.Domain], "interdomain/e2e-2"); ok {
			t.Fatalf("%s: the live twin holds the aborted slice's flow", d.Domain)
		}
		for _, dev := range devs[d.Domain] {
			if got := niOn(dev, "e2e-2"); got != "" {
				t.Fatalf("%s: device %s still holds the aborted slice's network instance: %s", d.Domain, dev, got)
			}
		}
	}
	// AS2's own list: its e2e-2 change was rejected, none is committing or committed
	out = mustCLI(t, as2.url, "change", "list", "-o", "json")
	if n := strings.Count(out, `"state":"committed"`) + strings.Count(out, `"state": "committed"`); n != 1 {
		t.Fatalf("AS2 has %d committed changes, want 1 (e2e-1's):\n%s", n, out)
	}
	if strings.Contains(out, "committing") {
		t.Fatalf("AS2 holds a change in a confirm window:\n%s", out)
	}

	// a coordinator that finds another certificate at AS3 than the one it pinned
	// orders nothing anywhere
	before := mustCLI(t, as2.url, "change", "list", "-o", "json")
	bad := as3
	bad.pin = strings.Repeat("00", 32)
	as1b := startIDDomain(t, bin, "AS1", nil, "--interdomain", coordinatorConfig(t, as2, bad))
	req = writeFile(t, "e2e-3.json", strings.NewReplacer(`"e2e-2"`, `"e2e-3"`, `, "latency_budget_ms": {"AS2": 1}`, ``).Replace(mustReadString(t, req)))
	_, errs, code = cli(t, as1b.url, "interdomain", "slice", "create", "-f", req)
	if code == 0 || !strings.Contains(errs, "AS3") || !strings.Contains(errs, "fingerprint") {
		t.Fatalf("a peer with another certificate: exit %d: %s", code, errs)
	}
	if after := mustCLI(t, as2.url, "change", "list", "-o", "json"); after != before {
		t.Fatalf("AS2 got a change from a coordinator that could not authenticate AS3:\n%s", after)
	}
	if out := mustCLI(t, as1b.url, "interdomain", "slice", "list"); strings.Contains(out, "e2e-3") {
		t.Fatalf("a slice never ordered was recorded:\n%s", out)
	}
}

func mustReadString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
