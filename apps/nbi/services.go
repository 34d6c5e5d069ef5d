package nbi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
)

// The native service, slice and TE path routes (issue #15), read-only:
//
//	GET /api/v1/twins/{twin}/services[/{id}]   service records (spec, status)
//	GET /api/v1/twins/{twin}/slices[/{id}]     slice records
//	GET /api/v1/twins/{twin}/te/paths          the paths services' flows take, with SLOs
//
// Services and slices change through POST /api/v1/changes (kinds service and slice): a
// change that carries only its intent (no device_ops, no flows) is compiled by the
// server against the live twin (compileIntent) — create, update or delete.

// ServiceRecord is a service or slice as stored in a twin.
type ServiceRecord struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Status   string          `json:"status"`
	Spec     json.RawMessage `json:"spec"`
	Revision uint64          `json:"revision"`
}

// ServiceList is a page of ServiceRecords.
type ServiceList struct {
	Items         []ServiceRecord `json:"items"`
	NextPageToken string          `json:"next_page_token,omitempty"`
}

// TEPath is the path one flow of a service takes.
type TEPath struct {
	Flow      string   `json:"flow"`
	Service   string   `json:"service"`
	Owner     string   `json:"owner,omitempty"`
	Src       string   `json:"src"`
	Dst       string   `json:"dst"`
	Path      []string `json:"path"`
	Endpoints string   `json:"endpoints"` // "<i>-<j>": the service's endpoint pair
	Index     int      `json:"index"`     // k of p<k>: the disjoint path number
	// SLO of the flow (rate in Gb/s, latency in ms, isolation), when it has one.
	SLO *change.SLO `json:"slo,omitempty"`
}

// TEPathList is the answer of GET te/paths.
type TEPathList struct {
	Items []TEPath `json:"items"`
}

var serviceFlowRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*)/g[0-9]+/([0-9]+-[0-9]+)/p([0-9]+)$`)

func serviceRoutes(s *Server) []Route {
	tags := []string{"services"}
	read := &Access{Perm: auth.Read}
	page := []Param{{Name: "limit", In: "query", Type: "integer"}, {Name: "page_token", In: "query"}}
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/services", Summary: "Service records of a twin (flow SLO records excluded)",
			Tags: tags, Params: page, Response: ServiceList{}, Errors: []int{400, 404}, Access: read, Handler: s.listRecords(twin.TableServices)},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/services/{id}", Summary: "A service record",
			Tags: tags, Response: ServiceRecord{}, Errors: []int{404}, Access: read, Handler: s.getRecord(twin.TableServices)},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/slices", Summary: "Slice records of a twin",
			Tags: tags, Params: page, Response: ServiceList{}, Errors: []int{400, 404}, Access: read, Handler: s.listRecords(twin.TableSlices)},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/slices/{id}", Summary: "A slice record",
			Tags: tags, Response: ServiceRecord{}, Errors: []int{404}, Access: read, Handler: s.getRecord(twin.TableSlices)},
		{Method: http.MethodGet, Pattern: "/api/v1/twins/{twin}/te/paths", Summary: "TE paths: the path each service flow takes, with its SLO",
			Tags: tags, Params: []Param{{Name: "service", In: "query", Description: "only this service's (or slice member's) paths"}},
			Response: TEPathList{}, Errors: []int{404}, Access: read, Handler: s.tePaths},
	}
}

const sloPrefix = "slo:"

func toServiceRecord(rec twin.Record) ServiceRecord {
	return ServiceRecord{ID: rec.ID, Kind: rec.Kind, Status: rec.Status, Spec: rec.Spec, Revision: rec.Revision}
}

func (s *Server) listRecords(table twin.Table) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		p, err := ParsePage(r)
		if err != nil {
			return err
		}
		out := ServiceList{Items: []ServiceRecord{}}
		err = t.View(func(rd *twin.Reader) error {
			after := p.After
			for len(out.Items) <= p.Limit {
				recs, _, err := rd.Records(table, twin.ListOptions{After: after, Limit: p.Limit + 1})
				if err != nil {
					return err
				}
				for _, rec := range recs {
					if table == twin.TableServices && strings.HasPrefix(rec.ID, sloPrefix) {
						continue
					}
					out.Items = append(out.Items, toServiceRecord(rec))
				}
				if len(recs) < p.Limit+1 {
					break
				}
				after = recs[len(recs)-1].ID
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(out.Items) > p.Limit {
			out.Items = out.Items[:p.Limit]
			out.NextPageToken = PageToken(out.Items[len(out.Items)-1].ID)
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) getRecord(table twin.Table) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.twinOf(r)
		if err != nil {
			return err
		}
		id, err := PathParam(r, "id")
		if err != nil {
			return err
		}
		if strings.Contains(id, ":") {
			return &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Detail: "no service has an ID with ':'"}
		}
		var rec twin.Record
		if err := t.View(func(rd *twin.Reader) error {
			var err error
			rec, err = rd.Record(table, id)
			return err
		}); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, toServiceRecord(rec))
	}
}

func (s *Server) tePaths(w http.ResponseWriter, r *http.Request) error {
	t, err := s.twinOf(r)
	if err != nil {
		return err
	}
	only := r.URL.Query().Get("service")
	if len(only) > 256 {
		return BadRequest("service", "longer than 256 characters")
	}
	out := TEPathList{Items: []TEPath{}}
	err = t.View(func(rd *twin.Reader) error {
		flows, _, err := rd.Flows(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, f := range flows {
			m := serviceFlowRE.FindStringSubmatch(f.ID)
			if m == nil || (only != "" && m[1] != only) {
				continue
			}
			p := TEPath{Flow: f.ID, Service: m[1], Owner: f.Owner, Src: f.Src, Dst: f.Dst, Path: f.Path, Endpoints: m[2]}
			_, _ = fmt.Sscanf(m[3], "%d", &p.Index)
			if p.Path == nil {
				p.Path = []string{}
			}
			if rec, err := rd.Record(twin.TableServices, sloPrefix+f.ID); err == nil {
				var slo change.SLO
				if json.Unmarshal(rec.Spec, &slo) == nil {
					p.SLO = &slo
				}
			}
			out.Items = append(out.Items, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// compileIntent compiles a service or slice ChangeSet that carries only its intent
// (no device operations, no flows) against the live twin: a service or slice intent
// creates it (or updates it when the live twin has it), a ".delete" intent removes
// the live one (its spec needs only the id). Other ChangeSets are returned unchanged.
func (s *Server) compileIntent(ctx context.Context, cs *change.ChangeSet) (*change.ChangeSet, error) {
	if (cs.Kind != change.KindService && cs.Kind != change.KindSlice) || len(cs.DeviceOps) > 0 || !cs.Twin.Empty() || len(cs.Intents) != 1 {
		return cs, nil
	}
	if s.changes == nil {
		return cs, nil
	}
	invalid := func(format string, a ...any) error {
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid change", Field: "intents[0]", Detail: fmt.Sprintf(format, a...)}
	}
	in := cs.Intents[0]
	env, err := s.changes.ServiceEnv(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	reg := service.DefaultRegistry()
	live := func(table twin.Table, id string, v any) (bool, error) {
		var rec twin.Record
		err := s.Twins.Live().View(func(rd *twin.Reader) error {
			var err error
			rec, err = rd.Record(table, id)
			return err
		})
		if errors.Is(err, twin.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return true, json.Unmarshal(rec.Spec, v)
	}
	var out *change.ChangeSet
	switch in.Type {
	case service.IntentService, service.IntentSlice:
		if in.Type == service.IntentService && cs.Kind != change.KindService || in.Type == service.IntentSlice && cs.Kind != change.KindSlice {
			return nil, invalid("a %s change carries a %s intent", cs.Kind, in.Type)
		}
		if in.Type == service.IntentService {
			nw, err := service.DecodeService(in.Spec)
			if err != nil {
				return nil, invalid("%v", err)
			}
			var old service.Service
			ok, err := live(twin.TableServices, nw.ID, &old)
			if err != nil {
				return nil, err
			}
			if ok {
				out, err = reg.Update(env, &old, nw)
			} else {
				out, err = reg.Create(env, nw)
			}
			if err != nil {
				return nil, invalid("%v", err)
			}
		} else {
			nw, err := service.DecodeSlice(in.Spec)
			if err != nil {
				return nil, invalid("%v", err)
			}
			var old service.Slice
			ok, err := live(twin.TableSlices, nw.ID, &old)
			if err != nil {
				return nil, err
			}
			if ok {
				out, err = reg.UpdateSlice(env, &old, nw)
			} else {
				out, err = reg.CreateSlice(env, nw)
			}
			if err != nil {
				return nil, invalid("%v", err)
			}
		}
	case service.IntentServiceDelete, service.IntentSliceDelete:
		var ref struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(in.Spec, &ref); err != nil || ref.ID == "" {
			return nil, invalid("a %s intent's spec names the id: {\"id\": \"...\"}", in.Type)
		}
		if in.Type == service.IntentServiceDelete {
			var old service.Service
			ok, err := live(twin.TableServices, ref.ID, &old)
			if err != nil {
				return nil, err
			}
			if !ok || strings.Contains(ref.ID, ":") {
				return nil, invalid("service %q does not exist in the live twin", ref.ID)
			}
			if out, err = reg.Delete(env, &old); err != nil {
				return nil, invalid("%v", err)
			}
		} else {
			var old service.Slice
			ok, err := live(twin.TableSlices, ref.ID, &old)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, invalid("slice %q does not exist in the live twin", ref.ID)
			}
			if out, err = reg.DeleteSlice(env, &old); err != nil {
				return nil, invalid("%v", err)
			}
		}
	default:
		return nil, invalid("intent type %q (one of service, service.delete, slice, slice.delete)", in.Type)
	}
	if cs.Kind != out.Kind {
		return nil, invalid("a %s intent makes a %s change, not %s", in.Type, out.Kind, cs.Kind)
	}
	out.ID, out.Comment, out.RequestID, out.Author = cs.ID, cs.Comment, cs.RequestID, cs.Author
	if cs.Label != "" {
		out.Label = cs.Label
	}
	if cs.Level != "" {
		out.Level = cs.Level
	}
	return out, nil
}
