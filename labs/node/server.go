package node

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/labs/node/dataplane"
	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

// Errors of the node server.
var (
	// ErrConfig is wrapped by invalid Options.
	ErrConfig = errors.New("node: invalid options")
)

// DefaultVersion is the software version a node runs until a gNOI OS Activate
// changes it (Options.SoftwareVersion); it is reported at
// /system/state/software-version.
const DefaultVersion = "twinflow-node-0.1"

// Options configure a Server. Zero values mean the documented defaults.
type Options struct {
	// Name is the node's hostname (required).
	Name string
	// Dataplane programs and observes the forwarding plane (required).
	Dataplane dataplane.Dataplane
	// Username and Password, when both set, are required as per-RPC metadata.
	Username, Password string
	// StateInterval is how often operational state is refreshed (default 100ms).
	StateInterval time.Duration
	// MaxSetOps bounds the operations in one SetRequest (default 10000).
	MaxSetOps int
	// SoftwareVersion is the running version at start (default DefaultVersion);
	// SetSoftware changes it.
	SoftwareVersion string
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is a gNMI target over twinflow-node's OpenConfig subset.
type Server struct {
	gpb.UnimplementedGNMIServer

	opts   Options
	log    *slog.Logger
	schema *schema.Node
	boot   time.Time // guarded by setMu (read by staticItems)
	sw     string    // running software version, guarded like boot

	setMu  sync.Mutex // serialises Set (and guards ports and dpCfg)
	ports  []dataplane.Port
	dpCfg  dataplane.Config // the dataplane config derived from config (last applied)
	config *schema.Tree     // guarded by mu for reads; replaced under setMu+mu

	// static holds the layout items that depend only on the ports (built once).
	static []layoutItem
	// watchers counts ON_CHANGE subscriptions: only they need the periodic refresh
	// (every other reader asks fresh for a snapshot at most StateInterval old).
	watchers atomic.Int32
	wake     chan struct{} // nudges Run when the first watcher arrives

	mu       sync.Mutex // guards the following
	snap     *snapshot
	changed  chan struct{} // closed when snap changes
	cfgVer   uint64
	layoutID uint64
	portSt   map[string]dataplane.PortState
	mirror   map[*schema.Node]*schema.Node // config leaf -> its state mirror (nil: none)
}

// New builds a server: it reads the dataplane's ports, creates the initial config
// (hostname, each port enabled with its MTU, the DEFAULT network instance) and applies it.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Name == "" {
		return nil, fmt.Errorf("%w: name is required", ErrConfig)
	}
	if o.Dataplane == nil {
		return nil, fmt.Errorf("%w: dataplane is required", ErrConfig)
	}
	if (o.Username == "") != (o.Password == "") {
		return nil, fmt.Errorf("%w: username and password go together", ErrConfig)
	}
	if o.StateInterval <= 0 {
		o.StateInterval = 100 * time.Millisecond
	}
	if o.MaxSetOps <= 0 {
		o.MaxSetOps = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SoftwareVersion == "" {
		o.SoftwareVersion = DefaultVersion
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, log: log, schema: schema.Root(), boot: o.Now(), sw: o.SoftwareVersion, changed: make(chan struct{}), portSt: map[string]dataplane.PortState{},
		wake: make(chan struct{}, 1), mirror: map[*schema.Node]*schema.Node{}}
	ports, err := o.Dataplane.Ports(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: list ports: %w", err)
	}
	s.ports = ports
	t := schema.NewTree(s.schema)
	set := func(p string, v schema.Value) error { return t.SetLeaf(ocpath.MustParse(p), v) }
	if err := set("/system/config/hostname", schema.Str(o.Name)); err != nil {
		return nil, err
	}
	for _, p := range ports {
		base := (ocpath.Path{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": p.Name}}, {Name: "config"}}).String()
		if err := set(base+"/enabled", schema.BoolV(true)); err != nil {
			return nil, fmt.Errorf("node: port %q: %w", p.Name, err)
		}
		if p.MTU >= 68 {
			if err := set(base+"/mtu", schema.Uint(uint64(p.MTU))); err != nil {
				return nil, err
			}
		}
		for _, a := range p.Addresses {
			ap := ocpath.Path{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": p.Name}},
				{Name: "subinterfaces"}, {Name: "subinterface", Key: map[string]string{"index": "0"}},
				{Name: "ipv4"}, {Name: "addresses"}, {Name: "address", Key: map[string]string{"ip": a.Addr().String()}},
				{Name: "config"}, {Name: "prefix-length"}}
			if err := t.SetLeaf(ap, schema.Uint(uint64(a.Bits()))); err != nil {
				return nil, fmt.Errorf("node: port %q address %s: %w", p.Name, a, err)
			}
		}
	}
	if err := set("/network-instances/network-instance[name=DEFAULT]/config/type", schema.Str("DEFAULT_INSTANCE")); err != nil {
		return nil, err
	}
	cfg, err := dataplane.FromTree(t, ports)
	if err != nil {
		return nil, err
	}
	if err := o.Dataplane.Apply(ctx, cfg); err != nil {
		return nil, fmt.Errorf("node: initial apply: %w", err)
	}
	s.config = t
	s.dpCfg = cfg
	s.cfgVer = 1
	s.static = s.staticItems()
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Register registers the gNMI service on g.
func (s *Server) Register(g *grpc.Server) { gpb.RegisterGNMIServer(g, s) }

// SetSoftware records a new running software version and boot time (after a gNOI OS
// Activate): /system/state/software-version and boot-time report them from now on.
func (s *Server) SetSoftware(ctx context.Context, version string, boot time.Time) {
	s.setMu.Lock()
	s.mu.Lock()
	s.sw, s.boot = version, boot
	s.static = s.staticItems()
	s.cfgVer++ // the layout holds the static values: rebuild it
	s.mu.Unlock()
	s.setMu.Unlock()
	if err := s.refresh(ctx); err != nil {
		s.log.Warn("state refresh after activate failed", "err", err)
	}
}

// Run refreshes operational state every StateInterval until ctx is done, while some
// ON_CHANGE subscription needs changes detected; otherwise it sleeps (Get, ONCE, POLL,
// SAMPLE and heartbeats read state at most StateInterval old on demand).
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.StateInterval)
	defer t.Stop()
	for {
		if s.watchers.Load() == 0 {
			t.Stop()
			select {
			case <-ctx.Done():
				return nil
			case <-s.wake:
			}
			t.Reset(s.opts.StateInterval)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.refresh(ctx); err != nil {
				s.log.Warn("state refresh failed", "err", err)
			}
		}
	}
}

// watch registers an ON_CHANGE subscription until the returned func is called.
func (s *Server) watch() (unwatch func()) {
	if s.watchers.Add(1) == 1 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return func() { s.watchers.Add(-1) }
}

// Config returns the current config tree (do not modify it).
func (s *Server) Config() *schema.Tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config
}

