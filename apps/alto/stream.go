package alto

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

// Incremental updates over Server-Sent Events (RFC 8895). A client POSTs an update
// stream request ({"add": {"<substream-id>": {"resource-id": "<id>"}}}) and gets a
// text/event-stream: first a control event with its control URI, then the full data of
// each substream, then an update of a substream whenever its content (its vtag)
// changes: a JSON merge patch (RFC 7396, application/merge-patch+json) from the data
// sent before, or a full replacement when the substream asked for
// "incremental-changes": false, when the documents are too large to diff in memory
// (maxPatchInput) or when no merge patch can express the change. The server follows the
// live twin's event hub, so an update follows an intended-state transaction without
// polling. The control URI takes further
// {"add": ...} and {"remove": [...]} requests (204); removing every substream ends the
// stream. Substreams are offered for the GET resources (the network map, the full cost
// maps, the property map and the bottleneck structure).

// streamHub keeps the open streams by ID for their control URIs.
type streamHub struct {
	s       *Server
	mu      sync.Mutex
	streams map[string]*stream
	done    chan struct{}
	once    sync.Once
	// debounce is how long a stream waits for more twin events before it recomputes.
	debounce time.Duration
	// heartbeat is the interval of keep-alive comments.
	heartbeat time.Duration
}

type stream struct {
	ctl chan streamReq
}

type streamReq struct {
	add    map[string]string // substream → resource
	full   map[string]bool   // substreams that asked for full replacements only
	remove []string
	reply  chan *Error
}

func newStreamHub(s *Server) *streamHub {
	return &streamHub{s: s, streams: map[string]*stream{}, done: make(chan struct{}),
		debounce: 50 * time.Millisecond, heartbeat: 15 * time.Second}
}

func (h *streamHub) close() { h.once.Do(func() { close(h.done) }) }

// streamable lists the resources a substream may follow, with their content hash key.
func (h *streamHub) streamable() map[string]string {
	m := map[string]string{idNetworkMap: hashNetmap, idPropMap: hashPropMap, idBSG: hashBSG, idInterdomain: hashInterdomain}
	for _, c := range costTypes {
		if c.Type.Mode != ModeArray {
			m["costmap-"+c.Name] = hashCost + c.Type.Metric
		}
	}
	return m
}

func (h *streamHub) resource() *resource {
	uses := make([]string, 0)
	for id := range h.streamable() {
		uses = append(uses, id)
	}
	sort.Strings(uses)
	return &resource{
		ID: idUpdates, Method: http.MethodPost, Path: "/updates", MediaType: MediaEventStream,
		Accepts: MediaUpdateStreamParam, Uses: uses,
		Capabilities: func() map[string]any {
			inc := map[string]string{}
			for _, id := range uses {
				inc[id] = MediaMergePatch
			}
			return map[string]any{"support-stream-control": true, "incremental-change-media-types": inc}
		},
		Handle: h.handleStream,
	}
}

// controlResource is the route of the control URIs (not listed in the IRD).
func (h *streamHub) controlResource() *resource {
	return &resource{
		ID: "update-stream-control", Method: http.MethodPost, Path: "/updates/control/{stream}", MediaType: MediaError,
		Accepts: MediaUpdateStreamParam, Hidden: true,
		Handle: h.handleControl,
	}
}

// parseStreamReq reads {"add": {...}, "remove": [...]}.
func (h *streamHub) parseStreamReq(body []byte, needAdd bool) (streamReq, *Error) {
	o, e := parseObject(body)
	if e != nil {
		return streamReq{}, e
	}
	req := streamReq{add: map[string]string{}, full: map[string]bool{}}
	add, hasAdd, e := o.obj("add", needAdd)
	if e != nil {
		return streamReq{}, e
	}
	ok := h.streamable()
	if hasAdd {
		ids := make([]string, 0, len(add.m))
		for id := range add.m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if !validName(id) {
				return streamReq{}, invalidValue(add.at(id), id)
			}
			sub, _, e := add.obj(id, true)
			if e != nil {
				return streamReq{}, e
			}
			rid, _, e := sub.str("resource-id", true)
			if e != nil {
				return streamReq{}, e
			}
			if _, known := ok[rid]; !known {
				return streamReq{}, invalidValue(sub.at("resource-id"), rid)
			}
			if sub.has("input") {
				return streamReq{}, invalidValue(sub.at("input"), "only GET resources can be followed")
			}
			inc, has, e := sub.boolean("incremental-changes")
			if e != nil {
				return streamReq{}, e
			}
			req.add[id] = rid
			req.full[id] = has && !inc
		}
		if needAdd && len(req.add) == 0 {
			return streamReq{}, invalidValue("add", "must add at least one substream")
		}
	}
	if req.remove, _, e = o.strList("remove", false); e != nil {
		return streamReq{}, e
	}
	return req, nil
}

