package alto

import (
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// Conformance tests written from the RFC texts. Requirement trace: seed 003 §5.3 (ALTO
// server functionalities over the controller's view), seed 004 §7.2 and
// draft-giraltyellamraju-alto-bsg-requirements (bottleneck structures exposed through
// ALTO), REQ-AUTO-02 (open northbound interfaces), REQ-MON-01 (subscriptions: RFC 8895
// update streams).

type ird struct {
	Meta struct {
		CostTypes         map[string]CostType `json:"cost-types"`
		DefaultNetworkMap string              `json:"default-alto-network-map"`
	} `json:"meta"`
	Resources map[string]struct {
		URI          string         `json:"uri"`
		MediaType    string         `json:"media-type"`
		Accepts      string         `json:"accepts"`
		Capabilities map[string]any `json:"capabilities"`
		Uses         []string       `json:"uses"`
	} `json:"resources"`
}

// minimalBody is a valid request for each POST resource of the IRD.
var minimalBody = map[string]any{
	idNetworkMapFilter: map[string]any{"pids": []string{}},
	idCostMapFilter:    map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricRoutingCost}},
	idEndpointProp:     map[string]any{"properties": []string{propPID}, "endpoints": []string{"ipv4:192.0.2.9"}},
	idEndpointCost: map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricRoutingCost},
		"endpoints": map[string]any{"srcs": []string{"ipv4:10.1.0.5"}, "dsts": []string{"ipv4:10.0.23.2"}}},
	idPropMapFilter: map[string]any{"entities": []string{"ipv4:192.0.2.0/24"}, "properties": []string{propPID}},
	idCostMapPV:     map[string]any{"cost-type": CostType{Mode: ModeArray, Metric: MetricANEPath}},
	idEndpointCostPV: map[string]any{"cost-type": CostType{Mode: ModeArray, Metric: MetricANEPath},
		"endpoints": map[string]any{"srcs": []string{"ipv4:10.1.0.5"}, "dsts": []string{"ipv4:10.0.23.2"}}},
}

// TestDirectory: the IRD (RFC 7285 §9) lists every registered resource with its media
// type, accepted type, capabilities and uses; its cost types cover every
// cost-type-names; and every listed resource answers at its URI with its media type.
func TestDirectory(t *testing.T) {
	f := newFixture(t, Options{})
	var d ird
	f.get("/alto/directory", MediaDirectory, &d)
	if d.Meta.DefaultNetworkMap != idNetworkMap {
		t.Fatalf("default-alto-network-map %q", d.Meta.DefaultNetworkMap)
	}
	listed := 0
	for _, r := range f.srv.resources {
		if r.Hidden {
			if _, ok := d.Resources[r.ID]; ok {
				t.Fatalf("hidden resource %s listed", r.ID)
			}
			continue
		}
		listed++
		e, ok := d.Resources[r.ID]
		if !ok {
			t.Fatalf("resource %s missing from the IRD", r.ID)
		}
		if e.URI != f.http.URL+"/alto"+r.Path || e.MediaType != r.MediaType || e.Accepts != r.Accepts {
			t.Fatalf("resource %s: %+v", r.ID, e)
		}
		for _, u := range e.Uses {
			if _, ok := d.Resources[u]; !ok {
				t.Fatalf("%s uses unknown %s", r.ID, u)
			}
		}
		if names, ok := e.Capabilities["cost-type-names"].([]any); ok {
			for _, n := range names {
				if _, ok := d.Meta.CostTypes[n.(string)]; !ok {
					t.Fatalf("%s: cost type %v not in meta", r.ID, n)
				}
			}
		}
	}
	if listed != len(d.Resources) {
		t.Fatalf("IRD lists %d resources, registry %d", len(d.Resources), listed)
	}
	for id, e := range d.Resources {
		if id == idUpdates {
			continue // a stream: TestUpdateStream
		}
		method, body := http.MethodGet, any(nil)
		if e.Accepts != "" {
			method, body = http.MethodPost, minimalBody[id]
			if body == nil {
				t.Fatalf("no test body for %s", id)
			}
		}
		resp, b := f.do(method, strings.TrimPrefix(e.URI, f.http.URL), e.Accepts, body, "Accept", e.MediaType+","+MediaError)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, id, resp.StatusCode, b)
		}
		got, gp, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("%s: Content-Type %q: %v", id, resp.Header.Get("Content-Type"), err)
		}
		want, wtype, _ := strings.Cut(e.MediaType, ";type=") // RFC 9275 writes the type unquoted
		if got != want || gp["type"] != wtype {
			t.Fatalf("%s: Content-Type %q, IRD says %q", id, resp.Header.Get("Content-Type"), e.MediaType)
		}
	}
}

