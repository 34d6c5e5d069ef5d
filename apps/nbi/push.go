package nbi

import (
	"errors"
	"net/http"
	"time"

	"github.com/twinflow/twinflow/apps/certify"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// The gated production push (issue #18 item 4, docs/push.md): the push policy an
// admin sets, what it says about a change (the push plan), and certifications the
// server records from its own validation of a change.

// PushPolicyDoc is the push policy in force (GET /api/v1/push-policy) or as stored by
// a PUT.
type PushPolicyDoc struct {
	Policy  *change.PushPolicy `json:"policy"`
	Version int64              `json:"version"`
	Actor   string             `json:"actor,omitempty"`
	Updated time.Time          `json:"updated,omitzero"`
}

// PushPolicyRequest is the body of PUT /api/v1/push-policy.
type PushPolicyRequest struct {
	Policy *change.PushPolicy `json:"policy"`
	// IfVersion > 0 stores the policy only if the stored one is at that version (409
	// otherwise).
	IfVersion int64 `json:"if_version,omitempty"`
}

// CertificationResult is the answer of POST /api/v1/changes/{id}/certification.
type CertificationResult struct {
	Certification repository.Certification `json:"certification"`
	ContentHash   string                   `json:"content_hash"`
	ReportSHA256  string                   `json:"report_sha256"`
	Passed        bool                     `json:"passed"`
	// Markdown is the report whose SHA-256 the certification binds (write it as the
	// CI artefact: its hash is what the ledger holds).
	Markdown string `json:"report_markdown"`
}

func pushRoutes(s *Server) []Route {
	tags := []string{"push"}
	p := &pushAPI{s: s}
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/push-policy", Summary: "The push policy in force (certification rule, maintenance windows, rollout stages)",
			Tags: tags, Response: PushPolicyDoc{}, Errors: []int{503}, Handler: p.getPolicy},
		{Method: http.MethodPut, Pattern: "/api/v1/push-policy", Summary: "Set the push policy (admin)",
			Tags: tags, Request: PushPolicyRequest{}, Response: PushPolicyDoc{}, Errors: []int{400, 409, 413, 422, 503}, Handler: p.putPolicy},
		{Method: http.MethodGet, Pattern: "/api/v1/changes/{id}/push-plan", Summary: "What the push policy says about committing a change now",
			Tags: tags, Response: pipeline.PushPlan{}, Errors: []int{404, 503}, Handler: p.plan},
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/certification", Summary: "Record a certification of a change from the server's own validation report",
			Tags: tags, Response: CertificationResult{}, Status: http.StatusCreated, Errors: []int{404, 409, 503}, Handler: p.certify},
	}
}

type pushAPI struct{ s *Server }

func (p *pushAPI) svc() (*pipeline.Service, error) { return (&changeAPI{s: p.s}).svc() }

func policyDoc(pol *change.PushPolicy, rec repository.Policy) PushPolicyDoc {
	return PushPolicyDoc{Policy: pol, Version: rec.Version, Actor: rec.Actor, Updated: rec.Updated}
}

func (p *pushAPI) getPolicy(w http.ResponseWriter, r *http.Request) error {
	svc, err := p.svc()
	if err != nil {
		return err
	}
	pol, rec, err := svc.PushPolicy(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, policyDoc(pol, rec))
}

func (p *pushAPI) putPolicy(w http.ResponseWriter, r *http.Request) error {
	svc, err := p.svc()
	if err != nil {
		return err
	}
	var req PushPolicyRequest
	if err := DecodeJSON(w, r, p.s.MaxBodyBytes(), &req); err != nil {
		return err
	}
	if req.Policy == nil {
		return BadRequest("policy", "the body must hold the policy (an empty object {} gates nothing)")
	}
	if req.IfVersion < 0 {
		return BadRequest("if_version", "must not be negative, got %d", req.IfVersion)
	}
	rec, err := svc.SetPushPolicy(r.Context(), req.Policy, actorOf(r), req.IfVersion)
	if err != nil {
		if errors.Is(err, pipeline.ErrInvalid) {
			return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid push policy", Detail: err.Error()}
		}
		return pipelineError(err)
	}
	return writeJSON(w, http.StatusOK, policyDoc(req.Policy, rec))
}

func (p *pushAPI) plan(w http.ResponseWriter, r *http.Request) error {
	svc, err := p.svc()
	if err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	pl, err := svc.Plan(r.Context(), id)
	if err != nil {
		return pipelineError(err)
	}
	return writeJSON(w, http.StatusOK, pl)
}

// certify records a certification of the change from the report of the server's own
// validation (never from a report a client sends): the change must have been
// validated (validated, approved, or rejected — which records a failing one).
func (p *pushAPI) certify(w http.ResponseWriter, r *http.Request) error {
	svc, err := p.svc()
	if err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	if err := decodeOptionalEmpty(w, r, p.s.MaxBodyBytes()); err != nil {
		return err
	}
	ch, err := svc.Get(r.Context(), id)
	if err != nil {
		return pipelineError(err)
	}
	switch ch.State {
	case change.StateValidated, change.StateApproved, change.StateRejected:
	default:
		return Errorf(http.StatusConflict, "wrong-state", "Operation not allowed in the change's state", "",
			"%s is %s; a certification records the report of a validated, approved or rejected change", ch.ID, ch.State)
	}
	if ch.Report == nil {
		return Errorf(http.StatusConflict, "wrong-state", "Operation not allowed in the change's state", "", "%s has no validation report", ch.ID)
	}
	res, err := certify.FromReport(ch.ChangeSet, ch.Report, "server", ch.Updated, 0)
	if err != nil {
		return err
	}
	if ch.State == change.StateRejected {
		res.Passed = false
	}
	md, mdHash := certify.Markdown(res)
	cert, err := certify.Record(r.Context(), svc.Store(), res, mdHash)
	if errors.Is(err, repository.ErrConflict) {
		// the same report of the same content was recorded before: answer that one
		if cert, err = svc.Store().Certifications().Get(r.Context(), "cert-"+res.ContentHash[:16]+"-"+mdHash[:16]); err == nil {
			return writeJSON(w, http.StatusOK, CertificationResult{Certification: cert, ContentHash: res.ContentHash, ReportSHA256: mdHash, Passed: res.Passed, Markdown: string(md)})
		}
	}
	if err != nil {
		return err
	}
	p.s.log.Info("certification recorded", "change", ch.ID, "certification", cert.ID, "verdict", cert.Verdict, "actor", actorOf(r))
	return writeJSON(w, http.StatusCreated, CertificationResult{Certification: cert, ContentHash: res.ContentHash, ReportSHA256: mdHash, Passed: res.Passed, Markdown: string(md)})
}
