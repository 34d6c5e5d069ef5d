package nbi

import (
	"errors"
	"net/http"

	"github.com/twinflow/twinflow/twin/pipeline"
)

// The commit resolution route (REQ-REL-02, docs/reliability.md):
//
//	POST /api/v1/changes/{id}/resolve   settle a commit that did not end on its own (a
//	                                    change left committing, a failed change with
//	                                    devices pending restoration): roll forward or
//	                                    back from the journal and what the devices
//	                                    hold; answers the change and, per device, the
//	                                    image it holds (pre-image, intent, other,
//	                                    unreachable)
func resolveRoutes(s *Server) []Route {
	c := &changeAPI{s: s}
	return []Route{
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/resolve", Summary: "Resolve a commit that did not end on its own: roll it forward or back and report each device's image",
			Tags: []string{"changes"}, Response: pipeline.Resolution{}, Errors: []int{404, 409, 503}, Handler: c.resolve},
	}
}

func (c *changeAPI) resolve(w http.ResponseWriter, r *http.Request) error {
	svc, err := c.svc()
	if err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	if err := decodeOptionalEmpty(w, r, c.s.MaxBodyBytes()); err != nil {
		return err
	}
	res, err := svc.ResolveChange(r.Context(), id, actorOf(r))
	if err != nil && (res == nil || res.Change == nil || !res.Change.State.Terminal() ||
		errors.Is(err, pipeline.ErrState) || errors.Is(err, pipeline.ErrBusy) || errors.Is(err, pipeline.ErrNoCommitter)) {
		return pipelineError(err)
	}
	if err != nil {
		c.s.log.Info("resolve ended the change", "change", id, "state", res.Change.State, "err", err)
	}
	return writeJSON(w, http.StatusOK, res)
}
