package telesync

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

// smallDemoTwin returns twins whose live twin holds a small demo network (2 leaves,
// 1 spine, 1 host per leaf), closed at the test's end.
func smallDemoTwin(t *testing.T) *twin.Manager {
	t.Helper()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	n, err := network.Generate("leaf-spine:leaves=2,spines=1,hosts=1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSink(t *testing.T) {
	m := smallDemoTwin(t)
	ctx := context.Background()
	rev := m.Live().Revision()
	sink := NewSink(ctx, m.Live(), slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	if got := sink.Skipped(); got != 1 {
		t.Errorf("skipped %d; want 1 (the unknown device)", got)
	}
	if m.Live().Revision() != rev {
		t.Error("telemetry moved the intended revision")
	}
	err := m.Live().View(func(r *twin.Reader) error {
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

// TestSinkLinkVersions: a link's older sample arriving after its newer one (the two
// ends are different devices, whose batches reach the sink concurrently) does not
// overwrite the twin's observed link state, written directly or through the Coalescer
// as `serve` wires it, and whether the newer sample was flushed already or not.
func TestSinkLinkVersions(t *testing.T) {
	m := smallDemoTwin(t)
	ctx := context.Background()
	sink := NewSink(ctx, m.Live(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	const link = "spine-0--leaf-0"
	sample := func(v uint64, status network.OperStatus, rate float64) *telemetry.Batch {
		return &telemetry.Batch{Links: []telemetry.LinkSample{{Link: link, Version: v, At: t0.Add(time.Duration(v) * time.Second),
			Status: status, RateGbps: [2]float64{rate, rate}, HasRates: true}}}
	}
	observed := func() twin.ObservedLink {
		t.Helper()
		var ol twin.ObservedLink
		if err := m.Live().View(func(r *twin.Reader) error {
			var err error
			ol, err = r.ObservedLink(link)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ol
	}

	// Directly: version 2 (down) then the older version 1 (up).
	sink.Observe(sample(2, network.StatusDisabled, 2))
	sink.Observe(sample(1, network.StatusEnabled, 1))
	if ol := observed(); ol.OperStatus != network.StatusDisabled || ol.RateGbps[0] != 2 {
		t.Fatalf("observed link %+v; want version 2's state (disabled, rate 2), not the older version 1's", ol)
	}
	if got := sink.Stale(); got != 1 {
		t.Errorf("stale %d; want 1", got)
	}
	sink.Observe(sample(3, network.StatusEnabled, 3))
	if ol := observed(); ol.OperStatus != network.StatusEnabled || ol.RateGbps[0] != 3 {
		t.Fatalf("observed link %+v; want version 3's state (enabled, rate 3)", ol)
	}

	// Through the Coalescer: the newer sample pending, then flushed, before the older.
	co := telemetry.NewCoalescer(sink, time.Hour)
	co.Observe(sample(5, network.StatusDisabled, 5))
	co.Observe(sample(4, network.StatusEnabled, 4))
	co.Flush()
	if ol := observed(); ol.OperStatus != network.StatusDisabled || ol.RateGbps[0] != 5 {
		t.Fatalf("observed link %+v; want version 5's state (disabled, rate 5)", ol)
	}
	co.Observe(sample(7, network.StatusEnabled, 7))
	co.Flush()
	co.Observe(sample(6, network.StatusDisabled, 6))
	co.Flush()
	if ol := observed(); ol.OperStatus != network.StatusEnabled || ol.RateGbps[0] != 7 {
		t.Fatalf("observed link %+v; want version 7's state (enabled, rate 7)", ol)
	}
	if got := co.Stale(); got != 2 {
		t.Errorf("coalescer stale %d; want 2", got)
	}
}
