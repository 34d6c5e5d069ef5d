package alto

import (
	"encoding/json"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/bottleneck"
)

// Path vector (RFC 9275): the cost of a pair is the array of ANEs (abstract network
// elements: here the directed links of the twin) its traffic crosses, answered as
// multipart/related (RFC 2387) of two parts: the cost map (or endpoint cost map) and an
// entity property map of the ".ane" domain (the ANEs of the first part; RFC 9275 §6.2,
// RFC 9240 resource-specific domain whose resource is the first part) with the
// requested ANE properties. Each part has a Part Content ID (RFC 9275 §6.6)
// "<" PART-RESOURCE-ID "@" DOMAIN-NAME ">": the part resource ID ("costmap", "ecs" or
// "propmap") at the ALTO server's domain name; the resource-id of the part's vtag is
// "<resource ID>.<part resource ID>" (§7.2.6, §7.3.6). The start parameter names the
// first part, the property map's dependent-vtags hold the first part's vtag.

// Part resource IDs of the two parts of a path vector response.
const (
	partCostMap = "costmap"
	partECS     = "ecs"
	partPropMap = "propmap"
)

// fallbackDomain is the DOMAIN-NAME of Part Content IDs when the server's host is not
// a dot-atom-text (RFC 5322 §3.2.3), as an IPv6 literal is not.
const fallbackDomain = "localhost"

// contentIDDomain is the DOMAIN-NAME of the Part Content IDs: the host of BaseURL or,
// without one, of the request (port removed), when it is a dot-atom-text.
func (s *Server) contentIDDomain(r *http.Request) string {
	host := r.Host
	if s.baseURL != "" {
		if u, err := url.Parse(s.baseURL); err == nil {
			host = u.Host
		}
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !dotAtomText(host) {
		return fallbackDomain
	}
	return host
}

// dotAtomText reports whether s is a dot-atom-text of RFC 5322 §3.2.3: runs of atext
// separated by single dots.
func dotAtomText(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, run := range strings.Split(s, ".") {
		if run == "" {
			return false
		}
		for _, c := range run {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", c)) {
				return false
			}
		}
	}
	return true
}

// partContentID is "<part@domain>".
func partContentID(part, domain string) string { return "<" + part + "@" + domain + ">" }

