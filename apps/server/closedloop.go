package server

import (
	"context"
	"fmt"
	"math"

	mon "github.com/twinflow/twinflow/models/monitor"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin/monitor"
)

// ClosedLoopConfig configures the policy engine and restoration (issue 17,
// docs/policies.md). They need the change pipeline (Config.Changes).
type ClosedLoopConfig struct {
	// ApprovalRule, when set, approves the validated changes the policy engine and
	// restoration propose, recorded as approver "rule:<ApprovalRule>". Empty (the
	// default): their changes wait, validated, for a person to approve them.
	ApprovalRule string
	// Restore reacts to link and device failures telemetry reports.
	Restore bool
	// OptimizeAbove (percent, 0 = off) re-optimises paths when an observed link's
	// utilisation rises above it.
	OptimizeAbove float64
}

func (c *ClosedLoopConfig) check() error {
	if c.ApprovalRule != "" {
		if _, err := auth.NormalizeName(c.ApprovalRule); err != nil {
			return fmt.Errorf("%w: ClosedLoop.ApprovalRule: %v", ErrConfig, err)
		}
	}
	if math.IsNaN(c.OptimizeAbove) || c.OptimizeAbove < 0 || c.OptimizeAbove > 100 {
		return fmt.Errorf("%w: ClosedLoop.OptimizeAbove must be in [0, 100], got %v", ErrConfig, c.OptimizeAbove)
	}
	return nil
}

// startClosedLoops runs the policy engine and restoration over the live twin; their
// changes go through the pipeline env.nbi.Changes.
func startClosedLoops(ctx context.Context, env *assembly, o ClosedLoopConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	svc := env.nbi.Changes
	if svc == nil {
		return fmt.Errorf("%w: the policy engine and restoration need the change pipeline", ErrConfig)
	}
	// the approval rules (--approval-rules) that name "policy-engine" or "restoration"
	// among their authors approve those changes; --policy-approval-rule approves them all
	var ap closedloop.Approver = closedloop.ApprovalRules{Rules: svc.ApprovalRules}
	if o.ApprovalRule != "" {
		ap = closedloop.NamedRule{Name: o.ApprovalRule}
		env.notes = append(env.notes, fmt.Sprintf("Policy engine and restoration changes are approved by rule %q (--policy-approval-rule).", o.ApprovalRule))
	}
	log := env.log
	var more []policy.Facts
	if env.nbi.Monitor != nil {
		more = append(more, MonitorFacts{env.nbi.Monitor})
	}
	var sink closedloop.AlarmSink
	if env.nbi.Monitor != nil {
		sink = MonitorFacts{env.nbi.Monitor}
	}
	eng, err := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.twins, Pipeline: svc, Approver: ap, Logger: log, More: more, Alarms: sink})
	if err != nil {
		return err
	}
	rs, err := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: env.twins, Pipeline: svc, Approver: ap, Services: svc,
		UtilisationBound: o.OptimizeAbove, Ledger: env.store.Ledger(), Logger: log})
	if err != nil {
		return err
	}
	env.nbi.Policies, env.nbi.Restorer = eng, rs
	env.goRun(ctx, eng.Run)
	if o.Restore || o.OptimizeAbove > 0 {
		env.goRun(ctx, rs.Run)
	}
	return nil
}

// MonitorFacts presents the monitoring service (docs/monitoring.md) to policy
// conditions: its KPIs by descriptor ID (the latest sample's value) and its active
// alarms (name: the alarm's key, e.g. "link-down:L1"; kind: its type; subject: its
// subject). It has no events of its own (the engine's Recorder has the telemetry's).
type MonitorFacts struct{ M *monitor.Service }

// KPI implements policy.Facts.
func (f MonitorFacts) KPI(name string) (float64, bool) {
	v, ok := f.M.Facts().KPIs[name]
	return v.Value, ok
}

// Alarms implements policy.Facts.
func (f MonitorFacts) Alarms() []policy.Alarm {
	as := f.M.Facts().Alarms
	out := make([]policy.Alarm, 0, len(as))
	for _, a := range as {
		out = append(out, policy.Alarm{Name: a.Key, Kind: string(a.Type), Subject: a.Subject})
	}
	return out
}

// Events implements policy.Facts.
func (MonitorFacts) Events() []policy.Event { return nil }

// RaisePolicyAlarm implements closedloop.AlarmSink: a rule's raise-alarm action becomes
// an active alarm of type policy in the monitor (listed, streamed, acknowledged like the
// others).
func (f MonitorFacts) RaisePolicyAlarm(ctx context.Context, key, severity, text string) error {
	_, err := f.M.Raise(ctx, mon.Condition{Key: key, Type: mon.TypePolicy, Severity: mon.Severity(severity), Text: text})
	return err
}
