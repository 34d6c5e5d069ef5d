package nbi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// List is a page of a list response. Items come in ascending ID order; pass
// next_page_token as ?page_token= to get the next page (absent on the last page).
type List[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// entity describes the CRUD routes of one twin table. T is the stored record type
// (e.g. twin.Device), N the model type it embeds (network.Device).
type entity[T any, N any] struct {
	table  twin.Table
	one    string // singular noun for summaries
	list   func(r *twin.Reader, o twin.ListOptions) ([]T, string, error)
	get    func(r *twin.Reader, id string) (T, error)
	put    func(tx *twin.Txn, n N, mode twin.Mode, expect uint64) (twin.Result, error)
	del    func(tx *twin.Txn, id string, expect uint64) error
	split  func(T) (N, uint64) // model object and revision of a record
	id     func(N) string
	setID  func(*N, string)
	sample T
}

var (
	listParams = []Param{
		{Name: "limit", In: "query", Type: "integer", Description: "page size, 1 to 1000 (default 100)"},
		{Name: "page_token", In: "query", Description: "next_page_token of the previous page"},
	}
	ifMatchParam = Param{Name: "If-Match", In: "header",
		Description: "entity tag (revision) the object must have, e.g. \"3\""}
)

func (e entity[T, N]) routes(s *Server) []Route {
	base := "/api/v1/twins/{twin}/" + string(e.table)
	tags := []string{string(e.table)}
	var list List[T]
	return []Route{
		{Method: http.MethodGet, Pattern: base, Summary: "List " + string(e.table) + " of a twin", Tags: tags,
			Params: listParams, Response: list, Errors: []int{400, 404}, Handler: e.handleList(s)},
		{Method: http.MethodPost, Pattern: base, Summary: "Create a " + e.one, Tags: tags,
			Request: e.sample, Response: e.sample, Status: http.StatusCreated,
			Errors: []int{400, 404, 409, 413, 415, 422}, Handler: e.handleCreate(s)},
		{Method: http.MethodGet, Pattern: base + "/{id}", Summary: "Get a " + e.one, Tags: tags,
			Response: e.sample, Errors: []int{404}, Handler: e.handleGet(s)},
		{Method: http.MethodPut, Pattern: base + "/{id}", Summary: "Create or replace a " + e.one, Tags: tags,
			Params: []Param{ifMatchParam}, Request: e.sample, Response: e.sample,
			Errors: []int{400, 404, 409, 412, 413, 415, 422}, Handler: e.handlePut(s)},
		{Method: http.MethodDelete, Pattern: base + "/{id}", Summary: "Delete a " + e.one, Tags: tags,
			Params: []Param{ifMatchParam}, Status: http.StatusNoContent,
			Errors: []int{400, 404, 409, 412}, Handler: e.handleDelete(s)},
	}
}

// twinOf resolves the {twin} path parameter.
func (s *Server) twinOf(r *http.Request) (*twin.Twin, error) {
	id, err := PathParam(r, "twin")
	if err != nil {
		return nil, err
	}
	t, err := s.Twins.Get(id)
	if err != nil {
		return nil, Errorf(http.StatusNotFound, "twin-not-found", "Twin not found", "twin", "no twin %q", id)
	}
	return t, nil
}

func setRevisionHeader(w http.ResponseWriter, rev uint64) {
	w.Header().Set("X-Twin-Revision", strconv.FormatUint(rev, 10))
}

func (e entity[T, N]) handleList(s *Server) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		p, err := ParsePage(r)
		if err != nil {
			return err
		}
		var out List[T]
		err = t.View(func(rd *twin.Reader) error {
			items, next, err := e.list(rd, twin.ListOptions{After: p.After, Limit: p.Limit})
			out = List[T]{Items: items, NextPageToken: PageToken(next)}
			setRevisionHeader(w, rd.Revision())
			return err
		})
		if err != nil {
			return err
		}
		if out.Items == nil {
			out.Items = []T{}
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

func (e entity[T, N]) handleGet(s *Server) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		var obj T
		err = t.View(func(rd *twin.Reader) error {
			obj, err = e.get(rd, id)
			setRevisionHeader(w, rd.Revision())
			return err
		})
		if err != nil {
			return toError(err, e.table, id)
		}
		_, rev := e.split(obj)
		w.Header().Set("ETag", ETag(rev))
		return writeJSON(w, http.StatusOK, obj)
	}
}

// decodeBody decodes a record body and returns the model object and the revision the
// body carries (0 if none).
func (e entity[T, N]) decodeBody(s *Server, w http.ResponseWriter, r *http.Request) (N, uint64, error) {
	var rec T
	if err := DecodeJSON(w, r, s.maxBody, &rec); err != nil {
		var zero N
		return zero, 0, err
	}
	n, rev := e.split(rec)
	return n, rev, nil
}

func (e entity[T, N]) write(s *Server, w http.ResponseWriter, r *http.Request, t *twin.Twin, n N, mode twin.Mode, expect uint64) error {
	id := e.id(n)
	var res twin.Result
	var obj T
	rev, err := t.Update(r.Context(), func(tx *twin.Txn) error {
		var err error
		if res, err = e.put(tx, n, mode, expect); err != nil {
			return err
		}
		// Read the object as this transaction wrote it (a later write may follow).
		obj, err = e.get(tx.Reader(), id)
		return err
	})
	if err != nil {
		return toError(err, e.table, id)
	}
	_, orev := e.split(obj)
	setRevisionHeader(w, rev)
	w.Header().Set("ETag", ETag(orev))
	status := http.StatusOK
	if res == twin.Created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/twins/"+url.PathEscape(t.ID())+"/"+string(e.table)+"/"+url.PathEscape(id))
	}
	return writeJSON(w, status, obj)
}

