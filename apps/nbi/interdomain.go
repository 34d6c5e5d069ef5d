package nbi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/interdomain"
)

// InterdomainSliceList is the response of GET /api/v1/interdomain/slices.
type InterdomainSliceList struct {
	Items []interdomain.Record `json:"items"`
}

// InterdomainRoutes serve inter-domain slices (issue 19 item 3, docs/interdomain.md):
// the domain side (sub-slices a peer orders, confirms and rolls back; the dedicated
// peer role) and, when coord is set, the coordinator's end-to-end slices. Served
// through Options.Routes.
func InterdomainRoutes(agent *interdomain.Agent, coord *interdomain.Coordinator) RouteGroup {
	return func(s *Server) []Route {
		tags := []string{"interdomain"}
		h := interdomainHandlers{s: s, agent: agent, coord: coord}
		peer := Access{Perm: auth.Interdomain, MaxBody: interdomain.MaxRequestBytes}
		rts := []Route{
			{Method: http.MethodPost, Pattern: "/api/v1/interdomain/subslices", Summary: "A peer orders a sub-slice: validated in this domain's twin (L1), accepted by its policy, committed with a confirm window (peer role)",
				Tags: tags, Request: interdomain.SubSliceRequest{}, Response: interdomain.SubSlice{}, Status: http.StatusCreated,
				Errors: []int{400, 409, 413, 422, 503}, Handler: h.prepare, Access: &peer},
			{Method: http.MethodGet, Pattern: "/api/v1/interdomain/subslices/{id}", Summary: "A sub-slice's state and predicted KPIs (peer role)",
				Tags: tags, Response: interdomain.SubSlice{}, Errors: []int{400, 404, 503}, Handler: h.getSub, Access: &peer},
			{Method: http.MethodPost, Pattern: "/api/v1/interdomain/subslices/{id}/confirm", Summary: "Confirm a sub-slice in its confirm window (peer role)",
				Tags: tags, Request: interdomain.Ending{}, Response: interdomain.SubSlice{}, Errors: []int{400, 404, 409, 503}, Handler: h.end(true), Access: &peer},
			{Method: http.MethodPost, Pattern: "/api/v1/interdomain/subslices/{id}/rollback", Summary: "Roll a sub-slice in its confirm window back (peer role)",
				Tags: tags, Request: interdomain.Ending{}, Response: interdomain.SubSlice{}, Errors: []int{400, 404, 409, 503}, Handler: h.end(false), Access: &peer},
		}
		if coord == nil {
			return rts
		}
		read := Access{Perm: auth.Read}
		return append(rts,
			Route{Method: http.MethodPost, Pattern: "/api/v1/interdomain/slices", Summary: "Build an end-to-end slice from sub-slices of every domain on its path, all or nothing (operator)",
				Tags: tags, Request: interdomain.SliceRequest{}, Response: interdomain.Record{}, Status: http.StatusCreated,
				Errors: []int{400, 409, 413, 502, 503}, Handler: h.create, Access: &Access{Perm: auth.Operate, MaxBody: interdomain.MaxRequestBytes}},
			Route{Method: http.MethodGet, Pattern: "/api/v1/interdomain/slices", Summary: "The coordinator's records of end-to-end slices",
				Tags: tags, Response: InterdomainSliceList{}, Handler: h.list, Access: &read},
			Route{Method: http.MethodGet, Pattern: "/api/v1/interdomain/slices/{name}", Summary: "An end-to-end slice: where each domain is, and each sub-slice's current state and predicted KPIs",
				Tags: tags, Response: interdomain.Record{}, Errors: []int{400, 404}, Handler: h.get, Access: &read},
		)
	}
}

type interdomainHandlers struct {
	s     *Server
	agent *interdomain.Agent
	coord *interdomain.Coordinator
}

func (h interdomainHandlers) body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, interdomain.MaxRequestBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, tooLarge(interdomain.MaxRequestBytes)
		}
		return nil, BadRequest("", "reading the body: %v", err)
	}
	return b, nil
}

// interdomainError maps the package's errors to problems.
func interdomainError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, interdomain.ErrInvalid):
		return BadRequest("", "%v", err)
	case errors.Is(err, interdomain.ErrRefused):
		return Errorf(http.StatusUnprocessableEntity, "refused", "Sub-slice refused: it does not pass this domain's validation; nothing was committed", "", "%v", err)
	case errors.Is(err, interdomain.ErrNotSubSlice), errors.Is(err, interdomain.ErrNotFound):
		return Errorf(http.StatusNotFound, "not-found", "Not found", "", "%v", err)
	case errors.Is(err, interdomain.ErrExists):
		return Errorf(http.StatusConflict, "exists", "Already exists", "name", "%v", err)
	case errors.Is(err, interdomain.ErrAborted):
		return Errorf(http.StatusConflict, "aborted", "Inter-domain slice aborted: nothing is committed in any domain", "", "%v", err)
	case errors.Is(err, interdomain.ErrPeer):
		return Errorf(http.StatusBadGateway, "peer", "A peer domain did not answer as required", "", "%v", err)
	}
	return pipelineError(err)
}

func (h interdomainHandlers) prepare(w http.ResponseWriter, r *http.Request) error {
	b, err := h.body(w, r)
	if err != nil {
		return err
	}
	req, err := interdomain.ParseSubSliceRequest(b)
	if err != nil {
		return interdomainError(err)
	}
	v, err := h.agent.Prepare(r.Context(), actorOf(r), req)
	if err != nil {
		return interdomainError(err)
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (h interdomainHandlers) getSub(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	v, err := h.agent.Get(r.Context(), id)
	if err != nil {
		return interdomainError(err)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (h interdomainHandlers) end(confirm bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		var e interdomain.Ending
		if r.ContentLength != 0 {
			if err := DecodeJSON(w, r, interdomain.MaxRequestBytes, &e); err != nil {
				return err
			}
			if len(e.Reason) > 200 {
				return BadRequest("reason", "at most 200 bytes, got %d", len(e.Reason))
			}
		}
		var v *interdomain.SubSlice
		if confirm {
			v, err = h.agent.Confirm(r.Context(), actorOf(r), id)
		} else {
			v, err = h.agent.Rollback(r.Context(), actorOf(r), id, e.Reason)
		}
		if err != nil && (v == nil || (v.State != "committed" && v.State != "rolled_back")) {
			return interdomainError(err)
		}
		return writeJSON(w, http.StatusOK, v)
	}
}

func (h interdomainHandlers) create(w http.ResponseWriter, r *http.Request) error {
	b, err := h.body(w, r)
	if err != nil {
		return err
	}
	req, err := interdomain.ParseSliceRequest(b)
	if err != nil {
		return interdomainError(err)
	}
	// a client that goes away does not stop the confirmations or rollbacks mid-way
	rec, err := h.coord.Create(context.WithoutCancel(r.Context()), actorOf(r), req)
	if err != nil {
		if rec != nil {
			h.s.log.Info("inter-domain slice not built", "slice", rec.Name, "phase", rec.Phase, "err", err)
		}
		return interdomainError(err)
	}
	return writeJSON(w, http.StatusCreated, rec)
}

func (h interdomainHandlers) list(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, InterdomainSliceList{Items: h.coord.List()})
}

func (h interdomainHandlers) get(w http.ResponseWriter, r *http.Request) error {
	name, err := PathParam(r, "name")
	if err != nil {
		return err
	}
	rec, err := h.coord.Get(r.Context(), name)
	if err != nil {
		return interdomainError(err)
	}
	return writeJSON(w, http.StatusOK, rec)
}
