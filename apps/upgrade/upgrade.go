// Package upgrade rolls a NOS version out over a network in waves (REQ-AUTO-06,
// REQ-AUTO-08, REQ-DLT-03; issue 17 item 5). Each wave is a group of devices:
//
//  1. validated in the twin first: every device is in the twin with a management
//     address, and the model with the wave's devices out of service (rebooting) still
//     carries every flow that does not start or end on them;
//  2. checked healthy before it is touched (gNMI answers, the version is known);
//  3. given the image (gNOI OS Install) and activated (Activate);
//  4. checked healthy after: Verify reports the new version with no activation
//     failure, gNMI answers and reports it at /system/state/software-version, and the
//     interfaces that were up before are up again.
//
// When a wave fails (an install or activation refused, a health check not passed
// within the timeout), every device of the wave that was activated is activated back
// to the version it ran before, and the rollout stops: later waves are not touched.
// Each device's version change — upgraded, rolled back, or failed — is appended to the
// ledger (kind device.software, subject the device), so the ledger holds every
// device's version history.
//
// The package reaches devices through the Device interface (cmd wires the gNOI and
// gNMI drivers of physical/) and the twin through Validator.
package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
)

// Bounds of a rollout plan.
const (
	MaxWaves          = 100
	MaxDevicesPerWave = 1000
	MaxDevices        = 10000
	MaxVersion        = 64
)

// Errors of the package.
var (
	// ErrPlan is wrapped by an invalid plan.
	ErrPlan = errors.New("upgrade: invalid plan")
	// ErrStopped is wrapped by Run's error when a wave failed and the rollout stopped.
	ErrStopped = errors.New("upgrade: rollout stopped")
)

// Health is what a device's health check reads over gNMI.
type Health struct {
	// SoftwareVersion is /system/state/software-version.
	SoftwareVersion string
	// Up lists the interfaces whose oper-status is UP.
	Up []string
}

// Device is one device's software and health interface (gNOI OS + gNMI).
type Device interface {
	// Install transfers the image as version (a version the device holds is not sent again).
	Install(ctx context.Context, version string, image []byte) error
	// Activate makes version the running one (the device reboots).
	Activate(ctx context.Context, version string) error
	// Verify returns the running version and the reason the last activation failed, if any.
	Verify(ctx context.Context) (version, failMessage string, err error)
	// Health reads the device's state over gNMI.
	Health(ctx context.Context) (Health, error)
}

// Dialer opens a Device for a twin device (its management address is dev.Address);
// close releases it.
type Dialer func(dev network.Device) (d Device, close func(), err error)

// Validator validates a wave in the twin before any device is touched.
type Validator interface {
	ValidateWave(ctx context.Context, devices []string) WaveCheck
}

