package alto

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/twin"
)

// Cost metrics served. routingcost is the twin's routing metric: the latency (ms) of
// the least-latency path, the path the twin routes flows on; hopcount is the number of
// links of that path; bw-available (RFC 9439 §5.3 metric, cost-source "estimation") is
// the bottleneck structure's estimate of the rate a new elastic flow would get along
// that path, in kbit/s (see estimateShare).
const (
	MetricRoutingCost = "routingcost"
	MetricHopCount    = "hopcount"
	MetricBWAvailable = "bw-available"
	MetricANEPath     = "ane-path"
)

var scalarMetrics = []string{MetricRoutingCost, MetricHopCount, MetricBWAvailable}

// ANE properties (RFC 9275 §6.6, and TwinFlow's own under "priv:").
const (
	PropMaxReservableBW = "max-reservable-bandwidth" // bit/s: capacity minus the max-min load
	PropBSGLevel        = "priv:tf-bsg-level"        // the link's level in the bottleneck structure (0: not a bottleneck)
	PropEstAvailBW      = "priv:tf-est-available-bandwidth"
)

var aneProps = []string{PropMaxReservableBW, PropEstAvailBW, PropBSGLevel}

// ane is one abstract network element: a directed link of the twin.
type ane struct {
	Name         string
	Link         string // directed link ID
	CapacityGbps float64
	LoadGbps     float64 // sum of the max-min rates of the flows crossing it
	EstGbps      float64 // estimated share of a new elastic flow (estimateShare)
	Level        int
}

// snapshot is everything the ALTO resources serve, computed from one revision of the
// live twin's intended state. It is immutable once built.
type snapshot struct {
	rev       uint64
	g         *routing.Graph
	opts      routing.Options
	devices   []network.Device
	pids      []pidInfo
	pidIdx    map[string]int
	table     *prefixTable
	conflicts []string
	problems  []string

	// cost matrices, P×P row-major (src, dst); NaN where there is no value
	cost map[string][]float64
	// pred[a] is the shortest-path forest of source PID a (directed link index per
	// device); best[a*P+b] the device of PID b its path ends at (-1: none)
	pred [][]int32
	best []int32
	anes []ane

	bsg    *bottleneck.Graph // the PGG
	bsgErr string

	interdomain *Interdomain // the abstraction a broker reads (interdomain.go)

	tags map[string]string // resource ID → vtag tag
	hash map[string][32]byte

	bodies bodyCache // encoded full-map bodies

	pidJSON    [][]byte // PID names as JSON strings, for the big encoders
	pidKeyJSON [][]byte // `,"<PID>":[`: a path vector entry's opening
	// for the path vector encoder: the tail device of each directed link and its ANE
	// name `,"<ANE>"` at aneBuf[off:end]
	aneBuf    []byte
	pvLinks   []pvLink
	aneByName []int32 // ANE indices in name order (property map parts)
}

// pvLink is a directed link as the path vector encoder reads it.
type pvLink struct{ tail, off, end int32 }

func (s *snapshot) P() int { return len(s.pids) }

// estimateShare is the rate x a new elastic flow gets on a link of capacity c crossed
// by flows at rates r, when the existing flows keep at most their current rates:
// Σ min(r_i, x) + x = c (water-filling the link with the newcomer). It is at least the
// headroom c − Σ r and at least the equal share c/(n+1). On the path, the estimate is
// its minimum over the links: the structure's prediction of where the newcomer would
// be bottlenecked, without recomputing the structure.
func estimateShare(c float64, rates []float64) float64 {
	sort.Float64s(rates)
	used := 0.0 // Σ of the rates below the water level
	n := len(rates)
	for i, r := range rates {
		// if the level is at most r, the flows i.. are all capped at the level
		x := (c - used) / float64(n-i+1)
		if x <= r {
			return math.Max(x, 0)
		}
		used += r
	}
	return math.Max(c-used, 0)
}

