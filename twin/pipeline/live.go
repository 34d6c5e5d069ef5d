package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin"
)

// applyToLive advances the live twin's intended state by a committed change: device
// configurations (the change's operations applied to the current intended configs),
// flows (routed on the current live model when they carry no path), SLO records and
// capacities, in one transaction that publishes one event per object.
//
// Concurrent calls are safe: each touches only its change's devices (which the commit
// holds locked), and the twin serializes the transactions.
func (s *Service) applyToLive(ctx context.Context, c *Change) error {
	cs := c.ChangeSet
	live := s.cfg.Twins.Live()
	var configs map[string]change.Tree
	routed := map[string][]string{}
	err := live.View(func(r *twin.Reader) error {
		var err error
		configs, err = s.l1.configs(r)
		if err != nil {
			return err
		}
		needRoute := false
		for _, f := range cs.Twin.AddFlows {
			if len(f.Path) == 0 {
				needRoute = true
			}
		}
		if !needRoute {
			return nil
		}
		m, err := s.l1.get(r)
		if err != nil {
			return err
		}
		m = m.clone()
		m.removeFlows(cs.Twin.RemoveFlows)
		m.rebuildReservations()
		m.addFlows(cs.Twin.AddFlows, routed)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pipeline: read live twin: %w", err)
	}
	var after map[string]change.Tree
	if s.cfg.Reader != nil {
		var kept map[string]map[string]json.RawMessage
		if rb, ok := s.cfg.Committer.(ReadBackSource); ok {
			kept = rb.TakeReadBack(c.ID)
		}
		after = s.readBack(ctx, cs, configs, kept)
	}
	var evs []ServiceEvent
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		if err := applyDelta(tx, cs, configs, after, routed); err != nil {
			return err
		}
		var err error
		evs, err = serviceRecords(tx, cs, true) // services.go
		return err
	}); err != nil {
		return fmt.Errorf("pipeline: update live twin with %s: %w", c.ID, err)
	}
	s.publishServiceEvents(evs) // events.go (service lifecycle)
	return nil
}

// ReadBackSource is implemented by a Committer that keeps what its commit's read-back
// verification read from the devices (physical/commit.Engine with KeepReadBack): per
// device, the JSON of each top-level container the change touched. The intended
// configuration of a committed change is then built from that read-back (the one that
// proved the change is on the device) instead of reading every device again.
type ReadBackSource interface {
	TakeReadBack(changeID string) map[string]map[string]json.RawMessage
}

// readBack builds the post-commit intended configuration of every touched device: the
// previous intent with each touched top-level container replaced by the device's
// read-back: taken from kept (the commit's verified read-back) when it holds every
// touched container of the device, read from the device otherwise. A device that
// cannot be read keeps previous intent plus operations.
func (s *Service) readBack(ctx context.Context, cs *change.ChangeSet, configs map[string]change.Tree, kept map[string]map[string]json.RawMessage) map[string]change.Tree {
	out := make(map[string]change.Tree, len(cs.DeviceOps))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(32)
	for _, dev := range cs.Devices() {
		if paths := topContainers(cs.DeviceOps[dev]); hasAll(kept[dev], paths) {
			// no device I/O: build it here
			if t := s.intendedFromReadBack(dev, configs, paths, kept[dev]); t != nil {
				out[dev] = t
			}
			continue
		}
		g.Go(func() error {
			t := s.readBackDevice(ctx, cs, dev, configs)
			if t != nil {
				mu.Lock()
				out[dev] = t
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func (s *Service) readBackDevice(ctx context.Context, cs *change.ChangeSet, dev string, configs map[string]change.Tree) change.Tree {
	paths := topContainers(cs.DeviceOps[dev])
	got, err := s.cfg.Reader.ReadConfig(ctx, dev, paths)
	if err != nil {
		s.log.Warn("read-back for the intended config failed", "device", dev, "err", err)
		return nil
	}
	t := s.intendedFromReadBack(dev, configs, paths, got)
	if !holdsOps(t, cs.DeviceOps[dev]) {
		// The device no longer holds the change (it was wiped or edited since the
		// commit verified it: this read comes later when the twin's update is retried
		// or a change is settled by resolve or recovery; torture seed 3435): its
		// configuration is not the change's intent.
		s.log.Warn("read-back for the intended config does not hold the change; using its operations", "device", dev, "change", cs.Label)
		return nil
	}
	return t
}

// holdsOps reports whether t already holds what ops set: applying them adds or
// changes nothing (what they delete is not checked).
func holdsOps(t change.Tree, ops []change.Op) bool {
	applied := change.Clone(t).(map[string]any)
	if err := change.ApplyOps(applied, ops); err != nil {
		return false
	}
	return change.Contains(map[string]any(t), applied)
}

// topContainers returns the sorted top-level containers ("/interfaces") of ops.
func topContainers(ops []change.Op) []string {
	tops := map[string]bool{}
	for _, op := range ops {
		if p, err := change.ParsePath(op.Path); err == nil && len(p) > 0 {
			tops[p[0].Name] = true
		}
	}
	paths := make([]string, 0, len(tops))
	for t := range tops {
		paths = append(paths, "/"+t)
	}
	sort.Strings(paths)
	return paths
}

func hasAll(got map[string]json.RawMessage, paths []string) bool {
	if got == nil {
		return false
	}
	for _, p := range paths {
		if _, ok := got[p]; !ok {
			return false
		}
	}
	return true
}

// intendedFromReadBack is the previous intent of dev with each of paths (top-level
// containers) replaced by its read-back in got (removed where got has none).
func (s *Service) intendedFromReadBack(dev string, configs map[string]change.Tree, paths []string, got map[string]json.RawMessage) change.Tree {
	t := change.Tree{}
	if prev := configs[dev]; prev != nil {
		t = change.Clone(prev).(map[string]any)
	}
	for _, p := range paths {
		top := strings.TrimPrefix(p, "/")
		raw, ok := got[p]
		if !ok {
			delete(t, top)
			continue
		}
		v, err := change.ParseTree(append(append([]byte(`{"v":`), raw...), '}'))
		if err != nil {
			continue
		}
		t[top] = v["v"]
	}
	return t
}
