package nbi

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin"
)

// The policy and restoration routes (issue 17, docs/policies.md):
//
//	GET    /api/v1/policies                 the rules, by priority
//	POST   /api/v1/policies                 create a rule (JSON or YAML; state planned)   engineer
//	GET    /api/v1/policies/{id}            one rule (ETag: its revision)
//	PUT    /api/v1/policies/{id}            replace its definition (state kept; If-Match)  engineer
//	DELETE /api/v1/policies/{id}            delete a rule that is not active               engineer
//	POST   /api/v1/policies/{id}/state      {"state": "active"|"inactive"|"planned"}       operator
//	GET    /api/v1/policies/{id}/actions    what the engine did for the rule
//	GET    /api/v1/restorations             restorations and re-optimisations
//	POST   /api/v1/restorations             restore now: {"failed_links": [...]}          operator
//	POST   /api/v1/optimize                 re-optimise now: {"avoid_links": [...]}       operator
//
// Engineers (Design) write rule definitions; activating, withdrawing and the on-demand
// restoration and optimisation are production actions (Operate: operator, admin).

// PolicyList is the response of GET /policies.
type PolicyList struct {
	Items []closedloop.StoredRule `json:"items"`
}

// PolicyStateRequest is the body of POST /policies/{id}/state.
type PolicyStateRequest struct {
	State policy.State `json:"state"`
}

// PolicyActionList is the response of GET /policies/{id}/actions.
type PolicyActionList struct {
	Items []closedloop.ActionRecord `json:"items"`
}

// RestorationList is the response of GET /restorations.
type RestorationList struct {
	Items []closedloop.Restoration `json:"items"`
}

// RestoreRequest is the body of POST /restorations.
type RestoreRequest struct {
	// FailedLinks are treated as down besides those telemetry reports down (may be
	// empty: restore after what telemetry reports).
	FailedLinks []string `json:"failed_links,omitempty"`
}

// OptimizeRequest is the body of POST /optimize.
type OptimizeRequest struct {
	// AvoidLinks are hot links the flows crossing them should leave.
	AvoidLinks []string `json:"avoid_links,omitempty"`
}

const maxRuleBody = policy.MaxDocument

func policyRoutes(s *Server) []Route {
	tags := []string{"policies"}
	p := &policyAPI{s: s}
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/policies", Summary: "Policy rules, by priority", Tags: tags,
			Response: PolicyList{}, Errors: []int{503}, Handler: p.list},
		{Method: http.MethodPost, Pattern: "/api/v1/policies", Summary: "Create a policy rule (planned)", Tags: tags,
			Request: policy.Rule{}, Response: closedloop.StoredRule{}, Status: http.StatusCreated, Errors: []int{400, 409, 413, 422, 503},
			Handler: p.create},
		{Method: http.MethodGet, Pattern: "/api/v1/policies/{id}", Summary: "A policy rule", Tags: tags,
			Response: closedloop.StoredRule{}, Errors: []int{404, 503}, Handler: p.get},
		{Method: http.MethodPut, Pattern: "/api/v1/policies/{id}", Summary: "Replace a policy rule's definition (its state is kept)", Tags: tags,
			Params:  []Param{{Name: "If-Match", In: "header", Description: "the revision read (ETag)"}},
			Request: policy.Rule{}, Response: closedloop.StoredRule{}, Errors: []int{400, 404, 409, 412, 413, 422, 503}, Handler: p.put},
		{Method: http.MethodDelete, Pattern: "/api/v1/policies/{id}", Summary: "Delete a policy rule that is not active", Tags: tags,
			Status: http.StatusNoContent, Errors: []int{404, 409, 503}, Handler: p.del},
		{Method: http.MethodPost, Pattern: "/api/v1/policies/{id}/state", Summary: "Activate, withdraw or re-plan a policy rule", Tags: tags,
			Request: PolicyStateRequest{}, Response: closedloop.StoredRule{}, Errors: []int{400, 404, 409, 503}, Handler: p.state},
		{Method: http.MethodGet, Pattern: "/api/v1/policies/{id}/actions", Summary: "What the policy engine did for a rule", Tags: tags,
			Response: PolicyActionList{}, Errors: []int{503}, Handler: p.actions},
		{Method: http.MethodGet, Pattern: "/api/v1/restorations", Summary: "Restorations and re-optimisations, with detection and restoration times", Tags: tags,
			Response: RestorationList{}, Errors: []int{503}, Handler: p.restorations},
		{Method: http.MethodPost, Pattern: "/api/v1/restorations", Summary: "Restore now: reroute the flows crossing failed links through the pipeline", Tags: tags,
			Request: RestoreRequest{}, Response: closedloop.Restoration{}, Status: http.StatusCreated, Errors: []int{400, 422, 503}, Handler: p.restore},
		{Method: http.MethodPost, Pattern: "/api/v1/optimize", Summary: "Re-optimise paths now through the pipeline", Tags: tags,
			Request: OptimizeRequest{}, Response: closedloop.Restoration{}, Status: http.StatusCreated, Errors: []int{400, 503}, Handler: p.optimize},
	}
}

