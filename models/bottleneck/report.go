package bottleneck

import (
	"bufio"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ReportSchema names the JSON document WriteJSON writes (docs/bottleneck.md,
// "Output schema"). Its version changes when a field changes meaning or disappears.
const ReportSchema = "twinflow.bottleneck/v2"

// Report is the JSON document of WriteJSON, as Go types (for clients and the API's
// description; WriteJSON streams it without building it). Links and flows are listed
// once; flows refer to links by their index in Links.
type Report struct {
	Schema string    `json:"schema"`
	Kind   GraphKind `json:"graph"`
	Levels int       `json:"levels"`
	Total  float64   `json:"total_throughput"`
	// Links are the link vertices: real links, then the demand caps of capped flows
	// (kind "demand", ID "demand:<flow>"), each once.
	Links []ReportLink `json:"links"`
	// Flows are the flow vertices (FGG) or path vertices (PGG, Q-PGG).
	Flows []ReportFlow `json:"flows"`
}

// ReportLink is a link vertex of a Report.
type ReportLink struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"` // "link" or "demand"
	Level int    `json:"level"`
	// FairShare is null when the link bottlenecks no flow (level 0).
	FairShare *float64 `json:"fair_share"`
	Load      float64  `json:"load"`
	Capacity  float64  `json:"capacity"`
	Flows     int      `json:"flows"` // flows crossing the link
}

// ReportFlow is a flow (or path) vertex of a Report. Bottlenecks and Path are indices
// into Report.Links: the bottleneck edges (link → flow) and the traverses edges
// (flow → link) of the gradient graph. Path lists the real links in path order; a
// demand cap appears in Bottlenecks only (as its "demand" link vertex).
type ReportFlow struct {
	ID          string  `json:"id"`
	Rate        float64 `json:"rate"`
	Level       int     `json:"level"`
	Bottlenecks []int   `json:"bottlenecks"`
	Path        []int   `json:"path"`
	// Class is the flow's class (FGG) or the vertex's class (Q-PGG).
	Class string `json:"class,omitempty"`
	// Members and Total: the flows merged into a path vertex and their aggregate rate
	// (PGG and Q-PGG only).
	Members []string `json:"members,omitempty"`
	Total   float64  `json:"total,omitempty"`
}

// reportView is what the writers need from a State: the link vertices in output order,
// loads, and the flow vertices (with the members of each path vertex).
type reportView struct {
	s      *State
	kind   GraphKind
	links  []int32 // engine link of each link vertex
	pos    []int32 // engine link → link vertex, -1 when not listed
	load   []float64
	total  float64
	verts  []int32 // representative engine flow of each flow vertex
	mStart []int32 // PGG: members of vertex v are members[mStart[v]:mStart[v+1]]
	member []int32
}

func (s *State) view(kind GraphKind) *reportView {
	s.Refresh()
	v := &reportView{s: s, kind: kind}
	nT := len(s.capa)
	v.load = make([]float64, nT)
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		r := s.rate[f]
		v.total += r
		for _, l := range p {
			v.load[l] += r
		}
	}
	v.pos = make([]int32, nT)
	v.links = make([]int32, 0, nT)
	for l := range nT {
		v.pos[l] = -1
		if s.failed[l] || s.virtOf[l] == -2 || (s.virtOf[l] >= 0 && len(s.linkFlows[l]) == 0) {
			continue
		}
		v.pos[l] = int32(len(v.links))
		v.links = append(v.links, int32(l))
	}
	if kind == GraphFGG {
		v.verts = make([]int32, 0, s.nAlive)
		for f := range s.path {
			if s.alive[f] {
				v.verts = append(v.verts, int32(f))
			}
		}
		return v
	}
	// path vertices: flows with the same internal path (and class, for the Q-PGG)
	groups := make(map[string]int32)
	vertOf := make([]int32, len(s.path))
	count := []int32{}
	var key []byte
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		key = key[:0]
		for _, l := range p {
			if s.virtOf[l] >= 0 {
				key = append(key, 'd') // a demand cap: same cap value is not the same vertex
				key = strconv.AppendInt(key, int64(f), 10)
				continue
			}
			key = strconv.AppendInt(key, int64(l), 10)
			key = append(key, ',')
		}
		if kind == GraphQPGG {
			key = append(key, '|')
			key = append(key, s.class[f]...)
		}
		g, ok := groups[string(key)]
		if !ok {
			g = int32(len(v.verts))
			groups[string(key)] = g
			v.verts = append(v.verts, int32(f))
			count = append(count, 0)
		}
		vertOf[f] = g
		count[g]++
	}
	v.mStart = make([]int32, len(v.verts)+1)
	for g, c := range count {
		v.mStart[g+1] = v.mStart[g] + c
	}
	v.member = make([]int32, v.mStart[len(v.verts)])
	next := slices.Clone(v.mStart[:len(v.verts)])
	for f := range s.path {
		if s.alive[f] {
			g := vertOf[f]
			v.member[next[g]] = int32(f)
			next[g]++
		}
	}
	return v
}

