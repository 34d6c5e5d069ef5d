package nbi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

// Access is a route's permission decision (REQ-SEC-02/03) and its abuse limits. Every
// route has one, either in Route.Access or in the table below (accessTable); New
// refuses to build a server with a route that has neither.
type Access struct {
	// Perm is the permission required (auth.Public: no credentials).
	Perm auth.Permission
	// LivePerm, when set, is required instead of Perm when the route's {twin} is the
	// live twin: the live twin's intended state changes through the change pipeline,
	// or directly by an admin (and the audit ledger records it).
	LivePerm auth.Permission
	// LoopbackOnly: a public route served only to loopback clients unless
	// Options.MetricsPublic (/metrics).
	LoopbackOnly bool
	// MaxBody caps the request body (0: DefaultMaxBody). Options.MaxBodyBytes, when
	// smaller, wins.
	MaxBody int64
	// Expensive routes (analysis, validation) share a bounded number of slots
	// (Options.ExpensiveConcurrency); a request that finds none free within a second
	// gets 503 with Retry-After.
	Expensive bool
}

// Per-request deadlines (event streams excepted): reading the body, and writing the
// response (which includes the handler's work).
const (
	RequestReadTimeout  = 60 * time.Second
	RequestWriteTimeout = 5 * time.Minute
)

// DefaultMaxBody is the body limit of routes that do not set one.
const DefaultMaxBody = 1 << 20

// AuditKind is the ledger kind of audit records.
const AuditKind = "audit"

