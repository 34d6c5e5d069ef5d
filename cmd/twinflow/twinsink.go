package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/twin"
)

// twinSink records telemetry batches in a twin's observed state, one twin transaction
// per batch (wire it with newTwinSink when a collector runs inside `serve`). Partial
// samples are merged into the stored row: a sample without counters keeps the stored
// counters, one without rates keeps the stored rates. Samples about devices or links
// the twin does not hold are skipped and counted.
//
// A link's samples can arrive out of order (its two ends are different devices): the
// sink keeps the version of the link sample it last wrote per link and skips a sample
// whose version is not above it (counted in stale), so the twin's observed link state
// is the newest the collector computed, never an older one that arrived late. The
// check and the write are one step (under mu, around the twin transaction). Make one
// sink per collector: versions count per collector.
type twinSink struct {
	twin    *twin.Twin
	log     *slog.Logger
	skipped atomic.Uint64
	stale   atomic.Uint64

	mu       sync.Mutex        // held for a whole batch; guards the following
	versions map[string]uint64 // link ID -> version of the sample written last
	undo     []linkVersion     // versions to restore if the batch's transaction fails
}

type linkVersion struct {
	link    string
	version uint64
	had     bool
}

// newTwinSink returns a telemetry.Sink writing into t until ctx ends.
func newTwinSink(ctx context.Context, t *twin.Twin, log *slog.Logger) (*twinSink, telemetry.Sink) {
	s := &twinSink{twin: t, log: log, versions: map[string]uint64{}}
	return s, telemetry.SinkFunc(func(b *telemetry.Batch) { s.observe(ctx, b) })
}

// newer reports whether ls is newer than the link's sample written last, and records
// its version (undone if the transaction fails). s.mu is held.
func (s *twinSink) newer(ls *telemetry.LinkSample) bool {
	if ls.Version == 0 {
		return true // unversioned: arrival order
	}
	cur, had := s.versions[ls.Link]
	if had && ls.Version <= cur {
		s.stale.Add(1)
		return false
	}
	s.undo = append(s.undo, linkVersion{link: ls.Link, version: cur, had: had})
	s.versions[ls.Link] = ls.Version
	return true
}

func (s *twinSink) observe(ctx context.Context, b *telemetry.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.undo = s.undo[:0]
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
		for i := range b.Links {
			ls := &b.Links[i]
			if !s.newer(ls) {
				continue
			}
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
	if err != nil {
		// Nothing of the batch was written: the versions it recorded are void.
		for i := len(s.undo) - 1; i >= 0; i-- {
			u := s.undo[i]
			if u.had {
				s.versions[u.link] = u.version
			} else {
				delete(s.versions, u.link)
			}
		}
		if ctx.Err() == nil {
			s.log.Warn("telemetry batch not recorded", "twin", s.twin.ID(), "err", err)
		}
	}
}
