package alto

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/twinflow/twinflow/twin"
)

// Options configures a Server. Only Twins is required.
type Options struct {
	// Twins owns the live twin the ALTO resources are computed from.
	Twins *twin.Manager
	// Logger receives request errors and snapshot problems (nil: discarded).
	Logger *slog.Logger
	// PIDBy groups devices into PIDs: "device" (default: one PID per device) or
	// "domain" (one PID per administrative domain). A device's "alto.pid" label wins.
	PIDBy string
	// Prefix is the path the resources are served under (default "/alto").
	Prefix string
	// BaseURL, if set, is the scheme and authority of the URIs in the Information
	// Resource Directory ("https://alto.example.net"); by default they are built from
	// each request's Host.
	BaseURL string
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Middleware, if set, wraps every ALTO handler (authentication of peers, say).
	Middleware func(http.Handler) http.Handler
}

// Server is the ALTO server over the live twin. Create it with New; serve Handler().
type Server struct {
	twins    *twin.Manager
	log      *slog.Logger
	byDomain bool
	prefix   string
	baseURL  string
	maxBody  int64

	resources []*resource
	byID      map[string]*resource
	handler   http.Handler

	mu    sync.Mutex // guards snap and tags
	build sync.Mutex // one snapshot build at a time
	snap  *snapshot
	tags  map[string]tagState

	streams *streamHub
}

type tagState struct {
	hash [32]byte
	tag  string
}

// New builds the server and its routes.
func New(o Options) (*Server, error) {
	if o.Twins == nil {
		return nil, errors.New("alto: Options.Twins is required")
	}
	s := &Server{twins: o.Twins, log: o.Logger, prefix: strings.TrimSuffix(o.Prefix, "/"), baseURL: strings.TrimSuffix(o.BaseURL, "/"),
		maxBody: o.MaxBodyBytes, tags: map[string]tagState{}}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch o.PIDBy {
	case "", "device":
	case "domain":
		s.byDomain = true
	default:
		return nil, fmt.Errorf("alto: PIDBy must be device or domain, got %q", o.PIDBy)
	}
	if o.Prefix == "" {
		s.prefix = "/alto"
	}
	if !strings.HasPrefix(s.prefix, "/") {
		return nil, fmt.Errorf("alto: Prefix must start with /, got %q", o.Prefix)
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	s.streams = newStreamHub(s)
	s.resources = s.registry()
	s.byID = map[string]*resource{}
	mux := http.NewServeMux()
	for _, r := range s.resources {
		if _, dup := s.byID[r.ID]; dup {
			return nil, fmt.Errorf("alto: duplicate resource %q", r.ID)
		}
		s.byID[r.ID] = r
		mux.Handle(r.Method+" "+s.prefix+r.Path, s.serve(r))
	}
	var h http.Handler = mux
	if o.Middleware != nil {
		h = o.Middleware(h)
	}
	s.handler = h
	return s, nil
}

// Handler returns the HTTP handler of every ALTO resource (paths under Prefix).
func (s *Server) Handler() http.Handler { return s.handler }

// Prefix returns the path the resources are served under.
func (s *Server) Prefix() string { return s.prefix }

// Close ends the update streams.
func (s *Server) Close() { s.streams.close() }

// resource is one entry of the registry: it makes both a route and (unless Hidden) an
// entry of the Information Resource Directory.
type resource struct {
	ID           string
	Method       string // GET or POST
	Path         string // below the prefix
	MediaType    string
	Accepts      string // POST body media type
	Capabilities func() map[string]any
	Uses         []string
	Hidden       bool // not listed in the IRD (the IRD itself)
	// Handle answers a request; body is the request body for POST (already checked
	// against Accepts and bounded).
	Handle func(w http.ResponseWriter, r *http.Request, sn *snapshot, body []byte) *Error
}

// serve wraps a resource's handler: Accept negotiation, body reading, the snapshot,
// and the ALTO error writer.
func (s *Server) serve(res *resource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptable(r.Header.Get("Accept"), res.MediaType) {
			writeError(w, httpErr(http.StatusNotAcceptable, "this resource answers %s (or %s)", res.MediaType, MediaError))
			return
		}
		var body []byte
		if res.Method == http.MethodPost {
			var e *Error
			if body, e = readBody(w, r, res.Accepts, s.maxBody); e != nil {
				writeError(w, e)
				return
			}
		}
		var sn *snapshot
		if res.ID != idDirectory {
			var err error
			if sn, err = s.snapshot(); err != nil {
				s.log.Error("alto: snapshot", "err", err)
				writeError(w, httpErr(http.StatusServiceUnavailable, "the twin cannot be read"))
				return
			}
		}
		if e := res.Handle(w, r, sn, body); e != nil {
			if e.Status >= 500 {
				s.log.Error("alto: request failed", "resource", res.ID, "err", e)
			}
			writeError(w, e)
		}
	})
}

