package nbi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// The RESTCONF routes (issue #15, REQ-COM-01..05, REQ-SLI-01..06): the IETF network
// slice service and RFC 8466 L2VPN, served under /restconf/data. Every request that
// changes the network becomes a service or slice ChangeSet (models/service compiled
// against the live twin) proposed through the pipeline as the caller
// (pipeline.ProposeAs, so approval rules apply): rejected → 409 naming the failed
// checks (violating flows, bottleneck links); approved by a rule → committed in the
// same request; otherwise the change waits for a person and the resource shows
// "twinflow:status": "pending-approval". Errors are RFC 8040 bodies
// (ietf-restconf:errors). Mutations are serialised (one RESTCONF change at a time).

// YANGJSON is the RESTCONF media type.
const YANGJSON = "application/yang-data+json"

const (
	nsRoot    = "/restconf/data/ietf-network-slice-service:network-slice-services"
	nsItem    = nsRoot + "/slice-service={id}"
	l2Root    = "/restconf/data/ietf-l2vpn-svc:l2vpn-svc"
	l2VPNs    = l2Root + "/vpn-services"
	l2VPN     = l2VPNs + "/vpn-service={id}"
	l2Access  = l2Root + "/sites/site={site}/site-network-accesses"
	rcMaxBody = 1 << 20
)

// RestconfErrors is an RFC 8040 error body.
type RestconfErrors struct {
	Errors struct {
		Error []RestconfError `json:"error"`
	} `json:"ietf-restconf:errors"`
}

// RestconfError is one error of an RFC 8040 body.
type RestconfError struct {
	Type    string         `json:"error-type"`
	Tag     string         `json:"error-tag"`
	AppTag  string         `json:"error-app-tag,omitempty"`
	Path    string         `json:"error-path,omitempty"`
	Message string         `json:"error-message,omitempty"`
	Info    map[string]any `json:"error-info,omitempty"`
}

// rcErr is a RESTCONF error answer.
type rcErr struct {
	status int
	e      RestconfError
}

// tagStatus is RFC 8040 §7's mapping of error-tags to statuses.
var tagStatus = map[string]int{"invalid-value": 400, "missing-element": 400, "malformed-message": 400,
	"unknown-element": 400, "bad-element": 400, "too-big": 413, "access-denied": 403, "in-use": 409,
	"data-exists": 409, "data-missing": 409, "resource-denied": 409, "lock-denied": 409,
	"operation-not-supported": 501, "operation-failed": 500, "partial-operation": 500}

func rcError(tag, path, format string, a ...any) *rcErr {
	st := tagStatus[tag]
	if st == 0 {
		st = 400
	}
	typ := "application"
	if tag == "malformed-message" || tag == "too-big" {
		typ = "protocol"
	}
	return &rcErr{status: st, e: RestconfError{Type: typ, Tag: tag, Path: path, Message: fmt.Sprintf(format, a...)}}
}

func notFound(what, id string) *rcErr {
	e := rcError("invalid-value", "", "%s %q does not exist", what, clip(id, 80))
	e.status = http.StatusNotFound
	return e
}

func fromFieldErr(err error) *rcErr {
	var fe *FieldError
	if errors.As(err, &fe) {
		return rcError(fe.Tag, fe.Path, "%s", fe.Msg)
	}
	return rcError("invalid-value", "", "%s", err.Error())
}

func writeRC(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", YANGJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type restconfAPI struct {
	s   *Server
	reg *service.Registry
	mu  sync.Mutex // serialises RESTCONF mutations
	// vpns holds RFC 8466 VPNs until their two accesses make them a service (kept in
	// memory: a vpn-service with fewer than two accesses does not survive a restart).
	vpns map[string]*vpnState
}

type vpnState struct {
	shell VPNShell
	acc   []SiteAccess
}

const maxShells = 1024

