package alto

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/twin"
)

// TestEndpointServices: endpoint property (RFC 7285 §11.4) and endpoint cost
// (§11.5) services resolve addresses by longest-prefix match to PIDs and devices.
func TestEndpointServices(t *testing.T) {
	f := newFixture(t, Options{})
	var nm networkMap
	f.get("/alto/networkmap", MediaNetworkMap, &nm)
	var ep struct {
		Meta struct {
			DependentVTags []vtag `json:"dependent-vtags"`
		} `json:"meta"`
		Props map[string]map[string]string `json:"endpoint-properties"`
	}
	f.post("/alto/endpointprop", MediaEndpointPropParam, MediaEndpointProp, map[string]any{
		"properties": []string{propPID, propDevice},
		"endpoints":  []string{"ipv4:192.0.2.77", "ipv4:10.0.12.2", "ipv4:8.8.8.8", "ipv6:2001:db8:3::42", "ipv4:10.1.0.9"},
	}, &ep)
	want := map[string]map[string]string{
		"ipv4:192.0.2.77":     {propPID: "pid:r1", propDevice: "r1"},
		"ipv4:10.0.12.2":      {propPID: "pid:r2", propDevice: "r2"},
		"ipv4:8.8.8.8":        {propPID: DefaultPID},
		"ipv6:2001:db8:3::42": {propPID: "pid:r3", propDevice: "r3"},
		"ipv4:10.1.0.9":       {propPID: "pid:h1", propDevice: "h1"},
	}
	for k, v := range want {
		if len(ep.Props[k]) != len(v) {
			t.Fatalf("%s: %v, want %v", k, ep.Props[k], v)
		}
		for p, x := range v {
			if ep.Props[k][p] != x {
				t.Fatalf("%s %s = %q, want %q", k, p, ep.Props[k][p], x)
			}
		}
	}
	if len(ep.Meta.DependentVTags) != 1 || ep.Meta.DependentVTags[0] != nm.Meta.VTag {
		t.Fatalf("dependent-vtags %v", ep.Meta.DependentVTags)
	}
	f.altoError("/alto/endpointprop", MediaEndpointPropParam, map[string]any{"properties": []string{"colour"}, "endpoints": []string{"ipv4:1.2.3.4"}}, EInvalidFieldValue, "properties/0")
	f.altoError("/alto/endpointprop", MediaEndpointPropParam, map[string]any{"properties": []string{propPID}, "endpoints": []string{"ipv4:::1"}}, EInvalidFieldValue, "endpoints/0")
	f.altoError("/alto/endpointprop", MediaEndpointPropParam, map[string]any{"properties": []string{propPID}}, EMissingField, "endpoints")

	var ec struct {
		Meta struct {
			CostType       *CostType  `json:"cost-type"`
			MultiCostTypes []CostType `json:"multi-cost-types"`
		} `json:"meta"`
		Map map[string]map[string]json.RawMessage `json:"endpoint-cost-map"`
	}
	f.post("/alto/endpointcost", MediaEndpointCostParam, MediaEndpointCost, map[string]any{
		"cost-type": CostType{Mode: ModeNumerical, Metric: MetricRoutingCost},
		"endpoints": map[string]any{"srcs": []string{"ipv4:10.1.0.5"}, "dsts": []string{"ipv4:10.0.23.2", "ipv4:192.0.2.1", "ipv4:8.8.8.8"}},
	}, &ec)
	if got := string(ec.Map["ipv4:10.1.0.5"]["ipv4:10.0.23.2"]); got != "2.1" {
		t.Fatalf("h1→r3 = %s: %v", got, ec.Map)
	}
	if got := string(ec.Map["ipv4:10.1.0.5"]["ipv4:192.0.2.1"]); got != "0.1" {
		t.Fatalf("h1→r1 = %s", got)
	}
	if _, ok := ec.Map["ipv4:10.1.0.5"]["ipv4:8.8.8.8"]; ok {
		t.Fatal("an address of no device has no cost")
	}
	// multi-cost with a constraint on the second type
	ec.Meta.CostType = nil
	f.post("/alto/endpointcost", MediaEndpointCostParam, MediaEndpointCost, map[string]any{
		"multi-cost-types": []CostType{{Mode: ModeNumerical, Metric: MetricHopCount}, {Mode: ModeNumerical, Metric: MetricBWAvailable}},
		"constraints":      []string{"[1] ge 5000000"},
		"endpoints":        map[string]any{"srcs": []string{"ipv4:10.0.12.1"}, "dsts": []string{"ipv4:10.0.23.2", "ipv4:10.0.12.2", "ipv4:10.1.0.1"}},
	}, &ec)
	row := ec.Map["ipv4:10.0.12.1"]
	// r1→r3 over r1--r2 is estimated at 4 Gb/s, r1→r2 likewise; r1→h1 (reverse of
	// h1--r1, unloaded) at 10 Gb/s
	if len(row) != 1 || string(row["ipv4:10.1.0.1"]) != "[1,10000000]" || len(ec.Meta.MultiCostTypes) != 2 {
		t.Fatalf("multi-cost with constraint: %v %+v", row, ec.Meta)
	}
	// without srcs the client's own address is the source (RFC 7285 §11.5.1.3): here
	// 127.0.0.1, which only the default PID covers: no costs
	ec.Map = nil
	f.post("/alto/endpointcost", MediaEndpointCostParam, MediaEndpointCost, map[string]any{
		"cost-type": CostType{Mode: ModeNumerical, Metric: MetricHopCount},
		"endpoints": map[string]any{"dsts": []string{"ipv4:10.0.23.2"}},
	}, &ec)
	if len(ec.Map) != 0 {
		t.Fatalf("costs from the client address: %v", ec.Map)
	}
	f.altoError("/alto/endpointcost", MediaEndpointCostParam, map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricHopCount}}, EMissingField, "endpoints")
	many := make([]string, maxEndpointSrcs+1)
	for i := range many {
		many[i] = fmt.Sprintf("ipv4:10.9.%d.%d", i/250, i%250)
	}
	f.altoError("/alto/endpointcost", MediaEndpointCostParam, map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricHopCount},
		"endpoints": map[string]any{"srcs": many, "dsts": []string{"ipv4:10.0.23.2"}}}, EInvalidFieldValue, "endpoints/srcs")
	f.altoError("/alto/endpointcost", MediaEndpointCostParam, map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricHopCount},
		"endpoints": map[string]any{"dsts": []string{"ipv6:10.0.0.1"}}}, EInvalidFieldValue, "endpoints/dsts/0")
}

