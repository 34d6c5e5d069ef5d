// Package broker is TwinFlow's multi-domain ALTO broker (seeds 002/003,
// draft-lachosrothenberg-alto-brokermdo): it reads the inter-domain abstraction of
// several TwinFlow domains (each a `twinflow serve`, GET /alto/interdomain, over HTTPS
// with a viewer's bearer token and the controller's certificate pinned), builds the
// Inter-domain Resource database (pooled CPU, memory, storage, NFs and SAPs per
// domain, with its entry point) and the Inter-domain Topology (the domain graph with
// link throughput and latency), and answers over ALTO: the property map by domain PID
// with JSON-array values (§5.4.1), and the filtered cost map extended with a service
// graph answering AS path vectors per SG link (§5.4.2), as multipart/related with the
// entry points of the domains on the paths. See docs/alto.md ("Broker").
package broker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twinflow/twinflow/apps/alto"
)

// Options configures a Broker.
type Options struct {
	Domains []Domain
	// Refresh is the interval between reads of the domains (default 10s).
	Refresh time.Duration
	Logger  *slog.Logger
	// Prefix is the path of the broker's ALTO resources (default "/alto").
	Prefix string
	// BaseURL, if set, is the scheme and authority of IRD URIs.
	BaseURL string
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Middleware, if set, wraps every handler (client authentication).
	Middleware func(http.Handler) http.Handler
}

// Broker is the multi-domain ALTO broker. Create it with New, call Run (or Refresh),
// serve Handler().
type Broker struct {
	col     *collector
	refresh time.Duration
	log     *slog.Logger
	prefix  string
	baseURL string
	maxBody int64
	handler http.Handler
}

// Resource IDs and media types of the broker.
const (
	idDirectory = "directory"
	idPropMap   = "propmap"
	idPV        = "costmap-pv"
	idTopology  = "interdomain-topology"
	// MediaTopology is TwinFlow's media type of the Inter-domain Topology resource.
	MediaTopology = "application/alto-interdomaintopology+json"
	mediaPV       = "multipart/related;type=" + alto.MediaCostMap
)

// entity property names of the broker's property map (seed 003 §5.5.1)
var propNames = []string{"entry-point", "cpu", "mem", "storage", "port", "nf"}

// New checks the options and builds the broker.
func New(o Options) (*Broker, error) {
	if len(o.Domains) == 0 || len(o.Domains) > MaxDomains {
		return nil, errors.New("broker: between 1 and 64 domains are required")
	}
	b := &Broker{col: newCollector(o.Domains), refresh: o.Refresh, log: o.Logger, prefix: strings.TrimSuffix(o.Prefix, "/"),
		baseURL: strings.TrimSuffix(o.BaseURL, "/"), maxBody: o.MaxBodyBytes}
	if b.refresh <= 0 {
		b.refresh = 10 * time.Second
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b.prefix == "" {
		b.prefix = "/alto"
	}
	if b.maxBody <= 0 {
		b.maxBody = 1 << 20
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+b.prefix+"/directory", b.serve(alto.MediaDirectory, "", b.handleDirectory))
	mux.Handle("GET "+b.prefix+"/propmap", b.serve(alto.MediaPropMap, "", b.handlePropMap))
	mux.Handle("POST "+b.prefix+"/costmap/pv", b.serve(mediaPV, alto.MediaCostMapFilter, b.handlePV))
	mux.Handle("GET "+b.prefix+"/interdomain-topology", b.serve(MediaTopology, "", b.handleTopology))
	var h http.Handler = mux
	if o.Middleware != nil {
		h = o.Middleware(h)
	}
	b.handler = h
	return b, nil
}

// Handler serves the broker's ALTO resources.
func (b *Broker) Handler() http.Handler { return b.handler }

// Prefix is the path the resources are served under.
func (b *Broker) Prefix() string { return b.prefix }

// Refresh reads every domain once.
func (b *Broker) Refresh(ctx context.Context) {
	b.col.refresh(ctx)
	for _, st := range b.col.snapshot() {
		if st.Err != "" {
			b.log.Warn("broker: domain unavailable", "domain", st.Name, "url", st.URL, "err", st.Err)
		}
	}
}

// Run reads the domains every Refresh interval until ctx ends.
func (b *Broker) Run(ctx context.Context) {
	t := time.NewTicker(b.refresh)
	defer t.Stop()
	for {
		b.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type handle func(w http.ResponseWriter, r *http.Request, v *view, body []byte) *alto.Error

func (b *Broker) serve(mt, accepts string, h handle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !alto.Acceptable(r.Header.Get("Accept"), mt) {
			alto.WriteError(w, &alto.Error{Status: http.StatusNotAcceptable, Reason: "this resource answers " + mt + " (or " + alto.MediaError + ")"})
			return
		}
		var body []byte
		if accepts != "" {
			ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || ct != accepts {
				alto.WriteError(w, &alto.Error{Status: http.StatusUnsupportedMediaType, Reason: "the request body must be " + accepts})
				return
			}
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, b.maxBody))
			if err != nil {
				alto.WriteError(w, &alto.Error{Status: http.StatusRequestEntityTooLarge, Reason: "the request body is larger than " + strconv.FormatInt(b.maxBody, 10) + " bytes"})
				return
			}
		}
		if e := h(w, r, buildView(b.col.snapshot()), body); e != nil {
			alto.WriteError(w, e)
		}
	})
}

