package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/apps/alto"
)

// The service graph (SG) extension of the filtered cost map (seed 003 §5.4.2): the
// request names NFs, SAPs, SG links (id, src-node, dst-node) and end-to-end
// requirements (id, src-node, dst-node, sg-path: the SG link IDs from src to dst);
// the answer gives, per requirement and per SG link on its path, every candidate AS
// path: the shortest AS path from each domain offering the link's source to each
// domain offering its destination (§5.4.2.2: "a JSONArray of JSONArrays of
// JSONStrings", one sub-array per candidate).
//
// TwinFlow adds, per requirement, the end-to-end placements (appendix A, Table 2): each
// assignment of the SG's nodes to domains offering them, written as Table 2 writes it
// ("AS1:SAP1->AS2->AS3:NF1->…", transit domains bare), fewest inter-domain hops first;
// and resource pooling: with "priv:tf-demands" ({"NF1": {"cpu": 20, "mem": 8}}) a
// placement is kept only when, in every domain, the demands of the NFs placed there
// fit its pooled CPU, memory and storage together.

// Bounds of an SG request.
const (
	maxSGNodes      = 256
	maxSGLinks      = 1024
	maxSGReqs       = 64
	maxPlacements   = 4096 // assignments evaluated per requirement
	maxPlacementOut = 256  // placements listed per requirement
)

type sgLink struct {
	ID       int64
	Src, Dst string
}

type sgReq struct {
	ID       string // the id as given (a string, or an integer written in decimal)
	Src, Dst string
	Path     []int64
}

type demand struct{ CPU, Mem, Storage float64 }

type sgRequest struct {
	NFs, SAPs []string
	isNF      map[string]bool
	Links     map[int64]sgLink
	Reqs      []sgReq
	Demands   map[string]demand
}

// jobj is a JSON object being read, with its path for error fields.
type jobj struct {
	m  map[string]json.RawMessage
	at string
}

func badValue(field string, value any, detail string) *alto.Error {
	return &alto.Error{Status: http.StatusBadRequest, Code: alto.EInvalidFieldValue, Field: field, Value: value, Detail: detail}
}

func badType(field string, value any) *alto.Error {
	return &alto.Error{Status: http.StatusBadRequest, Code: alto.EInvalidFieldType, Field: field, Value: value}
}

func missing(field string) *alto.Error {
	return &alto.Error{Status: http.StatusBadRequest, Code: alto.EMissingField, Field: field}
}

func (o jobj) path(name string) string {
	if o.at == "" {
		return name
	}
	return o.at + "/" + name
}

func rawAny(r json.RawMessage) any {
	var v any
	_ = json.Unmarshal(r, &v)
	return v
}

func asObject(r json.RawMessage, at string) (jobj, *alto.Error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil || m == nil {
		return jobj{}, badType(at, rawAny(r))
	}
	return jobj{m: m, at: at}, nil
}

func (o jobj) field(name string, required bool) (json.RawMessage, bool, *alto.Error) {
	r, ok := o.m[name]
	if !ok {
		if required {
			return nil, false, missing(o.path(name))
		}
		return nil, false, nil
	}
	return r, true, nil
}

func (o jobj) str(name string) (string, *alto.Error) {
	r, _, e := o.field(name, true)
	if e != nil {
		return "", e
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return "", badType(o.path(name), rawAny(r))
	}
	return s, nil
}

func (o jobj) list(name string, max int) ([]json.RawMessage, *alto.Error) {
	r, _, e := o.field(name, true)
	if e != nil {
		return nil, e
	}
	var l []json.RawMessage
	if json.Unmarshal(r, &l) != nil || l == nil {
		return nil, badType(o.path(name), rawAny(r))
	}
	if len(l) == 0 || len(l) > max {
		return nil, badValue(o.path(name), nil, fmt.Sprintf("1 to %d entries, got %d", max, len(l)))
	}
	return l, nil
}

func (o jobj) names(name string, max int) ([]string, *alto.Error) {
	l, e := o.list(name, max)
	if e != nil {
		return nil, e
	}
	out := make([]string, len(l))
	seen := map[string]bool{}
	for i, r := range l {
		at := o.path(name) + "/" + strconv.Itoa(i)
		if json.Unmarshal(r, &out[i]) != nil {
			return nil, badType(at, rawAny(r))
		}
		if !validName(out[i]) {
			return nil, badValue(at, out[i], "a name of 1 to 64 letters, digits, '-', ':', '@', '_' or '.'")
		}
		if seen[out[i]] {
			return nil, badValue(at, out[i], "listed twice")
		}
		seen[out[i]] = true
	}
	return out, nil
}

