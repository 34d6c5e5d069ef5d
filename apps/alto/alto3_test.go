package alto

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// TestALTOThreeDomain: the three-domain example of seed 003 appendix A (the alto3
// generator) with PIDs by domain: one PID per AS, and the path vector from AS1 to AS3
// crosses AS2 from border to border (the broker of issue #19 item 2 builds on this).
func TestALTOThreeDomain(t *testing.T) {
	nw, err := network.ALTOThreeDomain()
	if err != nil {
		t.Fatal(err)
	}
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error { _, err := tx.Apply(nw); return err }); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Twins: m, PIDBy: "domain"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	f := &fixture{t: t, twins: m, srv: s, http: hs}
	var nm networkMap
	f.get("/alto/networkmap", MediaNetworkMap, &nm)
	var names []string
	for p := range nm.Map {
		names = append(names, p)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{DefaultPID, "pid:AS1", "pid:AS2", "pid:AS3"}) {
		t.Fatalf("PIDs %v", names)
	}
	var hc costMap
	f.get("/alto/costmap/num-hopcount", MediaCostMap, &hc)
	if hc.num(t, "pid:AS1", "pid:AS3") != 4 || hc.num(t, "pid:AS1", "pid:AS2") != 1 {
		t.Fatalf("hop counts %v", hc.Map)
	}
	resp, body := f.do(http.MethodPost, "/alto/costmap/pv", MediaCostMapFilter, map[string]any{
		"cost-type": CostType{Mode: ModeArray, Metric: MetricANEPath},
		"pids":      map[string]any{"srcs": []string{"pid:AS1"}, "dsts": []string{"pid:AS3"}},
	})
	parts := readMultipart(t, resp, body, MediaCostMap)
	var cm struct {
		Map map[string]map[string][]string `json:"cost-map"`
	}
	if err := json.Unmarshal(parts[0].body, &cm); err != nil {
		t.Fatal(err)
	}
	want := []string{"as1-br--as2-br1", "as2-br1--as2-core", "as2-core--as2-br2", "as2-br2--as3-br"}
	if got := cm.Map["pid:AS1"]["pid:AS3"]; !slices.Equal(got, want) {
		t.Fatalf("AS1→AS3 %v, want %v", got, want)
	}
}

// TestInterdomainAbstraction: the abstraction a broker reads (seed 003 §5.1 IdR, §5.2
// IdT) from the three-domain example: per domain the pooled resources, NFs and SAPs of
// Table 1; the four directed inter-domain links with capacity, latency and
// max-reservable bandwidth; a vtag that moves when an inter-domain capacity does.
func TestInterdomainAbstraction(t *testing.T) {
	nw, err := network.ALTOThreeDomain()
	if err != nil {
		t.Fatal(err)
	}
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error { _, err := tx.Apply(nw); return err }); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Twins: m, PIDBy: "domain"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	f := &fixture{t: t, twins: m, srv: s, http: hs}
	var id Interdomain
	f.get("/alto/interdomain", MediaInterdomain, &id)
	want := map[string]DomainResources{
		"AS1": {CPU: 50, Mem: 60, Storage: 70, NFs: []string{"NF1", "NF3"}, SAPs: []string{"SAP1"}, Devices: 4},
		"AS2": {CPU: 10, Mem: 20, Storage: 30, NFs: []string{"NF2"}, SAPs: []string{}, Devices: 4},
		"AS3": {CPU: 80, Mem: 90, Storage: 100, NFs: []string{"NF1", "NF3"}, SAPs: []string{"SAP2"}, Devices: 4},
	}
	if !reflect.DeepEqual(id.Domains, want) {
		t.Fatalf("domains %+v\nwant %+v", id.Domains, want)
	}
	var got []string
	for _, l := range id.Links {
		got = append(got, l.FromDomain+">"+l.ToDomain+":"+l.ANE)
		if l.CapacityBps != network.ALTOInterCapacityGbps*1e9 || l.LatencyMs != network.ALTOInterLatencyMs || l.MaxReservableBps != l.CapacityBps {
			t.Fatalf("link %+v", l)
		}
	}
	wantLinks := []string{"AS1>AS2:as1-br--as2-br1", "AS2>AS1:as1-br--as2-br1@r", "AS2>AS3:as2-br2--as3-br", "AS3>AS2:as2-br2--as3-br@r"}
	if !slices.Equal(got, wantLinks) {
		t.Fatalf("links %v, want %v", got, wantLinks)
	}
	tag := id.Meta.VTag
	if tag.ResourceID != "interdomain" || tag.Tag == "" {
		t.Fatalf("vtag %+v", tag)
	}
	f.update(func(tx *twin.Txn) error {
		l, err := tx.Link("as1-br--as2-br1")
		if err != nil {
			return err
		}
		l.CapacityGbps = 7
		_, err = tx.PutLink(l.Link, twin.UpdateOnly, twin.Any)
		return err
	})
	f.get("/alto/interdomain", MediaInterdomain, &id)
	if id.Meta.VTag == tag || id.Links[0].CapacityBps != 7e9 {
		t.Fatalf("after a capacity change: vtag %+v, link %+v", id.Meta.VTag, id.Links[0])
	}
}