// ---- authentication ----

func (s *Server) authorize(ctx context.Context) error {
	if s.opts.Username == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	u, p := first(md, "username"), first(md, "password")
	okU := subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) == 1
	okP := subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) == 1
	if !okU || !okP {
		return status.Error(codes.Unauthenticated, "node: missing or wrong username/password metadata")
	}
	return nil
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

// UnaryInterceptor and StreamInterceptor enforce credentials when configured.
func (s *Server) UnaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// StreamInterceptor enforces credentials on streams.
func (s *Server) StreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.authorize(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// ---- Capabilities ----

// Capabilities implements gNMI.
func (s *Server) Capabilities(context.Context, *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	return &gpb.CapabilityResponse{
		SupportedModels: []*gpb.ModelData{
			{Name: "openconfig-system", Organization: "OpenConfig working group", Version: "2.1.0"},
			{Name: "openconfig-interfaces", Organization: "OpenConfig working group", Version: "3.7.0"},
			{Name: "openconfig-if-ip", Organization: "OpenConfig working group", Version: "3.5.0"},
			{Name: "openconfig-network-instance", Organization: "OpenConfig working group", Version: "4.4.0"},
		},
		SupportedEncodings: []gpb.Encoding{gpb.Encoding_JSON_IETF, gpb.Encoding_JSON, gpb.Encoding_PROTO},
		GNMIVersion:        "0.10.0",
	}, nil
}

// ---- paths ----

// toPath converts prefix+path to an ocpath.Path, checking origin and syntax.
func toPath(prefix, p *gpb.Path) (ocpath.Path, error) {
	var out ocpath.Path
	for _, x := range []*gpb.Path{prefix, p} {
		if x == nil {
			continue
		}
		if x.Origin != "" && x.Origin != "openconfig" {
			return nil, status.Errorf(codes.InvalidArgument, "node: unsupported origin %q (want \"openconfig\" or none)", x.Origin)
		}
		if len(x.Element) > 0 && len(x.Elem) == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "node: deprecated path field element is not supported; use elem")
		}
		for _, e := range x.Elem {
			if e.Name == "" {
				return nil, status.Errorf(codes.InvalidArgument, "node: path %s has an empty element name", ocpath.Path(out))
			}
			el := ocpath.Elem{Name: e.Name}
			if len(e.Key) > 0 {
				el.Key = make(map[string]string, len(e.Key))
				for k, v := range e.Key {
					el.Key[k] = v
				}
			}
			out = append(out, el)
		}
	}
	if out == nil {
		out = ocpath.Path{}
	}
	return out, nil
}

