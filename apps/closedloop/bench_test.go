package closedloop_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// wanEnv is a 100-node WAN (models/network.WAN, seed 1) with 100 services: flows
// between random device pairs on their least-latency path, each with a 0.01 Gb/s
// bandwidth SLO. It returns the link carrying the most flows.
func wanEnv(b *testing.B, dir string, i int) (*twin.Manager, *pipeline.Service, string, int) {
	n, err := network.WAN(100, 1, 0.4, 0.2)
	if err != nil {
		b.Fatal(err)
	}
	g, err := routing.NewGraph(n)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	load := map[string]int{}
	for len(n.Flows) < 100 {
		s, d := n.Devices[rng.IntN(len(n.Devices))].ID, n.Devices[rng.IntN(len(n.Devices))].ID
		if s == d {
			continue
		}
		p, err := g.Shortest(s, d, routing.Options{Metric: routing.Latency})
		if err != nil {
			continue
		}
		n.Flows = append(n.Flows, network.Flow{ID: fmt.Sprintf("svc-%03d", len(n.Flows)), Src: s, Dst: d, Path: p.Links, Owner: "bench"})
		for _, dl := range p.Links {
			load[dl]++
		}
	}
	hot, most := busiest(n, load)
	slo := mustJSON(change.SLO{MinRateGbps: 0.01})
	m, svc := benchTwin(b, dir, fmt.Sprintf("b%d.db", i), n, func(tx *twin.Txn) error {
		for _, f := range n.Flows {
			if _, err := tx.PutFlow(f, twin.Upsert, twin.Any); err != nil {
				return err
			}
			if _, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:" + f.ID, Kind: "flow_slo", Spec: slo}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	})
	return m, svc, hot, most
}

// busiest returns the link crossed by the most paths in load (per directed link;
// both directions of a link count) and that number.
func busiest(n *network.Network, load map[string]int) (string, int) {
	hot, most := "", 0
	for _, l := range n.Links {
		if c := load[l.ID] + load[l.ID+network.ReverseSuffix]; c > most {
			hot, most = l.ID, c
		}
	}
	return hot, most
}

// benchTwin writes n's devices and links into a new manager's live twin, then what
// put writes in the same transaction, and builds a pipeline over it with a sqlite
// change store (file name in dir) and an in-process committer.
func benchTwin(b *testing.B, dir, name string, n *network.Network, put func(tx *twin.Txn) error) (*twin.Manager, *pipeline.Service) {
	ctx := context.Background()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		for _, d := range n.Devices {
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, l := range n.Links {
			if _, err := tx.PutLink(l, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return put(tx)
	}); err != nil {
		b.Fatal(err)
	}
	st, err := repository.Open(ctx, "file:"+filepath.Join(dir, name), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close(); m.Close() })
	svc, err := pipeline.New(pipeline.Config{Twins: m, Store: st, Committer: &okCommitter{}, DistinctApprover: true})
	if err != nil {
		b.Fatal(err)
	}
	return m, svc
}

// BenchmarkRestore100: time to restore (detection excluded: it is what telemetry
// takes to report the failure, measured separately as detection_ms) for 100 services
// on a 100-node network when the link carrying the most of them fails: fork, the
// bottleneck engine's failure-with-reroute, propose, L1 validation, approval by rule,
// commit (an in-process committer: no device round trips), sqlite change store.
func BenchmarkRestore100(b *testing.B) {
	dir := b.TempDir()
	var moved, affected int
	var compute float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, svc, hot, _ := wanEnv(b, dir, i)
		r, err := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: m, Pipeline: svc, Services: svc, Approver: closedloop.NamedRule{Name: "bench"}})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rs := r.Restore(context.Background(), "link-down "+hot, []string{hot}, time.Time{}, time.Now())
		b.StopTimer()
		if rs.Outcome != closedloop.OutcomeCommitted || len(rs.Paths) == 0 {
			b.Fatalf("restoration %s: %s (%d moved)", rs.Outcome, rs.Reason, len(rs.Paths))
		}
		moved, affected = len(rs.Paths), len(rs.Affected)
		compute += rs.ComputeMs
		b.StartTimer()
	}
	b.ReportMetric(float64(moved), "flows_moved")
	b.ReportMetric(float64(affected), "flows_affected")
	b.ReportMetric(compute/float64(b.N), "compute_ms")
}