type networkMap struct {
	Meta struct {
		VTag vtag `json:"vtag"`
	} `json:"meta"`
	Map map[string]map[string][]string `json:"network-map"`
}

// TestNetworkMap: PIDs from the twin (RFC 7285 §11.2.1): one per device, addresses from
// the intended OpenConfig configurations and the host-subnet label; a subnet shared by
// two PIDs (a point-to-point link) appears as host prefixes; the default PID makes the
// map complete; no prefix is in two PIDs; the vtag names the resource.
func TestNetworkMap(t *testing.T) {
	f := newFixture(t, Options{})
	var nm networkMap
	f.get("/alto/networkmap", MediaNetworkMap, &nm)
	want := map[string]map[string][]string{
		"pid:h1":   {"ipv4": {"10.1.0.0/24"}},
		"pid:r1":   {"ipv4": {"10.0.12.1/32", "192.0.2.0/24"}},
		"pid:r2":   {"ipv4": {"10.0.12.2/32", "10.0.23.1/32"}},
		"pid:r3":   {"ipv4": {"10.0.23.2/32"}, "ipv6": {"2001:db8:3::/64"}},
		DefaultPID: {"ipv4": {"0.0.0.0/0"}, "ipv6": {"::/0"}},
	}
	if !mapsEqual(nm.Map, want) {
		t.Fatalf("network map\n got %v\nwant %v", nm.Map, want)
	}
	if nm.Meta.VTag.ResourceID != idNetworkMap || nm.Meta.VTag.Tag == "" || len(nm.Meta.VTag.Tag) > 64 {
		t.Fatalf("vtag %v", nm.Meta.VTag)
	}
	for _, c := range nm.Meta.VTag.Tag {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("vtag tag has character %q (RFC 7285 §10.3: U+0021-U+007E)", c)
		}
	}
	// complete and non-overlapping: each address resolves to exactly one PID by
	// longest-prefix match, and no prefix is listed twice
	seen := map[string]string{}
	var table prefixTable
	for pid, g := range nm.Map {
		for _, ps := range g {
			for _, p := range ps {
				if other, dup := seen[p]; dup {
					t.Fatalf("prefix %s in %s and %s", p, other, pid)
				}
				seen[p] = pid
				table.add(netip.MustParsePrefix(p), owner{pid: len(seen)})
			}
		}
	}
	for _, a := range []string{"10.0.12.1", "10.0.12.3", "192.0.2.200", "8.8.8.8", "2001:db8:3::9", "fe80::1"} {
		if _, ok := table.lookup(netip.MustParseAddr(a)); !ok {
			t.Fatalf("%s maps to no PID", a)
		}
	}

	// filtered network map (RFC 7285 §11.3.1): selected PIDs, address types, unknown
	// PIDs ignored
	var fm networkMap
	f.post("/alto/networkmap/filtered", MediaNetworkMapFilter, MediaNetworkMap,
		map[string]any{"pids": []string{"pid:r3", "pid:nope"}, "address-types": []string{"ipv6"}}, &fm)
	if !mapsEqual(fm.Map, map[string]map[string][]string{"pid:r3": {"ipv6": {"2001:db8:3::/64"}}}) || fm.Meta.VTag != nm.Meta.VTag {
		t.Fatalf("filtered: %+v", fm)
	}
	f.altoError("/alto/networkmap/filtered", MediaNetworkMapFilter, map[string]any{}, EMissingField, "pids")
	f.altoError("/alto/networkmap/filtered", MediaNetworkMapFilter, map[string]any{"pids": []string{"pid:r1"}, "address-types": []string{"ipx"}}, EInvalidFieldValue, "address-types/0")
}