func (e entity[T, N]) handleCreate(s *Server) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		n, rev, err := e.decodeBody(s, w, r)
		if err != nil {
			return err
		}
		if rev != 0 {
			return BadRequest("revision", "revision must not be set when creating a %s", e.one)
		}
		return e.write(s, w, r, t, n, twin.CreateOnly, twin.Any)
	}
}

func (e entity[T, N]) handlePut(s *Server) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		expect, err := ParseIfMatch(r)
		if err != nil {
			return err
		}
		n, rev, err := e.decodeBody(s, w, r)
		if err != nil {
			return err
		}
		switch bodyID := e.id(n); {
		case bodyID == "":
			e.setID(&n, id)
		case bodyID != id:
			return BadRequest("id", "the body's id %q differs from the id %q in the path", bodyID, id)
		}
		if rev != 0 {
			if expect != 0 && rev != expect {
				return BadRequest("revision", "the body's revision %d differs from If-Match %d", rev, expect)
			}
			expect = rev
		}
		if ifMatchAny(r) {
			err := e.write(s, w, r, t, n, twin.UpdateOnly, expect)
			if errors.Is(err, twin.ErrNotFound) {
				return mustExist(e.one, id)
			}
			return err
		}
		return e.write(s, w, r, t, n, twin.Upsert, expect)
	}
}

func (e entity[T, N]) handleDelete(s *Server) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		expect, err := ParseIfMatch(r)
		if err != nil {
			return err
		}
		rev, err := t.Update(r.Context(), func(tx *twin.Txn) error { return e.del(tx, id, expect) })
		if err != nil {
			if ifMatchAny(r) && errors.Is(err, twin.ErrNotFound) {
				return mustExist(e.one, id)
			}
			return toError(err, e.table, id)
		}
		setRevisionHeader(w, rev)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// entityRoutes serves the entities of the network model in every twin.
func entityRoutes(s *Server) []Route {
	var out []Route
	out = append(out, entity[twin.Context, network.Context]{
		table: twin.TableContexts, one: "context",
		list: func(r *twin.Reader, o twin.ListOptions) ([]twin.Context, string, error) { return r.Contexts(o) },
		get:  func(r *twin.Reader, id string) (twin.Context, error) { return r.Context(id) },
		put:  (*twin.Txn).PutContext, del: (*twin.Txn).DeleteContext,
		split: func(o twin.Context) (network.Context, uint64) { return o.Context, o.Revision },
		id:    func(n network.Context) string { return n.ID }, setID: func(n *network.Context, id string) { n.ID = id },
	}.routes(s)...)
	out = append(out, entity[twin.Topology, network.Topology]{
		table: twin.TableTopologies, one: "topology",
		list: func(r *twin.Reader, o twin.ListOptions) ([]twin.Topology, string, error) { return r.Topologies(o) },
		get:  func(r *twin.Reader, id string) (twin.Topology, error) { return r.Topology(id) },
		put:  (*twin.Txn).PutTopology, del: (*twin.Txn).DeleteTopology,
		split: func(o twin.Topology) (network.Topology, uint64) { return o.Topology, o.Revision },
		id:    func(n network.Topology) string { return n.ID }, setID: func(n *network.Topology, id string) { n.ID = id },
	}.routes(s)...)
	out = append(out, entity[twin.Device, network.Device]{
		table: twin.TableDevices, one: "device",
		list: func(r *twin.Reader, o twin.ListOptions) ([]twin.Device, string, error) { return r.Devices(o) },
		get:  func(r *twin.Reader, id string) (twin.Device, error) { return r.Device(id) },
		put:  (*twin.Txn).PutDevice, del: (*twin.Txn).DeleteDevice,
		split: func(o twin.Device) (network.Device, uint64) { return o.Device, o.Revision },
		id:    func(n network.Device) string { return n.ID }, setID: func(n *network.Device, id string) { n.ID = id },
	}.routes(s)...)
	out = append(out, entity[twin.Link, network.Link]{
		table: twin.TableLinks, one: "link",
		list: func(r *twin.Reader, o twin.ListOptions) ([]twin.Link, string, error) { return r.Links(o) },
		get:  func(r *twin.Reader, id string) (twin.Link, error) { return r.Link(id) },
		put:  (*twin.Txn).PutLink, del: (*twin.Txn).DeleteLink,
		split: func(o twin.Link) (network.Link, uint64) { return o.Link, o.Revision },
		id:    func(n network.Link) string { return n.ID }, setID: func(n *network.Link, id string) { n.ID = id },
	}.routes(s)...)
	out = append(out, entity[twin.Flow, network.Flow]{
		table: twin.TableFlows, one: "flow",
		list: func(r *twin.Reader, o twin.ListOptions) ([]twin.Flow, string, error) { return r.Flows(o) },
		get:  func(r *twin.Reader, id string) (twin.Flow, error) { return r.Flow(id) },
		put:  (*twin.Txn).PutFlow, del: (*twin.Txn).DeleteFlow,
		split: func(o twin.Flow) (network.Flow, uint64) { return o.Flow, o.Revision },
		id:    func(n network.Flow) string { return n.ID }, setID: func(n *network.Flow, id string) { n.ID = id },
	}.routes(s)...)
	return out
}