// WriteJSON writes the bottleneck structure as the Report document (schema
// ReportSchema) to w, streaming: nothing but the per-link loads and, for a PGG, the
// grouping of flows is held in memory. indent puts each link and flow on its own line
// (for terminals); otherwise the document is one line of compact JSON. w is buffered
// here; the caller need not buffer it.
func (s *State) WriteJSON(w io.Writer, kind GraphKind, indent bool) error {
	v := s.view(kind)
	bw := bufio.NewWriterSize(w, 256<<10)
	var b []byte
	nl, sep := "", ","
	if indent {
		nl, sep = "\n  ", ",\n  "
	}
	b = append(b, '{')
	b = append(b, nl...)
	b = append(b, `"schema":"`+ReportSchema+`","graph":`...)
	b = appendJSONString(b, string(kind))
	b = append(b, `,"levels":`...)
	b = strconv.AppendInt(b, int64(s.maxLevel), 10)
	b = append(b, `,"total_throughput":`...)
	b = appendJSONFloat(b, v.total)
	b = append(b, ',')
	b = append(b, nl...)
	b = append(b, `"links":[`...)
	elem := "\n    "
	for i, l := range v.links {
		if i > 0 {
			b = append(b, ',')
		}
		if indent {
			b = append(b, elem...)
		}
		b = v.appendLink(b, l)
		if len(b) > 64<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if indent && len(v.links) > 0 {
		b = append(b, nl...)
	}
	b = append(b, ']')
	b = append(b, sep...)
	b = append(b, `"flows":[`...)
	for i := range v.verts {
		if i > 0 {
			b = append(b, ',')
		}
		if indent {
			b = append(b, elem...)
		}
		b = v.appendFlow(b, i)
		if len(b) > 64<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if indent && len(v.verts) > 0 {
		b = append(b, nl...)
	}
	b = append(b, ']')
	if indent {
		b = append(b, '\n')
	}
	b = append(b, "}\n"...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

func (v *reportView) linkName(l int32) (id, kind string) {
	s := v.s
	if o := s.virtOf[l]; o >= 0 {
		return demandName(s.flowID[o]), "demand"
	}
	return s.linkID[l], "link"
}

func (v *reportView) appendLink(b []byte, l int32) []byte {
	s := v.s
	id, kind := v.linkName(l)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","level":`...)
	b = strconv.AppendInt(b, int64(s.levelL[l]), 10)
	b = append(b, `,"fair_share":`...)
	if s.levelL[l] > 0 {
		b = appendJSONFloat(b, s.share[l])
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"load":`...)
	b = appendJSONFloat(b, v.load[l])
	b = append(b, `,"capacity":`...)
	b = appendJSONFloat(b, s.capa[l])
	b = append(b, `,"flows":`...)
	b = strconv.AppendInt(b, int64(len(s.linkFlows[l])), 10)
	return append(b, '}')
}

func (v *reportView) appendFlow(b []byte, i int) []byte {
	s := v.s
	f := v.verts[i]
	b = append(b, `{"id":`...)
	if v.kind == GraphFGG {
		b = appendJSONString(b, s.flowID[f])
	} else {
		b = append(b, `"p`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, '"')
	}
	b = append(b, `,"rate":`...)
	b = appendJSONFloat(b, s.rate[f])
	b = append(b, `,"level":`...)
	b = strconv.AppendInt(b, int64(s.levelF[f]), 10)
	b = append(b, `,"bottlenecks":[`...)
	first := true
	for _, l := range s.path[f] {
		if s.levelL[l] == s.levelF[f] {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendInt(b, int64(v.pos[l]), 10)
		}
	}
	b = append(b, `],"path":[`...)
	first = true
	for _, l := range s.path[f] {
		if s.virtOf[l] < 0 {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendInt(b, int64(v.pos[l]), 10)
		}
	}
	b = append(b, ']')
	if v.kind != GraphPGG && s.class[f] != "" {
		b = append(b, `,"class":`...)
		b = appendJSONString(b, s.class[f])
	}
	if v.kind != GraphFGG {
		b = append(b, `,"members":[`...)
		total := 0.0
		for k, m := range v.member[v.mStart[i]:v.mStart[i+1]] {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s.flowID[m])
			total += s.rate[m]
		}
		b = append(b, `],"total":`...)
		b = appendJSONFloat(b, total)
	}
	return append(b, '}')
}

// appendJSONFloat formats x as encoding/json does (shortest representation, exponent
// form below 1e-6 and from 1e21). Non-finite values cannot occur in a State (capacities
// and demands are finite, rates are bounded by them); they are written as null rather
// than producing invalid JSON.
func appendJSONFloat(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(x)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString appends s as a JSON string. Unlike encoding/json it does not escape
// <, > and & (the output is not embedded in HTML); control characters, quotes and
// backslashes are escaped, invalid UTF-8 becomes U+FFFD, and U+2028/U+2029 are escaped
// so the output is also valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, "89"[r&1])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
