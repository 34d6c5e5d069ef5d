package nbi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func systemRoutes(s *Server) []Route {
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
	tags := []string{"system"}
	return []Route{
		{Method: http.MethodGet, Pattern: "/healthz", Summary: "Liveness: the process serves requests", Tags: tags,
			Response: Health{}, Handler: func(w http.ResponseWriter, r *http.Request) error {
				return writeJSON(w, http.StatusOK, Health{Status: "ok"})
			}},
		{Method: http.MethodGet, Pattern: "/readyz", Summary: "Readiness: the server is ready for traffic", Tags: tags,
			Response: Health{}, Errors: []int{503}, Handler: s.readyz},
		{Method: http.MethodGet, Pattern: "/metrics", Summary: "Prometheus metrics", Tags: tags,
			ContentType: "text/plain", Handler: func(w http.ResponseWriter, r *http.Request) error {
				metrics.ServeHTTP(w, r)
				return nil
			}},
		{Method: http.MethodGet, Pattern: "/api/v1/openapi.json", Summary: "This OpenAPI 3 document", Tags: tags,
			ContentType: "application/json", Handler: func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(s.openapi)
				return nil
			}},
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			return &Error{Status: http.StatusServiceUnavailable, Type: "not-ready", Title: "Not ready",
				Detail: "the server is not ready", Err: err}
		}
	}
	return writeJSON(w, http.StatusOK, Health{Status: "ready"})
}
