package alto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Resource IDs.
const (
	idDirectory        = "directory"
	idNetworkMap       = "networkmap"
	idNetworkMapFilter = "networkmap-filtered"
	idCostMapFilter    = "costmap-filtered"
	idEndpointProp     = "endpointprop"
	idEndpointCost     = "endpointcost"
	idPropMap          = "propmap"
	idPropMapFilter    = "propmap-filtered"
	idCostMapPV        = "costmap-pv"
	idEndpointCostPV   = "endpointcost-pv"
	idBSG              = "bsg"
	idUpdates          = "update-stream"
)

// maxCostTypes is the multi-cost capability (RFC 8189 §3.2: max-cost-types).
const maxCostTypes = 5

// Property names.
var (
	propPID     = idNetworkMap + ".pid" // resource-specific "pid" of endpoints (RFC 7285 §11.4.1.4, RFC 9240 §6.2.1)
	propDevice  = "priv:tf-device"      // the twin device owning an address
	propDomain  = "priv:tf-domain"      // a PID's administrative domain
	propDevices = "priv:tf-devices"     // a PID's devices
	domPID      = idNetworkMap + ".pid" // the PID entity domain (RFC 9240 §6.3)
)

// registry is the one table of resources: routes and the IRD are both built from it.
func (s *Server) registry() []*resource {
	rs := []*resource{{
		ID: idDirectory, Method: http.MethodGet, Path: "/directory", MediaType: MediaDirectory, Hidden: true,
		Handle: s.handleDirectory,
	}, {
		ID: idNetworkMap, Method: http.MethodGet, Path: "/networkmap", MediaType: MediaNetworkMap,
		Handle: s.handleNetworkMap,
	}, {
		ID: idNetworkMapFilter, Method: http.MethodPost, Path: "/networkmap/filtered", MediaType: MediaNetworkMap,
		Accepts: MediaNetworkMapFilter, Uses: []string{idNetworkMap},
		Handle: s.handleNetworkMapFiltered,
	}}
	for _, c := range costTypes {
		if c.Type.Mode == ModeArray {
			continue
		}
		name := c.Name
		rs = append(rs, &resource{
			ID: "costmap-" + name, Method: http.MethodGet, Path: "/costmap/" + name, MediaType: MediaCostMap,
			Uses:         []string{idNetworkMap},
			Capabilities: func() map[string]any { return map[string]any{"cost-type-names": []string{name}} },
			Handle: func(w http.ResponseWriter, r *http.Request, sn *snapshot, _ []byte) *Error {
				return s.handleFullCostMap(w, sn, "costmap-"+name, c.Type)
			},
		})
	}
	rs = append(rs, &resource{
		ID: idCostMapFilter, Method: http.MethodPost, Path: "/costmap/filtered", MediaType: MediaCostMap,
		Accepts: MediaCostMapFilter, Uses: []string{idNetworkMap},
		Capabilities: func() map[string]any {
			return map[string]any{"cost-type-names": scalarCostTypeNames(), "cost-constraints": true,
				"max-cost-types": maxCostTypes, "testable-cost-type-names": scalarCostTypeNames()}
		},
		Handle: s.handleFilteredCostMap,
	}, &resource{
		ID: idEndpointProp, Method: http.MethodPost, Path: "/endpointprop", MediaType: MediaEndpointProp,
		Accepts: MediaEndpointPropParam, Uses: []string{idNetworkMap},
		Capabilities: func() map[string]any { return map[string]any{"prop-types": []string{propPID, propDevice}} },
		Handle:       s.handleEndpointProp,
	}, &resource{
		ID: idEndpointCost, Method: http.MethodPost, Path: "/endpointcost", MediaType: MediaEndpointCost,
		Accepts: MediaEndpointCostParam,
		Capabilities: func() map[string]any {
			return map[string]any{"cost-type-names": scalarCostTypeNames(), "cost-constraints": true,
				"max-cost-types": maxCostTypes, "testable-cost-type-names": scalarCostTypeNames()}
		},
		Handle: s.handleEndpointCost,
	}, &resource{
		ID: idPropMap, Method: http.MethodGet, Path: "/propmap", MediaType: MediaPropMap, Uses: []string{idNetworkMap},
		Capabilities: propMapCapabilities, Handle: s.handlePropMap,
	}, &resource{
		ID: idPropMapFilter, Method: http.MethodPost, Path: "/propmap/filtered", MediaType: MediaPropMap,
		Accepts: MediaPropMapParams, Uses: []string{idNetworkMap},
		Capabilities: propMapCapabilities, Handle: s.handlePropMapFiltered,
	}, &resource{
		ID: idCostMapPV, Method: http.MethodPost, Path: "/costmap/pv", MediaType: MediaPVCostMap,
		Accepts: MediaCostMapFilter, Uses: []string{idNetworkMap},
		Capabilities: func() map[string]any {
			return map[string]any{"cost-type-names": []string{"path-vector"}, "ane-property-names": aneProps}
		},
		Handle: s.handlePVCostMap,
	}, &resource{
		ID: idEndpointCostPV, Method: http.MethodPost, Path: "/endpointcost/pv", MediaType: MediaPVEndpointCost,
		Accepts: MediaEndpointCostParam,
		Capabilities: func() map[string]any {
			return map[string]any{"cost-type-names": []string{"path-vector"}, "ane-property-names": aneProps}
		},
		Handle: s.handlePVEndpointCost,
	}, &resource{
		ID: idBSG, Method: http.MethodGet, Path: "/bsg", MediaType: MediaBSG,
		Handle: s.handleBSG,
	})
	rs = append(rs, s.interdomainResource(), s.streams.resource(), s.streams.controlResource())
	return rs
}

