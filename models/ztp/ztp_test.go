package ztp_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/ztp"
)

const leafRole = `name: leaf
description: leaf router
match:
  name_prefix: leaf-
template: |
  - op: update
    path: /interfaces/interface[name={{ index .Ports 0 }}]/config/description
    value: {{ json (printf "uplink of %s (%s)" .Name .Role) }}
  - op: update
    path: /interfaces/interface[name={{ index .Ports 0 }}]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip={{ ip4 "10.20.0.0/24" .Index }}]/config/prefix-length
    value: 24
`

// REQ-AUTO-01: a role's template renders a device's day-0 configuration.
func TestRender(t *testing.T) {
	r, err := ztp.ParseRole([]byte(leafRole))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := ztp.ParseRegistration([]byte(`{"name":"leaf-7","address":"127.0.0.1:9339","ports":["eth1","eth2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := r.Render(ztp.NewDevice(reg, r.Name, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Op != change.OpUpdate || string(ops[0].Value) != `"uplink of leaf-7 (leaf)"` ||
		!strings.Contains(ops[1].Path, "address[ip=10.20.0.3]") || string(ops[1].Value) != "24" {
		t.Fatalf("ops %+v", ops)
	}
	if ztp.Pick([]*ztp.Role{r}, "leaf-7") != r || ztp.Pick([]*ztp.Role{r}, "spine-1") != nil {
		t.Fatal("pick")
	}
}

func TestRenderErrors(t *testing.T) {
	dev := ztp.Device{Name: "leaf-1", Ports: []string{"eth1"}, Index: 300}
	for name, tmpl := range map[string]string{
		"pool exhausted": `- op: update
  path: /system/config/hostname
  value: {{ json (ip4 "10.0.0.0/24" .Index) }}`,
		"unknown field": `{{ .Serial }}`,
		"bad op": `- op: merge
  path: /system/config/hostname
  value: x`,
		"not a list": `hello`,
		"empty":      `{{ if false }}x{{ end }}`,
	} {
		r, err := ztp.ParseRole([]byte("name: r\ntemplate: " + quote(tmpl)))
		if err != nil {
			t.Fatalf("%s: parse: %v", name, err)
		}
		if _, err := r.Render(dev); !errors.Is(err, ztp.ErrTemplate) {
			t.Errorf("%s: %v, want ErrTemplate", name, err)
		}
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `"`, `\"`), "\n", `\n`) + `"`
}

func TestRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"no name":      `template: x`,
		"bad name":     "name: ../x\ntemplate: x",
		"no template":  `name: r`,
		"parse error":  "name: r\ntemplate: '{{ .Name '",
		"unknown func": "name: r\ntemplate: '{{ exec .Name }}'",
		"unknown key":  "name: r\ntemplate: x\nextra: 1",
		"bad prefix":   "name: r\ntemplate: x\nmatch:\n  name_prefix: 'a b'",
	} {
		if _, err := ztp.ParseRole([]byte(doc)); !errors.Is(err, ztp.ErrInvalid) {
			t.Errorf("role %s: %v, want ErrInvalid", name, err)
		}
	}
	for name, doc := range map[string]string{
		"empty":         `{}`,
		"bad name":      `{"name":"a b","address":"127.0.0.1:1","ports":["e1"]}`,
		"no port":       `{"name":"a","address":"127.0.0.1","ports":["e1"]}`,
		"port 0":        `{"name":"a","address":"127.0.0.1:0","ports":["e1"]}`,
		"bad host":      `{"name":"a","address":"a_b:1","ports":["e1"]}`,
		"no ports":      `{"name":"a","address":"127.0.0.1:1","ports":[]}`,
		"dup port":      `{"name":"a","address":"127.0.0.1:1","ports":["e1","e1"]}`,
		"bad port":      `{"name":"a","address":"127.0.0.1:1","ports":["e 1"]}`,
		"unknown field": `{"name":"a","address":"127.0.0.1:1","ports":["e1"],"x":1}`,
		"trailing":      `{"name":"a","address":"127.0.0.1:1","ports":["e1"]}{}`,
		"huge":          `{"name":"` + strings.Repeat("a", 20000) + `"}`,
	} {
		if _, err := ztp.ParseRegistration([]byte(doc)); !errors.Is(err, ztp.ErrInvalid) {
			t.Errorf("registration %s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := ztp.ParseRegistration([]byte(`{"name":"r1","address":"node-1.lab:57400","ports":["eth1"]}`)); err != nil {
		t.Errorf("DNS address: %v", err)
	}
}

func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"name":"leaf-1","address":"127.0.0.1:9339","ports":["eth1","eth2"]}`))
	f.Add([]byte(`{"name":"x","address":"[::1]:1","ports":["a"],"role":"leaf"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ztp.ParseRegistration(data)
		if err != nil {
			if !errors.Is(err, ztp.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if r.Check() != nil || len(r.Name) > ztp.MaxNameLen || len(r.Ports) > ztp.MaxPorts {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// FuzzParseRole parses role documents and renders accepted ones for a sample device:
// rendering never panics and fails only with ErrTemplate.
func FuzzParseRole(f *testing.F) {
	f.Add([]byte(leafRole))
	f.Add([]byte("name: r\ntemplate: '{{ range .Ports }}- op: delete\n  path: /interfaces/interface[name={{ . }}]\n{{ end }}'"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ztp.ParseRole(data)
		if err != nil {
			if !errors.Is(err, ztp.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		ops, err := r.Render(ztp.Device{Name: "leaf-1", Address: "127.0.0.1:1", Host: "127.0.0.1", Ports: []string{"eth1", "eth2"}, Index: 1, Role: r.Name})
		if err != nil {
			if !errors.Is(err, ztp.ErrTemplate) {
				t.Fatalf("render error %v does not wrap ErrTemplate", err)
			}
			return
		}
		if len(ops) == 0 || len(ops) > ztp.MaxOps {
			t.Fatalf("%d ops", len(ops))
		}
	})
}