func mapsEqual(a, b map[string]map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || len(v) != len(w) {
			return false
		}
		for f, l := range v {
			if !slices.Equal(l, w[f]) {
				return false
			}
		}
	}
	return true
}

type costMap struct {
	Meta struct {
		VTag           vtag       `json:"vtag"`
		DependentVTags []vtag     `json:"dependent-vtags"`
		CostType       *CostType  `json:"cost-type"`
		MultiCostTypes []CostType `json:"multi-cost-types"`
	} `json:"meta"`
	Map map[string]map[string]json.RawMessage `json:"cost-map"`
}

func (c costMap) num(t *testing.T, src, dst string) float64 {
	t.Helper()
	raw, ok := c.Map[src][dst]
	if !ok {
		t.Fatalf("no cost %s→%s in %v", src, dst, c.Map)
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("cost %s→%s = %s: %v", src, dst, raw, err)
	}
	return v
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestCostMaps: full cost maps (RFC 7285 §11.2.3) for routingcost and hopcount,
// numerical and ordinal, and the bottleneck-estimated available bandwidth; the
// dependent vtag is the network map's.
func TestCostMaps(t *testing.T) {
	f := newFixture(t, Options{})
	var nm networkMap
	f.get("/alto/networkmap", MediaNetworkMap, &nm)
	var rc, hc, ord, bw costMap
	f.get("/alto/costmap/num-routingcost", MediaCostMap, &rc)
	f.get("/alto/costmap/num-hopcount", MediaCostMap, &hc)
	f.get("/alto/costmap/ord-routingcost", MediaCostMap, &ord)
	f.get("/alto/costmap/num-bw-available-est", MediaCostMap, &bw)
	for _, c := range []costMap{rc, hc, ord, bw} {
		if len(c.Meta.DependentVTags) != 1 || c.Meta.DependentVTags[0] != nm.Meta.VTag || c.Meta.CostType == nil {
			t.Fatalf("meta %+v (network map %v)", c.Meta, nm.Meta.VTag)
		}
		if _, ok := c.Map[DefaultPID]; ok {
			t.Fatal("the default PID has no devices and no costs")
		}
	}
	// h1→r3 goes h1-r1-r2-r3 (2.1 ms, 3 hops), not over the 5 ms r1--r3
	if v := rc.num(t, "pid:h1", "pid:r3"); !near(v, 2.1) {
		t.Fatalf("routingcost h1→r3 = %v, want 2.1", v)
	}
	if v := hc.num(t, "pid:h1", "pid:r3"); v != 3 {
		t.Fatalf("hopcount h1→r3 = %v", v)
	}
	if v := rc.num(t, "pid:r1", "pid:r1"); v != 0 {
		t.Fatalf("routingcost r1→r1 = %v", v)
	}
	// ordinal: dense ranks of the numerical values (RFC 7285 §6.1.2.2)
	var all []float64
	for s, row := range rc.Map {
		for d := range row {
			all = append(all, rc.num(t, s, d))
		}
	}
	ordinal(all)
	for s, row := range rc.Map {
		for d := range row {
			o := ord.num(t, s, d)
			if o < 1 || o != math.Trunc(o) {
				t.Fatalf("ordinal %s→%s = %v", s, d, o)
			}
			for s2, row2 := range rc.Map {
				for d2 := range row2 {
					if (rc.num(t, s, d) < rc.num(t, s2, d2)) != (o < ord.num(t, s2, d2)) {
						t.Fatalf("ordinal order differs for %s→%s vs %s→%s", s, d, s2, d2)
					}
				}
			}
		}
	}
	// bandwidth: on r1--r2 (10 Gb/s, f2 at 2, f1 at 8) a newcomer gets 4; on h1--r1 and
	// r2--r3 (f1 at 8) 5; so h1→r3 is estimated at 4 Gb/s = 4e6 kbit/s
	if v := bw.num(t, "pid:h1", "pid:r3"); !near(v, 4e6) {
		t.Fatalf("bw-available h1→r3 = %v, want 4e6", v)
	}
	if bw.Meta.CostType.Source != "estimation" {
		t.Fatalf("cost-source %q", bw.Meta.CostType.Source)
	}
	if _, ok := bw.Map["pid:r1"]["pid:r1"]; ok {
		t.Fatal("no bandwidth estimate within a PID (no path)")
	}
}

// TestFilteredCostMap: filtered cost maps (RFC 7285 §11.3.2) with constraints,
// multi-cost (RFC 8189) with testable cost types and or-constraints, and the errors.
func TestFilteredCostMap(t *testing.T) {
	f := newFixture(t, Options{})
	path := "/alto/costmap/filtered"
	num := func(m string) CostType { return CostType{Mode: ModeNumerical, Metric: m} }
	var c costMap
	f.post(path, MediaCostMapFilter, MediaCostMap, map[string]any{
		"cost-type": num(MetricRoutingCost), "pids": map[string]any{"srcs": []string{"pid:h1"}, "dsts": []string{}},
		"constraints": []string{"le 1.5"},
	}, &c)
	if len(c.Map) != 1 || len(c.Map["pid:h1"]) != 3 || c.num(t, "pid:h1", "pid:r1") != 0.1 || c.num(t, "pid:h1", "pid:r2") != 1.1 || c.num(t, "pid:h1", "pid:h1") != 0 {
		t.Fatalf("constraint le 1.5 from h1: %v", c.Map)
	}
	// two constraints are ANDed
	f.post(path, MediaCostMapFilter, MediaCostMap, map[string]any{
		"cost-type": num(MetricRoutingCost), "pids": map[string]any{"srcs": []string{"pid:h1"}},
		"constraints": []string{"gt 0", "lt 2"},
	}, &c)
	if len(c.Map["pid:h1"]) != 2 || c.num(t, "pid:h1", "pid:r2") != 1.1 {
		t.Fatalf("gt 0 and lt 2: %v", c.Map)
	}
	// multi-cost: values are arrays in the order of multi-cost-types
	c = costMap{}
	f.post(path, MediaCostMapFilter, MediaCostMap, map[string]any{
		"multi-cost-types": []CostType{num(MetricRoutingCost), num(MetricHopCount)},
		"pids":             map[string]any{"srcs": []string{"pid:h1"}, "dsts": []string{"pid:r3", "pid:r2"}},
	}, &c)
	var arr []float64
	if err := json.Unmarshal(c.Map["pid:h1"]["pid:r3"], &arr); err != nil || len(arr) != 2 || !near(arr[0], 2.1) || arr[1] != 3 {
		t.Fatalf("multi-cost h1→r3 = %s (%v)", c.Map["pid:h1"]["pid:r3"], err)
	}
	if len(c.Meta.MultiCostTypes) != 2 || c.Meta.CostType != nil {
		t.Fatalf("meta %+v", c.Meta)
	}
	// testable cost types and or-constraints: hopcount ≤ 1 or routingcost ≥ 2
	f.post(path, MediaCostMapFilter, MediaCostMap, map[string]any{
		"multi-cost-types":    []CostType{num(MetricRoutingCost)},
		"testable-cost-types": []CostType{num(MetricHopCount), num(MetricRoutingCost)},
		"pids":                map[string]any{"srcs": []string{"pid:h1"}},
		"or-constraints":      [][]string{{"[0] le 1", "[0] ge 1"}, {"[1] ge 2"}},
	}, &c)
	got := map[string]bool{}
	for d := range c.Map["pid:h1"] {
		got[d] = true
	}
	if len(got) != 2 || !got["pid:r1"] || !got["pid:r3"] {
		t.Fatalf("or-constraints: %v", c.Map)
	}
	// ordinal in a filtered map ranks the returned pairs
	f.post(path, MediaCostMapFilter, MediaCostMap, map[string]any{
		"cost-type": CostType{Mode: ModeOrdinal, Metric: MetricHopCount}, "pids": map[string]any{"srcs": []string{"pid:h1"}, "dsts": []string{"pid:r3", "pid:r1"}},
	}, &c)
	if c.num(t, "pid:h1", "pid:r1") != 1 || c.num(t, "pid:h1", "pid:r3") != 2 {
		t.Fatalf("ordinal: %v", c.Map)
	}

	// errors (RFC 7285 §8.5.2, RFC 8189 §4)
	f.altoError(path, MediaCostMapFilter, `{"cost-type": `, ESyntax, "")
	f.altoError(path, MediaCostMapFilter, `[1,2]`, ESyntax, "")
	f.altoError(path, MediaCostMapFilter, `{"pids": {}} {}`, ESyntax, "")
	f.altoError(path, MediaCostMapFilter, map[string]any{"pids": map[string]any{}}, EMissingField, "cost-type")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": map[string]any{"cost-mode": "numerical"}}, EMissingField, "cost-type/cost-metric")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": "routingcost"}, EInvalidFieldType, "cost-type")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricRoutingCost), "pids": map[string]any{"srcs": "pid:h1"}}, EInvalidFieldType, "pids/srcs")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricRoutingCost), "pids": map[string]any{"srcs": []any{"pid:h1", 7}}}, EInvalidFieldType, "pids/srcs/1")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num("latency-of-the-moon")}, EInvalidFieldValue, "cost-type/cost-metric")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": CostType{Mode: "fancy", Metric: MetricHopCount}}, EInvalidFieldValue, "cost-type/cost-mode")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": CostType{Mode: ModeArray, Metric: MetricANEPath}}, EInvalidFieldValue, "cost-type/cost-mode")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricRoutingCost), "constraints": []string{"about 3"}}, EInvalidFieldValue, "constraints/0")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricRoutingCost), "constraints": []string{"le NaN"}}, EInvalidFieldValue, "constraints/0")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricRoutingCost), "pids": map[string]any{"srcs": []string{"bad pid!"}}}, EInvalidFieldValue, "pids/srcs/0")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricRoutingCost), "multi-cost-types": []CostType{num(MetricHopCount)}}, EInvalidFieldValue, "multi-cost-types")
	f.altoError(path, MediaCostMapFilter, map[string]any{"multi-cost-types": []CostType{num(MetricHopCount)}, "constraints": []string{"[3] le 1"}}, EInvalidFieldValue, "constraints/0")
	f.altoError(path, MediaCostMapFilter, map[string]any{"multi-cost-types": []CostType{num(MetricHopCount), num(MetricRoutingCost)}, "constraints": []string{"le 1"}}, EInvalidFieldValue, "constraints/0")
	f.altoError(path, MediaCostMapFilter, map[string]any{"cost-type": num(MetricHopCount), "constraints": []string{"le 1"}, "or-constraints": [][]string{{"le 1"}}}, EInvalidFieldValue, "or-constraints")
	six := make([]CostType, maxCostTypes+1)
	for i := range six {
		six[i] = num(MetricHopCount)
	}
	f.altoError(path, MediaCostMapFilter, map[string]any{"multi-cost-types": six}, EInvalidFieldValue, "multi-cost-types")
}

