package alto

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// TestPathVectorFraming checks the multipart framing of path vector responses against
// the text of RFC 9275 (checked against the ALTO working group's draft source of the
// path vector extension, sections "Part Resource ID and Part Content ID" and
// "Response" of the two multipart resources):
//
// §6.6: "A Part Content ID conforms to the format of msg-id as specified in [RFC2387]
// and [RFC5322]. Specifically, it has the following format:
// "<" PART-RESOURCE-ID "@" DOMAIN-NAME ">" ... DOMAIN-NAME has the same format as
// dot-atom-text specified in Section 3.2.3 of [RFC5322]. It must be the domain name of
// the ALTO server."
//
// §7.2.6: "type: The type parameter MUST be "application/alto-costmap+json"."
// "start: ... If present, it MUST have the same value as the Content-ID header of the
// Path Vector part." "The resource ID of the version tag MUST follow the format of
// resource-id '.' part-resource-id where resource-id is the resource Id of the Path
// Vector resource, and part-resource-id has the same value as the [part resource ID in
// the] Content-ID of the Path Vector part." "The vtag of the Path Vector part MUST be
// included in the dependent-vtags [of the Property Map part]."
//
// Before this test the Content-IDs were "<costmap-pv.costmap@alto.twinflow>": a
// PART-RESOURCE-ID that was not the vtag's suffix, at a domain that was not the server's.
func TestPathVectorFraming(t *testing.T) {
	pv := CostType{Mode: ModeArray, Metric: MetricANEPath}
	for _, c := range []struct {
		name, base, path, accepts, firstType, part, rid string
		body                                            map[string]any
		domain                                          string // "" = the test server's host
	}{
		{"cost map", "", "/alto/costmap/pv", MediaCostMapFilter, MediaCostMap, partCostMap, idCostMapPV,
			map[string]any{"cost-type": pv, "pids": map[string]any{"srcs": []string{"pid:h1"}}}, "127.0.0.1"},
		{"endpoint cost", "", "/alto/endpointcost/pv", MediaEndpointCostParam, MediaEndpointCost, partECS, idEndpointCostPV,
			map[string]any{"cost-type": pv, "endpoints": map[string]any{"srcs": []string{"ipv4:192.0.2.1"}, "dsts": []string{"ipv4:10.0.23.2"}}}, "127.0.0.1"},
		{"base URL", "https://alto.example.net:8443", "/alto/costmap/pv", MediaCostMapFilter, MediaCostMap, partCostMap, idCostMapPV,
			map[string]any{"cost-type": pv}, "alto.example.net"},
		{"IPv6 literal", "https://[2001:db8::1]", "/alto/costmap/pv", MediaCostMapFilter, MediaCostMap, partCostMap, idCostMapPV,
			map[string]any{"cost-type": pv}, fallbackDomain},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, Options{BaseURL: c.base})
			resp, body := f.do(http.MethodPost, c.path, c.accepts, c.body)
			parts := readMultipart(t, resp, body, c.firstType) // type, start = first Content-ID
			wantFirst := "<" + c.part + "@" + c.domain + ">"
			if got := textproto.MIMEHeader(parts[0].header).Get("Content-ID"); got != wantFirst {
				t.Fatalf("Path Vector part Content-ID %q, want %q", got, wantFirst)
			}
			if got, want := textproto.MIMEHeader(parts[1].header).Get("Content-ID"), "<"+partPropMap+"@"+c.domain+">"; got != want {
				t.Fatalf("Property Map part Content-ID %q, want %q", got, want)
			}
			var first, second struct {
				Meta struct {
					VTag           vtag   `json:"vtag"`
					DependentVTags []vtag `json:"dependent-vtags"`
				} `json:"meta"`
			}
			if err := json.Unmarshal(parts[0].body, &first); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(parts[1].body, &second); err != nil {
				t.Fatal(err)
			}
			// resource-id '.' part-resource-id, the part resource ID of the Content-ID
			cid := strings.TrimSuffix(strings.TrimPrefix(wantFirst, "<"), ">")
			partRID, _, _ := strings.Cut(cid, "@")
			if first.Meta.VTag.ResourceID != c.rid+"."+partRID || first.Meta.VTag.Tag == "" {
				t.Fatalf("Path Vector part vtag %+v, want resource-id %s.%s", first.Meta.VTag, c.rid, partRID)
			}
			found := false
			for _, d := range second.Meta.DependentVTags {
				found = found || d == first.Meta.VTag
			}
			if !found {
				t.Fatalf("Property Map dependent-vtags %v lack the Path Vector part's vtag %v", second.Meta.DependentVTags, first.Meta.VTag)
			}
		})
	}
}

// TestDotAtomText: the DOMAIN-NAME check of RFC 5322 §3.2.3.
func TestDotAtomText(t *testing.T) {
	for s, want := range map[string]bool{
		"alto.example.com": true, "127.0.0.1": true, "localhost": true, "a_b-c": true,
		"": false, ".a": false, "a..b": false, "a.": false, "[::1]": false, "2001:db8::1": false, "a b": false, "a@b": false,
	} {
		if dotAtomText(s) != want {
			t.Errorf("dotAtomText(%q) = %v", s, !want)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "http://[::1]:8080/alto/costmap/pv", nil)
	if got := (&Server{}).contentIDDomain(r); got != fallbackDomain {
		t.Fatalf("IPv6 host: %q", got)
	}
}

// TestPVCostMapFragments: the path vector encoder's per-source fragments give, for
// every pair of a 120-router WAN, the path of the forest (pathANEs), and mark exactly
// the ANEs the map names.
func TestPVCostMapFragments(t *testing.T) {
	_, sn, all := benchSnapshot(t, 120)
	var buf bytes.Buffer
	used, err := sn.encodePVCostMap(&buf, idCostMapPV, CostType{Mode: ModeArray, Metric: MetricANEPath}, all, all)
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Map map[string]map[string][]string `json:"cost-map"`
	}
	if err := json.Unmarshal(buf.Bytes(), &cm); err != nil {
		t.Fatal(err)
	}
	want := make([]bool, len(sn.anes))
	pairs := 0
	var path []int32
	for a := range all {
		for d := range all {
			if a == d || sn.best[a*sn.P()+d] < 0 {
				continue
			}
			path = sn.pathANEs(a, d, path)
			names := make([]string, len(path))
			for i, e := range path {
				names[i] = sn.anes[e].Name
				want[e] = true
			}
			got := cm.Map[sn.pids[a].Name][sn.pids[d].Name]
			if !slices.Equal(got, names) {
				t.Fatalf("%s→%s: %v, want %v", sn.pids[a].Name, sn.pids[d].Name, got, names)
			}
			pairs++
		}
	}
	if pairs < 100*100 || !slices.Equal(used, want) {
		t.Fatalf("%d pairs; used ANEs differ: %v", pairs, !slices.Equal(used, want))
	}
}
