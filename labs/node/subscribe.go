package node

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

// Subscription limits.
const (
	maxSubscriptions  = 1000
	minSampleInterval = time.Millisecond
	defaultSample     = time.Second
)

// testHookRun, when set by a test, runs as each STREAM subscription's sender starts (to
// widen the window between the sync response and the sender's first wait).
var testHookRun func()

type session struct {
	s      *Server
	stream gpb.GNMI_SubscribeServer
	target string
	enc    gpb.Encoding

	sendMu sync.Mutex // serialises stream.Send
}

// pgroup is one notification's worth of leaves: those sharing a parent path. The
// notification and its updates are built once per layout and their values rewritten
// in place for every emission: grpc encodes a message inside SendMsg and this server
// installs no stats handler that could read it later, so reuse after Send is safe.
type pgroup struct {
	n       *gpb.Notification
	all     []*gpb.Update
	idx     []int          // entry index per update
	nodes   []*schema.Node // schema node per update
	scratch []*gpb.Update
}

type sub struct {
	q         ocpath.Path
	mode      gpb.SubscriptionMode
	interval  time.Duration
	suppress  bool
	heartbeat time.Duration

	layout *layout
	groups []*pgroup
	last   []schema.Value // aligned with the groups' updates in order
	keys   []string       // canonical keys, same alignment
	resp   gpb.SubscribeResponse
	wrap   gpb.SubscribeResponse_Update
}

// Subscribe implements gNMI: ONCE, POLL and STREAM (SAMPLE, ON_CHANGE, TARGET_DEFINED
// as SAMPLE) with updates_only, suppress_redundant, heartbeat_interval and sync_response.
func (s *Server) Subscribe(stream gpb.GNMI_SubscribeServer) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	sl := req.GetSubscribe()
	if sl == nil {
		return status.Error(codes.InvalidArgument, "node: the first SubscribeRequest must carry a SubscriptionList")
	}
	if !encodingOK(sl.Encoding) {
		return status.Errorf(codes.Unimplemented, "node: encoding %s is not supported (JSON_IETF, JSON, PROTO)", sl.Encoding)
	}
	if len(sl.UseModels) > 0 {
		return status.Error(codes.Unimplemented, "node: use_models is not supported")
	}
	if len(sl.Subscription) == 0 {
		return status.Error(codes.InvalidArgument, "node: SubscriptionList has no subscriptions")
	}
	if len(sl.Subscription) > maxSubscriptions {
		return status.Errorf(codes.ResourceExhausted, "node: %d subscriptions (limit %d)", len(sl.Subscription), maxSubscriptions)
	}
	sess := &session{s: s, stream: stream, enc: sl.Encoding}
	if sl.Prefix != nil {
		sess.target = sl.Prefix.Target
	}
	subs := make([]*sub, 0, len(sl.Subscription))
	for _, x := range sl.Subscription {
		q, err := toPath(sl.Prefix, x.Path)
		if err != nil {
			return err
		}
		if _, err := schema.Resolve(s.schema, q, true); err != nil {
			return statusOf(err)
		}
		su := &sub{q: q, mode: x.Mode, interval: time.Duration(x.SampleInterval), suppress: x.SuppressRedundant, heartbeat: time.Duration(x.HeartbeatInterval)}
		if su.mode == gpb.SubscriptionMode_TARGET_DEFINED {
			su.mode = gpb.SubscriptionMode_SAMPLE
		}
		if su.mode == gpb.SubscriptionMode_SAMPLE {
			if su.interval == 0 {
				su.interval = defaultSample
			}
			if su.interval < minSampleInterval {
				return status.Errorf(codes.InvalidArgument, "node: sample_interval %v below the minimum %v", su.interval, minSampleInterval)
			}
		}
		if su.heartbeat != 0 && su.heartbeat < 10*time.Millisecond {
			return status.Errorf(codes.InvalidArgument, "node: heartbeat_interval %v below the minimum 10ms", su.heartbeat)
		}
		subs = append(subs, su)
	}
	switch sl.Mode {
	case gpb.SubscriptionList_ONCE:
		if !sl.UpdatesOnly {
			if err := sess.sendAll(subs); err != nil {
				return err
			}
		}
		return sess.sendSync()
	case gpb.SubscriptionList_POLL:
		if !sl.UpdatesOnly {
			if err := sess.sendAll(subs); err != nil {
				return err
			}
		}
		if err := sess.sendSync(); err != nil {
			return err
		}
		for {
			r, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if r.GetPoll() == nil {
				return status.Error(codes.InvalidArgument, "node: only Poll messages may follow a POLL subscription")
			}
			if err := sess.sendAll(subs); err != nil {
				return err
			}
			if err := sess.sendSync(); err != nil {
				return err
			}
		}
	case gpb.SubscriptionList_STREAM:
		return sess.stream1(subs, sl.UpdatesOnly)
	}
	return status.Errorf(codes.InvalidArgument, "node: unknown subscription list mode %v", sl.Mode)
}