func (b *Broker) uri(r *http.Request, path string) string {
	base := b.baseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + b.prefix + path
}

func writeJSON(w http.ResponseWriter, mt string, v any) *alto.Error {
	out, err := json.Marshal(v)
	if err != nil {
		return &alto.Error{Status: http.StatusInternalServerError, Reason: "encoding the response: " + err.Error()}
	}
	w.Header().Set("Content-Type", mt)
	_, _ = w.Write(append(out, '\n'))
	return nil
}

func (b *Broker) handleDirectory(w http.ResponseWriter, r *http.Request, _ *view, _ []byte) *alto.Error {
	return writeJSON(w, alto.MediaDirectory, map[string]any{
		"meta": map[string]any{"cost-types": map[string]any{
			"path-vector": map[string]string{"cost-mode": "array", "cost-metric": "ane-path"}}},
		"resources": map[string]any{
			idPropMap: map[string]any{"uri": b.uri(r, "/propmap"), "media-type": alto.MediaPropMap,
				"capabilities": map[string]any{"mappings": map[string][]string{"pid": propNames}}},
			idPV: map[string]any{"uri": b.uri(r, "/costmap/pv"), "media-type": mediaPV, "accepts": alto.MediaCostMapFilter,
				"capabilities": map[string]any{"cost-type-names": []string{"path-vector"}, "priv:tf-service-graph": true}},
			idTopology: map[string]any{"uri": b.uri(r, "/interdomain-topology"), "media-type": MediaTopology},
		},
	})
}