func propMapCapabilities() map[string]any {
	return map[string]any{"mappings": map[string][]string{
		"ipv4": {propPID, propDevice}, "ipv6": {propPID, propDevice}, domPID: {propDomain, propDevices},
	}}
}

// --- Information Resource Directory (RFC 7285 §9) ---

type irdEntry struct {
	URI          string         `json:"uri"`
	MediaType    string         `json:"media-type"`
	Accepts      string         `json:"accepts,omitempty"`
	Capabilities map[string]any `json:"capabilities,omitempty"`
	Uses         []string       `json:"uses,omitempty"`
}

func (s *Server) handleDirectory(w http.ResponseWriter, r *http.Request, _ *snapshot, _ []byte) *Error {
	types := map[string]CostType{}
	for _, c := range costTypes {
		types[c.Name] = c.Type
	}
	res := map[string]irdEntry{}
	for _, rs := range s.resources {
		if rs.Hidden {
			continue
		}
		e := irdEntry{URI: s.uri(r, rs.Path), MediaType: rs.MediaType, Accepts: rs.Accepts, Uses: rs.Uses}
		if rs.Capabilities != nil {
			e.Capabilities = rs.Capabilities()
		}
		res[rs.ID] = e
	}
	return writeJSON(w, MediaDirectory, map[string]any{
		"meta":      map[string]any{"cost-types": types, "default-alto-network-map": idNetworkMap},
		"resources": res,
	})
}

// --- network map (RFC 7285 §11.2.1, §11.3.1) ---

type netmapMeta struct {
	VTag VersionTag `json:"vtag"`
}

