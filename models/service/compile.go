package service

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// Env is what compiling reads: the network (the TED: devices and links with their
// capacities and latencies), its routing graph, each device's underlay address (VXLAN
// tunnel source) and SRv6 node SID, the bandwidth reservations already held, and now.
type Env struct {
	Network *network.Network
	Graph   *routing.Graph
	// Underlay maps a device to the IPv4 address its tunnels start from.
	Underlay map[string]netip.Addr
	// SIDs maps a device to its SRv6 node SID (SR policies only).
	SIDs map[string]netip.Addr
	// Reservations, if set, is updated with what hard-isolated services reserve (so a
	// slice's later services see what its earlier ones took).
	Reservations *routing.Reservations
	// DownLinks are links no path may use (failed, disabled).
	DownLinks map[string]bool
	Now       time.Time
}

// Compiled is a composed service: its device configuration, its flows with SLOs (on
// their chosen paths when created), and the paths per flow.
type Compiled struct {
	Composer *Composer
	Flows    []change.FlowSpec
}

// Compiler composes one service type.
type Compiler interface {
	// Type is the service type compiled.
	Type() Type
	// Compose composes s. With route false (removal) no path is computed: flows carry
	// IDs only.
	Compose(env *Env, s *Service, route bool) (*Compiled, error)
}

// Registry maps service types to compilers. Build it with NewRegistry.
type Registry struct {
	compilers map[Type]Compiler
}

// NewRegistry returns a registry of the given compilers; two for one type is an error.
func NewRegistry(cs ...Compiler) (*Registry, error) {
	r := &Registry{compilers: map[Type]Compiler{}}
	for _, c := range cs {
		if _, dup := r.compilers[c.Type()]; dup {
			return nil, fmt.Errorf("service: two compilers for type %q", c.Type())
		}
		r.compilers[c.Type()] = c
	}
	return r, nil
}

