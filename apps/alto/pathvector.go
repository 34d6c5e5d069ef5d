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

func (sn *snapshot) aneValue(a *ane, prop string) any {
	switch prop {
	case PropMaxReservableBW:
		return jsonNumber(math.Max(0, a.CapacityGbps-a.LoadGbps) * 1e9)
	case PropEstAvailBW:
		return jsonNumber(a.EstGbps * 1e9)
	case PropBSGLevel:
		return a.Level
	}
	return nil
}

// propPart encodes the ".ane" property map part for the ANEs used.
func (sn *snapshot) propPart(rid string, first VersionTag, used []bool, props []string) []byte {
	pm := map[string]map[string]any{}
	if len(props) > 0 {
		for e, u := range used {
			if !u {
				continue
			}
			m := map[string]any{}
			for _, p := range props {
				m[p] = sn.aneValue(&sn.anes[e], p)
			}
			pm[".ane:"+sn.anes[e].Name] = m
		}
	}
	b, _ := json.Marshal(map[string]any{
		"meta": map[string]any{
			"vtag":            VersionTag{ResourceID: rid + "." + partPropMap, Tag: sn.tags[hashPV]},
			"dependent-vtags": []VersionTag{first},
		},
		"property-map": pm,
	})
	return b
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
// For each source PID the JSON of the ANE path to every device is built once, from its
// predecessor's in the source's shortest-path forest (pathFrags), so a pair costs one
// copy of its path rather than a walk up the forest and a reversal; the ANEs a row
// names are marked by walking up from each destination until a device already marked
// for this source.
func (sn *snapshot) encodePVCostMap(w io.Writer, rid string, ct CostType, srcs, dsts []int) ([]bool, error) {
	used := make([]bool, len(sn.anes))
	meta, _ := json.Marshal(costMapMeta{
		DependentVTags: []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}, CostType: &ct,
		VTag: &VersionTag{ResourceID: rid + "." + partCostMap, Tag: sn.tags[hashPV]},
	})
	b := make([]byte, 0, flushAt+64<<10)
	b = append(b, `{"meta":`...)
	b = append(b, meta...)
	b = append(b, `,"cost-map":{`...)
	P := sn.P()
	rows := 0
	pf := newPathFrags(len(sn.devices))
	for _, a := range srcs {
		start := len(b)
		if rows > 0 {
			b = append(b, ',')
		}
		b = append(b, sn.pidJSON[a]...)
		b = append(b, ":{"...)
		n := 0
		pf.reset(a)
		for _, d := range dsts {
			dev := sn.best[a*P+d]
			if a != d && dev < 0 {
				continue
			}
			if a == d && len(sn.pids[a].Devices) == 0 {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, sn.pidJSON[d]...)
			b = append(b, ":["...)
			if a != d {
				b = append(b, pf.frag(sn, a, dev)...)
				pf.mark(sn, a, dev, used)
			}
			b = append(b, ']')
		}
		if n == 0 {
			b = b[:start]
			continue
		}
		rows++
		b = append(b, '}')
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return nil, err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(append(b, "}}"...))
	return used, err
}

// pathFrags holds, for one source PID, the JSON fragments ("a","b",…) of the ANE paths
// to the devices asked so far, each built from its forest predecessor's.
type pathFrags struct {
	src      int
	off, end []int32 // fragment of device v: arena[off[v]:end[v]]; off[v] < 0: not built
	marked   []int32 // source the device's path was marked for (+1; 0: none)
	arena    []byte
	stack    []int32
}

func newPathFrags(devices int) *pathFrags {
	pf := &pathFrags{off: make([]int32, devices), end: make([]int32, devices), marked: make([]int32, devices), arena: make([]byte, 0, 256<<10)}
	return pf
}

func (pf *pathFrags) reset(src int) {
	pf.src = src
	for i := range pf.off {
		pf.off[i] = -1
	}
	pf.arena = pf.arena[:0]
}

// frag returns the fragment of device v's path from the source.
func (pf *pathFrags) frag(sn *snapshot, a int, v int32) []byte {
	pred := sn.pred[a]
	if pred == nil {
		return nil
	}
	// climb to a built device or a root, then build back down
	st := pf.stack[:0]
	for u := v; pf.off[u] < 0; {
		st = append(st, u)
		e := pred[u]
		if e < 0 {
			break
		}
		from, _ := sn.g.LinkEnds(int(e))
		u = int32(from)
	}
	for i := len(st) - 1; i >= 0; i-- {
		u := st[i]
		e := pred[u]
		o := int32(len(pf.arena))
		if e >= 0 {
			from, _ := sn.g.LinkEnds(int(e))
			parent := pf.arena[pf.off[from]:pf.end[from]]
			pf.arena = append(pf.arena, parent...)
			if len(parent) > 0 {
				pf.arena = append(pf.arena, ',')
			}
			pf.arena = append(pf.arena, sn.aneJSON[e]...)
		}
		pf.off[u], pf.end[u] = o, int32(len(pf.arena))
	}
	pf.stack = st
	return pf.arena[pf.off[v]:pf.end[v]]
}

// mark sets used for the ANEs on device v's path from source a, stopping at a device
// whose path was marked for this source already.
func (pf *pathFrags) mark(sn *snapshot, a int, v int32, used []bool) {
	pred := sn.pred[a]
	stamp := int32(a) + 1
	for u := v; pf.marked[u] != stamp; {
		pf.marked[u] = stamp
		e := pred[u]
		if e < 0 {
			return
		}
		used[e] = true
		from, _ := sn.g.LinkEnds(int(e))
		u = int32(from)
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
