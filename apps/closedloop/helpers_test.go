package closedloop_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// okCommitter confirms every commit at once (unit tests only: the real commit engine
// is exercised against twinflow-node processes in the stand-in scenario test).
type okCommitter struct {
	mu    sync.Mutex
	count int
	ops   map[string]map[string][]change.Op // per change, the device operations committed
}

func (f *okCommitter) Commit(_ context.Context, id string, ops map[string][]change.Op, _ time.Duration) (*change.CommitRecord, error) {
	f.mu.Lock()
	f.count++
	if f.ops == nil {
		f.ops = map[string]map[string][]change.Op{}
	}
	f.ops[id] = ops
	f.mu.Unlock()
	return &change.CommitRecord{ChangeID: id, Phase: change.PhaseConfirmed, Devices: map[string]*change.CommitDevice{}}, nil
}
func (f *okCommitter) Confirm(_ context.Context, id string) (*change.CommitRecord, error) {
	return &change.CommitRecord{ChangeID: id, Phase: change.PhaseConfirmed}, nil
}
func (f *okCommitter) Rollback(_ context.Context, id, reason string) (*change.CommitRecord, error) {
	return &change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack, Reason: reason}, nil
}
func (f *okCommitter) Recover(context.Context) ([]*change.CommitRecord, error) { return nil, nil }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func dur(ms float64) time.Duration   { return time.Duration(ms * float64(time.Millisecond)) }
func f64(v float64) *float64         { return &v }
func mustJSON(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

type env struct {
	m   *twin.Manager
	svc *pipeline.Service
	fc  *okCommitter
	st  repository.Store
}

// square: a - b - c and a - d - c, 10 Gb/s. ab, bc 1 ms; ad, dc 2 ms (so the
// least-latency path a -> c is a-b-c). Flows: "gold" a->c on a-b-c with a 3 Gb/s SLO,
// "silver" a->d on ad shaped at 6 Gb/s with a 5 Gb/s SLO.
func square(t testing.TB, store repository.Store) *env {
	t.Helper()
	ctx := context.Background()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		for _, d := range []string{"a", "b", "c", "d"} {
			if _, err := tx.PutDevice(network.Device{ID: d, Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "e1"}, {ID: "ab"}, {ID: "bc"}, {ID: "ad"}, {ID: "dc"}}}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, l := range []struct {
			id, a, b string
			lat      float64
		}{{"ab", "a", "b", 1}, {"bc", "b", "c", 1}, {"ad", "a", "d", 2}, {"dc", "d", "c", 2}} {
			if _, err := tx.PutLink(network.Link{ID: l.id, CapacityGbps: 10, LatencyMs: l.lat,
				Endpoints: []network.EndPointRef{{Device: l.a, EndPoint: l.id}, {Device: l.b, EndPoint: l.id}}}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		if _, err := tx.PutFlow(network.Flow{ID: "gold", Src: "a", Dst: "c", Path: []string{"ab", "bc"}, Owner: "bank"}, twin.Upsert, twin.Any); err != nil {
			return err
		}
		if _, err := tx.PutFlow(network.Flow{ID: "silver", Src: "a", Dst: "d", Path: []string{"ad"}, DemandGbps: f64(6), Owner: "shop"}, twin.Upsert, twin.Any); err != nil {
			return err
		}
		for id, slo := range map[string]change.SLO{"gold": {MinRateGbps: 3}, "silver": {MinRateGbps: 5}} {
			if _, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:" + id, Kind: "flow_slo", Spec: mustJSON(slo)}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if store == nil {
		st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "cl.db"), repository.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		store = st
	}
	fc := &okCommitter{}
	svc, err := pipeline.New(pipeline.Config{Twins: m, Store: store, Committer: fc, DistinctApprover: true})
	if err != nil {
		t.Fatal(err)
	}
	return &env{m: m, svc: svc, fc: fc, st: store}
}

func flowPath(t testing.TB, m *twin.Manager, id string) []string {
	t.Helper()
	f, err := m.Live().Flow(id)
	if err != nil {
		t.Fatal(err)
	}
	return f.Path
}

var _ closedloop.Pipeline = (*pipeline.Service)(nil)
