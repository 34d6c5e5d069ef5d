package nbi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/monitor"
)

// The monitoring routes (issue 17, REQ-MON-01..08, docs/monitoring.md):
//
//	GET    /api/v1/kpis                 descriptors with their latest values
//	POST   /api/v1/kpis                 create a descriptor (engineer: design)
//	GET    /api/v1/kpis/{id}            one descriptor and its latest value
//	DELETE /api/v1/kpis/{id}            delete it and its samples (engineer: design)
//	GET    /api/v1/kpis/{id}/latest     the latest value
//	GET    /api/v1/kpis/{id}/range      stored samples (?from=&to=&limit=)
//	GET    /api/v1/alarms               alarms (?state=raised|cleared, ?limit=, ?page_token=)
//	GET    /api/v1/alarms/{id}          one alarm
//	POST   /api/v1/alarms/{id}/ack      acknowledge (operator: operate)
//
// KPI values and alarms stream on the one event stream: GET /api/v1/events?table=kpis,alarms
// (and "comparisons" for predicted-vs-observed records).

// KPIView is a descriptor with its latest value.
type KPIView struct {
	mon.Descriptor
	Latest *monitor.KPIValue `json:"latest,omitempty"`
}

// KPIList is the response of GET /kpis.
type KPIList struct {
	Items []KPIView `json:"items"`
}

// KPIRangeResponse is the response of GET /kpis/{id}/range.
type KPIRangeResponse struct {
	KPI     string             `json:"kpi"`
	From    time.Time          `json:"from"`
	To      time.Time          `json:"to"`
	Samples []monitor.KPIValue `json:"samples"`
	// Truncated is true when limit samples were returned and more may follow (ask again
	// from the last sample's time).
	Truncated bool `json:"truncated,omitempty"`
}

// AlarmList is the response of GET /alarms.
type AlarmList struct {
	Items         []mon.Alarm `json:"items"`
	NextPageToken string      `json:"next_page_token,omitempty"`
}

// DefaultKPIRangeLimit is the range limit when none is given.
const DefaultKPIRangeLimit = 1000

func monitoringRoutes(s *Server) []Route {
	tags := []string{"monitoring"}
	q := func(name, desc string) Param { return Param{Name: name, In: "query", Description: desc} }
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/kpis", Summary: "KPI descriptors with their latest values",
			Tags: tags, Response: KPIList{}, Errors: []int{503}, Handler: s.listKPIs},
		{Method: http.MethodPost, Pattern: "/api/v1/kpis", Summary: "Create a KPI descriptor (device, endpoint, link, flow, service or slice metric; sample interval; optional threshold with hysteresis)",
			Tags: tags, Request: mon.Descriptor{}, Response: KPIView{}, Status: http.StatusCreated, Errors: []int{400, 409, 413, 422, 503}, Handler: s.createKPI},
		{Method: http.MethodGet, Pattern: "/api/v1/kpis/{id}", Summary: "A KPI descriptor and its latest value",
			Tags: tags, Response: KPIView{}, Errors: []int{400, 404, 503}, Handler: s.getKPI},
		{Method: http.MethodDelete, Pattern: "/api/v1/kpis/{id}", Summary: "Delete a KPI descriptor and its samples",
			Tags: tags, Status: http.StatusNoContent, Errors: []int{400, 404, 503}, Handler: s.deleteKPI},
		{Method: http.MethodGet, Pattern: "/api/v1/kpis/{id}/latest", Summary: "The latest value of a KPI",
			Tags: tags, Response: monitor.KPIValue{}, Errors: []int{400, 404, 503}, Handler: s.latestKPI},
		{Method: http.MethodGet, Pattern: "/api/v1/kpis/{id}/range", Summary: "Stored samples of a KPI, oldest first",
			Tags: tags, Params: []Param{q("from", "start, RFC 3339 (default: to − 1h)"), q("to", "end, RFC 3339, exclusive (default: now)"),
				{Name: "limit", In: "query", Type: "integer", Description: "at most this many samples (1..100000, default 1000)"}},
			Response: KPIRangeResponse{}, Errors: []int{400, 404, 503}, Handler: s.rangeKPI},
		{Method: http.MethodGet, Pattern: "/api/v1/alarms", Summary: "Alarms (raised and cleared), grouped by parent_id under their root",
			Tags: tags, Params: []Param{q("state", "raised or cleared"), {Name: "limit", In: "query", Type: "integer"}, q("page_token", "")},
			Response: AlarmList{}, Errors: []int{400, 503}, Handler: s.listAlarms},
		{Method: http.MethodGet, Pattern: "/api/v1/alarms/{id}", Summary: "One alarm",
			Tags: tags, Response: mon.Alarm{}, Errors: []int{400, 404, 503}, Handler: s.getAlarm},
		{Method: http.MethodPost, Pattern: "/api/v1/alarms/{id}/ack", Summary: "Acknowledge an alarm",
			Tags: tags, Response: mon.Alarm{}, Errors: []int{400, 404, 503}, Handler: s.ackAlarm},
	}
}

func (s *Server) monitorOrUnavailable() (*monitor.Service, error) {
	if s.monitor == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "no-monitor", "Monitoring not available", "",
			"this server runs no monitoring service")
	}
	return s.monitor, nil
}