func restconfRoutes(s *Server) []Route {
	a := &restconfAPI{s: s, reg: service.DefaultRegistry(), vpns: map[string]*vpnState{}}
	read := &Access{Perm: auth.Read}
	write := &Access{Perm: auth.Orchestrate, MaxBody: rcMaxBody, Expensive: true}
	tags := []string{"restconf"}
	errs := []int{400, 404, 409, 415, 500, 501}
	return []Route{
		{Method: http.MethodGet, Pattern: nsRoot, Summary: "IETF network slice services (RESTCONF)", Tags: tags,
			ContentType: YANGJSON, Errors: errs, Access: read, Handler: a.rc(a.listSlices)},
		{Method: http.MethodPost, Pattern: nsRoot, Summary: "Create a network slice service (RESTCONF; 201 when stored: committed, or waiting for approval)", Tags: tags,
			Status: http.StatusCreated, Errors: errs, Access: write, Handler: a.rc(a.createSlice)},
		{Method: http.MethodGet, Pattern: nsItem, Summary: "A network slice service with its status (RESTCONF)", Tags: tags,
			ContentType: YANGJSON, Errors: errs, Access: read, Handler: a.rc(a.getSlice)},
		{Method: http.MethodPut, Pattern: nsItem, Summary: "Create or replace a network slice service (RESTCONF; 201 created, 204 replaced)", Tags: tags,
			Status: http.StatusNoContent, Errors: errs, Access: write, Handler: a.rc(a.putSlice)},
		{Method: http.MethodDelete, Pattern: nsItem, Summary: "Delete a network slice service (RESTCONF; 204 removed, 202 waiting for approval)", Tags: tags,
			Status: http.StatusNoContent, Errors: errs, Access: write, Handler: a.rc(a.deleteSlice)},
		{Method: http.MethodGet, Pattern: l2VPNs, Summary: "RFC 8466 L2VPN services (RESTCONF)", Tags: tags,
			ContentType: YANGJSON, Errors: errs, Access: read, Handler: a.rc(a.listVPNs)},
		{Method: http.MethodPost, Pattern: l2VPNs, Summary: "Create RFC 8466 vpn-services (empty until two site-network-accesses attach)", Tags: tags,
			Status: http.StatusCreated, Errors: errs, Access: write, Handler: a.rc(a.createVPNs)},
		{Method: http.MethodGet, Pattern: l2VPN, Summary: "An RFC 8466 vpn-service with its attachments and status", Tags: tags,
			ContentType: YANGJSON, Errors: errs, Access: read, Handler: a.rc(a.getVPN)},
		{Method: http.MethodDelete, Pattern: l2VPN, Summary: "Delete an RFC 8466 vpn-service (204 removed, 202 waiting for approval)", Tags: tags,
			Status: http.StatusNoContent, Errors: errs, Access: write, Handler: a.rc(a.deleteVPN)},
		{Method: http.MethodPost, Pattern: l2Access, Summary: "Attach site-network-accesses to VPNs (the second end realises the VPN; 201)", Tags: tags,
			Status: http.StatusCreated, Errors: errs, Access: write, Handler: a.rc(a.putAccesses(false))},
		{Method: http.MethodPut, Pattern: l2Access, Summary: "Replace site-network-accesses (updates a realised VPN; 204)", Tags: tags,
			Status: http.StatusNoContent, Errors: errs, Access: write, Handler: a.rc(a.putAccesses(true))},
	}
}

// restconfSlashes drops one trailing slash of a /restconf path (a habit of WIM
// connectors: ".../vpn-service=<id>/").
func restconfSlashes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > len("/restconf/") && strings.HasPrefix(p, "/restconf/") && strings.HasSuffix(p, "/") {
			u := *r.URL
			u.Path = strings.TrimSuffix(p, "/")
			if u.RawPath != "" {
				u.RawPath = strings.TrimSuffix(u.RawPath, "/")
			}
			r2 := *r
			r2.URL = &u
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// rc adapts a RESTCONF handler: content type checked, errors written as RFC 8040
// bodies.
func (a *restconfAPI) rc(h func(w http.ResponseWriter, r *http.Request) *rcErr) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			if ct := r.Header.Get("Content-Type"); ct != "" {
				mt, _, err := mime.ParseMediaType(ct)
				if err != nil || (mt != YANGJSON && mt != "application/json") {
					e := rcError("invalid-value", "", "Content-Type %q: send %s or application/json", clip(ct, 60), YANGJSON)
					e.status = http.StatusUnsupportedMediaType
					writeRC(w, e.status, errorsBody(e))
					return nil
				}
			}
		}
		if e := h(w, r); e != nil {
			if e.status >= 500 && e.status != http.StatusNotImplemented {
				a.s.log.Error("restconf request failed", "request_id", RequestID(r.Context()), "err", e.e.Message)
			}
			writeRC(w, e.status, errorsBody(e))
		}
		return nil
	}
}

func errorsBody(e *rcErr) RestconfErrors {
	var b RestconfErrors
	b.Errors.Error = []RestconfError{e.e}
	return b
}