// parseANEProps reads ane-property-names (absent: none).
func parseANEProps(o object) ([]string, *Error) {
	l, _, e := o.strList("ane-property-names", false)
	if e != nil {
		return nil, e
	}
	seen := map[string]bool{}
	var out []string
	for i, p := range l {
		ok := false
		for _, a := range aneProps {
			ok = ok || a == p
		}
		if !ok {
			return nil, invalidValue("ane-property-names/"+strconv.Itoa(i), p)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// rejectScalarFields refuses fields a path vector request cannot carry.
func rejectScalarFields(o object) *Error {
	for _, f := range []string{"multi-cost-types", "testable-cost-types", "constraints", "or-constraints"} {
		if o.has(f) {
			return invalidValue(f, "not supported with the path vector cost type")
		}
	}
	return nil
}

// appendANEValue appends the JSON value of ANE property prop of a.
func appendANEValue(b []byte, a *ane, prop string) []byte {
	switch prop {
	case PropMaxReservableBW:
		return appendNumber(b, math.Max(0, a.CapacityGbps-a.LoadGbps)*1e9)
	case PropEstAvailBW:
		return appendNumber(b, a.EstGbps*1e9)
	case PropBSGLevel:
		return strconv.AppendInt(b, int64(a.Level), 10)
	}
	return append(b, "null"...)
}

// propPart encodes the ".ane" property map part: one entry for each ANE the first
// part names (RFC 9275 §7.2.6, §7.3.6: "The PropertyMapData has one member for each
// ANEName that appears in the Path Vector part"), holding the requested properties
// (none when no ane-property-names were asked). Entities in name order, properties in
// name order: the bytes encoding/json gives the same map.
func (sn *snapshot) propPart(rid string, first VersionTag, used []bool, props []string) []byte {
	props = slices.Clone(props)
	slices.Sort(props)
	dep, _ := json.Marshal([]VersionTag{first})
	vt, _ := json.Marshal(VersionTag{ResourceID: rid + "." + partPropMap, Tag: sn.tags[hashPV]})
	b := append([]byte(`{"meta":{"dependent-vtags":`), dep...)
	b = append(b, `,"vtag":`...)
	b = append(b, vt...)
	b = append(b, `},"property-map":{`...)
	n := 0
	for _, e := range sn.aneByName {
		if !used[e] {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, ".ane:"+sn.anes[e].Name)
		b = append(b, ":{"...)
		for i, p := range props {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, p)
			b = append(b, ':')
			b = appendANEValue(b, &sn.anes[e], p)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// writeMultipart streams a two-part multipart/related response: first writes the
// first part (returning the ANEs it named), second encodes the property part for them.
func writeMultipart(w http.ResponseWriter, domain, firstType, firstPart string, first func(io.Writer) ([]bool, error), second func([]bool) []byte) *Error {
	mw := multipart.NewWriter(w)
	cid := func(part string) string { return partContentID(part, domain) }
	w.Header().Set("Content-Type", mime.FormatMediaType("multipart/related", map[string]string{
		"boundary": mw.Boundary(), "type": firstType, "start": cid(firstPart)}))
	pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {firstType}, "Content-Id": {cid(firstPart)}})
	if err != nil {
		return nil // the client is gone; the status is sent
	}
	used, err := first(pw)
	if err != nil {
		return nil
	}
	if pw, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {MediaPropMap}, "Content-Id": {cid(partPropMap)}}); err != nil {
		return nil
	}
	_, _ = pw.Write(second(used))
	_ = mw.Close()
	return nil
}

func (s *Server) handlePVCostMap(w http.ResponseWriter, r *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	if e := rejectScalarFields(o); e != nil {
		return e
	}
	ct, e := parseCostType(o, "cost-type", true)
	if e != nil {
		return e
	}
	srcs, dsts, e := sn.parsePIDFilter(o)
	if e != nil {
		return e
	}
	props, e := parseANEProps(o)
	if e != nil {
		return e
	}
	vt := VersionTag{ResourceID: idCostMapPV + "." + partCostMap, Tag: sn.tags[hashPV]}
	return writeMultipart(w, s.contentIDDomain(r), MediaCostMap, partCostMap,
		func(pw io.Writer) ([]bool, error) { return sn.encodePVCostMap(pw, idCostMapPV, ct, srcs, dsts) },
		func(used []bool) []byte { return sn.propPart(idCostMapPV, vt, used, props) })
}

// encodePVCostMap writes the cost map part and returns the ANEs it names.
//
// Each pair's value is the JSON of its ANE path, and the path to a device is the path
// to its forest predecessor plus one ANE. The encoder writes the path of a row's entry
// straight into the row as its predecessor's path (already in the row, or built before
// as the ancestor of an earlier entry) plus that ANE, so most of the response is copied
// once, from the row itself; only the ancestors needed before their own entry are built
// in a side arena (pvRow). An ANE is marked used when a path ending with it is written
// or built: every path the row names is, and so is every prefix of it.
func (sn *snapshot) encodePVCostMap(w io.Writer, rid string, ct CostType, srcs, dsts []int) ([]bool, error) {
	used := make([]bool, len(sn.anes))
	meta, _ := json.Marshal(costMapMeta{
		DependentVTags: []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}, CostType: &ct,
		VTag: &VersionTag{ResourceID: rid + "." + partCostMap, Tag: sn.tags[hashPV]},
	})
	b := make([]byte, 0, flushAt+256<<10)
	b = append(b, `{"meta":`...)
	b = append(b, meta...)
	b = append(b, `,"cost-map":{`...)
	P := sn.P()
	rows := 0
	r := newPVRow(sn, used)
	for _, a := range srcs {
		start := len(b)
		if rows > 0 {
			b = append(b, ',')
		}
		b = append(b, sn.pidJSON[a]...)
		b = append(b, ":{"...)
		n := 0
		r.reset(a)
		best := sn.best[a*P : a*P+P]
		for _, d := range dsts {
			dev := best[d]
			if a != d && dev < 0 || a == d && len(sn.pids[a].Devices) == 0 {
				continue
			}
			key := sn.pidKeyJSON[d] // `,"<PID>":[`
			if n == 0 {
				key = key[1:]
			}
			n++
			b = append(b, key...)
			if a != d {
				b = r.emit(b, dev)
			}
			b = append(b, ']')
		}
		if n == 0 {
			b = b[:start]
			continue
		}
		rows++
		b = append(b, '}')
		if len(b) >= flushAt { // between rows only: a row's paths are found by offset in b
			if _, err := w.Write(b); err != nil {
				return nil, err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(append(b, "}}"...))
	return used, err
}

// pvRow locates, while one source PID's row is written, the JSON fragment ("a","b",…)
// of the ANE path from the source to each device whose path was written or built: in
// the row buffer (written as an entry's value) or in the side arena (built as the
// ancestor of an entry written before its own).
type pvRow struct {
	sn    *snapshot
	used  []bool
	pred  []int32 // the source's forest: link by which each device is reached
	stamp int32   // the row's number (from 1)
	loc   []pvLoc // per device
	arena []byte
	stack []int32
}

// pvLoc is where a device's fragment is, valid for the row whose stamp is at.
type pvLoc struct {
	at       int32 // 0: none
	off, end int32
	inRow    bool // in the row buffer, else in the arena
}

func newPVRow(sn *snapshot, used []bool) *pvRow {
	return &pvRow{sn: sn, used: used, loc: make([]pvLoc, len(sn.devices)), arena: make([]byte, 0, 64<<10)}
}

// reset starts source PID a's row. A new stamp replaces clearing the locations (one
// per row, not per source: a source listed twice must not find its first row's).
func (r *pvRow) reset(a int) {
	r.pred = r.sn.pred[a]
	r.stamp++
	r.arena = r.arena[:0]
}

// frag is the fragment at l (located for this source), in b or the arena.
func (r *pvRow) frag(b []byte, l *pvLoc) []byte {
	if l.inRow {
		return b[l.off:l.end]
	}
	return r.arena[l.off:l.end]
}

// extend appends to dst the fragment of the path through link e: its tail's fragment
// (located) and the ANE.
func (r *pvRow) extend(dst, b []byte, e int32) []byte {
	le := &r.sn.pvLinks[e]
	if r.loc[le.tail].at != r.stamp {
		r.build(b, le.tail)
	}
	r.used[e] = true
	l := &r.loc[le.tail]
	if l.end == l.off { // the tail is a root: the ANE alone
		return append(dst, r.sn.aneBuf[le.off+1:le.end]...)
	}
	dst = append(dst, r.frag(b, l)...)
	return append(dst, r.sn.aneBuf[le.off:le.end]...) // `,"<ANE>"`
}

// emit appends device v's fragment to b (the row) and records it there.
func (r *pvRow) emit(b []byte, v int32) []byte {
	o := len(b)
	switch l := &r.loc[v]; {
	case l.at == r.stamp: // built before, as an ancestor
		b = append(b, r.frag(b, l)...)
	case r.pred == nil || r.pred[v] < 0: // a device of the source PID
	default:
		b = r.extend(b, b, r.pred[v])
	}
	r.loc[v] = pvLoc{at: r.stamp, off: int32(o), end: int32(len(b)), inRow: true}
	return b
}

// build puts device v's fragment in the arena: climbs to a located device or a root,
// then builds back down, each from its predecessor's fragment (in b or the arena).
func (r *pvRow) build(b []byte, v int32) {
	st := r.stack[:0]
	for u := v; r.loc[u].at != r.stamp; {
		st = append(st, u)
		e := r.pred[u]
		if e < 0 {
			break
		}
		u = r.sn.pvLinks[e].tail
	}
	r.stack = st[:0]
	for i := len(st) - 1; i >= 0; i-- {
		u := st[i]
		o := int32(len(r.arena))
		if e := r.pred[u]; e >= 0 {
			r.arena = r.extend(r.arena, b, e) // the tail is located: no recursion
		}
		r.loc[u] = pvLoc{at: r.stamp, off: o, end: int32(len(r.arena))}
	}
}

func (s *Server) handlePVEndpointCost(w http.ResponseWriter, r *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	if e := rejectScalarFields(o); e != nil {
		return e
	}
	ct, e := parseCostType(o, "cost-type", true)
	if e != nil {
		return e
	}
	srcs, dsts, e := s.endpointPairs(r, sn, o)
	if e != nil {
		return e
	}
	props, e := parseANEProps(o)
	if e != nil {
		return e
	}
	used := make([]bool, len(sn.anes))
	ecm := map[string]map[string][]string{}
	sn.endpointPairs(srcs, dsts, func(a, d endpoint, _, _, _ float64, path []int32) {
		names := make([]string, len(path))
		for i, e := range path {
			names[i] = sn.anes[e].Name
			used[e] = true
		}
		if ecm[a.key] == nil {
			ecm[a.key] = map[string][]string{}
		}
		ecm[a.key][d.key] = names
	})
	vt := VersionTag{ResourceID: idEndpointCostPV + "." + partECS, Tag: sn.tags[hashPV]}
	first, _ := json.Marshal(map[string]any{
		"meta":              map[string]any{"vtag": vt, "cost-type": ct},
		"endpoint-cost-map": ecm,
	})
	return writeMultipart(w, s.contentIDDomain(r), MediaEndpointCost, partECS,
		func(pw io.Writer) ([]bool, error) { _, err := pw.Write(first); return used, err },
		func(used []bool) []byte { return sn.propPart(idEndpointCostPV, vt, used, props) })
}

// --- the bottleneck structure graph (draft-giraltyellamraju-alto-bsg-requirements) ---

// BSGVertex is a vertex of the bottleneck structure graph: a link (an ANE, or the
// demand cap of a flow) or a path (a PGG vertex: the flows sharing one path).
type BSGVertex struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "link", "demand" or "path"
	// Level is the water-filling round that fixed it (links: 0 when never a bottleneck).
	Level int `json:"level"`
	// Links: capacity, load and fair share (bit/s), flows crossing it.
	CapacityBps  *float64 `json:"capacity-bps,omitempty"`
	LoadBps      *float64 `json:"load-bps,omitempty"`
	FairShareBps *float64 `json:"fair-share-bps,omitempty"`
	Flows        int      `json:"flows,omitempty"`
	// Paths: the rate of each member flow, their number and total, the ANE path.
	RateBps  *float64 `json:"rate-bps,omitempty"`
	Members  int      `json:"members,omitempty"`
	TotalBps *float64 `json:"total-bps,omitempty"`
	ANEPath  []string `json:"ane-path,omitempty"`
}

// BSGEdge is a directed edge: link→path "bottleneck" (the path's flows are
// bottlenecked at the link), path→link "traverses", demand→path "demand".
type BSGEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
}

func bps(gbps float64) *float64 { v := gbps * 1e9; return &v }

func (s *Server) handleBSG(w http.ResponseWriter, _ *http.Request, sn *snapshot, _ []byte) *Error {
	aneOf := make(map[string]string, len(sn.anes))
	for _, a := range sn.anes {
		aneOf[a.Link] = a.Name
	}
	name := func(link string) string {
		if n, ok := aneOf[link]; ok {
			return n
		}
		return link // demand caps: "demand:<flow>"
	}
	g := sn.bsg
	vs := make([]BSGVertex, 0, len(g.Links)+len(g.Flows))
	for _, l := range g.Links {
		v := BSGVertex{ID: name(l.ID), Kind: l.Kind, Level: l.Level, CapacityBps: bps(l.Capacity), LoadBps: bps(l.Load), Flows: l.Flows}
		if l.FairShare != nil {
			v.FairShareBps = bps(*l.FairShare)
		}
		vs = append(vs, v)
	}
	for _, f := range g.Flows {
		v := BSGVertex{ID: f.ID, Kind: "path", Level: f.Level, RateBps: bps(f.Rate), Members: len(f.Members), TotalBps: bps(f.Total)}
		for _, l := range f.Path {
			v.ANEPath = append(v.ANEPath, name(l))
		}
		vs = append(vs, v)
	}
	es := make([]BSGEdge, 0, len(g.Edges))
	for _, e := range g.Edges {
		from, to := e.From, e.To
		switch e.Kind {
		case bottleneck.EdgeBottleneck:
			from = name(from)
		case bottleneck.EdgeTraverses:
			to = name(to)
		}
		es = append(es, BSGEdge{From: from, To: to, Kind: e.Kind})
	}
	meta := map[string]any{"vtag": sn.vtag(idBSG, hashBSG), "graph": "pgg"}
	if sn.bsgErr != "" {
		meta["priv:tf-error"] = sn.bsgErr
	}
	return writeJSON(w, MediaBSG, map[string]any{
		"meta": meta,
		"bsg": map[string]any{"levels": g.Levels, "total-throughput-bps": g.Total * 1e9,
			"vertices": vs, "edges": es},
	})
}
