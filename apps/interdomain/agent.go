package interdomain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// Pipeline is the part of a domain's change pipeline (twin/pipeline.Service) the
// agent orders sub-slices through.
type Pipeline interface {
	Propose(ctx context.Context, cs *change.ChangeSet, actor string) (*pipeline.Change, error)
	Approve(ctx context.Context, id, actor string) (*pipeline.Change, error)
	Commit(ctx context.Context, id, actor string, confirm time.Duration) (*pipeline.Change, error)
	Confirm(ctx context.Context, id, actor string) (*pipeline.Change, error)
	Rollback(ctx context.Context, id, actor, reason string) (*pipeline.Change, error)
	Get(ctx context.Context, id string) (*pipeline.Change, error)
}

// Errors of the agent.
var (
	// ErrRefused: the domain does not accept the sub-slice (its validation failed);
	// nothing was committed.
	ErrRefused = errors.New("sub-slice refused")
	// ErrNotSubSlice: the change named is not a sub-slice (a peer may act on
	// sub-slices only).
	ErrNotSubSlice = errors.New("not an inter-domain sub-slice")
)

// PolicyActor approves sub-slices on the domain's behalf: a sub-slice a peer orders is
// accepted when its validation (L1) passes, by this domain's inter-domain policy.
const PolicyActor = "interdomain-policy"

// SubSlice is a domain's view of one sub-slice: its change and the KPIs its twin
// predicts.
type SubSlice struct {
	Change string       `json:"change"`
	Slice  string       `json:"slice"`
	State  change.State `json:"state"`
	Src    string       `json:"src"`
	Dst    string       `json:"dst"`
	SLO    SLO          `json:"slo"`
	// PredictedRateGbps and PredictedLatencyMs are the twin's prediction for the
	// sub-slice's flow (from its validation).
	PredictedRateGbps  *float64 `json:"predicted_rate_gbps,omitempty"`
	PredictedLatencyMs *float64 `json:"predicted_latency_ms,omitempty"`
	// Failed lists the failed checks ("l1.latency: …") of a refused sub-slice.
	Failed []string `json:"failed,omitempty"`
	// Reason is why the commit ended as it did (rolled back, failed), if it did.
	Reason string `json:"reason,omitempty"`
}

// Agent serves a domain's side: it orders, confirms and rolls back sub-slices through
// the domain's own change pipeline.
type Agent struct {
	p       Pipeline
	managed func(device string) bool
}

// NewAgent returns the agent over a domain's pipeline. managed reports whether a
// device of the domain's twin is a managed device (one the controller configures over
// gNMI: it has a management address); nil: none is.
func NewAgent(p Pipeline, managed func(device string) bool) *Agent {
	if managed == nil {
		managed = func(string) bool { return false }
	}
	return &Agent{p: p, managed: managed}
}

// NetworkInstance is the network instance (L3VRF) a sub-slice of slice configures on
// the domain's managed devices at its ends.
func NetworkInstance(slice string) string { return "idm-" + slice }

// subsliceIntent is the intent kept in a sub-slice's change.
type subsliceIntent struct {
	Slice       string `json:"slice"`
	Coordinator string `json:"coordinator"`
	Peer        string `json:"peer"`
	Src         string `json:"src"`
	Dst         string `json:"dst"`
	SLO         SLO    `json:"slo"`
}

// ChangeSet is the change a sub-slice request proposes: one flow from Src to Dst,
// owned by the slice, with the SLO, validated at L1; and, on each end that is a
// managed device (managed may be nil), the slice's network instance (an L3VRF named
// NetworkInstance(slice), described with the slice and its coordinator).
func (r *SubSliceRequest) ChangeSet(peer string, managed func(string) bool) (*change.ChangeSet, error) {
	spec, err := json.Marshal(subsliceIntent{Slice: r.Slice, Coordinator: r.Coordinator, Peer: peer, Src: r.Src, Dst: r.Dst, SLO: r.SLO})
	if err != nil {
		return nil, err
	}
	var ops map[string][]change.Op
	for _, dev := range []string{r.Src, r.Dst} {
		if managed == nil || !managed(dev) {
			continue
		}
		ni := NetworkInstance(r.Slice)
		v, err := json.Marshal(map[string]string{"name": ni, "type": "openconfig-network-instance-types:L3VRF",
			"description": fmt.Sprintf("inter-domain slice %s, coordinator %s", r.Slice, r.Coordinator)})
		if err != nil {
			return nil, err
		}
		if ops == nil {
			ops = map[string][]change.Op{}
		}
		ops[dev] = []change.Op{{Op: change.OpUpdate, Path: "/network-instances/network-instance[name=" + ni + "]/config", Value: v}}
	}
	return &change.ChangeSet{
		DeviceOps: ops,
		Label:     "inter-domain sub-slice " + r.Slice,
		Comment:   fmt.Sprintf("sub-slice of %s ordered by %s for coordinator %s", r.Slice, peer, r.Coordinator),
		Kind:      change.KindIntent, Level: change.L1,
		Intents: []change.Intent{{Type: IntentType, Name: r.Slice, Spec: spec}},
		Twin: change.TwinDelta{AddFlows: []change.FlowSpec{{
			Flow: network.Flow{ID: FlowID(r.Slice), Src: r.Src, Dst: r.Dst, Owner: r.Slice},
			SLO:  r.SLO.change(),
		}}},
	}, nil
}

