package routing

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Traffic engineering on the same graph (REQ-TE-02: the twin's devices and links are
// the TED; there is no second database): explicit routes with strict and loose hops,
// hop bounds, k-shortest fallbacks, k disjoint paths, bandwidth reservations per link
// and priority, and SRv6 segment lists for a computed path.

// Hop is one hop of an explicit route.
type Hop struct {
	Device string `json:"device"`
	// Loose: any least-weight path may lead to the device; strict (false): the device
	// is adjacent to the previous one.
	Loose bool `json:"loose,omitempty"`
}

// TERequest asks for one path, or several disjoint ones, meeting constraints.
type TERequest struct {
	Src, Dst string
	Metric   Metric
	// BandwidthGbps is what each path needs on every link: links with less available
	// (capacity minus reservations held at Priority or better, see Reservations) are
	// pruned.
	BandwidthGbps float64
	// Priority is the setup priority, 0 (highest) to NumPriorities-1.
	Priority int
	// MaxLatencyMs (> 0) bounds each path's latency; MaxHops (> 0) its link count.
	MaxLatencyMs float64
	MaxHops      int
	// Hops is an explicit route (a single path only).
	Hops []Hop
	// Paths is the number of disjoint paths (0 or 1: one path); Disjointness says how
	// disjoint (default LinkDisjoint).
	Paths        int
	Disjointness Disjointness
	// Candidates bounds the k-shortest fallbacks examined when the shortest path
	// misses the latency or hop bound (default 8).
	Candidates     int
	ExcludeLinks   map[string]bool
	ExcludeDevices map[string]bool
}

// maxHopsBound bounds hop limits and explicit routes.
const maxHopsBound = 255

// TE computes the path(s) of req. resv, if not nil, holds the reservations that reduce
// what links have available (nil: a link's available bandwidth is capacity − used, as
// in Constrained). Errors wrap ErrInvalid (a malformed request) or ErrNoPath (with the
// constraint that could not be met).
func (g *Graph) TE(req TERequest, resv *Reservations) ([]Path, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	o := Options{Metric: req.Metric, ExcludeLinks: req.ExcludeLinks, ExcludeDevices: req.ExcludeDevices}
	minAvail := math.Inf(-1)
	if req.BandwidthGbps > 0 {
		if resv != nil {
			o.mask = g.reservationMask(req.BandwidthGbps, req.Priority, resv)
		} else {
			minAvail = req.BandwidthGbps
		}
	}
	k := max(req.Paths, 1)
	switch {
	case k > 1:
		mode := req.Disjointness
		if mode == "" {
			mode = LinkDisjoint
		}
		ps, err := g.Disjoint(req.Src, req.Dst, k, mode, o, minAvail)
		if err != nil {
			return nil, err
		}
		for i, p := range ps {
			if msg := req.violation(p); msg != "" {
				return nil, fmt.Errorf("%w: the least-weight %d %s-disjoint paths from %q to %q: path %d %s", ErrNoPath, k, mode, req.Src, req.Dst, i, msg)
			}
		}
		return ps, nil
	case len(req.Hops) > 0:
		p, err := g.explicit(req, &o, minAvail)
		if err != nil {
			return nil, err
		}
		if msg := req.violation(p); msg != "" {
			return nil, fmt.Errorf("%w: explicit route from %q to %q: %s", ErrNoPath, req.Src, req.Dst, msg)
		}
		return []Path{p}, nil
	}
	// the least-weight path first (a native Dijkstra); k-shortest only as a fallback
	first, err := g.dijkstra(req.Src, req.Dst, &o, minAvail)
	if err != nil {
		return nil, err
	}
	if req.violation(first) == "" {
		return []Path{first}, nil
	}
	cands := req.Candidates
	if cands <= 0 {
		cands = 8
	}
	ps, err := g.kShortest(req.Src, req.Dst, cands, &o, minAvail)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if req.violation(p) == "" {
			return []Path{p}, nil
		}
	}
	if req.MaxHops > 0 {
		// exact hop-bounded search: the least-weight path with at most MaxHops links
		if p, ok := g.hopBounded(req.Src, req.Dst, req.MaxHops, &o, minAvail); ok && req.violation(p) == "" {
			return []Path{p}, nil
		}
	}
	return nil, fmt.Errorf("%w: from %q to %q: none of the %d least-weight paths meets the constraints (%s)", ErrNoPath, req.Src, req.Dst, len(ps), req.bounds())
}

