package dataset

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/twinflow/twinflow/models/network"
)

const testSpec = `
name: unit
seed: 7
samples: 23
routing: shortest
samples_per_scenario: 4
topologies:
  - generator: "wan:n=12"
  - generator: "fat-tree:k=4"
  - generator: "ring:n=6"
  - generator: "leaf-spine:leaves=3,spines=2,hosts=2"
traffic:
  models: [uniform, gravity, hotspot]
  flows: 40
  intensity_gbps: [1, 20]
failures:
  max: 2
labels:
  gradients: true
`

func mustSpec(t testing.TB, y string) *Spec {
	t.Helper()
	s, err := ParseSpec([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// treeHashes maps every regular file under dir to its sha256.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gen(t *testing.T, s *Spec, out string, o Options) Result {
	t.Helper()
	r, err := Generate(context.Background(), s, nil, out, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Seed 004 §9.2: same seed → byte-identical files; another seed → different files.
func TestDeterministic(t *testing.T) {
	s := mustSpec(t, testSpec)
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	gen(t, s, a, Options{Workers: 1})
	gen(t, s, b, Options{Workers: 3})
	ha, hb := treeHashes(t, a), treeHashes(t, b)
	if len(ha) < 6*3+2 {
		t.Fatalf("only %d files written", len(ha))
	}
	if !maps2Equal(ha, hb) {
		t.Fatalf("two runs with the same seed differ")
	}
	s2 := mustSpec(t, strings.Replace(testSpec, "seed: 7", "seed: 8", 1))
	gen(t, s2, c, Options{})
	hc := treeHashes(t, c)
	if ha["parquet/flows/part-000000.parquet"] == hc["parquet/flows/part-000000.parquet"] {
		t.Fatal("a different seed gave the same flows")
	}
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Seed 004 §9.2: N shards merged equal a single-machine run; resume skips complete
// scenarios and rewrites incomplete ones.
func TestShardMergeResume(t *testing.T) {
	s := mustSpec(t, testSpec)
	single := t.TempDir()
	gen(t, s, single, Options{})
	root := t.TempDir()
	var shards []string
	total := 0
	for i := range 3 {
		d := filepath.Join(root, "shard"+strconv.Itoa(i))
		r := gen(t, s, d, Options{Shard: Shard{Index: i, Count: 3}})
		total += r.Samples
		shards = append(shards, d)
	}
	if total != s.Samples {
		t.Fatalf("shards own %d samples, want %d", total, s.Samples)
	}
	merged := filepath.Join(root, "merged")
	if _, err := Merge(merged, shards[:2]); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("merge of 2 of 3 shards: err = %v, want missing scenarios", err)
	}
	merged = filepath.Join(root, "merged2")
	if _, err := Merge(merged, shards); err != nil {
		t.Fatal(err)
	}
	if !maps2Equal(treeHashes(t, single), treeHashes(t, merged)) {
		t.Fatal("merged shards differ from the single run")
	}

	// resume: delete one scenario's tarball and corrupt nothing else
	tb := filepath.Join(single, "routenet", tarballBase(s.Name, 2)+".tar.gz")
	if err := os.Remove(tb); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(single, "parquet", "flows", ".tmp-part-000002.parquet"), []byte("junk"), 0o644)
	r := gen(t, s, single, Options{})
	if r.Written != 1 || r.Skipped != s.Scenarios()-1 {
		t.Fatalf("resume wrote %d, skipped %d; want 1 and %d", r.Written, r.Skipped, s.Scenarios()-1)
	}
	if !maps2Equal(treeHashes(t, single), treeHashes(t, merged)) {
		t.Fatal("resumed run differs from a full run")
	}
	// another spec into the same directory is refused
	s2 := mustSpec(t, strings.Replace(testSpec, "seed: 7", "seed: 9", 1))
	if _, err := Generate(context.Background(), s2, nil, single, Options{}); err == nil {
		t.Fatal("generating another dataset into a used directory succeeded")
	}
}

func readTar(t *testing.T, path string) (first string, files map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files = map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = strings.TrimSuffix(h.Name, "/")
			if h.Typeflag != tar.TypeDir {
				t.Fatalf("first tar entry %q is not a directory", h.Name)
			}
			continue
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	return first, files
}

// pyFloat parses a field the way datanetAPI does (Python float()).
func pyFloat(t *testing.T, s string) float64 {
	t.Helper()
	if s == "nan" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("field %q is not a float: %v", s, err)
	}
	return v
}

// Seed 004 §9.2: the RouteNet layout reads back the way datanetAPI (master) parses it:
// graphs/*.gml, routings/<name>/Routing_src_<i>.txt followed port by port, and
// results_*_<first>_<last>.tar.gz with the per-iteration files.
func TestRouteNetReadBack(t *testing.T) {
	for _, r := range []string{"shortest", "ecmp"} {
		t.Run(r, func(t *testing.T) {
			routeNetReadBack(t, mustSpec(t, strings.Replace(testSpec, "routing: shortest", "routing: "+r, 1)))
		})
	}
}

func routeNetReadBack(t *testing.T, s *Spec) {
	out := t.TempDir()
	gen(t, s, out, Options{})
	rn := filepath.Join(out, "routenet")
	tars, _ := filepath.Glob(filepath.Join(rn, "*.tar.gz"))
	if len(tars) != s.Scenarios() {
		t.Fatalf("%d tarballs, want %d", len(tars), s.Scenarios())
	}
	samplesSeen := 0
	for _, tp := range tars {
		base := filepath.Base(tp)
		camps := strings.Split(base, "_")
		first, err1 := strconv.Atoi(camps[len(camps)-2])
		last, err2 := strconv.Atoi(strings.TrimSuffix(camps[len(camps)-1], ".tar.gz"))
		if err1 != nil || err2 != nil {
			t.Fatalf("tarball name %q: iterations not parseable", base)
		}
		dir, files := readTar(t, tp)
		stab := strings.Split(strings.TrimSuffix(files[dir+"/stability.txt"], "\n"), "\n")
		inp := strings.Split(strings.TrimSuffix(files[dir+"/input_files.txt"], "\n"), "\n")
		for it := first; it <= last; it++ {
			k := it - first
			if !strings.Contains(stab[k], ";OK;") {
				t.Fatalf("%s: stability line %q", base, stab[k])
			}
			used := strings.Split(inp[k], ";")
			g := readGML(t, filepath.Join(rn, "graphs", used[1]))
			n := len(g.nodes)
			paths := followRouting(t, g, filepath.Join(rn, "routings", used[2]))
			traffic := strings.Split(strings.TrimSuffix(files[dir+"/traffic-"+strconv.Itoa(it)+".txt"], "\n"), "\n")
			results := strings.Split(strings.TrimSuffix(files[dir+"/simulationResults-"+strconv.Itoa(it)+".txt"], "\n"), "\n")
			usage := strings.Split(strings.TrimSuffix(files[dir+"/linkUsage-"+strconv.Itoa(it)+".txt"], "\n"), "\n")
			if len(traffic) != len(results) || len(traffic) != len(usage) {
				t.Fatalf("%s: %d traffic, %d results, %d usage lines", base, len(traffic), len(results), len(usage))
			}
			for li := range traffic {
				samplesSeen++
				rline := results[li][:len(results[li])-1] // the reader drops ";\n"
				head, body, _ := strings.Cut(rline, "|")
				if len(strings.Split(head, ",")) != 3 {
					t.Fatalf("global fields %q", head)
				}
				r := strings.Split(body, ";")
				_, tb, _ := strings.Cut(traffic[li], "|")
				tf := strings.Split(tb, ";")
				if len(r) != n*n || len(tf) != n*n {
					t.Fatalf("%d result and %d traffic pairs, want %d", len(r), len(tf), n*n)
				}
				var sumCarried, sumLoadOut float64
				for j := range n * n {
					agg := strings.Split(r[j], ",")
					if len(agg) != 11 {
						t.Fatalf("pair %d: %d result fields, want 11", j, len(agg))
					}
					for _, x := range agg {
						pyFloat(t, x)
					}
					for _, x := range agg[2:] {
						if x != "nan" {
							t.Fatalf("pair %d: delay/jitter/loss field %q, want absent (nan)", j, x)
						}
					}
					bw := pyFloat(t, agg[0]) * 1000 / 1e9 // kbps → Gb/s
					sumCarried += bw * float64(len(paths[j])-1)
					td := strings.Split(tf[j], ",")
					if td[0] == "-1" {
						if bw != 0 {
							t.Fatalf("pair %d: unrouted pair carries %v", j, bw)
						}
						continue
					}
					if len(td) != 7 || td[0] != "0" || td[4] != "0" {
						t.Fatalf("pair %d: traffic %q, want exponential time and deterministic size", j, tf[j])
					}
					if offered := pyFloat(t, td[1]) / 1e9; bw > offered*(1+1e-9) {
						t.Fatalf("pair %d: carried %v > offered %v", j, bw, offered)
					}
					if len(paths[j]) < 2 || paths[j][0] != j/n || paths[j][len(paths[j])-1] != j%n {
						t.Fatalf("pair %d: routing path %v", j, paths[j])
					}
				}
				lu := strings.Split(usage[li], ";")
				if len(lu) != n*n {
					t.Fatalf("%d link usage entries, want %d", len(lu), n*n)
				}
				for j, e := range lu {
					if e == "-1" {
						if _, ok := g.edges[[2]int{j / n, j % n}]; ok {
							t.Fatalf("link %d has usage -1", j)
						}
						continue
					}
					p := strings.Split(e, ",")
					util := pyFloat(t, p[0])
					if util < 0 || util > 1+1e-9 || p[1] != "nan" {
						t.Fatalf("link %d usage %q", j, e)
					}
					sumLoadOut += util * g.edges[[2]int{j / n, j % n}].bw / 1e9
				}
				// Σ over pairs of rate × hops = Σ over links of load
				if math.Abs(sumCarried-sumLoadOut) > 1e-6*math.Max(1, sumCarried) {
					t.Fatalf("carried×hops %v != Σ link loads %v", sumCarried, sumLoadOut)
				}
			}
		}
	}
	if samplesSeen != s.Samples {
		t.Fatalf("read %d samples, want %d", samplesSeen, s.Samples)
	}
}

type gmlGraph struct {
	nodes []int
	edges map[[2]int]struct {
		port int
		bw   float64
	}
}

// readGML reads the subset of GML the writer emits, checking what networkx needs:
// directed multigraph, integer labels 0..n-1, edges with key, port and bandwidth.
func readGML(t *testing.T, path string) gmlGraph {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := network.DecodeGML(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("%s: not GML: %v", path, err)
	}
	_ = n
	g := gmlGraph{edges: map[[2]int]struct {
		port int
		bw   float64
	}{}}
	text := string(b)
	if !strings.Contains(text, "directed 1") || !strings.Contains(text, "multigraph 1") {
		t.Fatalf("%s: not a directed multigraph", path)
	}
	for _, blk := range strings.Split(text, "  node [")[1:] {
		fields := strings.Fields(blk)
		id, _ := strconv.Atoi(fields[1])
		if fields[2] != "label" || fields[3] != strconv.Quote(strconv.Itoa(id)) {
			t.Fatalf("node %d: label %v", id, fields[2:4])
		}
		g.nodes = append(g.nodes, id)
	}
	for i, id := range g.nodes {
		if i != id {
			t.Fatalf("node ids not 0..n-1: %v", g.nodes)
		}
	}
	for _, blk := range strings.Split(text, "  edge [")[1:] {
		kv := map[string]string{}
		f := strings.Fields(blk)
		for i := 0; i+1 < len(f); i += 2 {
			kv[f[i]] = f[i+1]
		}
		a, _ := strconv.Atoi(kv["source"])
		z, _ := strconv.Atoi(kv["target"])
		port, err := strconv.Atoi(kv["port"])
		bw, err2 := strconv.ParseFloat(kv["bandwidth"], 64)
		if err != nil || err2 != nil || kv["key"] != "0" || bw <= 0 {
			t.Fatalf("edge %v", kv)
		}
		g.edges[[2]int{a, z}] = struct {
			port int
			bw   float64
		}{port, bw}
	}
	return g
}

// followRouting rebuilds the path matrix the way datanetAPI does from a source routing
// directory: from src, follow R_src[node][dst] ports until -1.
func followRouting(t *testing.T, g gmlGraph, dir string) [][]int {
	t.Helper()
	n := len(g.nodes)
	portTo := map[[2]int]int{}
	for e, v := range g.edges {
		portTo[[2]int{e[0], v.port}] = e[1]
	}
	paths := make([][]int, n*n)
	for src := range n {
		b, err := os.ReadFile(filepath.Join(dir, "Routing_src_"+strconv.Itoa(src)+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("routing %d: %d lines, want %d", src, len(lines), n)
		}
		R := make([][]int, n)
		for v, l := range lines {
			camps := strings.Split(l, ",")
			for _, c := range camps[:len(camps)-1] {
				p, err := strconv.Atoi(c)
				if err != nil {
					t.Fatal(err)
				}
				R[v] = append(R[v], p)
			}
		}
		for dst := range n {
			node, path := src, []int{src}
			for R[node][dst] != -1 {
				nx, ok := portTo[[2]int{node, R[node][dst]}]
				if !ok || slices.Contains(path, nx) || len(path) > n {
					t.Fatalf("routing %d→%d: bad port %d at node %d", src, dst, R[node][dst], node)
				}
				path = append(path, nx)
				node = nx
			}
			paths[src*n+dst] = path
		}
	}
	return paths
}

// Seed 004 §9.2: the Parquet tables read back through parquet-go with the documented
// schema, and labels are consistent (rate ≤ demand, utilisation ≤ 1, absent fields null).
func TestParquetReadBack(t *testing.T) {
	s := mustSpec(t, testSpec)
	out := t.TempDir()
	gen(t, s, out, Options{})
	schema := Schema()
	for table, cols := range schema {
		f, err := os.Open(filepath.Join(out, "parquet", table, "part-000001.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, fl := range pf.Schema().Fields() {
			names = append(names, fl.Name())
		}
		var want []string
		for _, c := range cols {
			want = append(want, c.Name)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("%s columns %v, want %v", table, names, want)
		}
		f.Close()
	}
	flows, err := parquet.ReadFile[FlowRow](filepath.Join(out, "parquet", "flows", "part-000001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != s.SamplesPerScenario*s.Traffic.Flows {
		t.Fatalf("%d flow rows, want %d", len(flows), s.SamplesPerScenario*s.Traffic.Flows)
	}
	for _, r := range flows {
		if r.RateGbps <= 0 || r.RateGbps > r.DemandGbps*(1+1e-9) || r.Level < 1 || r.Hops < 1 {
			t.Fatalf("flow row %+v", r)
		}
		if r.DelayMs != nil || r.JitterMs != nil || r.Loss != nil {
			t.Fatalf("absent labels are set: %+v", r)
		}
		if r.Sample < 4 || r.Sample >= 8 {
			t.Fatalf("scenario 1 holds sample %d", r.Sample)
		}
	}
	links, err := parquet.ReadFile[LinkRow](filepath.Join(out, "parquet", "links", "part-000001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	sawBottleneck := false
	for _, r := range links {
		if r.Utilization < 0 || r.Utilization > 1+1e-9 || r.GradientUp == nil || r.Loss != nil {
			t.Fatalf("link row %+v", r)
		}
		if r.Level > 0 {
			sawBottleneck = true
		}
	}
	if !sawBottleneck {
		t.Fatal("no link is a bottleneck in any sample")
	}
	samples, err := parquet.ReadFile[SampleRow](filepath.Join(out, "parquet", "samples", "part-000005.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 3 { // 23 samples, 4 per scenario: the last has 3
		t.Fatalf("last scenario has %d samples, want 3", len(samples))
	}
}

func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"name", "name: 'a b'\nsamples: 1\ntopologies: [{generator: ring}]", "name"},
		{"samples", "name: a\nsamples: 0\ntopologies: [{generator: ring}]", "samples"},
		{"topology", "name: a\nsamples: 1\ntopologies: [{}]", "topologies[0]"},
		{"model", "name: a\nsamples: 1\ntopologies: [{generator: ring}]\ntraffic: {models: [bursty]}", "traffic.models[0]"},
		{"unknown", "name: a\nsamples: 1\nfoo: 1\ntopologies: [{generator: ring}]", "foo"},
		{"intensity", "name: a\nsamples: 1\ntopologies: [{generator: ring}]\ntraffic: {intensity_gbps: [2, 1]}", "intensity"},
		{"failures", "name: a\nsamples: 1\ntopologies: [{generator: ring}]\nfailures: {max: -1}", "failures.max"},
		{"format", "name: a\nsamples: 1\ntopologies: [{generator: ring}]\nformats: [csv]", "formats[0]"},
	} {
		_, err := ParseSpec([]byte(tc.yaml))
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrSpec naming %q", tc.name, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1", "3/3", "-1/2", "1/0", "a/b", "01/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) succeeded", bad)
		}
	}
	if sh, err := ParseShard("2/5"); err != nil || sh != (Shard{2, 5}) {
		t.Errorf("ParseShard(2/5) = %v, %v", sh, err)
	}
}

// Failures never disconnect the endpoints and are exactly the links missing.
func TestFailures(t *testing.T) {
	s := mustSpec(t, "name: f\nseed: 3\nsamples: 40\nsamples_per_scenario: 1\ntopologies: [{generator: 'wan:n=20'}]\nfailures: {max: 5}\ntraffic: {flows: 30}")
	sawFailure := false
	for j := range s.Scenarios() {
		sc, err := buildScenario(s, nil, j)
		if err != nil {
			t.Fatal(err)
		}
		if len(sc.failed) > 5 {
			t.Fatalf("%d failures > max", len(sc.failed))
		}
		if len(sc.failed) > 0 {
			sawFailure = true
		}
		for _, f := range sc.failed {
			for _, l := range sc.links {
				if l.ID == f || l.ID == f+network.ReverseSuffix {
					t.Fatalf("failed link %s still present", f)
				}
			}
		}
	}
	if !sawFailure {
		t.Fatal("no scenario failed a link")
	}
}

// The example spec of docs/ parses and describes what docs/datasets.md says.
func TestDocsExampleSpec(t *testing.T) {
	s, imp, err := LoadSpec("../../docs/examples/dataset-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Samples != 10000 || s.Traffic.Flows != 2500 || len(imp) != 0 || s.Scenarios() != 100 {
		t.Fatalf("%+v", s)
	}
}