// TestPropertyMaps: entity property maps (RFC 9240): the PID entity domain of the
// network map and the ipv4/ipv6 domains with the resource-specific pid property,
// inherited by longest-prefix match in the filtered map.
func TestPropertyMaps(t *testing.T) {
	f := newFixture(t, Options{PIDBy: "device"})
	var pm struct {
		Meta struct {
			DependentVTags []vtag `json:"dependent-vtags"`
		} `json:"meta"`
		Map map[string]map[string]any `json:"property-map"`
	}
	f.get("/alto/propmap", MediaPropMap, &pm)
	if pm.Map[domPID+":pid:r1"][propDomain] != "AS1" || pm.Map["ipv4:192.0.2.0/24"][propPID] != "pid:r1" {
		t.Fatalf("full property map: %v", pm.Map)
	}
	if devs, _ := pm.Map[domPID+":pid:r3"][propDevices].([]any); len(devs) != 1 || devs[0] != "r3" {
		t.Fatalf("devices of pid:r3: %v", pm.Map[domPID+":pid:r3"])
	}
	if len(pm.Meta.DependentVTags) != 1 || pm.Meta.DependentVTags[0].ResourceID != idNetworkMap {
		t.Fatalf("dependent-vtags %v", pm.Meta.DependentVTags)
	}
	pm.Map = nil
	f.post("/alto/propmap/filtered", MediaPropMapParams, MediaPropMap, map[string]any{
		"entities":   []string{"ipv4:192.0.2.5", "ipv4:192.0.2.128/25", "ipv6:2001:db8:3::/64", domPID + ":pid:r2", domPID + ":pid:ghost"},
		"properties": []string{propPID, propDomain},
	}, &pm)
	want := map[string]map[string]any{
		"ipv4:192.0.2.5":       {propPID: "pid:r1"},
		"ipv4:192.0.2.128/25":  {propPID: "pid:r1"},
		"ipv6:2001:db8:3::/64": {propPID: "pid:r3"},
		domPID + ":pid:r2":     {propDomain: "AS1"},
	}
	if len(pm.Map) != len(want) {
		t.Fatalf("filtered: %v", pm.Map)
	}
	for k, v := range want {
		for p, x := range v {
			if pm.Map[k][p] != x || len(pm.Map[k]) != len(v) {
				t.Fatalf("%s: %v, want %v", k, pm.Map[k], v)
			}
		}
	}
	f.altoError("/alto/propmap/filtered", MediaPropMapParams, map[string]any{"entities": []string{"asn:65000"}, "properties": []string{propPID}}, EInvalidFieldValue, "entities/0")
	f.altoError("/alto/propmap/filtered", MediaPropMapParams, map[string]any{"entities": []string{"ipv4:10.0.0.0/8"}, "properties": []string{"pid"}}, EInvalidFieldValue, "properties/0")
	f.altoError("/alto/propmap/filtered", MediaPropMapParams, map[string]any{"entities": []string{"ipv4:10.0.0.0/8"}}, EMissingField, "properties")
}

