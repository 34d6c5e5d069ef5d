package nbi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// Bottleneck-structure analysis of a twin or fork (issue 3): the twin's flows (from
// services, slices and imported traffic matrices) over its links, each direction of a
// link a resource, plus an optional inline traffic matrix routed by models/routing.

// TrafficDemand is one entry of an inline traffic matrix.
type TrafficDemand struct {
	// ID names the flow (default "tm-<index>").
	ID  string `json:"id,omitempty"`
	Src string `json:"src"`
	Dst string `json:"dst"`
	// Gbps caps the flow's rate (a traffic shaper); absent means elastic.
	Gbps  *float64 `json:"gbps,omitempty"`
	Class string   `json:"class,omitempty"`
	// CC is the flow's congestion control (cubic, bbr, reno; default cubic), read by the
	// queueing model (analysis/queue); the max-min analyses ignore it.
	CC network.CongestionControl `json:"cc,omitempty"`
}

// AnalysisRequest is the body of POST .../analysis/bottleneck.
type AnalysisRequest struct {
	// Graph is fgg (default), pgg or qpgg.
	Graph string `json:"graph,omitempty"`
	// Routing routes demands and twin flows without a path: shortest (default, least
	// latency) or ecmp (hop count, per-flow hash).
	Routing string `json:"routing,omitempty"`
	// Demands is an inline traffic matrix added to the twin's flows.
	Demands []TrafficDemand `json:"demands,omitempty"`
	// ExcludeTwinFlows analyses the demands alone.
	ExcludeTwinFlows bool `json:"exclude_twin_flows,omitempty"`
}

// GradientRequest is the body of POST .../analysis/gradient: exactly one of Link (a
// directed link ID) or Flow.
type GradientRequest struct {
	Link             string          `json:"link,omitempty"`
	Flow             string          `json:"flow,omitempty"`
	Routing          string          `json:"routing,omitempty"`
	Demands          []TrafficDemand `json:"demands,omitempty"`
	ExcludeTwinFlows bool            `json:"exclude_twin_flows,omitempty"`
}

func analysisRoutes(s *Server) []Route {
	tags := []string{"analysis"}
	return []Route{{
		Method: http.MethodPost, Pattern: "/api/v1/twins/{twin}/analysis/bottleneck",
		Summary: "Bottleneck structure (max-min rates, levels, FGG/PGG) of a twin's flows", Tags: tags,
		Request: AnalysisRequest{}, Response: bottleneck.Report{},
		Errors: []int{400, 404, 413, 415, 422},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			t, err := s.twinOf(r)
			if err != nil {
				return err
			}
			var req AnalysisRequest
			if err := DecodeJSON(w, r, s.MaxBodyBytes(), &req); err != nil {
				return err
			}
			kind := bottleneck.GraphKind(req.Graph)
			switch kind {
			case "":
				kind = bottleneck.GraphFGG
			case bottleneck.GraphFGG, bottleneck.GraphPGG, bottleneck.GraphQPGG:
			default:
				return BadRequest("graph", "graph must be fgg, pgg or qpgg, got %q", req.Graph)
			}
			st, err := analysisState(t, req.Routing, req.Demands, req.ExcludeTwinFlows)
			if err != nil {
				return err
			}
			// streamed through the same encoder as `twinflow analyze bottleneck -o json`
			// (compact, schema twinflow.bottleneck/v2): a large result is never held
			// whole in memory. Everything that can fail has failed by now, short of
			// the client going away.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_ = st.WriteJSON(w, kind, false)
			return nil
		},
	}, {
		Method: http.MethodPost, Pattern: "/api/v1/twins/{twin}/analysis/gradient",
		Summary: "One-sided gradients of every flow's rate for a link's capacity or a flow's rate", Tags: tags,
		Request: GradientRequest{}, Response: bottleneck.Gradient{},
		Errors: []int{400, 404, 413, 415, 422},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			t, err := s.twinOf(r)
			if err != nil {
				return err
			}
			var req GradientRequest
			if err := DecodeJSON(w, r, s.MaxBodyBytes(), &req); err != nil {
				return err
			}
			if (req.Link == "") == (req.Flow == "") {
				return BadRequest("link", "exactly one of link or flow is required")
			}
			st, err := analysisState(t, req.Routing, req.Demands, req.ExcludeTwinFlows)
			if err != nil {
				return err
			}
			var g *bottleneck.Gradient
			if req.Link != "" {
				g, err = st.LinkGradient(req.Link)
			} else {
				g, err = st.FlowGradient(req.Flow)
			}
			if err != nil {
				field := "flow"
				if req.Link != "" {
					field = "link"
				}
				return Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", field, "%s", strings.TrimPrefix(err.Error(), "bottleneck: "))
			}
			return writeJSON(w, http.StatusOK, g)
		},
	}, queueAnalysisRoute(s)}
}