// DefaultRegistry returns the registry of the built-in compilers (L3VPN, L2VPN, SR
// policy).
func DefaultRegistry() *Registry {
	r, _ := NewRegistry(L3VPNCompiler{}, L2VPNCompiler{}, SRPolicyCompiler{})
	return r
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []Type {
	out := make([]Type, 0, len(r.compilers))
	for t := range r.compilers {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *Registry) compose(env *Env, s *Service, route bool) (*Compiled, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c, ok := r.compilers[s.Type]
	if !ok {
		return nil, fmt.Errorf("%w: service %q: no compiler for type %q (registered: %v)", ErrInvalid, s.ID, s.Type, r.Types())
	}
	if route && s.Constraints.ended(env.Now) {
		return nil, fmt.Errorf("%w: service %q: its schedule ended at %s", ErrInvalid, s.ID, s.Constraints.Schedule.End.Format(time.RFC3339))
	}
	return c.Compose(env, s, route)
}

// Intent types of the ChangeSets compiled here.
const (
	IntentService       = "service"
	IntentServiceDelete = "service.delete"
	IntentSlice         = "slice"
	IntentSliceDelete   = "slice.delete"
)

// Create compiles s into a ChangeSet of kind service that creates it.
func (r *Registry) Create(env *Env, s *Service) (*change.ChangeSet, error) {
	comp, err := r.compose(env, s, true)
	if err != nil {
		return nil, err
	}
	cs := newChangeSet(change.KindService, fmt.Sprintf("create %s %s", s.Type, s.ID))
	cs.DeviceOps = comp.Composer.Emit(false)
	cs.Twin.AddFlows = comp.Flows
	return cs, addIntent(cs, IntentService, s.ID, s)
}

// Delete compiles the removal of s (as it was created: same composition, emitted for
// deletion; its flows removed).
func (r *Registry) Delete(env *Env, s *Service) (*change.ChangeSet, error) {
	comp, err := r.compose(env, s, false)
	if err != nil {
		return nil, err
	}
	cs := newChangeSet(change.KindService, fmt.Sprintf("delete %s %s", s.Type, s.ID))
	cs.DeviceOps = comp.Composer.Emit(true)
	for _, f := range comp.Flows {
		cs.Twin.RemoveFlows = append(cs.Twin.RemoveFlows, f.ID)
	}
	return cs, addIntent(cs, IntentServiceDelete, s.ID, s)
}

// Update compiles the change from old to new (same ID, new generation): the old
// composition is deleted and the new one created in the same SetRequest per device;
// old flows are removed and new ones added. As in UpdateSlice, the old version's hard
// reservations are released in env before nw is routed, so the new version may reuse
// the capacity the old one holds (it was counted twice before).
func (r *Registry) Update(env *Env, old, nw *Service) (*change.ChangeSet, error) {
	if old.ID != nw.ID || old.Type != nw.Type {
		return nil, fmt.Errorf("%w: an update keeps the service's id and type (%s %s -> %s %s)", ErrInvalid, old.Type, old.ID, nw.Type, nw.ID)
	}
	if nw.Generation == 0 || nw.Generation <= old.Generation {
		nw.Generation = max(old.Generation, 1) + 1
	}
	del, err := r.compose(env, old, false)
	if err != nil {
		return nil, err
	}
	if env.Reservations != nil {
		for _, f := range del.Flows {
			env.Reservations.Release(f.ID)
		}
	}
	add, err := r.compose(env, nw, true)
	if err != nil {
		return nil, err
	}
	cs := newChangeSet(change.KindService, fmt.Sprintf("update %s %s", nw.Type, nw.ID))
	cs.DeviceOps = merge(del.Composer.Emit(true), add.Composer.Emit(false))
	for _, f := range del.Flows {
		cs.Twin.RemoveFlows = append(cs.Twin.RemoveFlows, f.ID)
	}
	cs.Twin.AddFlows = add.Flows
	return cs, addIntent(cs, IntentService, nw.ID, nw)
}

func newChangeSet(kind change.Kind, label string) *change.ChangeSet {
	return &change.ChangeSet{Kind: kind, Label: label, Level: change.L1}
}

func addIntent(cs *change.ChangeSet, typ, name string, spec any) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	cs.Intents = append(cs.Intents, change.Intent{Type: typ, Name: name, Spec: b})
	return cs.Validate()
}

// merge appends b's operations after a's, per device.
func merge(a, b map[string][]change.Op) map[string][]change.Op {
	out := map[string][]change.Op{}
	for d, ops := range a {
		out[d] = append(out[d], ops...)
	}
	for d, ops := range b {
		out[d] = append(out[d], ops...)
	}
	return out
}

// flowID names the flow of service s from endpoint i to j on path k.
func flowID(s *Service, i, j, k int) string {
	return fmt.Sprintf("%s/g%d/%d-%d/p%d", s.ID, s.Generation, i, j, k)
}

// pathFlows computes the flows of the ordered endpoint pairs (i, j) of s: each pair
// gets Availability disjoint paths (TE, with the service's constraints and the
// reservations in env), with the capacity split (all-active) or repeated (1+1); hard
// isolation reserves it. With route false only the IDs are produced.
func pathFlows(env *Env, s *Service, pairs [][2]int, route bool) ([]change.FlowSpec, error) {
	c := s.Constraints
	var out []change.FlowSpec
	// One path tree per source when no pair's reservation can change what the next
	// pair sees (single paths, no hard isolation): many pairs, few searches.
	trees := map[string]*routing.PathTree{}
	useTrees := route && env.Graph != nil && c.Availability == 1 && !(c.Isolation == change.IsolationHard && env.Reservations != nil)
	for _, p := range pairs {
		i, j := p[0], p[1]
		src, dst := s.Endpoints[i].Device, s.Endpoints[j].Device
		if src == dst {
			continue // both sites on one PE: switched locally, no network path
		}
		per := c.CapacityGbps
		if c.Protection == AllActive && c.Availability > 1 {
			per = c.CapacityGbps / float64(c.Availability)
		}
		var paths []routing.Path
		if route {
			req := routing.TERequest{Src: src, Dst: dst, Metric: c.Metric, BandwidthGbps: per, Priority: c.Priority,
				MaxLatencyMs: c.MaxLatencyMs, MaxHops: c.MaxHops, Paths: c.Availability, Disjointness: c.Disjointness,
				ExcludeLinks: exclusions(c.ExcludeLinks, env.DownLinks), ExcludeDevices: set(c.ExcludeDevices)}
			if env.Graph == nil {
				return nil, fmt.Errorf("%w: service %q: no network graph to route on", ErrUnsatisfiable, s.ID)
			}
			var ps []routing.Path
			var err error
			if useTrees {
				tr, ok := trees[src]
				if !ok {
					if tr, err = env.Graph.TETree(req, env.Reservations); err != nil {
						return nil, fmt.Errorf("%w: service %q: endpoint %d (%s): %v", ErrUnsatisfiable, s.ID, i, src, err)
					}
					trees[src] = tr
				}
				if tp, terr := tr.Path(dst); terr == nil && req.Violation(tp) == "" {
					ps = []routing.Path{tp}
				}
			}
			if ps == nil {
				ps, err = env.Graph.TE(req, env.Reservations)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: service %q: endpoints %d (%s) to %d (%s): %v", ErrUnsatisfiable, s.ID, i, src, j, dst, err)
			}
			paths = ps
		}
		for k := range c.Availability {
			f := Flow(s, i, j, k, src, dst)
			if route {
				f.Path = paths[k].Links
				f.SLO = sloOf(c, per)
				f.DemandGbps = demand(per)
				if c.Isolation == change.IsolationHard && env.Reservations != nil {
					if err := env.Reservations.Reserve(f.ID, f.Path, per, c.Priority); err != nil {
						return nil, err
					}
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// FlowSpec is a flow with its SLO (change.FlowSpec).
type FlowSpec = change.FlowSpec

// Flow is the flow of service s from endpoint i (on src) to j (on dst), path k; its
// owner is the service.
func Flow(s *Service, i, j, k int, src, dst string) FlowSpec {
	return FlowSpec{Flow: network.Flow{ID: flowID(s, i, j, k), Src: src, Dst: dst, Owner: s.ID}}
}

// sloOf is the SLO of a flow carrying per Gb/s of a service with constraints c (nil if
// c asks nothing).
func sloOf(c Constraints, per float64) *change.SLO {
	slo := &change.SLO{MinRateGbps: per, MaxLatencyMs: c.MaxLatencyMs, Isolation: c.Isolation}
	if *slo == (change.SLO{}) {
		return nil
	}
	return slo
}

// demand is what a service's flow sends: its share of the capacity (nil: elastic,
// when the service asks no capacity).
func demand(per float64) *float64 {
	if per <= 0 {
		return nil
	}
	return &per
}

// exclusions is the set of xs and down links.
func exclusions(xs []string, down map[string]bool) map[string]bool {
	if len(down) == 0 {
		return set(xs)
	}
	m := make(map[string]bool, len(xs)+len(down))
	for _, x := range xs {
		m[x] = true
	}
	for l := range down {
		m[l] = true
	}
	return m
}

func set(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// allPairs lists the ordered pairs (i, j), i != j, of n endpoints.
func allPairs(n int) [][2]int {
	var out [][2]int
	for i := range n {
		for j := range n {
			if i != j {
				out = append(out, [2]int{i, j})
			}
		}
	}
	return out
}

func underlay(env *Env, s *Service, dev string) (netip.Addr, error) {
	a, ok := env.Underlay[dev]
	if !ok || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%w: service %q: device %q has no underlay IPv4 address for its tunnels", ErrUnsatisfiable, s.ID, dev)
	}
	return a, nil
}

// tunnelEnds returns the underlay addresses of a tunnel from self to peer: the local
// one first, so a device without one is named in the same order everywhere.
func tunnelEnds(env *Env, s *Service, self, peer string) (local, remote netip.Addr, err error) {
	if local, err = underlay(env, s, self); err != nil {
		return netip.Addr{}, netip.Addr{}, err
	}
	if remote, err = underlay(env, s, peer); err != nil {
		return netip.Addr{}, netip.Addr{}, err
	}
	return local, remote, nil
}

// Paths used in compositions.
func ifPath(name string) string { return "/interfaces/interface[name=" + name + "]" }
func niPath(name string) string {
	return "/network-instances/network-instance[name=" + name + "]"
}

// vxlanName is the interface of VNI v (at most 15 characters: "vx" + up to 8 digits).
func vxlanName(v uint32) string { return fmt.Sprintf("vx%d", v) }