func (sn *snapshot) endpointGroup(p pidInfo, types map[string]bool) map[string][]string {
	g := map[string][]string{}
	if types == nil || types["ipv4"] {
		if l := prefixStrings(p.IPv4); len(l) > 0 {
			g["ipv4"] = l
		}
	}
	if types == nil || types["ipv6"] {
		if l := prefixStrings(p.IPv6); len(l) > 0 {
			g["ipv6"] = l
		}
	}
	return g
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func (s *Server) handleNetworkMap(w http.ResponseWriter, _ *http.Request, sn *snapshot, _ []byte) *Error {
	nm := make(map[string]map[string][]string, sn.P())
	for _, p := range sn.pids {
		nm[p.Name] = sn.endpointGroup(p, nil)
	}
	return writeJSON(w, MediaNetworkMap, map[string]any{
		"meta":        netmapMeta{VTag: sn.vtag(idNetworkMap, hashNetmap)},
		"network-map": nm,
	})
}

func (s *Server) handleNetworkMapFiltered(w http.ResponseWriter, _ *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	pids, _, e := o.strList("pids", true)
	if e != nil {
		return e
	}
	for i, p := range pids {
		if !validName(p) {
			return invalidValue("pids/"+strconv.Itoa(i), p)
		}
	}
	ats, hasTypes, e := o.strList("address-types", false)
	if e != nil {
		return e
	}
	var types map[string]bool
	if hasTypes && len(ats) > 0 {
		types = map[string]bool{}
		for i, t := range ats {
			if t != "ipv4" && t != "ipv6" {
				return invalidValue("address-types/"+strconv.Itoa(i), t)
			}
			types[t] = true
		}
	}
	nm := map[string]map[string][]string{}
	sel := pids
	if len(sel) == 0 { // an empty list selects every PID (RFC 7285 §11.3.1.3)
		for _, p := range sn.pids {
			sel = append(sel, p.Name)
		}
	}
	for _, name := range sel {
		if i, ok := sn.pidIdx[name]; ok { // unknown PIDs are ignored
			nm[name] = sn.endpointGroup(sn.pids[i], types)
		}
	}
	return writeJSON(w, MediaNetworkMap, map[string]any{
		"meta":        netmapMeta{VTag: sn.vtag(idNetworkMap, hashNetmap)},
		"network-map": nm,
	})
}

// --- cost maps (RFC 7285 §11.2.3, §11.3.2; RFC 8189) ---

// pairValues computes, for the pairs (srcs × dsts) of PID indices, one value slice
// per cost type, ordinal ranks computed over the pairs.
func (sn *snapshot) pairValues(srcs, dsts []int, types []CostType) [][]float64 {
	P := sn.P()
	out := make([][]float64, len(types))
	for t, ct := range types {
		m := sn.cost[ct.Metric]
		v := make([]float64, 0, len(srcs)*len(dsts))
		for _, a := range srcs {
			row := m[a*P : a*P+P]
			for _, b := range dsts {
				v = append(v, row[b])
			}
		}
		if ct.Mode == ModeOrdinal {
			ordinal(v)
		}
		out[t] = v
	}
	return out
}

// selection is the PID indices of a pids filter (empty: all), deduplicated; unknown
// PID names are ignored.
func (sn *snapshot) selection(names []string, field string) ([]int, *Error) {
	if len(names) == 0 {
		all := make([]int, sn.P())
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	seen := map[int]bool{}
	var out []int
	for i, n := range names {
		if !validName(n) {
			return nil, invalidValue(field+"/"+strconv.Itoa(i), n)
		}
		if k, ok := sn.pidIdx[n]; ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Ints(out)
	return out, nil
}

// costMapMeta is the meta of a cost map.
type costMapMeta struct {
	DependentVTags []VersionTag `json:"dependent-vtags"`
	CostType       *CostType    `json:"cost-type,omitempty"`
	MultiCostTypes []CostType   `json:"multi-cost-types,omitempty"`
	VTag           *VersionTag  `json:"vtag,omitempty"`
}

// flushAt is the size at which the streaming encoders hand their buffer to the writer.
const flushAt = 256 << 10

// encodeCostMap writes a cost map to w: rows of src → dst → value (or array of values
// for multi-cost), pairs failing q's constraints or without a value left out.
func (sn *snapshot) encodeCostMap(w io.Writer, meta costMapMeta, srcs, dsts []int, q *costQuery) error {
	vals := sn.pairValues(srcs, dsts, q.types)
	tested := vals
	if !sameTypes(q.testable, q.types) {
		tested = sn.pairValues(srcs, dsts, q.testable)
	}
	mb, _ := json.Marshal(meta)
	b := make([]byte, 0, flushAt+64<<10)
	b = append(b, `{"meta":`...)
	b = append(b, mb...)
	b = append(b, `,"cost-map":{`...)
	tv := make([]float64, len(q.testable))
	firstRow := true
	k := 0
	for _, a := range srcs {
		rowStart := len(b)
		if !firstRow {
			b = append(b, ',')
		}
		b = append(b, sn.pidJSON[a]...)
		b = append(b, ":{"...)
		n := 0
		for _, bi := range dsts {
			i := k
			k++
			has := false
			for t := range vals {
				if !math.IsNaN(vals[t][i]) {
					has = true
				}
			}
			if !has {
				continue
			}
			for t := range tested {
				tv[t] = tested[t][i]
			}
			if !q.passes(tv) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, sn.pidJSON[bi]...)
			b = append(b, ':')
			if q.multi {
				b = append(b, '[')
				for t := range vals {
					if t > 0 {
						b = append(b, ',')
					}
					b = appendNumber(b, vals[t][i])
				}
				b = append(b, ']')
			} else {
				b = appendNumber(b, vals[0][i])
			}
		}
		if n == 0 {
			b = b[:rowStart]
			continue
		}
		firstRow = false
		b = append(b, '}')
		if len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(append(b, "}}\n"...))
	return err
}

func sameTypes(a, b []CostType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bodyCache keeps encoded full-map bodies per snapshot.
type bodyCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (sn *snapshot) cached(key string, build func() []byte) []byte {
	sn.bodies.mu.Lock()
	defer sn.bodies.mu.Unlock()
	if b, ok := sn.bodies.m[key]; ok {
		return b
	}
	if sn.bodies.m == nil {
		sn.bodies.m = map[string][]byte{}
	}
	b := build()
	sn.bodies.m[key] = b
	return b
}

func (s *Server) handleFullCostMap(w http.ResponseWriter, sn *snapshot, rid string, ct CostType) *Error {
	b := sn.cached(rid, func() []byte {
		all, _ := sn.selection(nil, "")
		vt := sn.vtag(rid, hashCost+ct.Metric)
		meta := costMapMeta{DependentVTags: []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}, CostType: &ct, VTag: &vt}
		var buf bytes.Buffer
		_ = sn.encodeCostMap(&buf, meta, all, all, &costQuery{types: []CostType{ct}, testable: []CostType{ct}})
		return buf.Bytes()
	})
	w.Header().Set("Content-Type", MediaCostMap)
	_, _ = w.Write(b)
	return nil
}

// parsePIDFilter reads the "pids" object of a filtered cost map request.
func (sn *snapshot) parsePIDFilter(o object) (srcs, dsts []int, e *Error) {
	po, ok, e := o.obj("pids", false)
	if e != nil {
		return nil, nil, e
	}
	var sl, dl []string
	if ok {
		if sl, _, e = po.strList("srcs", false); e != nil {
			return nil, nil, e
		}
		if dl, _, e = po.strList("dsts", false); e != nil {
			return nil, nil, e
		}
	}
	if srcs, e = sn.selection(sl, "pids/srcs"); e != nil {
		return nil, nil, e
	}
	if dsts, e = sn.selection(dl, "pids/dsts"); e != nil {
		return nil, nil, e
	}
	return srcs, dsts, nil
}

func (s *Server) handleFilteredCostMap(w http.ResponseWriter, _ *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	q, e := parseCostQuery(o, maxCostTypes)
	if e != nil {
		return e
	}
	srcs, dsts, e := sn.parsePIDFilter(o)
	if e != nil {
		return e
	}
	meta := costMapMeta{DependentVTags: []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}}
	if q.multi {
		meta.MultiCostTypes = q.types
	} else {
		meta.CostType = &q.types[0]
	}
	w.Header().Set("Content-Type", MediaCostMap)
	_ = sn.encodeCostMap(w, meta, srcs, dsts, q) // a failed write is the client gone
	return nil
}

// --- endpoints (RFC 7285 §11.4, §11.5) ---

// endpoint is a typed endpoint address of a request and the devices it resolves to.
type endpoint struct {
	key     string // as the client wrote it
	addr    netip.Addr
	pid     int
	devices []int // empty: no device (the default PID)
	device  int   // the owning device, -1 if the address's prefix belongs to several
}

// parseTypedAddr parses "ipv4:<addr>" or "ipv6:<addr>" (RFC 7285 §10.4.3).
func parseTypedAddr(field, s string) (netip.Addr, *Error) {
	typ, a, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, invalidValue(field, s)
	}
	addr, err := netip.ParseAddr(a)
	if err != nil || addr.Zone() != "" || (typ == "ipv4" && !addr.Is4()) || (typ == "ipv6" && !addr.Is6()) || (typ != "ipv4" && typ != "ipv6") {
		return netip.Addr{}, invalidValue(field, s)
	}
	return addr, nil
}

func (sn *snapshot) resolve(key string, addr netip.Addr) endpoint {
	ep := endpoint{key: key, addr: addr, device: -1}
	o, ok := sn.table.lookup(addr)
	if !ok {
		return ep
	}
	ep.pid = o.pid
	if o.device >= 0 {
		ep.device = o.device
		ep.devices = []int{o.device}
	} else {
		ep.devices = sn.pids[o.pid].Devices
	}
	return ep
}

func (sn *snapshot) parseEndpoints(o object, name string, required bool) ([]endpoint, *Error) {
	l, _, e := o.strList(name, required)
	if e != nil {
		return nil, e
	}
	seen := map[string]bool{}
	var out []endpoint
	for i, s := range l {
		a, e := parseTypedAddr(o.at(name)+"/"+strconv.Itoa(i), s)
		if e != nil {
			return nil, e
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, sn.resolve(s, a))
	}
	return out, nil
}

func (s *Server) handleEndpointProp(w http.ResponseWriter, _ *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	props, _, e := o.strList("properties", true)
	if e != nil {
		return e
	}
	if len(props) == 0 {
		return invalidValue("properties", "must not be empty")
	}
	for i, p := range props {
		if p != propPID && p != propDevice {
			return invalidValue("properties/"+strconv.Itoa(i), p)
		}
	}
	eps, e := sn.parseEndpoints(o, "endpoints", true)
	if e != nil {
		return e
	}
	out := map[string]map[string]string{}
	for _, ep := range eps {
		m := map[string]string{}
		for _, p := range props {
			switch p {
			case propPID:
				m[p] = sn.pids[ep.pid].Name
			case propDevice:
				if ep.device >= 0 {
					m[p] = sn.devices[ep.device].ID
				}
			}
		}
		out[ep.key] = m
	}
	return writeJSON(w, MediaEndpointProp, map[string]any{
		"meta":                map[string]any{"dependent-vtags": []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}},
		"endpoint-properties": out,
	})
}