type policyAPI struct{ s *Server }

func (p *policyAPI) engine() (*closedloop.Engine, error) {
	if p.s.policies == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "no-policy-engine", Title: "Policy engine not available",
			Detail: "this server has no policy engine"}
	}
	return p.s.policies, nil
}

func (p *policyAPI) restorer() (*closedloop.Restorer, error) {
	if p.s.restorer == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "no-restoration", Title: "Restoration not available",
			Detail: "this server has no restoration service (it needs the change pipeline)"}
	}
	return p.s.restorer, nil
}

func policyError(err error) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, policy.ErrInvalid):
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid policy rule", Detail: err.Error()}
	case errors.Is(err, closedloop.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Detail: err.Error()}
	case errors.Is(err, twin.ErrPrecondition):
		return &Error{Status: http.StatusPreconditionFailed, Type: "precondition-failed", Title: "Revision mismatch", Detail: err.Error()}
	case errors.Is(err, closedloop.ErrConflict), errors.Is(err, closedloop.ErrState):
		return &Error{Status: http.StatusConflict, Type: "conflict", Title: "Conflict", Detail: err.Error()}
	}
	return err
}

func (p *policyAPI) readRule(w http.ResponseWriter, r *http.Request) (*policy.Rule, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRuleBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, tooLarge(maxRuleBody)
		}
		return nil, BadRequest("", "reading the body: %v", err)
	}
	rule, err := policy.Decode(body)
	if err != nil {
		return nil, policyError(err)
	}
	return rule, nil
}

func (p *policyAPI) list(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	items, err := e.Rules().List()
	if err != nil {
		return err
	}
	if items == nil {
		items = []closedloop.StoredRule{}
	}
	return writeJSON(w, http.StatusOK, PolicyList{Items: items})
}

func (p *policyAPI) create(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	rule, err := p.readRule(w, r)
	if err != nil {
		return err
	}
	sr, err := e.Rules().Create(r.Context(), rule)
	if err != nil {
		return policyError(err)
	}
	w.Header().Set("ETag", ETag(sr.Revision))
	return writeJSON(w, http.StatusCreated, sr)
}

func (p *policyAPI) id(r *http.Request) (string, error) {
	id, err := PathParam(r, "id")
	if err != nil {
		return "", err
	}
	if msg := network.CheckID(id); msg != "" {
		return "", BadRequest("id", "%s", msg)
	}
	return id, nil
}

func (p *policyAPI) get(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	id, err := p.id(r)
	if err != nil {
		return err
	}
	sr, err := e.Rules().Get(id)
	if err != nil {
		return policyError(err)
	}
	w.Header().Set("ETag", ETag(sr.Revision))
	return writeJSON(w, http.StatusOK, sr)
}