func (ss *session) sendSync() error {
	return ss.send(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_SyncResponse{SyncResponse: true}})
}

func (ss *session) send(r *gpb.SubscribeResponse) error {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	return ss.stream.Send(r)
}

// sendAll sends every value of every subscription (for ONCE, POLL and initial sync).
func (ss *session) sendAll(subs []*sub) error {
	snap, _ := ss.s.fresh(ss.stream.Context(), ss.s.opts.StateInterval)
	for _, su := range subs {
		if err := ss.emit(su, snap, false); err != nil {
			return err
		}
	}
	return nil
}

// prepare (re)computes a subscription's matched leaves for snap's layout, returning the
// canonical keys that disappeared since the previous layout.
func (ss *session) prepare(su *sub, snap *snapshot) []string {
	if su.layout == snap.layout {
		return nil
	}
	l := snap.layout
	prev := make(map[string]schema.Value, len(su.keys))
	for i, k := range su.keys {
		prev[k] = su.last[i]
	}
	su.layout = l
	su.groups = nil
	gidx := map[string]int{}
	for i := range l.entries {
		e := &l.entries[i]
		if !su.q.Matches(e.Path) {
			continue
		}
		cut := len(e.Path) - 1
		pk := ocpath.Path(e.Path[:cut]).String()
		g, ok := gidx[pk]
		if !ok {
			g = len(su.groups)
			gidx[pk] = g
			pp := ToProto(e.Path[:cut])
			pp.Target = ss.target
			su.groups = append(su.groups, &pgroup{n: &gpb.Notification{Prefix: pp}})
		}
		pg := su.groups[g]
		pg.all = append(pg.all, &gpb.Update{Path: ToProto(e.Path[cut:]), Val: &gpb.TypedValue{}})
		pg.idx = append(pg.idx, i)
		pg.nodes = append(pg.nodes, e.Node)
	}
	su.keys = su.keys[:0]
	su.last = su.last[:0]
	for _, g := range su.groups {
		for _, i := range g.idx {
			k := l.keys[i]
			su.keys = append(su.keys, k)
			su.last = append(su.last, prev[k])
			delete(prev, k)
		}
	}
	gone := make([]string, 0, len(prev))
	for k := range prev {
		gone = append(gone, k)
	}
	return gone
}

// emit sends the subscription's leaves from snap; with onlyChanged, only those whose
// value differs from what was last sent (and deletes for leaves that disappeared).
func (ss *session) emit(su *sub, snap *snapshot, onlyChanged bool) error {
	gone := ss.prepare(su, snap)
	ts := snap.at.UnixNano()
	if len(gone) > 0 && onlyChanged {
		n := &gpb.Notification{Timestamp: ts, Prefix: &gpb.Path{Target: ss.target}}
		for _, k := range gone {
			p, err := ocpath.Parse(k)
			if err != nil {
				continue
			}
			n.Delete = append(n.Delete, ToProto(p))
		}
		if err := ss.send(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}}); err != nil {
			return err
		}
	}
	k := 0
	for _, g := range su.groups {
		g.scratch = g.scratch[:0]
		for j, i := range g.idx {
			v := snap.value(i)
			if onlyChanged && su.last[k] == v {
				k++
				continue
			}
			su.last[k] = v
			k++
			u := g.all[j]
			ss.setValue(u.Val, g.nodes[j], v)
			g.scratch = append(g.scratch, u)
		}
		if len(g.scratch) == 0 {
			continue
		}
		g.n.Timestamp = ts
		g.n.Update = g.scratch
		su.wrap.Update = g.n
		su.resp.Response = &su.wrap
		if err := ss.send(&su.resp); err != nil {
			return err
		}
	}
	return nil
}

