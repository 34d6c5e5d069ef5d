package telemetry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Coalescer is a Sink that keeps the newest observation per interface, link and device
// and hands them to Next as one Batch every Interval. Many small per-notification
// batches become one downstream transaction per interval, which is what an expensive
// sink (the twin's store) needs at hundreds of thousands of updates per second.
// Observations of one object within an interval collapse to the newest (a sample that
// lacks rates or counters keeps those of the older one). Batch.Received of a flushed
// batch is the flush time, so latency measured at Next includes the coalescing delay.
//
// Link samples are ordered by LinkSample.Version, not by arrival: the Coalescer
// remembers the highest version it accepted per link (across flushes, for its whole
// life) and drops a sample that is not above it (counted by Stale), so Next sees each
// link's versions strictly increasing and ends with the newest state even when a
// link's older sample (from one end's device) arrives after its newer one (from the
// other end's). Use one Coalescer per Collector. Unversioned samples (Version 0) are
// taken in arrival order.
type Coalescer struct {
	next     Sink
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex // guards the following
	cur   Batch
	ifs   map[[2]string]int
	links map[string]linkSlot
	devs  map[string]int
	epoch uint64 // flushes so far: a linkSlot's idx is valid when its epoch is this

	flushMu sync.Mutex // serialises flushes; guards out
	out     Batch

	stale atomic.Uint64
}

// linkSlot is what the Coalescer keeps per link: the highest version accepted, and
// where the link's sample is in cur if it has one there (epoch == Coalescer.epoch).
type linkSlot struct {
	version uint64
	epoch   uint64
	idx     int
}

var _ Sink = (*Coalescer)(nil)

// NewCoalescer returns a coalescer flushing to next every interval (default 50 ms) once
// Run is running.
func NewCoalescer(next Sink, interval time.Duration) *Coalescer {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	return &Coalescer{next: next, interval: interval, now: time.Now,
		ifs: map[[2]string]int{}, links: map[string]linkSlot{}, devs: map[string]int{}}
}

// Stale returns the number of link samples dropped because a newer version of the
// link had been accepted before they arrived.
func (c *Coalescer) Stale() uint64 { return c.stale.Load() }

// Observe implements Sink.
func (c *Coalescer) Observe(b *Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur.Updates += b.Updates
	for _, x := range b.Interfaces {
		k := [2]string{x.Device, x.Interface}
		i, ok := c.ifs[k]
		if !ok {
			c.ifs[k] = len(c.cur.Interfaces)
			c.cur.Interfaces = append(c.cur.Interfaces, x)
			continue
		}
		old := &c.cur.Interfaces[i]
		if !x.HasRates && old.HasRates {
			x.InRateGbps, x.OutRateGbps, x.HasRates = old.InRateGbps, old.OutRateGbps, true
		}
		if !x.HasCounters && old.HasCounters {
			x.HasCounters = true
		}
		if x.OperStatus == "" {
			x.OperStatus = old.OperStatus
		}
		*old = x
	}
	for _, l := range b.Links {
		slot, ok := c.links[l.Link]
		if ok && l.Version != 0 && l.Version <= slot.version {
			c.stale.Add(1) // a newer sample of the link was accepted already
			continue
		}
		slot.version = max(slot.version, l.Version)
		if !ok || slot.epoch != c.epoch {
			slot.epoch, slot.idx = c.epoch, len(c.cur.Links)
			c.links[l.Link] = slot
			c.cur.Links = append(c.cur.Links, l)
			continue
		}
		c.links[l.Link] = slot
		old := &c.cur.Links[slot.idx]
		if !l.HasRates && old.HasRates {
			l.RateGbps, l.Utilisation, l.HasRates = old.RateGbps, old.Utilisation, true
		}
		*old = l
	}
	for _, d := range b.Devices {
		i, ok := c.devs[d.Device]
		if !ok {
			c.devs[d.Device] = len(c.cur.Devices)
			c.cur.Devices = append(c.cur.Devices, d)
			continue
		}
		c.cur.Devices[i] = d
	}
}

// Flush hands what has accumulated to Next now.
func (c *Coalescer) Flush() {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	if len(c.cur.Interfaces)+len(c.cur.Links)+len(c.cur.Devices) == 0 {
		c.mu.Unlock()
		return
	}
	// Swap buffers: out becomes the accumulating batch (emptied), cur is flushed.
	resetBatch(&c.out)
	c.cur, c.out = c.out, c.cur
	clear(c.ifs)
	c.epoch++ // the link slots' positions in cur are void; their versions stay
	clear(c.devs)
	c.mu.Unlock()
	c.out.Received = c.now()
	c.next.Observe(&c.out)
}

// Run flushes every interval until ctx is done, then flushes once more.
func (c *Coalescer) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Flush()
			return
		case <-t.C:
			c.Flush()
		}
	}
}
