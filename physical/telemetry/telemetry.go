// Package telemetry subscribes to every managed device over gNMI and maps what they
// stream into observations of the twin's observed state (REQ-CYB-02): interface
// oper-status and counters, rates computed from counter deltas, link status (up only
// when both ends are oper UP and reachable) and per-direction link rate and utilisation,
// and device reachability. A link's samples are versioned (LinkSample.Version), so a
// sink keeping the latest state per link can drop one that arrives after a newer one
// from the link's other end. A device that stops answering is marked unreachable within
// UnreachableAfter (default 2 s): immediately when its stream breaks, otherwise by a
// watchdog on the time of its last message (SAMPLE subscriptions guarantee traffic at
// least every SampleInterval).
//
// The package imports models only; the consumer implements Sink. The ingest hot path
// (decoding a notification into the per-device state and a reused Batch) does not
// allocate beyond what gRPC/protobuf allocate for the message itself.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/observation"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// ErrOptions is wrapped by invalid Options.
var ErrOptions = errors.New("telemetry: invalid options")

// The samples and the Sink are models/observation's vocabulary (the twin layer
// consumes them without importing this package); the aliases keep this package's
// names.
type (
	// InterfaceSample is observation.InterfaceSample.
	InterfaceSample = observation.InterfaceSample
	// LinkSample is observation.LinkSample.
	LinkSample = observation.LinkSample
	// DeviceSample is observation.DeviceSample.
	DeviceSample = observation.DeviceSample
	// Batch is observation.Batch.
	Batch = observation.Batch
	// Sink is observation.Sink.
	Sink = observation.Sink
	// SinkFunc is observation.SinkFunc.
	SinkFunc = observation.SinkFunc
)

// resetBatch empties b for reuse, keeping its slices' capacity.
func resetBatch(b *Batch) {
	b.Interfaces = b.Interfaces[:0]
	b.Links = b.Links[:0]
	b.Devices = b.Devices[:0]
	b.Updates = 0
}