type part struct {
	header map[string][]string
	body   []byte
}

// readMultipart checks a multipart/related response (RFC 2387 framing as RFC 9275
// §6.3.6 asks: type and start parameters, start naming the first part's Content-ID)
// and returns its parts.
func readMultipart(t *testing.T, resp *http.Response, body []byte, firstType string) []part {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["type"] != firstType || params["boundary"] == "" || params["start"] == "" {
		t.Fatalf("Content-Type %q (%v)", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, part{header: p.Header, body: b})
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2", len(parts))
	}
	if id := parts[0].header["Content-Id"]; len(id) != 1 || id[0] != params["start"] {
		t.Fatalf("first part Content-ID %v, start %q", id, params["start"])
	}
	if ct := parts[0].header["Content-Type"]; len(ct) != 1 || ct[0] != firstType {
		t.Fatalf("first part Content-Type %v", ct)
	}
	if ct := parts[1].header["Content-Type"]; len(ct) != 1 || ct[0] != MediaPropMap {
		t.Fatalf("second part Content-Type %v", ct)
	}
	if parts[1].header["Content-Id"] == nil || parts[1].header["Content-Id"][0] == params["start"] {
		t.Fatalf("second part Content-ID %v", parts[1].header["Content-Id"])
	}
	return parts
}

type aneMap struct {
	Meta struct {
		VTag           vtag   `json:"vtag"`
		DependentVTags []vtag `json:"dependent-vtags"`
	} `json:"meta"`
	Map map[string]map[string]json.Number `json:"property-map"`
}