// Prepare validates the sub-slice in the domain's twin and, if it passes, approves it
// by the domain's policy and commits it with the request's confirm window. A refused
// sub-slice (ErrRefused) left nothing committed: its change is rejected.
func (a *Agent) Prepare(ctx context.Context, peer string, r *SubSliceRequest) (*SubSlice, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	cs, err := r.ChangeSet(peer, a.managed)
	if err != nil {
		return nil, err
	}
	ch, err := a.p.Propose(ctx, cs, peer)
	if ch == nil {
		return nil, err
	}
	if ch.State != change.StateValidated {
		v := view(ch)
		return v, fmt.Errorf("%w: %s is %s: %s", ErrRefused, ch.ID, ch.State, strings.Join(v.Failed, "; "))
	}
	if ch, err = a.p.Approve(ctx, ch.ID, PolicyActor); err != nil {
		return viewOrNil(ch), err
	}
	ch, err = a.p.Commit(ctx, ch.ID, peer, r.Window())
	if ch != nil && ch.State == change.StateCommitting && err == nil {
		return view(ch), nil
	}
	if err == nil {
		err = fmt.Errorf("the commit of %s ended %s", ch.ID, ch.State)
	}
	if ch != nil && (ch.State == change.StateRejected || ch.State == change.StateRolledBack) {
		return view(ch), fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return viewOrNil(ch), err
}

func viewOrNil(ch *pipeline.Change) *SubSlice {
	if ch == nil {
		return nil
	}
	return view(ch)
}

// load returns the change id if it is a sub-slice.
func (a *Agent) load(ctx context.Context, id string) (*pipeline.Change, error) {
	ch, err := a.p.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if ch.ChangeSet == nil || len(ch.ChangeSet.Intents) != 1 || ch.ChangeSet.Intents[0].Type != IntentType {
		return nil, fmt.Errorf("%w: %s", ErrNotSubSlice, id)
	}
	return ch, nil
}

// Get returns a sub-slice's state and predicted KPIs.
func (a *Agent) Get(ctx context.Context, id string) (*SubSlice, error) {
	ch, err := a.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return view(ch), nil
}

// Confirm confirms a sub-slice in its confirm window.
func (a *Agent) Confirm(ctx context.Context, peer, id string) (*SubSlice, error) {
	if _, err := a.load(ctx, id); err != nil {
		return nil, err
	}
	ch, err := a.p.Confirm(ctx, id, peer)
	return viewOrNil(ch), err
}

// Rollback rolls a sub-slice in its confirm window back.
func (a *Agent) Rollback(ctx context.Context, peer, id, reason string) (*SubSlice, error) {
	if _, err := a.load(ctx, id); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "inter-domain slice aborted"
	}
	ch, err := a.p.Rollback(ctx, id, peer, clip(reason, 200))
	return viewOrNil(ch), err
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// view builds the sub-slice view of a change.
func view(ch *pipeline.Change) *SubSlice {
	v := &SubSlice{Change: ch.ID, State: ch.State}
	if ch.ChangeSet != nil && len(ch.ChangeSet.Intents) == 1 {
		var in subsliceIntent
		if json.Unmarshal(ch.ChangeSet.Intents[0].Spec, &in) == nil {
			v.Slice, v.Src, v.Dst, v.SLO = in.Slice, in.Src, in.Dst, in.SLO
		}
	}
	if rep := ch.Report; rep != nil {
		flow := FlowID(v.Slice)
		for _, k := range rep.KPIs {
			if k.Subject != flow || k.After == nil {
				continue
			}
			switch k.Name {
			case "rate":
				v.PredictedRateGbps = k.After
			case "latency":
				v.PredictedLatencyMs = k.After
			}
		}
		for _, c := range rep.Checks {
			if c.Status == change.Fail {
				v.Failed = append(v.Failed, c.Name+": "+c.Message)
			}
		}
	}
	if ch.Commit != nil && ch.State != change.StateCommitted && ch.State != change.StateCommitting {
		v.Reason = ch.Commit.Reason
	}
	return v
}
