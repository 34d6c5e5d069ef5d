package nbi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// The change pipeline routes:
//
//	POST /api/v1/changes                     propose a ChangeSet (JSON or YAML body): stored,
//	                                         validated in a fork; 201 with the change
//	GET  /api/v1/changes                     list (?state=, ?limit=, ?page_token=)
//	GET  /api/v1/changes/{id}                the change, its report and transitions
//	GET  /api/v1/changes/{id}/diff           dry run: per-device SetRequests and diffs
//	POST /api/v1/changes/{id}/validate       re-validate against the current live twin
//	POST /api/v1/changes/{id}/approve        approve (a different user than the author)
//	POST /api/v1/changes/{id}/commit         {"confirm_timeout": "60s"} (optional)
//	POST /api/v1/changes/{id}/confirm        confirm a commit in its window
//	POST /api/v1/changes/{id}/rollback       {"reason": "..."} (optional)
//	GET  /api/v1/drift                       devices whose running config differs from the intent
//	POST /api/v1/drift/{device}/reconcile    propose the change pushing the intent back (201)
//	POST /api/v1/drift/{device}/adopt        propose the change adopting the device's config (201)
//
// The acting user is the authenticated caller (never a header or a body field: a
// ChangeSet's author is overwritten with it). Every transition is an event (table "changes") on the SSE
// stream.

// ActorHeader was the acting user before authentication existed; it is ignored.
const ActorHeader = "X-TwinFlow-User"

// DriftList is the response of GET /drift.
type DriftList struct {
	Items []*pipeline.Drift `json:"items"`
}

// CommitRequest is the optional body of POST /changes/{id}/commit.
type CommitRequest struct {
	// ConfirmTimeout opens a confirmed-commit window (Go duration, e.g. "60s"); empty
	// or "0s" confirms as soon as every device is verified.
	ConfirmTimeout string `json:"confirm_timeout,omitempty"`
}

// RollbackRequest is the optional body of POST /changes/{id}/rollback.
type RollbackRequest struct {
	Reason string `json:"reason,omitempty"`
}

// ChangeList is the response of GET /changes.
type ChangeList struct {
	Items         []*pipeline.Change `json:"items"`
	NextPageToken string             `json:"next_page_token,omitempty"`
}

// DeviceDiff is one device of GET /changes/{id}/diff.
type DeviceDiff struct {
	Device string            `json:"device"`
	Ops    []change.Op       `json:"ops"`
	Lines  []change.DiffLine `json:"diff"`
	// DeviceLines diff the device's running configuration before and after the change
	// (old → new values; for a reconcile, what it reverts); DeviceError says why they
	// are missing. Both empty when the server reads no devices.
	DeviceLines []change.DiffLine `json:"device_diff,omitempty"`
	DeviceError string            `json:"device_error,omitempty"`
	// SetRequest is the gNMI SetRequest in protobuf JSON (values are JSON_IETF,
	// base64-encoded as protobuf JSON encodes bytes).
	SetRequest json.RawMessage `json:"set_request"`
}

// ChangeDiff is the response of GET /changes/{id}/diff.
type ChangeDiff struct {
	Change  string       `json:"change"`
	Devices []DeviceDiff `json:"devices"`
}

