package nbi

import (
	"net/http"
	"time"

	"github.com/twinflow/twinflow/repository"
)

// MaxHistoryPoints caps the points one telemetry range query may return.
const MaxHistoryPoints = 100_000

// SeriesList is the response of GET /telemetry/series.
type SeriesList struct {
	Items []repository.Series `json:"items"`
}

// RangeResponse is the response of GET /telemetry/range.
type RangeResponse struct {
	Device    string             `json:"device"`
	Interface string             `json:"interface,omitempty"`
	Metric    string             `json:"metric"`
	From      time.Time          `json:"from"`
	To        time.Time          `json:"to"`
	Step      string             `json:"step,omitempty"`
	Points    []repository.Point `json:"points"`
}

// historyRoutes serve the telemetry history kept in the repository (REQ-MON-01,
// seed 004 §7.1: the data repository's time series).
func historyRoutes(s *Server) []Route {
	tags := []string{"telemetry"}
	q := func(name, desc string, required bool) Param {
		return Param{Name: name, In: "query", Description: desc, Required: required}
	}
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/telemetry/series", Summary: "Time series in the telemetry history",
			Tags: tags, Response: SeriesList{}, Errors: []int{503}, Handler: s.listSeries},
		{Method: http.MethodGet, Pattern: "/api/v1/telemetry/range", Summary: "Samples of one series, raw or downsampled (avg/min/max per step)",
			Tags: tags, Params: []Param{
				q("device", "device ID", true), q("interface", "interface name (empty for device-level metrics)", false),
				q("metric", "metric, e.g. in_rate_gbps, out_octets, oper_up", true),
				q("from", "start, RFC 3339 (default: to − 1h)", false), q("to", "end, RFC 3339 (default: now)", false),
				q("step", "bucket width as a Go duration, e.g. 1m (default: raw samples)", false),
			}, Response: RangeResponse{}, Errors: []int{400, 503}, Handler: s.rangeHistory},
	}
}

func (s *Server) historyOrUnavailable() (repository.Telemetry, error) {
	if s.history == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "unavailable", "Service unavailable", "",
			"this server keeps no telemetry history")
	}
	return s.history, nil
}

func (s *Server) listSeries(w http.ResponseWriter, r *http.Request) error {
	h, err := s.historyOrUnavailable()
	if err != nil {
		return err
	}
	series, err := h.Series(r.Context())
	if err != nil {
		return err
	}
	if series == nil {
		series = []repository.Series{}
	}
	return writeJSON(w, http.StatusOK, SeriesList{Items: series})
}

func (s *Server) rangeHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := s.historyOrUnavailable()
	if err != nil {
		return err
	}
	v := r.URL.Query()
	for name := range v {
		switch name {
		case "device", "interface", "metric", "from", "to", "step":
		default:
			return BadRequest(name, "unknown query parameter %q", name)
		}
	}
	rq := repository.RangeQuery{Device: v.Get("device"), Interface: v.Get("interface"), Metric: v.Get("metric")}
	if rq.Device == "" {
		return BadRequest("device", "device is required")
	}
	if rq.Metric == "" {
		return BadRequest("metric", "metric is required")
	}
	rq.To = time.Now()
	if t := v.Get("to"); t != "" {
		if rq.To, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return BadRequest("to", "to must be an RFC 3339 time, got %q", t)
		}
	}
	rq.From = rq.To.Add(-time.Hour)
	if f := v.Get("from"); f != "" {
		if rq.From, err = time.Parse(time.RFC3339Nano, f); err != nil {
			return BadRequest("from", "from must be an RFC 3339 time, got %q", f)
		}
	}
	if !rq.From.Before(rq.To) {
		return BadRequest("from", "from (%s) must be before to (%s)", rq.From.Format(time.RFC3339), rq.To.Format(time.RFC3339))
	}
	if st := v.Get("step"); st != "" {
		if rq.Step, err = time.ParseDuration(st); err != nil || rq.Step <= 0 {
			return BadRequest("step", "step must be a positive duration such as 1m, got %q", st)
		}
		if n := rq.To.Sub(rq.From) / rq.Step; n > MaxHistoryPoints {
			return BadRequest("step", "%d buckets requested; at most %d (choose a larger step)", n, MaxHistoryPoints)
		}
	}
	pts, err := h.Range(r.Context(), rq)
	if err != nil {
		return err
	}
	if len(pts) > MaxHistoryPoints {
		return BadRequest("step", "%d raw points in the range; at most %d (give a step)", len(pts), MaxHistoryPoints)
	}
	if pts == nil {
		pts = []repository.Point{}
	}
	resp := RangeResponse{Device: rq.Device, Interface: rq.Interface, Metric: rq.Metric, From: rq.From, To: rq.To, Points: pts}
	if rq.Step > 0 {
		resp.Step = rq.Step.String()
	}
	return writeJSON(w, http.StatusOK, resp)
}
