package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin"
)

// TableDrift is the event table of drift reports: create when a device drifts (or
// its drift changes), remove when it matches its intent again.
const TableDrift twin.Table = "drift"

// DeviceReader reads a device's running configuration: the JSON value at each path
// (absent when the path holds no data). physical/commit's device access satisfies it
// through a one-line adapter.
type DeviceReader interface {
	ReadConfig(ctx context.Context, device string, paths []string) (map[string]json.RawMessage, error)
}

// Drift is the difference between a device's intended and running configuration.
type Drift struct {
	Device string `json:"device"`
	// Lines: "-" intended but missing on the device, "+" on the device but not intended,
	// "~" different value (Before is the intent, After the device's value).
	Lines      []change.DiffLine `json:"diff"`
	DetectedAt time.Time         `json:"detected_at"`
	// Observed is the device's running configuration of the drifted containers.
	Observed map[string]json.RawMessage `json:"observed"`
}

// DriftDetector compares every managed device's intended configuration (the live
// twin's device configs) with what the device reports, every Interval, and publishes
// drift events. Devices taking part in a commit are skipped until it resolves.
type DriftDetector struct {
	Service *Service
	// Reader reads the devices (nil: the Service's Config.Reader).
	Reader DeviceReader
	// Interval between scans (default 500 ms, so an out-of-band change is reported
	// within about one second).
	Interval time.Duration

	mu      sync.Mutex // guards current
	current map[string]*Drift
}

