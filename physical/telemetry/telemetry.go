// Package telemetry subscribes to every managed device over gNMI and maps what they
// stream into observations of the twin's observed state (REQ-CYB-02): interface
// oper-status and counters, rates computed from counter deltas, link status (up only
// when both ends are oper UP and reachable) and per-direction link rate and utilisation,
// and device reachability. A device that stops answering is marked unreachable within
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

	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// ErrOptions is wrapped by invalid Options.
var ErrOptions = errors.New("telemetry: invalid options")

// InterfaceSample is what one notification said about one interface. Fields match the
// twin's observed interface state; Has* say which parts the notification carried.
type InterfaceSample struct {
	Device, Interface string
	// At is the device's timestamp of the sample.
	At                                           time.Time
	OperStatus                                   network.OperStatus // StatusEnabled (UP), StatusDisabled (not UP), or "" if not carried
	InOctets, OutOctets, InPkts, OutPkts         uint64
	InErrors, OutErrors, InDiscards, OutDiscards uint64
	HasCounters                                  bool
	// InRateGbps and OutRateGbps come from octet deltas since the previous sample.
	InRateGbps, OutRateGbps float64
	HasRates                bool
}

// LinkSample is the observed state of one link after an interface sample changed it.
type LinkSample struct {
	Link string
	At   time.Time
	// Status is StatusEnabled when both ends are oper UP on reachable devices,
	// StatusDisabled otherwise (unknown ends count as up).
	Status network.OperStatus
	// RateGbps and Utilisation per direction: [0] is A→B (Endpoints[0] to [1], the
	// directed link ID = link ID), [1] is B→A (ID + network.ReverseSuffix).
	RateGbps    [2]float64
	Utilisation [2]float64
	HasRates    bool
}

// DeviceSample reports a device's reachability.
type DeviceSample struct {
	Device    string
	Reachable bool
	At        time.Time
	Err       string // why it became unreachable, if known
}

// Batch is a set of observations handed to a Sink at once.
type Batch struct {
	Interfaces []InterfaceSample
	Links      []LinkSample
	Devices    []DeviceSample
	// Updates is the number of gNMI updates the batch was decoded from.
	Updates int
	// Received is when the batch's message arrived.
	Received time.Time
}

func (b *Batch) reset() {
	b.Interfaces = b.Interfaces[:0]
	b.Links = b.Links[:0]
	b.Devices = b.Devices[:0]
	b.Updates = 0
}

// Sink consumes observations. Observe is called concurrently from one goroutine per
// device; it must not retain b (or its slices) after returning.
type Sink interface {
	Observe(b *Batch)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(*Batch)

// Observe implements Sink.
func (f SinkFunc) Observe(b *Batch) { f(b) }

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
	lastSeen atomic.Int64
	state    atomic.Int32 // reachability last reported: stUnknown, stUp, stDown
	mu       sync.Mutex   // serialises emission (stream goroutine vs watchdog)
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

	updates atomic.Uint64
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
			_ = cl.SubscribeLoop(ctx, req, 200*time.Millisecond, 2*time.Second,
				func(r *gpb.SubscribeResponse) error { c.handle(d, r); return nil },
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
			now := c.opts.Now().UnixNano()
			for _, d := range c.devs {
				if d.state.Load() != stDown && now-d.lastSeen.Load() > int64(c.opts.UnreachableAfter) {
					c.setReachable(d, false, fmt.Errorf("no telemetry for %v", c.opts.UnreachableAfter))
				}
			}
		}
	}
}

