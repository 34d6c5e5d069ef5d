package bottleneck

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestPGGAndQPGG(t *testing.T) {
	d := 2.0
	s := mustNew(t, &Network{
		Links: []Link{{"a", 10}, {"b", 30}},
		Flows: []Flow{
			{ID: "x1", Path: []string{"a", "b"}, Class: "gold"},
			{ID: "x2", Path: []string{"a", "b"}, Class: "gold"},
			{ID: "x3", Path: []string{"a", "b"}, Class: "bronze"},
			{ID: "y", Path: []string{"b"}},
			{ID: "z", Path: []string{"b"}, Demand: &d},
		},
	})
	// a: 3 flows at 10/3; b: 30 − 10 = 20 left for y (z capped at 2): y = 18
	if r, _ := s.Rate("y"); math.Abs(r-18) > 1e-9 {
		t.Errorf("y rate %v; want 18", r)
	}
	if b, _ := s.Bottlenecks("z"); strings.Join(b, ",") != "demand" {
		t.Errorf("z bottlenecks %v", b)
	}
	pgg := s.Graph(GraphPGG)
	if len(pgg.Flows) != 3 || len(pgg.Flows[0].Members) != 3 || math.Abs(pgg.Flows[0].Total-10) > 1e-9 {
		t.Errorf("pgg vertices: %+v", pgg.Flows)
	}
	q := s.Graph(GraphQPGG)
	if len(q.Flows) != 4 || q.Flows[0].Class != "gold" || len(q.Flows[0].Members) != 2 {
		t.Errorf("qpgg vertices: %+v", q.Flows)
	}
	var demandEdge bool
	for _, e := range s.Graph(GraphFGG).Edges {
		if e.Kind == EdgeDemand && e.From == "demand:z" && e.To == "z" {
			demandEdge = true
		}
	}
	if !demandEdge {
		t.Error("no demand edge for z")
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	s := mustNew(t, vectorC())
	var b bytes.Buffer
	if err := s.Graph(GraphFGG).WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "ellipse" {
			n++
		}
	}
	if n != 8 {
		t.Errorf("%d flow ellipses; want 8", n)
	}
	var dot bytes.Buffer
	if err := s.Graph(GraphPGG).WriteDOT(&dot); err != nil || !strings.Contains(dot.String(), "rank=same") {
		t.Errorf("dot: %v %s", err, dot.String())
	}
}