// setValue rewrites tv in place (no allocation once its buffers exist).
func (ss *session) setValue(tv *gpb.TypedValue, n *schema.Node, v schema.Value) {
	switch ss.enc {
	case gpb.Encoding_PROTO:
		switch v.Kind {
		case schema.VUint:
			if x, ok := tv.Value.(*gpb.TypedValue_UintVal); ok {
				x.UintVal = v.U
				return
			}
			tv.Value = &gpb.TypedValue_UintVal{UintVal: v.U}
		case schema.VBool:
			if x, ok := tv.Value.(*gpb.TypedValue_BoolVal); ok {
				x.BoolVal = v.B
				return
			}
			tv.Value = &gpb.TypedValue_BoolVal{BoolVal: v.B}
		default:
			if x, ok := tv.Value.(*gpb.TypedValue_StringVal); ok {
				x.StringVal = v.S
				return
			}
			tv.Value = &gpb.TypedValue_StringVal{StringVal: v.S}
		}
	case gpb.Encoding_JSON:
		x, ok := tv.Value.(*gpb.TypedValue_JsonVal)
		if !ok {
			x = &gpb.TypedValue_JsonVal{}
			tv.Value = x
		}
		x.JsonVal = schema.AppendJSON(x.JsonVal[:0], n, v, false)
	default:
		x, ok := tv.Value.(*gpb.TypedValue_JsonIetfVal)
		if !ok {
			x = &gpb.TypedValue_JsonIetfVal{}
			tv.Value = x
		}
		x.JsonIetfVal = schema.AppendJSON(x.JsonIetfVal[:0], n, v, true)
	}
}

// stream1 runs a STREAM subscription until the client goes away.
func (ss *session) stream1(subs []*sub, updatesOnly bool) error {
	ctx := ss.stream.Context()
	for _, su := range subs {
		if su.mode == gpb.SubscriptionMode_ON_CHANGE {
			// Keep the state poller running (registered before the first snapshot so
			// no change after it goes unnoticed).
			defer ss.s.watch()()
			break
		}
	}
	// changed pairs with snap: ON_CHANGE readers compare against snap, so they must wake
	// for every change published after it, even one made before they first wait (a
	// client may Set as soon as it sees the sync response).
	snap, changed := ss.s.fresh(ctx, ss.s.opts.StateInterval)
	for _, su := range subs {
		if updatesOnly {
			ss.prepare(su, snap)
			k := 0
			for _, g := range su.groups {
				for _, i := range g.idx {
					su.last[k] = snap.value(i)
					k++
				}
			}
			continue
		}
		if err := ss.emit(su, snap, false); err != nil {
			return err
		}
	}
	if err := ss.sendSync(); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Drain client messages; a Poll is not valid in STREAM mode.
		for {
			r, err := ss.stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					<-ctx.Done()
					return nil
				}
				return err
			}
			if r.GetPoll() != nil {
				return status.Error(codes.InvalidArgument, "node: Poll is not valid on a STREAM subscription")
			}
		}
	})
	for _, su := range subs {
		g.Go(func() error { return ss.run(ctx, su, changed) })
	}
	err := g.Wait()
	if ctx.Err() != nil && status.Code(err) != codes.InvalidArgument {
		return nil
	}
	return err
}

// run sends one subscription's updates; changed is the change channel paired with the
// snapshot the subscription's last values come from.
func (ss *session) run(ctx context.Context, su *sub, changed <-chan struct{}) error {
	if testHookRun != nil {
		testHookRun()
	}
	var hb <-chan time.Time
	if su.heartbeat > 0 {
		t := time.NewTicker(su.heartbeat)
		defer t.Stop()
		hb = t.C
	}
	if su.mode == gpb.SubscriptionMode_SAMPLE {
		t := time.NewTicker(su.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hb:
				snap, _ := ss.s.fresh(ctx, ss.s.opts.StateInterval)
				if err := ss.emit(su, snap, false); err != nil {
					return err
				}
			case <-t.C:
				snap, _ := ss.s.fresh(ctx, min(su.interval/4, ss.s.opts.StateInterval))
				if err := ss.emit(su, snap, su.suppress); err != nil {
					return err
				}
			}
		}
	}
	// ON_CHANGE
	ch := changed
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hb:
			snap, _ := ss.s.current()
			if err := ss.emit(su, snap, false); err != nil {
				return err
			}
		case <-ch:
			var snap *snapshot
			snap, ch = ss.s.current()
			if err := ss.emit(su, snap, true); err != nil {
				return err
			}
		}
	}
}
