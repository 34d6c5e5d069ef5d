// Package ztp is zero-touch provisioning (seed 000 §8.5, REQ-AUTO-01/05; issue 17 item
// 4). A device that registers itself (twinflow-node --register), or that an operator
// adds to the inventory, is given a role; its day-0 configuration is rendered from the
// role's template (stored in the repository, versioned), validated in the twin, pushed
// through the change pipeline as a ChangeSet, verified and marked enabled:
//
//	registered → validating → committing → enabled
//	                       ↘ rejected (refused in the twin: the device is untouched)
//	                                    ↘ failed (the commit did not take; rolled back)
//
// Validation in the twin is the pipeline's own (schema, references, capabilities, IP
// address conflicts with every other device's intended configuration, and the model
// checks) plus the reachability checks of this package: the device's management
// address answers gNMI, and so does every neighbour the twin links it to. The change is
// proposed by the "ztp" actor and approved on behalf of the role version (whose
// template an administrator stored), so no human step is needed per device.
package ztp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	mztp "github.com/twinflow/twinflow/models/ztp"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// Device states.
const (
	StateRegistered = "registered"
	StateValidating = "validating"
	StateCommitting = "committing"
	StateEnabled    = "enabled"
	StateRejected   = "rejected"
	StateFailed     = "failed"
)

// Actor is the change pipeline actor ZTP proposes and commits as.
const Actor = "ztp"

// LabelRole and LabelState are the twin device labels ZTP maintains.
const (
	LabelRole  = "ztp.role"
	LabelState = "ztp.state"
)

// Errors of the service.
var (
	// ErrConflict: the registration clashes with a device the inventory already has.
	ErrConflict = errors.New("ztp: conflict")
	// ErrNotFound: no such role or device.
	ErrNotFound = errors.New("ztp: not found")
	// ErrUnavailable: the service has no change pipeline.
	ErrUnavailable = errors.New("ztp: unavailable")
)

// Prober checks that a device answers at its management address (gNMI Capabilities).
type Prober interface {
	Reachable(ctx context.Context, device, address string) error
}

// Service provisions devices. Create it with New; call Start before registering.
type Service struct {
	twins   *twin.Manager
	changes *pipeline.Service
	store   repository.ZTP
	probe   Prober
	log     *slog.Logger

	// Timeout bounds one provisioning run (default 2 minutes).
	Timeout time.Duration

	mu       sync.Mutex
	base     context.Context
	running  map[string]bool // devices with a provisioning run in flight
	again    map[string]bool // devices registered again during their run
	wg       sync.WaitGroup
	provisMu sync.Mutex // one provisioning run at a time (they share the pipeline)
}

// New returns a service; changes may be nil (then provisioning answers ErrUnavailable).
func New(twins *twin.Manager, changes *pipeline.Service, store repository.ZTP, probe Prober, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{twins: twins, changes: changes, store: store, probe: probe, log: log, Timeout: 2 * time.Minute,
		running: map[string]bool{}, again: map[string]bool{}}
}

// Start sets the context provisioning runs under (until ctx is done).
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
}

// Wait waits for provisioning runs in flight to end.
func (s *Service) Wait() { s.wg.Wait() }

// Available reports whether the service can provision (a change pipeline is configured).
func (s *Service) Available() bool { return s.changes != nil && s.store != nil }

// RoleView is a stored role version.
type RoleView struct {
	Name        string     `json:"name"`
	Version     int64      `json:"version"`
	Author      string     `json:"author,omitempty"`
	Created     time.Time  `json:"created"`
	Description string     `json:"description,omitempty"`
	Match       mztp.Match `json:"match"`
	Template    string     `json:"template"`
}

func viewOf(r repository.ZTPRole) (RoleView, *mztp.Role, error) {
	role, err := mztp.ParseRole(r.Spec)
	if err != nil {
		return RoleView{}, nil, fmt.Errorf("stored role %s v%d: %w", r.Name, r.Version, err)
	}
	return RoleView{Name: r.Name, Version: r.Version, Author: r.Author, Created: r.Created, Description: role.Description,
		Match: role.Match, Template: role.Template}, role, nil
}

