package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// BenchmarkSliceCompileValidate: compile a slice with 10 SDPs (one any-to-any L3VPN of
// 10 sites: 45 VXLAN tunnels, 90 flows with SLOs on TE paths) against the live twin and
// L1-validate it in a fork, on a WAN twin of 1,000 devices and 100,000 flows (goal:
// <= 50 ms median, docs/benchmarks.md). Each iteration builds the compile environment
// from the twin, compiles, and validates.
func BenchmarkSliceCompileValidate(b *testing.B) {
	m, net := benchTwin(b, 1000, 100_000)
	sdps := make([]string, 10)
	for i := range sdps {
		sdps[i] = net.Devices[i*97%len(net.Devices)].ID
	}
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		for i, d := range net.Devices {
			d.Address = fmt.Sprintf("127.0.0.1:%d", 20000+i)
			d.Labels = map[string]string{service.LabelUnderlay: fmt.Sprintf("10.%d.%d.1", i/256, i%256)}
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	st, err := repository.Open(context.Background(), "file:"+filepath.Join(b.TempDir(), "b.db"), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	svc, err := pipeline.New(pipeline.Config{Twins: m, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	sl := &service.Slice{ID: "bench", Template: service.EMBB, Constraints: service.Constraints{CapacityGbps: 0.001, MaxLatencyMs: 1000},
		Services: []service.Service{{ID: "vpn", Type: service.L3VPN, L3: &service.L3Options{RD: "65000:1", VNIBase: 1000}}}}
	for i, d := range sdps {
		sl.Services[0].Endpoints = append(sl.Services[0].Endpoints, service.Endpoint{Device: d, Interface: "sdp0", Address: fmt.Sprintf("172.16.%d.1/24", i)})
	}
	reg := service.DefaultRegistry()
	run := func() (*change.Report, error) {
		env, err := svc.ServiceEnv(context.Background(), time.Now())
		if err != nil {
			return nil, err
		}
		cs, err := reg.CreateSlice(env, sl)
		if err != nil {
			return nil, err
		}
		return pipeline.ValidateOnly(context.Background(), svc, cs)
	}
	if rep, err := run(); err != nil || !rep.Passed { // warm the model cache
		b.Fatalf("%v %+v", err, rep.Failed())
	}
	var lat []time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		rep, err := run()
		lat = append(lat, time.Since(t0))
		if err != nil || !rep.Passed {
			b.Fatalf("%v %+v", err, rep.Failed())
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(len(lat)), "cpu-ms/op")
	reportPercentiles(b, lat)
}