// ToProto converts a path to a gNMI Path.
func ToProto(p ocpath.Path) *gpb.Path {
	out := &gpb.Path{Elem: make([]*gpb.PathElem, len(p))}
	for i, e := range p {
		out.Elem[i] = &gpb.PathElem{Name: e.Name, Key: e.Key}
	}
	return out
}

// statusOf maps schema and dataplane errors to gRPC status.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, schema.ErrUnknown):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, schema.ErrInvalid), errors.Is(err, schema.ErrReadOnly), errors.Is(err, dataplane.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, dataplane.ErrApply):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// ---- snapshots of config + state ----

// stateRef says where a state leaf's value comes from.
type stateRef struct {
	idx   int
	port  string
	field int // see portField
}

const (
	fAdmin = iota
	fOper
	fInOctets
	fOutOctets
	fInPkts
	fOutPkts
	fInErrors
	fOutErrors
	fInDiscards
	fOutDiscards
)

var counterLeaves = []struct {
	name  string
	field int
}{
	{"in-octets", fInOctets}, {"out-octets", fOutOctets}, {"in-pkts", fInPkts}, {"out-pkts", fOutPkts},
	{"in-errors", fInErrors}, {"out-errors", fOutErrors}, {"in-discards", fInDiscards}, {"out-discards", fOutDiscards},
}

// layout is the set of leaf paths of a snapshot; it changes only with config or ports.
type layout struct {
	id      uint64
	cfgVer  uint64
	entries []schema.Entry // template (state values filled per snapshot)
	keys    []string
	refs    []stateRef
	refOf   []int32 // per entry: index into refs (and snapshot vals), or -1
}

// snapshot is an immutable view of config and state leaves: the layout's entries with
// the values of its state refs replaced by vals.
type snapshot struct {
	layout *layout
	vals   []schema.Value
	at     time.Time
}

// value returns the value of entry i.
func (sn *snapshot) value(i int) schema.Value {
	if j := sn.layout.refOf[i]; j >= 0 {
		return sn.vals[j]
	}
	return sn.layout.entries[i].Value
}

// entry returns entry i with its current value.
func (sn *snapshot) entry(i int) schema.Entry {
	e := sn.layout.entries[i]
	e.Value = sn.value(i)
	return e
}

// layoutItem is one leaf of a layout under construction.
type layoutItem struct {
	key string
	e   schema.Entry
	ref *stateRef
}

