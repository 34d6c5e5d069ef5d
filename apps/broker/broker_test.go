package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/alto"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

func domainNetwork(t testing.TB, dom string) *network.Network {
	t.Helper()
	full, err := network.ALTOThreeDomain()
	if err != nil {
		t.Fatal(err)
	}
	p, err := network.DomainPart(full, dom)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// domainServer serves one domain's ALTO (its own twin) behind a bearer-token check.
func domainServer(t testing.TB, dom, token string) *httptest.Server {
	t.Helper()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	nw := domainNetwork(t, dom)
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error { _, err := tx.Apply(nw); return err }); err != nil {
		t.Fatal(err)
	}
	s, err := alto.New(alto.Options{Twins: m, PIDBy: "domain", Middleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "unauthenticated", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	return hs
}

type brokerFixture struct {
	t    testing.TB
	urls map[string]string
	b    *Broker
	http *httptest.Server
}

// newBrokerFixture starts AS1, AS2, AS3 and a broker over them; tokens[dom] overrides
// the token the broker presents to dom.
func newBrokerFixture(t testing.TB, tokens map[string]string) *brokerFixture {
	f := &brokerFixture{t: t, urls: map[string]string{}}
	var doms []Domain
	for _, d := range []string{"AS1", "AS2", "AS3"} {
		hs := domainServer(t, d, "tok-"+d)
		f.urls[d] = hs.URL
		tok := "tok-" + d
		if x, ok := tokens[d]; ok {
			tok = x
		}
		doms = append(doms, Domain{Name: d, URL: hs.URL, Token: tok})
	}
	b, err := New(Options{Domains: doms})
	if err != nil {
		t.Fatal(err)
	}
	b.Refresh(context.Background())
	f.b = b
	f.http = httptest.NewServer(b.Handler())
	t.Cleanup(f.http.Close)
	return f
}

func (f *brokerFixture) get(path, mt string, v any) {
	f.t.Helper()
	resp, err := http.Get(f.http.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != mt {
		f.t.Fatalf("GET %s: %d %s\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		f.t.Fatalf("%v\n%s", err, b)
	}
}

func (f *brokerFixture) post(body string) (*http.Response, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/alto/costmap/pv", strings.NewReader(body))
	req.Header.Set("Content-Type", alto.MediaCostMapFilter)
	req.Header.Set("Accept", "multipart/related, application/alto-costmap+json, application/alto-propmap+json, application/alto-error+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// sgRequestDraft is the request of seed 003 §5.5.2, with the first SG link's id 1 (the
// draft gives two links id 2, a typo: its sg-path is [1, 2, 3, 4]).
const sgRequestDraft = `{
  "cost-type": {"cost-mode": "array", "cost-metric": "ane-path"},
  "sg": {
    "nfs": ["NF1", "NF2", "NF3"],
    "saps": ["SAP1", "SAP2"],
    "sg_links": [
      {"id": 1, "src-node": "SAP1", "dst-node": "NF1"},
      {"id": 2, "src-node": "NF1", "dst-node": "NF2"},
      {"id": 3, "src-node": "NF2", "dst-node": "NF3"},
      {"id": 4, "src-node": "NF3", "dst-node": "SAP2"}
    ],
    "reqs": [{"id": 1, "src-node": "SAP1", "dst-node": "SAP2", "sg-path": [1, 2, 3, 4]}]%s
  }
}`

type pvAnswer struct {
	CostMap    map[string]map[string]map[string]map[string][][]string `json:"cost-map"`
	Placements map[string][]Placement                                 `json:"priv:tf-placements"`
	Over       map[string]int                                         `json:"priv:tf-placements-over-capacity"`
	Meta       struct {
		VTag alto.VersionTag `json:"vtag"`
	} `json:"meta"`
}

func readPV(t testing.TB, resp *http.Response, body []byte) (pvAnswer, map[string]map[string][]string) {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != alto.MediaCostMap || !strings.HasPrefix(params["start"], "<costmap@") {
		t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, b)
		if len(parts) == 1 && (p.Header.Get("Content-Id") != params["start"] || p.Header.Get("Content-Type") != alto.MediaCostMap) {
			t.Fatalf("first part header %v", p.Header)
		}
		if len(parts) == 2 && p.Header.Get("Content-Type") != alto.MediaPropMap {
			t.Fatalf("second part header %v", p.Header)
		}
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts", len(parts))
	}
	var a pvAnswer
	if err := json.Unmarshal(parts[0], &a); err != nil {
		t.Fatal(err)
	}
	var pm struct {
		Meta struct {
			Dep []alto.VersionTag `json:"dependent-vtags"`
		} `json:"meta"`
		Map map[string]map[string][]string `json:"property-map"`
	}
	if err := json.Unmarshal(parts[1], &pm); err != nil {
		t.Fatal(err)
	}
	if len(pm.Meta.Dep) != 1 || pm.Meta.Dep[0] != a.Meta.VTag || a.Meta.VTag.ResourceID != "costmap-pv.costmap" {
		t.Fatalf("vtags: %+v, %+v", a.Meta.VTag, pm.Meta.Dep)
	}
	return a, pm.Map
}

// TestBrokerSeed003: the appendix A scenario of seed 003 — three domains,
// each its own twin and ALTO server, AS2 a transit provider — read by the broker over
// authenticated REST. The property map is the draft's §5.5.1 example, the SG request
// of §5.5.2 gets the draft's path vector, and the end-to-end placements are Table 2's.
func TestBrokerSeed003(t *testing.T) {
	f := newBrokerFixture(t, nil)
	var pm struct {
		Map map[string]map[string][]string `json:"property-map"`
	}
	f.get("/alto/propmap", alto.MediaPropMap, &pm)
	want := map[string]map[string][]string{
		"pid:AS1": {"entry-point": {f.urls["AS1"]}, "cpu": {"50.0"}, "mem": {"60.0"}, "storage": {"70.0"}, "port": {"SAP1"}, "nf": {"NF1", "NF3"}},
		"pid:AS2": {"entry-point": {f.urls["AS2"]}, "cpu": {"10.0"}, "mem": {"20.0"}, "storage": {"30.0"}, "nf": {"NF2"}},
		"pid:AS3": {"entry-point": {f.urls["AS3"]}, "cpu": {"80.0"}, "mem": {"90.0"}, "storage": {"100.0"}, "port": {"SAP2"}, "nf": {"NF1", "NF3"}},
	}
	if !reflect.DeepEqual(pm.Map, want) {
		t.Fatalf("property map\n%v\nwant (seed 003 §5.5.1)\n%v", pm.Map, want)
	}

	resp, body := f.post(strings.Replace(sgRequestDraft, "%s", "", 1))
	a, props := readPV(t, resp, body)
	wantCM := map[string]map[string]map[string]map[string][][]string{"SAP1": {"SAP2": {
		"SAP1": {"NF1": {{"AS1"}, {"AS1", "AS2", "AS3"}}},
		"NF1":  {"NF2": {{"AS1", "AS2"}, {"AS3", "AS2"}}},
		"NF2":  {"NF3": {{"AS2", "AS1"}, {"AS2", "AS3"}}},
		"NF3":  {"SAP2": {{"AS1", "AS2", "AS3"}, {"AS3"}}},
	}}}
	if !reflect.DeepEqual(a.CostMap, wantCM) {
		t.Fatalf("path vector\n%v\nwant (seed 003 §5.5.2)\n%v", a.CostMap, wantCM)
	}
	for _, d := range []string{"AS1", "AS2", "AS3"} {
		if !slices.Equal(props["pid:"+d]["entry-point"], []string{f.urls[d]}) {
			t.Fatalf("entry point of %s: %v", d, props)
		}
	}
	var got []string
	for _, p := range a.Placements["1"] {
		got = append(got, p.Path)
	}
	table2 := []string{ // seed 003 appendix A, Table 2
		"AS1:SAP1->AS1:NF1->AS2:NF2->AS3:NF3->AS3:SAP2",
		"AS1:SAP1->AS1:NF1->AS2:NF2->AS1:NF3->AS2->AS3:SAP2",
		"AS1:SAP1->AS2->AS3:NF1->AS2:NF2->AS3:NF3->AS3:SAP2",
		"AS1:SAP1->AS2->AS3:NF1->AS2:NF2->AS1:NF3->AS2->AS3:SAP2",
	}
	// fewest inter-domain hops first (2, 4, 4, 6), then latency, then the path: Table 2's order
	if !slices.Equal(got, table2) {
		t.Fatalf("placements %v\nwant Table 2 %v", got, table2)
	}
	if p := a.Placements["1"]; p[0].Hops != 2 || p[3].Hops != 6 || p[3].LatencyMs != 6*network.ALTOInterLatencyMs || p[0].Nodes["NF3"] != "AS3" {
		t.Fatalf("placements %+v", p)
	}

	// resource pooling: NF1 needs 50 CPU, NF3 40; AS1 pools 50, AS3 80, so NF1 and NF3
	// fit in neither together, and only the split placements remain
	resp, body = f.post(strings.Replace(sgRequestDraft, "%s", `, "priv:tf-demands": {"NF1": {"cpu": 50}, "NF3": {"cpu": 40, "mem": 1}}`, 1))
	a, _ = readPV(t, resp, body)
	got = nil
	for _, p := range a.Placements["1"] {
		got = append(got, p.Nodes["NF1"]+"/"+p.Nodes["NF3"])
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), []string{"AS1/AS3", "AS3/AS1"}) || a.Over["1"] != 2 {
		t.Fatalf("pooled placements %v (over capacity %v)", got, a.Over)
	}

	var topo struct {
		Domains map[string]struct {
			Available bool `json:"available"`
		} `json:"domains"`
		Links []struct {
			From, To  string
			LatencyMs float64 `json:"latency-ms"`
			Bps       float64 `json:"throughput-bps"`
		} `json:"links"`
	}
	f.get("/alto/interdomain-topology", MediaTopology, &topo)
	var edges []string
	for _, l := range topo.Links {
		edges = append(edges, l.From+">"+l.To)
		if l.LatencyMs != network.ALTOInterLatencyMs || l.Bps != network.ALTOInterCapacityGbps*1e9 {
			t.Fatalf("IdT link %+v", l)
		}
	}
	if !slices.Equal(edges, []string{"AS1>AS2", "AS2>AS1", "AS2>AS3", "AS3>AS2"}) || !topo.Domains["AS2"].Available {
		t.Fatalf("IdT %+v", topo)
	}
}

// TestBrokerErrors: precise ALTO errors for malformed SG requests (the draft's own
// example, with its duplicate link id, among them); nothing is computed from them.
func TestBrokerErrors(t *testing.T) {
	f := newBrokerFixture(t, nil)
	draft := strings.Replace(sgRequestDraft, "%s", "", 1)
	for _, c := range []struct {
		name, body, code, field string
	}{
		{"the draft's duplicate id", strings.Replace(draft, `"id": 1, "src-node": "SAP1"`, `"id": 2, "src-node": "SAP1"`, 1), alto.EInvalidFieldValue, "sg/sg_links/1/id"},
		{"not JSON", `{"cost-type":`, alto.ESyntax, ""},
		{"no sg", `{"cost-type": {"cost-mode": "array", "cost-metric": "ane-path"}}`, alto.EMissingField, "sg"},
		{"scalar cost", strings.Replace(draft, `"array"`, `"numerical"`, 1), alto.EInvalidFieldValue, "cost-type/cost-mode"},
		{"unknown node", strings.Replace(draft, `"dst-node": "NF2"}`, `"dst-node": "NF9"}`, 1), alto.EInvalidFieldValue, "sg/sg_links/1/dst-node"},
		{"broken chain", strings.Replace(draft, `[1, 2, 3, 4]`, `[1, 3, 4]`, 1), alto.EInvalidFieldValue, "sg/reqs/0/sg-path/1"},
		{"path ends early", strings.Replace(draft, `[1, 2, 3, 4]`, `[1, 2, 3]`, 1), alto.EInvalidFieldValue, "sg/reqs/0/sg-path"},
		{"id not a number", strings.Replace(draft, `"id": 3`, `"id": "three"`, 1), alto.EInvalidFieldType, "sg/sg_links/2/id"},
		{"fractional id", strings.Replace(draft, `"id": 3`, `"id": 3.5`, 1), alto.EInvalidFieldValue, "sg/sg_links/2/id"},
		{"NF twice", strings.Replace(draft, `["NF1", "NF2", "NF3"]`, `["NF1", "NF2", "NF1"]`, 1), alto.EInvalidFieldValue, "sg/nfs/2"},
		{"bad name", strings.Replace(draft, `"saps": ["SAP1", "SAP2"]`, `"saps": ["SAP1", "SAP 2"]`, 1), alto.EInvalidFieldValue, "sg/saps/1"},
		{"demand of a SAP", strings.Replace(sgRequestDraft, "%s", `, "priv:tf-demands": {"SAP1": {"cpu": 1}}`, 1), alto.EInvalidFieldValue, "sg/priv:tf-demands/SAP1"},
		{"negative demand", strings.Replace(sgRequestDraft, "%s", `, "priv:tf-demands": {"NF1": {"cpu": -1}}`, 1), alto.EInvalidFieldValue, "sg/priv:tf-demands/NF1/cpu"},
		{"no domain offers it", strings.ReplaceAll(strings.Replace(draft, `"NF3"]`, `"NF7"]`, 1), `"NF3"`, `"NF7"`), alto.EInvalidFieldValue, "sg/nfs/2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := f.post(c.body)
			if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != alto.MediaError {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			var e struct {
				Meta map[string]any `json:"meta"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Meta["code"] != c.code {
				t.Fatalf("%s (%v)", b, err)
			}
			if c.field != "" && !strings.HasSuffix(e.Meta["field"].(string), c.field) {
				t.Fatalf("field %v, want …%s", e.Meta["field"], c.field)
			}
		})
	}
	// not the accepted media type, too large
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/alto/costmap/pv", strings.NewReader(draft))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong media type: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodPost, f.http.URL+"/alto/costmap/pv", strings.NewReader(strings.Repeat(" ", 2<<20)))
	req.Header.Set("Content-Type", alto.MediaCostMapFilter)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %v %v", resp, err)
	}
}

// TestBrokerRefusedDomain (REQ-INT-01): a domain that refuses the broker's credential
// contributes nothing: the broker says which and why, its NFs are offered nowhere, and
// the SG request naming one is refused precisely.
func TestBrokerRefusedDomain(t *testing.T) {
	f := newBrokerFixture(t, map[string]string{"AS2": "wrong"})
	var pm struct {
		Meta map[string]any                 `json:"meta"`
		Map  map[string]map[string][]string `json:"property-map"`
	}
	f.get("/alto/propmap", alto.MediaPropMap, &pm)
	down, _ := pm.Meta["priv:tf-unavailable-domains"].(map[string]any)
	if _, ok := pm.Map["pid:AS2"]; ok || len(pm.Map) != 2 || !strings.Contains(down["AS2"].(string), "401") {
		t.Fatalf("property map with AS2 refused: %+v", pm)
	}
	resp, b := f.post(strings.Replace(sgRequestDraft, "%s", "", 1))
	var e struct {
		Meta map[string]any `json:"meta"`
	}
	_ = json.Unmarshal(b, &e)
	if resp.StatusCode != 400 || e.Meta["field"] != "sg/nfs/1" || e.Meta["value"] != "NF2" || !strings.Contains(e.Meta["priv:tf-detail"].(string), "unavailable: AS2") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// TestBrokerDirectory: the broker's IRD lists its resources with absolute URIs; each
// GET resource answers at its URI with its media type, the POST one names what it
// accepts; an Accept that admits neither its type nor ALTO errors is 406.
func TestBrokerDirectory(t *testing.T) {
	f := newBrokerFixture(t, nil)
	var ird struct {
		Meta      map[string]map[string]map[string]string `json:"meta"`
		Resources map[string]struct {
			URI       string `json:"uri"`
			MediaType string `json:"media-type"`
			Accepts   string `json:"accepts"`
		} `json:"resources"`
	}
	f.get("/alto/directory", alto.MediaDirectory, &ird)
	if ird.Meta["cost-types"]["path-vector"]["cost-metric"] != "ane-path" || len(ird.Resources) != 3 {
		t.Fatalf("IRD %+v", ird)
	}
	for id, r := range ird.Resources {
		if !strings.HasPrefix(r.URI, f.http.URL+"/alto/") {
			t.Fatalf("%s: URI %q", id, r.URI)
		}
		if r.Accepts != "" {
			if id != idPV || r.Accepts != alto.MediaCostMapFilter || r.MediaType != mediaPV {
				t.Fatalf("%s: %+v", id, r)
			}
			continue
		}
		var v any
		f.get(strings.TrimPrefix(r.URI, f.http.URL), r.MediaType, &v)
	}
	req, _ := http.NewRequest(http.MethodGet, f.http.URL+"/alto/propmap", nil)
	req.Header.Set("Accept", "text/html")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("Accept text/html: %v %v", resp, err)
	}
}
