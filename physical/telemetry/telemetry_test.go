package telemetry

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"google.golang.org/protobuf/proto"

	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

func TestParseUint(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{`"123"`, 123, true}, {`123`, 123, true}, {`"18446744073709551615"`, math.MaxUint64, true},
		{`"18446744073709551616"`, 0, false}, {`""`, 0, false}, {`"-1"`, 0, false}, {`1.5`, 0, false}, {`"12a"`, 0, false},
	} {
		got, ok := parseUint([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("parseUint(%s) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{`"1"`, `42`, `"18446744073709551615"`, `"x"`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseUint(b)
		if !ok {
			return
		}
		// Whatever parses must round-trip through the decimal form.
		s := string(b)
		if len(s) >= 2 && s[0] == '"' {
			s = s[1 : len(s)-1]
		}
		var w uint64
		for _, c := range s {
			w = w*10 + uint64(c-'0')
		}
		if w != v {
			t.Fatalf("parseUint(%q) = %d; want %d", b, v, w)
		}
	})
}

// handle feeds a response through the wire-format decoder, as the stream does.
func (c *Collector) handle(d *devState, r *gpb.SubscribeResponse) {
	b, err := proto.Marshal(r)
	if err != nil {
		panic(err)
	}
	c.handleRaw(d, b)
}

type recSink struct {
	mu    sync.Mutex
	ifs   []InterfaceSample
	links []LinkSample
	devs  []DeviceSample
}

func (r *recSink) Observe(b *Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ifs = append(r.ifs, b.Interfaces...)
	r.links = append(r.links, b.Links...)
	r.devs = append(r.devs, b.Devices...)
}

func notif(ts time.Time, iface string, kv map[string]*gpb.TypedValue) *gpb.SubscribeResponse {
	n := &gpb.Notification{Timestamp: ts.UnixNano(), Prefix: &gpb.Path{Elem: []*gpb.PathElem{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": iface}}}}}
	for k, v := range kv {
		p := &gpb.Path{}
		for _, e := range []string{"state", "counters", k} {
			if k == "oper-status" && e == "counters" {
				continue
			}
			p.Elem = append(p.Elem, &gpb.PathElem{Name: e})
		}
		n.Update = append(n.Update, &gpb.Update{Path: p, Val: v})
	}
	return &gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}}
}

func js(s string) *gpb.TypedValue {
	return &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(s)}}
}

