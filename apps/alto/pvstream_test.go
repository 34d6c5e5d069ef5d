package alto

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"testing"
)

// referencePVCostMap is the path vector cost map part encoded the plain way: every
// pair's path walked up its source's forest (pathANEs), reversed, and each ANE name
// appended in turn; the encoder under test must produce exactly these bytes.
func referencePVCostMap(t *testing.T, sn *snapshot, rid string, ct CostType, srcs, dsts []int) ([]byte, []bool) {
	t.Helper()
	used := make([]bool, len(sn.anes))
	meta, err := json.Marshal(costMapMeta{
		DependentVTags: []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}, CostType: &ct,
		VTag: &VersionTag{ResourceID: rid + "." + partCostMap, Tag: sn.tags[hashPV]},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(`{"meta":`), meta...)
	b = append(b, `,"cost-map":{`...)
	rows := 0
	var path []int32
	for _, a := range srcs {
		var row []byte
		n := 0
		for _, d := range dsts {
			if a == d && len(sn.pids[a].Devices) == 0 || a != d && sn.best[a*sn.P()+d] < 0 {
				continue
			}
			if n > 0 {
				row = append(row, ',')
			}
			n++
			row = appendString(row, sn.pids[d].Name)
			row = append(row, ":["...)
			if a != d {
				path = sn.pathANEs(a, d, path)
				for i, e := range path {
					if i > 0 {
						row = append(row, ',')
					}
					row = appendString(row, sn.anes[e].Name)
					used[e] = true
				}
			}
			row = append(row, ']')
		}
		if n == 0 {
			continue
		}
		if rows > 0 {
			b = append(b, ',')
		}
		rows++
		b = appendString(b, sn.pids[a].Name)
		b = append(b, ":{"...)
		b = append(b, row...)
		b = append(b, '}')
	}
	return append(b, "}}"...), used
}

// TestPVCostMapStreamed: the streamed path vector encoder writes, byte for byte, the
// reference encoding, and marks exactly the ANEs it names — for all pairs of a
// 120-router WAN and for selections that make it build ancestors' paths before their
// own row entry (reversed, strided and single-source selections).
func TestPVCostMapStreamed(t *testing.T) {
	_, sn, all := benchSnapshot(t, 120)
	rev := slices.Clone(all)
	slices.Reverse(rev)
	var odd, third []int
	for i := range all {
		if i%2 == 1 {
			odd = append(odd, i)
		}
		if i%3 == 0 {
			third = append(third, i)
		}
	}
	ct := CostType{Mode: ModeArray, Metric: MetricANEPath}
	for _, c := range []struct {
		name       string
		srcs, dsts []int
	}{
		{"all", all, all}, {"reversed", rev, rev}, {"odd to every third", odd, third},
		{"one source", []int{5}, all}, {"one pair", []int{7}, []int{90}}, {"none", nil, all},
		{"a source twice", []int{3, 40, 3}, all},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, wantUsed := referencePVCostMap(t, sn, idCostMapPV, ct, c.srcs, c.dsts)
			var buf bytes.Buffer
			used, err := sn.encodePVCostMap(&buf, idCostMapPV, ct, c.srcs, c.dsts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				got := buf.Bytes()
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("body differs from the reference at byte %d of %d/%d: got …%s…, want …%s…", i, len(got), len(want),
					got[max(0, i-40):min(len(got), i+40)], want[max(0, i-40):min(len(want), i+40)])
			}
			if !slices.Equal(used, wantUsed) {
				t.Fatal("the ANEs marked used differ from those named")
			}
			if !json.Valid(want) {
				t.Fatal("reference is not JSON")
			}
		})
	}
}

// referencePropPart is the ".ane" property map part encoded with encoding/json over
// maps: one member per ANE named, each holding the requested properties.
func referencePropPart(t *testing.T, sn *snapshot, rid string, first VersionTag, used []bool, props []string) []byte {
	t.Helper()
	pm := map[string]map[string]any{}
	for e, u := range used {
		if !u {
			continue
		}
		m := map[string]any{}
		a := sn.anes[e]
		for _, p := range props {
			switch p {
			case PropMaxReservableBW:
				m[p] = json.RawMessage(appendNumber(nil, max(0, a.CapacityGbps-a.LoadGbps)*1e9))
			case PropEstAvailBW:
				m[p] = json.RawMessage(appendNumber(nil, a.EstGbps*1e9))
			case PropBSGLevel:
				m[p] = a.Level
			}
		}
		pm[".ane:"+a.Name] = m
	}
	b, err := json.Marshal(map[string]any{
		"meta": map[string]any{
			"vtag":            VersionTag{ResourceID: rid + "." + partPropMap, Tag: sn.tags[hashPV]},
			"dependent-vtags": []VersionTag{first},
		},
		"property-map": pm,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPVResponseReference: a whole path vector response of a 60-router WAN over HTTP
// (every PID to every PID, with and without ANE properties): its first part is, byte
// for byte, the reference encoding of the cost map, its second the encoding/json
// encoding of the property map of exactly the ANEs the first names.
func TestPVResponseReference(t *testing.T) {
	s, sn, all := benchSnapshot(t, 60)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ct := CostType{Mode: ModeArray, Metric: MetricANEPath}
	for _, props := range [][]string{nil, {PropMaxReservableBW}, {PropBSGLevel, PropEstAvailBW, PropMaxReservableBW}} {
		q := map[string]any{"cost-type": ct}
		if props != nil {
			q["ane-property-names"] = props
		}
		req, _ := json.Marshal(q)
		resp, err := srv.Client().Post(srv.URL+"/alto/costmap/pv", MediaCostMapFilter, bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		parts := readMultipart(t, resp, body, MediaCostMap)
		want, used := referencePVCostMap(t, sn, idCostMapPV, ct, all, all)
		if !bytes.Equal(parts[0].body, want) {
			t.Fatalf("props %v: the cost map part (%d bytes) is not the reference encoding (%d bytes)", props, len(parts[0].body), len(want))
		}
		vt := VersionTag{ResourceID: idCostMapPV + "." + partCostMap, Tag: sn.tags[hashPV]}
		if wantProps := referencePropPart(t, sn, idCostMapPV, vt, used, props); !bytes.Equal(parts[1].body, wantProps) {
			t.Fatalf("props %v: property map part\n%.300s\nwant\n%.300s", props, parts[1].body, wantProps)
		}
	}
}
