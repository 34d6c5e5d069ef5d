package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin/emulation/clab"
)

// runTopology executes the CLI in-process and returns stdout and the exit code main
// would use.
func runTopology(t *testing.T, stdin string, args ...string) (string, int, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		return out.String(), exitCode(err), err
	}
	return out.String(), 0, nil
}

func TestTopologyGenerate(t *testing.T) {
	tests := []struct {
		args    []string
		devices int
		links   int
	}{
		{[]string{"fat-tree"}, 36, 48},
		{[]string{"fat-tree", "--k", "6"}, 45 + 54, 162},
		{[]string{"leaf-spine", "--leaves", "3", "--spines", "2", "--hosts", "1"}, 8, 9},
		{[]string{"ring"}, 8, 8},
		{[]string{"ring", "--n", "5"}, 5, 5},
		{[]string{"wan", "--n", "20", "--seed", "3", "--beta", "0"}, 20, 19},
		{[]string{"alto3"}, 12, 11},
		{[]string{"flow-tree"}, 6, 5},
		{[]string{"flow-tree", "--n", "9", "--flows", "4", "--seed", "102"}, 9, 8},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, code, err := runTopology(t, "", append([]string{"topology", "generate"}, tc.args...)...)
			if err != nil {
				t.Fatalf("exit %d: %v", code, err)
			}
			n, err := network.DecodeJSON(strings.NewReader(out))
			if err != nil {
				t.Fatalf("output is not a valid network: %v", err)
			}
			if len(n.Devices) != tc.devices || len(n.Links) != tc.links {
				t.Errorf("%d devices, %d links; want %d, %d", len(n.Devices), len(n.Links), tc.devices, tc.links)
			}
		})
	}
}

func TestTopologyGenerateFormatsAndFile(t *testing.T) {
	dir := t.TempDir()
	want, err := network.WAN(30, 9, network.DefaultWaxmanAlpha, network.DefaultWaxmanBetaFor(30))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"json", "yaml", "gml", "clab"} {
		file := filepath.Join(dir, "wan."+f)
		out, code, err := runTopology(t, "", "topology", "generate", "wan", "--n", "30", "--seed", "9", "--format", f, "-f", file)
		if err != nil || out != "" {
			t.Fatalf("%s: exit %d, %v, stdout %q", f, code, err, out)
		}
		format, _ := network.ParseFormat(f)
		fh, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := clab.DecodeFormat(fh, format)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == "clab" {
			want := want.Clone()
			want.Topologies[0].Name = want.Topologies[0].ID
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s file differs from WAN(30, 9):\n%s", f, diff)
			}
			continue
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s file differs from WAN(30, 9):\n%s", f, diff)
		}
	}
	out, _, err := runTopology(t, "", "topology", "generate", "ring", "--n", "3", "--format", "clab", "--clab-image", "img:1", "--clab-mgmt-network", "mg", "--lab-name", "lab3")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"name: lab3", "image: img:1", "network: mg"} {
		if !strings.Contains(out, s) {
			t.Errorf("clab output lacks %q:\n%s", s, out)
		}
	}
}

func TestTopologyUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"topology", "generate"}, "want exactly one kind"},
		{[]string{"topology", "generate", "mesh"}, `unknown kind "mesh"`},
		{[]string{"topology", "generate", "fat-tree", "--k", "3"}, "k must be even and >= 2, got 3"},
		{[]string{"topology", "generate", "ring", "--k", "4"}, "--k does not apply to ring"},
		{[]string{"topology", "generate", "fat-tree", "--seed", "4"}, "--seed does not apply to fat-tree"},
		{[]string{"topology", "generate", "wan", "--beta", "2"}, "beta must be in [0, 1], got 2"},
		{[]string{"topology", "generate", "flow-tree", "--flows", "0"}, "flows must be in [1, 256], got 0"},
		{[]string{"topology", "generate", "wan", "--flows", "3"}, "--flows does not apply to wan"},
		{[]string{"topology", "generate", "ring", "--format", "xml"}, `--format: network: unknown format "xml"`},
		{[]string{"topology", "import"}, "-f/--file is required"},
		{[]string{"topology", "import", "-f", "x", "--from", "csv"}, `--from: network: unknown format "csv"`},
		{[]string{"topology", "import", "-f", "-", "extra"}, "unknown command"},
		{[]string{"topology", "export", "-f", "x"}, "--to is required"},
		{[]string{"topology", "export", "-f", "x", "--to", "dot"}, `unknown format "dot"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[1:], "_"), func(t *testing.T) {
			_, code, err := runTopology(t, "", tc.args...)
			if err == nil {
				t.Fatal("succeeded; want a usage error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want it to contain %q", err, tc.want)
			}
			if code != 2 && !strings.Contains(tc.want, "unknown command") {
				t.Errorf("exit code %d; want 2", code)
			}
		})
	}
}

func TestTopologyImport(t *testing.T) {
	dir := t.TempDir()
	alto, _ := network.ALTOThreeDomain()
	var buf bytes.Buffer
	if err := network.Encode(&buf, alto, network.FormatGML); err != nil {
		t.Fatal(err)
	}
	gml := filepath.Join(dir, "alto.gml")
	if err := os.WriteFile(gml, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runTopology(t, "", "topology", "import", "-f", gml)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"FORMAT", "gml", "DEVICES     12 (host=5, packet-router=7)", "DOMAINS     AS1, AS2, AS3", "LINKS       11 (110 Gb/s in total)", "VALID       true"} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	out, _, err = runTopology(t, "", "topology", "import", "-f", gml, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var s topologySummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if s.Devices != 12 || s.Links != 11 || s.DeviceTypes["host"] != 5 || s.Format != network.FormatGML {
		t.Errorf("summary %+v", s)
	}
	// --print from standard input with an explicit format: the normalised network.
	out, _, err = runTopology(t, buf.String(), "topology", "import", "-f", "-", "--from", "gml", "--print", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := network.DecodeYAML(strings.NewReader(out))
	if err != nil {
		t.Fatalf("--print output: %v", err)
	}
	if diff := cmp.Diff(alto, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("normalised network differs:\n%s", diff)
	}
	// Standard input, format detected from the content.
	var js bytes.Buffer
	if err := network.Encode(&js, alto, network.FormatJSON); err != nil {
		t.Fatal(err)
	}
	out, _, err = runTopology(t, js.String(), "topology", "import", "-f", "-", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "format: json") || !strings.Contains(out, "devices: 12") {
		t.Errorf("auto-detected summary:\n%s", out)
	}
}

func TestTopologyImportBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		file string
		want []string
	}{
		{write("bad.json", `{"devices": [{"id": "a", "type": "toaster"}, {"id": "a b", "type": "host"}]}`),
			[]string{"bad.json (json): 2 problems:\n  devices[a].type: unknown device type \"toaster\"", "\n  devices[1].id: invalid character ' '"}},
		{write("unknown.yaml", "devices:\n  - id: a\n    kind: host\n"), []string{"unknown.yaml (yaml)", "line 3: devices[0].kind: unknown field"}},
		{write("lab.clab.yml", "name: x\ntopology:\n  nodes: {a: {}}\n  links:\n    - endpoints: [\"a:e1\", \"z:e1\"]\n"), []string{"(clab)", `topology.links[0].endpoints[1]: malformed document: unknown node "z"`}},
		{write("net.gml", "graph [ node [ id 0 ] edge [ source 0 target 1 ] ]"), []string{"(gml)", "target: unknown node id 1"}},
		{filepath.Join(dir, "missing.json"), []string{"no such file"}},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			for _, sub := range []string{"import", "export"} {
				args := []string{"topology", sub, "-f", tc.file}
				if sub == "export" {
					args = append(args, "--to", "json")
				}
				out, code, err := runTopology(t, "", args...)
				if err == nil {
					t.Fatalf("%s succeeded: %s", sub, out)
				}
				if code != 1 {
					t.Errorf("%s exit code %d; want 1", sub, code)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error %q; want it to contain %q", sub, err, w)
					}
				}
				if out != "" {
					t.Errorf("%s wrote output on error: %q", sub, out)
				}
			}
		})
	}
}

func TestTopologyExport(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "ls.yaml")
	if _, _, err := runTopology(t, "", "topology", "generate", "leaf-spine", "--format", "yaml", "-f", in); err != nil {
		t.Fatal(err)
	}
	want, _ := network.LeafSpine(4, 2, 2)
	for _, to := range []string{"clab", "gml", "json", "yaml"} {
		out := filepath.Join(dir, "out."+to)
		if _, _, err := runTopology(t, "", "topology", "export", "-f", in, "--to", to, "--out", out); err != nil {
			t.Fatalf("export --to %s: %v", to, err)
		}
		// Read it back through import, auto-detecting the format.
		stdout, _, err := runTopology(t, "", "topology", "import", "-f", out, "--print", "-o", "json")
		if err != nil {
			t.Fatalf("re-import of %s: %v", to, err)
		}
		got, err := network.DecodeJSON(strings.NewReader(stdout))
		if err != nil {
			t.Fatal(err)
		}
		w := want.Clone()
		if to == "clab" {
			w.Topologies[0].Name = w.Topologies[0].ID
		}
		if diff := cmp.Diff(w, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("export --to %s and back differs:\n%s", to, diff)
		}
	}
	// Standard output when --out is absent.
	stdout, _, err := runTopology(t, "", "topology", "export", "-f", in, "--to", "gml")
	if err != nil || !strings.HasPrefix(stdout, "graph [") {
		t.Errorf("export to stdout: %v, %q", err, stdout[:min(len(stdout), 40)])
	}
}