// endpointPairs evaluates cost types between endpoints: one shortest-path forest per
// source endpoint's devices. fn receives each reachable pair with its values and path.
func (sn *snapshot) endpointPairs(srcs, dsts []endpoint, fn func(s, d endpoint, rc, hc, bw float64, path []int32)) {
	for _, src := range srcs {
		if len(src.devices) == 0 {
			continue
		}
		tr, err := sn.g.ShortestTree(src.devices, sn.opts)
		if err != nil {
			continue
		}
		minBW := make([]float64, len(sn.devices))
		for _, v := range tr.Order {
			if e := tr.Pred[v]; e < 0 {
				minBW[v] = math.Inf(1)
			} else {
				from, _ := sn.g.LinkEnds(int(e))
				minBW[v] = math.Min(minBW[from], sn.anes[e].EstGbps)
			}
		}
		for _, dst := range dsts {
			best := -1
			for _, d := range dst.devices {
				if math.IsInf(tr.Dist[d], 1) {
					continue
				}
				if best < 0 || tr.Dist[d] < tr.Dist[best] || (tr.Dist[d] == tr.Dist[best] && tr.Hops[d] < tr.Hops[best]) {
					best = d
				}
			}
			if best < 0 {
				continue
			}
			bw := math.NaN()
			if tr.Hops[best] > 0 {
				bw = minBW[best] * 1e6
			}
			fn(src, dst, pathLatency(sn, tr, best), float64(tr.Hops[best]), bw, tr.PathTo(best))
		}
	}
}

