package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
)

// Service and slice records (issue #15). A ChangeSet of kind service or slice carries
// one intent (models/service); validating it writes the record into the fork's
// services or slices table — planned (new), updating (the ID exists) or pending-removal
// (a deletion) — and committing it writes the live record active, or removes it. A
// record's ID is the service or slice ID, which never contains ':' and so never
// collides with the "slo:<flow>" records kept in the same services table.

// serviceRecords writes the records of cs's service and slice intents into tx and
// returns the lifecycle events of a committed change (create, update, remove). A
// change of kind intent may carry service and slice intents beside its own (a
// restoration that recompiled the services whose flows it moves): those are handled
// the same way and its other intents are left alone.
func serviceRecords(tx *twin.Txn, cs *change.ChangeSet, committed bool) ([]ServiceEvent, error) {
	if cs.Kind != change.KindService && cs.Kind != change.KindSlice && cs.Kind != change.KindIntent {
		return nil, nil
	}
	var evs []ServiceEvent
	for _, in := range cs.Intents {
		if cs.Kind == change.KindIntent && !isServiceIntent(in.Type) {
			continue
		}
		spec, err := service.SpecOf(in)
		if err != nil {
			return nil, err
		}
		table, kind := twin.TableServices, ""
		var id string
		switch v := spec.(type) {
		case *service.Service:
			if cs.Kind == change.KindSlice {
				return nil, fmt.Errorf("a %s change carries a service intent", cs.Kind)
			}
			id, kind = v.ID, string(v.Type)
		case *service.Slice:
			if cs.Kind == change.KindService {
				return nil, fmt.Errorf("a %s change carries a slice intent", cs.Kind)
			}
			table, id, kind = twin.TableSlices, v.ID, "slice"
		}
		if id != in.Name || id == "" || strings.Contains(id, ":") {
			return nil, fmt.Errorf("intent %q: the spec's id %q must equal its name and contain no ':'", in.Name, id)
		}
		old, err := tx.Record(table, id)
		exists := err == nil
		if err != nil && !errors.Is(err, twin.ErrNotFound) {
			return nil, err
		}
		removal := strings.HasSuffix(in.Type, ".delete")
		if removal && !exists {
			return nil, fmt.Errorf("%s %q does not exist: nothing to delete", kind, id)
		}
		ev := ServiceEvent{Kind: string(table), ID: id, Type: kind, Change: cs.ID, Event: "create", Status: string(service.StatusActive)}
		if exists {
			ev.Event, ev.From = "update", old.Status
		}
		if removal && committed {
			if err := tx.DeleteRecord(table, id, twin.Any); err != nil {
				return nil, err
			}
			ev.Event, ev.Status = "remove", ""
			evs = append(evs, ev)
			continue
		}
		status := service.StatusActive
		switch {
		case committed:
		case removal:
			status = service.StatusPendingRemoval
		case exists:
			status = service.StatusUpdating
		default:
			status = service.StatusPlanned
		}
		if _, err := tx.PutRecord(table, twin.Record{ID: id, Kind: kind, Spec: in.Spec, Status: string(status)}, twin.Upsert, twin.Any); err != nil {
			return nil, err
		}
		if committed {
			ev.Paths = pathsOf(cs)
			if cs.Kind == change.KindIntent { // the change's flows of this service or slice only
				for f := range ev.Paths {
					if !ownedBy(f, table, id) {
						delete(ev.Paths, f)
					}
				}
			}
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

func isServiceIntent(t string) bool {
	switch t {
	case service.IntentService, service.IntentServiceDelete, service.IntentSlice, service.IntentSliceDelete:
		return true
	}
	return false
}

// ownedBy says whether flow is one the service compiler gives service id
// (<id>/g<gen>/...) or, table slices, slice id (a member's <id>.<member>/g<gen>/...).
func ownedBy(flow string, table twin.Table, id string) bool {
	if table == twin.TableSlices {
		return strings.HasPrefix(flow, id+".")
	}
	return strings.HasPrefix(flow, id+"/g")
}

// ServiceEnv is the environment services compile in against the live twin: its devices
// and links (the TED; links intended down or reported down by telemetry are excluded
// from every path), underlay addresses and SIDs (service.NewEnv: device labels, the
// loopback's address in the intended configuration) and, as reservations, the paths of
// the hard-isolated flows already in the twin. now is the compile time.
func (s *Service) ServiceEnv(ctx context.Context, now time.Time) (*service.Env, error) {
	live, err := s.cfg.Twins.Get(twin.LiveID)
	if err != nil {
		return nil, err
	}
	var env *service.Env
	err = live.View(func(r *twin.Reader) error {
		configs, err := s.l1.configs(r)
		if err != nil {
			return err
		}
		// devices and links only (the model cache's copy): flows are not read
		n := s.l1.staticNet(r)
		model, err := s.l1.get(r) // its routing graph is built once per live revision
		if err != nil {
			return err
		}
		if env, err = s.baseEnv(r.Revision(), n, model, configs); err != nil {
			return err
		}
		env.Now = now
		for l := range observedDown(r) { // links telemetry reports down: L1 refuses paths over them
			env.DownLinks[l] = true
		}
		s.resv.Lock()
		defer s.resv.Unlock()
		if s.resv.r != nil && s.resv.rev == r.Revision() {
			env.Reservations = s.resv.r.Clone() // the hard SLO flows of this revision, decoded once
			return nil
		}
		env.Reservations = routing.NewReservations()
		recs, _, err := r.Records(twin.TableServices, twin.ListOptions{After: sloPrefix})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			id, ok := strings.CutPrefix(rec.ID, sloPrefix)
			if !ok {
				break
			}
			var slo change.SLO
			if json.Unmarshal(rec.Spec, &slo) != nil || slo.Isolation != change.IsolationHard || slo.MinRateGbps <= 0 {
				continue
			}
			if f, err := r.Flow(id); err == nil && len(f.Path) > 0 {
				_ = env.Reservations.Reserve(id, f.Path, slo.MinRateGbps, 0)
			}
		}
		s.resv.rev, s.resv.r = r.Revision(), env.Reservations.Clone()
		return nil
	})
	return env, err
}

// baseEnv is service.NewEnv of the live twin at revision rev, built once per revision
// (it parses every device's labels and reads every device's configuration: 1,000
// devices on the slice benchmark's twin), returned as a copy whose maps are the
// caller's to change.
func (s *Service) baseEnv(rev uint64, n *network.Network, model *liveModel, configs map[string]change.Tree) (*service.Env, error) {
	s.envc.Lock()
	defer s.envc.Unlock()
	if s.envc.env == nil || s.envc.rev != rev || s.envc.graph != model.graphOf() {
		e, err := service.NewEnv(&network.Network{Devices: n.Devices, Links: n.Links}, model.graphOf(), configs)
		if err != nil {
			return nil, err
		}
		s.envc.rev, s.envc.graph, s.envc.env = rev, model.graphOf(), e
	}
	env := *s.envc.env
	env.Underlay, env.SIDs, env.DownLinks = maps.Clone(env.Underlay), maps.Clone(env.SIDs), maps.Clone(env.DownLinks)
	return &env, nil
}

// envCache keeps the compile environment of one live revision (baseEnv).
type envCache struct {
	sync.Mutex
	rev   uint64
	graph *routing.Graph
	env   *service.Env
}

// resvCache keeps the reservations of the live twin's hard SLO flows for one revision
// (ServiceEnv decoded every SLO record on each call: 100,000 on the benchmark's twin).
type resvCache struct {
	sync.Mutex
	rev uint64
	r   *routing.Reservations
}