func changeRoutes(s *Server) []Route {
	tags := []string{"changes"}
	actor := Param{Name: ActorHeader, In: "header", Description: "ignored: the acting user is the authenticated caller"}
	c := &changeAPI{s: s}
	return []Route{
		{Method: http.MethodPost, Pattern: "/api/v1/changes", Summary: "Propose a change: stored, validated in a fork of the live twin",
			Tags: tags, Params: []Param{actor}, Request: change.ChangeSet{}, Response: pipeline.Change{}, Status: http.StatusCreated,
			Errors: []int{400, 409, 413, 422, 503}, Handler: c.propose},
		{Method: http.MethodGet, Pattern: "/api/v1/changes", Summary: "List changes",
			Tags: tags, Params: []Param{{Name: "state", In: "query", Description: "only changes in this state"},
				{Name: "limit", In: "query", Type: "integer"}, {Name: "page_token", In: "query"}},
			Response: ChangeList{}, Errors: []int{400, 503}, Handler: c.list},
		{Method: http.MethodGet, Pattern: "/api/v1/changes/{id}", Summary: "A change with its report, commit record, transitions and predicted-vs-observed record",
			Tags: tags, Response: ChangeView{}, Errors: []int{404, 503}, Handler: c.get},
		{Method: http.MethodGet, Pattern: "/api/v1/changes/{id}/diff", Summary: "Dry run: per-device gNMI SetRequests and configuration diffs",
			Tags: tags, Response: ChangeDiff{}, Errors: []int{404, 422, 503}, Handler: c.diff},
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/validate", Summary: "Re-validate a change against the current live twin",
			Tags: tags, Params: []Param{actor}, Response: pipeline.Change{}, Errors: []int{404, 409, 503}, Handler: c.action("validate")},
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/approve", Summary: "Approve a validated change",
			Tags: tags, Params: []Param{actor}, Response: pipeline.Change{}, Errors: []int{403, 404, 409, 503}, Handler: c.action("approve")},
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/commit", Summary: "Commit an approved change to the devices",
			Tags: tags, Params: []Param{actor}, Request: CommitRequest{}, Response: pipeline.Change{}, Errors: []int{400, 404, 409, 503}, Handler: c.action("commit")},
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/confirm", Summary: "Confirm a commit in its confirm window",
			Tags: tags, Params: []Param{actor}, Response: pipeline.Change{}, Errors: []int{404, 409, 503}, Handler: c.action("confirm")},
		{Method: http.MethodGet, Pattern: "/api/v1/drift", Summary: "Devices whose running configuration differs from the intended one",
			Tags: tags, Response: DriftList{}, Errors: []int{503}, Handler: c.listDrift},
		{Method: http.MethodPost, Pattern: "/api/v1/drift/{device}/reconcile", Summary: "Propose the change that pushes the intended configuration back to a drifted device",
			Tags: tags, Params: []Param{actor}, Response: pipeline.Change{}, Status: http.StatusCreated, Errors: []int{404, 409, 503}, Handler: c.driftAction(false)},
		{Method: http.MethodPost, Pattern: "/api/v1/drift/{device}/adopt", Summary: "Propose the change that adopts a drifted device's running configuration as the intent",
			Tags: tags, Params: []Param{actor}, Response: pipeline.Change{}, Status: http.StatusCreated, Errors: []int{404, 409, 503}, Handler: c.driftAction(true)},
		{Method: http.MethodPost, Pattern: "/api/v1/changes/{id}/rollback", Summary: "Roll back a commit in its confirm window",
			Tags: tags, Params: []Param{actor}, Request: RollbackRequest{}, Response: pipeline.Change{}, Errors: []int{400, 404, 409, 503}, Handler: c.action("rollback")},
	}
}

type changeAPI struct{ s *Server }

func (c *changeAPI) svc() (*pipeline.Service, error) {
	if c.s.changes == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "no-pipeline", Title: "Change pipeline not available",
			Detail: "this server has no change pipeline"}
	}
	return c.s.changes, nil
}

// actorOf is the authenticated caller's (normalised) name.
func actorOf(r *http.Request) string {
	if p := Principal(r); p != nil {
		return p.Name
	}
	return "anonymous"
}

// pipelineError maps pipeline errors to problems.
func pipelineError(err error) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, pipeline.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Type: "forbidden", Title: "Forbidden", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrStale):
		return &Error{Status: http.StatusConflict, Type: "stale", Title: "Change no longer validates against the live twin", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrBusy):
		return &Error{Status: http.StatusConflict, Type: "busy", Title: "An interacting change is in flight", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrUncertified):
		return &Error{Status: http.StatusConflict, Type: "uncertified", Title: "The push policy requires a certification of this change", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrOutsideWindow):
		return &Error{Status: http.StatusConflict, Type: "outside-window", Title: "Outside every maintenance window", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrState):
		return &Error{Status: http.StatusConflict, Type: "wrong-state", Title: "Operation not allowed in the change's state", Detail: err.Error()}
	case errors.Is(err, change.ErrInvalid), errors.Is(err, pipeline.ErrInvalid):
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid change", Detail: err.Error()}
	case errors.Is(err, pipeline.ErrNoCommitter):
		return &Error{Status: http.StatusServiceUnavailable, Type: "no-committer", Title: "No physical network attached", Detail: err.Error()}
	}
	return err
}