// TestPathVector: the path vector extension (RFC 9275): the cost map part holds the ANE
// path of each pair, the property part the requested ANE properties of exactly the
// ANEs named (".ane" domain), and its dependent vtag is the first part's vtag;
// max-reservable-bandwidth comes from the bottleneck structure (capacity − max-min load).
func TestPathVector(t *testing.T) {
	f := newFixture(t, Options{})
	pv := CostType{Mode: ModeArray, Metric: MetricANEPath}
	resp, body := f.do(http.MethodPost, "/alto/costmap/pv", MediaCostMapFilter, map[string]any{
		"cost-type": pv, "pids": map[string]any{"srcs": []string{"pid:h1"}, "dsts": []string{"pid:r3", "pid:h1", DefaultPID}},
		"ane-property-names": []string{PropMaxReservableBW, PropBSGLevel},
	})
	parts := readMultipart(t, resp, body, MediaCostMap)
	var cm struct {
		Meta struct {
			VTag           vtag     `json:"vtag"`
			DependentVTags []vtag   `json:"dependent-vtags"`
			CostType       CostType `json:"cost-type"`
		} `json:"meta"`
		Map map[string]map[string][]string `json:"cost-map"`
	}
	if err := json.Unmarshal(parts[0].body, &cm); err != nil {
		t.Fatalf("%v\n%s", err, parts[0].body)
	}
	if cm.Meta.CostType != pv || cm.Meta.VTag.ResourceID != idCostMapPV+".costmap" || len(cm.Meta.DependentVTags) != 1 {
		t.Fatalf("cost map part meta %+v", cm.Meta)
	}
	wantPath := []string{"h1--r1", "r1--r2", "r2--r3"}
	if got := cm.Map["pid:h1"]["pid:r3"]; !slices.Equal(got, wantPath) {
		t.Fatalf("h1→r3 path %v, want %v", got, wantPath)
	}
	if got, ok := cm.Map["pid:h1"]["pid:h1"]; !ok || len(got) != 0 {
		t.Fatalf("h1→h1 %v (want an empty path)", got)
	}
	if _, ok := cm.Map["pid:h1"][DefaultPID]; ok {
		t.Fatal("no path to the default PID")
	}
	var props aneMap
	if err := json.Unmarshal(parts[1].body, &props); err != nil {
		t.Fatalf("%v\n%s", err, parts[1].body)
	}
	if len(props.Meta.DependentVTags) != 1 || props.Meta.DependentVTags[0] != cm.Meta.VTag {
		t.Fatalf("property part dependent-vtags %v, first part vtag %v", props.Meta.DependentVTags, cm.Meta.VTag)
	}
	if len(props.Map) != 3 {
		t.Fatalf("property part has %d ANEs, want the 3 named: %v", len(props.Map), props.Map)
	}
	// r1--r2 is full (f1 8 + f2 2 on 10 Gb/s) and the structure's first level;
	// h1--r1 and r2--r3 carry 8 of 10
	wantMRB := map[string]string{"h1--r1": "2000000000", "r1--r2": "0", "r2--r3": "2000000000"}
	for ane, mrb := range wantMRB {
		p := props.Map[".ane:"+ane]
		if p[PropMaxReservableBW].String() != mrb {
			t.Fatalf("%s max-reservable-bandwidth %v, want %s", ane, p[PropMaxReservableBW], mrb)
		}
	}
	// level 1 is f2's own demand cap, level 2 the saturated r1--r2; h1--r1 is none
	if props.Map[".ane:r1--r2"][PropBSGLevel].String() != "2" || props.Map[".ane:h1--r1"][PropBSGLevel].String() != "0" {
		t.Fatalf("r1--r2 level %v", props.Map[".ane:r1--r2"])
	}
	// without ane-property-names the property map still has one member per ANE the
	// path vector part names, with no properties (RFC 9275 §7.2.3: no property is
	// returned; §7.2.6: "The PropertyMapData has one member for each ANEName that
	// appears in the Path Vector part")
	resp, body = f.do(http.MethodPost, "/alto/costmap/pv", MediaCostMapFilter, map[string]any{"cost-type": pv})
	parts = readMultipart(t, resp, body, MediaCostMap)
	cm.Map = nil
	if err := json.Unmarshal(parts[0].body, &cm); err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, row := range cm.Map {
		for _, path := range row {
			for _, a := range path {
				named[".ane:"+a] = true
			}
		}
	}
	props = aneMap{}
	if err := json.Unmarshal(parts[1].body, &props); err != nil || len(named) < 3 || len(props.Map) != len(named) {
		t.Fatalf("no properties asked: %d ANEs named, property map %s (%v)", len(named), parts[1].body, err)
	}
	for a, p := range props.Map {
		if !named[a] || len(p) != 0 {
			t.Fatalf("no properties asked: %s: %v (named: %v)", a, p, named[a])
		}
	}
	f.altoError("/alto/costmap/pv", MediaCostMapFilter, map[string]any{"cost-type": CostType{Mode: ModeNumerical, Metric: MetricHopCount}}, EInvalidFieldValue, "cost-type/cost-mode")
	f.altoError("/alto/costmap/pv", MediaCostMapFilter, map[string]any{"cost-type": pv, "ane-property-names": []string{"colour"}}, EInvalidFieldValue, "ane-property-names/0")
	f.altoError("/alto/costmap/pv", MediaCostMapFilter, map[string]any{"cost-type": pv, "constraints": []string{"le 1"}}, EInvalidFieldValue, "constraints")

	// the endpoint cost variant
	resp, body = f.do(http.MethodPost, "/alto/endpointcost/pv", MediaEndpointCostParam, map[string]any{
		"cost-type": pv, "endpoints": map[string]any{"srcs": []string{"ipv4:10.0.23.2"}, "dsts": []string{"ipv4:10.1.0.3"}},
		"ane-property-names": []string{PropEstAvailBW},
	})
	parts = readMultipart(t, resp, body, MediaEndpointCost)
	var ecm struct {
		Meta struct {
			VTag vtag `json:"vtag"`
		} `json:"meta"`
		Map map[string]map[string][]string `json:"endpoint-cost-map"`
	}
	if err := json.Unmarshal(parts[0].body, &ecm); err != nil {
		t.Fatal(err)
	}
	// r3→h1 runs the reverse directions: ANE names end in "@r"
	want := []string{"r2--r3@r", "r1--r2@r", "h1--r1@r"}
	if got := ecm.Map["ipv4:10.0.23.2"]["ipv4:10.1.0.3"]; !slices.Equal(got, want) || ecm.Meta.VTag.ResourceID != idEndpointCostPV+".ecs" {
		t.Fatalf("r3→h1 %v (%v), want %v", got, ecm.Meta.VTag, want)
	}
	props = aneMap{}
	if err := json.Unmarshal(parts[1].body, &props); err != nil {
		t.Fatal(err)
	}
	if props.Map[".ane:h1--r1@r"][PropEstAvailBW].String() != "10000000000" || props.Meta.DependentVTags[0] != ecm.Meta.VTag {
		t.Fatalf("endpoint property part %v", props)
	}
}