// Run scans until ctx ends.
func (d *DriftDetector) Run(ctx context.Context) error {
	iv := d.Interval
	if iv <= 0 {
		iv = 500 * time.Millisecond
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		d.Scan(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Current returns the devices drifting now, sorted.
func (d *DriftDetector) Current() []*Drift {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*Drift, 0, len(d.current))
	for _, dr := range d.current {
		out = append(out, dr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// Get returns the current drift of a device, or nil.
func (d *DriftDetector) Get(device string) *Drift {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current[device]
}

// Scan compares every managed device once.
func (d *DriftDetector) Scan(ctx context.Context) {
	s := d.Service
	mark := s.releaseMark() // before the intent is read
	intended := map[string]change.Tree{}
	_ = s.cfg.Twins.Live().View(func(r *twin.Reader) error {
		cfgs, err := s.l1.configs(r)
		if err == nil {
			intended = cfgs
		}
		return nil
	})
	devs := make([]string, 0, len(intended))
	for dev := range intended {
		devs = append(devs, dev)
	}
	sort.Strings(devs)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, dev := range devs {
		if !s.deviceQuiet(dev, mark) {
			continue
		}
		want := intended[dev]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.check(ctx, dev, want, mark)
		}()
	}
	wg.Wait()
	// devices no longer managed are no longer drifting
	d.mu.Lock()
	for dev := range d.current {
		if _, ok := intended[dev]; !ok {
			delete(d.current, dev)
		}
	}
	d.mu.Unlock()
}

func (d *DriftDetector) check(ctx context.Context, dev string, want change.Tree, mark uint64) {
	var paths []string
	for top := range want {
		paths = append(paths, "/"+top)
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reader := d.Reader
	if reader == nil {
		reader = d.Service.cfg.Reader
	}
	if reader == nil {
		return
	}
	got, err := reader.ReadConfig(cctx, dev, paths)
	if err != nil {
		return // unreachable devices are telemetry's business, not drift
	}
	observed := change.Tree{}
	for p, raw := range got {
		t, err := change.ParseTree(append(append([]byte(`{"v":`), raw...), '}'))
		if err != nil {
			continue
		}
		observed[strings.TrimPrefix(p, "/")] = t["v"]
	}
	if !d.Service.deviceQuiet(dev, mark) {
		return // a commit started (or ran) meanwhile: want may be outdated
	}
	lines := driftLines(want, observed)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current == nil {
		d.current = map[string]*Drift{}
	}
	prev := d.current[dev]
	hub := d.Service.cfg.Twins.Events()
	now := d.Service.now()
	if len(lines) == 0 {
		if prev != nil {
			delete(d.current, dev)
			hub.Publish([]twin.Event{{Twin: twin.LiveID, Table: TableDrift, Op: twin.OpRemove, ID: dev, Object: prev, Time: now}})
		}
		return
	}
	if prev != nil && sameLines(prev.Lines, lines) {
		return
	}
	dr := &Drift{Device: dev, Lines: lines, DetectedAt: now, Observed: got}
	d.current[dev] = dr
	d.Service.log.Warn("configuration drift", "device", dev, "differences", len(lines))
	hub.Publish([]twin.Event{{Twin: twin.LiveID, Table: TableDrift, Op: twin.OpCreate, ID: dev, Object: dr, Time: now}})
}

func sameLines(a, b []change.DiffLine) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// driftLines diffs intended against observed, ignoring what a device adds by itself:
// the config/<key> leaf echoing a list entry's key.
func driftLines(want, got change.Tree) []change.DiffLine {
	var out []change.DiffLine
	for _, l := range change.DiffTrees(want, got) {
		if l.Sign == "+" && keyEcho(l) {
			continue
		}
		if l.Sign == "~" {
			var a, b any
			if json.Unmarshal([]byte(l.Before), &a) == nil && json.Unmarshal([]byte(l.After), &b) == nil && change.Equal(a, b) {
				continue // 0 and "0": RFC 7951 number encodings
			}
		}
		out = append(out, l)
	}
	return out
}

func keyEcho(l change.DiffLine) bool {
	p, err := change.ParsePath(l.Path)
	if err != nil || len(p) < 3 || p[len(p)-2].Name != "config" {
		return false
	}
	leaf := p[len(p)-1].Name
	var v any
	if json.Unmarshal([]byte(l.After), &v) != nil {
		return false
	}
	want, ok := p[len(p)-3].Key[leaf]
	if !ok {
		return false
	}
	got := fmt.Sprint(v)
	return got == want
}

// releaseMark returns the current count of device lock releases, for deviceQuiet.
func (s *Service) releaseMark() uint64 {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	return s.releases
}

// deviceQuiet reports whether the device's intent and running configuration can be
// compared: no commit holds it, no commit of it awaits confirmation, and none ended
// since mark (a releaseMark taken before the intent was read; a commit that ended
// since changed the device and the intent after that read).
func (s *Service) deviceQuiet(dev string, mark uint64) bool {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	return !s.devBusy[dev] && s.windowDevs[dev] == "" && s.released[dev] <= mark
}

// driftChange builds the change that reconciles (push the intent) or adopts (take the
// device's running configuration as the intent) a drifted device: one replace per
// drifted top-level container.
func (d *DriftDetector) driftChange(dev string, adopt bool, actor string) (*change.ChangeSet, error) {
	dr := d.Get(dev)
	if dr == nil {
		return nil, fmt.Errorf("%w: device %s is not drifting", ErrState, dev)
	}
	tops := map[string]bool{}
	for _, l := range dr.Lines {
		p, err := change.ParsePath(l.Path)
		if err == nil && len(p) > 0 {
			tops[p[0].Name] = true
		}
	}
	var want change.Tree
	_ = d.Service.cfg.Twins.Live().View(func(r *twin.Reader) error {
		cfgs, err := d.Service.l1.configs(r)
		if err == nil {
			want = cfgs[dev]
		}
		return nil
	})
	names := make([]string, 0, len(tops))
	for t := range tops {
		names = append(names, t)
	}
	sort.Strings(names)
	verb, label := "reconcile", "reconcile drift on "+dev
	if adopt {
		verb, label = "adopt", "adopt running configuration of "+dev
	}
	// reconcile and adopt replace (or delete) whole top-level trees: say so explicitly
	cs := &change.ChangeSet{Label: label, Author: actor, Kind: change.KindRawConfig, Level: change.L1, AllowDestructive: true,
		Comment:   fmt.Sprintf("%s: %d differences detected at %s", verb, len(dr.Lines), dr.DetectedAt.Format(time.RFC3339)),
		DeviceOps: map[string][]change.Op{}}
	for _, top := range names {
		var val json.RawMessage
		if adopt {
			val = dr.Observed["/"+top]
		} else if v, ok := want[top]; ok {
			val, _ = json.Marshal(v)
		}
		if len(val) == 0 {
			cs.DeviceOps[dev] = append(cs.DeviceOps[dev], change.Op{Op: change.OpDelete, Path: "/" + top})
			continue
		}
		cs.DeviceOps[dev] = append(cs.DeviceOps[dev], change.Op{Op: change.OpReplace, Path: "/" + top, Value: val})
	}
	return cs, nil
}

// Reconcile proposes the change that pushes the intended configuration back to a
// drifted device. It goes through the pipeline like any change (validate, approve,
// commit).
func (d *DriftDetector) Reconcile(ctx context.Context, device, actor string) (*Change, error) {
	cs, err := d.driftChange(device, false, actor)
	if err != nil {
		return nil, err
	}
	return d.Service.Propose(ctx, cs, actor)
}

// Adopt proposes the change that takes a drifted device's running configuration into
// the twin as its intent: validated like any change (an adopted duplicate address is
// rejected), and once committed (an idempotent Set, verified by read-back) the live
// twin's intended configuration is the device's.
func (d *DriftDetector) Adopt(ctx context.Context, device, actor string) (*Change, error) {
	cs, err := d.driftChange(device, true, actor)
	if err != nil {
		return nil, err
	}
	return d.Service.Propose(ctx, cs, actor)
}