// buildSnapshot computes the snapshot of twin t (one consistent view).
func buildSnapshot(t *twin.Twin, byDomain bool) (*snapshot, error) {
	var n *network.Network
	configs := map[string][]byte{}
	var rev uint64
	if err := t.View(func(r *twin.Reader) error {
		rev = r.Revision()
		n = r.Network()
		for _, d := range n.Devices {
			if dc, err := r.DeviceConfig(d.ID); err == nil {
				configs[d.ID] = dc.Config
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	s := &snapshot{rev: rev, devices: n.Devices, cost: map[string][]float64{}}
	g, err := routing.NewGraph(n)
	if err != nil {
		return nil, fmt.Errorf("alto: routing graph: %w", err)
	}
	s.g = g
	s.opts = routing.Options{Metric: routing.Latency, ExcludeLinks: map[string]bool{}}
	for _, l := range n.Links {
		if l.OperStatus == network.StatusDisabled {
			s.opts.ExcludeLinks[l.ID] = true
		}
	}
	// network map
	in := netmapInput{devices: n.Devices, addrs: make([][]netip.Prefix, len(n.Devices))}
	for i, d := range n.Devices {
		var probs []string
		in.addrs[i], probs = deviceAddrs(d, configs[d.ID])
		s.problems = append(s.problems, probs...)
	}
	s.pids, s.table, s.conflicts = buildNetmap(in, byDomain)
	s.pidIdx = make(map[string]int, len(s.pids))
	for i, p := range s.pids {
		s.pidIdx[p.Name] = i
	}
	s.buildANEs(n)
	s.buildCosts()
	s.hashAll()
	s.buildInterdomain(n)
	s.pidJSON = make([][]byte, len(s.pids))
	for i, p := range s.pids {
		s.pidJSON[i] = appendString(nil, p.Name)
	}
	s.pidKeyJSON = make([][]byte, len(s.pids))
	for i, p := range s.pids {
		s.pidKeyJSON[i] = append(appendString([]byte{','}, p.Name), ":["...)
	}
	s.pvLinks = make([]pvLink, len(s.anes))
	for i, a := range s.anes {
		tail, _ := s.g.LinkEnds(i)
		o := int32(len(s.aneBuf))
		s.aneBuf = appendString(append(s.aneBuf, ','), a.Name)
		s.pvLinks[i] = pvLink{tail: int32(tail), off: o, end: int32(len(s.aneBuf))}
	}
	s.aneByName = make([]int32, len(s.anes))
	for i := range s.aneByName {
		s.aneByName[i] = int32(i)
	}
	sort.Slice(s.aneByName, func(i, j int) bool { return s.anes[s.aneByName[i]].Name < s.anes[s.aneByName[j]].Name })
	return s, nil
}

// buildANEs names the directed links and computes their bandwidth properties from the
// bottleneck structure of the twin's flows (each flow on its path; flows without one
// on the least-latency path).
func (s *snapshot) buildANEs(n *network.Network) {
	g := s.g
	s.anes = make([]ane, g.NumLinks())
	byID := make(map[string]int, g.NumLinks())
	capa := make(map[string]float64, len(n.Links))
	for _, l := range n.Links {
		capa[l.ID] = l.CapacityGbps
	}
	for e := range s.anes {
		id := g.LinkID(e)
		base, _ := strings.CutSuffix(id, network.ReverseSuffix)
		s.anes[e] = ane{Name: nameFor("", strings.Replace(id, network.ReverseSuffix, "@r", 1)), Link: id, CapacityGbps: capa[base]}
		byID[id] = e
	}
	rates := make([][]float64, len(s.anes))
	st, err := bottleneckState(n)
	if err != nil {
		s.bsgErr = err.Error()
		s.bsg = &bottleneck.Graph{Kind: bottleneck.GraphPGG, Flows: []bottleneck.FlowNode{}, Links: []bottleneck.LinkNode{}, Edges: []bottleneck.Edge{}}
	} else {
		fgg := st.Graph(bottleneck.GraphFGG)
		for _, f := range fgg.Flows {
			for _, l := range f.Path {
				if e, ok := byID[l]; ok {
					rates[e] = append(rates[e], f.Rate)
				}
			}
		}
		for _, l := range fgg.Links {
			if e, ok := byID[l.ID]; ok && l.Kind == "link" {
				s.anes[e].LoadGbps = l.Load
				s.anes[e].Level = l.Level
			}
		}
		s.bsg = st.Graph(bottleneck.GraphPGG)
	}
	for e := range s.anes {
		a := &s.anes[e]
		if s.opts.ExcludeLinks[strings.TrimSuffix(a.Link, network.ReverseSuffix)] {
			a.CapacityGbps, a.EstGbps = 0, 0
			continue
		}
		a.EstGbps = estimateShare(a.CapacityGbps, rates[e])
	}
}

// bottleneckState computes the max-min structure of n's flows (stable entry points:
// FromNetwork, New, Graph).
func bottleneckState(n *network.Network) (*bottleneck.State, error) {
	router, err := bottleneck.NewRouter(n, bottleneck.RouteShortest)
	if err != nil {
		return nil, err
	}
	in, err := bottleneck.FromNetwork(n, router.Route)
	if err != nil {
		return nil, err
	}
	return bottleneck.New(in)
}

// buildCosts grows one shortest-path forest per source PID and fills the matrices.
func (s *snapshot) buildCosts() {
	P := s.P()
	rc := make([]float64, P*P)
	hc := make([]float64, P*P)
	bw := make([]float64, P*P)
	for i := range rc {
		rc[i], hc[i], bw[i] = math.NaN(), math.NaN(), math.NaN()
	}
	s.pred = make([][]int32, P)
	s.best = make([]int32, P*P)
	for i := range s.best {
		s.best[i] = -1
	}
	// one forest per source PID, the PIDs shared out over the cores (each worker has
	// its own search and scratch; rows of the matrices are disjoint)
	workers := min(runtime.GOMAXPROCS(0), max(1, P/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			search := s.g.NewTreeSearch(s.opts)
			minBW := make([]float64, len(s.devices))
			for a := w; a < P; a += workers {
				s.costsFrom(a, search, minBW, rc, hc, bw)
			}
		}()
	}
	wg.Wait()
	s.cost[MetricRoutingCost] = rc
	s.cost[MetricHopCount] = hc
	s.cost[MetricBWAvailable] = bw
}

// costsFrom fills row a of the matrices from the forest of source PID a.
func (s *snapshot) costsFrom(a int, search *routing.TreeSearch, minBW, rc, hc, bw []float64) {
	P := s.P()
	pa := s.pids[a]
	if len(pa.Devices) == 0 {
		return
	}
	tr, err := search.Tree(pa.Devices)
	if err != nil {
		return // indices come from the graph: cannot happen
	}
	s.pred[a] = tr.Pred
	for _, v := range tr.Order {
		if e := tr.Pred[v]; e < 0 {
			minBW[v] = math.Inf(1)
		} else {
			from, _ := s.g.LinkEnds(int(e))
			minBW[v] = math.Min(minBW[from], s.anes[e].EstGbps)
		}
	}
	for b, pb := range s.pids {
		k := a*P + b
		if a == b {
			rc[k], hc[k] = 0, 0
			continue
		}
		bestD := -1
		for _, d := range pb.Devices {
			if math.IsInf(tr.Dist[d], 1) {
				continue
			}
			if bestD < 0 || tr.Dist[d] < tr.Dist[bestD] || (tr.Dist[d] == tr.Dist[bestD] && tr.Hops[d] < tr.Hops[bestD]) {
				bestD = d
			}
		}
		if bestD < 0 {
			continue
		}
		s.best[k] = int32(bestD)
		rc[k] = pathLatency(s, tr, bestD)
		hc[k] = float64(tr.Hops[bestD])
		bw[k] = minBW[bestD] * 1e6 // Gb/s → kbit/s
	}
}

// pathLatency is the tree distance (latency with the routing package's floor for
// zero-latency links, rounded to the microsecond so the floor does not show).
func pathLatency(_ *snapshot, tr *routing.Tree, d int) float64 {
	return math.Round(tr.Dist[d]*1e6) / 1e6
}

// pathANEs appends to buf[:0] the ANE indices of the path from source PID a to PID b.
func (s *snapshot) pathANEs(a, b int, buf []int32) []int32 {
	rev := buf[:0]
	d := s.best[a*s.P()+b]
	if d < 0 || s.pred[a] == nil {
		return rev
	}
	for v := int(d); s.pred[a][v] >= 0; {
		e := s.pred[a][v]
		rev = append(rev, e)
		v, _ = s.g.LinkEnds(int(e))
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// Resource content hashes, for vtags: a resource's tag changes exactly when its hash
// does (see Server.tagsFor).
func (s *snapshot) hashAll() {
	s.hash = map[string][32]byte{}
	h := sha256.New()
	for _, p := range s.pids {
		fmt.Fprintf(h, "%s|%v|%v\n", p.Name, p.IPv4, p.IPv6)
	}
	var nm [32]byte
	copy(nm[:], h.Sum(nil))
	s.hash[hashNetmap] = nm
	for _, m := range scalarMetrics {
		h.Reset()
		h.Write(nm[:])
		writeFloats(h, s.cost[m])
		var c [32]byte
		copy(c[:], h.Sum(nil))
		s.hash[hashCost+m] = c
	}
	// the paths are determined by the forests and the chosen destinations
	h.Reset()
	h.Write(nm[:])
	for a := range s.pids {
		writeInt32s(h, s.pred[a])
		h.Write([]byte{0xff})
	}
	writeInt32s(h, s.best)
	for _, a := range s.anes {
		fmt.Fprintf(h, "%s|%g|%g|%g|%d\n", a.Name, a.CapacityGbps, a.LoadGbps, a.EstGbps, a.Level)
	}
	var pv [32]byte
	copy(pv[:], h.Sum(nil))
	s.hash[hashPV] = pv
	h.Reset()
	h.Write(nm[:])
	for _, p := range s.pids {
		fmt.Fprintf(h, "%s|%s|%v\n", p.Name, p.Domain, s.pidDeviceIDs(p))
	}
	var pm [32]byte
	copy(pm[:], h.Sum(nil))
	s.hash[hashPropMap] = pm
	h.Reset()
	b, _ := json.Marshal(s.bsg)
	h.Write(b)
	h.Write([]byte(s.bsgErr))
	var bg [32]byte
	copy(bg[:], h.Sum(nil))
	s.hash[hashBSG] = bg
}

// Hash keys.
const (
	hashNetmap  = "networkmap"
	hashCost    = "cost:"
	hashPV      = "path-vector"
	hashPropMap = "propmap"
	hashBSG     = "bsg"
)

func writeFloats(h hash.Hash, xs []float64) {
	buf := make([]byte, 0, 8*1024)
	for _, x := range xs {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
}

func writeInt32s(h hash.Hash, xs []int32) {
	buf := make([]byte, 0, 8*1024)
	for _, x := range xs {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(x))
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
}

func (s *snapshot) pidDeviceIDs(p pidInfo) []string {
	out := make([]string, len(p.Devices))
	for i, d := range p.Devices {
		out[i] = s.devices[d].ID
	}
	sort.Strings(out)
	return out
}