// TestBSG: the bottleneck structure graph resource (PGG as a directed graph): link
// vertices named as ANEs, path vertices with their rate, bottleneck and traverses
// edges.
func TestBSG(t *testing.T) {
	f := newFixture(t, Options{})
	var g struct {
		Meta struct {
			VTag vtag `json:"vtag"`
		} `json:"meta"`
		BSG struct {
			Levels   int         `json:"levels"`
			Vertices []BSGVertex `json:"vertices"`
			Edges    []BSGEdge   `json:"edges"`
		} `json:"bsg"`
	}
	f.get("/alto/bsg", MediaBSG, &g)
	if g.Meta.VTag.ResourceID != idBSG || g.BSG.Levels < 1 {
		t.Fatalf("meta %+v levels %d", g.Meta, g.BSG.Levels)
	}
	byID := map[string]BSGVertex{}
	for _, v := range g.BSG.Vertices {
		byID[v.ID] = v
	}
	var f1 *BSGVertex
	for _, v := range g.BSG.Vertices {
		if v.Kind == "path" && slices.Equal(v.ANEPath, []string{"h1--r1", "r1--r2", "r2--r3"}) {
			f1 = &v
		}
	}
	if f1 == nil || *f1.RateBps != 8e9 || f1.Members != 1 {
		t.Fatalf("f1's path vertex: %+v", f1)
	}
	has := func(from, to, kind string) bool {
		return slices.Contains(g.BSG.Edges, BSGEdge{From: from, To: to, Kind: kind})
	}
	if !has("r1--r2", f1.ID, "bottleneck") || !has(f1.ID, "r2--r3", "traverses") || has("r2--r3", f1.ID, "bottleneck") {
		t.Fatalf("edges %v", g.BSG.Edges)
	}
	if l := byID["r1--r2"]; l.Kind != "link" || *l.LoadBps != 10e9 || l.FairShareBps == nil {
		t.Fatalf("r1--r2 vertex %+v", l)
	}
}