func (s *Server) srcEndpoints(r *http.Request, sn *snapshot, eo object) ([]endpoint, *Error) {
	srcs, e := sn.parseEndpoints(eo, "srcs", false)
	if e != nil {
		return nil, e
	}
	if len(srcs) == 0 { // RFC 7285 §11.5.1.3: the client's own address
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return nil, invalidValue("endpoints/srcs", "no srcs and no client address")
		}
		a := ap.Addr().Unmap()
		key := "ipv4:" + a.String()
		if a.Is6() {
			key = "ipv6:" + a.String()
		}
		srcs = []endpoint{sn.resolve(key, a)}
	}
	return srcs, nil
}

func (s *Server) handleEndpointCost(w http.ResponseWriter, r *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	q, e := parseCostQuery(o, maxCostTypes)
	if e != nil {
		return e
	}
	srcs, dsts, e := s.endpointPairs(r, sn, o)
	if e != nil {
		return e
	}
	type pair struct {
		s, d string
		v    map[string]float64
	}
	var pairs []pair
	sn.endpointPairs(srcs, dsts, func(a, b endpoint, rc, hc, bw float64, _ []int32) {
		pairs = append(pairs, pair{a.key, b.key, map[string]float64{MetricRoutingCost: rc, MetricHopCount: hc, MetricBWAvailable: bw}})
	})
	column := func(ct CostType) []float64 {
		v := make([]float64, len(pairs))
		for i, p := range pairs {
			v[i] = p.v[ct.Metric]
		}
		if ct.Mode == ModeOrdinal {
			ordinal(v)
		}
		return v
	}
	vals := make([][]float64, len(q.types))
	for t, ct := range q.types {
		vals[t] = column(ct)
	}
	tested := make([][]float64, len(q.testable))
	for t, ct := range q.testable {
		tested[t] = column(ct)
	}
	ecm := map[string]map[string]any{}
	tv := make([]float64, len(q.testable))
	for i, p := range pairs {
		has := false
		for t := range vals {
			has = has || !math.IsNaN(vals[t][i])
		}
		for t := range tested {
			tv[t] = tested[t][i]
		}
		if !has || !q.passes(tv) {
			continue
		}
		var v any
		if q.multi {
			arr := make([]any, len(vals))
			for t := range vals {
				arr[t] = jsonNumber(vals[t][i])
			}
			v = arr
		} else {
			v = jsonNumber(vals[0][i])
		}
		if ecm[p.s] == nil {
			ecm[p.s] = map[string]any{}
		}
		ecm[p.s][p.d] = v
	}
	meta := map[string]any{}
	if q.multi {
		meta["multi-cost-types"] = q.types
	} else {
		meta["cost-type"] = q.types[0]
	}
	return writeJSON(w, MediaEndpointCost, map[string]any{"meta": meta, "endpoint-cost-map": ecm})
}