func (a *restconfAPI) body(w http.ResponseWriter, r *http.Request) ([]byte, *rcErr) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rcMaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, rcError("too-big", "", "the body exceeds %d bytes", rcMaxBody)
		}
		return nil, rcError("malformed-message", "", "reading the body: %v", err)
	}
	if len(b) == 0 {
		return nil, rcError("malformed-message", "", "an empty body")
	}
	return b, nil
}

func (a *restconfAPI) pipeline() (*pipeline.Service, *rcErr) {
	if a.s.changes == nil {
		e := rcError("operation-failed", "", "this server has no change pipeline")
		e.status = http.StatusServiceUnavailable
		return nil, e
	}
	return a.s.changes, nil
}

// proposerOf is the authenticated caller with its roles (approval rules match them).
func proposerOf(r *http.Request) pipeline.Proposer {
	p := pipeline.Proposer{Name: actorOf(r)}
	if pr := Principal(r); pr != nil {
		for _, role := range pr.Roles {
			p.Roles = append(p.Roles, string(role))
		}
	}
	return p
}

// record reads a live service or slice record (nil when absent).
func (a *restconfAPI) record(table twin.Table, id string) (*twin.Record, error) {
	var out *twin.Record
	err := a.s.Twins.Live().View(func(r *twin.Reader) error {
		rec, err := r.Record(table, id)
		if errors.Is(err, twin.ErrNotFound) {
			return nil
		}
		if err == nil {
			out = &rec
		}
		return err
	})
	return out, err
}

// pending returns the newest change that is validated, approved or committing and
// carries the intent (kind, id).
func (a *restconfAPI) pending(ctx context.Context, kind change.Kind, id string) (*pipeline.Change, error) {
	svc, e := a.pipeline()
	if e != nil {
		return nil, nil
	}
	var best *pipeline.Change
	for _, st := range []change.State{change.StateValidated, change.StateApproved, change.StateCommitting} {
		after := ""
		for {
			list, err := svc.List(ctx, pipeline.ListOptions{State: st, AfterID: after, Limit: 500})
			if err != nil {
				return nil, err
			}
			for _, c := range list {
				cs := c.ChangeSet
				if cs != nil && cs.Kind == kind && len(cs.Intents) == 1 && cs.Intents[0].Name == id &&
					(best == nil || c.Created.After(best.Created)) {
					best = c
				}
			}
			if len(list) < 500 {
				break
			}
			after = list[len(list)-1].ID
		}
	}
	return best, nil
}

// outcome is what a proposal came to.
type outcome struct {
	change *pipeline.Change
	status string // "active" (committed), "pending-approval", "approved" (waiting for a commit)
}

// realize proposes cs as the caller; a rule-approved change is committed.
func (a *restconfAPI) realize(r *http.Request, cs *change.ChangeSet) (outcome, *rcErr) {
	svc, e := a.pipeline()
	if e != nil {
		return outcome{}, e
	}
	ctx := r.Context()
	cs.Author = actorOf(r)
	if a.s.serviceLevel != "" && a.s.serviceLevel.Includes(cs.Level) {
		cs.Level = a.s.serviceLevel
	}
	c, err := svc.ProposeAs(ctx, cs, proposerOf(r))
	if err != nil && (c == nil || c.State == change.StateValidating || c.State == change.StateDraft) {
		if errors.Is(err, pipeline.ErrInvalid) || errors.Is(err, change.ErrInvalid) {
			return outcome{}, rcError("invalid-value", "", "%v", err)
		}
		return outcome{}, rcError("operation-failed", "", "the change could not be proposed")
	}
	switch c.State {
	case change.StateRejected:
		var msgs, names []string
		for _, f := range c.Report.Failed() {
			names = append(names, f.Name)
			msgs = append(msgs, f.Name+": "+f.Message)
		}
		for _, f := range c.Report.Ripple {
			if f.Violates {
				msgs = append(msgs, fmt.Sprintf("flow %s is bottlenecked at %s", f.Flow, strings.Join(f.BottleneckAfter, ", ")))
			}
		}
		e := rcError("resource-denied", "", "rejected by the twin's validation: %s", clip(strings.Join(msgs, "; "), 3000))
		e.e.AppTag = "twinflow:validation-failed"
		e.e.Info = map[string]any{"twinflow:change": c.ID, "twinflow:failed-checks": names, "twinflow:ripple": violating(c.Report)}
		return outcome{}, e
	case change.StateFailed:
		e := rcError("operation-failed", "", "validation could not run (change %s)", c.ID)
		return outcome{}, e
	case change.StateValidated:
		return outcome{change: c, status: "pending-approval"}, nil
	case change.StateApproved:
	default:
		return outcome{change: c, status: string(c.State)}, nil
	}
	cc, err := svc.Commit(ctx, c.ID, actorOf(r), 0)
	if errors.Is(err, pipeline.ErrNoCommitter) {
		return outcome{change: c, status: "approved"}, nil
	}
	if err != nil || cc == nil || cc.State != change.StateCommitted {
		st := "unknown"
		if cc != nil {
			st = string(cc.State)
		}
		e := rcError("operation-failed", "", "commit of change %s ended %s: %v", c.ID, st, err)
		e.e.Info = map[string]any{"twinflow:change": c.ID}
		return outcome{}, e
	}
	return outcome{change: cc, status: string(service.StatusActive)}, nil
}