// WaveCheck is a wave's twin validation.
type WaveCheck struct {
	OK     bool     `json:"ok"`
	Reason string   `json:"reason,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// Plan is a rollout.
type Plan struct {
	// ID names the rollout in the ledger (default: version and start time).
	ID      string
	Version string
	Image   []byte
	// Waves are the device groups, in order.
	Waves [][]string
}

// Check validates the plan's shape and bounds against net (every device known, no
// device twice).
func (p *Plan) Check(net *network.Network) error {
	if p.Version == "" || len(p.Version) > MaxVersion || strings.ContainsAny(p.Version, "/\\ \t\r\n") {
		return fmt.Errorf("%w: version must be 1..%d characters without separators or spaces", ErrPlan, MaxVersion)
	}
	if len(p.Image) == 0 {
		return fmt.Errorf("%w: empty image", ErrPlan)
	}
	if len(p.Waves) == 0 || len(p.Waves) > MaxWaves {
		return fmt.Errorf("%w: 1..%d waves, got %d", ErrPlan, MaxWaves, len(p.Waves))
	}
	known := map[string]bool{}
	for _, d := range net.Devices {
		known[d.ID] = true
	}
	seen := map[string]int{}
	total := 0
	for i, w := range p.Waves {
		if len(w) == 0 || len(w) > MaxDevicesPerWave {
			return fmt.Errorf("%w: wave %d: 1..%d devices, got %d", ErrPlan, i+1, MaxDevicesPerWave, len(w))
		}
		total += len(w)
		if total > MaxDevices {
			return fmt.Errorf("%w: more than %d devices", ErrPlan, MaxDevices)
		}
		for _, d := range w {
			if !known[d] {
				return fmt.Errorf("%w: wave %d: device %q is not in the twin", ErrPlan, i+1, trunc(d))
			}
			if j, dup := seen[d]; dup {
				return fmt.Errorf("%w: device %q is in wave %d and wave %d", ErrPlan, d, j+1, i+1)
			}
			seen[d] = i
		}
	}
	return nil
}

// Options configure Run.
type Options struct {
	// Net is the twin's network (devices with management addresses); required.
	Net *network.Network
	// Dial opens devices; required.
	Dial Dialer
	// Validator validates waves in the twin (default: TwinValidator over Net).
	Validator Validator
	// Ledger receives each device's version history (nil: none recorded).
	Ledger repository.Ledger
	// HealthTimeout bounds the wait for a device to pass its health check after
	// activation (default 30s); HealthInterval is the pause between tries (default 200ms).
	HealthTimeout, HealthInterval time.Duration
	// Actor names who ran the rollout in the ledger.
	Actor  string
	Logger *slog.Logger
	Now    func() time.Time
}

// Device results.
const (
	ResultUpgraded   = "upgraded"
	ResultRolledBack = "rolled-back"
	ResultFailed     = "failed" // could not be restored either: needs an operator
	ResultUntouched  = "untouched"
)

// DeviceResult is one device's outcome.
type DeviceResult struct {
	Device string `json:"device"`
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// WaveResult is one wave's outcome.
type WaveResult struct {
	Wave    int            `json:"wave"`
	Twin    WaveCheck      `json:"twin"`
	OK      bool           `json:"ok"`
	Reason  string         `json:"reason,omitempty"`
	Devices []DeviceResult `json:"devices"`
}

// Report is a rollout's outcome.
type Report struct {
	ID      string       `json:"id"`
	Version string       `json:"version"`
	OK      bool         `json:"ok"`
	Stopped bool         `json:"stopped"`
	Reason  string       `json:"reason,omitempty"`
	Waves   []WaveResult `json:"waves"`
}

// SoftwareRecord is the ledger payload of a device.software record.
type SoftwareRecord struct {
	Rollout string `json:"rollout"`
	Wave    int    `json:"wave"`
	From    string `json:"from,omitempty"`
	To      string `json:"to"`
	Running string `json:"running"`
	Result  string `json:"result"`
	Detail  string `json:"detail,omitempty"`
	Actor   string `json:"actor,omitempty"`
}

// Run executes the plan wave by wave and returns the report; the error wraps
// ErrStopped when a wave failed (the report says which and why).
func Run(ctx context.Context, p Plan, o Options) (*Report, error) {
	if o.Net == nil || o.Dial == nil {
		return nil, fmt.Errorf("%w: Options.Net and Options.Dial are required", ErrPlan)
	}
	if err := p.Check(o.Net); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = 30 * time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Validator == nil {
		o.Validator = TwinValidator{Net: o.Net}
	}
	if p.ID == "" {
		p.ID = fmt.Sprintf("%s@%s", p.Version, o.Now().UTC().Format(time.RFC3339))
	}
	devs := map[string]network.Device{}
	for _, d := range o.Net.Devices {
		devs[d.ID] = d
	}
	rep := &Report{ID: p.ID, Version: p.Version}
	for i, wave := range p.Waves {
		wr := runWave(ctx, i+1, wave, devs, p, o)
		rep.Waves = append(rep.Waves, wr)
		if !wr.OK {
			rep.Stopped = true
			rep.Reason = fmt.Sprintf("wave %d: %s", i+1, wr.Reason)
			return rep, fmt.Errorf("%w: %s", ErrStopped, rep.Reason)
		}
	}
	rep.OK = true
	return rep, nil
}

// member is one device of a running wave.
type member struct {
	id        string
	dev       Device
	close     func()
	from      string
	upBefore  []string
	activated bool
	res       DeviceResult
}

func runWave(ctx context.Context, n int, wave []string, devs map[string]network.Device, p Plan, o Options) WaveResult {
	log := o.Logger.With("rollout", p.ID, "wave", n)
	wr := WaveResult{Wave: n}
	untouched := func() {
		for _, id := range wave {
			wr.Devices = append(wr.Devices, DeviceResult{Device: id, To: p.Version, Result: ResultUntouched})
		}
	}
	wr.Twin = o.Validator.ValidateWave(ctx, wave)
	if !wr.Twin.OK {
		wr.Reason = "refused in the twin: " + wr.Twin.Reason
		log.Warn("wave refused in the twin", "reason", wr.Twin.Reason)
		untouched()
		return wr
	}
	// Open every device and check it is healthy before touching any.
	ms := make([]*member, 0, len(wave))
	defer func() {
		for _, m := range ms {
			m.close()
		}
	}()
	for _, id := range wave {
		d, closeFn, err := o.Dial(devs[id])
		if err != nil {
			wr.Reason = fmt.Sprintf("%s: dial: %v", id, err)
			untouched()
			return wr
		}
		m := &member{id: id, dev: d, close: closeFn}
		ms = append(ms, m)
		v, _, err := d.Verify(ctx)
		if err != nil {
			wr.Reason = fmt.Sprintf("%s: pre-check: %v", id, err)
			untouched()
			return wr
		}
		h, err := d.Health(ctx)
		if err != nil {
			wr.Reason = fmt.Sprintf("%s: pre-check: gNMI: %v", id, err)
			untouched()
			return wr
		}
		m.from, m.upBefore = v, slices.Sorted(slices.Values(h.Up))
		m.res = DeviceResult{Device: id, From: v, To: p.Version, Result: ResultUntouched}
	}
	results := func() {
		wr.Devices = wr.Devices[:0]
		for _, m := range ms {
			wr.Devices = append(wr.Devices, m.res)
		}
	}
	// Install everywhere first: a refused image stops the wave before any reboot.
	for _, m := range ms {
		if m.from == p.Version {
			continue
		}
		if err := m.dev.Install(ctx, p.Version, p.Image); err != nil {
			m.res.Detail = fmt.Sprintf("install: %v", err)
			wr.Reason = fmt.Sprintf("%s: %s", m.id, m.res.Detail)
			log.Warn("install failed", "device", m.id, "err", err)
			results()
			return wr
		}
	}
	failed := ""
	for _, m := range ms {
		if m.from == p.Version {
			m.res.Result, m.res.Detail = ResultUpgraded, "already running the version"
			continue
		}
		m.activated = true
		if err := m.dev.Activate(ctx, p.Version); err != nil {
			m.res.Detail = fmt.Sprintf("activate: %v", err)
			failed = fmt.Sprintf("%s: %s", m.id, m.res.Detail)
			break
		}
		if err := healthy(ctx, m, p.Version, o); err != nil {
			m.res.Detail = fmt.Sprintf("health: %v", err)
			failed = fmt.Sprintf("%s: %s", m.id, m.res.Detail)
			break
		}
		m.res.Result = ResultUpgraded
	}
	if failed == "" {
		for _, m := range ms {
			if m.activated {
				record(ctx, o, p, n, m, m.res.Result, p.Version)
			}
		}
		results()
		wr.OK = true
		log.Info("wave upgraded", "devices", len(ms))
		return wr
	}
	// Roll the wave back: every activated device goes back to the version it ran.
	log.Warn("wave failed; rolling back", "reason", failed)
	wr.Reason = failed
	for _, m := range ms {
		if !m.activated {
			continue
		}
		detail := m.res.Detail
		running, err := rollback(ctx, m, o)
		if err != nil {
			m.res.Result = ResultFailed
			m.res.Detail = strings.TrimPrefix(detail+"; rollback: "+err.Error(), "; ")
		} else {
			m.res.Result = ResultRolledBack
			if detail == "" {
				m.res.Detail = "rolled back with its wave"
			}
		}
		record(ctx, o, p, n, m, m.res.Result, running)
	}
	results()
	return wr
}

// healthy polls the device until it reports version with no activation failure over
// gNOI, reports it over gNMI, and has every interface up that was up before.
func healthy(ctx context.Context, m *member, version string, o Options) error {
	deadline := time.Now().Add(o.HealthTimeout)
	var last error
	for {
		last = check(ctx, m, version)
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(o.HealthInterval):
		}
	}
}

func check(ctx context.Context, m *member, version string) error {
	v, fail, err := m.dev.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %v", err)
	}
	if fail != "" {
		return fmt.Errorf("verify: running %q, activation failed: %s", v, fail)
	}
	if v != version {
		return fmt.Errorf("verify: running %q, want %q", v, version)
	}
	h, err := m.dev.Health(ctx)
	if err != nil {
		return fmt.Errorf("gNMI: %v", err)
	}
	if h.SoftwareVersion != version {
		return fmt.Errorf("gNMI software-version %q, want %q", h.SoftwareVersion, version)
	}
	up := map[string]bool{}
	for _, p := range h.Up {
		up[p] = true
	}
	var down []string
	for _, p := range m.upBefore {
		if !up[p] {
			down = append(down, p)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("interfaces not back up: %s", strings.Join(down, ", "))
	}
	return nil
}

// rollback activates the device's previous version and checks it runs it; it returns
// the running version as far as it is known.
func rollback(ctx context.Context, m *member, o Options) (string, error) {
	ctx = context.WithoutCancel(ctx) // a cancelled rollout still restores what it touched
	if err := m.dev.Activate(ctx, m.from); err != nil {
		v, _, _ := m.dev.Verify(ctx)
		return v, fmt.Errorf("activate %s: %v", m.from, err)
	}
	if err := healthy(ctx, m, m.from, o); err != nil {
		v, _, _ := m.dev.Verify(ctx)
		return v, err
	}
	return m.from, nil
}

func record(ctx context.Context, o Options, p Plan, wave int, m *member, result, running string) {
	if o.Ledger == nil {
		return
	}
	o.Logger.Info("device software", "device", m.id, "result", result, "running", running)
	payload, err := json.Marshal(SoftwareRecord{Rollout: p.ID, Wave: wave, From: m.from, To: p.Version, Running: running,
		Result: result, Detail: m.res.Detail, Actor: o.Actor})
	if err == nil {
		_, err = o.Ledger.Append(context.WithoutCancel(ctx), repository.LedgerEntry{Kind: repository.KindDeviceSoftware, Subject: m.id, Payload: payload})
	}
	if err != nil {
		o.Logger.Error("ledger append failed", "device", m.id, "err", err)
	}
}

// History returns a device's software records from the ledger, oldest first.
func History(ctx context.Context, l repository.Ledger, device string) ([]repository.LedgerRecord, error) {
	var out []repository.LedgerRecord
	from := int64(0)
	for {
		recs, err := l.List(ctx, from, 1000)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Kind == repository.KindDeviceSoftware && r.Subject == device {
				out = append(out, r)
			}
		}
		if len(recs) < 1000 {
			return out, nil
		}
		from = recs[len(recs)-1].Seq + 1
	}
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