// TestPIDsByDomain: with PIDs by domain, AS1 holds r1 and r2, AS2 h1 and r3; the
// alto.pid label wins over the domain.
func TestPIDsByDomain(t *testing.T) {
	f := newFixture(t, Options{PIDBy: "domain"})
	var nm networkMap
	f.get("/alto/networkmap", MediaNetworkMap, &nm)
	if len(nm.Map) != 3 || !slices.Equal(nm.Map["pid:AS1"]["ipv4"], []string{"10.0.12.0/30", "10.0.23.1/32", "192.0.2.0/24"}) {
		t.Fatalf("by domain: %v", nm.Map)
	}
	var rc costMap
	f.get("/alto/costmap/num-hopcount", MediaCostMap, &rc)
	if rc.num(t, "pid:AS1", "pid:AS2") != 1 || rc.num(t, "pid:AS2", "pid:AS1") != 1 {
		t.Fatalf("AS1↔AS2 hops: %v", rc.Map)
	}
	f.update(func(tx *twin.Txn) error {
		d, err := tx.Device("h1")
		if err != nil {
			return err
		}
		d.Labels = map[string]string{LabelPID: "pid:hosts", LabelPrefixes: "10.1.0.0/24"}
		_, err = tx.PutDevice(d.Device, twin.UpdateOnly, twin.Any)
		return err
	})
	nm = networkMap{}
	f.get("/alto/networkmap", MediaNetworkMap, &nm)
	if !slices.Equal(nm.Map["pid:hosts"]["ipv4"], []string{"10.1.0.0/24"}) {
		t.Fatalf("labelled PID: %v", nm.Map)
	}
	if _, err := New(Options{Twins: f.twins, PIDBy: "rack"}); err == nil {
		t.Fatal("PIDBy rack accepted")
	}
}

// TestMiddleware: the hook wraps every resource (peers authenticate before anything
// is computed).
func TestMiddleware(t *testing.T) {
	f := newFixture(t, Options{Middleware: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer peer" {
				http.Error(w, "unauthenticated", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	for _, r := range f.srv.resources {
		resp, _ := f.do(r.Method, "/alto"+strings.Replace(r.Path, "{stream}", "x", 1), r.Accepts, minimalBody[r.ID])
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without credentials: %d", r.ID, resp.StatusCode)
		}
	}
	resp, _ := f.do(http.MethodGet, "/alto/networkmap", "", nil, "Authorization", "Bearer peer")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with credentials: %d", resp.StatusCode)
	}
}

// applyMergePatch applies an RFC 7396 merge patch to a JSON document (written here from
// the RFC's pseudocode, independently of the server's diff).
func applyMergePatch(t *testing.T, doc, patch string) any {
	t.Helper()
	var d, p any
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(patch), &p); err != nil {
		t.Fatal(err)
	}
	var merge func(target, patch any) any
	merge = func(target, patch any) any {
		pm, ok := patch.(map[string]any)
		if !ok {
			return patch
		}
		tm, ok := target.(map[string]any)
		if !ok {
			tm = map[string]any{}
		}
		for k, v := range pm {
			if v == nil {
				delete(tm, k)
			} else {
				tm[k] = merge(tm[k], v)
			}
		}
		return tm
	}
	return merge(d, p)
}

// sseEvent is one server-sent event.
type sseEvent struct {
	event string
	data  string
}