// render runs a GET resource against a snapshot and returns its media type and body.
func (h *streamHub) render(rid string, sn *snapshot) (string, []byte, *Error) {
	res := h.s.byID[rid]
	rec := &bufferWriter{h: http.Header{}}
	if e := res.Handle(rec, nil, sn, nil); e != nil {
		return "", nil, e
	}
	return rec.h.Get("Content-Type"), bytes.TrimRight(rec.buf.Bytes(), "\n"), nil
}

type bufferWriter struct {
	h   http.Header
	buf bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(int)             {}

// writeEvent writes one SSE event (data split into lines).
func writeEvent(w http.ResponseWriter, event string, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: " + event + "\n")
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func controlEvent(w http.ResponseWriter, v any) error {
	b, _ := json.Marshal(v)
	return writeEvent(w, MediaUpdateStreamCtl, b)
}

func (h *streamHub) handleStream(w http.ResponseWriter, r *http.Request, sn *snapshot, body []byte) *Error {
	req, e := h.parseStreamReq(body, true)
	if e != nil {
		return e
	}
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	st := &stream{ctl: make(chan streamReq)}
	h.mu.Lock()
	h.streams[id] = st
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.streams, id)
		h.mu.Unlock()
	}()
	// subscribe before the first data so no change is missed
	sub := h.s.twins.Events().Subscribe(twin.LiveID, 0)
	defer sub.Close()

	w.Header().Set("Content-Type", MediaEventStream)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := controlEvent(w, map[string]string{"control-uri": h.s.uri(r, "/updates/control/"+id)}); err != nil {
		return nil
	}
	subs := map[string]string{}   // substream → resource
	sent := map[string]string{}   // substream → tag sent
	last := map[string][]byte{}   // substream → data sent (for merge patches)
	fullOnly := map[string]bool{} // substream → no merge patches
	keys := h.streamable()
	send := func(sid string, sn *snapshot) error {
		rid := subs[sid]
		tag := sn.tags[keys[rid]]
		if sent[sid] == tag {
			return nil
		}
		mt, data, e := h.render(rid, sn)
		if e != nil {
			return e
		}
		prev, had := last[sid]
		sent[sid], last[sid] = tag, data
		if had && !fullOnly[sid] && len(prev)+len(data) <= maxPatchInput {
			if patch, ok := mergePatch(prev, data); ok {
				return writeEvent(w, MediaMergePatch+","+sid, patch)
			}
		}
		return writeEvent(w, mt+","+sid, data)
	}
	start := func(c streamReq, sn *snapshot) error {
		ids := make([]string, 0, len(c.add))
		for sid, rid := range c.add {
			subs[sid] = rid
			fullOnly[sid] = c.full[sid]
			delete(sent, sid)
			delete(last, sid)
			ids = append(ids, sid)
		}
		sort.Strings(ids)
		if err := controlEvent(w, map[string]any{"started": ids}); err != nil {
			return err
		}
		for _, sid := range ids {
			if err := send(sid, sn); err != nil {
				return err
			}
		}
		return nil
	}
	if err := start(req, sn); err != nil {
		return nil
	}
	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	var debounce <-chan time.Time
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.done:
			return nil
		case <-tick.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		case ev, ok := <-sub.C:
			if !ok {
				return nil
			}
			if debounce == nil && (ev.Op == twin.OpLagged || !strings.HasPrefix(string(ev.Table), "observed") && !monitorTable(ev.Table)) {
				debounce = time.After(h.debounce)
			}
		case <-debounce:
			debounce = nil
			sn, err := h.s.snapshot()
			if err != nil {
				h.s.log.Error("alto: update stream: snapshot", "err", err)
				continue
			}
			ids := make([]string, 0, len(subs))
			for sid := range subs {
				ids = append(ids, sid)
			}
			sort.Strings(ids)
			for _, sid := range ids {
				if err := send(sid, sn); err != nil {
					return nil
				}
			}
		case c := <-st.ctl:
			// the offending substream ID is the error's value, its list the field
			var bad *Error
			for _, sid := range c.remove {
				if _, ok := subs[sid]; !ok && bad == nil {
					bad = invalidValue("remove", sid)
				}
			}
			added := make([]string, 0, len(c.add))
			for sid := range c.add {
				added = append(added, sid)
			}
			sort.Strings(added)
			for _, sid := range added {
				if _, dup := subs[sid]; dup && bad == nil && !slices.Contains(c.remove, sid) {
					bad = invalidValue("add", sid)
				}
			}
			if bad != nil {
				c.reply <- bad
				continue
			}
			c.reply <- nil
			if len(c.remove) > 0 {
				for _, sid := range c.remove {
					delete(subs, sid)
					delete(sent, sid)
					delete(last, sid)
				}
				if err := controlEvent(w, map[string]any{"stopped": c.remove}); err != nil {
					return nil
				}
				if len(subs) == 0 && len(c.add) == 0 {
					return nil // every substream removed: the stream ends (RFC 8895 §6.2)
				}
			}
			if len(c.add) > 0 {
				sn, err := h.s.snapshot()
				if err != nil {
					return nil
				}
				if err := start(c, sn); err != nil {
					return nil
				}
			}
		}
	}
}

