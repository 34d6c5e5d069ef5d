package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// brokerDomain is one `twinflow serve` holding one domain of the seed 003 example.
type brokerDomain struct {
	name, url, token, pin string
}

// startDomain runs `twinflow serve` (HTTPS, its own database and twin, PIDs by domain)
// with the domain's part of the alto3 example applied, and a viewer the broker uses.
func startDomain(t *testing.T, bin, name string) brokerDomain {
	t.Helper()
	dir := t.TempDir()
	db := "file:" + filepath.Join(dir, "state.db")
	out, err := exec.Command(bin, "user", "create", "broker", "--role", "viewer", "--db", db, "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Token == "" {
		t.Fatalf("user create: %v %s", err, out)
	}
	s := serveBinary(t, bin, "--db="+db, "--tls-dir="+filepath.Join(dir, "tls"), "--alto-pids", "domain", "--telemetry=false")
	part := writeFile(t, name+".yaml", mustRun(t, bin, "topology", "generate", "alto3", "--domain", name, "--format", "yaml"))
	mustCLI(t, s.URL, "apply", "-f", part)
	return brokerDomain{name: name, url: s.URL, token: created.Token, pin: certPin(t, filepath.Join(dir, "tls", "cert.pem"))}
}

func certPin(t *testing.T, path string) string {
	t.Helper()
	blk, _ := pem.Decode(mustRead(t, path))
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// startBroker writes the broker's configuration (tokens in files beside it) and runs
// `twinflow serve --broker`; it returns its URL and a viewer's token on it.
func startBroker(t *testing.T, bin string, doms []brokerDomain) (string, string, string) {
	t.Helper()
	dir := t.TempDir()
	type entry struct {
		Name       string `json:"name"`
		URL        string `json:"url"`
		TokenFile  string `json:"token-file"`
		CertSHA256 string `json:"cert-sha256"`
	}
	var cfg struct {
		Domains []entry `json:"domains"`
		Refresh string  `json:"refresh"`
	}
	cfg.Refresh = "1h"
	for _, d := range doms {
		if err := os.WriteFile(filepath.Join(dir, d.name+".token"), []byte(d.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Domains = append(cfg.Domains, entry{d.name, d.url, d.name + ".token", d.pin})
	}
	b, _ := json.Marshal(cfg)
	file := filepath.Join(dir, "broker.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db := "file:" + filepath.Join(dir, "broker.db")
	out, err := exec.Command(bin, "user", "create", "mdo", "--role", "viewer", "--db", db, "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(out, &created)
	s := serveBinary(t, bin, "--db="+db, "--tls-dir="+filepath.Join(dir, "tls"), "--broker", file, "--telemetry=false")
	return s.URL, created.Token, certPin(t, filepath.Join(dir, "tls", "cert.pem"))
}

// pinnedClient trusts exactly the certificate with SHA-256 pin.
func pinnedClient(pin string) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, //nolint:gosec // pinned below
		VerifyConnection: func(cs tls.ConnectionState) error {
			s := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(s[:]) != pin {
				return errors.New("fingerprint mismatch")
			}
			return nil
		}}}}
}

// TestBrokerThreeDomains (issue #19 item 2; REQ-INT-01 between broker and domains): three `twinflow
// serve` processes, one per domain of seed 003 appendix A (each twin holds only its
// own domain and the neighbouring borders), and a fourth, `serve --broker`, reading
// them over HTTPS with a viewer's token each and their certificates pinned. The
// broker's property map and SG path vector are the draft's (§5.5.1, §5.5.2); an
// anonymous client of the broker is refused; a broker presenting a wrong token to AS2,
// or finding another certificate at AS3, gets nothing from them and says why.
func TestBrokerThreeDomains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(labBinaries(t), "twinflow")
	var doms []brokerDomain
	urls := map[string]string{}
	for _, n := range []string{"AS1", "AS2", "AS3"} {
		d := startDomain(t, bin, n)
		doms = append(doms, d)
		urls[n] = d.url
	}
	burl, btoken, bpin := startBroker(t, bin, doms)
	hc := pinnedClient(bpin)
	do := func(method, path, token, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, burl+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/alto-costmapfilter+json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, _ := do(http.MethodGet, "/alto/propmap", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous broker client: %d", resp.StatusCode)
	}
	resp, b := do(http.MethodGet, "/alto/propmap", btoken, "")
	var pm struct {
		Map map[string]map[string][]string `json:"property-map"`
	}
	if err := json.Unmarshal(b, &pm); err != nil || resp.Header.Get("Content-Type") != "application/alto-propmap+json" {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	want := map[string]map[string][]string{
		"pid:AS1": {"entry-point": {urls["AS1"]}, "cpu": {"50.0"}, "mem": {"60.0"}, "storage": {"70.0"}, "port": {"SAP1"}, "nf": {"NF1", "NF3"}},
		"pid:AS2": {"entry-point": {urls["AS2"]}, "cpu": {"10.0"}, "mem": {"20.0"}, "storage": {"30.0"}, "nf": {"NF2"}},
		"pid:AS3": {"entry-point": {urls["AS3"]}, "cpu": {"80.0"}, "mem": {"90.0"}, "storage": {"100.0"}, "port": {"SAP2"}, "nf": {"NF1", "NF3"}},
	}
	if !reflect.DeepEqual(pm.Map, want) {
		t.Fatalf("property map\n%v\nwant\n%v", pm.Map, want)
	}
	sg := `{"cost-type": {"cost-mode": "array", "cost-metric": "ane-path"},
	  "sg": {"nfs": ["NF1", "NF2", "NF3"], "saps": ["SAP1", "SAP2"],
	    "sg_links": [{"id": 1, "src-node": "SAP1", "dst-node": "NF1"}, {"id": 2, "src-node": "NF1", "dst-node": "NF2"},
	                 {"id": 3, "src-node": "NF2", "dst-node": "NF3"}, {"id": 4, "src-node": "NF3", "dst-node": "SAP2"}],
	    "reqs": [{"id": 1, "src-node": "SAP1", "dst-node": "SAP2", "sg-path": [1, 2, 3, 4]}]}}`
	resp, b = do(http.MethodPost, "/alto/costmap/pv", btoken, sg)
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 200 || mt != "multipart/related" {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	p, err := multipart.NewReader(bytes.NewReader(b), params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Map map[string]map[string]map[string]map[string][][]string `json:"cost-map"`
	}
	if err := json.NewDecoder(p).Decode(&cm); err != nil {
		t.Fatal(err)
	}
	wantCM := map[string]map[string]map[string]map[string][][]string{"SAP1": {"SAP2": {
		"SAP1": {"NF1": {{"AS1"}, {"AS1", "AS2", "AS3"}}},
		"NF1":  {"NF2": {{"AS1", "AS2"}, {"AS3", "AS2"}}},
		"NF2":  {"NF3": {{"AS2", "AS1"}, {"AS2", "AS3"}}},
		"NF3":  {"SAP2": {{"AS1", "AS2", "AS3"}, {"AS3"}}},
	}}}
	if !reflect.DeepEqual(cm.Map, wantCM) {
		t.Fatalf("path vector\n%v\nwant (seed 003 §5.5.2)\n%v", cm.Map, wantCM)
	}

	// a broker with a wrong token for AS2 and the wrong pin for AS3
	bad := append([]brokerDomain(nil), doms...)
	bad[1].token = "tfk_not-a-token"
	bad[2].pin = strings.Repeat("00", 32)
	burl, btoken, bpin = startBroker(t, bin, bad)
	hc = pinnedClient(bpin)
	resp, b = do(http.MethodGet, "/alto/interdomain-topology", btoken, "")
	var topo struct {
		Domains map[string]struct {
			Available bool   `json:"available"`
			Error     string `json:"error"`
		} `json:"domains"`
	}
	if err := json.Unmarshal(b, &topo); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if d := topo.Domains["AS2"]; d.Available || !strings.Contains(d.Error, "401") {
		t.Fatalf("AS2 with a wrong token: %+v", d)
	}
	if d := topo.Domains["AS3"]; d.Available || !strings.Contains(d.Error, "fingerprint") {
		t.Fatalf("AS3 with another certificate: %+v", d)
	}
	if !topo.Domains["AS1"].Available {
		t.Fatalf("AS1: %+v", topo.Domains["AS1"])
	}
	resp, b = do(http.MethodPost, "/alto/costmap/pv", btoken, sg)
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"value":"NF2"`) {
		t.Fatalf("SG over a refused domain: %d %s", resp.StatusCode, b)
	}
}