// accessTable holds the decisions of the routes this package serves, by
// "METHOD pattern". A route missing here (and without Route.Access) stops New.
var accessTable = func() map[string]Access {
	read := Access{Perm: auth.Read}
	m := map[string]Access{
		"GET /healthz":                 {Perm: auth.Public},
		"GET /readyz":                  {Perm: auth.Public},
		"GET /metrics":                 {Perm: auth.Public, LoopbackOnly: true},
		"GET /api/v1/openapi.json":     read,
		"GET /api/v1/events":           read,
		"GET /api/v1/telemetry/series": read,
		"GET /api/v1/telemetry/range":  read,
		"GET /api/v1/audit":            {Perm: auth.Administer},

		"GET /api/v1/twins":                             read,
		"GET /api/v1/twins/{twin}":                      read,
		"GET /api/v1/twins/{twin}/network":              read,
		"DELETE /api/v1/twins/{twin}":                   {Perm: auth.Design, LivePerm: auth.Administer},
		"POST /api/v1/twins/{twin}/forks":               {Perm: auth.Design},
		"POST /api/v1/twins/{twin}/apply":               {Perm: auth.Design, LivePerm: auth.Administer, MaxBody: 64 << 20},
		"POST /api/v1/twins/{twin}/analysis/bottleneck": {Perm: auth.Design, MaxBody: 16 << 20, Expensive: true},
		"POST /api/v1/twins/{twin}/analysis/gradient":   {Perm: auth.Design, MaxBody: 16 << 20, Expensive: true},
		"POST /api/v1/twins/{twin}/analysis/queue":      {Perm: auth.Design, MaxBody: 16 << 20, Expensive: true},

		"GET /api/v1/twins/{twin}/observed/devices":      read,
		"GET /api/v1/twins/{twin}/observed/devices/{id}": read,
		"GET /api/v1/twins/{twin}/observed/links":        read,
		"GET /api/v1/twins/{twin}/observed/links/{id}":   read,
		"GET /api/v1/twins/{twin}/observed/interfaces":   read,

		"POST /api/v1/changes":                  {Perm: auth.Design, MaxBody: 8 << 20, Expensive: true},
		"GET /api/v1/changes":                   read,
		"GET /api/v1/changes/{id}":              read,
		"GET /api/v1/changes/{id}/diff":         read,
		"POST /api/v1/changes/{id}/validate":    {Perm: auth.Design, MaxBody: 64 << 10, Expensive: true},
		"POST /api/v1/changes/{id}/approve":     {Perm: auth.Approve, MaxBody: 64 << 10},
		"POST /api/v1/changes/{id}/commit":      {Perm: auth.Operate, MaxBody: 64 << 10},
		"POST /api/v1/changes/{id}/confirm":     {Perm: auth.Operate, MaxBody: 64 << 10},
		"POST /api/v1/changes/{id}/rollback":    {Perm: auth.Operate, MaxBody: 64 << 10},
		"POST /api/v1/changes/{id}/resolve":     {Perm: auth.Operate, MaxBody: 64 << 10},
		"GET /api/v1/drift":                     read,
		"POST /api/v1/drift/{device}/reconcile": {Perm: auth.Operate, MaxBody: 64 << 10},
		"POST /api/v1/drift/{device}/adopt":     {Perm: auth.Operate, MaxBody: 64 << 10},

		// Monitoring (docs/monitoring.md): reads for every role; engineers design KPIs,
		// operators acknowledge alarms.
		"GET /api/v1/kpis":             read,
		"POST /api/v1/kpis":            {Perm: auth.Design, MaxBody: 16 << 10},
		"GET /api/v1/kpis/{id}":        read,
		"DELETE /api/v1/kpis/{id}":     {Perm: auth.Design},
		"GET /api/v1/kpis/{id}/latest": read,
		"GET /api/v1/kpis/{id}/range":  read,
		"GET /api/v1/alarms":           read,
		"GET /api/v1/alarms/{id}":      read,
		"POST /api/v1/alarms/{id}/ack": {Perm: auth.Operate, MaxBody: 64 << 10},
		// policies and restoration (policies.go): engineers write rules, operators
		// activate or withdraw them and restore or re-optimise on demand
		"GET /api/v1/policies":              {Perm: auth.Read},
		"POST /api/v1/policies":             {Perm: auth.Design, MaxBody: 64 << 10},
		"GET /api/v1/policies/{id}":         {Perm: auth.Read},
		"PUT /api/v1/policies/{id}":         {Perm: auth.Design, MaxBody: 64 << 10},
		"DELETE /api/v1/policies/{id}":      {Perm: auth.Design},
		"POST /api/v1/policies/{id}/state":  {Perm: auth.Operate, MaxBody: 64 << 10},
		"GET /api/v1/policies/{id}/actions": {Perm: auth.Read},
		"GET /api/v1/restorations":          {Perm: auth.Read},
		"POST /api/v1/restorations":         {Perm: auth.Operate, MaxBody: 64 << 10, Expensive: true},
		"POST /api/v1/optimize":             {Perm: auth.Operate, MaxBody: 64 << 10, Expensive: true},

		// the gated push (issue #18, docs/push.md): admins set the policy; engineers
		// (who propose changes) record certifications of the server's own validation
		"GET /api/v1/push-policy":                 read,
		"PUT /api/v1/push-policy":                 {Perm: auth.Administer, MaxBody: 1 << 20},
		"GET /api/v1/changes/{id}/push-plan":      read,
		"POST /api/v1/changes/{id}/certification": {Perm: auth.Design, MaxBody: 64 << 10},

		// background jobs (issue #18, jobs.go): engineers run what-ifs and generate
		// datasets (ML engineers get the engineer role); everyone reads them
		"POST /api/v1/whatif":               {Perm: auth.Design, MaxBody: 8 << 20, Expensive: true},
		"GET /api/v1/whatif":                read,
		"GET /api/v1/whatif/{id}":           read,
		"GET /api/v1/whatif/{id}/result":    read,
		"DELETE /api/v1/whatif/{id}":        {Perm: auth.Design},
		"POST /api/v1/datasets":             {Perm: auth.Design, MaxBody: 2 << 20},
		"GET /api/v1/datasets":              read,
		"GET /api/v1/datasets/{id}":         read,
		"GET /api/v1/datasets/{id}/archive": read,
		"POST /api/v1/datasets/{id}/resume": {Perm: auth.Design, MaxBody: 64 << 10},
		"DELETE /api/v1/datasets/{id}":      {Perm: auth.Design},
	}
	// The entity collections: reads for everyone; writes free in forks for engineers,
	// admin-only on the live twin (devices' management addresses and drivers included).
	for _, t := range []twin.Table{twin.TableContexts, twin.TableTopologies, twin.TableDevices, twin.TableLinks, twin.TableFlows} {
		base := "/api/v1/twins/{twin}/" + string(t)
		write := Access{Perm: auth.Design, LivePerm: auth.Administer}
		m["GET "+base] = read
		m["GET "+base+"/{id}"] = read
		m["POST "+base] = write
		m["PUT "+base+"/{id}"] = write
		m["DELETE "+base+"/{id}"] = write
	}
	return m
}()

// accessOf returns rt's decision.
func accessOf(rt Route) (Access, bool) {
	if rt.Access != nil {
		return *rt.Access, rt.Access.Perm != 0
	}
	a, ok := accessTable[rt.Method+" "+rt.Pattern]
	return a, ok
}

// AccessOf returns the permission decision of a served route (for documentation and
// tests).
func (s *Server) AccessOf(rt Route) Access {
	a, _ := accessOf(rt)
	return a
}

// guardState is the server's authentication, rate-limit and audit machinery.
type guardState struct {
	auth          *auth.Authenticator
	audit         repository.Ledger
	limit         *auth.Limiter // per token (or user)
	failLimit     *auth.Limiter // failed authentications per remote address
	denyAudit     *auth.Limiter // audit records of anonymous denials per remote address
	expensive     chan struct{}
	metricsPublic bool

	denied     *prometheus.CounterVec
	auditFails prometheus.Counter
	suppressed prometheus.Counter
}

