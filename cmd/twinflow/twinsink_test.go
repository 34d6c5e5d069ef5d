package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/twin"
)

func TestTwinSink(t *testing.T) {
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	if _, err := loadDemo(ctx, m.Live(), "leaf-spine:leaves=2,spines=1,hosts=1"); err != nil {
		t.Fatal(err)
	}
	rev := m.Live().Revision()
	st, sink := newTwinSink(ctx, m.Live(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	sink.Observe(&telemetry.Batch{
		Interfaces: []telemetry.InterfaceSample{
			{Device: "leaf-0", Interface: "eth1", At: t0, OperStatus: network.StatusEnabled,
				InOctets: 100, HasCounters: true, InRateGbps: 1.5, HasRates: true},
			{Device: "ghost", Interface: "eth1", At: t0, OperStatus: network.StatusEnabled},
		},
		Links:   []telemetry.LinkSample{{Link: "spine-0--leaf-0", At: t0, Status: network.StatusEnabled, RateGbps: [2]float64{1.5, 0.5}, HasRates: true}},
		Devices: []telemetry.DeviceSample{{Device: "leaf-0", Reachable: true, At: t0}},
	})
	// A later partial sample (status only) keeps counters and rates.
	sink.Observe(&telemetry.Batch{
		Interfaces: []telemetry.InterfaceSample{{Device: "leaf-0", Interface: "eth1", At: t0.Add(time.Second), OperStatus: network.StatusDisabled}},
		Links:      []telemetry.LinkSample{{Link: "spine-0--leaf-0", At: t0.Add(time.Second), Status: network.StatusDisabled}},
	})
	if got := st.skipped.Load(); got != 1 {
		t.Errorf("skipped %d; want 1 (the unknown device)", got)
	}
	if m.Live().Revision() != rev {
		t.Error("telemetry moved the intended revision")
	}
	err = m.Live().View(func(r *twin.Reader) error {
		oi, err := r.ObservedInterface("leaf-0", "eth1")
		if err != nil {
			return err
		}
		if oi.OperStatus != network.StatusDisabled || oi.InOctets != 100 || oi.InRateGbps != 1.5 || !oi.At.Equal(t0.Add(time.Second)) {
			t.Errorf("observed interface %+v", oi)
		}
		ol, err := r.ObservedLink("spine-0--leaf-0")
		if err != nil {
			return err
		}
		if ol.OperStatus != network.StatusDisabled || ol.RateGbps != [2]float64{1.5, 0.5} {
			t.Errorf("observed link %+v", ol)
		}
		od, err := r.ObservedDevice("leaf-0")
		if err != nil || !od.Reachable {
			t.Errorf("observed device %+v %v", od, err)
		}
		if l, _ := r.Link("spine-0--leaf-0"); l.OperStatus != network.StatusEnabled {
			t.Errorf("intended link status changed: %s", l.OperStatus)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