// violating lists the existing flows a rejected change would push below their SLO.
func violating(rep *change.Report) []map[string]any {
	var out []map[string]any
	if rep == nil {
		return out
	}
	for _, f := range rep.Ripple {
		if f.Violates {
			out = append(out, map[string]any{"flow": f.Flow, "owner": f.Owner, "after-gbps": f.AfterGbps,
				"min-rate-gbps": f.MinRateGbps, "bottleneck-links": f.BottleneckAfter})
		}
	}
	return out
}

func compileErr(err error) *rcErr {
	switch {
	case errors.Is(err, service.ErrUnsatisfiable):
		e := rcError("resource-denied", "", "%v", err)
		e.e.AppTag = "twinflow:unsatisfiable"
		return e
	case errors.Is(err, service.ErrInvalid):
		return rcError("invalid-value", "", "%v", err)
	}
	return rcError("operation-failed", "", "compiling the request failed")
}

func (a *restconfAPI) env(ctx context.Context) (*service.Env, *rcErr) {
	svc, e := a.pipeline()
	if e != nil {
		return nil, e
	}
	env, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		return nil, rcError("operation-failed", "", "reading the live twin failed")
	}
	return env, nil
}

func (a *restconfAPI) answer(w http.ResponseWriter, status int, loc string, o outcome) *rcErr {
	if loc != "" {
		w.Header().Set("Location", loc)
	}
	if o.change != nil {
		w.Header().Set("X-TwinFlow-Change", o.change.ID)
	}
	if o.status != "" {
		w.Header().Set("X-TwinFlow-Status", o.status)
	}
	w.WriteHeader(status)
	return nil
}

// ---- network slices ----

func storedSlice(rec *twin.Record) (*service.Slice, error) {
	var sl service.Slice
	if err := json.Unmarshal(rec.Spec, &sl); err != nil {
		return nil, err
	}
	return &sl, nil
}

// sliceView is a slice as answered: live record and pending change merged.
func (a *restconfAPI) sliceView(ctx context.Context, id string) (*NSSlice, error) {
	rec, err := a.record(twin.TableSlices, id)
	if err != nil {
		return nil, err
	}
	pc, err := a.pending(ctx, change.KindSlice, id)
	if err != nil {
		return nil, err
	}
	var sl *service.Slice
	status := ""
	if rec != nil {
		if sl, err = storedSlice(rec); err != nil {
			return nil, err
		}
		status = rec.Status
	}
	if pc != nil {
		in := pc.ChangeSet.Intents[0]
		switch {
		case strings.HasSuffix(in.Type, ".delete"):
			status = string(service.StatusPendingRemoval)
		case rec != nil:
			status = string(service.StatusUpdating)
		default:
			spec, err := service.SpecOf(in)
			if err != nil {
				return nil, err
			}
			sl, _ = spec.(*service.Slice)
			status = "pending-approval"
			if pc.State != change.StateValidated {
				status = string(pc.State)
			}
		}
	}
	if sl == nil {
		return nil, nil
	}
	v := nsSliceOf(sl)
	v.TFStatus = status
	if pc != nil {
		v.TFChange = pc.ID
	}
	oper := "op-down"
	if rec != nil && (rec.Status == string(service.StatusActive) || rec.Status == string(service.StatusSLAViolated)) {
		oper = "op-up"
	}
	v.Status = &NSStatus{Admin: NSStatusValue{NSModule + ":admin-up"}, Oper: NSStatusValue{NSModule + ":" + oper}}
	return &v, nil
}

