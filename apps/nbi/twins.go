package nbi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// ApplyResult is the outcome of applying one element of a network document.
type ApplyResult struct {
	Kind   string      `json:"kind"` // table: contexts, devices, links, topologies, flows
	ID     string      `json:"id"`
	Result twin.Result `json:"result"` // created, updated or unchanged
}

// ApplyResponse is the response of POST /api/v1/twins/{twin}/apply.
type ApplyResponse struct {
	Twin     string        `json:"twin"`
	Revision uint64        `json:"revision"`
	Results  []ApplyResult `json:"results"`
}

func twinRoutes(s *Server) []Route {
	tags := []string{"twins"}
	var twins List[twin.Info]
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/twins", Summary: "List twins (the live twin and its forks)",
			Tags: tags, Params: listParams, Response: twins, Errors: []int{400}, Handler: s.listTwins},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}", Summary: "Describe a twin", Tags: tags,
			Response: twin.Info{}, Errors: []int{404}, Handler: s.getTwin},
		{Method: http.MethodDelete, Pattern: "/api/v1/twins/{twin}", Summary: "Delete a fork (the live twin cannot be deleted)",
			Tags: tags, Status: http.StatusNoContent, Errors: []int{404, 409}, Handler: s.deleteTwin},
		{Method: http.MethodPost, Pattern: "/api/v1/twins/{twin}/forks", Summary: "Fork a twin (O(1) copy-on-write snapshot)",
			Tags: tags, Status: http.StatusCreated, Response: twin.Info{}, Errors: []int{400, 404, 415}, Handler: s.forkTwin},
		{Method: http.MethodPost, Pattern: "/api/v1/twins/{twin}/apply",
			Summary: "Create or update every element of a network document in one all-or-nothing transaction",
			Tags:    tags, Request: network.Network{}, Response: ApplyResponse{},
			Errors: []int{400, 404, 409, 413, 415, 422}, Handler: s.apply},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/network",
			Summary: "Export a twin's intended network as one document", Tags: tags,
			Response: network.Network{}, Errors: []int{404}, Handler: s.exportNetwork},
	}
}

func (s *Server) listTwins(w http.ResponseWriter, r *http.Request) error {
	p, err := ParsePage(r)
	if err != nil {
		return err
	}
	all := s.Twins.List()
	slices.SortFunc(all, func(a, b twin.Info) int { return twinOrder(a.ID, b.ID) })
	start := 0
	if p.After != "" {
		for start < len(all) && twinOrder(all[start].ID, p.After) <= 0 {
			start++
		}
	}
	end := min(start+p.Limit, len(all))
	out := List[twin.Info]{Items: all[start:end]}
	if end < len(all) {
		out.NextPageToken = PageToken(all[end-1].ID)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTwin(w http.ResponseWriter, r *http.Request) error {
	t, err := s.twinOf(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t.Info())
}

func (s *Server) deleteTwin(w http.ResponseWriter, r *http.Request) error {
	t, err := s.twinOf(r)
	if err != nil {
		return err
	}
	if err := s.Twins.Delete(r.Context(), t.ID()); err != nil {
		return toError(err, "", "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) forkTwin(w http.ResponseWriter, r *http.Request) error {
	t, err := s.twinOf(r)
	if err != nil {
		return err
	}
	if err := decodeOptionalEmpty(w, r, s.maxBody); err != nil {
		return err
	}
	f, err := s.Twins.Fork(r.Context(), t.ID())
	if err != nil {
		return toError(err, "", "")
	}
	w.Header().Set("Location", "/api/v1/twins/"+url.PathEscape(f.ID()))
	return writeJSON(w, http.StatusCreated, f.Info())
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) error {
	t, err := s.twinOf(r)
	if err != nil {
		return err
	}
	var doc network.Network
	if err := DecodeJSON(w, r, s.maxBody, &doc); err != nil {
		return err
	}
	var results map[string]twin.Result
	rev, err := t.Update(r.Context(), func(tx *twin.Txn) error {
		var err error
		results, err = tx.Apply(&doc)
		return err
	})
	if err != nil {
		return toError(err, "", "")
	}
	resp := ApplyResponse{Twin: t.ID(), Revision: rev, Results: make([]ApplyResult, 0, len(results))}
	add := func(kind twin.Table, id string) {
		resp.Results = append(resp.Results, ApplyResult{Kind: string(kind), ID: id, Result: results[string(kind)+"/"+id]})
	}
	for _, c := range doc.Contexts {
		add(twin.TableContexts, c.ID)
	}
	for _, d := range doc.Devices {
		add(twin.TableDevices, d.ID)
	}
	for _, l := range doc.Links {
		add(twin.TableLinks, l.ID)
	}
	for _, tp := range doc.Topologies {
		add(twin.TableTopologies, tp.ID)
	}
	for _, f := range doc.Flows {
		add(twin.TableFlows, f.ID)
	}
	setRevisionHeader(w, rev)
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) exportNetwork(w http.ResponseWriter, r *http.Request) error {
	t, err := s.twinOf(r)
	if err != nil {
		return err
	}
	var n *network.Network
	_ = t.View(func(rd *twin.Reader) error {
		n = rd.Network()
		setRevisionHeader(w, rd.Revision())
		return nil
	})
	return writeJSON(w, http.StatusOK, n)
}

// twinOrder lists the live twin first, then forks by creation ("fork-2" before
// "fork-10"): shorter IDs first, then lexically.
func twinOrder(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == twin.LiveID:
		return -1
	case b == twin.LiveID:
		return 1
	case len(a) != len(b):
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
