package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twinflow/twinflow/models/network"
)

func TestDecodeYAMLExample(t *testing.T) {
	b, err := os.ReadFile("testdata/slice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Kind, KindIntent; got != want {
		t.Errorf("kind: got %v; want %v", got, want)
	}
	if got, want := len(c.DeviceOps["r1"]), 3; got != want {
		t.Fatalf("r1 ops: got %d; want %d", got, want)
	}
	var v map[string]any
	if err := json.Unmarshal(c.DeviceOps["r1"][0].Value, &v); err != nil {
		t.Fatal(err)
	}
	if v["mtu"] != float64(9000) || v["description"] != "to-r2" {
		t.Errorf("r1 op0 value: %v", v)
	}
	if got := c.DeviceOps["r1"][2].Value; !strings.Contains(string(got), `"65000:42"`) {
		t.Errorf("rd value: %s", got)
	}
	if c.Twin.AddFlows[0].SLO == nil || c.Twin.AddFlows[0].SLO.Isolation != IsolationHard || c.Twin.AddFlows[0].Src != "r1" {
		t.Errorf("flow: %+v", c.Twin.AddFlows[0])
	}
	if got, want := strings.Join(c.Devices(), ","), "r1,r3"; got != want {
		t.Errorf("devices: got %s; want %s", got, want)
	}
	// JSON round trip through Decode gives the same change.
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Decode(j)
	if err != nil {
		t.Fatalf("decode JSON round trip: %v\n%s", err, j)
	}
	j2, _ := json.Marshal(c2)
	if string(j) != string(j2) {
		t.Errorf("round trip differs:\n%s\n%s", j, j2)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty document"},
		{"unknown-field-yaml", "kind: raw-config\nbogus: 1\n", "bogus"},
		{"unknown-field-json", `{"kind":"raw-config","bogus":1}`, "bogus"},
		{"unknown-op-field", "kind: raw-config\ndevice_ops:\n  r1:\n    - op: update\n      path: /a\n      valu: 1\n", "valu"},
		{"missing-kind", "device_ops:\n  r1:\n    - {op: delete, path: /a}\n", "kind: missing"},
		{"bad-kind", "kind: magic\ndevice_ops:\n  r1:\n    - {op: delete, path: /a}\n", `unknown kind "magic"`},
		{"bad-level", "kind: raw-config\nlevel: L9\ndevice_ops:\n  r1:\n    - {op: delete, path: /a}\n", `unknown level "L9"`},
		{"nothing", "kind: raw-config\n", "does nothing"},
		{"bad-op", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: merge, path: /a}\n", "device_ops[r1][0].op"},
		{"bad-path", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: a/b}\n", "device_ops[r1][0].path"},
		{"unterminated-key", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: \"/a[name=x\"}\n", "unterminated"},
		{"missing-value", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: update, path: /a}\n", "device_ops[r1][0].value: missing"},
		{"delete-with-value", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: /a, value: 3}\n", "delete takes no value"},
		// L0 path rules (issue #13): NUL, dot elements, names that are no YANG identifier
		{"nul-path", "{\"kind\":\"raw-config\",\"device_ops\":{\"r1\":[{\"op\":\"update\",\"path\":\"/interfaces/interface[name=eth1]/config/mtu\\u0000\",\"value\":9000}]}}", "device_ops[r1][0].path"},
		{"dotdot-path", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: /interfaces/../system}\n", "device_ops[r1][0].path"},
		{"dot-path", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: /interfaces/./interface}\n", "device_ops[r1][0].path"},
		{"non-identifier", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: \"/interfaces/int;erface\"}\n", "not a YANG identifier"},
		// whole top-level trees only with allow_destructive (issue #13: replace "/" with
		// {} validated and wiped the device)
		{"replace-root", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: replace, path: /, value: {}}\n", "device_ops[r1][0].path: replacing the whole configuration needs allow_destructive"},
		{"replace-top", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: replace, path: /interfaces, value: {}}\n", "replacing the whole top-level tree \"interfaces\" needs allow_destructive"},
		{"delete-top", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: /openconfig-system:system}\n", "deleting the whole top-level tree \"system\" needs allow_destructive"},
		// text bounds (seed 004 §11)
		{"nul-in-value", `{"kind":"raw-config","device_ops":{"r1":[{"op":"update","path":"/system/config","value":{"hostname":"a\u0000b"}}]}}`, "device_ops[r1][0].value: hostname: control character"},
		{"nul-in-comment", `{"kind":"raw-config","comment":"x\u0000","device_ops":{"r1":[{"op":"delete","path":"/system/config/hostname"}]}}`, "comment: control character"},
		{"bad-device-id", `{"kind":"raw-config","device_ops":{"r\u00001":[{"op":"delete","path":"/system/config/hostname"}]}}`, "device_ops: invalid device ID"},
		{"bad-flow-id", "kind: intent\ntwin:\n  remove_flows: [\"f\\x01\"]\n", "twin.remove_flows[0]"},
		{"delete-root", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: /}\n", "whole configuration"},
		{"raw-with-twin", "kind: raw-config\ntwin:\n  remove_flows: [f]\n", "raw-config change carries no twin"},
		{"flow-no-id", "kind: intent\ntwin:\n  add_flows:\n    - {src: a, dst: b}\n", "twin.add_flows[0].id: missing"},
		{"flow-dup", "kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: b}\n    - {id: f, src: a, dst: b}\n", `twin.add_flows[1].id: duplicate`},
		{"flow-loop", "kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: a}\n", "twin.add_flows[0].dst"},
		{"neg-rate", "kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: b, slo: {min_rate_gbps: -1}}\n", "min_rate_gbps"},
		{"hard-no-rate", "kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: b, slo: {isolation: hard}}\n", "hard isolation needs"},
		{"bad-isolation", "kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: b, slo: {isolation: medium}}\n", `unknown isolation "medium"`},
		{"remove-twice", "kind: intent\ntwin:\n  remove_flows: [f, f]\n", "flow \"f\" is removed twice"},
		{"neg-capacity", "kind: intent\ntwin:\n  capacities:\n    - {link: l, capacity_gbps: -3}\n", "twin.capacities[0].capacity_gbps"},
		// numeric bounds (seed 004 §11; issue #13: a capacity of 1e308 reached the models)
		{"huge-capacity", "kind: intent\ntwin:\n  capacities:\n    - {link: l, capacity_gbps: 1e308}\n", "twin.capacities[0].capacity_gbps: must be from 1e-06 to 1e+06 Gb/s"},
		{"inf-capacity", "kind: intent\ntwin:\n  capacities:\n    - {link: l, capacity_gbps: .inf}\n", "twin.capacities[0].capacity_gbps: must be a finite number"},
		{"nan-demand", "kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: b, demand_gbps: .nan}\n", "twin.add_flows[0].demand_gbps"},
		{"huge-demand", `{"kind":"intent","twin":{"add_flows":[{"id":"f","src":"a","dst":"b","demand_gbps":1e308}]}}`, "twin.add_flows[0].demand_gbps"},
		{"huge-slo-rate", `{"kind":"intent","twin":{"add_flows":[{"id":"f","src":"a","dst":"b","slo":{"min_rate_gbps":1e308}}]}}`, "twin.add_flows[0].slo.min_rate_gbps"},
		{"huge-slo-latency", `{"kind":"intent","twin":{"add_flows":[{"id":"f","src":"a","dst":"b","slo":{"max_latency_ms":1e308}}]}}`, "twin.add_flows[0].slo.max_latency_ms: must be at most"},
		{"non-string-key", "kind: raw-config\ndevice_ops:\n  r1:\n    - op: update\n      path: /a\n      value: {1: x}\n", "non-string map key"},
		{"two-docs", "kind: raw-config\n---\nkind: intent\n", "more than one"},
		{"json-trailing", `{"kind":"raw-config"} {}`, "trailing"},
		{"intent-no-type", "kind: intent\nintents:\n  - name: x\ntwin:\n  remove_flows: [f]\n", "intents[0].type: missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc))
			if err == nil {
				t.Fatalf("no error for %q", tc.doc)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestAllowDestructive: with the explicit flag a whole top-level tree may be replaced
// or deleted (drift reconcile and adopt do so); deleting everything stays refused.
// TestDecodeYAMLErrorsNameFields: YAML errors named internal Go types
// ("change.yamlChangeSet", "float64") and could cite the wrong line (issue #12 item 2);
// they name the user's field and its line.
func TestDecodeYAMLErrorsNameFields(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"kind: raw-config\nlabel: x\n\nbogus: 1\n", "line 4: bogus: unknown field (known: allow_destructive, author,"},
		{"kind: raw-config\ndevice_ops:\n  r1:\n    - op: update\n      path: /a\n      valu: 1\n", "line 6: device_ops[r1][0].valu: unknown field (known: op, path, value)"},
		{"kind: raw-config\nlevel: [1]\n", "line 2: level: must be a string, got a list"},
		{"kind: intent\ntwin:\n  capacities:\n    - link: l\n      capacity_gbps: fast\n", `line 5: twin.capacities[0].capacity_gbps: must be a number, got "fast"`},
		{"kind: intent\ntwin:\n  add_flows:\n    - id: f\n      src: a\n      dst: b\n      demand_gbps: x\n", "line 7: twin.add_flows[0].demand_gbps: must be a number"},
		{"kind: intent\nintents:\n  - type: slice\n    spec: {a: 1}\n    extra: 2\n", "line 5: intents[0].extra: unknown field"},
		// JSON too: the field, not "Go struct field ChangeSet... of type float64"
		{`{"kind":"intent","twin":{"capacities":[{"link":"l","capacity_gbps":"fast"}]}}`, "twin.capacities.capacity_gbps: must be a number, got JSON string"},
		{`{"kind":"intent","level":3}`, "level: must be a string, got JSON number"},
	} {
		_, err := Decode([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v; want %q", c.doc, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "change.") && !strings.Contains(err.Error(), "change: invalid") || strings.Contains(err.Error(), "float64")) {
			t.Errorf("error names a Go type: %v", err)
		}
	}
}

func TestAllowDestructive(t *testing.T) {
	cs, err := Decode([]byte("kind: raw-config\nallow_destructive: true\ndevice_ops:\n  r1:\n    - {op: replace, path: /interfaces, value: {}}\n    - {op: delete, path: /system}\n"))
	if err != nil || !cs.AllowDestructive {
		t.Fatalf("allow_destructive: %v", err)
	}
	if _, err := Decode([]byte("kind: raw-config\nallow_destructive: true\ndevice_ops:\n  r1:\n    - {op: delete, path: /}\n")); err == nil {
		t.Fatal("deleting the whole configuration was accepted")
	}
}

func TestLevelIncludes(t *testing.T) {
	if !L2.Includes(L1) || !L1.Includes(L0) || L0.Includes(L1) || !L1.Includes(L1) {
		t.Error("level ordering wrong")
	}
}

func FuzzDecode(f *testing.F) {
	b, err := os.ReadFile("testdata/slice.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"kind":"raw-config","device_ops":{"r1":[{"op":"update","path":"/interfaces/interface[name=e1]/config/mtu","value":1500}]}}`))
	f.Add([]byte("kind: raw-config\ndevice_ops:\n  r1:\n    - {op: delete, path: \"/a[k=v\\\\]]/b\"}\n"))
	f.Add([]byte("kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: a, dst: b, slo: {min_rate_gbps: .nan}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// A decoded change re-validates and round-trips through JSON.
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded change does not validate: %v", err)
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := Decode(j); err != nil {
			t.Fatalf("round trip: %v\n%s", err, j)
		}
		// Every operation applies or fails cleanly on an empty tree.
		for _, dev := range c.Devices() {
			_ = ApplyOps(Tree{}, c.DeviceOps[dev])
		}
		// Accepted numbers are within the models' bounds (seed 004 §11), and accepted text
		// stores anywhere (no NUL, valid UTF-8: the JSON carries no \u0000).
		for _, fl := range c.Twin.AddFlows {
			if fl.DemandGbps != nil && network.CheckRate(*fl.DemandGbps) != "" {
				t.Fatalf("demand %v accepted", *fl.DemandGbps)
			}
			if fl.SLO != nil && (fl.SLO.MinRateGbps != 0 && network.CheckRate(fl.SLO.MinRateGbps) != "" || network.CheckLatency(fl.SLO.MaxLatencyMs) != "") {
				t.Fatalf("SLO %+v accepted", *fl.SLO)
			}
		}
		for _, cc := range c.Twin.Capacities {
			if network.CheckRate(cc.CapacityGbps) != "" {
				t.Fatalf("capacity %v accepted", cc.CapacityGbps)
			}
		}
		if bytes.Contains(j, []byte(`\u0000`)) || !utf8.Valid(j) {
			t.Fatalf("accepted change encodes NUL or invalid UTF-8: %s", j)
		}
		// L0 runs on anything Decode accepts (no panic).
		res := Static(c, StaticInput{Network: testNet()})
		if len(res.Checks) == 0 {
			t.Fatal("L0 produced no checks")
		}
	})
}

// TestCheckJSONTextShortcut: the plain-ASCII shortcut of checkJSONText answers as
// decoding every string does, on random documents built from JSON syntax, escapes,
// control characters, invalid UTF-8 and non-ASCII text; and it is taken for plain
// documents and not for others.
func TestCheckJSONTextShortcut(t *testing.T) {
	parts := []string{`{`, `}`, `[`, `]`, `"`, `:`, `,`, `a`, `1`, ` `, "\n", "\t", `\"`, `\\`, `\u0001`, `\n`, `\u00e9`,
		"\x01", "\x7f", "\xff", "é", "\u0085", `"x"`, `{"k":"v"}`, `null`}
	seed := uint64(15)
	next := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	var plain, other int
	for range 20000 {
		var b strings.Builder
		for range 1 + next(12) {
			b.WriteString(parts[next(len(parts))])
		}
		doc := json.RawMessage(b.String())
		if got, want := checkJSONText(doc), checkJSONTokens(doc); got != want {
			t.Fatalf("%q: checkJSONText %q, decoding %q", doc, got, want)
		}
		if plainJSON(doc) {
			plain++
		} else {
			other++
		}
	}
	if plain < 1000 || other < 1000 {
		t.Fatalf("documents: %d plain, %d not: the generator does not cover both", plain, other)
	}
	for doc, want := range map[string]bool{`{"a":[1,"b c"]}`: true, `{"a":"\u0001"}`: false, "{\"a\":\"\x01\"}": false, `{"a":"é"}`: false} {
		if plainJSON([]byte(doc)) != want {
			t.Errorf("plainJSON(%q) = %v, want %v", doc, !want, want)
		}
	}
	if msg := checkJSONText(json.RawMessage(`{"name":"a\u0001"}`)); !strings.Contains(msg, "control character") {
		t.Errorf("an escaped control character passes: %q", msg)
	}
}