func (s *Server) initGuard(o Options) error {
	if o.Auth == nil {
		return errors.New("nbi: Options.Auth is required (every route but /healthz, /readyz and /metrics authenticates)")
	}
	n := o.ExpensiveConcurrency
	if n <= 0 {
		n = 4
	}
	rl := o.RateLimit
	if rl == 0 {
		rl = 500
	}
	burst := o.RateBurst
	if burst <= 0 {
		burst = int(math.Max(1, 2*rl))
	}
	g := &guardState{auth: o.Auth, audit: o.Audit, limit: auth.NewLimiter(rl, burst),
		failLimit: auth.NewLimiter(5, 20), denyAudit: auth.NewLimiter(1, 10),
		expensive: make(chan struct{}, n), metricsPublic: o.MetricsPublic}
	g.denied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "twinflow_http_denied_total",
		Help: "Requests refused before their handler, by reason (unauthenticated, forbidden, rate-limited, busy, too-large)."}, []string{"reason"})
	g.auditFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "twinflow_audit_write_failures_total",
		Help: "Audit records that could not be written to the ledger."})
	g.suppressed = prometheus.NewCounter(prometheus.CounterOpts{Name: "twinflow_audit_suppressed_total",
		Help: "Audit records of anonymous denials not written because their source exceeded 1/s (counted only)."})
	for _, c := range []prometheus.Collector{g.denied, g.auditFails, g.suppressed} {
		if err := s.reg.Register(c); err != nil {
			return err
		}
	}
	s.guard = g
	return nil
}

