package alto

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/twin"
)

// TestBuildNetmapConflicts: a duplicate address is listed in no PID and reported; a
// device claiming a /0 or the reserved default PID name is refused; names that are not
// valid PID names are made valid and stay distinct.
func TestBuildNetmapConflicts(t *testing.T) {
	p := netip.MustParsePrefix
	in := netmapInput{
		devices: []network.Device{
			{ID: "a"}, {ID: "b"},
			{ID: "c", Labels: map[string]string{LabelPID: DefaultPID}},
			{ID: "site/1.d"}, {ID: "site/1_d"},
		},
		addrs: [][]netip.Prefix{
			{p("10.9.0.1/24"), p("172.16.0.1/32")},
			{p("172.16.0.1/32")}, // duplicate of a's loopback
			{p("0.0.0.0/0")},
			{p("10.9.0.2/24")}, // shares a's subnet
			nil,
		},
	}
	pids, table, conflicts := buildNetmap(in, false)
	joined := strings.Join(conflicts, "\n")
	for _, want := range []string{"prefix 172.16.0.1/32 claimed by PIDs pid:a, pid:b", "device c: PID \"default\" is reserved", "prefix 0.0.0.0/0 belongs to the default PID"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("conflicts %q lack %q", joined, want)
		}
	}
	names := map[string]pidInfo{}
	for _, pi := range pids {
		names[pi.Name] = pi
		if !validName(pi.Name) {
			t.Fatalf("invalid PID name %q", pi.Name)
		}
	}
	if len(names) != 6 { // a, b, c, two site PIDs, default
		t.Fatalf("PIDs %v", names)
	}
	if !slices.Equal(names["pid:a"].IPv4, []netip.Prefix{p("10.9.0.1/32")}) || len(names["pid:b"].IPv4) != 0 {
		t.Fatalf("a %v, b %v", names["pid:a"].IPv4, names["pid:b"].IPv4)
	}
	o, ok := table.lookup(netip.MustParseAddr("172.16.0.1"))
	if !ok || pids[o.pid].Name != DefaultPID {
		t.Fatalf("the duplicate address resolves to %v", o)
	}
	if nameFor("pid:", "site/1.d") == nameFor("pid:", "site/1_d") {
		t.Fatal("cleaned names collide")
	}
}

// TestEstimateShare: the newcomer's water level on one link.
func TestEstimateShare(t *testing.T) {
	for _, c := range []struct {
		capa  float64
		rates []float64
		want  float64
	}{
		{10, nil, 10},
		{10, []float64{5, 5}, 10.0 / 3}, // equal share
		{10, []float64{2, 8}, 4},        // the capped flow keeps 2
		{10, []float64{1, 1}, 8},        // headroom
		{10, []float64{10}, 5},
	} {
		if got := estimateShare(c.capa, c.rates); !near(got, c.want) {
			t.Fatalf("estimateShare(%v, %v) = %v, want %v", c.capa, c.rates, got, c.want)
		}
	}
}

// TestDeviceAddrs: addresses come from IPv4 and IPv6 subinterfaces of the intended
// configuration (module prefixes stripped) and the alto.prefixes label; malformed
// entries are reported, not fatal.
func TestDeviceAddrs(t *testing.T) {
	cfg := []byte(`{"openconfig-interfaces:interfaces":{"interface":[{"name":"eth1","subinterfaces":{"subinterface":[
	  {"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"ip":"10.0.0.1","prefix-length":31}},
	                                             {"ip":"bogus","config":{"prefix-length":24}}]}},
	             "ipv6":{"addresses":{"address":[{"ip":"2001:db8::1","config":{"prefix-length":"64"}}]}}}]}}]}}`)
	d := network.Device{ID: "x", Labels: map[string]string{LabelPrefixes: "192.0.2.0/24, nonsense"}}
	got, problems := deviceAddrs(d, cfg)
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/31"), netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("192.0.2.0/24")}
	if !slices.Equal(got, want) || len(problems) != 2 {
		t.Fatalf("addrs %v problems %v", got, problems)
	}
}