// staticItems returns the leaves that depend only on the ports, not on config.
func (s *Server) staticItems() []layoutItem {
	var out []layoutItem
	add := func(p ocpath.Path, v schema.Value, ref *stateRef) {
		n, err := schema.Resolve(s.schema, p, false)
		if err != nil || n.Kind != schema.Leaf {
			return
		}
		out = append(out, layoutItem{key: p.String(), e: schema.Entry{Path: p, Node: n, Value: v}, ref: ref})
	}
	add(ocpath.MustParse("/system/state/software-version"), schema.Str(s.sw), nil)
	add(ocpath.MustParse("/system/state/boot-time"), schema.Uint(uint64(s.boot.UnixNano())), nil)
	for _, p := range s.ports {
		base := ocpath.Path{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": p.Name}}, {Name: "state"}}
		leafP := func(names ...string) ocpath.Path {
			out := base.Clone()
			for _, n := range names {
				out = append(out, ocpath.Elem{Name: n})
			}
			return out
		}
		add(leafP("name"), schema.Str(p.Name), nil)
		add(leafP("admin-status"), schema.Str("DOWN"), &stateRef{port: p.Name, field: fAdmin})
		add(leafP("oper-status"), schema.Str("DOWN"), &stateRef{port: p.Name, field: fOper})
		for _, c := range counterLeaves {
			add(leafP("counters", c.name), schema.Uint(0), &stateRef{port: p.Name, field: c.field})
		}
	}
	return out
}

// mirrorOf returns the state path (with the renamed element's index) and schema node mirroring config leaf e (config/x ->
// state/x), or ok false when the schema has none. The schema node depends only on e's
// schema node, so a successful resolution is remembered per node; the path shares e's key maps (paths of
// entries are never modified).
func (s *Server) mirrorOf(e schema.Entry) (ocpath.Path, int, *schema.Node, bool) {
	sp, i := mirrorPath(e.Path)
	if sp == nil {
		return nil, 0, nil, false
	}
	if n, ok := s.mirror[e.Node]; ok {
		return sp, i, n, n != nil
	}
	n, err := schema.Resolve(s.schema, sp, false)
	if err != nil {
		return nil, 0, nil, false // not cached: a failure may depend on this path's keys
	}
	if n.Kind != schema.Leaf {
		n = nil
	}
	s.mirror[e.Node] = n
	return sp, i, n, n != nil
}

// mirrorPath returns p with its last "config" element (not the leaf itself) renamed
// "state", and that element's index; nil when there is none.
func mirrorPath(p ocpath.Path) (ocpath.Path, int) {
	i := len(p) - 2
	for ; i >= 0 && p[i].Name != "config"; i-- {
	}
	if i < 0 {
		return nil, -1
	}
	sp := make(ocpath.Path, len(p))
	copy(sp, p)
	sp[i].Name = "state"
	return sp, i
}

// mirrorKey returns the canonical string of the mirror path of a config leaf whose
// canonical string is key: when the elements after the renamed one carry no keys, a
// suffix rewrite of key; otherwise sp formatted.
func mirrorKey(key string, sp ocpath.Path, i int) string {
	if len(sp[i].Key) > 0 {
		return sp.String()
	}
	n := len("/config")
	for _, e := range sp[i+1:] {
		if len(e.Key) > 0 {
			return sp.String()
		}
		n += 1 + len(e.Name)
	}
	if n > len(key) || key[len(key)-n:len(key)-n+len("/config")] != "/config" {
		return sp.String()
	}
	return key[:len(key)-n] + "/state" + key[len(key)-n+len("/config"):]
}

// buildLayout builds the layout of config cfg: its leaves, their state mirrors and the
// static state leaves, in canonical path order (a static leaf wins over a mirror of the
// same path).
func (s *Server) buildLayout(cfg *schema.Tree, cfgVer uint64) *layout {
	keys, leaves := cfg.KeyedLeaves()
	items := make([]layoutItem, 0, 2*len(leaves)+len(s.static))
	for j, e := range leaves {
		items = append(items, layoutItem{key: keys[j], e: e})
		if sp, i, n, ok := s.mirrorOf(e); ok {
			items = append(items, layoutItem{key: mirrorKey(keys[j], sp, i), e: schema.Entry{Path: sp, Node: n, Value: e.Value}})
		}
	}
	items = append(items, s.static...)
	// Sort indices (items are large); among equal keys the later item wins (a static
	// leaf over a mirror), so ties keep item order and the last of a run is kept.
	order := make([]int32, len(items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := strings.Compare(items[a].key, items[b].key); c != 0 {
			return c
		}
		return int(a) - int(b)
	})
	w := 0
	for _, i := range order {
		if w > 0 && items[order[w-1]].key == items[i].key {
			order[w-1] = i
			continue
		}
		order[w] = i
		w++
	}
	order = order[:w]
	l := &layout{cfgVer: cfgVer, keys: make([]string, len(order)), entries: make([]schema.Entry, len(order)), refOf: make([]int32, len(order))}
	for i, j := range order {
		it := &items[j]
		l.keys[i] = it.key
		l.entries[i] = it.e
		l.refOf[i] = -1
		if it.ref != nil {
			r := *it.ref
			r.idx = i
			l.refOf[i] = int32(len(l.refs))
			l.refs = append(l.refs, r)
		}
	}
	return l
}

// refresh reads dataplane state and publishes a new snapshot if anything changed.
func (s *Server) refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.opts.Dataplane.State(ctx, s.portSt); err != nil {
		return fmt.Errorf("node: read state: %w", err)
	}
	old := s.snap
	l := (*layout)(nil)
	if old != nil && old.layout.cfgVer == s.cfgVer {
		l = old.layout
	} else {
		s.layoutID++
		l = s.buildLayout(s.config, s.cfgVer)
		l.id = s.layoutID
	}
	vals := make([]schema.Value, len(l.refs))
	for j, r := range l.refs {
		ps := s.portSt[r.port]
		var v schema.Value
		switch r.field {
		case fAdmin:
			v = schema.Str(upDown(ps.AdminUp))
		case fOper:
			v = schema.Str(upDown(ps.OperUp))
		default:
			c := ps.Counters
			v = schema.Uint([...]uint64{c.InOctets, c.OutOctets, c.InPkts, c.OutPkts, c.InErrors, c.OutErrors, c.InDiscards, c.OutDiscards}[r.field-fInOctets])
		}
		vals[j] = v
	}
	now := s.opts.Now()
	if old != nil && old.layout == l && sameValues(old.vals, vals) {
		// Same values: keep the snapshot (no ON_CHANGE wake-up) but note the read time.
		s.snap = &snapshot{layout: l, vals: old.vals, at: now}
		return nil
	}
	s.snap = &snapshot{layout: l, vals: vals, at: now}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func sameValues(a, b []schema.Value) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func upDown(b bool) string {
	if b {
		return "UP"
	}
	return "DOWN"
}

// fresh returns a snapshot read at most maxAge ago, refreshing it if needed (SAMPLE
// subscriptions sample the dataplane at their own pace, not the poller's).
//
// The channel is the one current returns with that snapshot: it is closed at the first
// change published after it, so an ON_CHANGE reader that starts from this snapshot
// misses no change made after it was read, however late the reader first waits.
func (s *Server) fresh(ctx context.Context, maxAge time.Duration) (*snapshot, <-chan struct{}) {
	s.mu.Lock()
	old, ch := s.snap, s.changed
	s.mu.Unlock()
	if old != nil && s.opts.Now().Sub(old.at) <= maxAge {
		return old, ch
	}
	if err := s.refresh(ctx); err != nil {
		s.log.Warn("state refresh failed", "err", err)
	}
	return s.current()
}

func (s *Server) current() (*snapshot, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, s.changed
}

// ---- Get ----

func encodingOK(e gpb.Encoding) bool {
	return e == gpb.Encoding_JSON || e == gpb.Encoding_JSON_IETF || e == gpb.Encoding_PROTO
}

// matchFilter selects the leaves of a Get data type.
func matchFilter(t gpb.GetRequest_DataType, e *schema.Entry) bool {
	switch t {
	case gpb.GetRequest_CONFIG:
		return e.Node.Config
	case gpb.GetRequest_STATE, gpb.GetRequest_OPERATIONAL:
		return !e.Node.Config
	}
	return true
}

// Get implements gNMI.
func (s *Server) Get(ctx context.Context, req *gpb.GetRequest) (*gpb.GetResponse, error) {
	if !encodingOK(req.Encoding) {
		return nil, status.Errorf(codes.Unimplemented, "node: encoding %s is not supported (JSON_IETF, JSON, PROTO)", req.Encoding)
	}
	if len(req.UseModels) > 0 {
		return nil, status.Error(codes.Unimplemented, "node: use_models is not supported")
	}
	if len(req.Path) > 1000 {
		return nil, status.Errorf(codes.ResourceExhausted, "node: %d paths in one Get (limit 1000)", len(req.Path))
	}
	snap, _ := s.fresh(ctx, s.opts.StateInterval)
	resp := &gpb.GetResponse{}
	paths := req.Path
	if len(paths) == 0 {
		paths = []*gpb.Path{{}}
	}
	for _, gp := range paths {
		q, err := toPath(req.Prefix, gp)
		if err != nil {
			return nil, err
		}
		if _, err := schema.Resolve(s.schema, q, true); err != nil {
			return nil, statusOf(err)
		}
		var matched []schema.Entry
		for i := range snap.layout.entries {
			e := snap.entry(i)
			if q.Matches(e.Path) && matchFilter(req.Type, &e) {
				matched = append(matched, e)
			}
		}
		if len(matched) == 0 {
			return nil, status.Errorf(codes.NotFound, "node: no data at %s", q)
		}
		n := &gpb.Notification{Timestamp: snap.at.UnixNano()}
		if req.Encoding == gpb.Encoding_PROTO {
			for _, e := range matched {
				n.Update = append(n.Update, &gpb.Update{Path: ToProto(e.Path), Val: scalar(e)})
			}
		} else {
			ietf := req.Encoding == gpb.Encoding_JSON_IETF
			for _, g := range groupByPrefix(matched, len(q)) {
				b, err := schema.EncodeJSON(s.schema, g.prefix, g.entries, ietf)
				if err != nil {
					return nil, statusOf(err)
				}
				val := &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: b}}
				if !ietf {
					val = &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: b}}
				}
				n.Update = append(n.Update, &gpb.Update{Path: ToProto(g.prefix), Val: val})
			}
		}
		resp.Notification = append(resp.Notification, n)
	}
	return resp, nil
}

