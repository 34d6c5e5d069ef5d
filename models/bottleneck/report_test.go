package bottleneck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
)

// reportFromGraph converts the in-memory Graph (the reference) into the Report the
// streaming writer must produce.
func reportFromGraph(g *Graph) *Report {
	r := &Report{Schema: ReportSchema, Kind: g.Kind, Levels: g.Levels, Total: g.Total, Links: []ReportLink{}, Flows: []ReportFlow{}}
	idx := map[string]int{}
	for i, l := range g.Links {
		idx[l.ID] = i
		r.Links = append(r.Links, ReportLink(l))
	}
	bn := map[string][]int{}
	for _, e := range g.Edges {
		if e.Kind != EdgeTraverses {
			bn[e.To] = append(bn[e.To], idx[e.From])
		}
	}
	for _, f := range g.Flows {
		rf := ReportFlow{ID: f.ID, Rate: f.Rate, Level: f.Level, Bottlenecks: bn[f.ID], Path: []int{}, Class: f.Class, Members: f.Members, Total: f.Total}
		if rf.Bottlenecks == nil {
			rf.Bottlenecks = []int{}
		}
		for _, l := range f.Path {
			rf.Path = append(rf.Path, idx[l])
		}
		r.Flows = append(r.Flows, rf)
	}
	return r
}

// oldTable is the table as the CLI wrote it with text/tabwriter from a Graph.
func oldTable(g *Graph) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	join := func(xs []string) string {
		if len(xs) == 0 {
			return "-"
		}
		return strings.Join(xs, ",")
	}
	fmt.Fprintf(tw, "levels: %d\ttotal throughput: %s\n\n", g.Levels, num(g.Total))
	if g.Kind == GraphFGG {
		fmt.Fprintln(tw, "FLOW\tRATE\tLEVEL\tBOTTLENECKS\tPATH")
	} else {
		fmt.Fprintln(tw, "PATH-VERTEX\tRATE\tLEVEL\tBOTTLENECKS\tFLOWS\tPATH")
	}
	for _, f := range g.Flows {
		if g.Kind == GraphFGG {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.ID, num(f.Rate), f.Level, join(f.Bottlenecks), join(f.Path))
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", f.ID, num(f.Rate), f.Level, join(f.Bottlenecks), len(f.Members), join(f.Path))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "LINK\tLEVEL\tFAIR-SHARE\tLOAD\tCAPACITY\tFLOWS")
	links := append([]LinkNode(nil), g.Links...)
	sort.SliceStable(links, func(i, j int) bool {
		li, lj := links[i].Level, links[j].Level
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	for _, l := range links {
		share := "-"
		if l.FairShare != nil {
			share = num(*l.FairShare)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", l.ID, l.Level, share, num(l.Load), num(l.Capacity), l.Flows)
	}
	_ = tw.Flush()
	return b.String()
}

// TestWriteJSONAndTableMatchGraph checks the streaming writers against the Graph on
// random networks (demand caps, classes, removed flows and failed links included):
// the JSON decodes to the Report derived from the Graph, indented or not, and the table
// is byte for byte what text/tabwriter made of the Graph.
func TestWriteJSONAndTableMatchGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 3))
	for it := range iterations(t, 300, 40) {
		n := randomNetwork(rng, 8, 12, 20)
		for i := range n.Flows {
			if rng.IntN(3) == 0 {
				n.Flows[i].Class = []string{"gold", "silver", "<b>&\"x\"\u2028"}[rng.IntN(3)]
			}
		}
		n.Flows[0].ID = "f0 ünï\"q\"\\<>"
		s := mustNew(t, n)
		if it%3 == 1 && len(n.Flows) > 1 {
			if _, err := s.RemoveFlow(n.Flows[1].ID); err != nil {
				t.Fatal(err)
			}
		}
		if it%5 == 2 {
			if _, err := s.FailLinks([]string{n.Links[0].ID}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, kind := range []GraphKind{GraphFGG, GraphPGG, GraphQPGG} {
			g := s.Graph(kind)
			want := reportFromGraph(g)
			for _, indent := range []bool{false, true} {
				var b bytes.Buffer
				if err := s.WriteJSON(&b, kind, indent); err != nil {
					t.Fatal(err)
				}
				if lines := strings.Count(b.String(), "\n"); !indent && lines != 1 {
					t.Fatalf("compact output has %d lines", lines)
				}
				var got Report
				dec := json.NewDecoder(&b)
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("%s: %v\n%s", kind, err, b.String())
				}
				if !reflect.DeepEqual(&got, want) {
					gj, _ := json.Marshal(got)
					wj, _ := json.Marshal(want)
					t.Fatalf("iteration %d %s indent=%v:\n got %s\nwant %s", it, kind, indent, gj, wj)
				}
			}
			var tb bytes.Buffer
			if err := s.WriteTable(&tb, kind); err != nil {
				t.Fatal(err)
			}
			if w := oldTable(g); tb.String() != w {
				t.Fatalf("iteration %d %s table:\n got %q\nwant %q", it, kind, tb.String(), w)
			}
		}
	}
}

func TestAppendJSONFloatMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []float64{0, 1, -1, 1e-7, 1e-6, 1e21, 1e20, 123456789.123, 25.0 / 3, 5e-324, math.MaxFloat64, 1e-10}
	for range 2000 {
		vals = append(vals, math.Float64frombits(rng.Uint64()&^(0x7ff<<52)|uint64(900+rng.IntN(250))<<52))
	}
	for _, v := range vals {
		want, _ := json.Marshal(v)
		if got := appendJSONFloat(nil, v); string(got) != string(want) {
			t.Fatalf("%v: got %s want %s", v, got, want)
		}
	}
	for _, s := range []string{"a", "", "é\x00\x1f<>&", "bad\xff\xfeutf8", "\u2028\u2029", `"\`} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want && !strings.Contains(s, "\xff") {
			t.Fatalf("%q: round trip %q", s, back)
		}
	}
}
