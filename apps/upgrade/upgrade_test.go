package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/upgrade"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
)

// fakeDevice is a unit-test device: it runs a version, holds installed versions, and
// can be told to refuse activation or to boot back into the old version.
type fakeDevice struct {
	mu        sync.Mutex
	running   string
	installed map[string]bool
	fail      string // activation failure message after boot-old
	bootOld   bool
	refuse    bool
	installs  int
}

func (d *fakeDevice) Install(_ context.Context, v string, _ []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.installs++
	d.installed[v] = true
	return nil
}

func (d *fakeDevice) Activate(_ context.Context, v string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.installed[v] {
		return fmt.Errorf("not installed: %s", v)
	}
	if d.refuse && v != d.running {
		return errors.New("activate refused")
	}
	if d.bootOld && v != d.running {
		d.fail = "did not boot"
		return nil
	}
	d.running, d.fail = v, ""
	return nil
}

func (d *fakeDevice) Verify(context.Context) (string, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running, d.fail, nil
}

func (d *fakeDevice) Health(context.Context) (upgrade.Health, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return upgrade.Health{SoftwareVersion: d.running, Up: []string{"eth1"}}, nil
}

type memLedger struct {
	mu   sync.Mutex
	recs []repository.LedgerRecord
}

func (l *memLedger) Append(_ context.Context, e repository.LedgerEntry) (repository.LedgerRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := repository.LedgerRecord{Seq: int64(len(l.recs) + 1), Time: time.Now(), Kind: e.Kind, Subject: e.Subject, Payload: e.Payload}
	l.recs = append(l.recs, r)
	return r, nil
}

func (l *memLedger) List(_ context.Context, from int64, limit int) ([]repository.LedgerRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []repository.LedgerRecord
	for _, r := range l.recs {
		if r.Seq >= from && (limit == 0 || len(out) < limit) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (l *memLedger) Verify(context.Context) (repository.VerifyResult, error) {
	return repository.VerifyResult{OK: true}, nil
}

// line is a - b - c - d with a flow a→d (transit through b and c) and b→c.
func line() *network.Network {
	n := &network.Network{}
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		n.Devices = append(n.Devices, network.Device{ID: id, Type: network.DeviceRouter, Address: "127.0.0.1:1",
			Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}})
	}
	for i := 0; i+1 < len(ids); i++ {
		n.Links = append(n.Links, network.Link{ID: ids[i] + "-" + ids[i+1], CapacityGbps: 10, LatencyMs: 1,
			Endpoints: []network.EndPointRef{{Device: ids[i], EndPoint: "eth2"}, {Device: ids[i+1], EndPoint: "eth1"}}})
	}
	n.Flows = []network.Flow{{ID: "f-ad", Src: "a", Dst: "d"}, {ID: "f-bc", Src: "b", Dst: "c"}}
	return n
}

func fleet(ids ...string) map[string]*fakeDevice {
	m := map[string]*fakeDevice{}
	for _, id := range ids {
		m[id] = &fakeDevice{running: "1.0", installed: map[string]bool{"1.0": true}}
	}
	return m
}

func dialer(m map[string]*fakeDevice) upgrade.Dialer {
	return func(d network.Device) (upgrade.Device, func(), error) {
		f, ok := m[d.ID]
		if !ok {
			return nil, nil, fmt.Errorf("no device %s", d.ID)
		}
		return f, func() {}, nil
	}
}

// okValidator accepts every wave (the twin validation is tested on its own below).
type okValidator struct{}

func (okValidator) ValidateWave(context.Context, []string) upgrade.WaveCheck {
	return upgrade.WaveCheck{OK: true}
}

