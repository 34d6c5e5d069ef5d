package nbi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// Options configures a Server. Only Twins is required.
type Options struct {
	// Twins owns the live twin and the forks.
	Twins *twin.Manager
	// Logger receives request and error logs (nil: discarded).
	Logger *slog.Logger
	// Registry receives the server's metrics and is served at /metrics (nil: a new
	// registry with Go and process collectors).
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies (default 64 MiB, the size of the largest network document).
	MaxBodyBytes int64
	// Ready reports readiness for /readyz (nil: always ready).
	Ready func(context.Context) error
	// Version is reported in the OpenAPI document (default "dev").
	Version string
	// Heartbeat is the interval of SSE keep-alive comments (default 15s).
	Heartbeat time.Duration
	// History is the telemetry history served under /api/v1/telemetry (nil: those
	// routes answer 503).
	History repository.Telemetry
	// Changes is the change pipeline served under /api/v1/changes (nil: those routes
	// answer 503).
	Changes *pipeline.Service
	// Drift is the drift detector served under /api/v1/drift (nil: those routes answer
	// 503).
	Drift *pipeline.DriftDetector
	// ServiceLevel is the validation level of the service and slice changes the
	// RESTCONF routes compile (default L1; the server sets L2 when it has an L2
	// sandbox, so that a slice is probed in emulation before it is committed).
	ServiceLevel change.Level
	// Monitor is the monitoring service served under /api/v1/kpis and /api/v1/alarms
	// (nil: those routes answer 503; docs/monitoring.md).
	Monitor *monitor.Service
	// Policies and Restorer are the closed loops served under /api/v1/policies,
	// /api/v1/restorations and /api/v1/optimize (nil: those routes answer 503).
	Policies *closedloop.Engine
	Restorer *closedloop.Restorer
	// Routes are more route groups, served after this package's own (their patterns
	// must not repeat one).
	Routes []RouteGroup

	// Security (issue #13, see access.go and docs/security.md).
	// Auth authenticates callers; required.
	Auth *auth.Authenticator
	// Audit receives a record of every authenticated write and every denial (nil: none).
	Audit repository.Ledger
	// RateLimit is the requests per second each token (or password user) may make
	// (0: 500; negative: unlimited); RateBurst its burst (0: twice the rate).
	RateLimit float64
	RateBurst int
	// ExpensiveConcurrency bounds analyses and validations running at once (0: 4).
	ExpensiveConcurrency int
	// MetricsPublic serves /metrics to non-loopback clients too.
	MetricsPublic bool
	// Jobs bounds the background what-if and dataset jobs (issue #18, jobs.go).
	Jobs JobOptions
	// DemoUsers are the demo's users, offered on the web UI's login page (ui.go).
	DemoUsers []string
}

// Server is the northbound REST API. Create it with New; serve Handler().
type Server struct {
	// Twins is the twin manager every route group works on.
	Twins *twin.Manager

	log       *slog.Logger
	history   repository.Telemetry
	changes   *pipeline.Service
	drift     *pipeline.DriftDetector
	monitor   *monitor.Service
	policies  *closedloop.Engine
	restorer  *closedloop.Restorer
	reg       *prometheus.Registry
	maxBody   int64
	ready     func(context.Context) error
	heartbeat time.Duration

	router  chi.Router
	routes  []Route
	openapi []byte

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	done     chan struct{}
	doneOnce sync.Once

	guard *guardState

	jobOpts JobOptions    // background jobs (jobs.go)
	jobSem  chan struct{} // their running slots

	demoUsers []string

	serviceLevel change.Level
}