// TestHTTPErrors: wrong Content-Type is 415, an Accept that excludes the resource 406,
// a body over the limit 413, an unknown path 404, a wrong method 405 — and ALTO
// errors never come as problem+json.
func TestHTTPErrors(t *testing.T) {
	f := newFixture(t, Options{MaxBodyBytes: 256})
	body := map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricRoutingCost}}
	resp, _ := f.do(http.MethodPost, "/alto/costmap/filtered", "application/json", body)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong Content-Type: %d", resp.StatusCode)
	}
	resp, _ = f.do(http.MethodGet, "/alto/networkmap", "", nil, "Accept", "application/problem+json")
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("Accept mismatch: %d", resp.StatusCode)
	}
	resp, _ = f.do(http.MethodGet, "/alto/networkmap", "", nil, "Accept", "application/*")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Accept application/*: %d", resp.StatusCode)
	}
	resp, _ = f.do(http.MethodPost, "/alto/costmap/filtered", MediaCostMapFilter, `{"pad":"`+strings.Repeat("x", 300)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d", resp.StatusCode)
	}
	resp, _ = f.do(http.MethodGet, "/alto/nothing-here", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	resp, _ = f.do(http.MethodGet, "/alto/costmap/filtered", "", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on a POST resource: %d", resp.StatusCode)
	}
	resp, b := f.do(http.MethodPost, "/alto/costmap/filtered", MediaCostMapFilter, `{`)
	if resp.Header.Get("Content-Type") != MediaError || strings.Contains(string(b), "problem") {
		t.Fatalf("syntax error: %s %s", resp.Header.Get("Content-Type"), b)
	}
}

// TestVTags: a resource's vtag changes exactly when its content changes, whatever the
// twin's revision does (RFC 7285 §10.3).
func TestVTags(t *testing.T) {
	f := newFixture(t, Options{})
	tags := func() (nm, rc, hc, bw string) {
		var n networkMap
		var a, b, c costMap
		f.get("/alto/networkmap", MediaNetworkMap, &n)
		f.get("/alto/costmap/num-routingcost", MediaCostMap, &a)
		f.get("/alto/costmap/num-hopcount", MediaCostMap, &b)
		f.get("/alto/costmap/num-bw-available-est", MediaCostMap, &c)
		if a.Meta.VTag.ResourceID != "costmap-num-routingcost" {
			t.Fatalf("cost map vtag %v", a.Meta.VTag)
		}
		return n.Meta.VTag.Tag, a.Meta.VTag.Tag, b.Meta.VTag.Tag, c.Meta.VTag.Tag
	}
	nm0, rc0, hc0, bw0 := tags()
	if n, r, h, b := tags(); n != nm0 || r != rc0 || h != hc0 || b != bw0 {
		t.Fatal("tags changed without any change")
	}
	setLink := func(id string, fn func(l *network.Link)) {
		f.update(func(tx *twin.Txn) error {
			l, err := tx.Link(id)
			if err != nil {
				return err
			}
			fn(&l.Link)
			_, err = tx.PutLink(l.Link, twin.UpdateOnly, twin.Any)
			return err
		})
	}
	// capacity: the revision moves, only the bandwidth content changes
	rev0 := f.twins.Live().Revision()
	setLink("r2--r3", func(l *network.Link) { l.CapacityGbps = 6 })
	if f.twins.Live().Revision() == rev0 {
		t.Fatal("the revision did not move")
	}
	nm1, rc1, hc1, bw1 := tags()
	if nm1 != nm0 || rc1 != rc0 || hc1 != hc0 || bw1 == bw0 {
		t.Fatalf("capacity change: netmap %v rc %v hc %v bw %v (want only bw changed)", nm1 != nm0, rc1 != rc0, hc1 != hc0, bw1 != bw0)
	}
	// a device label nobody reads: revision moves, nothing changes
	f.update(func(tx *twin.Txn) error {
		d, err := tx.Device("r2")
		if err != nil {
			return err
		}
		d.Labels = map[string]string{"rack": "7"}
		_, err = tx.PutDevice(d.Device, twin.UpdateOnly, twin.Any)
		return err
	})
	if n, r, h, b := tags(); n != nm1 || r != rc1 || h != hc1 || b != bw1 {
		t.Fatal("tags changed on a change that changes no content")
	}
	// latency making r1--r3 the shorter way: routing cost and hops change, map not
	setLink("r1--r3", func(l *network.Link) { l.LatencyMs = 1 })
	nm2, rc2, hc2, _ := tags()
	if nm2 != nm1 || rc2 == rc1 || hc2 == hc1 {
		t.Fatalf("latency change: netmap %v rc %v hc %v", nm2 != nm1, rc2 != rc1, hc2 != hc1)
	}
	// a new address: the network map changes
	f.update(func(tx *twin.Txn) error {
		_, err := tx.PutDeviceConfig(twin.DeviceConfig{Device: "r2", Config: ifConfig(map[string]string{
			"eth1": "10.0.12.2/30", "eth2": "10.0.23.1/30", "lo": "198.51.100.1/32"})}, twin.Upsert, twin.Any)
		return err
	})
	nm3, _, _, _ := tags()
	if nm3 == nm2 {
		t.Fatal("network map vtag unchanged after an address was added")
	}
	if !strings.HasPrefix(nm3, "r") {
		t.Fatalf("tag %q is not revision-derived", nm3)
	}
}
