package closedloop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// srEnv is wanEnv's 100-node WAN with 100 compiled SR policies (models/service,
// 0.01 Gb/s each, between random device pairs; every device has an SRv6 SID) written
// into the live twin as committed (records active, flows, SLO records). It returns
// the link crossed by the most policies.
func srEnv(b *testing.B, dir string, i int) (*twin.Manager, *pipeline.Service, string, int) {
	n, err := network.WAN(100, 1, 0.4, 0.2)
	if err != nil {
		b.Fatal(err)
	}
	for j := range n.Devices {
		d := &n.Devices[j]
		d.Labels = map[string]string{service.LabelSID: fmt.Sprintf("fc00::%x", j+1)}
		d.Address, d.Drivers = fmt.Sprintf("127.0.0.1:%d", 20000+j), []network.DriverKind{network.DriverGNMI} // never dialled
	}
	senv, err := service.NewEnv(n, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	senv.Now = time.Now()
	reg := service.DefaultRegistry()
	rng := rand.New(rand.NewPCG(7, 7))
	type compiled struct {
		s  *service.Service
		cs *change.ChangeSet
	}
	var svcs []compiled
	load := map[string]int{}
	for tries := 0; len(svcs) < 100 && tries < 10000; tries++ {
		s, d := n.Devices[rng.IntN(len(n.Devices))].ID, n.Devices[rng.IntN(len(n.Devices))].ID
		if s == d {
			continue
		}
		sv := &service.Service{ID: fmt.Sprintf("sr-%03d", len(svcs)), Type: service.SRPolicy,
			SR:          &service.SROptions{Prefix: fmt.Sprintf("10.%d.%d.0/24", len(svcs)/256, len(svcs)%256)},
			Constraints: service.Constraints{CapacityGbps: 0.01}, Endpoints: []service.Endpoint{{Device: s}, {Device: d}}}
		cs, err := reg.Create(senv, sv)
		if err != nil {
			continue // e.g. a tie no node SID can steer onto
		}
		svcs = append(svcs, compiled{sv, cs})
		for _, dl := range cs.Twin.AddFlows[0].Path {
			load[dl]++
		}
	}
	if len(svcs) < 100 {
		b.Fatalf("only %d SR policies compiled", len(svcs))
	}
	hot, most := busiest(n, load)
	m, svc := benchTwin(b, dir, fmt.Sprintf("s%d.db", i), n, func(tx *twin.Txn) error {
		for _, c := range svcs {
			for _, f := range c.cs.Twin.AddFlows {
				if _, err := tx.PutFlow(f.Flow, twin.Upsert, twin.Any); err != nil {
					return err
				}
				if _, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:" + f.ID, Kind: "flow_slo", Spec: mustJSON(f.SLO)}, twin.Upsert, twin.Any); err != nil {
					return err
				}
			}
			spec, _ := json.Marshal(c.s)
			if _, err := tx.PutRecord(twin.TableServices, twin.Record{ID: c.s.ID, Kind: string(c.s.Type), Spec: spec, Status: string(service.StatusActive)}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	})
	return m, svc, hot, most
}

// BenchmarkRestore100Services is BenchmarkRestore100 with the 100 services compiled
// SR policies: the restoration recompiles every policy crossing the failed link (the
// service compiler's update path, TE avoiding the link, new segment lists) and its
// change carries their device operations; in-process committer (no device round
// trips), sqlite change store; detection excluded.
func BenchmarkRestore100Services(b *testing.B) {
	dir := b.TempDir()
	var recompiled, ops int
	var compute float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, svc, hot, _ := srEnv(b, dir, i)
		r, err := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: m, Pipeline: svc, Services: svc, Approver: closedloop.NamedRule{Name: "bench"}})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rs := r.Restore(context.Background(), "link-down "+hot, []string{hot}, time.Time{}, time.Now())
		b.StopTimer()
		if rs.Outcome != closedloop.OutcomeCommitted || len(rs.Recompiled) == 0 || len(rs.ServiceErrors) != 0 {
			b.Fatalf("restoration %s: %s (%d recompiled, errors %v)", rs.Outcome, rs.Reason, len(rs.Recompiled), rs.ServiceErrors)
		}
		recompiled, ops = len(rs.Recompiled), 0
		for _, rc := range rs.Recompiled {
			ops += rc.DeviceOps
		}
		compute += rs.ComputeMs
		b.StartTimer()
	}
	b.ReportMetric(float64(recompiled), "services_recompiled")
	b.ReportMetric(float64(ops), "device_ops")
	b.ReportMetric(compute/float64(b.N), "compute_ms")
}