// monitorError maps monitor errors to problems.
func monitorError(err error) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, monitor.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Detail: err.Error()}
	case errors.Is(err, monitor.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: "already-exists", Title: "Already exists", Field: "id", Detail: err.Error()}
	case errors.Is(err, monitor.ErrTooMany):
		return &Error{Status: http.StatusConflict, Type: "too-many", Title: "Too many KPIs", Detail: err.Error()}
	case errors.Is(err, mon.ErrInvalid), errors.Is(err, repository.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Type: "invalid", Title: "Invalid request", Detail: err.Error()}
	}
	return err
}

// monitorID reads and bounds an {id} path parameter.
func monitorID(r *http.Request) (string, error) {
	id, err := PathParam(r, "id")
	if err != nil {
		return "", err
	}
	if err := mon.CheckID("id", id); err != nil {
		return "", BadRequest("id", "%v", err)
	}
	return id, nil
}

func (s *Server) listKPIs(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	out := KPIList{Items: []KPIView{}}
	for _, d := range m.KPIs() {
		_, latest, err := m.KPI(d.ID)
		if err != nil {
			continue // deleted meanwhile
		}
		out.Items = append(out.Items, KPIView{Descriptor: d, Latest: latest})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createKPI(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	var d mon.Descriptor
	if err := DecodeJSON(w, r, mon.MaxDescriptorBytes, &d); err != nil {
		return err
	}
	created, err := m.CreateKPI(r.Context(), d)
	if err != nil {
		if errors.Is(err, mon.ErrInvalid) {
			return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid KPI descriptor", Detail: err.Error()}
		}
		return monitorError(err)
	}
	w.Header().Set("Location", "/api/v1/kpis/"+created.ID)
	return writeJSON(w, http.StatusCreated, KPIView{Descriptor: created})
}

func (s *Server) getKPI(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	id, err := monitorID(r)
	if err != nil {
		return err
	}
	d, latest, err := m.KPI(id)
	if err != nil {
		return monitorError(err)
	}
	return writeJSON(w, http.StatusOK, KPIView{Descriptor: d, Latest: latest})
}

func (s *Server) deleteKPI(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	id, err := monitorID(r)
	if err != nil {
		return err
	}
	if err := m.DeleteKPI(r.Context(), id); err != nil {
		return monitorError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) latestKPI(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	id, err := monitorID(r)
	if err != nil {
		return err
	}
	_, latest, err := m.KPI(id)
	if err != nil {
		return monitorError(err)
	}
	if latest == nil {
		return Errorf(http.StatusNotFound, "no-value", "No value yet", "", "kpi %q has not been sampled yet", id)
	}
	return writeJSON(w, http.StatusOK, latest)
}

func (s *Server) rangeKPI(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	id, err := monitorID(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	for name := range v {
		switch name {
		case "from", "to", "limit":
		default:
			return BadRequest(name, "unknown query parameter %q", name)
		}
	}
	to := time.Now()
	if t := v.Get("to"); t != "" {
		if to, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return BadRequest("to", "to must be an RFC 3339 time, got %q", t)
		}
	}
	from := to.Add(-time.Hour)
	if f := v.Get("from"); f != "" {
		if from, err = time.Parse(time.RFC3339Nano, f); err != nil {
			return BadRequest("from", "from must be an RFC 3339 time, got %q", f)
		}
	}
	if !from.Before(to) {
		return BadRequest("from", "from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	limit := DefaultKPIRangeLimit
	if l := v.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > repository.MaxKPIRange {
			return BadRequest("limit", "limit must be an integer from 1 to %d, got %q", repository.MaxKPIRange, l)
		}
	}
	pts, err := m.Range(r.Context(), id, from, to, limit)
	if err != nil {
		return monitorError(err)
	}
	return writeJSON(w, http.StatusOK, KPIRangeResponse{KPI: id, From: from, To: to, Samples: pts, Truncated: len(pts) == limit})
}

func (s *Server) listAlarms(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	p, err := ParsePage(r)
	if err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	if state != "" && state != string(mon.Raised) && state != string(mon.Cleared) {
		return BadRequest("state", "state must be raised or cleared, got %q", state)
	}
	items, err := m.Alarms(r.Context(), state, p.After, p.Limit+1)
	if err != nil {
		return monitorError(err)
	}
	out := AlarmList{Items: items}
	if len(items) > p.Limit {
		out.Items = items[:p.Limit]
		out.NextPageToken = PageToken(out.Items[len(out.Items)-1].ID)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getAlarm(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	id, err := monitorID(r)
	if err != nil {
		return err
	}
	a, err := m.Alarm(r.Context(), id)
	if err != nil {
		return monitorError(err)
	}
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) ackAlarm(w http.ResponseWriter, r *http.Request) error {
	m, err := s.monitorOrUnavailable()
	if err != nil {
		return err
	}
	id, err := monitorID(r)
	if err != nil {
		return err
	}
	a, err := m.Acknowledge(r.Context(), id, actorOf(r))
	if err != nil {
		return monitorError(err)
	}
	return writeJSON(w, http.StatusOK, a)
}