// Options configure a Collector.
type Options struct {
	// Pool holds a client per device (required); devices are the pool's names.
	Pool *tfgnmi.Pool
	// Network gives the links (endpoints, capacity) interfaces map to. Optional.
	Network network.Network
	// SampleInterval of the counter subscription (default 1s, at most 1s).
	SampleInterval time.Duration
	// UnreachableAfter is the silence after which a device is unreachable (default 2s).
	UnreachableAfter time.Duration
	// Encoding of the subscription: JSON_IETF (default) or PROTO.
	Encoding gpb.Encoding
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type linkState struct {
	mu      sync.Mutex // guards the following
	id      string
	capGbps float64
	up      [2]bool // per end: oper UP and device reachable
	rate    [2]float64
	hasRate bool
	version uint64 // of the last sample computed (LinkSample.Version)
}

type endRef struct {
	link *linkState
	end  int // 0: Endpoints[0] (A), 1: B
}

type ifState struct {
	name    string
	end     endRef
	sample  InterfaceSample
	prevIn  uint64
	prevOut uint64
	prevAt  int64
	hasPrev bool
	touched bool
	updated bool // counters updated in this notification
}

type devState struct {
	name     string
	ifaces   map[string]*ifState
	lastSeen atomic.Int64 // written under mu (or by Run before any stream); read without it by the watchdog's first look
	state    atomic.Int32 // reachability last reported: stUnknown, stUp, stDown; changed under mu
	mu       sync.Mutex   // serialises emission and reachability changes (stream goroutine vs watchdog)
	batch    Batch
	touched  []*ifState
}

// Reachability states of a device.
const (
	stUnknown int32 = iota
	stUp
	stDown
)

// Collector runs the subscriptions.
type Collector struct {
	opts  Options
	log   *slog.Logger
	sink  Sink
	devs  map[string]*devState
	links []*linkState
	// devLinks lists the link ends of each device (for reachability changes).
	devLinks map[string][]endRef

	updates   atomic.Uint64
	malformed atomic.Uint64
}

// New builds a collector for the pool's devices.
func New(o Options, sink Sink) (*Collector, error) {
	if o.Pool == nil {
		return nil, fmt.Errorf("%w: pool is required", ErrOptions)
	}
	if sink == nil {
		return nil, fmt.Errorf("%w: sink is required", ErrOptions)
	}
	if o.SampleInterval <= 0 {
		o.SampleInterval = time.Second
	}
	if o.UnreachableAfter <= 0 {
		o.UnreachableAfter = 2 * time.Second
	}
	if o.UnreachableAfter < 2*o.SampleInterval {
		return nil, fmt.Errorf("%w: unreachable-after %v must be at least twice the sample interval %v", ErrOptions, o.UnreachableAfter, o.SampleInterval)
	}
	if o.Encoding != gpb.Encoding_JSON_IETF && o.Encoding != gpb.Encoding_PROTO {
		if o.Encoding == gpb.Encoding_JSON {
			o.Encoding = gpb.Encoding_JSON_IETF
		} else {
			return nil, fmt.Errorf("%w: encoding %v (JSON_IETF or PROTO)", ErrOptions, o.Encoding)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Collector{opts: o, log: log, sink: sink, devs: map[string]*devState{}, devLinks: map[string][]endRef{}}
	for _, n := range o.Pool.Names() {
		c.devs[n] = &devState{name: n, ifaces: map[string]*ifState{}}
	}
	for _, l := range o.Network.Links {
		if len(l.Endpoints) != 2 {
			continue
		}
		ls := &linkState{id: l.ID, capGbps: l.CapacityGbps, up: [2]bool{true, true}}
		c.links = append(c.links, ls)
		for end, ep := range l.Endpoints {
			d := c.devs[ep.Device]
			if d == nil {
				continue
			}
			ref := endRef{link: ls, end: end}
			d.ifaces[ep.EndPoint] = &ifState{name: ep.EndPoint, end: ref}
			c.devLinks[ep.Device] = append(c.devLinks[ep.Device], ref)
		}
	}
	return c, nil
}

// Malformed returns the number of responses dropped as undecodable.
func (c *Collector) Malformed() uint64 { return c.malformed.Load() }

// Updates returns the number of gNMI updates ingested so far.
func (c *Collector) Updates() uint64 { return c.updates.Load() }

func (c *Collector) request() *gpb.SubscribeRequest {
	p := func(elems ...string) *gpb.Path {
		out := &gpb.Path{}
		for _, e := range elems {
			out.Elem = append(out.Elem, &gpb.PathElem{Name: e})
		}
		return out
	}
	return &gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Mode:     gpb.SubscriptionList_STREAM,
		Encoding: c.opts.Encoding,
		Subscription: []*gpb.Subscription{
			{Path: p("interfaces", "interface", "state", "counters"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(c.opts.SampleInterval)},
			{Path: p("interfaces", "interface", "state", "oper-status"), Mode: gpb.SubscriptionMode_ON_CHANGE},
		},
	}}}
}

// Run subscribes to every device and keeps the subscriptions up until ctx is done.
func (c *Collector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	req := c.request()
	names := make([]string, 0, len(c.devs))
	for n := range c.devs {
		names = append(names, n)
	}
	sort.Strings(names)
	start := c.opts.Now().UnixNano()
	for _, n := range names {
		d := c.devs[n]
		d.lastSeen.Store(start)
		cl, ok := c.opts.Pool.Client(n)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cl.SubscribeRawLoop(ctx, req, 200*time.Millisecond, 2*time.Second,
				func(msg []byte) error { c.handleRaw(d, msg); return nil },
				func(err error) { c.setReachable(d, false, err) })
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watchdog(ctx)
	}()
	wg.Wait()
	return nil
}

func (c *Collector) watchdog(ctx context.Context) {
	tick := c.opts.UnreachableAfter / 20
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// testHookExpire, when set by a test, runs in the watchdog between deciding that a
// device has been silent too long and acting on it (to force a message in between).
var testHookExpire func(d *devState)

// sweep marks unreachable every device silent for longer than UnreachableAfter.
func (c *Collector) sweep() {
	now := c.opts.Now().UnixNano()
	for _, d := range c.devs {
		if d.state.Load() != stDown && now-d.lastSeen.Load() > int64(c.opts.UnreachableAfter) {
			if testHookExpire != nil {
				testHookExpire(d)
			}
			c.expire(d, now)
		}
	}
}

// expire marks d unreachable if it is still silent at now. The check is repeated under
// the device's lock: a message handled since the watchdog looked (handleRaw records it
// under the same lock) keeps the device reachable, so no "unreachable" is reported
// after that message's "reachable".
func (c *Collector) expire(d *devState, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state.Load() == stDown || now-d.lastSeen.Load() <= int64(c.opts.UnreachableAfter) {
		return
	}
	c.setReachableLocked(d, false, fmt.Errorf("no telemetry for %v", c.opts.UnreachableAfter))
}

// setReachable records a reachability change and re-evaluates the device's links.
func (c *Collector) setReachable(d *devState, up bool, cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c.setReachableLocked(d, up, cause)
}

// setReachableLocked is setReachable with d.mu held. The state changes under the lock
// that orders the emissions, so the sink's last word on a device is its current state
// (a change made outside it could be reported before an older one).
func (c *Collector) setReachableLocked(d *devState, up bool, cause error) {
	st := stDown
	if up {
		st = stUp
	}
	if d.state.Load() == st {
		return
	}
	d.state.Store(st)
	now := c.opts.Now()
	b := &d.batch
	resetBatch(b)
	ds := DeviceSample{Device: d.name, Reachable: up, At: now}
	if cause != nil {
		ds.Err = cause.Error()
	}
	b.Devices = append(b.Devices, ds)
	for _, ref := range c.devLinks[d.name] {
		operUp := false
		if is := d.ifaces[ifaceOf(d, ref)]; is != nil {
			operUp = is.sample.OperStatus == network.StatusEnabled
		}
		b.Links = append(b.Links, ref.link.set(ref.end, up && operUp, now, nil))
	}
	b.Received = now
	c.sink.Observe(b)
	if !up {
		c.log.Info("device unreachable", "device", d.name, "err", cause)
	}
}

func ifaceOf(d *devState, ref endRef) string {
	for n, is := range d.ifaces {
		if is.end == ref {
			return n
		}
	}
	return ""
}

// set updates one end of a link and returns the link's sample, numbered under the
// link's lock (the sample may reach the sink after a later one from the other end).
func (l *linkState) set(end int, up bool, at time.Time, is *ifState) LinkSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.version++
	l.up[end] = up
	if is != nil && is.sample.HasRates {
		// This end's out rate is direction end (A→B for end 0), its in rate the other.
		l.rate[end] = is.sample.OutRateGbps
		l.rate[1-end] = is.sample.InRateGbps
		l.hasRate = true
	}
	s := LinkSample{Link: l.id, Version: l.version, At: at, Status: network.StatusDisabled, RateGbps: l.rate, HasRates: l.hasRate}
	if l.up[0] && l.up[1] {
		s.Status = network.StatusEnabled
	}
	if l.capGbps > 0 {
		s.Utilisation = [2]float64{l.rate[0] / l.capGbps, l.rate[1] / l.capGbps}
	}
	return s
}

// handleRaw decodes one encoded gnmi.SubscribeResponse into the device state and hands
// a batch to the sink. It parses the protobuf wire format directly (no allocation in
// the steady state). Malformed messages are counted and dropped.
func (c *Collector) handleRaw(d *devState, msg []byte) {
	now := c.opts.Now()
	// Under the lock the watchdog re-checks the silence with (see expire).
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastSeen.Store(now.UnixNano())
	if d.state.Load() != stUp {
		c.setReachableLocked(d, true, nil)
	}
	notif, ok := field(msg, 1)
	if !ok {
		return // sync_response or an empty message
	}
	var ts int64
	var prefix []byte
	for b := notif; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			c.malformed.Add(1)
			return
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				c.malformed.Add(1)
				return
			}
			ts, n = int64(v), m
		case num == 2 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			prefix, n = v, m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			c.malformed.Add(1)
			return
		}
		b = b[n:]
	}
	b := &d.batch
	resetBatch(b)
	b.Received = now
	prefIf, _ := ifaceOfPath(prefix)
	d.touched = d.touched[:0]
	for rest := notif; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			break
		}
		rest = rest[n:]
		if num != 4 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, rest)
			if n < 0 {
				break
			}
			rest = rest[n:]
			continue
		}
		u, m := protowire.ConsumeBytes(rest)
		if m < 0 {
			break
		}
		rest = rest[m:]
		path, _ := field(u, 1)
		val, _ := field(u, 3)
		name := prefIf
		if len(name) == 0 {
			name, _ = ifaceOfPath(path)
		}
		leaf := lastElem(path)
		if len(name) == 0 || len(leaf) == 0 {
			continue
		}
		c.apply(d, name, leaf, val)
	}
	c.finish(d, ts)
}