// PutRole parses a role document and stores it as the role's next version.
func (s *Service) PutRole(ctx context.Context, doc []byte, author string) (RoleView, error) {
	if s.store == nil {
		return RoleView{}, ErrUnavailable
	}
	role, err := mztp.ParseRole(doc)
	if err != nil {
		return RoleView{}, err
	}
	rec, err := s.store.PutRole(ctx, role.Name, role.JSON(), author)
	if err != nil {
		return RoleView{}, err
	}
	v, _, err := viewOf(rec)
	return v, err
}

// Role returns version of a role (0: the latest).
func (s *Service) Role(ctx context.Context, name string, version int64) (RoleView, error) {
	if s.store == nil {
		return RoleView{}, ErrUnavailable
	}
	if err := mztp.CheckName("role", name); err != nil {
		return RoleView{}, err
	}
	rec, err := s.store.Role(ctx, name, version)
	if errors.Is(err, repository.ErrNotFound) {
		return RoleView{}, fmt.Errorf("%w: role %s version %d", ErrNotFound, name, version)
	}
	if err != nil {
		return RoleView{}, err
	}
	v, _, err := viewOf(rec)
	return v, err
}

// Roles returns the latest version of every role.
func (s *Service) Roles(ctx context.Context) ([]RoleView, error) {
	if s.store == nil {
		return nil, ErrUnavailable
	}
	recs, err := s.store.Roles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RoleView, 0, len(recs))
	for _, r := range recs {
		v, _, err := viewOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Devices lists provisioned devices; Device returns one.
func (s *Service) Devices(ctx context.Context) ([]repository.ZTPDevice, error) {
	if s.store == nil {
		return nil, ErrUnavailable
	}
	return s.store.Devices(ctx)
}

// Device returns a device's provisioning record.
func (s *Service) Device(ctx context.Context, id string) (repository.ZTPDevice, error) {
	if s.store == nil {
		return repository.ZTPDevice{}, ErrUnavailable
	}
	if err := mztp.CheckName("device", id); err != nil {
		return repository.ZTPDevice{}, err
	}
	d, err := s.store.Device(ctx, id)
	if errors.Is(err, repository.ErrNotFound) {
		return d, fmt.Errorf("%w: device %s", ErrNotFound, id)
	}
	return d, err
}

// Register records a registration and starts provisioning it. inventory is true when
// an operator adds the device (it may then name a role, and may adopt a device the
// twin already holds); a device registering itself may only claim a name the twin
// does not hold yet, or re-register with the registration it was provisioned with.
func (s *Service) Register(ctx context.Context, reg mztp.Registration, inventory bool) (repository.ZTPDevice, error) {
	if !s.Available() {
		return repository.ZTPDevice{}, ErrUnavailable
	}
	if err := reg.Check(); err != nil {
		return repository.ZTPDevice{}, err
	}
	if !inventory && reg.Role != "" {
		return repository.ZTPDevice{}, fmt.Errorf("%w: a device may not choose its role; an operator assigns it (ztp add)", mztp.ErrInvalid)
	}
	regJSON, _ := json.Marshal(reg)
	prev, err := s.store.Device(ctx, reg.Name)
	known := err == nil
	if err != nil && !errors.Is(err, repository.ErrNotFound) {
		return repository.ZTPDevice{}, err
	}
	if !inventory {
		if _, terr := s.twins.Live().Device(reg.Name); terr == nil && !known {
			return repository.ZTPDevice{}, fmt.Errorf("%w: device %s is in the inventory and was not registered through ZTP; an operator adds it (ztp add)", ErrConflict, reg.Name)
		}
		if known && prev.State == StateEnabled {
			var old mztp.Registration
			_ = json.Unmarshal(prev.Registration, &old)
			if sameRegistration(old, reg) {
				return prev, nil // a restart of a provisioned device: nothing to do
			}
			return repository.ZTPDevice{}, fmt.Errorf("%w: device %s is enabled with another registration (address %s); an operator re-provisions it (ztp add)", ErrConflict, reg.Name, old.Address)
		}
	}
	rec := repository.ZTPDevice{ID: reg.Name, Role: reg.Role, State: StateRegistered, Registration: regJSON,
		Detail: "registered; provisioning queued"}
	if known {
		rec.Created = prev.Created
	}
	rec, err = s.store.PutDevice(ctx, rec)
	if err != nil {
		return repository.ZTPDevice{}, err
	}
	s.kick(reg.Name)
	return rec, nil
}

// Provision re-runs provisioning of a known device (after a role was fixed, say).
func (s *Service) Provision(ctx context.Context, id string) (repository.ZTPDevice, error) {
	d, err := s.Device(ctx, id)
	if err != nil {
		return d, err
	}
	if !s.Available() {
		return d, ErrUnavailable
	}
	d.State, d.Detail = StateRegistered, "provisioning queued"
	if d, err = s.store.PutDevice(ctx, d); err != nil {
		return d, err
	}
	s.kick(id)
	return d, nil
}

func sameRegistration(a, b mztp.Registration) bool {
	return a.Name == b.Name && a.Address == b.Address && strings.Join(a.Ports, ",") == strings.Join(b.Ports, ",")
}

// kick starts a provisioning run for id, or asks the one in flight to run again.
func (s *Service) kick(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[id] {
		s.again[id] = true
		return
	}
	base := s.base
	if base == nil {
		base = context.Background()
	}
	s.running[id] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.run(base, id)
			s.mu.Lock()
			if !s.again[id] || base.Err() != nil {
				delete(s.running, id)
				delete(s.again, id)
				s.mu.Unlock()
				return
			}
			delete(s.again, id)
			s.mu.Unlock()
		}
	}()
}

