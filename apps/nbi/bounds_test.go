package nbi_test

import (
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
)

// TestNumericBounds: a capacity of 1e308 was accepted; analysis then encoded +Inf and
// answered 500, and through the pipeline the proposal was stored "validated" without a
// report (fuzzer finding, issue #13 item 7; seed 004 §11). Out-of-bound numbers are now
// refused with 422 naming the field, and nothing is stored.
func TestNumericBounds(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	attachPipeline(t, e)
	before := e.state()
	link := `{"id":"leaf-0--h-0-0","endpoints":[{"device":"leaf-0","endpoint":"eth3"},{"device":"h-0-0","endpoint":"eth1"}],"capacity_gbps":%s}`
	for _, c := range []struct{ name, method, path, body, field string }{
		{"link capacity", "PUT", "/api/v1/twins/live/links/leaf-0--h-0-0", strings.Replace(link, "%s", "1e308", 1), "capacity_gbps"},
		{"link capacity tiny", "PUT", "/api/v1/twins/live/links/leaf-0--h-0-0", strings.Replace(link, "%s", "1e-300", 1), "capacity_gbps"},
		{"link latency", "PUT", "/api/v1/twins/live/links/leaf-0--h-0-0", strings.Replace(link, "%s", `25,"latency_ms":1e300`, 1), "latency_ms"},
		{"flow demand", "PUT", "/api/v1/twins/live/flows/f9", `{"id":"f9","src":"h-0-0","dst":"h-1-0","demand_gbps":1e308}`, "demand_gbps"},
		{"device name NUL", "PUT", "/api/v1/twins/live/devices/h-0-0", `{"id":"h-0-0","type":"host","name":"a\u0000b","endpoints":[{"id":"eth1"}]}`, "name"},
		{"analysis demand", "POST", "/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"src":"h-0-0","dst":"h-1-0","gbps":1e308}]}`, "demands[0].gbps"},
		{"gradient demand", "POST", "/api/v1/twins/live/analysis/gradient", `{"link":"leaf-0--h-0-0","demands":[{"src":"h-0-0","dst":"h-1-0","gbps":1e308}]}`, "demands[0].gbps"},
		{"change capacity", "POST", "/api/v1/changes", `{"kind":"intent","twin":{"capacities":[{"link":"leaf-0--h-0-0","capacity_gbps":1e308}]}}`, ""},
		{"change demand", "POST", "/api/v1/changes", `{"kind":"intent","twin":{"add_flows":[{"id":"f1","src":"h-0-0","dst":"h-1-0","demand_gbps":1e308}]}}`, ""},
		{"change slo", "POST", "/api/v1/changes", `{"kind":"intent","twin":{"add_flows":[{"id":"f1","src":"h-0-0","dst":"h-1-0","slo":{"min_rate_gbps":1e308}}]}}`, ""},
	} {
		r := e.do(c.method, c.path, c.body, nbi.ActorHeader, "bo")
		if r.status != 422 {
			t.Errorf("%s: %d %s; want 422", c.name, r.status, r.body)
			continue
		}
		if p := problem(t, r); !strings.HasSuffix(p.Field, c.field) && !strings.Contains(p.Detail, "1e+06") {
			t.Errorf("%s: problem names neither the field nor the bound: %+v", c.name, p)
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("refused input changed the twins:\n%s\n%s", before, after)
	}
	var list nbi.ChangeList
	e.json("GET", "/api/v1/changes", "", 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused changes were stored: %+v", list.Items)
	}
	// within the bounds the models answer, finite, and so does the pipeline
	e.json("PUT", "/api/v1/twins/live/links/leaf-0--h-0-0", strings.Replace(link, "%s", "1e6", 1), 200, nil)
	e.json("POST", "/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"src":"h-0-0","dst":"h-1-0","gbps":1e6},{"src":"h-0-0","dst":"h-1-0"}]}`, 200, nil)
	e.json("POST", "/api/v1/changes", `{"kind":"intent","twin":{"capacities":[{"link":"leaf-1--h-1-0","capacity_gbps":1e6}],"add_flows":[{"id":"f1","src":"h-0-0","dst":"h-1-0","slo":{"min_rate_gbps":1e6}}]}}`, 201, nil, nbi.ActorHeader, "bo")
}

// TestL0RefusesWhatTheDeviceRefuses: `replace "/"` with {} validated and wiped the
// device; an unknown leaf, an object for a string leaf and a NUL in a path passed L0
// and the device refused the commit (fuzzer findings, issue #13 item 7).
func TestL0RefusesWhatTheDeviceRefuses(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	attachPipeline(t, e)
	bo := []string{nbi.ActorHeader, "bo"}
	raw := func(op, path, value string) string {
		v := ""
		if value != "" {
			v = `,"value":` + value
		}
		return `{"kind":"raw-config","level":"L0","device_ops":{"leaf-0":[{"op":"` + op + `","path":"` + path + `"` + v + `}]}}`
	}
	for _, c := range []struct{ name, body, want string }{
		{"replace root", raw("replace", "/", "{}"), "allow_destructive"},
		{"delete top-level", raw("delete", "/interfaces", ""), "allow_destructive"},
		{"dot-dot", raw("delete", "/interfaces/../system", ""), "YANG identifier"},
		{"NUL", raw("update", `/interfaces/interface[name=eth1]/config/mtu\u0000`, "9000"), "control character"},
	} {
		r := e.do("POST", "/api/v1/changes", c.body, bo...)
		if p := problem(t, r); r.status != 422 || !strings.Contains(p.Detail, c.want) {
			t.Errorf("%s: %d %+v; want 422 naming %q", c.name, r.status, p, c.want)
		}
	}
	for _, c := range []struct{ name, body, want string }{
		{"unknown leaf", raw("update", "/interfaces/interface[name=eth1]/config/colour", `"red"`), "colour"},
		{"object for a string", raw("update", "/interfaces/interface[name=eth1]/config/description", `{"a":1}`), "description"},
	} {
		var ch struct {
			State  string `json:"state"`
			Report struct {
				Checks []struct{ Name, Status, Message string } `json:"checks"`
			} `json:"report"`
		}
		e.json("POST", "/api/v1/changes", c.body, 201, &ch, bo...)
		failed := false
		for _, k := range ch.Report.Checks {
			failed = failed || k.Name == "l0.schema" && k.Status == "fail" && strings.Contains(k.Message, c.want)
		}
		if ch.State != "rejected" || !failed {
			t.Errorf("%s: state %s, checks %+v; want rejected by l0.schema", c.name, ch.State, ch.Report.Checks)
		}
	}
	// with the explicit flag a whole tree may be replaced
	var ch struct{ State string }
	e.json("POST", "/api/v1/changes", strings.Replace(raw("replace", "/interfaces", `{"interface":[{"name":"eth1","config":{"name":"eth1","mtu":9000}}]}`), `"level"`, `"allow_destructive":true,"level"`, 1), 201, &ch, bo...)
	if ch.State != "validated" {
		t.Fatalf("explicit destructive change: %s", ch.State)
	}
}