// decimal writes a resource amount as the draft does ("50.0").
func decimal(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func (v *view) meta(resourceID string) map[string]any {
	m := map[string]any{"vtag": alto.VersionTag{ResourceID: resourceID, Tag: v.tag}}
	if len(v.unavailable) > 0 {
		m["priv:tf-unavailable-domains"] = v.unavailable
	}
	return m
}

// handlePropMap: the property map by domain PID, each value a JSON array (§5.4.1).
func (b *Broker) handlePropMap(w http.ResponseWriter, _ *http.Request, v *view, _ []byte) *alto.Error {
	pm := map[string]map[string][]string{}
	for _, st := range v.states {
		p := map[string][]string{
			"entry-point": {st.URL},
			"cpu":         {decimal(st.Resources.CPU)},
			"mem":         {decimal(st.Resources.Mem)},
			"storage":     {decimal(st.Resources.Storage)},
		}
		if len(st.Resources.SAPs) > 0 {
			p["port"] = st.Resources.SAPs
		}
		if len(st.Resources.NFs) > 0 {
			p["nf"] = st.Resources.NFs
		}
		pm["pid:"+st.Name] = p
	}
	return writeJSON(w, alto.MediaPropMap, map[string]any{"meta": v.meta(idPropMap), "property-map": pm})
}

// handlePV: the filtered cost map with a service graph, answered as multipart/related
// (RFC 9275 framing): the cost map part, then the property map part with the entry
// point of every domain on a candidate path.
func (b *Broker) handlePV(w http.ResponseWriter, r *http.Request, v *view, body []byte) *alto.Error {
	q, e := parseRequest(body)
	if e != nil {
		return e
	}
	ans, e := v.answer(q)
	if e != nil {
		return e
	}
	vt := alto.VersionTag{ResourceID: idPV + ".costmap", Tag: v.tag}
	meta := v.meta(idPV + ".costmap")
	meta["cost-type"] = map[string]string{"cost-mode": "array", "cost-metric": "ane-path"}
	first := map[string]any{"meta": meta, "cost-map": ans.costMap, "priv:tf-placements": ans.placements}
	if len(ans.rejected) > 0 {
		first["priv:tf-placements-over-capacity"] = ans.rejected
	}
	if len(ans.truncated) > 0 {
		first["priv:tf-placements-truncated"] = ans.truncated
	}
	used := make([]int, 0, len(ans.used))
	for d := range ans.used {
		used = append(used, d)
	}
	sort.Ints(used)
	pm := map[string]map[string][]string{}
	for _, d := range used {
		pm["pid:"+v.names[d]] = map[string][]string{"entry-point": {v.states[d].URL}}
	}
	second := map[string]any{"meta": map[string]any{"vtag": alto.VersionTag{ResourceID: idPV + ".propmap", Tag: v.tag},
		"dependent-vtags": []alto.VersionTag{vt}}, "property-map": pm}
	p1, err := json.Marshal(first)
	if err != nil {
		return &alto.Error{Status: http.StatusInternalServerError, Reason: err.Error()}
	}
	p2, _ := json.Marshal(second)
	domain := b.contentIDDomain(r)
	cid := func(part string) string { return "<" + part + "@" + domain + ">" }
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", mime.FormatMediaType("multipart/related", map[string]string{
		"boundary": mw.Boundary(), "type": alto.MediaCostMap, "start": cid("costmap")}))
	for _, part := range []struct {
		id, mt string
		body   []byte
	}{{"costmap", alto.MediaCostMap, p1}, {"propmap", alto.MediaPropMap, p2}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.mt}, "Content-Id": {cid(part.id)}})
		if err != nil {
			return nil
		}
		_, _ = pw.Write(part.body)
	}
	_ = mw.Close()
	return nil
}

// contentIDDomain is the host of the broker (BaseURL's or the request's), or
// "localhost" when it is not a dot-atom-text (RFC 9275 §6.6).
func (b *Broker) contentIDDomain(r *http.Request) string {
	host := r.Host
	if b.baseURL != "" {
		if u, err := url.Parse(b.baseURL); err == nil {
			host = u.Host
		}
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, run := range strings.Split(host, ".") {
		if run == "" || strings.ContainsAny(run, "[]:@ ()<>,;\\\"") {
			return "localhost"
		}
	}
	return host
}

// handleTopology: the Inter-domain Topology (the domain graph with throughput and
// latency) and the Inter-domain Resource database, with each domain's status.
func (b *Broker) handleTopology(w http.ResponseWriter, _ *http.Request, v *view, _ []byte) *alto.Error {
	type domainOut struct {
		EntryPoint string                `json:"entry-point"`
		Available  bool                  `json:"available"`
		Error      string                `json:"error,omitempty"`
		Resources  *alto.DomainResources `json:"resources,omitempty"`
		VTag       *alto.VersionTag      `json:"vtag,omitempty"`
		Fetched    string                `json:"fetched,omitempty"`
	}
	doms := map[string]domainOut{}
	for _, st := range b.col.snapshot() {
		d := domainOut{EntryPoint: st.URL, Available: st.ok(), Error: st.Err}
		if st.ok() {
			res, vt := st.Resources, st.VTag
			d.Resources, d.VTag, d.Fetched = &res, &vt, st.Fetched.UTC().Format(time.RFC3339)
		}
		doms[st.Name] = d
	}
	links := []map[string]any{}
	for _, e := range v.edges {
		anes := make([]string, len(e.Links))
		for i, l := range e.Links {
			anes[i] = l.ANE
		}
		links = append(links, map[string]any{"from": v.names[e.From], "to": v.names[e.To], "links": e.EnabledLinks,
			"latency-ms": e.LatencyMs, "throughput-bps": e.CapacityBps, "max-reservable-bandwidth": e.ReservBps, "anes": anes})
	}
	return writeJSON(w, MediaTopology, map[string]any{"meta": v.meta(idTopology), "domains": doms, "links": links})
}