func history(t *testing.T, l *memLedger, dev string) []upgrade.SoftwareRecord {
	t.Helper()
	recs, err := upgrade.History(context.Background(), l, dev)
	if err != nil {
		t.Fatal(err)
	}
	var out []upgrade.SoftwareRecord
	for _, r := range recs {
		var s upgrade.SoftwareRecord
		if err := json.Unmarshal(r.Payload, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// REQ-AUTO-08, REQ-DLT-03: waves upgrade in order; every device's change is in the ledger.
func TestRolloutSucceeds(t *testing.T) {
	devs := fleet("a", "b", "c", "d")
	l := &memLedger{}
	rep, err := upgrade.Run(context.Background(), upgrade.Plan{ID: "r1", Version: "2.0", Image: []byte("img"), Waves: [][]string{{"a"}, {"b", "c"}}},
		upgrade.Options{Net: line(), Dial: dialer(devs), Validator: okValidator{}, Ledger: l, HealthInterval: time.Millisecond})
	if err != nil || !rep.OK {
		t.Fatalf("rollout: %v %+v", err, rep)
	}
	for _, id := range []string{"a", "b", "c"} {
		if devs[id].running != "2.0" {
			t.Errorf("%s runs %s", id, devs[id].running)
		}
		h := history(t, l, id)
		if len(h) != 1 || h[0].From != "1.0" || h[0].To != "2.0" || h[0].Result != upgrade.ResultUpgraded || h[0].Running != "2.0" {
			t.Errorf("%s history %+v", id, h)
		}
	}
	if devs["d"].running != "1.0" || devs["d"].installs != 0 || len(history(t, l, "d")) != 0 {
		t.Errorf("d was not in the plan but was touched")
	}
}

// REQ-AUTO-08: a wave whose device comes back on the wrong version is rolled back,
// and the rollout stops before the next wave.
func TestRolloutStopsAndRollsBack(t *testing.T) {
	for _, fault := range []string{"boot-old", "refuse"} {
		t.Run(fault, func(t *testing.T) {
			devs := fleet("a", "b", "c", "d")
			if fault == "boot-old" {
				devs["c"].bootOld = true
			} else {
				devs["c"].refuse = true
			}
			l := &memLedger{}
			rep, err := upgrade.Run(context.Background(), upgrade.Plan{ID: "r2", Version: "2.0", Image: []byte("img"), Waves: [][]string{{"a"}, {"b", "c"}, {"d"}}},
				upgrade.Options{Net: line(), Dial: dialer(devs), Validator: okValidator{}, Ledger: l,
					HealthTimeout: 50 * time.Millisecond, HealthInterval: time.Millisecond})
			if !errors.Is(err, upgrade.ErrStopped) || rep == nil || !rep.Stopped || len(rep.Waves) != 2 {
				t.Fatalf("rollout: %v %+v", err, rep)
			}
			if !strings.Contains(rep.Reason, "c:") {
				t.Errorf("reason %q does not name the failing device", rep.Reason)
			}
			if devs["a"].running != "2.0" {
				t.Errorf("wave 1 (passed) was undone: a runs %s", devs["a"].running)
			}
			for _, id := range []string{"b", "c"} {
				if devs[id].running != "1.0" {
					t.Errorf("%s runs %s after the wave's rollback", id, devs[id].running)
				}
				h := history(t, l, id)
				if len(h) != 1 || h[0].Result != upgrade.ResultRolledBack || h[0].Running != "1.0" {
					t.Errorf("%s history %+v", id, h)
				}
			}
			if devs["d"].installs != 0 || devs["d"].running != "1.0" {
				t.Errorf("wave 3 was touched after the stop")
			}
			for _, d := range rep.Waves[1].Devices {
				if d.Result != upgrade.ResultRolledBack {
					t.Errorf("wave 2 device %+v", d)
				}
			}
		})
	}
}

// The twin refuses a wave whose reboot cuts a transit flow; nothing is touched.
func TestTwinRefusesWave(t *testing.T) {
	n := line()
	v := upgrade.TwinValidator{Net: n}
	if c := v.ValidateWave(context.Background(), []string{"b"}); c.OK || !strings.Contains(c.Reason, "f-ad") {
		t.Fatalf("wave b (transit of f-ad): %+v", c)
	}
	if c := v.ValidateWave(context.Background(), []string{"a"}); !c.OK || len(c.Notes) == 0 || !strings.Contains(c.Notes[0], "f-ad") {
		t.Fatalf("wave a (end of f-ad): %+v", c)
	}
	devs := fleet("a", "b", "c", "d")
	rep, err := upgrade.Run(context.Background(), upgrade.Plan{Version: "2.0", Image: []byte("img"), Waves: [][]string{{"b"}}},
		upgrade.Options{Net: n, Dial: dialer(devs)})
	if !errors.Is(err, upgrade.ErrStopped) || rep.Waves[0].Twin.OK || devs["b"].installs != 0 {
		t.Fatalf("refused wave: %v %+v installs=%d", err, rep, devs["b"].installs)
	}
}

func TestPlanBounds(t *testing.T) {
	n := line()
	for name, p := range map[string]upgrade.Plan{
		"no version":     {Image: []byte("x"), Waves: [][]string{{"a"}}},
		"slash version":  {Version: "a/b", Image: []byte("x"), Waves: [][]string{{"a"}}},
		"no image":       {Version: "2", Waves: [][]string{{"a"}}},
		"no waves":       {Version: "2", Image: []byte("x")},
		"empty wave":     {Version: "2", Image: []byte("x"), Waves: [][]string{{}}},
		"unknown device": {Version: "2", Image: []byte("x"), Waves: [][]string{{"zz"}}},
		"twice":          {Version: "2", Image: []byte("x"), Waves: [][]string{{"a"}, {"a"}}},
	} {
		if err := p.Check(n); !errors.Is(err, upgrade.ErrPlan) {
			t.Errorf("%s: %v, want ErrPlan", name, err)
		}
	}
}
