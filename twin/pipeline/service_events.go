package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
)

// Service lifecycle events (issue #15 item 5; REQ-MON-06..08). When a committed
// change creates, updates or removes a service or slice in the live twin, and when
// telemetry moves one to or from sla-violated (CheckSLAs), one ServiceEvent per
// service or slice is published on the twin event hub, table "service_events": the
// existing SSE stream (/api/v1/events?table=service_events) carries them. The record
// writes themselves are also events of the "services" and "slices" tables.

// TableServiceEvents is the event-hub table of service lifecycle events.
const TableServiceEvents twin.Table = "service_events"

// ServiceEvent is one lifecycle event of a service or slice.
type ServiceEvent struct {
	// Kind is "services" or "slices" (the record's table).
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Type is the service type (l2vpn, l3vpn, sr-policy) or "slice".
	Type string `json:"type,omitempty"`
	// Event is create, update, remove or status.
	Event  string `json:"event"`
	Status string `json:"status,omitempty"`
	From   string `json:"from,omitempty"`
	Change string `json:"change,omitempty"`
	// Reasons say why a status changed (the violated flows and links).
	Reasons []string `json:"reasons,omitempty"`
	// Paths are the service's flows and the links they take after the change: the
	// switching state of the connection (REQ-MON-08).
	Paths map[string][]string `json:"paths,omitempty"`
}

func pathsOf(cs *change.ChangeSet) map[string][]string {
	if len(cs.Twin.AddFlows) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, f := range cs.Twin.AddFlows {
		out[f.ID] = append([]string(nil), f.Path...)
	}
	return out
}

func (s *Service) publishServiceEvents(evs []ServiceEvent) {
	if len(evs) == 0 {
		return
	}
	rev := s.cfg.Twins.Live().Revision()
	out := make([]twin.Event, 0, len(evs))
	for i := range evs {
		op := twin.OpUpdate
		switch evs[i].Event {
		case "create":
			op = twin.OpCreate
		case "remove":
			op = twin.OpRemove
		}
		out = append(out, twin.Event{Twin: twin.LiveID, Table: TableServiceEvents, Op: op, ID: evs[i].Kind + "/" + evs[i].ID,
			Revision: rev, Object: &evs[i], Time: s.now()})
	}
	s.cfg.Twins.Events().Publish(out)
}

var memberFlowRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*)/g([0-9]+)/([0-9]+-[0-9]+)/p[0-9]+$`)

// CheckSLAs compares the live twin's observed link state with the SLOs of every
// committed service and slice (service.SLAViolations): an active one whose flows
// telemetry shows violated becomes sla-violated, an sla-violated one whose flows all
// hold becomes active again; each move is stored in its record and published as a
// status event. It returns the events published.
func (s *Service) CheckSLAs(ctx context.Context) ([]ServiceEvent, error) {
	live := s.cfg.Twins.Live()
	type rec struct {
		table  twin.Table
		r      twin.Record
		flows  []service.ServiceFlow
		reason []string
	}
	var recs []*rec
	err := live.View(func(r *twin.Reader) error {
		byOwner := map[string]*rec{}
		for _, t := range []twin.Table{twin.TableServices, twin.TableSlices} {
			rs, _, err := r.Records(t, twin.ListOptions{})
			if err != nil {
				return err
			}
			for _, x := range rs {
				if strings.HasPrefix(x.ID, sloPrefix) || (x.Status != string(service.StatusActive) && x.Status != string(service.StatusSLAViolated)) {
					continue
				}
				rc := &rec{table: t, r: x}
				recs = append(recs, rc)
				byOwner[string(t)+"/"+x.ID] = rc
			}
		}
		if len(recs) == 0 {
			return nil
		}
		obs := map[string]service.LinkObservation{}
		ols, _, err := r.ObservedLinks(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, ol := range ols {
			l, err := r.Link(ol.ID)
			if err != nil {
				continue
			}
			down := ol.OperStatus == network.StatusDisabled || ol.OperStatus == network.StatusUnreachable
			obs[ol.ID] = service.LinkObservation{Down: down, RateGbps: ol.RateGbps[0], CapacityGbps: l.CapacityGbps}
			obs[ol.ID+network.ReverseSuffix] = service.LinkObservation{Down: down, RateGbps: ol.RateGbps[1], CapacityGbps: l.CapacityGbps}
		}
		flows, _, err := r.Flows(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, f := range flows {
			m := memberFlowRE.FindStringSubmatch(f.ID)
			if m == nil {
				continue
			}
			owner := byOwner["services/"+m[1]]
			if owner == nil {
				if sl, _, ok := strings.Cut(m[1], "."); ok {
					owner = byOwner["slices/"+sl]
				}
			}
			if owner == nil {
				continue
			}
			sf := service.ServiceFlow{ID: f.ID, Path: f.Path, Pair: m[1] + "/" + m[3]}
			if sr, err := r.Record(twin.TableServices, sloPrefix+f.ID); err == nil {
				var slo change.SLO
				if json.Unmarshal(sr.Spec, &slo) == nil {
					sf.SLO = &slo
				}
			}
			owner.flows = append(owner.flows, sf)
		}
		for _, rc := range recs {
			rc.reason = service.SLAViolations(rc.flows, obs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var evs []ServiceEvent
	var moves []*rec
	for _, rc := range recs {
		violated := len(rc.reason) > 0
		if violated == (rc.r.Status == string(service.StatusSLAViolated)) {
			continue
		}
		moves = append(moves, rc)
	}
	if len(moves) == 0 {
		return nil, nil
	}
	sort.Slice(moves, func(i, j int) bool { return moves[i].r.ID < moves[j].r.ID })
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		evs = evs[:0]
		for _, rc := range moves {
			cur, err := tx.Record(rc.table, rc.r.ID)
			if err != nil || cur.Status != rc.r.Status {
				continue // changed meanwhile: the next check sees it
			}
			to := service.StatusActive
			if len(rc.reason) > 0 {
				to = service.StatusSLAViolated
			}
			cur.Status = string(to)
			if _, err := tx.PutRecord(rc.table, cur, twin.Upsert, twin.Any); err != nil {
				return err
			}
			evs = append(evs, ServiceEvent{Kind: string(rc.table), ID: cur.ID, Type: cur.Kind, Event: "status",
				Status: string(to), From: rc.r.Status, Reasons: rc.reason})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pipeline: store SLA status: %w", err)
	}
	s.publishServiceEvents(evs)
	return evs, nil
}

// RunSLAChecks runs CheckSLAs every interval (0: 2 s) until ctx ends; failures are
// logged and retried at the next tick.
func RunSLAChecks(ctx context.Context, s *Service, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.CheckSLAs(ctx); err != nil && ctx.Err() == nil {
				log.Warn("SLA check failed", "err", err)
			}
		}
	}
}
