package alto

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