// Acceptable reports whether an Accept header admits media type mt (or is absent).
func Acceptable(accept, mt string) bool { return acceptable(accept, mt) }

// acceptable reports whether an Accept header admits media type mt (or is absent).
func acceptable(accept, mt string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	want, _, _ := mime.ParseMediaType(mt) // multipart/related;type=a/b: the type comes back with ErrInvalidMediaParameter
	major, _, _ := strings.Cut(want, "/")
	for _, part := range strings.Split(accept, ",") {
		t, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
			continue
		}
		if params["q"] == "0" {
			continue
		}
		if t == "*/*" || t == major+"/*" || t == want {
			return true
		}
	}
	return false
}

// snapshot returns the snapshot of the live twin's current revision, building it
// when the revision moved on (one build at a time; readers of an older snapshot
// keep it).
func (s *Server) snapshot() (*snapshot, error) {
	live := s.twins.Live()
	rev := live.Revision()
	s.mu.Lock()
	sn := s.snap
	s.mu.Unlock()
	if sn != nil && sn.rev == rev {
		return sn, nil
	}
	s.build.Lock()
	defer s.build.Unlock()
	s.mu.Lock()
	sn = s.snap
	s.mu.Unlock()
	if sn != nil && sn.rev == live.Revision() {
		return sn, nil
	}
	sn, err := buildSnapshot(live, s.byDomain)
	if err != nil {
		return nil, err
	}
	for _, c := range sn.conflicts {
		s.log.Warn("alto: network map", "revision", sn.rev, "conflict", c)
	}
	for _, p := range sn.problems {
		s.log.Warn("alto: network map", "revision", sn.rev, "problem", p)
	}
	if sn.bsgErr != "" {
		s.log.Warn("alto: bottleneck structure unavailable", "revision", sn.rev, "err", sn.bsgErr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil && s.snap.rev > sn.rev {
		return s.snap, nil
	}
	// vtags: a resource keeps its tag while its content hash is unchanged
	sn.tags = make(map[string]string, len(sn.hash))
	for k, h := range sn.hash {
		st, ok := s.tags[k]
		if !ok || st.hash != h {
			st = tagState{hash: h, tag: fmt.Sprintf("r%d-%x", sn.rev, h[:8])}
			s.tags[k] = st
		}
		sn.tags[k] = st.tag
	}
	s.snap = sn
	return sn, nil
}

// uri is the absolute URI of a resource path for the IRD.
func (s *Server) uri(r *http.Request, path string) string {
	base := s.baseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + s.prefix + path
}

// writeJSON writes v with media type mt.
func writeJSON(w http.ResponseWriter, mt string, v any) *Error {
	b, err := json.Marshal(v)
	if err != nil {
		return httpErr(http.StatusInternalServerError, "encoding the response: %v", err)
	}
	w.Header().Set("Content-Type", mt)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// VersionTag is an ALTO version tag (RFC 7285 §10.3).
type VersionTag struct {
	ResourceID string `json:"resource-id"`
	Tag        string `json:"tag"`
}

func (sn *snapshot) vtag(resourceID, hashKey string) VersionTag {
	return VersionTag{ResourceID: resourceID, Tag: sn.tags[hashKey]}
}