type group struct {
	prefix  ocpath.Path
	entries []schema.Entry
}

// groupByPrefix groups entries by their path truncated to n elements (which fills in
// the query's wildcards with concrete keys).
func groupByPrefix(es []schema.Entry, n int) []group {
	var out []group
	idx := map[string]int{}
	for _, e := range es {
		pre := e.Path[:n]
		k := pre.String()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, group{prefix: pre})
		}
		out[i].entries = append(out[i].entries, e)
	}
	return out
}

// scalar returns a leaf's value as a PROTO-encoded TypedValue.
func scalar(e schema.Entry) *gpb.TypedValue {
	switch e.Value.Kind {
	case schema.VBool:
		return &gpb.TypedValue{Value: &gpb.TypedValue_BoolVal{BoolVal: e.Value.B}}
	case schema.VUint:
		return &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: e.Value.U}}
	}
	return &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: e.Value.S}}
}

// ---- Set ----

// Set implements gNMI: all operations apply or none (deletes, then replaces, then
// updates, in request order); the dataplane is reprogrammed and restored on failure.
func (s *Server) Set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	nops := len(req.Delete) + len(req.Replace) + len(req.Update) + len(req.UnionReplace)
	if nops == 0 {
		return nil, status.Error(codes.InvalidArgument, "node: empty SetRequest")
	}
	if nops > s.opts.MaxSetOps {
		return nil, status.Errorf(codes.ResourceExhausted, "node: %d operations in one SetRequest (limit %d)", nops, s.opts.MaxSetOps)
	}
	if len(req.UnionReplace) > 0 {
		return nil, status.Error(codes.Unimplemented, "node: union_replace is not supported")
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.mu.Lock()
	oldTree := s.config
	s.mu.Unlock()
	t := oldTree.Clone()
	resp := &gpb.SetResponse{Prefix: req.Prefix}
	for _, d := range req.Delete {
		p, err := s.setPath(req.Prefix, d)
		if err != nil {
			return nil, err
		}
		if err := t.Delete(p); err != nil {
			return nil, statusOf(err)
		}
		resp.Response = append(resp.Response, &gpb.UpdateResult{Path: d, Op: gpb.UpdateResult_DELETE})
	}
	for _, op := range []struct {
		ups     []*gpb.Update
		replace bool
	}{{req.Replace, true}, {req.Update, false}} {
		for _, u := range op.ups {
			p, err := s.setPath(req.Prefix, u.Path)
			if err != nil {
				return nil, err
			}
			if err := applyUpdate(t, p, u.Val, op.replace); err != nil {
				return nil, statusOf(err)
			}
			kind := gpb.UpdateResult_UPDATE
			if op.replace {
				kind = gpb.UpdateResult_REPLACE
			}
			resp.Response = append(resp.Response, &gpb.UpdateResult{Path: u.Path, Op: kind})
		}
	}
	oldCfg := s.dpCfg
	cfg, err := dataplane.FromTree(t, s.ports)
	if err != nil {
		return nil, statusOf(err)
	}
	if err := s.opts.Dataplane.Apply(ctx, cfg); err != nil {
		// All or nothing: put the dataplane back to the previous config.
		if rerr := s.opts.Dataplane.Apply(context.WithoutCancel(ctx), oldCfg); rerr != nil {
			s.log.Error("dataplane restore failed", "err", rerr)
			return nil, status.Errorf(codes.Internal, "node: dataplane apply failed (%v) and restore failed (%v)", err, rerr)
		}
		if errors.Is(err, dataplane.ErrInvalid) {
			return nil, statusOf(err)
		}
		return nil, status.Errorf(codes.Aborted, "node: dataplane apply failed, configuration unchanged: %v", err)
	}
	s.dpCfg = cfg
	s.mu.Lock()
	s.config = t
	s.cfgVer++
	s.mu.Unlock()
	if err := s.refresh(ctx); err != nil {
		s.log.Warn("state refresh after set failed", "err", err)
	}
	resp.Timestamp = s.opts.Now().UnixNano()
	s.log.Info("set applied", "ops", nops)
	return resp, nil
}