func (c *changeAPI) propose(w http.ResponseWriter, r *http.Request) error {
	svc, err := c.svc()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.s.MaxBodyBytes()))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return tooLarge(c.s.MaxBodyBytes())
		}
		return BadRequest("", "reading the body: %v", err)
	}
	// a service or slice change carrying only its intent is compiled first (services.go)
	cs, err := change.DecodeUnchecked(body)
	if err == nil {
		if cs, err = c.s.compileIntent(r.Context(), cs); err == nil {
			err = cs.Validate()
		}
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid change", Detail: err.Error()}
	}
	cs.Author = actorOf(r)                                   // the caller, whatever the body says
	ch, err := svc.ProposeAs(r.Context(), cs, proposerOf(r)) // approval rules see the caller's roles
	// A stored proposal is answered with its final validation state; one whose final
	// transition failed (still validating) is an error, never a 201 (issue #13).
	if err != nil && (ch == nil || ch.State == change.StateValidating || ch.State == change.StateDraft) {
		return pipelineError(err)
	}
	return writeJSON(w, http.StatusCreated, ch)
}

func (c *changeAPI) list(w http.ResponseWriter, r *http.Request) error {
	svc, err := c.svc()
	if err != nil {
		return err
	}
	p, err := ParsePage(r)
	if err != nil {
		return err
	}
	o := pipeline.ListOptions{AfterID: p.After, Limit: p.Limit + 1}
	if st := r.URL.Query().Get("state"); st != "" {
		s, err := change.ParseState(st)
		if err != nil {
			return BadRequest("state", "unknown state %q", st)
		}
		o.State = s
	}
	items, err := svc.List(r.Context(), o)
	if err != nil {
		return pipelineError(err)
	}
	out := ChangeList{Items: items}
	if len(items) > p.Limit {
		out.Items = items[:p.Limit]
		out.NextPageToken = PageToken(out.Items[len(out.Items)-1].ID)
	}
	if out.Items == nil {
		out.Items = []*pipeline.Change{}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (c *changeAPI) get(w http.ResponseWriter, r *http.Request) error {
	svc, err := c.svc()
	if err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	ch, err := svc.Get(r.Context(), id)
	if err != nil {
		return pipelineError(err)
	}
	view := ChangeView{Change: ch}
	if c.s.monitor != nil {
		// The predicted-vs-observed record, once the committed change has settled.
		if cmp, err := c.s.monitor.Comparison(r.Context(), id); err == nil {
			view.PredictedVsObserved = cmp
		}
	}
	return writeJSON(w, http.StatusOK, view)
}

// ChangeView is the response of GET /changes/{id}: the change and, for a committed
// change that has settled, what the twin predicted versus what telemetry measured
// (docs/monitoring.md).
type ChangeView struct {
	*pipeline.Change
	PredictedVsObserved *monitor.Comparison `json:"predicted_vs_observed,omitempty"`
}

func (c *changeAPI) diff(w http.ResponseWriter, r *http.Request) error {
	svc, err := c.svc()
	if err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	dd, err := svc.Diff(r.Context(), id)
	if err != nil {
		return pipelineError(err)
	}
	out := ChangeDiff{Change: id, Devices: []DeviceDiff{}}
	for _, d := range dd {
		req, err := setRequest(d.Device, d.Ops)
		if err != nil {
			return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid change", Detail: err.Error()}
		}
		b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(req)
		if err != nil {
			return err
		}
		out.Devices = append(out.Devices, DeviceDiff{Device: d.Device, Ops: d.Ops, Lines: d.Lines,
			DeviceLines: d.DeviceLines, DeviceError: d.DeviceError, SetRequest: b})
	}
	return writeJSON(w, http.StatusOK, out)
}

// setRequest builds the gNMI SetRequest of one device's operations.
func setRequest(dev string, ops []change.Op) (*gpb.SetRequest, error) {
	req := &gpb.SetRequest{Prefix: &gpb.Path{Target: dev}}
	for _, op := range ops {
		p, err := ocpath.Parse(op.Path)
		if err != nil {
			return nil, err
		}
		gp := &gpb.Path{}
		for _, e := range p {
			gp.Elem = append(gp.Elem, &gpb.PathElem{Name: e.Name, Key: e.Key})
		}
		switch op.Op {
		case change.OpDelete:
			req.Delete = append(req.Delete, gp)
		case change.OpUpdate, change.OpReplace:
			u := &gpb.Update{Path: gp, Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: op.Value}}}
			if op.Op == change.OpUpdate {
				req.Update = append(req.Update, u)
			} else {
				req.Replace = append(req.Replace, u)
			}
		}
	}
	return req, nil
}