func readEvents(r *bufio.Reader, out chan<- sseEvent) {
	defer close(out)
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.event != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if ev.data != "" {
				ev.data += "\n"
			}
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// TestUpdateStream: RFC 8895 update streams: the control event with the control URI,
// the full data of each substream, a new copy of exactly the substreams whose content
// changed after a twin transaction, and stream control (remove; removing all ends it).
func TestUpdateStream(t *testing.T) {
	f := newFixture(t, Options{})
	body, _ := json.Marshal(map[string]any{"add": map[string]any{
		"nm":   map[string]any{"resource-id": idNetworkMap},
		"rc":   map[string]any{"resource-id": "costmap-num-routingcost"},
		"rc-f": map[string]any{"resource-id": "costmap-num-routingcost", "incremental-changes": false},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.http.URL+"/alto/updates", bytes.NewReader(body))
	req.Header.Set("Content-Type", MediaUpdateStreamParam)
	req.Header.Set("Accept", MediaEventStream)
	resp, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != MediaEventStream {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 16)
	go readEvents(bufio.NewReader(resp.Body), events)
	next := func() sseEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("timed out waiting for an event")
		}
		return sseEvent{}
	}
	ev := next()
	var ctl map[string]any
	if ev.event != MediaUpdateStreamCtl || json.Unmarshal([]byte(ev.data), &ctl) != nil || ctl["control-uri"] == nil {
		t.Fatalf("first event %+v", ev)
	}
	controlURI := ctl["control-uri"].(string)
	if ev = next(); ev.event != MediaUpdateStreamCtl || !strings.Contains(ev.data, `"started":["nm","rc","rc-f"]`) {
		t.Fatalf("started event %+v", ev)
	}
	got := map[string]string{}
	for range 3 {
		ev = next()
		got[ev.event] = ev.data
	}
	if got[MediaNetworkMap+",nm"] == "" || got[MediaCostMap+",rc"] == "" || got[MediaCostMap+",rc-f"] != got[MediaCostMap+",rc"] {
		t.Fatalf("initial data events: %v", got)
	}
	// a latency change changes the routing costs, not the network map: one event
	f.update(func(tx *twin.Txn) error {
		l, err := tx.Link("r1--r3")
		if err != nil {
			return err
		}
		l.LatencyMs = 1
		_, err = tx.PutLink(l.Link, twin.UpdateOnly, twin.Any)
		return err
	})
	// rc gets a merge patch (RFC 7396) that turns the old map into the new one; rc-f,
	// which asked for no incremental changes, the whole new map
	ev = next()
	if ev.event != MediaMergePatch+",rc" {
		t.Fatalf("update event %+v", ev)
	}
	patched := applyMergePatch(t, got[MediaCostMap+",rc"], ev.data)
	ev = next()
	if ev.event != MediaCostMap+",rc-f" {
		t.Fatalf("full update event %+v", ev)
	}
	var cm costMap
	if err := json.Unmarshal([]byte(ev.data), &cm); err != nil || cm.num(t, "pid:r1", "pid:r3") != 1 {
		t.Fatalf("updated cost map %s (%v)", ev.data, err)
	}
	var full any
	_ = json.Unmarshal([]byte(ev.data), &full)
	if !reflect.DeepEqual(patched, full) {
		t.Fatalf("patched map differs from the new map:\n%v\n%v", patched, full)
	}
	// stream control: remove one, then the other (the stream ends)
	path := strings.TrimPrefix(controlURI, f.http.URL)
	r, b := f.do(http.MethodPost, path, MediaUpdateStreamParam, map[string]any{"remove": []string{"nm", "rc-f"}})
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.StatusCode, b)
	}
	if ev = next(); ev.event != MediaUpdateStreamCtl || !strings.Contains(ev.data, `"stopped":["nm","rc-f"]`) {
		t.Fatalf("stopped event %+v", ev)
	}
	// the offending substream ID is the error's value
	if m := f.altoError(path, MediaUpdateStreamParam, map[string]any{"remove": []string{"nm"}}, EInvalidFieldValue, "remove"); m["value"] != "nm" {
		t.Fatalf("remove of an unknown substream: value %v", m["value"])
	}
	if m := f.altoError(path, MediaUpdateStreamParam, map[string]any{"add": map[string]any{"rc": map[string]any{"resource-id": "networkmap"}}}, EInvalidFieldValue, "add"); m["value"] != "rc" {
		t.Fatalf("add of a substream ID in use: value %v", m["value"])
	}
	if r, _ = f.do(http.MethodPost, path, MediaUpdateStreamParam, map[string]any{"remove": []string{"rc"}}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("remove rc: %d", r.StatusCode)
	}
	next() // stopped
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("event after every substream was removed")
		}
	case <-ctx.Done():
		t.Fatal("the stream did not end")
	}
	if r, _ = f.do(http.MethodPost, path, MediaUpdateStreamParam, map[string]any{"remove": []string{"rc"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("control of an ended stream: %d", r.StatusCode)
	}
	f.altoError("/alto/updates", MediaUpdateStreamParam, map[string]any{"add": map[string]any{"x": map[string]any{"resource-id": idCostMapFilter}}}, EInvalidFieldValue, "add/x/resource-id")
	f.altoError("/alto/updates", MediaUpdateStreamParam, map[string]any{}, EMissingField, "add")
}
