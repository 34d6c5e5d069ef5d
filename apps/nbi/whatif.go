package nbi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/twinflow/twinflow/apps/snapshot"
	"github.com/twinflow/twinflow/apps/whatif"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// WhatifRequest is the body of POST /api/v1/whatif: a scenario (docs/whatif.md) run on
// a base — a twin of this server (the live twin by default, or a fork) or a named
// snapshot of its repository.
type WhatifRequest struct {
	// Scenario is the scenario document (YAML or JSON text).
	Scenario string `json:"scenario"`
	// Twin is the base twin ("live" when neither Twin nor Snapshot is set).
	Twin string `json:"twin,omitempty"`
	// Snapshot is a named snapshot (twinflow snapshot create) to use as the base.
	Snapshot string `json:"snapshot,omitempty"`
}

func whatifRoutes(s *Server) []Route {
	tags := []string{"whatif"}
	js := newJobs(s, "whatif")
	w := &whatifAPI{s: s, js: js}
	id := "/api/v1/whatif/{id}"
	return []Route{
		{Method: http.MethodPost, Pattern: "/api/v1/whatif", Summary: "Start a what-if run (scenario and sweeps) as a background job",
			Tags: tags, Request: WhatifRequest{}, Response: Job{}, Status: http.StatusAccepted, Errors: []int{400, 404, 413, 422, 429, 503}, Handler: w.create},
		{Method: http.MethodGet, Pattern: "/api/v1/whatif", Summary: "What-if jobs", Tags: tags, Response: JobList{}, Handler: w.list},
		{Method: http.MethodGet, Pattern: id, Summary: "A what-if job: state, progress, ETA", Tags: tags, Response: Job{}, Errors: []int{404}, Handler: w.get},
		{Method: http.MethodGet, Pattern: id + "/result", Summary: "A finished what-if job's report (JSON, or SVG charts with format=svg)",
			Tags: tags, Params: []Param{{Name: "format", In: "query", Description: "json (default) or svg"}},
			Response: whatif.Report{}, Errors: []int{400, 404, 409}, Handler: w.result},
		{Method: http.MethodDelete, Pattern: id, Summary: "Cancel a what-if job (a finished one is forgotten)",
			Tags: tags, Response: Job{}, Errors: []int{404}, Handler: w.cancel},
	}
}

type whatifAPI struct {
	s  *Server
	js *jobs
}

// baseNetwork resolves a job's base: a named snapshot, or a twin's network now.
func baseNetwork(ctx context.Context, s *Server, twinID, snap string) (*network.Network, string, error) {
	if twinID != "" && snap != "" {
		return nil, "", BadRequest("snapshot", "give a twin or a snapshot, not both")
	}
	if snap != "" {
		if err := snapshot.CheckName(snap); err != nil {
			return nil, "", BadRequest("snapshot", "%v", err)
		}
		if s.changes == nil {
			return nil, "", Errorf(http.StatusServiceUnavailable, "no-repository", "No repository", "snapshot", "this server has no repository to hold snapshots")
		}
		sn, err := snapshot.Get(ctx, s.changes.Store(), snap)
		if err != nil {
			return nil, "", Errorf(http.StatusNotFound, "not-found", "Not found", "snapshot", "snapshot %q: %v", snap, err)
		}
		return sn.Network, "snapshot:" + snap, nil
	}
	if twinID == "" {
		twinID = twin.LiveID
	}
	if err := checkTwinID(twinID); err != nil {
		return nil, "", err
	}
	t, err := s.Twins.Get(twinID)
	if err != nil {
		return nil, "", Errorf(http.StatusNotFound, "not-found", "Not found", "twin", "no twin %q", twinID)
	}
	var n *network.Network
	var rev uint64
	_ = t.View(func(rd *twin.Reader) error { n, rev = rd.Network(), rd.Revision(); return nil })
	return n, fmt.Sprintf("twin:%s@%d", twinID, rev), nil
}

// checkTwinID bounds a twin ID from a body the way path parameters are bounded.
func checkTwinID(id string) error {
	if len(id) > 128 || network.CheckText(id, 128) != "" {
		return BadRequest("twin", "not a twin ID")
	}
	return nil
}

func (a *whatifAPI) create(w http.ResponseWriter, r *http.Request) error {
	var req WhatifRequest
	if err := DecodeJSON(w, r, a.s.MaxBodyBytes(), &req); err != nil {
		return err
	}
	if req.Scenario == "" {
		return BadRequest("scenario", "the scenario document is required (YAML or JSON text)")
	}
	sc, err := whatif.ParseScenario([]byte(req.Scenario))
	if err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid scenario", Field: "scenario", Detail: err.Error()}
	}
	n, source, err := baseNetwork(r.Context(), a.s, req.Twin, req.Snapshot)
	if err != nil {
		return err
	}
	// the engine state is built now, so a scenario naming unknown links or flows of
	// the base is refused here and not as a failed job
	runner, err := whatif.NewRunner(sc, n)
	if err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid scenario for this base", Field: "scenario", Detail: err.Error()}
	}
	job, err := a.js.start(actorOf(r), source, func(ctx context.Context, progress func(done, total int)) (any, error) {
		return runner.Run(ctx, whatif.Options{Source: source, Progress: progress})
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/whatif/"+job.ID)
	return writeJSON(w, http.StatusAccepted, job)
}

func (a *whatifAPI) list(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, JobList{Items: a.js.list()})
}

func (a *whatifAPI) get(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	j, _, err := a.js.get(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

func (a *whatifAPI) result(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "svg" {
		return BadRequest("format", "must be json or svg, got %q", format)
	}
	j, res, err := a.js.get(id)
	if err != nil {
		return err
	}
	rep, ok := res.(*whatif.Report)
	if j.State != JobSucceeded || !ok || rep == nil {
		return Errorf(http.StatusConflict, "not-finished", "Job has no result", "", "job %s is %s%s", j.ID, j.State, errSuffix(j.Error))
	}
	if format == "svg" {
		var b bytes.Buffer
		if err := whatif.WriteSVG(&b, rep); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		_, err := w.Write(b.Bytes())
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func (a *whatifAPI) cancel(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	j, err := a.js.cancel(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}