// Bounds of one endpoint cost query: each distinct source costs a shortest-path
// search.
const (
	maxEndpointSrcs  = 1000
	maxEndpointPairs = 1_000_000
)

// endpointPairs reads a request's "endpoints" object: its sources (the client's own
// address when none, see srcEndpoints) and destinations, held to endpointBudget.
func (s *Server) endpointPairs(r *http.Request, sn *snapshot, o object) (srcs, dsts []endpoint, e *Error) {
	eo, _, e := o.obj("endpoints", true)
	if e != nil {
		return nil, nil, e
	}
	if srcs, e = s.srcEndpoints(r, sn, eo); e != nil {
		return nil, nil, e
	}
	if dsts, e = sn.parseEndpoints(eo, "dsts", true); e != nil {
		return nil, nil, e
	}
	if e := endpointBudget(srcs, dsts); e != nil {
		return nil, nil, e
	}
	return srcs, dsts, nil
}

func endpointBudget(srcs, dsts []endpoint) *Error {
	switch {
	case len(dsts) == 0:
		return invalidValue("endpoints/dsts", "must not be empty")
	case len(srcs) > maxEndpointSrcs:
		return invalidValue("endpoints/srcs", fmt.Sprintf("%d sources (at most %d)", len(srcs), maxEndpointSrcs))
	case len(srcs)*len(dsts) > maxEndpointPairs:
		return invalidValue("endpoints", fmt.Sprintf("%d pairs (at most %d)", len(srcs)*len(dsts), maxEndpointPairs))
	}
	return nil
}

