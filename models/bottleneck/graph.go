package bottleneck

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
)

// GraphKind selects the graph Graph builds.
type GraphKind string

// Graph kinds.
const (
	// GraphFGG is the flow gradient graph: one vertex per link and per flow.
	GraphFGG GraphKind = "fgg"
	// GraphPGG is the path gradient graph: flows with identical paths (and, for a
	// Q-PGG, the same QoS class) merged into one vertex.
	GraphPGG GraphKind = "pgg"
	// GraphQPGG is the PGG with one vertex per (path, class).
	GraphQPGG GraphKind = "qpgg"
)

// Edge kinds.
const (
	EdgeBottleneck = "bottleneck" // link → flow: the flow is bottlenecked at the link
	EdgeTraverses  = "traverses"  // flow → link: the flow crosses the link
	EdgeDemand     = "demand"     // demand cap → flow: the flow is limited by its own demand
)

// LinkNode is a link vertex.
type LinkNode struct {
	ID string `json:"id"`
	// Kind is "link", or "demand" for the virtual link of a flow's demand cap
	// (ID "demand:<flow>").
	Kind  string `json:"kind"`
	Level int    `json:"level"`
	// FairShare is the share at which the link fixed its flows; null when the link
	// never bottlenecks a flow (level 0).
	FairShare *float64 `json:"fair_share"`
	Load      float64  `json:"load"`
	Capacity  float64  `json:"capacity"`
	// Flows is the number of flows crossing the link.
	Flows int `json:"flows"`
}

// FlowNode is a flow vertex (FGG) or a path vertex (PGG).
type FlowNode struct {
	ID    string  `json:"id"`
	Rate  float64 `json:"rate"`
	Level int     `json:"level"`
	// Bottlenecks are the links that fixed the flow ("demand" for its demand cap).
	Bottlenecks []string `json:"bottlenecks"`
	Path        []string `json:"path"`
	Class       string   `json:"class,omitempty"`
	// Members are the flows merged into a PGG vertex (absent in the FGG).
	Members []string `json:"members,omitempty"`
	// Total is the aggregate rate of a PGG vertex (Rate × len(Members)).
	Total float64 `json:"total,omitempty"`
}

// Edge is a directed edge of the graph.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
}

// Graph is the bottleneck structure as a graph, with per-vertex rates and levels.
type Graph struct {
	Kind   GraphKind  `json:"graph"`
	Levels int        `json:"levels"`
	Total  float64    `json:"total_throughput"`
	Flows  []FlowNode `json:"flows"`
	Links  []LinkNode `json:"links"`
	Edges  []Edge     `json:"edges"`
}

func demandName(flow string) string { return "demand:" + flow }