func (req *TERequest) check() error {
	var errs []string
	if !(req.BandwidthGbps >= 0) || math.IsInf(req.BandwidthGbps, 0) {
		errs = append(errs, fmt.Sprintf("bandwidth %v must be a finite number >= 0", req.BandwidthGbps))
	}
	if !(req.MaxLatencyMs >= 0) || math.IsInf(req.MaxLatencyMs, 0) {
		errs = append(errs, fmt.Sprintf("max latency %v must be a finite number >= 0", req.MaxLatencyMs))
	}
	if req.MaxHops < 0 || req.MaxHops > maxHopsBound {
		errs = append(errs, fmt.Sprintf("max hops %d out of [0, %d]", req.MaxHops, maxHopsBound))
	}
	if req.Priority < 0 || req.Priority >= NumPriorities {
		errs = append(errs, fmt.Sprintf("priority %d out of [0, %d]", req.Priority, NumPriorities-1))
	}
	if req.Paths < 0 || req.Paths > maxDisjoint {
		errs = append(errs, fmt.Sprintf("paths %d out of [0, %d]", req.Paths, maxDisjoint))
	}
	if len(req.Hops) > maxHopsBound {
		errs = append(errs, fmt.Sprintf("%d explicit hops (at most %d)", len(req.Hops), maxHopsBound))
	}
	if len(req.Hops) > 0 && req.Paths > 1 {
		errs = append(errs, "an explicit route and disjoint paths cannot be combined")
	}
	if req.Metric != "" && req.Metric != Latency && req.Metric != Hops {
		errs = append(errs, fmt.Sprintf("metric %q (one of latency, hops)", req.Metric))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

func (req *TERequest) violation(p Path) string {
	var v []string
	if req.MaxLatencyMs > 0 && p.LatencyMs > req.MaxLatencyMs {
		v = append(v, fmt.Sprintf("latency %.3f ms > %.3f ms", p.LatencyMs, req.MaxLatencyMs))
	}
	if req.MaxHops > 0 && len(p.Links) > req.MaxHops {
		v = append(v, fmt.Sprintf("%d hops > %d", len(p.Links), req.MaxHops))
	}
	return strings.Join(v, ", ")
}

func (req *TERequest) bounds() string {
	var b []string
	if req.BandwidthGbps > 0 {
		b = append(b, fmt.Sprintf("%v Gb/s available at priority %d", req.BandwidthGbps, req.Priority))
	}
	if req.MaxLatencyMs > 0 {
		b = append(b, fmt.Sprintf("latency <= %v ms", req.MaxLatencyMs))
	}
	if req.MaxHops > 0 {
		b = append(b, fmt.Sprintf("<= %d hops", req.MaxHops))
	}
	if len(b) == 0 {
		return "none"
	}
	return strings.Join(b, ", ")
}

// reservationMask marks the directed links that lack need Gb/s once what resv holds at
// priority prio or better is taken from their capacity. O(|E| + reserved links).
//
// The mask is kept in resv until its reservations change: a compile asks for one
// tree per endpoint with the same bandwidth and priority (masks are only read).
func (g *Graph) reservationMask(need float64, prio int, resv *Reservations) []bool {
	resv.maskMu.Lock()
	defer resv.maskMu.Unlock()
	if c := &resv.mask; c.m != nil && c.g == g && c.need == need && c.prio == prio && c.gen == resv.gen {
		return c.m
	}
	m := g.buildReservationMask(need, prio, resv)
	resv.mask = maskCache{g: g, need: need, prio: prio, gen: resv.gen, m: m}
	return m
}

func (g *Graph) buildReservationMask(need float64, prio int, resv *Reservations) []bool {
	mask := make([]bool, len(g.eID))
	for e, c := range g.eCap {
		mask[e] = c < need
	}
	for dl := range resv.held {
		if e, ok := g.edgeIdx(dl); ok && g.eCap[e]-resv.Held(dl, prio) < need {
			mask[e] = true
		}
	}
	return mask
}

// PathTree is a least-weight path tree from one source under a TE request's pruning (see
// TETree): paths to many destinations for the cost of one search.
//
// The search is lazy: Path settles nodes only until the destination is settled (a
// compile asking for 9 destinations rarely needs the whole graph), and a later Path
// resumes it. Dijkstra's order does not depend on where it stops, so every path is the
// one the full search gives. Path is safe for concurrent use.
type PathTree struct {
	g        *Graph
	src      int32
	o        Options
	minAvail float64

	mu   sync.Mutex // guards the search state below
	dist []float64
	via  []int32
	done []bool // settled: dist and via are final
	h    minHeap
}

// TETree is the least-weight path tree from req.Src with req's metric, exclusions and
// bandwidth pruning (req.Dst, Hops, Paths and the latency and hop bounds are not used:
// check each path with req.Violation). Compiling a service with many endpoint pairs
// and no per-pair reservations uses one tree per source instead of one search per
// pair. O((|V| + |E|) log |V|).
func (g *Graph) TETree(req TERequest, resv *Reservations) (*PathTree, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	o := Options{Metric: req.Metric, ExcludeLinks: req.ExcludeLinks, ExcludeDevices: req.ExcludeDevices}
	minAvail := math.Inf(-1)
	if req.BandwidthGbps > 0 {
		if resv != nil {
			o.mask = g.reservationMask(req.BandwidthGbps, req.Priority, resv)
		} else {
			minAvail = req.BandwidthGbps
		}
	}
	s, err := g.dev(req.Src, &o)
	if err != nil {
		return nil, err
	}
	n := len(g.devs)
	t := &PathTree{g: g, src: s, o: o, minAvail: minAvail, dist: make([]float64, n), via: make([]int32, n), done: make([]bool, n)}
	for i := range t.dist {
		t.dist[i] = math.Inf(1)
		t.via[i] = -1
	}
	t.dist[s] = 0
	t.h.a = make([]heapItem, 0, n) // a search pushes about one entry per device
	t.h.push(s, 0)
	return t, nil
}

// settle continues the search until d is settled or every reachable node is. As
// search, except that a popped node's links are relaxed before it stops, so the
// search can be resumed.
func (t *PathTree) settle(d int32) {
	g := t.g
	lat := t.o.Metric == Latency // g.weight's test, once
	for !t.done[d] && t.h.len() > 0 {
		u, du := t.h.pop()
		if du > t.dist[u] || t.done[u] {
			continue
		}
		t.done[u] = true
		lo, hi := g.adjOff[u], g.adjOff[u+1]
		es := g.adjE[lo:hi]
		for k, v := range g.adjTo[lo:hi] {
			// A settled head cannot improve (weights are positive) and the usability
			// test, the costly part, is asked only of a link that would improve its
			// head: the same relaxations as testing it first.
			if v == u || t.done[v] {
				continue
			}
			e := es[k]
			w := 1.0
			if lat {
				w = math.Max(g.eLat[e], latencyFloor)
			}
			if nd := du + w; nd < t.dist[v] && g.usable(e, &t.o, t.minAvail) {
				t.dist[v] = nd
				t.via[v] = e
				t.h.push(v, nd)
			}
		}
	}
}

// Path returns the tree's path to dst.
func (t *PathTree) Path(dst string) (Path, error) {
	g := t.g
	d, err := g.dev(dst, &t.o)
	if err != nil {
		return Path{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.settle(d)
	if math.IsInf(t.dist[d], 1) || d == t.src {
		return Path{}, fmt.Errorf("%w: from %q to %q", ErrNoPath, g.devs[t.src], dst)
	}
	return g.walkBack(t.src, d, t.via, t.o.Metric), nil
}

// Violation says which bound of req p misses ("" if none).
func (req *TERequest) Violation(p Path) string { return req.violation(p) }

// edgeIdx finds a directed link by ID.
func (g *Graph) edgeIdx(dl string) (int32, bool) {
	e, ok := g.eIdx[dl]
	return e, ok
}

// CapacityOf returns a directed link's capacity (Gb/s).
func (g *Graph) CapacityOf(dl string) (float64, bool) {
	e, ok := g.edgeIdx(dl)
	if !ok {
		return 0, false
	}
	return g.eCap[e], true
}

// explicit follows req.Hops: a strict hop takes the least-weight usable direct link, a
// loose hop the least-weight path avoiding the devices already on the route; the last
// segment to Dst is loose.
func (g *Graph) explicit(req TERequest, o *Options, minAvail float64) (Path, error) {
	hops := append(slices.Clone(req.Hops), Hop{Device: req.Dst, Loose: true})
	at, err := g.dev(req.Src, o)
	if err != nil {
		return Path{}, err
	}
	p := Path{Devices: []string{req.Src}, MinAvailGbps: math.Inf(1)}
	visited := map[string]bool{req.Src: true}
	for i, h := range hops {
		to, err := g.dev(h.Device, o)
		if err != nil {
			return Path{}, fmt.Errorf("hops[%d]: %w", i, err)
		}
		if to == at {
			if i == len(hops)-1 {
				break // the last explicit hop was the destination
			}
			return Path{}, fmt.Errorf("%w: hops[%d] %q repeats the previous hop", ErrInvalid, i, h.Device)
		}
		if visited[h.Device] {
			return Path{}, fmt.Errorf("%w: hops[%d] %q is already on the route (a loop)", ErrNoPath, i, h.Device)
		}
		var seg []int32
		if !h.Loose {
			best := int32(-1)
			for _, e := range g.out[at] {
				if g.eTo[e] != to || !g.usable(e, o, minAvail) {
					continue
				}
				if best < 0 || g.weight(e, o.Metric) < g.weight(best, o.Metric) {
					best = e
				}
			}
			if best < 0 {
				return Path{}, fmt.Errorf("%w: strict hops[%d] %q is not adjacent to %q over a usable link", ErrNoPath, i, h.Device, g.devs[at])
			}
			seg = []int32{best}
		} else {
			oo := *o
			oo.ExcludeDevices = map[string]bool{}
			for d := range o.ExcludeDevices {
				oo.ExcludeDevices[d] = true
			}
			for d := range visited {
				if d != g.devs[at] {
					oo.ExcludeDevices[d] = true
				}
			}
			sp, err := g.shortest(g.devs[at], h.Device, &oo, minAvail)
			if err != nil {
				return Path{}, fmt.Errorf("loose hops[%d] %q: %w", i, h.Device, err)
			}
			for _, dl := range sp.Links {
				e, _ := g.edgeIdx(dl)
				seg = append(seg, e)
			}
		}
		for _, e := range seg {
			v := g.devs[g.eTo[e]]
			if visited[v] {
				return Path{}, fmt.Errorf("%w: hops[%d]: the route to %q revisits %q", ErrNoPath, i, h.Device, v)
			}
			visited[v] = true
			p.Devices = append(p.Devices, v)
			p.Links = append(p.Links, g.eID[e])
			p.Weight += g.weight(e, o.Metric)
			p.LatencyMs += g.eLat[e]
			p.MinAvailGbps = math.Min(p.MinAvailGbps, g.eAvail[e])
		}
		at = to
	}
	if len(p.Links) == 0 {
		p.MinAvailGbps = 0
	}
	return p, nil
}

// dijkstra is a least-weight path search over the directed link adjacency (no gonum
// graph is built: cheaper than Shortest when called for many pairs).
func (g *Graph) dijkstra(src, dst string, o *Options, minAvail float64) (Path, error) {
	s, err := g.dev(src, o)
	if err != nil {
		return Path{}, err
	}
	t, err := g.dev(dst, o)
	if err != nil {
		return Path{}, err
	}
	dist, via := g.search(s, t, o, minAvail)
	if math.IsInf(dist[t], 1) {
		return Path{}, fmt.Errorf("%w: from %q to %q", ErrNoPath, src, dst)
	}
	return g.walkBack(s, t, via, o.Metric), nil
}

// search runs Dijkstra from s (stopping when t, if >= 0, is settled).
func (g *Graph) search(s, t int32, o *Options, minAvail float64) ([]float64, []int32) {
	n := len(g.devs)
	dist := make([]float64, n)
	via := make([]int32, n)
	for i := range dist {
		dist[i] = math.Inf(1)
		via[i] = -1
	}
	dist[s] = 0
	h := &minHeap{}
	h.push(s, 0)
	for h.len() > 0 {
		u, du := h.pop()
		if du > dist[u] {
			continue
		}
		if u == t {
			break
		}
		for _, e := range g.out[u] {
			v := g.eTo[e]
			if v == u || !g.usable(e, o, minAvail) {
				continue
			}
			if nd := du + g.weight(e, o.Metric); nd < dist[v] {
				dist[v] = nd
				via[v] = e
				h.push(v, nd)
			}
		}
	}
	return dist, via
}

// walkBack builds the path to t from the search's predecessor links.
func (g *Graph) walkBack(s, t int32, via []int32, m Metric) Path {
	var rev []int32
	for v := t; v != s; v = g.eFrom[via[v]] {
		rev = append(rev, via[v])
	}
	p := Path{Devices: []string{g.devs[s]}, MinAvailGbps: math.Inf(1)}
	for i := len(rev) - 1; i >= 0; i-- {
		e := rev[i]
		p.Devices = append(p.Devices, g.devs[g.eTo[e]])
		p.Links = append(p.Links, g.eID[e])
		p.Weight += g.weight(e, m)
		p.LatencyMs += g.eLat[e]
		p.MinAvailGbps = math.Min(p.MinAvailGbps, g.eAvail[e])
	}
	if len(p.Links) == 0 {
		p.MinAvailGbps = 0
	}
	return p
}

// hopBounded is an exact Bellman-Ford over at most h hops: the least-weight walk with
// at most h links (positive weights make it a simple path). O(h·|E|).
func (g *Graph) hopBounded(src, dst string, h int, o *Options, minAvail float64) (Path, bool) {
	s, err := g.dev(src, o)
	if err != nil {
		return Path{}, false
	}
	t, err := g.dev(dst, o)
	if err != nil {
		return Path{}, false
	}
	n := len(g.devs)
	inf := math.Inf(1)
	d := make([][]float64, h+1)
	via := make([][]int32, h+1)
	for i := range d {
		d[i] = make([]float64, n)
		via[i] = make([]int32, n)
		for v := range d[i] {
			d[i][v] = inf
			via[i][v] = -1
		}
	}
	d[0][s] = 0
	for i := 1; i <= h; i++ {
		copy(d[i], d[i-1])
		for e := range g.eID {
			e := int32(e)
			u, v := g.eFrom[e], g.eTo[e]
			if math.IsInf(d[i-1][u], 1) || u == v || !g.usable(e, o, minAvail) {
				continue
			}
			if nd := d[i-1][u] + g.weight(e, o.Metric); nd < d[i][v] {
				d[i][v] = nd
				via[i][v] = e
			}
		}
	}
	if math.IsInf(d[h][t], 1) {
		return Path{}, false
	}
	var rev []int32
	for i, v := h, t; v != s; {
		for via[i][v] < 0 {
			i-- // the value was carried over from fewer hops
		}
		e := via[i][v]
		rev = append(rev, e)
		v = g.eFrom[e]
		i--
	}
	p := Path{Devices: []string{src}, MinAvailGbps: math.Inf(1)}
	for i := len(rev) - 1; i >= 0; i-- {
		e := rev[i]
		p.Devices = append(p.Devices, g.devs[g.eTo[e]])
		p.Links = append(p.Links, g.eID[e])
		p.Weight += g.weight(e, o.Metric)
		p.LatencyMs += g.eLat[e]
		p.MinAvailGbps = math.Min(p.MinAvailGbps, g.eAvail[e])
	}
	return p, true
}

// NumPriorities is the number of reservation priorities (0 highest), as RSVP-TE's
// setup and holding priorities.
const NumPriorities = 8

// Reservations is the bandwidth bookkeeping of TE paths: per directed link and
// priority, what owners (a service's path, say) hold. A request at priority p sees a
// link's capacity minus what is held at priorities 0..p (lower priorities could be
// pre-empted). Reserve is all or nothing. Not safe for concurrent use.
type Reservations struct {
	held   map[string]*[NumPriorities]float64
	owners map[string]reservation
	gen    uint64 // counts the changes of held

	maskMu sync.Mutex // guards mask (read-only searches may share a Reservations)
	mask   maskCache  // the last reservation mask built (Graph.reservationMask)
}

// maskCache is a reservation mask: of graph g, for need Gb/s at priority prio, built
// when the reservations' change count was gen.
type maskCache struct {
	g    *Graph
	need float64
	prio int
	gen  uint64
	m    []bool
}

type reservation struct {
	links []string
	gbps  float64
	prio  int
}

// NewReservations returns empty bookkeeping.
func NewReservations() *Reservations {
	return &Reservations{held: map[string]*[NumPriorities]float64{}, owners: map[string]reservation{}}
}

// Reserve records that owner holds gbps at priority prio on every link of links. An
// owner holds one reservation: reserving again replaces it.
func (r *Reservations) Reserve(owner string, links []string, gbps float64, prio int) error {
	if owner == "" {
		return fmt.Errorf("%w: reservation owner is empty", ErrInvalid)
	}
	if !(gbps > 0) || math.IsInf(gbps, 0) {
		return fmt.Errorf("%w: reservation of %q: %v Gb/s must be a finite number > 0", ErrInvalid, owner, gbps)
	}
	if prio < 0 || prio >= NumPriorities {
		return fmt.Errorf("%w: reservation of %q: priority %d out of [0, %d]", ErrInvalid, owner, prio, NumPriorities-1)
	}
	r.Release(owner)
	r.gen++
	for _, dl := range links {
		h := r.held[dl]
		if h == nil {
			h = &[NumPriorities]float64{}
			r.held[dl] = h
		}
		h[prio] += gbps
	}
	r.owners[owner] = reservation{links: slices.Clone(links), gbps: gbps, prio: prio}
	return nil
}

// Release drops owner's reservation (nothing if it holds none).
func (r *Reservations) Release(owner string) {
	res, ok := r.owners[owner]
	if !ok {
		return
	}
	r.gen++
	for _, dl := range res.links {
		h := r.held[dl]
		h[res.prio] -= res.gbps
		if h[res.prio] < 1e-12 {
			h[res.prio] = 0
		}
		if *h == ([NumPriorities]float64{}) {
			delete(r.held, dl)
		}
	}
	delete(r.owners, owner)
}

// Held returns what is held on a directed link at priorities 0..prio.
func (r *Reservations) Held(dl string, prio int) float64 {
	h := r.held[dl]
	if h == nil {
		return 0
	}
	var sum float64
	for p := 0; p <= prio && p < NumPriorities; p++ {
		sum += h[p]
	}
	return sum
}

// Owners returns the owners holding bandwidth, sorted.
func (r *Reservations) Owners() []string {
	out := make([]string, 0, len(r.owners))
	for o := range r.owners {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// Overbooked returns the directed links where what is held at all priorities exceeds
// capacity, as "link: held > capacity" messages, sorted.
func (r *Reservations) Overbooked(g *Graph) []string {
	var out []string
	for dl := range r.held {
		c, ok := g.CapacityOf(dl)
		if h := r.Held(dl, NumPriorities-1); ok && h > c+1e-9 {
			out = append(out, fmt.Sprintf("%s: %.4f Gb/s held > capacity %.4f Gb/s", dl, h, c))
		}
	}
	sort.Strings(out)
	return out
}

// SegmentList returns the devices whose SRv6 node SIDs steer a packet along p from its
// head end, in order (the last is p's destination), under o (the routers' own
// forwarding view: metric, failed links). Uncompressed, every device after the head is
// a segment (a strict path). With compress, a device is left out when the stretch of p
// up to the next kept device is the only least-weight path between them (forwarding to
// the next SID follows it anyway); ties (ECMP) keep the segment. A link of p that is not
// the only least-weight path between its ends cannot be expressed with node SIDs
// (adjacency SIDs are not modelled): that is an ErrNoPath naming the link.
func (g *Graph) SegmentList(p Path, compress bool, o Options) ([]string, error) {
	if len(p.Devices) < 2 {
		return nil, fmt.Errorf("%w: a segment list needs a path of at least one link", ErrInvalid)
	}
	idx := make([]int32, len(p.Devices))
	for i, d := range p.Devices {
		v, ok := g.devIdx[d]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownDevice, d)
		}
		idx[i] = v
	}
	if len(p.Links) != len(p.Devices)-1 {
		return nil, fmt.Errorf("%w: path has %d devices and %d links", ErrInvalid, len(p.Devices), len(p.Links))
	}
	w := make([]float64, len(p.Links))
	for i, dl := range p.Links {
		e, ok := g.edgeIdx(dl)
		if !ok {
			return nil, fmt.Errorf("%w: unknown directed link %q", ErrInvalid, dl)
		}
		w[i] = g.weight(e, o.Metric)
	}
	var segs []string
	for i := 0; i < len(idx)-1; {
		dist, count := g.countFrom(idx[i], &o)
		next := idx[i+1]
		if count[next] != 1 || math.Abs(dist[next]-w[i]) > 1e-9*math.Max(1, w[i]) {
			return nil, fmt.Errorf("%w: link %s is not the only least-weight path from %q to %q: node SIDs cannot steer onto it (adjacency SIDs are not modelled)",
				ErrNoPath, p.Links[i], p.Devices[i], p.Devices[i+1])
		}
		j, acc := i+1, w[i]
		for compress && j+1 < len(idx) {
			nacc := acc + w[j]
			v := idx[j+1]
			if count[v] != 1 || math.Abs(dist[v]-nacc) > 1e-9*math.Max(1, nacc) {
				break
			}
			j, acc = j+1, nacc
		}
		segs = append(segs, p.Devices[j])
		i = j
	}
	return segs, nil
}

// countFrom returns least-weight distances from s and the number of least-weight
// paths to each device (capped at 2), counting parallel links separately.
func (g *Graph) countFrom(s int32, o *Options) ([]float64, []int) {
	n := len(g.devs)
	dist := make([]float64, n)
	for i := range dist {
		dist[i] = math.Inf(1)
	}
	dist[s] = 0
	var order []int32
	done := make([]bool, n)
	h := &minHeap{}
	h.push(s, 0)
	for h.len() > 0 {
		u, du := h.pop()
		if done[u] || du > dist[u] {
			continue
		}
		done[u] = true
		order = append(order, u)
		for _, e := range g.out[u] {
			if !g.usable(e, o, math.Inf(-1)) {
				continue
			}
			v := g.eTo[e]
			if nd := du + g.weight(e, o.Metric); nd < dist[v] {
				dist[v] = nd
				h.push(v, nd)
			}
		}
	}
	count := make([]int, n)
	count[s] = 1
	for _, u := range order {
		if count[u] == 0 {
			continue
		}
		for _, e := range g.out[u] {
			if !g.usable(e, o, math.Inf(-1)) {
				continue
			}
			v := g.eTo[e]
			nd := dist[u] + g.weight(e, o.Metric)
			if v != s && math.Abs(nd-dist[v]) <= 1e-9*math.Max(1, nd) {
				count[v] = min(2, count[v]+count[u])
			}
		}
	}
	return dist, count
}

// Clone returns an independent copy (reservations are then made or released on either
// without affecting the other).
func (r *Reservations) Clone() *Reservations {
	c := &Reservations{held: make(map[string]*[NumPriorities]float64, len(r.held)), owners: make(map[string]reservation, len(r.owners))}
	for dl, h := range r.held {
		cp := *h
		c.held[dl] = &cp
	}
	for o, res := range r.owners {
		c.owners[o] = res // links are never modified in place
	}
	return c
}