func (h *streamHub) handleControl(w http.ResponseWriter, r *http.Request, _ *snapshot, body []byte) *Error {
	h.mu.Lock()
	st, ok := h.streams[r.PathValue("stream")]
	h.mu.Unlock()
	if !ok {
		return httpErr(http.StatusNotFound, "no such update stream")
	}
	req, e := h.parseStreamReq(body, false)
	if e != nil {
		return e
	}
	req.reply = make(chan *Error, 1)
	select {
	case st.ctl <- req:
	case <-r.Context().Done():
		return httpErr(http.StatusServiceUnavailable, "request cancelled")
	case <-time.After(5 * time.Second):
		return httpErr(http.StatusServiceUnavailable, "the stream did not answer")
	}
	if e := <-req.reply; e != nil {
		return e
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxPatchInput bounds the documents a merge patch is computed from (both decoded in
// memory); larger resources (full cost maps of many PIDs) are sent whole.
const maxPatchInput = 4 << 20

// mergePatch returns the JSON merge patch (RFC 7396) turning JSON object a into b;
// ok is false when no patch applies (not objects, or b holds a null a patch cannot
// express, or nothing changed).
func mergePatch(a, b []byte) ([]byte, bool) {
	var da, db map[string]any
	if json.Unmarshal(a, &da) != nil || json.Unmarshal(b, &db) != nil || da == nil || db == nil {
		return nil, false
	}
	p, ok := diffObjects(da, db)
	if !ok || len(p) == 0 {
		return nil, false
	}
	out, err := json.Marshal(p)
	return out, err == nil
}

func diffObjects(a, b map[string]any) (map[string]any, bool) {
	p := map[string]any{}
	for k := range a {
		if _, ok := b[k]; !ok {
			p[k] = nil
		}
	}
	for k, bv := range b {
		if bv == nil {
			return nil, false // a null member cannot be expressed in a merge patch
		}
		av, had := a[k]
		am, aObj := av.(map[string]any)
		bm, bObj := bv.(map[string]any)
		switch {
		case had && aObj && bObj:
			sub, ok := diffObjects(am, bm)
			if !ok {
				return nil, false
			}
			if len(sub) > 0 {
				p[k] = sub
			}
		case !had || !reflect.DeepEqual(av, bv):
			if hasNullMember(bv) {
				return nil, false
			}
			p[k] = bv
		}
	}
	return p, true
}

// hasNullMember reports whether an object (at any depth, outside arrays) has a null
// member, which a merge patch would read as a deletion.
func hasNullMember(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, x := range m {
		if x == nil || hasNullMember(x) {
			return true
		}
	}
	return false
}

// monitorTable reports whether t is one of the monitor's event tables (KPI values,
// alarms, predicted-vs-observed records, issue 17): they change no ALTO resource.
func monitorTable(t twin.Table) bool {
	return t == monitor.TableKPIs || t == monitor.TableAlarms || t == monitor.TableComparisons
}