// apply records one leaf value of one interface.
func (c *Collector) apply(d *devState, name, leaf, val []byte) {
	b := &d.batch
	is := d.ifaces[string(name)]
	if is == nil {
		is = &ifState{name: string(name)}
		d.ifaces[is.name] = is
	}
	if !is.touched {
		is.touched = true
		is.updated = false
		prev := is.sample
		is.sample = InterfaceSample{Device: d.name, Interface: is.name, OperStatus: prev.OperStatus,
			InOctets: prev.InOctets, OutOctets: prev.OutOctets, InPkts: prev.InPkts, OutPkts: prev.OutPkts,
			InErrors: prev.InErrors, OutErrors: prev.OutErrors, InDiscards: prev.InDiscards, OutDiscards: prev.OutDiscards}
		d.touched = append(d.touched, is)
	}
	b.Updates++
	if string(leaf) == "oper-status" {
		if up, ok := operUp(val); ok {
			if up {
				is.sample.OperStatus = network.StatusEnabled
			} else {
				is.sample.OperStatus = network.StatusDisabled
			}
		}
		return
	}
	v, ok := uintVal(val)
	if !ok {
		return
	}
	s := &is.sample
	switch string(leaf) {
	case "in-octets":
		s.InOctets = v
	case "out-octets":
		s.OutOctets = v
	case "in-pkts":
		s.InPkts = v
	case "out-pkts":
		s.OutPkts = v
	case "in-errors":
		s.InErrors = v
	case "out-errors":
		s.OutErrors = v
	case "in-discards":
		s.InDiscards = v
	case "out-discards":
		s.OutDiscards = v
	default:
		return
	}
	is.updated = true
}