// run provisions one device and records the outcome.
func (s *Service) run(base context.Context, id string) {
	s.provisMu.Lock()
	defer s.provisMu.Unlock()
	ctx, cancel := context.WithTimeout(base, s.Timeout)
	defer cancel()
	rec, err := s.store.Device(ctx, id)
	if err != nil {
		s.log.Error("ztp: load device", "device", id, "err", err)
		return
	}
	state, detail := s.provision(ctx, &rec)
	rec.State, rec.Detail = state, detail
	if _, err := s.store.PutDevice(context.WithoutCancel(ctx), rec); err != nil {
		s.log.Error("ztp: store outcome", "device", id, "err", err)
	}
	s.label(context.WithoutCancel(ctx), id, rec.Role, state)
	s.log.Info("ztp: provisioned", "device", id, "role", rec.Role, "state", state, "detail", detail)
}

func (s *Service) setState(ctx context.Context, rec *repository.ZTPDevice, state, detail string) {
	rec.State, rec.Detail = state, detail
	if r, err := s.store.PutDevice(ctx, *rec); err == nil {
		*rec = r
	}
}

// provision runs the steps and returns the final state and its explanation.
func (s *Service) provision(ctx context.Context, rec *repository.ZTPDevice) (string, string) {
	var reg mztp.Registration
	if err := json.Unmarshal(rec.Registration, &reg); err != nil {
		return StateRejected, "stored registration unreadable: " + err.Error()
	}
	// 1. The role: the one an operator named, else the longest name-prefix match.
	roleRec, role, err := s.pickRole(ctx, reg)
	if err != nil {
		return StateRejected, err.Error()
	}
	rec.Role, rec.RoleVersion = roleRec.Name, roleRec.Version
	index, err := s.ordinal(ctx, rec.ID, roleRec.Name)
	if err != nil {
		return StateFailed, err.Error()
	}
	s.setState(ctx, rec, StateValidating, fmt.Sprintf("role %s v%d; validating in the twin", roleRec.Name, roleRec.Version))
	// 2. The day-0 configuration from the role's template.
	ops, err := role.Render(mztp.NewDevice(reg, roleRec.Name, index))
	if err != nil {
		return StateRejected, "template: " + err.Error()
	}
	// 3. The device in the twin's inventory (not enabled yet), then reachability.
	if err := s.putDevice(ctx, reg, roleRec.Name); err != nil {
		return StateFailed, "add to the twin: " + err.Error()
	}
	if msg := s.reachability(ctx, reg); msg != "" {
		return StateRejected, msg
	}
	// 4. Validate in the twin through the change pipeline; approve on the role's behalf.
	cs := &change.ChangeSet{Kind: change.KindIntent, Level: change.L1,
		Label:     fmt.Sprintf("ztp day-0 %s (role %s v%d)", reg.Name, roleRec.Name, roleRec.Version),
		Intents:   []change.Intent{{Type: "ztp", Name: reg.Name, Spec: mustJSON(map[string]any{"role": roleRec.Name, "role_version": roleRec.Version, "index": index})}},
		DeviceOps: map[string][]change.Op{reg.Name: ops}}
	c, err := s.changes.Propose(ctx, cs, Actor)
	if err != nil {
		return StateFailed, "propose: " + err.Error()
	}
	rec.ChangeID = c.ID
	if c.State != change.StateValidated {
		return StateRejected, "refused in the twin: " + failures(c)
	}
	approver := fmt.Sprintf("ztp-role:%s@v%d", roleRec.Name, roleRec.Version)
	if c, err = s.changes.Approve(ctx, c.ID, approver); err != nil {
		return StateFailed, "approve: " + err.Error()
	}
	s.setState(ctx, rec, StateCommitting, "validated in the twin; committing change "+c.ID)
	// 5. Commit (the engine sets, reads back and verifies; on failure it rolls back).
	for attempt := 0; ; attempt++ {
		c, err = s.changes.Commit(ctx, c.ID, Actor, 0)
		if !errors.Is(err, pipeline.ErrBusy) || attempt >= 20 {
			break
		}
		select {
		case <-ctx.Done():
			return StateFailed, "commit: " + ctx.Err().Error()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		if c != nil && c.State == change.StateRejected {
			return StateRejected, "refused in the twin at commit: " + failures(c)
		}
		return StateFailed, "commit: " + err.Error()
	}
	if c.State != change.StateCommitted {
		return StateFailed, fmt.Sprintf("commit ended %s", c.State)
	}
	return StateEnabled, fmt.Sprintf("day-0 configuration of role %s v%d committed and verified (change %s)", roleRec.Name, roleRec.Version, c.ID)
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// failures summarises a change's failed checks.
func failures(c *pipeline.Change) string {
	if c.Report == nil {
		return string(c.State)
	}
	var parts []string
	for _, f := range c.Report.Failed() {
		msg := f.Name
		if f.Message != "" {
			msg += ": " + f.Message
		}
		parts = append(parts, msg)
	}
	if len(parts) == 0 {
		return string(c.State)
	}
	return strings.Join(parts, "; ")
}

func (s *Service) pickRole(ctx context.Context, reg mztp.Registration) (repository.ZTPRole, *mztp.Role, error) {
	if reg.Role != "" {
		r, err := s.store.Role(ctx, reg.Role, 0)
		if err != nil {
			return r, nil, fmt.Errorf("role %s: %v", reg.Role, err)
		}
		_, role, err := viewOf(r)
		return r, role, err
	}
	recs, err := s.store.Roles(ctx)
	if err != nil {
		return repository.ZTPRole{}, nil, err
	}
	roles := make([]*mztp.Role, 0, len(recs))
	byName := map[string]repository.ZTPRole{}
	for _, r := range recs {
		_, role, err := viewOf(r)
		if err != nil {
			continue
		}
		roles = append(roles, role)
		byName[role.Name] = r
	}
	role := mztp.Pick(roles, reg.Name)
	if role == nil {
		return repository.ZTPRole{}, nil, fmt.Errorf("no role takes %s (no match.name_prefix prefixes it); an operator assigns one (ztp add --role)", reg.Name)
	}
	return byName[role.Name], role, nil
}

// ordinal is the device's 1-based index in its role: its rank by first registration
// among the role's devices (stable: a device keeps its index when re-provisioned).
func (s *Service) ordinal(ctx context.Context, id, role string) (int, error) {
	all, err := s.store.Devices(ctx)
	if err != nil {
		return 0, err
	}
	type dc struct {
		id string
		at time.Time
	}
	var in []dc
	for _, d := range all {
		if d.ID == id || d.Role == role {
			in = append(in, dc{d.ID, d.Created})
		}
	}
	sort.Slice(in, func(i, j int) bool {
		if !in[i].at.Equal(in[j].at) {
			return in[i].at.Before(in[j].at)
		}
		return in[i].id < in[j].id
	})
	for i, d := range in {
		if d.id == id {
			return i + 1, nil
		}
	}
	return len(in) + 1, nil
}

// putDevice adds or updates the device in the live twin (address, ports, gNMI driver,
// role label); links and other labels an operator set are kept.
func (s *Service) putDevice(ctx context.Context, reg mztp.Registration, role string) error {
	live := s.twins.Live()
	_, err := live.Update(ctx, func(tx *twin.Txn) error {
		d := network.Device{ID: reg.Name, Type: network.DeviceRouter}
		if cur, err := tx.Reader().Device(reg.Name); err == nil {
			d = cur.Device
		}
		d.Address = reg.Address
		if len(d.Drivers) == 0 {
			d.Drivers = []network.DriverKind{network.DriverGNMI}
		}
		have := map[string]bool{}
		for _, e := range d.Endpoints {
			have[e.ID] = true
		}
		for _, p := range reg.Ports {
			if !have[p] {
				d.Endpoints = append(d.Endpoints, network.EndPoint{ID: p})
			}
		}
		if d.Labels == nil {
			d.Labels = map[string]string{}
		}
		d.Labels[LabelRole], d.Labels[LabelState] = role, StateValidating
		if d.OperStatus == "" || d.OperStatus == network.StatusEnabled {
			d.OperStatus = network.StatusUndefined
		}
		_, err := tx.PutDevice(d, twin.Upsert, 0)
		return err
	})
	return err
}

// label records the outcome on the twin device (enabled devices become enabled).
func (s *Service) label(ctx context.Context, id, role, state string) {
	_, err := s.twins.Live().Update(ctx, func(tx *twin.Txn) error {
		cur, err := tx.Reader().Device(id)
		if err != nil {
			return err
		}
		d := cur.Device
		if d.Labels == nil {
			d.Labels = map[string]string{}
		}
		if role != "" {
			d.Labels[LabelRole] = role
		}
		d.Labels[LabelState] = state
		if state == StateEnabled {
			d.OperStatus = network.StatusEnabled
		}
		_, err = tx.PutDevice(d, twin.Upsert, 0)
		return err
	})
	if err != nil && !errors.Is(err, twin.ErrNotFound) {
		s.log.Warn("ztp: label twin device", "device", id, "err", err)
	}
}

// reachability checks the device's management address and every neighbour the twin
// links it to; it returns what failed ("" when all answer).
func (s *Service) reachability(ctx context.Context, reg mztp.Registration) string {
	if s.probe == nil {
		return "no prober configured: reachability cannot be checked"
	}
	if err := s.probe.Reachable(ctx, reg.Name, reg.Address); err != nil {
		return fmt.Sprintf("management address %s unreachable: %v", reg.Address, err)
	}
	type peer struct{ id, addr, status string }
	var peers []peer
	_ = s.twins.Live().View(func(r *twin.Reader) error {
		seen := map[string]bool{}
		for _, l := range r.LinksOf(reg.Name) {
			for _, e := range l.Endpoints {
				if e.Device == reg.Name || seen[e.Device] {
					continue
				}
				seen[e.Device] = true
				p := peer{id: e.Device}
				if d, err := r.Device(e.Device); err == nil {
					p.addr, p.status = d.Address, string(d.OperStatus)
				} else {
					p.status = "missing"
				}
				peers = append(peers, p)
			}
		}
		return nil
	})
	var bad []string
	for _, p := range peers {
		switch {
		case p.status == "missing":
			bad = append(bad, p.id+" is not in the twin")
		case p.status == string(network.StatusDisabled):
			bad = append(bad, p.id+" is disabled")
		case p.addr != "":
			if err := s.probe.Reachable(ctx, p.id, p.addr); err != nil {
				bad = append(bad, fmt.Sprintf("%s (%s) unreachable: %v", p.id, p.addr, err))
			}
		}
	}
	if len(bad) > 0 {
		return "neighbours: " + strings.Join(bad, "; ")
	}
	return ""
}
