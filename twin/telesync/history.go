package telesync

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/observation"
	"github.com/twinflow/twinflow/repository"
)

// History keeps telemetry history in the repository (seed 004 §7.1): it buffers
// the samples of every batch it observes and appends them in one COPY/batch per flush
// interval. When the repository falls behind by more than max samples, new samples are
// dropped and counted rather than blocking the telemetry path.
type History struct {
	tel      repository.Telemetry
	log      *slog.Logger
	max      int
	interval time.Duration

	mu  sync.Mutex // guards buf
	buf []repository.Sample

	dropped atomic.Uint64
	written atomic.Uint64
}

// NewHistory returns a History appending to tel; Run flushes it.
func NewHistory(tel repository.Telemetry, log *slog.Logger) *History {
	return &History{tel: tel, log: log, max: 1 << 20, interval: time.Second}
}

// Observe implements observation.Sink.
func (h *History) Observe(b *observation.Batch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	add := func(dev, iface, metric string, at time.Time, v float64) {
		if len(h.buf) >= h.max {
			h.dropped.Add(1)
			return
		}
		if at.IsZero() {
			at = b.Received
		}
		h.buf = append(h.buf, repository.Sample{Device: dev, Interface: iface, Metric: metric, Time: at, Value: v})
	}
	for i := range b.Interfaces {
		s := &b.Interfaces[i]
		if s.OperStatus != "" {
			add(s.Device, s.Interface, "oper_up", s.At, boolValue(s.OperStatus == network.StatusEnabled))
		}
		if s.HasRates {
			add(s.Device, s.Interface, "in_rate_gbps", s.At, s.InRateGbps)
			add(s.Device, s.Interface, "out_rate_gbps", s.At, s.OutRateGbps)
		}
		if s.HasCounters {
			add(s.Device, s.Interface, "in_octets", s.At, float64(s.InOctets))
			add(s.Device, s.Interface, "out_octets", s.At, float64(s.OutOctets))
			add(s.Device, s.Interface, "in_errors", s.At, float64(s.InErrors))
			add(s.Device, s.Interface, "out_errors", s.At, float64(s.OutErrors))
			add(s.Device, s.Interface, "in_discards", s.At, float64(s.InDiscards))
			add(s.Device, s.Interface, "out_discards", s.At, float64(s.OutDiscards))
		}
	}
	for i := range b.Devices {
		d := &b.Devices[i]
		add(d.Device, "", "reachable", d.At, boolValue(d.Reachable))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// flush writes what is buffered. A failed append is logged and its samples dropped
// (counted), so one bad batch cannot wedge the history.
func (h *History) flush(ctx context.Context) {
	h.mu.Lock()
	batch := h.buf
	h.buf = make([]repository.Sample, 0, len(batch))
	h.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := h.tel.Append(ctx, batch); err != nil {
		h.dropped.Add(uint64(len(batch)))
		if ctx.Err() == nil {
			h.log.Error("telemetry history append failed", "samples", len(batch), "err", err)
		}
		return
	}
	h.written.Add(uint64(len(batch)))
}

// Dropped is the number of samples dropped (buffer full, or a failed append).
func (h *History) Dropped() uint64 { return h.dropped.Load() }

// Written is the number of samples appended to the repository.
func (h *History) Written() uint64 { return h.written.Load() }

// Run flushes every interval until ctx ends, then once more.
func (h *History) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			h.flush(fctx)
			cancel()
			return
		case <-t.C:
			h.flush(ctx)
		}
	}
}

// RunRetention prunes samples older than retention and compacts small chunks every
// interval, until ctx ends.
func RunRetention(ctx context.Context, tel repository.Telemetry, retention, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := tel.Prune(ctx, time.Now().Add(-retention)); err != nil {
				if ctx.Err() == nil {
					log.Error("telemetry prune failed", "err", err)
				}
			} else if n > 0 {
				log.Info("telemetry pruned", "samples", n)
			}
			if _, err := tel.Compact(ctx); err != nil && ctx.Err() == nil {
				log.Error("telemetry compaction failed", "err", err)
			}
		}
	}
}

// Tee hands every batch to each sink in turn.
type Tee []observation.Sink

// Observe implements observation.Sink.
func (t Tee) Observe(b *observation.Batch) {
	for _, s := range t {
		s.Observe(b)
	}
}
