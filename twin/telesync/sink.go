// Package telesync is the twin's mapping from the physical network (the DTN
// reference architecture's twin management, seed 004 §6): it records what telemetry
// reports (models/observation batches) in a twin's observed state (Sink), keeps the
// telemetry history in the repository (History, RunRetention), and says which devices
// of a twin telemetry should stream from (ManagedNetwork).
//
// The package imports models, repository and twin only: the collector producing the
// batches (physical/telemetry) is wired to it by the server's assembly (apps/server).
package telesync

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twinflow/twinflow/models/observation"
	"github.com/twinflow/twinflow/twin"
)

// Sink records telemetry batches in a twin's observed state, one twin transaction per
// batch. Partial
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
type Sink struct {
	ctx     context.Context // the sink's lifetime (NewSink)
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

// NewSink returns a Sink writing into t until ctx ends (a batch observed after that
// is not recorded).
func NewSink(ctx context.Context, t *twin.Twin, log *slog.Logger) *Sink {
	return &Sink{ctx: ctx, twin: t, log: log, versions: map[string]uint64{}}
}

// Skipped is the number of samples about devices, interfaces or links the twin does not
// hold.
func (s *Sink) Skipped() uint64 { return s.skipped.Load() }

// Stale is the number of link samples skipped because a newer one was written.
func (s *Sink) Stale() uint64 { return s.stale.Load() }

var _ observation.Sink = (*Sink)(nil)

// newer reports whether ls is newer than the link's sample written last, and records
// its version (undone if the transaction fails). s.mu is held.
func (s *Sink) newer(ls *observation.LinkSample) bool {
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

// Observe implements observation.Sink: the batch is written in one transaction of
// the twin's observed state, or (on error) not at all.
func (s *Sink) Observe(b *observation.Batch) {
	ctx := s.ctx
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