// finish computes rates and link samples for the touched interfaces and emits the batch.
func (c *Collector) finish(d *devState, ts int64) {
	b := &d.batch
	at := time.Unix(0, ts)
	reach := d.state.Load() == stUp
	for _, is := range d.touched {
		is.touched = false
		s := &is.sample
		s.At = at
		s.HasCounters = is.updated
		s.HasRates = false
		if is.updated {
			if is.hasPrev && ts > is.prevAt && s.InOctets >= is.prevIn && s.OutOctets >= is.prevOut {
				dt := float64(ts-is.prevAt) / 1e9
				s.InRateGbps = float64(s.InOctets-is.prevIn) * 8 / dt / 1e9
				s.OutRateGbps = float64(s.OutOctets-is.prevOut) * 8 / dt / 1e9
				s.HasRates = true
			}
			is.prevIn, is.prevOut, is.prevAt, is.hasPrev = s.InOctets, s.OutOctets, ts, true
		}
		b.Interfaces = append(b.Interfaces, *s)
		if is.end.link != nil {
			b.Links = append(b.Links, is.end.link.set(is.end.end, reach && s.OperStatus != network.StatusDisabled, at, is))
		}
	}
	c.updates.Add(uint64(b.Updates))
	if len(b.Interfaces) > 0 {
		c.sink.Observe(b)
	}
}

// field returns the bytes of the first length-delimited field num of a message.
func field(msg []byte, num protowire.Number) ([]byte, bool) {
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return nil, false
		}
		msg = msg[l:]
		if n == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return nil, false
			}
			return v, true
		}
		l = protowire.ConsumeFieldValue(n, typ, msg)
		if l < 0 {
			return nil, false
		}
		msg = msg[l:]
	}
	return nil, false
}

// each calls fn for every length-delimited field num of msg.
func each(msg []byte, num protowire.Number, fn func([]byte) bool) {
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return
		}
		msg = msg[l:]
		if n == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return
			}
			msg = msg[m:]
			if !fn(v) {
				return
			}
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, msg)
		if l < 0 {
			return
		}
		msg = msg[l:]
	}
}

// ifaceOfPath returns the "name" key of an "interface" element of an encoded gnmi.Path.
func ifaceOfPath(path []byte) (name []byte, ok bool) {
	each(path, 3, func(elem []byte) bool {
		n, _ := field(elem, 1)
		if string(n) != "interface" {
			return true
		}
		each(elem, 2, func(entry []byte) bool {
			k, _ := field(entry, 1)
			if string(k) == "name" {
				name, _ = field(entry, 2)
				ok = true
				return false
			}
			return true
		})
		return false
	})
	return name, ok
}

// lastElem returns the name of the last element of an encoded gnmi.Path.
func lastElem(path []byte) []byte {
	var last []byte
	each(path, 3, func(elem []byte) bool {
		last, _ = field(elem, 1)
		return true
	})
	return last
}

// uintVal reads a counter from an encoded gnmi.TypedValue: uint_val (3), int_val (2),
// or a JSON(_IETF) number or quoted number (10, 11).
func uintVal(tv []byte) (uint64, bool) {
	for len(tv) > 0 {
		num, typ, n := protowire.ConsumeTag(tv)
		if n < 0 {
			return 0, false
		}
		tv = tv[n:]
		switch {
		case (num == 3 || num == 2) && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(tv)
			if m < 0 || (num == 2 && int64(v) < 0) {
				return 0, false
			}
			return v, true
		case (num == 10 || num == 11) && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(tv)
			if m < 0 {
				return 0, false
			}
			return parseUint(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, tv)
		if n < 0 {
			return 0, false
		}
		tv = tv[n:]
	}
	return 0, false
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n := v*10 + uint64(c-'0')
		if n/10 != v {
			return 0, false
		}
		v = n
	}
	return v, true
}

// operUp reads an oper-status leaf from an encoded gnmi.TypedValue: string_val (1) or a
// JSON string (10, 11).
func operUp(tv []byte) (up, ok bool) {
	for _, num := range []protowire.Number{1, 11, 10} {
		if v, found := field(tv, num); found {
			if num == 1 {
				return string(v) == "UP", true
			}
			return string(v) == `"UP"`, len(v) > 0
		}
	}
	return false, false
}