// Graph returns the FGG, PGG or Q-PGG of the current structure. Cost O(|L| + Σ|path|)
// plus string building.
func (s *State) Graph(kind GraphKind) *Graph {
	s.Refresh()
	load := make([]float64, len(s.capa))
	total, nPath, nEdges := 0.0, 0, 0
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		total += s.rate[f]
		for _, l := range p {
			load[l] += s.rate[f]
			if s.virtOf[l] < 0 {
				nPath++
				nEdges++
			}
			if s.levelL[l] == s.levelF[f] {
				nEdges++
			}
		}
	}
	// sized once: the flows' paths share one backing array
	g := &Graph{Kind: kind, Levels: int(s.maxLevel), Total: total, Flows: make([]FlowNode, 0, s.nAlive), Links: make([]LinkNode, 0, len(s.capa)), Edges: make([]Edge, 0, nEdges)}
	pathBacking := make([]string, 0, nPath)
	for l := range s.capa {
		if s.failed[l] || s.virtOf[l] == -2 || (s.virtOf[l] >= 0 && len(s.linkFlows[l]) == 0) {
			continue
		}
		n := LinkNode{ID: s.linkID[l], Kind: "link", Level: int(s.levelL[l]), Load: load[l], Capacity: s.capa[l], Flows: len(s.linkFlows[l])}
		if s.virtOf[l] >= 0 {
			n.ID, n.Kind = demandName(s.flowID[s.virtOf[l]]), "demand"
		}
		if s.levelL[l] > 0 {
			fs := s.share[l]
			n.FairShare = &fs
		}
		g.Links = append(g.Links, n)
	}
	// vertex of each flow: itself (FGG) or its path group (PGG)
	vertex := make([]int32, len(s.path))
	groups := map[string]int32{}
	var key strings.Builder
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		node := FlowNode{ID: s.flowID[f], Rate: s.rate[f], Level: int(s.levelF[f]), Bottlenecks: s.bottleneckNames(int32(f)), Class: s.class[f]}
		start := len(pathBacking)
		for _, l := range p {
			if s.virtOf[l] < 0 {
				pathBacking = append(pathBacking, s.linkID[l])
			}
		}
		node.Path = pathBacking[start:len(pathBacking):len(pathBacking)]
		if kind == GraphFGG {
			vertex[f] = int32(len(g.Flows))
			g.Flows = append(g.Flows, node)
			continue
		}
		key.Reset()
		for _, l := range p {
			key.WriteString(strconv.Itoa(int(l)))
			key.WriteByte(',')
		}
		if kind == GraphQPGG {
			key.WriteString("|" + s.class[f])
		}
		gi, ok := groups[key.String()]
		if !ok {
			gi = int32(len(g.Flows))
			groups[key.String()] = gi
			node.ID = "p" + strconv.Itoa(len(g.Flows)+1)
			if kind == GraphPGG {
				node.Class = ""
			}
			g.Flows = append(g.Flows, node)
		}
		vertex[f] = gi
		v := &g.Flows[gi]
		v.Members = append(v.Members, s.flowID[f])
		v.Total += s.rate[f]
	}
	done := make([]bool, len(g.Flows))
	for f, p := range s.path {
		if !s.alive[f] || done[vertex[f]] {
			continue
		}
		done[vertex[f]] = true
		v := g.Flows[vertex[f]].ID
		for _, l := range p {
			if s.virtOf[l] >= 0 {
				if s.levelL[l] == s.levelF[f] {
					g.Edges = append(g.Edges, Edge{From: demandName(s.flowID[f]), To: v, Kind: EdgeDemand})
				}
				continue
			}
			if s.levelL[l] == s.levelF[f] {
				g.Edges = append(g.Edges, Edge{From: s.linkID[l], To: v, Kind: EdgeBottleneck})
			}
			g.Edges = append(g.Edges, Edge{From: v, To: s.linkID[l], Kind: EdgeTraverses})
		}
	}
	return g
}