func (s *Server) setPath(prefix, p *gpb.Path) (ocpath.Path, error) {
	q, err := toPath(prefix, p)
	if err != nil {
		return nil, err
	}
	if q.HasWildcard() {
		return nil, status.Errorf(codes.InvalidArgument, "node: %s: wildcards are not allowed in Set", q)
	}
	return q, nil
}

func applyUpdate(t *schema.Tree, p ocpath.Path, v *gpb.TypedValue, replace bool) error {
	if v == nil {
		return status.Errorf(codes.InvalidArgument, "node: %s: update without a value", p)
	}
	switch x := v.Value.(type) {
	case *gpb.TypedValue_JsonIetfVal:
		if replace {
			return t.Replace(p, x.JsonIetfVal)
		}
		return t.Update(p, x.JsonIetfVal)
	case *gpb.TypedValue_JsonVal:
		if replace {
			return t.Replace(p, x.JsonVal)
		}
		return t.Update(p, x.JsonVal)
	case *gpb.TypedValue_StringVal:
		return t.UpdateScalar(p, x.StringVal)
	case *gpb.TypedValue_UintVal:
		return t.UpdateScalar(p, x.UintVal)
	case *gpb.TypedValue_IntVal:
		return t.UpdateScalar(p, x.IntVal)
	case *gpb.TypedValue_BoolVal:
		return t.UpdateScalar(p, x.BoolVal)
	}
	return status.Errorf(codes.InvalidArgument, "node: %s: value type %T is not supported (use json_ietf_val or a scalar)", p, v.Value)
}