func (p *policyAPI) put(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	id, err := p.id(r)
	if err != nil {
		return err
	}
	expect, err := ParseIfMatch(r)
	if err != nil {
		return err
	}
	rule, err := p.readRule(w, r)
	if err != nil {
		return err
	}
	if rule.ID != id {
		return BadRequest("id", "the body's id %q differs from the path's %q", rule.ID, id)
	}
	sr, err := e.Rules().Update(r.Context(), rule, expect)
	if err != nil {
		return policyError(err)
	}
	w.Header().Set("ETag", ETag(sr.Revision))
	return writeJSON(w, http.StatusOK, sr)
}

func (p *policyAPI) del(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	id, err := p.id(r)
	if err != nil {
		return err
	}
	sr, err := e.Rules().Get(id)
	if err != nil {
		return policyError(err)
	}
	if sr.State == policy.StateActive {
		return Errorf(http.StatusConflict, "conflict", "Conflict", "", "rule %s is active: an operator withdraws it (state inactive) before it is deleted", id)
	}
	if err := e.Rules().Delete(r.Context(), id); err != nil {
		return policyError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *policyAPI) state(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	id, err := p.id(r)
	if err != nil {
		return err
	}
	var req PolicyStateRequest
	if err := DecodeJSON(w, r, 64<<10, &req); err != nil {
		return err
	}
	switch req.State {
	case policy.StatePlanned, policy.StateActive, policy.StateInactive:
	default:
		return BadRequest("state", "state must be planned, active or inactive")
	}
	sr, err := e.Rules().SetState(r.Context(), id, req.State)
	if err != nil {
		return policyError(err)
	}
	return writeJSON(w, http.StatusOK, sr)
}

func (p *policyAPI) actions(w http.ResponseWriter, r *http.Request) error {
	e, err := p.engine()
	if err != nil {
		return err
	}
	id, err := p.id(r)
	if err != nil {
		return err
	}
	items := e.Actions(id)
	if items == nil {
		items = []closedloop.ActionRecord{}
	}
	return writeJSON(w, http.StatusOK, PolicyActionList{Items: items})
}

func (p *policyAPI) restorations(w http.ResponseWriter, r *http.Request) error {
	rs, err := p.restorer()
	if err != nil {
		return err
	}
	items := rs.Records()
	if items == nil {
		items = []closedloop.Restoration{}
	}
	return writeJSON(w, http.StatusOK, RestorationList{Items: items})
}

func checkLinks(field string, ids []string) error {
	if len(ids) > policy.MaxAvoid {
		return BadRequest(field, "at most %d links", policy.MaxAvoid)
	}
	for i, id := range ids {
		if msg := network.CheckID(id); msg != "" || id == "" {
			return BadRequest(field, "%s[%d]: invalid link ID", field, i)
		}
	}
	return nil
}

func (p *policyAPI) restore(w http.ResponseWriter, r *http.Request) error {
	rs, err := p.restorer()
	if err != nil {
		return err
	}
	var req RestoreRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	if err := checkLinks("failed_links", req.FailedLinks); err != nil {
		return err
	}
	for i, id := range req.FailedLinks {
		if _, err := p.s.Twins.Live().Link(id); err != nil {
			return Errorf(http.StatusUnprocessableEntity, "invalid", "Unknown link", "failed_links", "failed_links[%d]: no link %q in the live twin", i, id)
		}
	}
	trigger := "on demand by " + actorOf(r)
	if len(req.FailedLinks) > 0 {
		trigger += ": " + strings.Join(req.FailedLinks, ", ")
	}
	failed := req.FailedLinks
	if failed == nil {
		failed = []string{}
	}
	out := rs.Restore(r.Context(), trigger, failed, time.Time{}, time.Now())
	return writeJSON(w, http.StatusCreated, out)
}

func (p *policyAPI) optimize(w http.ResponseWriter, r *http.Request) error {
	rs, err := p.restorer()
	if err != nil {
		return err
	}
	var req OptimizeRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	if err := checkLinks("avoid_links", req.AvoidLinks); err != nil {
		return err
	}
	out := rs.Optimize(r.Context(), "on demand by "+actorOf(r), req.AvoidLinks)
	return writeJSON(w, http.StatusCreated, out)
}

// decodeOptional decodes a JSON body into v; an empty body leaves v zero.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return DecodeJSON(w, r, 64<<10, v)
}