// WriteDOT writes g in Graphviz DOT: links as boxes, flows as ellipses, one rank per
// level, bottleneck edges solid and traverses edges dashed.
func (g *Graph) WriteDOT(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph bottleneck {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n")
	ranks := map[int][]string{}
	for _, l := range g.Links {
		shape := "box"
		if l.Kind == "demand" {
			shape = "box, style=dashed"
		}
		share := "-"
		if l.FairShare != nil {
			share = fmtNum(*l.FairShare)
		}
		fmt.Fprintf(&b, "  %s [shape=%s, label=%s];\n", dotID(l.ID), shape,
			dotID(fmt.Sprintf("%s\\nc=%s share=%s", l.ID, fmtNum(l.Capacity), share)))
		ranks[l.Level] = append(ranks[l.Level], dotID(l.ID))
	}
	for _, f := range g.Flows {
		label := fmt.Sprintf("%s\\nr=%s", f.ID, fmtNum(f.Rate))
		if len(f.Members) > 1 {
			label = fmt.Sprintf("%s ×%d\\nr=%s", f.ID, len(f.Members), fmtNum(f.Rate))
		}
		fmt.Fprintf(&b, "  %s [shape=ellipse, label=%s];\n", dotID(f.ID), dotID(label))
	}
	for lv := 0; lv <= g.Levels; lv++ {
		if ids := ranks[lv]; len(ids) > 0 {
			fmt.Fprintf(&b, "  { rank=same; %s; }\n", strings.Join(ids, "; "))
		}
	}
	for _, e := range g.Edges {
		style := "solid"
		if e.Kind == EdgeTraverses {
			style = "dashed"
		}
		fmt.Fprintf(&b, "  %s -> %s [style=%s];\n", dotID(e.From), dotID(e.To), style)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotID(s string) string { return strconv.Quote(s) }

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// WriteSVG draws g as a layered SVG without external tools: one band per level (level
// 0, links that bottleneck nothing, last), links in the band's upper row, the flows
// fixed at that level in its lower row; bottleneck edges solid red, traverses edges
// thin grey.
func (g *Graph) WriteSVG(w io.Writer) error {
	const (
		colW, bandH, padX, padY = 110, 140, 60, 40
		boxW, boxH              = 90, 34
	)
	type pos struct{ x, y int }
	at := map[string]pos{}
	band := func(level int) int {
		if level == 0 {
			return g.Levels // unsaturated links go below the last level
		}
		return level - 1
	}
	rows := map[[2]int]int{} // (band, row) → next column
	place := func(id string, level, row int) {
		k := [2]int{band(level), row}
		c := rows[k]
		rows[k] = c + 1
		at[id] = pos{padX + c*colW, padY + k[0]*bandH + row*bandH/2}
	}
	for _, l := range g.Links {
		place(l.ID, l.Level, 0)
	}
	for _, f := range g.Flows {
		place(f.ID, f.Level, 1)
	}
	width, height := 2*padX+colW, 2*padY+(g.Levels+1)*bandH
	for _, c := range rows {
		if x := 2*padX + c*colW; x > width {
			width = x
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica,Arial,sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for lv := 1; lv <= g.Levels+1; lv++ {
		y := padY + (lv-1)*bandH - 20
		label := "level " + strconv.Itoa(lv)
		if lv == g.Levels+1 {
			label = "no bottleneck"
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" fill="#666">%s</text>`+"\n", y+12, label)
	}
	for _, e := range g.Edges {
		a, ok1 := at[e.From]
		z, ok2 := at[e.To]
		if !ok1 || !ok2 {
			continue
		}
		stroke, sw := "#999", "0.6"
		if e.Kind != EdgeTraverses {
			stroke, sw = "#c0392b", "1.5"
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%s"/>`+"\n", a.x, a.y, z.x, z.y, stroke, sw)
	}
	for _, l := range g.Links {
		p := at[l.ID]
		share := "-"
		if l.FairShare != nil {
			share = fmtNum(*l.FairShare)
		}
		dash := ""
		if l.Kind == "demand" {
			dash = ` stroke-dasharray="4 2"`
		}
		fmt.Fprintf(&b, `<g><title>%s capacity %s load %s share %s</title><rect x="%d" y="%d" width="%d" height="%d" fill="#eaf2fb" stroke="#2c3e50"%s/><text x="%d" y="%d" text-anchor="middle">%s</text><text x="%d" y="%d" text-anchor="middle" fill="#555">s=%s</text></g>`+"\n",
			esc(l.ID), fmtNum(l.Capacity), fmtNum(l.Load), share, p.x-boxW/2, p.y-boxH/2, boxW, boxH, dash,
			p.x, p.y-3, esc(trunc(l.ID)), p.x, p.y+11, share)
	}
	for _, f := range g.Flows {
		p := at[f.ID]
		label := f.ID
		if len(f.Members) > 1 {
			label += " ×" + strconv.Itoa(len(f.Members))
		}
		fmt.Fprintf(&b, `<g><title>%s rate %s level %d</title><ellipse cx="%d" cy="%d" rx="%d" ry="%d" fill="#fdf2e9" stroke="#a04000"/><text x="%d" y="%d" text-anchor="middle">%s</text><text x="%d" y="%d" text-anchor="middle" fill="#555">r=%s</text></g>`+"\n",
			esc(f.ID), fmtNum(f.Rate), f.Level, p.x, p.y, boxW/2, boxH/2, p.x, p.y-3, esc(trunc(label)), p.x, p.y+11, fmtNum(f.Rate))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string { return html.EscapeString(s) }

func trunc(s string) string {
	if len(s) > 14 {
		return s[:13] + "…"
	}
	return s
}