func (a *restconfAPI) listSlices(w http.ResponseWriter, r *http.Request) *rcErr {
	ids := map[string]bool{}
	if err := a.s.Twins.Live().View(func(rd *twin.Reader) error {
		recs, _, err := rd.Records(twin.TableSlices, twin.ListOptions{})
		for _, rec := range recs {
			ids[rec.ID] = true
		}
		return err
	}); err != nil {
		return rcError("operation-failed", "", "reading the live twin failed")
	}
	for _, id := range a.pendingIDs(r.Context(), change.KindSlice) {
		ids[id] = true
	}
	out := struct {
		C struct {
			Slices []NSSlice `json:"slice-service"`
		} `json:"ietf-network-slice-service:network-slice-services"`
	}{}
	out.C.Slices = []NSSlice{}
	for _, id := range sortedKeys(ids) {
		v, err := a.sliceView(r.Context(), id)
		if err != nil {
			return rcError("operation-failed", "", "reading slice %s failed", id)
		}
		if v != nil {
			out.C.Slices = append(out.C.Slices, *v)
		}
	}
	writeRC(w, http.StatusOK, out)
	return nil
}

func (a *restconfAPI) pendingIDs(ctx context.Context, kind change.Kind) []string {
	svc, e := a.pipeline()
	if e != nil {
		return nil
	}
	var ids []string
	for _, st := range []change.State{change.StateValidated, change.StateApproved, change.StateCommitting} {
		list, err := svc.List(ctx, pipeline.ListOptions{State: st, Limit: 1000})
		if err != nil {
			continue
		}
		for _, c := range list {
			if c.ChangeSet != nil && c.ChangeSet.Kind == kind && len(c.ChangeSet.Intents) == 1 {
				ids = append(ids, c.ChangeSet.Intents[0].Name)
			}
		}
	}
	return ids
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *restconfAPI) getSlice(w http.ResponseWriter, r *http.Request) *rcErr {
	id, err := PathParam(r, "id")
	if err != nil {
		return rcError("invalid-value", "slice-service", "bad id")
	}
	v, err := a.sliceView(r.Context(), id)
	if err != nil {
		return rcError("operation-failed", "", "reading slice failed")
	}
	if v == nil {
		return notFound("slice-service", id)
	}
	writeRC(w, http.StatusOK, map[string][]NSSlice{NSModule + ":slice-service": {*v}})
	return nil
}