// setReachable records a reachability change and re-evaluates the device's links.
func (c *Collector) setReachable(d *devState, up bool, cause error) {
	st := stDown
	if up {
		st = stUp
	}
	if d.state.Swap(st) == st {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := c.opts.Now()
	b := &d.batch
	b.reset()
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

// set updates one end of a link and returns the link's sample.
func (l *linkState) set(end int, up bool, at time.Time, is *ifState) LinkSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up[end] = up
	if is != nil && is.sample.HasRates {
		// This end's out rate is direction end (A→B for end 0), its in rate the other.
		l.rate[end] = is.sample.OutRateGbps
		l.rate[1-end] = is.sample.InRateGbps
		l.hasRate = true
	}
	s := LinkSample{Link: l.id, At: at, Status: network.StatusDisabled, RateGbps: l.rate, HasRates: l.hasRate}
	if l.up[0] && l.up[1] {
		s.Status = network.StatusEnabled
	}
	if l.capGbps > 0 {
		s.Utilisation = [2]float64{l.rate[0] / l.capGbps, l.rate[1] / l.capGbps}
	}
	return s
}

// handle decodes one response into the device state and hands a batch to the sink.
func (c *Collector) handle(d *devState, r *gpb.SubscribeResponse) {
	now := c.opts.Now()
	d.lastSeen.Store(now.UnixNano())
	if d.state.Load() != stUp {
		c.setReachable(d, true, nil)
	}
	n := r.GetUpdate()
	if n == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := &d.batch
	b.reset()
	b.Received = now
	ts := n.Timestamp
	prefIf := ifaceName(n.Prefix)
	d.touched = d.touched[:0]
	for _, u := range n.Update {
		name := prefIf
		if name == "" {
			name = ifaceName(u.Path)
		}
		elems := u.GetPath().GetElem()
		if name == "" || len(elems) == 0 {
			continue
		}
		is := d.ifaces[name]
		if is == nil {
			is = &ifState{name: name}
			d.ifaces[name] = is
		}
		if !is.touched {
			is.touched = true
			is.updated = false
			is.sample = InterfaceSample{Device: d.name, Interface: name, OperStatus: is.sample.OperStatus,
				InOctets: is.sample.InOctets, OutOctets: is.sample.OutOctets, InPkts: is.sample.InPkts, OutPkts: is.sample.OutPkts,
				InErrors: is.sample.InErrors, OutErrors: is.sample.OutErrors, InDiscards: is.sample.InDiscards, OutDiscards: is.sample.OutDiscards}
			d.touched = append(d.touched, is)
		}
		b.Updates++
		leaf := elems[len(elems)-1].Name
		if leaf == "oper-status" {
			if up, ok := operUp(u.Val); ok {
				if up {
					is.sample.OperStatus = network.StatusEnabled
				} else {
					is.sample.OperStatus = network.StatusDisabled
				}
			}
			continue
		}
		v, ok := uintVal(u.Val)
		if !ok {
			continue
		}
		is.updated = true
		switch leaf {
		case "in-octets":
			is.sample.InOctets = v
		case "out-octets":
			is.sample.OutOctets = v
		case "in-pkts":
			is.sample.InPkts = v
		case "out-pkts":
			is.sample.OutPkts = v
		case "in-errors":
			is.sample.InErrors = v
		case "out-errors":
			is.sample.OutErrors = v
		case "in-discards":
			is.sample.InDiscards = v
		case "out-discards":
			is.sample.OutDiscards = v
		default:
			is.updated = false
		}
	}
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

// ifaceName returns the name key of an "interface" element of p, if any.
func ifaceName(p *gpb.Path) string {
	for _, e := range p.GetElem() {
		if e.Name == "interface" {
			return e.Key["name"]
		}
	}
	return ""
}

// uintVal reads a counter from a PROTO uint or a JSON(_IETF) number or quoted number,
// without allocating.
func uintVal(v *gpb.TypedValue) (uint64, bool) {
	switch x := v.GetValue().(type) {
	case *gpb.TypedValue_UintVal:
		return x.UintVal, true
	case *gpb.TypedValue_IntVal:
		return uint64(x.IntVal), x.IntVal >= 0
	case *gpb.TypedValue_JsonIetfVal:
		return parseUint(x.JsonIetfVal)
	case *gpb.TypedValue_JsonVal:
		return parseUint(x.JsonVal)
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
		if n < v {
			return 0, false
		}
		v = n
	}
	return v, true
}

// operUp reads an oper-status leaf (PROTO string or JSON string) without allocating.
func operUp(v *gpb.TypedValue) (up, ok bool) {
	switch x := v.GetValue().(type) {
	case *gpb.TypedValue_StringVal:
		return x.StringVal == "UP", true
	case *gpb.TypedValue_JsonIetfVal:
		return string(x.JsonIetfVal) == `"UP"`, len(x.JsonIetfVal) > 0
	case *gpb.TypedValue_JsonVal:
		return string(x.JsonVal) == `"UP"`, len(x.JsonVal) > 0
	}
	return false, false
}