// AuditRecord is the payload of an audit ledger record: who, from where, what, result.
type AuditRecord struct {
	User      string `json:"user"`
	TokenID   string `json:"token_id,omitempty"`
	AuthBy    string `json:"auth,omitempty"`
	Remote    string `json:"remote"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Route     string `json:"route,omitempty"`
	Status    int    `json:"status"`
	Result    string `json:"result"` // "ok", "failed", "denied"
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(remoteHost(r))
	return ip != nil && ip.IsLoopback()
}

func (s *Server) writeAudit(r *http.Request, rt Route, p *auth.Principal, status int, result, reason string) {
	g := s.guard
	if g.audit == nil {
		return
	}
	rec := AuditRecord{User: "anonymous", Remote: clip(r.RemoteAddr, 64), Method: clip(r.Method, 16),
		Path: clip(r.URL.EscapedPath(), 512), Route: rt.Pattern, Status: status, Result: result, Reason: reason,
		RequestID: RequestID(r.Context())}
	if p != nil {
		rec.User, rec.TokenID, rec.AuthBy = p.Name, p.TokenID, p.Method
	}
	b, _ := json.Marshal(rec)
	// The request may be gone (client closed); the record is written regardless.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if _, err := g.audit.Append(ctx, repository.LedgerEntry{Kind: AuditKind, Subject: rec.User, Payload: b}); err != nil {
		g.auditFails.Inc()
		s.log.Error("audit record not written", "err", err, "request_id", rec.RequestID)
	}
}

// deny answers a refusal before the handler and audits it.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, rt Route, p *auth.Principal, e *Error, reason string) {
	g := s.guard
	g.denied.WithLabelValues(reason).Inc()
	s.writeProblem(w, r, e)
	if p == nil {
		if ok, _ := g.denyAudit.Allow(remoteHost(r)); !ok {
			g.suppressed.Inc()
			return
		}
	}
	s.writeAudit(r, rt, p, e.Status, "denied", reason)
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds())))))
}

// guardRoute wraps a route's handler: body limit, authentication, rate limit,
// permission, expensive-route slots, then the handler; writes and denials are audited.
func (s *Server) guardRoute(rt Route, acc Access, next http.Handler) http.Handler {
	limit := acc.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if s.maxBody < limit {
		limit = s.maxBody
	}
	write := rt.Method != http.MethodGet && rt.Method != http.MethodHead
	stream := rt.ContentType == "text/event-stream"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := s.guard
		if !stream {
			// a slow body or a slow reader holds a connection for a bounded time only
			// (event streams are long-lived by design; their heartbeat detects the dead)
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(RequestReadTimeout))
			_ = rc.SetWriteDeadline(time.Now().Add(RequestWriteTimeout))
		}
		if r.ContentLength > limit {
			s.deny(w, r, rt, nil, tooLarge(limit), "too-large")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		if acc.Perm == auth.Public {
			if acc.LoopbackOnly && !g.metricsPublic && !isLoopback(r) {
				s.deny(w, r, rt, nil, Errorf(http.StatusForbidden, "forbidden", "Forbidden", "",
					"this endpoint is served to loopback clients only (see serve --metrics-public)"), "forbidden")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		p, err := g.auth.Authenticate(r)
		if err != nil {
			if !errors.Is(err, auth.ErrNoCredentials) && !errors.Is(err, auth.ErrBadCredentials) {
				s.writeProblem(w, r, &Error{Status: http.StatusServiceUnavailable, Type: "auth-unavailable",
					Title: "Authentication unavailable", Detail: "credentials could not be checked; retry later", Err: err})
				return
			}
			if errors.Is(err, auth.ErrBadCredentials) {
				if ok, d := g.failLimit.Allow(remoteHost(r)); !ok {
					retryAfter(w, d)
					s.deny(w, r, rt, nil, Errorf(http.StatusTooManyRequests, "rate-limited", "Too many requests", "",
						"too many failed authentications from this address; retry later"), "rate-limited")
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="twinflow", Basic realm="twinflow"`)
			s.deny(w, r, rt, nil, Errorf(http.StatusUnauthorized, "unauthenticated", "Unauthenticated", "", "%s", err.Error()), "unauthenticated")
			return
		}
		key := p.TokenID
		if key == "" {
			key = "user:" + p.UserID
		}
		if ok, d := g.limit.Allow(key); !ok {
			retryAfter(w, d)
			s.deny(w, r, rt, p, Errorf(http.StatusTooManyRequests, "rate-limited", "Too many requests", "",
				"rate limit of this token exceeded; retry after the Retry-After delay"), "rate-limited")
			return
		}
		need := acc.Perm
		if acc.LivePerm != 0 && chi.URLParam(r, "twin") == twin.LiveID {
			need = acc.LivePerm
		}
		if !p.Can(need) {
			detail := "user " + p.Name + " may not do this (needs the " + need.String() + " permission)"
			if acc.LivePerm != 0 && need == acc.LivePerm {
				detail += "; the live twin changes through the change pipeline (twinflow change propose), or directly by an admin"
			}
			s.deny(w, r, rt, p, Errorf(http.StatusForbidden, "forbidden", "Forbidden", "", "%s", detail), "forbidden")
			return
		}
		if acc.Expensive {
			t := time.NewTimer(time.Second)
			select {
			case g.expensive <- struct{}{}:
				t.Stop()
				defer func() { <-g.expensive }()
			case <-t.C:
				retryAfter(w, time.Second)
				s.deny(w, r, rt, p, Errorf(http.StatusServiceUnavailable, "busy", "Server busy", "",
					"too many analyses or validations in progress; retry later"), "busy")
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		if stream {
			// a long-lived stream ends when its credential expires or is revoked
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			go recheck(ctx, cancel, g.auth, r.Header.Get("Authorization"), StreamRecheck)
			r = r.WithContext(ctx)
		}
		if !write {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		result := "ok"
		if sw.status >= 400 {
			result = "failed"
		}
		s.writeAudit(r, rt, p, sw.status, result, "")
	})
}

// StreamRecheck is how often an open event stream's credential is verified again.
const StreamRecheck = 5 * time.Second

// recheck cancels a stream whose credential stopped verifying.
func recheck(ctx context.Context, cancel context.CancelFunc, a *auth.Authenticator, authz string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.Header.Set("Authorization", authz)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := a.Authenticate(r); errors.Is(err, auth.ErrBadCredentials) {
				cancel()
				return
			}
		}
	}
}

// Principal returns the authenticated caller of a request (nil on public routes).
func Principal(r *http.Request) *auth.Principal { return auth.FromContext(r.Context()) }

// Guard returns a middleware protecting a handler served beside the API under prefix
// (the ALTO server): every request is authenticated, rate-limited, held to maxBody and
// authorised for perm exactly as the API's own routes are, and denials are audited.
// Requests asking for an event stream (Accept: text/event-stream) keep their
// connection without the per-request deadlines and end when their credential stops
// verifying. The mounted service's answers are queries, not writes: they are not
// audited.
func (s *Server) Guard(prefix string, perm auth.Permission, maxBody int64) func(http.Handler) http.Handler {
	acc := Access{Perm: perm, MaxBody: maxBody}
	rt := Route{Method: http.MethodGet, Pattern: prefix + "/*"}
	sr := rt
	sr.ContentType = "text/event-stream"
	return func(next http.Handler) http.Handler {
		plain, stream := s.guardRoute(rt, acc, next), s.guardRoute(sr, acc, next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				stream.ServeHTTP(w, r)
				return
			}
			plain.ServeHTTP(w, r)
		})
	}
}