func (a *restconfAPI) createSlice(w http.ResponseWriter, r *http.Request) *rcErr {
	b, e := a.body(w, r)
	if e != nil {
		return e
	}
	slices, err := ParseSliceServices(b)
	if err != nil {
		return fromFieldErr(err)
	}
	if len(slices) != 1 {
		return rcError("operation-not-supported", "slice-service", "one slice-service per request (got %d)", len(slices))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sl := slices[0]
	if e := a.sliceAbsent(r.Context(), sl.ID); e != nil {
		return e
	}
	env, e := a.env(r.Context())
	if e != nil {
		return e
	}
	cs, err := a.reg.CreateSlice(env, sl)
	if err != nil {
		return compileErr(err)
	}
	o, e := a.realize(r, cs)
	if e != nil {
		return e
	}
	return a.answer(w, http.StatusCreated, nsRoot+"/slice-service="+url.PathEscape(sl.ID), o)
}

// sliceAbsent refuses an ID a live or pending slice has.
func (a *restconfAPI) sliceAbsent(ctx context.Context, id string) *rcErr {
	rec, err := a.record(twin.TableSlices, id)
	if err != nil {
		return rcError("operation-failed", "", "reading the live twin failed")
	}
	pc, err := a.pending(ctx, change.KindSlice, id)
	if err != nil {
		return rcError("operation-failed", "", "reading the changes failed")
	}
	if rec != nil || pc != nil {
		return rcError("data-exists", "slice-service", "slice-service %q exists (or a change for it is pending)", id)
	}
	return nil
}

func (a *restconfAPI) putSlice(w http.ResponseWriter, r *http.Request) *rcErr {
	id, err := PathParam(r, "id")
	if err != nil {
		return rcError("invalid-value", "slice-service", "bad id")
	}
	b, e := a.body(w, r)
	if e != nil {
		return e
	}
	slices, err := ParseSliceServices(b)
	if err != nil {
		return fromFieldErr(err)
	}
	if len(slices) != 1 || slices[0].ID != id {
		return rcError("invalid-value", "slice-service/id", "the body holds one slice-service whose id is the URL's %q", clip(id, 80))
	}
	nw := slices[0]
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(twin.TableSlices, id)
	if err != nil {
		return rcError("operation-failed", "", "reading the live twin failed")
	}
	if pc, err := a.pending(r.Context(), change.KindSlice, id); err != nil || pc != nil {
		return rcError("in-use", "slice-service", "a change for slice %q is pending (%s)", id, changeID(pc))
	}
	env, e := a.env(r.Context())
	if e != nil {
		return e
	}
	var cs *change.ChangeSet
	status := http.StatusCreated
	if rec == nil {
		cs, err = a.reg.CreateSlice(env, nw)
	} else {
		old, derr := storedSlice(rec)
		if derr != nil {
			return rcError("operation-failed", "", "the stored slice does not decode")
		}
		status = http.StatusNoContent
		cs, err = a.reg.UpdateSlice(env, old, nw)
	}
	if err != nil {
		return compileErr(err)
	}
	o, e := a.realize(r, cs)
	if e != nil {
		return e
	}
	return a.answer(w, status, nsRoot+"/slice-service="+url.PathEscape(id), o)
}

func changeID(c *pipeline.Change) string {
	if c == nil {
		return ""
	}
	return c.ID
}

func (a *restconfAPI) deleteSlice(w http.ResponseWriter, r *http.Request) *rcErr {
	id, err := PathParam(r, "id")
	if err != nil {
		return rcError("invalid-value", "slice-service", "bad id")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := a.record(twin.TableSlices, id)
	if err != nil {
		return rcError("operation-failed", "", "reading the live twin failed")
	}
	pc, err := a.pending(r.Context(), change.KindSlice, id)
	if err != nil {
		return rcError("operation-failed", "", "reading the changes failed")
	}
	if rec == nil {
		if pc != nil {
			return rcError("in-use", "slice-service", "slice %q is not committed yet; change %s is pending", id, pc.ID)
		}
		return notFound("slice-service", id)
	}
	if pc != nil {
		return rcError("in-use", "slice-service", "a change for slice %q is pending (%s)", id, pc.ID)
	}
	sl, err := storedSlice(rec)
	if err != nil {
		return rcError("operation-failed", "", "the stored slice does not decode")
	}
	env, e := a.env(r.Context())
	if e != nil {
		return e
	}
	cs, err := a.reg.DeleteSlice(env, sl)
	if err != nil {
		return compileErr(err)
	}
	o, e := a.realize(r, cs)
	if e != nil {
		return e
	}
	status := http.StatusNoContent
	if o.status != string(service.StatusActive) {
		status = http.StatusAccepted
	}
	return a.answer(w, status, "", o)
}

// ---- RFC 8466 L2VPN ----

// liveVPN reads a realised VPN (an l2vpn service record).
func (a *restconfAPI) liveVPN(id string) (*service.Service, *twin.Record, error) {
	rec, err := a.record(twin.TableServices, id)
	if err != nil || rec == nil {
		return nil, nil, err
	}
	var s service.Service
	if err := json.Unmarshal(rec.Spec, &s); err != nil {
		return nil, nil, err
	}
	if s.Type != service.L2VPN {
		return nil, nil, nil
	}
	return &s, rec, nil
}

func accessesOf(s *service.Service) []SiteAccess {
	var out []SiteAccess
	for _, ep := range s.Endpoints {
		site, id, _ := strings.Cut(ep.Ref, "/")
		out = append(out, SiteAccess{ID: id, Site: site, VPN: s.ID, Device: ep.Device, Interface: ep.Interface, Gbps: s.Constraints.CapacityGbps})
	}
	return out
}

func (a *restconfAPI) vpnView(ctx context.Context, id string) (*L2VPNService, error) {
	s, rec, err := a.liveVPN(id)
	if err != nil {
		return nil, err
	}
	pc, err := a.pending(ctx, change.KindService, id)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	st := a.vpns[id]
	var shell *vpnState
	if st != nil {
		cp := *st
		cp.acc = append([]SiteAccess(nil), st.acc...)
		shell = &cp
	}
	a.mu.Unlock()
	var v L2VPNService
	var acc []SiteAccess
	switch {
	case s != nil:
		v = L2VPNService{ID: flexString(s.ID), Type: "vpws", Topo: "any-to-any", Customer: s.Name, TFStatus: rec.Status}
		acc = accessesOf(s)
	case shell != nil:
		v = L2VPNService{ID: flexString(id), Type: shell.shell.Type, Topo: shell.shell.Topo, Customer: shell.shell.Customer, TFStatus: string(service.StatusPlanned)}
		acc = shell.acc
	default:
		return nil, nil
	}
	if pc != nil {
		v.TFChange = pc.ID
		switch {
		case strings.HasSuffix(pc.ChangeSet.Intents[0].Type, ".delete"):
			v.TFStatus = string(service.StatusPendingRemoval)
		case s != nil:
			v.TFStatus = string(service.StatusUpdating)
		default:
			v.TFStatus = "pending-approval"
			if pc.State != change.StateValidated {
				v.TFStatus = string(pc.State)
			}
		}
	}
	for _, x := range acc {
		v.Accesses = append(v.Accesses, L2VPNAccess{ID: flexString(x.ID), Site: x.Site, Attachment: &L2Attachment{VPN: flexString(id)},
			Bearer: &L2Bearer{Reference: x.Device + ":" + x.Interface}})
	}
	return &v, nil
}

func (a *restconfAPI) vpnIDs() []string {
	ids := map[string]bool{}
	_ = a.s.Twins.Live().View(func(rd *twin.Reader) error {
		recs, _, err := rd.Records(twin.TableServices, twin.ListOptions{})
		for _, rec := range recs {
			if rec.Kind == string(service.L2VPN) {
				ids[rec.ID] = true
			}
		}
		return err
	})
	a.mu.Lock()
	for id := range a.vpns {
		ids[id] = true
	}
	a.mu.Unlock()
	return sortedKeys(ids)
}

func (a *restconfAPI) listVPNs(w http.ResponseWriter, r *http.Request) *rcErr {
	out := map[string]L2VPNServices{L2Module + ":vpn-services": {Service: []L2VPNService{}}}
	list := out[L2Module+":vpn-services"]
	for _, id := range a.vpnIDs() {
		v, err := a.vpnView(r.Context(), id)
		if err != nil {
			return rcError("operation-failed", "", "reading vpn-service %s failed", id)
		}
		if v != nil {
			list.Service = append(list.Service, *v)
		}
	}
	out[L2Module+":vpn-services"] = list
	writeRC(w, http.StatusOK, out)
	return nil
}

func (a *restconfAPI) getVPN(w http.ResponseWriter, r *http.Request) *rcErr {
	id, err := PathParam(r, "id")
	if err != nil {
		return rcError("invalid-value", "vpn-service", "bad id")
	}
	v, err := a.vpnView(r.Context(), id)
	if err != nil {
		return rcError("operation-failed", "", "reading vpn-service failed")
	}
	if v == nil {
		return notFound("vpn-service", id)
	}
	writeRC(w, http.StatusOK, map[string][]L2VPNService{L2Module + ":vpn-service": {*v}})
	return nil
}

func (a *restconfAPI) createVPNs(w http.ResponseWriter, r *http.Request) *rcErr {
	b, e := a.body(w, r)
	if e != nil {
		return e
	}
	shells, err := ParseVPNServices(b)
	if err != nil {
		return fromFieldErr(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, sh := range shells {
		if a.vpns[sh.ID] != nil {
			return rcError("data-exists", L2Module+":vpn-service", "vpn-service %q exists", sh.ID)
		}
		rec, err := a.record(twin.TableServices, sh.ID)
		if err != nil {
			return rcError("operation-failed", "", "reading the live twin failed")
		}
		if rec != nil {
			return rcError("data-exists", L2Module+":vpn-service", "a service %q exists", sh.ID)
		}
	}
	if len(a.vpns)+len(shells) > maxShells {
		return rcError("resource-denied", "", "%d VPNs are waiting for their accesses (at most %d)", len(a.vpns), maxShells)
	}
	for _, sh := range shells {
		a.vpns[sh.ID] = &vpnState{shell: sh}
	}
	return a.answer(w, http.StatusCreated, l2VPNs+"/vpn-service="+url.PathEscape(shells[0].ID), outcome{status: string(service.StatusPlanned)})
}

func (a *restconfAPI) deleteVPN(w http.ResponseWriter, r *http.Request) *rcErr {
	id, err := PathParam(r, "id")
	if err != nil {
		return rcError("invalid-value", "vpn-service", "bad id")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, _, err := a.liveVPN(id)
	if err != nil {
		return rcError("operation-failed", "", "reading the live twin failed")
	}
	pc, err := a.pending(r.Context(), change.KindService, id)
	if err != nil {
		return rcError("operation-failed", "", "reading the changes failed")
	}
	if pc != nil {
		return rcError("in-use", "vpn-service", "a change for vpn-service %q is pending (%s)", id, pc.ID)
	}
	if s == nil {
		if a.vpns[id] == nil {
			return notFound("vpn-service", id)
		}
		delete(a.vpns, id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	env, e := a.env(r.Context())
	if e != nil {
		return e
	}
	cs, err := a.reg.Delete(env, s)
	if err != nil {
		return compileErr(err)
	}
	o, e := a.realize(r, cs)
	if e != nil {
		return e
	}
	if o.status != string(service.StatusActive) {
		return a.answer(w, http.StatusAccepted, "", o)
	}
	delete(a.vpns, id)
	return a.answer(w, http.StatusNoContent, "", o)
}

func (a *restconfAPI) putAccesses(replace bool) func(w http.ResponseWriter, r *http.Request) *rcErr {
	return func(w http.ResponseWriter, r *http.Request) *rcErr {
		site, err := PathParam(r, "site")
		if err != nil || strings.Contains(site, "/") || len(site) > 128 {
			return rcError("invalid-value", "site", "bad site id")
		}
		b, e := a.body(w, r)
		if e != nil {
			return e
		}
		accs, err := ParseAccesses(site, b)
		if err != nil {
			return fromFieldErr(err)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		// group by VPN; each VPN is one change
		byVPN := map[string][]SiteAccess{}
		var order []string
		for _, x := range accs {
			if byVPN[x.VPN] == nil {
				order = append(order, x.VPN)
			}
			byVPN[x.VPN] = append(byVPN[x.VPN], x)
		}
		if len(order) != 1 {
			return rcError("operation-not-supported", L2Module+":site-network-access", "the accesses of one request attach to one VPN")
		}
		vpn := order[0]
		live, _, err := a.liveVPN(vpn)
		if err != nil {
			return rcError("operation-failed", "", "reading the live twin failed")
		}
		st := a.vpns[vpn]
		if live == nil && st == nil {
			return rcError("data-missing", L2Module+":site-network-access/vpn-attachment/vpn-id", "vpn-service %q does not exist", vpn)
		}
		if pc, err := a.pending(r.Context(), change.KindService, vpn); err != nil || pc != nil {
			return rcError("in-use", "vpn-service", "a change for vpn-service %q is pending (%s)", vpn, changeID(pc))
		}
		var cur []SiteAccess
		shell := VPNShell{ID: vpn, Type: "vpws", Topo: "any-to-any"}
		if st != nil {
			cur, shell = append(cur, st.acc...), st.shell
		}
		if live != nil {
			cur = accessesOf(live)
			shell.Customer = live.Name
		}
		next := append([]SiteAccess(nil), cur...)
		for _, x := range byVPN[vpn] {
			i := -1
			for j, c := range next {
				if c.Site == x.Site && c.ID == x.ID {
					i = j
				}
			}
			switch {
			case i >= 0 && !replace:
				return rcError("data-exists", L2Module+":site-network-access", "site-network-access %q of site %q exists (PUT replaces it)", x.ID, x.Site)
			case i >= 0:
				next[i] = x
			default:
				next = append(next, x)
			}
		}
		if len(next) > 2 {
			return rcError("operation-not-supported", L2Module+":site-network-access", "vpn-service %q would have %d accesses: point-to-point only (multipoint is planned)", vpn, len(next))
		}
		if st == nil {
			st = &vpnState{shell: shell}
		}
		status := http.StatusCreated
		if replace {
			status = http.StatusNoContent
		}
		loc := l2Access
		loc = strings.Replace(loc, "{site}", url.PathEscape(site), 1)
		if len(next) < 2 {
			st.acc = next
			a.vpns[vpn] = st
			return a.answer(w, status, loc, outcome{status: string(service.StatusPlanned)})
		}
		env, e := a.env(r.Context())
		if e != nil {
			return e
		}
		nw := l2vpnService(shell, next)
		var cs *change.ChangeSet
		if live != nil {
			cs, err = a.reg.Update(env, live, nw)
		} else {
			cs, err = a.reg.Create(env, nw)
		}
		if err != nil {
			return compileErr(err)
		}
		o, e := a.realize(r, cs)
		if e != nil {
			return e
		}
		st.acc = next
		a.vpns[vpn] = st
		if o.status == string(service.StatusActive) {
			delete(a.vpns, vpn) // the live record holds it now
		}
		return a.answer(w, status, loc, o)
	}
}