func (c *changeAPI) action(name string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		svc, err := c.svc()
		if err != nil {
			return err
		}
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		ctx, actor := r.Context(), actorOf(r)
		var ch *pipeline.Change
		switch name {
		case "validate":
			if err := decodeOptionalEmpty(w, r, c.s.MaxBodyBytes()); err != nil {
				return err
			}
			ch, err = svc.Validate(ctx, id, actor)
		case "approve":
			if err := decodeOptionalEmpty(w, r, c.s.MaxBodyBytes()); err != nil {
				return err
			}
			ch, err = svc.Approve(ctx, id, actor)
		case "confirm":
			if err := decodeOptionalEmpty(w, r, c.s.MaxBodyBytes()); err != nil {
				return err
			}
			ch, err = svc.Confirm(ctx, id, actor)
		case "commit":
			var req CommitRequest
			if r.ContentLength != 0 {
				if err := DecodeJSON(w, r, c.s.MaxBodyBytes(), &req); err != nil {
					return err
				}
			}
			var d time.Duration
			if req.ConfirmTimeout != "" {
				d, err = time.ParseDuration(req.ConfirmTimeout)
				if err != nil || d < 0 {
					return BadRequest("confirm_timeout", "confirm_timeout must be a non-negative duration such as \"60s\", got %q", req.ConfirmTimeout)
				}
			}
			ch, err = svc.Commit(ctx, id, actor, d)
		case "rollback":
			var req RollbackRequest
			if r.ContentLength != 0 {
				if err := DecodeJSON(w, r, c.s.MaxBodyBytes(), &req); err != nil {
					return err
				}
			}
			ch, err = svc.Rollback(ctx, id, actor, req.Reason)
		}
		// A commit that rolled back is a completed request: the change says so. A change
		// still committing after an error did not reach the state asked for: an error,
		// never a 200 that did nothing (issue #13).
		if err != nil && (ch == nil || !ch.State.Terminal() || errors.Is(err, pipeline.ErrState) || errors.Is(err, pipeline.ErrForbidden) || errors.Is(err, pipeline.ErrNoCommitter)) {
			return pipelineError(err)
		}
		if err != nil {
			c.s.log.Info("change operation ended the change", "change", id, "op", name, "state", ch.State, "err", err)
		}
		return writeJSON(w, http.StatusOK, ch)
	}
}

func (c *changeAPI) drift() (*pipeline.DriftDetector, error) {
	if c.s.drift == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "no-drift-detector", Title: "Drift detection not available",
			Detail: "this server has no drift detector"}
	}
	return c.s.drift, nil
}

func (c *changeAPI) listDrift(w http.ResponseWriter, r *http.Request) error {
	det, err := c.drift()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, DriftList{Items: det.Current()})
}

func (c *changeAPI) driftAction(adopt bool) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		det, err := c.drift()
		if err != nil {
			return err
		}
		dev, err := PathParam(r, "device")
		if err != nil {
			return err
		}
		if err := decodeOptionalEmpty(w, r, c.s.MaxBodyBytes()); err != nil {
			return err
		}
		if det.Get(dev) == nil {
			return &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Detail: "device " + dev + " is not drifting"}
		}
		var ch *pipeline.Change
		if adopt {
			ch, err = det.Adopt(r.Context(), dev, actorOf(r))
		} else {
			ch, err = det.Reconcile(r.Context(), dev, actorOf(r))
		}
		if err != nil && ch == nil {
			return pipelineError(err)
		}
		return writeJSON(w, http.StatusCreated, ch)
	}
}
