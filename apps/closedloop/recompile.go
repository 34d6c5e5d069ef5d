package closedloop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
)

// ServiceEnvSource builds the environment services compile in against the live twin
// (pipeline.Service.ServiceEnv).
type ServiceEnvSource interface {
	ServiceEnv(ctx context.Context, now time.Time) (*service.Env, error)
}

// Recompiled is a compiled service or slice a restoration (or re-optimisation) moved
// onto new paths by recompiling it: its new generation's flows and paths, and the
// devices whose configuration the change reprograms.
type Recompiled struct {
	// Kind is "services" or "slices" (the record's table).
	Kind       string              `json:"kind"`
	ID         string              `json:"id"`
	Generation int                 `json:"generation"`
	Paths      map[string][]string `json:"paths"`
	Devices    []string            `json:"devices"`
	// DeviceOps is the number of device operations the recompilation carries.
	DeviceOps int `json:"device_ops"`
}

// ownedService is a service or slice record whose flows a plan moves.
type ownedService struct {
	table twin.Table
	rec   twin.Record
	flows []string // the twin's flows of the record (every one, moved or not)
	paths []string // their paths, each joined with ",", sorted
}

// ownersOf returns, for the flows in ids, the live service and slice records owning
// them: a flow belongs to a record when its owner is the record's ID and its ID is one
// the service compiler gives (<service>/g<gen>/... or, for a slice's member,
// <slice>.<member>/g<gen>/...). Records that are not active or sla-violated (a change
// to them is in flight) are left out, as are the twin's "slo:<flow>" records.
func ownersOf(rd *twin.Reader, n *network.Network, ids []string) []ownedService {
	byID := make(map[string]network.Flow, len(n.Flows))
	for _, f := range n.Flows {
		byID[f.ID] = f
	}
	seen := map[string]bool{}
	var out []ownedService
	for _, id := range ids {
		f, ok := byID[id]
		if !ok || f.Owner == "" || strings.Contains(f.Owner, ":") || seen[f.Owner] {
			continue
		}
		seen[f.Owner] = true
		var os ownedService
		switch {
		case compiledFlow(f.ID, twin.TableServices, f.Owner):
			os.table = twin.TableServices
		case compiledFlow(f.ID, twin.TableSlices, f.Owner):
			os.table = twin.TableSlices
		default:
			continue
		}
		rec, err := rd.Record(os.table, f.Owner)
		if err != nil || (rec.Status != string(service.StatusActive) && rec.Status != string(service.StatusSLAViolated)) {
			continue
		}
		os.rec = rec
		for _, g := range n.Flows {
			if g.Owner == rec.ID && compiledFlow(g.ID, os.table, rec.ID) {
				os.flows = append(os.flows, g.ID)
				os.paths = append(os.paths, strings.Join(g.Path, ","))
			}
		}
		slices.Sort(os.paths)
		out = append(out, os)
	}
	slices.SortFunc(out, func(a, b ownedService) int {
		return strings.Compare(string(a.table)+"/"+a.rec.ID, string(b.table)+"/"+b.rec.ID)
	})
	return out
}

// recompile compiles an update of each owned service or slice (the service
// compiler's update path: the old composition deleted and the new one created, so the
// device operations that move its forwarding are derived from the composition) onto
// TE paths avoiding the links in avoid, in env (the live twin's). It returns the
// changes, one per record that compiled onto other paths than it has, and the reason
// of each that did not compile. A record whose recompilation keeps its paths is in
// kept (nothing to change on its devices).
func recompile(reg *service.Registry, env *service.Env, owned []ownedService, avoid []string) (css []*change.ChangeSet, recs []Recompiled, kept, errs []string) {
	if env.DownLinks == nil {
		env.DownLinks = map[string]bool{}
	}
	for _, l := range avoid {
		env.DownLinks[l] = true
	}
	for _, o := range owned {
		var cs *change.ChangeSet
		var gen int
		var err error
		switch o.table {
		case twin.TableServices:
			var old, nw *service.Service
			if old, err = service.DecodeService(o.rec.Spec); err == nil {
				nw, _ = service.DecodeService(o.rec.Spec)
				nw.Generation = 0                  // Update gives the next generation
				cs, err = reg.Update(env, old, nw) // releases the old reservations itself
				gen = nw.Generation
			}
		case twin.TableSlices:
			var old, nw *service.Slice
			if old, err = service.DecodeSlice(o.rec.Spec); err == nil {
				nw, _ = service.DecodeSlice(o.rec.Spec)
				nw.Generation = 0
				cs, err = reg.UpdateSlice(env, old, nw) // releases the old reservations itself
				gen = nw.Generation
			}
		default:
			err = errors.New("not a service or slice")
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %s not recompiled (its flows move in the twin only; its device forwarding is unchanged): %v", strings.TrimSuffix(string(o.table), "s"), o.rec.ID, err))
			continue
		}
		var paths []string
		for _, f := range cs.Twin.AddFlows {
			paths = append(paths, strings.Join(f.Path, ","))
		}
		slices.Sort(paths)
		if slices.Equal(paths, o.paths) {
			kept = append(kept, string(o.table)+"/"+o.rec.ID)
			continue
		}
		rc := Recompiled{Kind: string(o.table), ID: o.rec.ID, Generation: gen, Paths: map[string][]string{}, Devices: cs.Devices()}
		for _, f := range cs.Twin.AddFlows {
			rc.Paths[f.ID] = slices.Clone(f.Path)
		}
		for _, ops := range cs.DeviceOps {
			rc.DeviceOps += len(ops)
		}
		css = append(css, cs)
		recs = append(recs, rc)
	}
	return css, recs, kept, errs
}

// mergeService adds a compiled service or slice update to the restoration change cs:
// its device operations, flow removals and additions, and its intent (so the pipeline
// writes the record of the new generation).
func mergeService(cs, sc *change.ChangeSet) {
	if cs.DeviceOps == nil && len(sc.DeviceOps) > 0 {
		cs.DeviceOps = map[string][]change.Op{}
	}
	for d, ops := range sc.DeviceOps {
		cs.DeviceOps[d] = append(cs.DeviceOps[d], ops...)
	}
	cs.Twin.RemoveFlows = append(cs.Twin.RemoveFlows, sc.Twin.RemoveFlows...)
	cs.Twin.AddFlows = append(cs.Twin.AddFlows, sc.Twin.AddFlows...)
	cs.Intents = append(cs.Intents, sc.Intents...)
}

// compiledFlow says whether flow is one the service compiler gives service id
// (<id>/g<gen>/...) or, table slices, slice id (<id>.<member>/g<gen>/...).
func compiledFlow(flow string, table twin.Table, id string) bool {
	if table == twin.TableSlices {
		return strings.HasPrefix(flow, id+".")
	}
	return strings.HasPrefix(flow, id+"/g")
}
