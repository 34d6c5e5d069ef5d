package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/twin"
)

// twinSink records telemetry batches in a twin's observed state, one twin transaction
// per batch (wire it with newTwinSink when a collector runs inside `serve`). Partial
// samples are merged into the stored row: a sample without counters keeps the stored
// counters, one without rates keeps the stored rates. Samples about devices or links
// the twin does not hold are skipped and counted.
type twinSink struct {
	twin    *twin.Twin
	log     *slog.Logger
	skipped atomic.Uint64
}

// newTwinSink returns a telemetry.Sink writing into t until ctx ends.
func newTwinSink(ctx context.Context, t *twin.Twin, log *slog.Logger) (*twinSink, telemetry.Sink) {
	s := &twinSink{twin: t, log: log}
	return s, telemetry.SinkFunc(func(b *telemetry.Batch) { s.observe(ctx, b) })
}

func (s *twinSink) observe(ctx context.Context, b *telemetry.Batch) {
	skip := func(err error) error {
		if errors.Is(err, twin.ErrNotFound) {
			s.skipped.Add(1)
			return nil
		}
		return err
	}
	err := s.twin.Observe(ctx, func(o *twin.Observation) error {
		r := o.Reader()
		for _, is := range b.Interfaces {
			st := twin.InterfaceState{}
			if cur, err := r.ObservedInterface(is.Device, is.Interface); err == nil {
				st = cur.InterfaceState
			}
			st.At = is.At
			if is.OperStatus != "" {
				st.OperStatus = is.OperStatus
			}
			if is.HasCounters {
				st.InOctets, st.OutOctets, st.InPkts, st.OutPkts = is.InOctets, is.OutOctets, is.InPkts, is.OutPkts
				st.InErrors, st.OutErrors, st.InDiscards, st.OutDiscards = is.InErrors, is.OutErrors, is.InDiscards, is.OutDiscards
			}
			if is.HasRates {
				st.InRateGbps, st.OutRateGbps = is.InRateGbps, is.OutRateGbps
			}
			if err := skip(o.Interface(is.Device, is.Interface, st)); err != nil {
				return err
			}
		}
		for _, ls := range b.Links {
			st := twin.LinkState{}
			if cur, err := r.ObservedLink(ls.Link); err == nil {
				st = cur.LinkState
			}
			st.At, st.OperStatus = ls.At, ls.Status
			if ls.HasRates {
				st.RateGbps, st.Utilisation = ls.RateGbps, ls.Utilisation
			}
			if err := skip(o.Link(ls.Link, st)); err != nil {
				return err
			}
		}
		for _, ds := range b.Devices {
			if err := skip(o.Device(ds.Device, ds.Reachable, ds.At)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("telemetry batch not recorded", "twin", s.twin.ID(), "err", err)
	}
}
