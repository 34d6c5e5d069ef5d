package nbi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/twinflow/twinflow/models/queue"
)

// MaxQueueIterations bounds the queueing model's solver iterations a request may ask
// for (the model's default, 3000, is also the most): one request's CPU stays bounded.
const MaxQueueIterations = 3000

// QueueAnalysisRequest is the body of POST .../analysis/queue.
type QueueAnalysisRequest struct {
	// Routing routes demands and twin flows without a path: shortest (default) or ecmp.
	Routing string `json:"routing,omitempty"`
	// Demands is an inline traffic matrix added to the twin's flows.
	Demands []TrafficDemand `json:"demands,omitempty"`
	// ExcludeTwinFlows analyses the demands alone.
	ExcludeTwinFlows bool `json:"exclude_twin_flows,omitempty"`
	// Params overrides the model's parameters field by field (absent fields keep the
	// built-in set; `twinflow lab calibrate` writes a whole set).
	Params *queue.Params `json:"params,omitempty"`
}

// queueAnalysisRoute serves the queueing model (models/queue, docs/queueing.md) over a
// twin: per flow the model used, rate, delay, RTT, jitter and loss; per link direction
// (and class) load, queueing delay and loss. REQ-MON-02 (delay and loss KPIs).
func queueAnalysisRoute(s *Server) Route {
	return Route{
		Method: http.MethodPost, Pattern: "/api/v1/twins/{twin}/analysis/queue",
		Summary: "Queueing model (fq: max-min; FIFO/classes: fixed point): rate, delay, jitter and loss per flow", Tags: []string{"analysis"},
		Request: QueueAnalysisRequest{}, Response: queue.Result{},
		Errors: []int{400, 404, 413, 415, 422},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			t, err := s.twinOf(r)
			if err != nil {
				return err
			}
			def := queue.DefaultParams()
			req := QueueAnalysisRequest{Params: &def}
			if err := DecodeJSON(w, r, s.MaxBodyBytes(), &req); err != nil {
				return err
			}
			params := def
			if req.Params != nil {
				params = *req.Params
			}
			if err := params.Validate(); err != nil {
				return queueParamsError(err)
			}
			if params.MaxIterations > MaxQueueIterations {
				return Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", "params.max_iterations",
					"params.max_iterations must be at most %d through the API, got %d", MaxQueueIterations, params.MaxIterations)
			}
			n, router, err := analysisNetwork(t, req.Routing, req.Demands, req.ExcludeTwinFlows)
			if err != nil {
				return err
			}
			in, err := queue.FromNetwork(n, router.Route)
			if err != nil {
				return queueInputError(err, len(n.Flows)-len(req.Demands))
			}
			res, err := queue.Compute(in, params)
			if err != nil {
				return queueInputError(err, len(n.Flows)-len(req.Demands))
			}
			return writeJSON(w, http.StatusOK, res)
		},
	}
}

// queueParamsError maps a parameter error ("params.queue_fill must be …") to a 422
// naming the field.
func queueParamsError(err error) error {
	detail := strings.TrimPrefix(err.Error(), "queue: ")
	detail = strings.TrimPrefix(detail, "invalid input: ")
	field := "params"
	if rest, ok := strings.CutPrefix(detail, "params."); ok {
		if name, _, ok := strings.Cut(rest, " "); ok {
			field = "params." + name
		}
	}
	return Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", field, "%s", detail)
}

// queueInputError maps a model input error to a 422; flows at index ≥ firstDemand are
// the request's demands and are named as such.
func queueInputError(err error, firstDemand int) error {
	if !errors.Is(err, queue.ErrInvalid) {
		return err
	}
	detail := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "queue: "), "invalid input: ")
	field := ""
	if k := strings.Index(detail, "flows["); k >= 0 {
		var i int
		if _, err := fmt.Sscanf(detail[k+len("flows["):], "%d]", &i); err == nil {
			field = fmt.Sprintf("flows[%d]", i)
			if i >= firstDemand {
				field = fmt.Sprintf("demands[%d]", i-firstDemand)
			}
		}
	}
	return Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", field, "%s", detail)
}