// TestMapping: counters become rates, rates become per-direction link rate and
// utilisation, oper-status on either end drives link status, reachability too.
func TestMapping(t *testing.T) {
	pool, net := twoRouters(t)
	sink := &recSink{}
	c, err := New(Options{Pool: pool, Network: net, SampleInterval: 100 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := c.devs["r1"], c.devs["r2"]
	t0 := time.Unix(1000, 0)
	c.handle(r1, notif(t0, "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"UP"`), "in-octets": js(`"0"`), "out-octets": js(`"0"`)}))
	c.handle(r2, notif(t0, "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"UP"`)}))
	// 1 s later r1 sent 500 MB (4 Gb/s) and received 125 MB (1 Gb/s); PROTO values too.
	c.handle(r1, notif(t0.Add(time.Second), "eth1", map[string]*gpb.TypedValue{
		"in-octets":  {Value: &gpb.TypedValue_UintVal{UintVal: 125_000_000}},
		"out-octets": js(`"500000000"`),
	}))
	if len(sink.devs) != 2 || !sink.devs[0].Reachable {
		t.Fatalf("device samples %+v; want r1 and r2 reachable", sink.devs)
	}
	last := sink.ifs[len(sink.ifs)-1]
	if !last.HasRates || last.OutRateGbps != 4 || last.InRateGbps != 1 {
		t.Fatalf("rates %+v; want out 4, in 1 Gb/s", last)
	}
	if last.OperStatus != network.StatusEnabled {
		t.Errorf("oper status %q; want carried over as enabled", last.OperStatus)
	}
	ls := sink.links[len(sink.links)-1]
	if ls.Status != network.StatusEnabled || ls.RateGbps != [2]float64{4, 1} || ls.Utilisation != [2]float64{0.4, 0.1} {
		t.Fatalf("link sample %+v; want up, rates [4 1], utilisation [0.4 0.1]", ls)
	}
	// r2's end goes down: the link is down.
	c.handle(r2, notif(t0.Add(2*time.Second), "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"DOWN"`)}))
	if ls := sink.links[len(sink.links)-1]; ls.Status != network.StatusDisabled {
		t.Fatalf("link %+v; want disabled after r2 eth1 DOWN", ls)
	}
	c.handle(r2, notif(t0.Add(3*time.Second), "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"UP"`)}))
	if ls := sink.links[len(sink.links)-1]; ls.Status != network.StatusEnabled {
		t.Fatalf("link %+v; want enabled again", ls)
	}
	// r1 becomes unreachable: device sample and link down.
	c.setReachable(r1, false, nil)
	if d := sink.devs[len(sink.devs)-1]; d.Device != "r1" || d.Reachable {
		t.Fatalf("device sample %+v; want r1 unreachable", d)
	}
	if ls := sink.links[len(sink.links)-1]; ls.Status != network.StatusDisabled {
		t.Fatalf("link %+v; want disabled with r1 unreachable", ls)
	}
}

// TestHandleAllocs: decoding a notification into the reused batch, including the
// (versioned) sample of the link the interface is an end of, does not allocate.
// twoRouters returns a pool holding r1 and r2 (never dialled: the tests feed the
// collector by hand), closed at the test's end, and a network with one 10 Gb/s link l1
// between their eth1 ports.
func twoRouters(t *testing.T) (*tfgnmi.Pool, network.Network) {
	t.Helper()
	pool := tfgnmi.NewPool(1)
	t.Cleanup(func() { pool.Close() })
	for _, d := range []string{"r1", "r2"} {
		if _, err := pool.Add(d, tfgnmi.Options{Address: "127.0.0.1:1", Insecure: true}); err != nil {
			t.Fatal(err)
		}
	}
	return pool, network.Network{Links: []network.Link{{ID: "l1", CapacityGbps: 10,
		Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}}}}
}

func TestHandleAllocs(t *testing.T) {
	pool := tfgnmi.NewPool(1)
	defer pool.Close()
	if _, err := pool.Add("r1", tfgnmi.Options{Address: "127.0.0.1:1", Insecure: true}); err != nil {
		t.Fatal(err)
	}
	net := network.Network{Links: []network.Link{{ID: "l1", CapacityGbps: 10, Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}}}}
	var links int
	c, err := New(Options{Pool: pool, Network: net, SampleInterval: 100 * time.Millisecond}, SinkFunc(func(b *Batch) { links += len(b.Links) }))
	if err != nil {
		t.Fatal(err)
	}
	d := c.devs["r1"]
	msgs := make([][]byte, 202)
	for i := range msgs {
		r := notif(time.Unix(int64(1+i), 0), "eth1", map[string]*gpb.TypedValue{"in-octets": js(`"1"`), "out-octets": js(`"2"`), "in-pkts": {Value: &gpb.TypedValue_UintVal{UintVal: 3}}, "oper-status": js(`"UP"`)})
		msgs[i], _ = proto.Marshal(r)
	}
	c.handleRaw(d, msgs[0])
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		i++
		c.handleRaw(d, msgs[i])
	})
	if got := c.Updates(); got != 4*102 {
		t.Errorf("updates = %d; want %d", got, 4*102)
	}
	if links < 102 {
		t.Errorf("%d link samples; want one per notification at least", links)
	}
	if allocs > 0 {
		t.Errorf("handle allocates %v times per notification; want 0", allocs)
	}
}

// FuzzHandleRaw: arbitrary bytes on the wire never panic the decoder.
func FuzzHandleRaw(f *testing.F) {
	for _, r := range []*gpb.SubscribeResponse{
		notif(time.Unix(1, 0), "eth1", map[string]*gpb.TypedValue{"in-octets": js(`"1"`), "oper-status": js(`"UP"`)}),
		notif(time.Unix(2, 0), "eth2", map[string]*gpb.TypedValue{"out-octets": {Value: &gpb.TypedValue_UintVal{UintVal: 9}}}),
		{Response: &gpb.SubscribeResponse_SyncResponse{SyncResponse: true}},
	} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	pool := tfgnmi.NewPool(1)
	defer pool.Close()
	if _, err := pool.Add("r1", tfgnmi.Options{Address: "127.0.0.1:1", Insecure: true}); err != nil {
		f.Fatal(err)
	}
	net := network.Network{Links: []network.Link{{ID: "l1", CapacityGbps: 1, Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}}}}
	c, err := New(Options{Pool: pool, Network: net, SampleInterval: 100 * time.Millisecond}, SinkFunc(func(b *Batch) {
		for _, l := range b.Links {
			if l.Utilisation[0] != l.Utilisation[0] { // NaN
				panic("NaN utilisation")
			}
		}
	}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c.handleRaw(c.devs["r1"], b)
	})
}

func TestCoalescer(t *testing.T) {
	var got []Batch
	c := NewCoalescer(SinkFunc(func(b *Batch) {
		cp := *b
		cp.Interfaces = append([]InterfaceSample(nil), b.Interfaces...)
		cp.Links = append([]LinkSample(nil), b.Links...)
		got = append(got, cp)
	}), time.Hour)
	t0 := time.Unix(100, 0)
	c.Observe(&Batch{Updates: 8, Interfaces: []InterfaceSample{{Device: "r1", Interface: "eth1", At: t0, InOctets: 1, HasCounters: true, HasRates: true, InRateGbps: 2, OperStatus: network.StatusEnabled}},
		Links: []LinkSample{{Link: "l1", HasRates: true, RateGbps: [2]float64{2, 1}}}})
	c.Observe(&Batch{Updates: 1, Interfaces: []InterfaceSample{
		{Device: "r1", Interface: "eth1", At: t0.Add(time.Second), InOctets: 1, OperStatus: ""},
		{Device: "r1", Interface: "eth2", At: t0.Add(time.Second), OperStatus: network.StatusDisabled},
	}, Links: []LinkSample{{Link: "l1", Status: network.StatusDisabled}}, Devices: []DeviceSample{{Device: "r1", Reachable: true}}})
	c.Flush()
	c.Flush() // nothing new: no second batch
	if len(got) != 1 {
		t.Fatalf("%d flushed batches; want 1", len(got))
	}
	b := got[0]
	if b.Updates != 9 || len(b.Interfaces) != 2 || len(b.Links) != 1 || len(b.Devices) != 1 {
		t.Fatalf("batch %+v", b)
	}
	e1 := b.Interfaces[0]
	if !e1.At.Equal(t0.Add(time.Second)) || !e1.HasRates || e1.InRateGbps != 2 || e1.OperStatus != network.StatusEnabled || !e1.HasCounters {
		t.Errorf("merged eth1 %+v; want newest time with rates, counters and oper status kept", e1)
	}
	if l := b.Links[0]; l.Status != network.StatusDisabled || !l.HasRates || l.RateGbps != [2]float64{2, 1} {
		t.Errorf("merged link %+v", l)
	}
}

// TestWatchdogRaceWithMessage: a message that arrives while the watchdog is acting on
// the device's silence (it decided, but has not yet taken the device's lock) leaves the
// device reachable: the watchdog re-checks the silence under the lock, and no
// "unreachable" is reported after the message's "reachable". A test hook holds the
// watchdog at that point, so the interleaving is forced, not hoped for.
func TestWatchdogRaceWithMessage(t *testing.T) {
	pool, net := twoRouters(t)
	var clk sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { clk.Lock(); defer clk.Unlock(); return now }
	advance := func(d time.Duration) { clk.Lock(); now = now.Add(d); clk.Unlock() }
	sink := &recSink{}
	c, err := New(Options{Pool: pool, Network: net, SampleInterval: 100 * time.Millisecond, UnreachableAfter: 2 * time.Second, Now: clock}, sink)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := c.devs["r1"], c.devs["r2"]
	up := func(ts time.Time) *gpb.SubscribeResponse {
		return notif(ts, "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"UP"`), "in-octets": js(`"0"`), "out-octets": js(`"0"`)})
	}
	c.handle(r1, up(clock()))
	c.handle(r2, up(clock()))
	// r1 is silent past UnreachableAfter (r2 keeps talking).
	advance(2*time.Second + time.Millisecond)
	c.handle(r2, up(clock()))

	entered, release, swept := make(chan struct{}), make(chan struct{}), make(chan struct{})
	testHookExpire = func(d *devState) {
		if d == r1 {
			close(entered)
			<-release
		}
	}
	t.Cleanup(func() { testHookExpire = nil })
	go func() { c.sweep(); close(swept) }()
	<-entered
	// The watchdog has decided r1 is silent; a message from r1 arrives before it acts.
	c.handle(r1, up(clock()))
	close(release)
	<-swept
	// And r1 keeps talking.
	advance(100 * time.Millisecond)
	c.handle(r1, up(clock()))

	sink.mu.Lock()
	defer sink.mu.Unlock()
	var last *DeviceSample
	for i := range sink.devs {
		if sink.devs[i].Device == "r1" {
			last = &sink.devs[i]
		}
	}
	if last == nil || !last.Reachable {
		t.Fatalf("r1's last device sample %+v (all: %+v); want reachable: it sent a message after the watchdog's decision", last, sink.devs)
	}
	if ls := sink.links[len(sink.links)-1]; ls.Status != network.StatusEnabled {
		t.Fatalf("last link sample %+v; want enabled", ls)
	}
}

// gateSink holds the batch of one device at the sink's door until released, to force a
// link's older sample (computed first) to be emitted after its newer one.
type gateSink struct {
	next Sink

	mu       sync.Mutex
	hold     string        // device whose next batch is held
	entered  chan struct{} // closed when the held batch arrived
	released chan struct{} // closed by the test to let it through
}

func (g *gateSink) arm(dev string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.entered, g.released = dev, make(chan struct{}), make(chan struct{})
}

func (g *gateSink) Observe(b *Batch) {
	g.mu.Lock()
	held := g.hold != "" && len(b.Interfaces) > 0 && b.Interfaces[0].Device == g.hold
	entered, released := g.entered, g.released
	if held {
		g.hold = ""
	}
	g.mu.Unlock()
	if held {
		close(entered)
		<-released
	}
	g.next.Observe(b)
}

// latestSink keeps the last link sample it was handed per link, in arrival order (what
// the twin's store does with the Coalescer's flushes).
type latestSink struct {
	mu    sync.Mutex
	links map[string]LinkSample
}

func (s *latestSink) Observe(b *Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range b.Links {
		s.links[l.Link] = l
	}
}

func (s *latestSink) link(id string) LinkSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[id]
}

// TestLinkSampleOrderAcrossEnds: the two ends of a link are different devices whose
// batches reach the sink concurrently. Here r1's sample of the link (end up: link up)
// is computed first but held at the sink's door while r2 reports its end DOWN (link
// down) and that newer sample goes through; then r1's older sample arrives. The
// Coalescer, and so what it flushes, must end with the link down, both when the two
// samples meet within one interval and when the newer one was flushed already.
func TestLinkSampleOrderAcrossEnds(t *testing.T) {
	for _, flushBetween := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush-between=%v", flushBetween), func(t *testing.T) {
			pool, net := twoRouters(t)
			latest := &latestSink{links: map[string]LinkSample{}}
			co := NewCoalescer(latest, time.Hour)
			gate := &gateSink{next: co}
			c, err := New(Options{Pool: pool, Network: net, SampleInterval: 100 * time.Millisecond}, gate)
			if err != nil {
				t.Fatal(err)
			}
			r1, r2 := c.devs["r1"], c.devs["r2"]
			t0 := time.Unix(1000, 0)
			c.handle(r1, notif(t0, "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"UP"`), "in-octets": js(`"0"`), "out-octets": js(`"0"`)}))
			c.handle(r2, notif(t0, "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"UP"`)}))
			co.Flush()
			if l := latest.link("l1"); l.Status != network.StatusEnabled {
				t.Fatalf("link %+v; want enabled with both ends up", l)
			}

			gate.arm("r1")
			done := make(chan struct{})
			go func() {
				defer close(done)
				// r1's counters: its end is still up, so its link sample says up.
				c.handle(r1, notif(t0.Add(time.Second), "eth1", map[string]*gpb.TypedValue{"in-octets": js(`"125000000"`), "out-octets": js(`"500000000"`)}))
			}()
			<-gate.entered // r1's link sample is computed, not yet emitted
			c.handle(r2, notif(t0.Add(time.Second), "eth1", map[string]*gpb.TypedValue{"oper-status": js(`"DOWN"`)}))
			if flushBetween {
				co.Flush()
				if l := latest.link("l1"); l.Status != network.StatusDisabled {
					t.Fatalf("link %+v after r2's DOWN; want disabled", l)
				}
			}
			close(gate.released) // r1's older sample reaches the Coalescer last
			<-done
			co.Flush()
			if l := latest.link("l1"); l.Status != network.StatusDisabled {
				t.Fatalf("link %+v at the end; want disabled: r2's DOWN is newer than r1's up, which arrived after it", l)
			}
			// The link's rates were computed (from r1's counters) before r2's sample, so
			// the newer sample carries them too.
			if l := latest.link("l1"); !l.HasRates || l.RateGbps != [2]float64{4, 1} {
				t.Fatalf("link %+v; want rates [4 1] from r1's counters", l)
			}
		})
	}
}

// TestLinkVersions: every sample of a link, from either end and from reachability
// changes, gets the next version of that link; other links count on their own.
func TestLinkVersions(t *testing.T) {
	pool, _ := twoRouters(t)
	net := network.Network{Links: []network.Link{
		{ID: "l1", CapacityGbps: 10, Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}},
		{ID: "l2", CapacityGbps: 10, Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth2"}, {Device: "r2", EndPoint: "eth2"}}},
	}}
	sink := &recSink{}
	c, err := New(Options{Pool: pool, Network: net, SampleInterval: 100 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := c.devs["r1"], c.devs["r2"]
	t0 := time.Unix(1000, 0)
	up := map[string]*gpb.TypedValue{"oper-status": js(`"UP"`)}
	c.handle(r1, notif(t0, "eth1", up))                  // r1 reachable: l1 1, l2 1; then eth1: l1 2
	c.handle(r2, notif(t0, "eth1", up))                  // r2 reachable: l1 3, l2 2; then eth1: l1 4
	c.handle(r2, notif(t0.Add(time.Second), "eth2", up)) // l2 3
	c.setReachable(r1, false, nil)                       // l1 5, l2 4
	want := map[string][]uint64{"l1": {1, 2, 3, 4, 5}, "l2": {1, 2, 3, 4}}
	got := map[string][]uint64{}
	for _, l := range sink.links {
		got[l.Link] = append(got[l.Link], l.Version)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("link versions in emission order %v; want %v", got, want)
	}
}

// TestCoalescerVersions: a link sample older than one the Coalescer accepted is dropped,
// whether the newer one is still pending or was flushed already; unversioned samples
// are taken in arrival order.
func TestCoalescerVersions(t *testing.T) {
	var got []LinkSample
	flushes := 0
	c := NewCoalescer(SinkFunc(func(b *Batch) {
		flushes++
		got = append(got, b.Links...)
	}), time.Hour)
	down := LinkSample{Link: "l1", Version: 7, Status: network.StatusDisabled, HasRates: true, RateGbps: [2]float64{1, 2}}
	upOld := LinkSample{Link: "l1", Version: 6, Status: network.StatusEnabled, HasRates: true, RateGbps: [2]float64{3, 4}}
	c.Observe(&Batch{Links: []LinkSample{down, {Link: "l2", Version: 1, Status: network.StatusEnabled}}})
	c.Observe(&Batch{Links: []LinkSample{upOld}})
	c.Flush()
	if len(got) != 2 || got[0] != down || got[1].Link != "l2" {
		t.Fatalf("flushed %+v; want l1 version 7 (down) and l2", got)
	}
	if c.Stale() != 1 {
		t.Errorf("stale %d; want 1", c.Stale())
	}
	// After the flush: version 7 again and 6 are both stale, nothing is flushed.
	got = nil
	c.Observe(&Batch{Links: []LinkSample{upOld, down}})
	c.Flush()
	if flushes != 1 || len(got) != 0 || c.Stale() != 3 {
		t.Fatalf("flushes %d, flushed %+v, stale %d; want nothing new flushed and 3 stale", flushes, got, c.Stale())
	}
	// A newer version goes through (and keeps the rates of the pending sample it
	// replaces when it has none); an unversioned one is taken as it comes.
	c.Observe(&Batch{Links: []LinkSample{{Link: "l1", Version: 8, Status: network.StatusEnabled, HasRates: true, RateGbps: [2]float64{5, 6}}}})
	c.Observe(&Batch{Links: []LinkSample{{Link: "l1", Version: 9, Status: network.StatusDisabled}}})
	c.Observe(&Batch{Links: []LinkSample{{Link: "l2", Status: network.StatusDisabled}}})
	c.Flush()
	if len(got) != 2 || got[0].Version != 9 || got[0].Status != network.StatusDisabled || got[0].RateGbps != [2]float64{5, 6} ||
		got[1].Link != "l2" || got[1].Status != network.StatusDisabled {
		t.Fatalf("flushed %+v; want l1 version 9 disabled with rates [5 6], l2 disabled", got)
	}
}