// integer reads a JSON number that is a whole number within ±2^53.
func integer(r json.RawMessage, at string) (int64, *alto.Error) {
	var f float64
	if json.Unmarshal(r, &f) != nil {
		return 0, badType(at, rawAny(r))
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, badValue(at, f, "a whole number")
	}
	return int64(f), nil
}

// parseSG reads the "sg" member of a request (at "sg").
func parseSG(r json.RawMessage) (*sgRequest, *alto.Error) {
	o, e := asObject(r, "sg")
	if e != nil {
		return nil, e
	}
	q := &sgRequest{isNF: map[string]bool{}, Links: map[int64]sgLink{}, Demands: map[string]demand{}}
	if q.NFs, e = o.names("nfs", maxSGNodes); e != nil {
		return nil, e
	}
	if q.SAPs, e = o.names("saps", maxSGNodes); e != nil {
		return nil, e
	}
	nodes := map[string]bool{}
	for _, n := range q.NFs {
		nodes[n], q.isNF[n] = true, true
	}
	for i, n := range q.SAPs {
		if nodes[n] {
			return nil, badValue("sg/saps/"+strconv.Itoa(i), n, "a node is either an NF or a SAP")
		}
		nodes[n] = true
	}
	node := func(o jobj, name string) (string, *alto.Error) {
		s, e := o.str(name)
		if e != nil {
			return "", e
		}
		if !nodes[s] {
			return "", badValue(o.path(name), s, "not one of the SG's nfs or saps")
		}
		return s, nil
	}
	links, e := o.list("sg_links", maxSGLinks)
	if e != nil {
		return nil, e
	}
	for i, lr := range links {
		lo, e := asObject(lr, "sg/sg_links/"+strconv.Itoa(i))
		if e != nil {
			return nil, e
		}
		idr, _, e := lo.field("id", true)
		if e != nil {
			return nil, e
		}
		var l sgLink
		if l.ID, e = integer(idr, lo.path("id")); e != nil {
			return nil, e
		}
		if _, dup := q.Links[l.ID]; dup {
			return nil, badValue(lo.path("id"), l.ID, "two SG links have this id")
		}
		if l.Src, e = node(lo, "src-node"); e != nil {
			return nil, e
		}
		if l.Dst, e = node(lo, "dst-node"); e != nil {
			return nil, e
		}
		q.Links[l.ID] = l
	}
	reqs, e := o.list("reqs", maxSGReqs)
	if e != nil {
		return nil, e
	}
	reqIDs := map[string]bool{}
	for i, rr := range reqs {
		ro, e := asObject(rr, "sg/reqs/"+strconv.Itoa(i))
		if e != nil {
			return nil, e
		}
		var req sgReq
		idr, _, e := ro.field("id", true)
		if e != nil {
			return nil, e
		}
		if json.Unmarshal(idr, &req.ID) != nil { // JSONString in the draft; its example writes a number
			n, e := integer(idr, ro.path("id"))
			if e != nil {
				return nil, e
			}
			req.ID = strconv.FormatInt(n, 10)
		}
		if req.ID == "" || len(req.ID) > maxNameLen || reqIDs[req.ID] {
			return nil, badValue(ro.path("id"), req.ID, "a unique id of 1 to 64 characters")
		}
		reqIDs[req.ID] = true
		if req.Src, e = node(ro, "src-node"); e != nil {
			return nil, e
		}
		if req.Dst, e = node(ro, "dst-node"); e != nil {
			return nil, e
		}
		pl, e := ro.list("sg-path", maxSGLinks)
		if e != nil {
			return nil, e
		}
		at := req.Src
		for j, pr := range pl {
			f := ro.path("sg-path") + "/" + strconv.Itoa(j)
			id, e := integer(pr, f)
			if e != nil {
				return nil, e
			}
			l, ok := q.Links[id]
			if !ok {
				return nil, badValue(f, id, "no SG link has this id")
			}
			if l.Src != at {
				return nil, badValue(f, id, fmt.Sprintf("SG link %d starts at %s, but the path is at %s", id, l.Src, at))
			}
			at = l.Dst
			req.Path = append(req.Path, id)
		}
		if at != req.Dst {
			return nil, badValue(ro.path("sg-path"), nil, fmt.Sprintf("the path ends at %s, not at dst-node %s", at, req.Dst))
		}
		q.Reqs = append(q.Reqs, req)
	}
	if dr, has, _ := o.field("priv:tf-demands", false); has {
		do, e := asObject(dr, "sg/priv:tf-demands")
		if e != nil {
			return nil, e
		}
		for nf, vr := range do.m {
			if !q.isNF[nf] {
				return nil, badValue(do.path(nf), nf, "not one of the SG's nfs")
			}
			vo, e := asObject(vr, do.path(nf))
			if e != nil {
				return nil, e
			}
			var d demand
			for k, dst := range map[string]*float64{"cpu": &d.CPU, "mem": &d.Mem, "storage": &d.Storage} {
				r, has, _ := vo.field(k, false)
				if !has {
					continue
				}
				if json.Unmarshal(r, dst) != nil {
					return nil, badType(vo.path(k), rawAny(r))
				}
				if *dst < 0 || math.IsInf(*dst, 0) || math.IsNaN(*dst) {
					return nil, badValue(vo.path(k), *dst, "a finite number ≥ 0")
				}
			}
			q.Demands[nf] = d
		}
	}
	return q, nil
}