// analysisState builds the bottleneck structure of twin t's intended network plus the
// demands. Malformed input is a 422 naming the offending element.
func analysisState(t *twin.Twin, routingMode string, demands []TrafficDemand, excludeTwin bool) (*bottleneck.State, error) {
	n, router, err := analysisNetwork(t, routingMode, demands, excludeTwin)
	if err != nil {
		return nil, err
	}
	in, err := bottleneck.FromNetwork(n, router.Route)
	if err != nil {
		return nil, analysisInputError(err, n, len(n.Flows)-len(demands))
	}
	st, err := bottleneck.New(in)
	if err != nil {
		return nil, analysisInputError(err, n, len(n.Flows)-len(demands))
	}
	return st, nil
}

// analysisNetwork is twin t's intended network (or only its links, with excludeTwin)
// plus the demands as flows, and the router that gives flows without a path theirs.
func analysisNetwork(t *twin.Twin, routingMode string, demands []TrafficDemand, excludeTwin bool) (*network.Network, *bottleneck.Router, error) {
	if routingMode == "" {
		routingMode = string(bottleneck.RouteShortest)
	}
	if routingMode != string(bottleneck.RouteShortest) && routingMode != string(bottleneck.RouteECMP) {
		return nil, nil, BadRequest("routing", "routing must be shortest or ecmp, got %q", routingMode)
	}
	var n *network.Network
	_ = t.View(func(rd *twin.Reader) error {
		n = rd.Network()
		return nil
	})
	if excludeTwin {
		n.Flows = nil
	}
	ids := make(map[string]bool, len(n.Flows))
	for _, f := range n.Flows {
		ids[f.ID] = true
	}
	for i, d := range demands {
		at := fmt.Sprintf("demands[%d]", i)
		id := d.ID
		if id == "" {
			id = fmt.Sprintf("tm-%d", i)
		}
		if ids[id] {
			return nil, nil, Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", at+".id", "flow ID %q is already used", id)
		}
		ids[id] = true
		if d.Src == "" || d.Dst == "" || d.Src == d.Dst {
			return nil, nil, Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", at, "src and dst must be two different devices")
		}
		if d.Gbps != nil {
			if msg := network.CheckRate(*d.Gbps); msg != "" {
				return nil, nil, Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", at+".gbps", "%s", msg)
			}
		}
		if d.CC != "" && !slices.Contains(network.KnownCongestionControls, d.CC) {
			return nil, nil, Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", at+".cc", "unknown congestion control %q (known: %v)", d.CC, network.KnownCongestionControls)
		}
		n.Flows = append(n.Flows, network.Flow{ID: id, Src: d.Src, Dst: d.Dst, DemandGbps: d.Gbps, Class: d.Class, CongestionControl: d.CC})
	}
	router, err := bottleneck.NewRouter(n, bottleneck.Routing(routingMode))
	if err != nil {
		return nil, nil, Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", "", "%s", err)
	}
	return n, router, nil
}

// analysisInputError maps an engine error to a 422; flows at index ≥ firstDemand are
// the request's demands and are named as such.
func analysisInputError(err error, n *network.Network, firstDemand int) error {
	var ie *bottleneck.InputError
	field := ""
	if errors.As(err, &ie) {
		field = ie.Element
	}
	detail := strings.TrimPrefix(err.Error(), "bottleneck: ")
	for i := firstDemand; i < len(n.Flows); i++ {
		prefix := fmt.Sprintf("flows[%d] %q", i, n.Flows[i].ID)
		if strings.Contains(detail, prefix) {
			name := fmt.Sprintf("demands[%d]", i-firstDemand)
			field = strings.ReplaceAll(field, prefix, name)
			if field == "" {
				field = name
			}
			detail = strings.ReplaceAll(detail, prefix, name)
		}
	}
	return Errorf(http.StatusUnprocessableEntity, "invalid", "Invalid object", field, "%s", detail)
}