// TestAppendNumber: the fast decimal path agrees with strconv's shortest form.
func TestAppendNumber(t *testing.T) {
	for _, v := range []float64{0, 1, -3, 2.1, 0.1, 1.000001, 123456.5, -0.25, 1e-7, 3.14159265, 1e20, 4e6, 999999999.999999} {
		got := string(appendNumber(nil, v))
		back, err := strconv.ParseFloat(got, 64)
		if err != nil || back != v {
			t.Fatalf("appendNumber(%v) = %q", v, got)
		}
	}
	if string(appendNumber(nil, math.NaN())) != "null" {
		t.Fatal("NaN is not null")
	}
}

// TestEmptyTwin: an empty live twin gives the default PID alone and empty maps, not
// errors.
func TestEmptyTwin(t *testing.T) {
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := New(Options{Twins: m})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, ct, body string }{
		{"GET", "/alto/networkmap", "", ""},
		{"GET", "/alto/costmap/num-routingcost", "", ""},
		{"GET", "/alto/bsg", "", ""},
		{"GET", "/alto/propmap", "", ""},
		{"POST", "/alto/costmap/pv", MediaCostMapFilter, `{"cost-type":{"cost-mode":"array","cost-metric":"ane-path"}}`},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}
}

// TestCostsMatchShortest: on a 150-router WAN (forests built by several workers) every
// PID-to-PID routing cost and hop count is that of models/routing's Dijkstra.
func TestCostsMatchShortest(t *testing.T) {
	nw, err := network.Generate("wan:n=150", 3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Live().Update(t.Context(), func(tx *twin.Txn) error { _, err := tx.Apply(nw); return err }); err != nil {
		t.Fatal(err)
	}
	sn, err := buildSnapshot(m.Live(), false)
	if err != nil {
		t.Fatal(err)
	}
	g, err := routing.NewGraph(nw)
	if err != nil {
		t.Fatal(err)
	}
	P := sn.P()
	for a := 0; a < P; a += 50 {
		for b := 0; b < P; b++ {
			pa, pb := sn.pids[a], sn.pids[b]
			if a == b || len(pa.Devices) == 0 || len(pb.Devices) == 0 {
				continue
			}
			p, err := g.Shortest(sn.devices[pa.Devices[0]].ID, sn.devices[pb.Devices[0]].ID, routing.Options{Metric: routing.Latency})
			if err != nil {
				t.Fatal(err)
			}
			if got := sn.cost[MetricRoutingCost][a*P+b]; math.Abs(got-p.Weight) > 1e-5 {
				t.Fatalf("%s→%s: routingcost %v, Dijkstra %v", pa.Name, pb.Name, got, p.Weight)
			}
			if got := sn.cost[MetricHopCount][a*P+b]; int(got) != len(sn.pathANEs(a, b, nil)) {
				t.Fatalf("%s→%s: hopcount %v, path %v", pa.Name, pb.Name, got, sn.pathANEs(a, b, nil))
			}
		}
	}
}

// TestMergePatch: the RFC 7396 diff the update streams send.
func TestMergePatch(t *testing.T) {
	for _, c := range []struct {
		a, b, want string
		ok         bool
	}{
		{`{"m":{"x":1,"y":2},"k":"v"}`, `{"m":{"x":1,"y":3,"z":[1,null]},"k":"v"}`, `{"m":{"y":3,"z":[1,null]}}`, true},
		{`{"m":{"x":1},"gone":true}`, `{"m":{}}`, `{"gone":null,"m":{"x":null}}`, true},
		{`{"a":1}`, `{"a":1}`, ``, false},          // nothing changed
		{`{"a":1}`, `{"a":null}`, ``, false},       // a null member cannot be patched in
		{`{"a":1}`, `{"a":{"b":null}}`, ``, false}, // nor a nested one
		{`[1]`, `[2]`, ``, false},                  // not objects
	} {
		got, ok := mergePatch([]byte(c.a), []byte(c.b))
		if ok != c.ok || string(got) != c.want {
			t.Fatalf("mergePatch(%s, %s) = %s %v, want %s %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}