// jsonNumber is v as a JSON value (nil for NaN).
func jsonNumber(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return json.RawMessage(appendNumber(nil, v))
}

// --- entity property maps (RFC 9240) ---

func (sn *snapshot) pidProps(p pidInfo, props map[string]bool) map[string]any {
	m := map[string]any{}
	if props == nil || props[propDomain] {
		if p.Domain != "" {
			m[propDomain] = p.Domain
		}
	}
	if props == nil || props[propDevices] {
		m[propDevices] = sn.pidDeviceIDs(p)
	}
	return m
}

func (sn *snapshot) addrProps(key string, pfx netip.Prefix, props map[string]bool) (map[string]any, bool) {
	o, ok := sn.table.lookupPrefix(pfx)
	if !ok {
		return nil, false
	}
	m := map[string]any{}
	if props == nil || props[propPID] {
		m[propPID] = sn.pids[o.pid].Name
	}
	if (props == nil || props[propDevice]) && o.device >= 0 {
		m[propDevice] = sn.devices[o.device].ID
	}
	return m, true
}

func (s *Server) handlePropMap(w http.ResponseWriter, _ *http.Request, sn *snapshot, _ []byte) *Error {
	pm := map[string]map[string]any{}
	for _, p := range sn.pids {
		pm[domPID+":"+p.Name] = sn.pidProps(p, nil)
		for _, pfx := range append(append([]netip.Prefix(nil), p.IPv4...), p.IPv6...) {
			fam := "ipv4"
			if pfx.Addr().Is6() {
				fam = "ipv6"
			}
			if m, ok := sn.addrProps("", pfx, nil); ok {
				pm[fam+":"+pfx.String()] = m
			}
		}
	}
	return writeJSON(w, MediaPropMap, map[string]any{
		"meta":         map[string]any{"dependent-vtags": []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}},
		"property-map": pm,
	})
}

func (s *Server) handlePropMapFiltered(w http.ResponseWriter, _ *http.Request, sn *snapshot, body []byte) *Error {
	o, e := parseObject(body)
	if e != nil {
		return e
	}
	ents, _, e := o.strList("entities", true)
	if e != nil {
		return e
	}
	props, _, e := o.strList("properties", true)
	if e != nil {
		return e
	}
	if len(ents) == 0 {
		return invalidValue("entities", "must not be empty")
	}
	if len(props) == 0 {
		return invalidValue("properties", "must not be empty")
	}
	want := map[string]bool{}
	for i, p := range props {
		if p != propPID && p != propDevice && p != propDomain && p != propDevices {
			return invalidValue("properties/"+strconv.Itoa(i), p)
		}
		want[p] = true
	}
	pm := map[string]map[string]any{}
	for i, ent := range ents {
		field := "entities/" + strconv.Itoa(i)
		dom, id, ok := strings.Cut(ent, ":")
		if !ok || id == "" {
			return invalidValue(field, ent)
		}
		var m map[string]any
		switch dom {
		case "ipv4", "ipv6":
			pfx, err := netip.ParsePrefix(id)
			if err != nil {
				a, err2 := netip.ParseAddr(id)
				if err2 != nil {
					return invalidValue(field, ent)
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			if pfx.Addr().Zone() != "" || (dom == "ipv4") != pfx.Addr().Is4() {
				return invalidValue(field, ent)
			}
			m, _ = sn.addrProps(ent, pfx.Masked(), want)
		case domPID:
			if !validName(id) {
				return invalidValue(field, ent)
			}
			if k, ok := sn.pidIdx[id]; ok {
				m = sn.pidProps(sn.pids[k], want)
			}
		default:
			return invalidValue(field, ent)
		}
		if len(m) > 0 {
			pm[ent] = m
		}
	}
	return writeJSON(w, MediaPropMap, map[string]any{
		"meta":         map[string]any{"dependent-vtags": []VersionTag{sn.vtag(idNetworkMap, hashNetmap)}},
		"property-map": pm,
	})
}