// New builds a Server serving this package's route groups, then o.Routes.
func New(o Options) (*Server, error) {
	if o.Twins == nil {
		return nil, fmt.Errorf("nbi: Options.Twins is required")
	}
	s := &Server{Twins: o.Twins, log: o.Logger, reg: o.Registry, maxBody: o.MaxBodyBytes, history: o.History,
		changes: o.Changes, drift: o.Drift, serviceLevel: o.ServiceLevel, ready: o.Ready, heartbeat: o.Heartbeat, done: make(chan struct{}),
		monitor:  o.Monitor,                        // #17 monitoring
		policies: o.Policies, restorer: o.Restorer, // #17 closed loops
		demoUsers: o.DemoUsers, // #20 web UI login
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.maxBody <= 0 {
		s.maxBody = 64 << 20
	}
	if s.heartbeat <= 0 {
		s.heartbeat = 15 * time.Second
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	s.jobOpts = o.Jobs.withDefaults()
	s.jobSem = make(chan struct{}, s.jobOpts.MaxRunning)
	if err := s.registerMetrics(); err != nil {
		return nil, err
	}
	if err := s.initGuard(o); err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(s.requestIDMiddleware, s.recoverMiddleware, s.metricsMiddleware, restconfSlashes)
	r.NotFound(s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return Errorf(http.StatusNotFound, "no-route", "Not found", "", "no route for %s %s", r.Method, safeInstance(r))
	}))
	r.MethodNotAllowed(s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return Errorf(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "",
			"method %s is not allowed on %s", r.Method, safeInstance(r))
	}))
	seen := map[string]bool{}
	groups := []RouteGroup{analysisRoutes, changeRoutes, entityRoutes, eventRoutes, systemRoutes,
		historyRoutes, observedRoutes, twinRoutes, auditRoutes,
		restconfRoutes, serviceRoutes, // #15
		resolveRoutes,                           // #21
		monitoringRoutes,                        // #17
		policyRoutes,                            // #17
		pushRoutes, whatifRoutes, datasetRoutes, // #18
		uiRoutes, // #20
	}
	for _, g := range append(groups, o.Routes...) {
		for _, rt := range g(s) {
			key := rt.Method + " " + rt.Pattern
			if seen[key] {
				return nil, fmt.Errorf("nbi: route %s registered twice", key)
			}
			seen[key] = true
			acc, ok := accessOf(rt)
			if !ok {
				return nil, fmt.Errorf("nbi: route %s has no permission decision (Route.Access or accessTable)", key)
			}
			s.routes = append(s.routes, rt)
			r.Method(rt.Method, rt.Pattern, s.guardRoute(rt, acc, s.wrap(rt.Handler)))
		}
	}
	doc, err := json.MarshalIndent(openAPI(s.routes, o.Version), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("nbi: build openapi document: %w", err)
	}
	s.openapi = doc
	s.router = r
	return s, nil
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.router }

// Routes returns the routes served, in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// OpenAPI returns the OpenAPI 3 document (JSON).
func (s *Server) OpenAPI() []byte { return s.openapi }

// Registry returns the metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Logger returns the server's logger, for route groups.
func (s *Server) Logger() *slog.Logger { return s.log }

// MaxBodyBytes is the request body limit, for route groups decoding bodies.
func (s *Server) MaxBodyBytes() int64 { return s.maxBody }

// Close ends long-lived responses (event streams) so an http.Server can shut down.
func (s *Server) Close() { s.doneOnce.Do(func() { close(s.done) }) }

func (s *Server) registerMetrics() error {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twinflow_http_requests_total", Help: "HTTP requests by method, route pattern and status code.",
	}, []string{"method", "route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "twinflow_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	twins := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "twinflow_twins", Help: "Twins held (the live twin and its forks).",
	}, func() float64 { n, _ := s.Twins.Counts(); return float64(n) })
	forks := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "twinflow_forks", Help: "Forks held.",
	}, func() float64 { n, _ := s.Twins.Counts(); return float64(n - 1) })
	created := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "twinflow_forks_created_total", Help: "Forks created since start.",
	}, func() float64 { _, c := s.Twins.Counts(); return float64(c) })
	liveRev := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "twinflow_live_twin_revision", Help: "Revision of the live twin.",
	}, func() float64 { return float64(s.Twins.Live().Revision()) })
	subs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "twinflow_event_subscribers", Help: "Open event subscriptions.",
	}, func() float64 { return float64(s.Twins.Events().Subscribers()) })
	for _, c := range []prometheus.Collector{s.requests, s.latency, twins, forks, created, liveRev, subs} {
		if err := s.reg.Register(c); err != nil {
			return fmt.Errorf("nbi: register metrics: %w", err)
		}
	}
	return nil
}

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request ID of a request's context ("" if none).
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// requestIDMiddleware takes a valid X-Request-ID from the client or makes one, puts it
// in the context and echoes it in the response.
func (s *Server) requestIDMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func (s *Server) recoverMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeProblem(w, r, &Error{Status: http.StatusInternalServerError, Type: "internal",
					Title: "Internal server error", Detail: "an internal error occurred; quote the request ID when reporting it",
					Err: fmt.Errorf("panic: %v", v)})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code; it keeps http.Flusher for event streams.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) metricsMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		s.requests.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).Inc()
		s.latency.WithLabelValues(r.Method, route).Observe(d.Seconds())
		s.log.Debug("request", "request_id", RequestID(r.Context()), "method", r.Method, "route", route,
			"status", sw.status, "duration", d)
	})
}