// hosts lists the available domains offering node n (indices, in name order).
func (v *view) hosts(q *sgRequest, n string) []int {
	var out []int
	for i, st := range v.states {
		l := st.Resources.SAPs
		if q.isNF[n] {
			l = st.Resources.NFs
		}
		for _, x := range l {
			if x == n {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

// Placement is one end-to-end assignment of a requirement's nodes to domains.
type Placement struct {
	Path      string            `json:"path"`
	Nodes     map[string]string `json:"nodes"`
	Hops      int               `json:"inter-domain-hops"`
	LatencyMs float64           `json:"latency-ms"`
}

// sgAnswer is the computed answer of an SG request.
type sgAnswer struct {
	// costMap[req src][req dst][link src][link dst] = candidate AS paths
	costMap    map[string]map[string]map[string]map[string][][]string
	placements map[string][]Placement
	rejected   map[string]int // placements refused by pooled capacity, per requirement
	truncated  map[string]bool
	used       map[int]bool // domains on some candidate path
}

// answer computes the SG answer; an SG node no available domain offers is an error
// naming it.
func (v *view) answer(q *sgRequest) (*sgAnswer, *alto.Error) {
	hostOf := map[string][]int{}
	for i, n := range q.NFs {
		if hostOf[n] = v.hosts(q, n); len(hostOf[n]) == 0 {
			return nil, badValue("sg/nfs/"+strconv.Itoa(i), n, v.noHost(n))
		}
	}
	for i, n := range q.SAPs {
		if hostOf[n] = v.hosts(q, n); len(hostOf[n]) == 0 {
			return nil, badValue("sg/saps/"+strconv.Itoa(i), n, v.noHost(n))
		}
	}
	a := &sgAnswer{costMap: map[string]map[string]map[string]map[string][][]string{},
		placements: map[string][]Placement{}, rejected: map[string]int{}, truncated: map[string]bool{}, used: map[int]bool{}}
	for _, req := range q.Reqs {
		if a.costMap[req.Src] == nil {
			a.costMap[req.Src] = map[string]map[string]map[string][][]string{}
		}
		byLink := a.costMap[req.Src][req.Dst]
		if byLink == nil {
			byLink = map[string]map[string][][]string{}
			a.costMap[req.Src][req.Dst] = byLink
		}
		for _, id := range req.Path {
			l := q.Links[id]
			if byLink[l.Src] == nil {
				byLink[l.Src] = map[string][][]string{}
			}
			cands := [][]string{}
			for _, s := range hostOf[l.Src] {
				for _, d := range hostOf[l.Dst] {
					if p := v.paths[s][d]; p != nil {
						cands = append(cands, v.asPath(s, d))
						for _, x := range p {
							a.used[x] = true
						}
					}
				}
			}
			byLink[l.Src][l.Dst] = cands
		}
		v.place(q, req, hostOf, a)
	}
	return a, nil
}

func (v *view) noHost(n string) string {
	s := "no available domain offers " + n
	if len(v.unavailable) > 0 {
		down := make([]string, 0, len(v.unavailable))
		for d := range v.unavailable {
			down = append(down, d)
		}
		sort.Strings(down)
		s += " (unavailable: " + strings.Join(down, ", ") + ")"
	}
	return s
}

// place enumerates the assignments of req's nodes to domains (each distinct node
// once), keeps those whose consecutive domains are connected and whose NF demands fit
// the pooled resources of each domain, and orders them.
func (v *view) place(q *sgRequest, req sgReq, hostOf map[string][]int, a *sgAnswer) {
	chain := []string{req.Src}
	for _, id := range req.Path {
		chain = append(chain, q.Links[id].Dst)
	}
	var distinct []string
	seen := map[string]bool{}
	for _, n := range chain {
		if !seen[n] {
			seen[n] = true
			distinct = append(distinct, n)
		}
	}
	choice := make([]int, len(distinct)) // index into hostOf[distinct[i]]
	pos := map[string]int{}
	for i, n := range distinct {
		pos[n] = i
	}
	out := []Placement{}
	for evaluated := 0; ; evaluated++ {
		if evaluated == maxPlacements {
			a.truncated[req.ID] = true
			break
		}
		dom := func(n string) int { return hostOf[n][choice[pos[n]]] }
		if pl, ok := v.placement(q, chain, dom); ok {
			if v.fits(q, distinct, dom) {
				out = append(out, pl)
			} else {
				a.rejected[req.ID]++
			}
		}
		// next assignment (odometer over the distinct nodes)
		i := len(distinct) - 1
		for ; i >= 0; i-- {
			choice[i]++
			if choice[i] < len(hostOf[distinct[i]]) {
				break
			}
			choice[i] = 0
		}
		if i < 0 {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Hops != out[j].Hops {
			return out[i].Hops < out[j].Hops
		}
		if out[i].LatencyMs != out[j].LatencyMs {
			return out[i].LatencyMs < out[j].LatencyMs
		}
		return out[i].Path < out[j].Path
	})
	if len(out) > maxPlacementOut {
		out, a.truncated[req.ID] = out[:maxPlacementOut], true
	}
	a.placements[req.ID] = out
}

// placement writes one assignment as Table 2 does; ok is false when two consecutive
// domains are not connected.
func (v *view) placement(q *sgRequest, chain []string, dom func(string) int) (Placement, bool) {
	pl := Placement{Nodes: map[string]string{}}
	var b strings.Builder
	cur := dom(chain[0])
	b.WriteString(v.names[cur] + ":" + chain[0])
	pl.Nodes[chain[0]] = v.names[cur]
	for _, n := range chain[1:] {
		d := dom(n)
		p := v.paths[cur][d]
		if p == nil {
			return Placement{}, false
		}
		for _, x := range p[1:] {
			b.WriteString("->" + v.names[x])
		}
		if len(p) == 1 {
			b.WriteString("->" + v.names[d])
		}
		b.WriteString(":" + n)
		pl.Hops += len(p) - 1
		pl.LatencyMs += v.lat[cur][d]
		pl.Nodes[n] = v.names[d]
		cur = d
	}
	pl.Path = b.String()
	return pl, true
}

// fits checks the pooled resources: in each domain, the demands of the NFs placed
// there together within its CPU, memory and storage.
func (v *view) fits(q *sgRequest, nodes []string, dom func(string) int) bool {
	if len(q.Demands) == 0 {
		return true
	}
	sum := map[int]demand{}
	for _, n := range nodes {
		d, ok := q.Demands[n]
		if !ok {
			continue
		}
		s := sum[dom(n)]
		s.CPU, s.Mem, s.Storage = s.CPU+d.CPU, s.Mem+d.Mem, s.Storage+d.Storage
		sum[dom(n)] = s
	}
	for i, s := range sum {
		r := v.states[i].Resources
		if s.CPU > r.CPU || s.Mem > r.Mem || s.Storage > r.Storage {
			return false
		}
	}
	return true
}

// parseCostType checks the request's cost-type: the path vector (array, ane-path).
func parseCostType(o jobj) *alto.Error {
	r, _, e := o.field("cost-type", true)
	if e != nil {
		return e
	}
	ct, e := asObject(r, "cost-type")
	if e != nil {
		return e
	}
	mode, e := ct.str("cost-mode")
	if e != nil {
		return e
	}
	metric, e := ct.str("cost-metric")
	if e != nil {
		return e
	}
	if mode != "array" {
		return badValue("cost-type/cost-mode", mode, "this resource answers the path vector: cost-mode array")
	}
	if metric != "ane-path" {
		return badValue("cost-type/cost-metric", metric, "this resource answers the path vector: cost-metric ane-path")
	}
	return nil
}

// ParseSGRequest decodes a filtered cost map request with a service graph (the
// fuzzing entry point of the broker's request parser).
func ParseSGRequest(body []byte) error {
	_, e := parseRequest(body)
	if e != nil {
		return e
	}
	return nil
}

func parseRequest(body []byte) (*sgRequest, *alto.Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, &alto.Error{Status: http.StatusBadRequest, Code: alto.ESyntax, SyntaxError: err.Error()}
	}
	if dec.More() {
		return nil, &alto.Error{Status: http.StatusBadRequest, Code: alto.ESyntax, SyntaxError: "data after the request object"}
	}
	o, e := asObject(top, "")
	if e != nil {
		return nil, e
	}
	if e := parseCostType(o); e != nil {
		return nil, e
	}
	r, _, e := o.field("sg", true)
	if e != nil {
		return nil, e
	}
	return parseSG(r)
}
