package nbi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// testRoutes are test-only routes proving internal error text never reaches clients.
func testRoutes(s *nbi.Server) []nbi.Route {
	return []nbi.Route{{Method: http.MethodGet, Pattern: "/api/v1/test/internal", Summary: "test: internal error",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return fmt.Errorf("db password hunter2 leaked")
		}, Access: &nbi.Access{Perm: auth.Read}}, {Method: http.MethodGet, Pattern: "/api/v1/test/panic", Summary: "test: panic",
		Handler: func(w http.ResponseWriter, r *http.Request) error { panic("secret panic value") },
		Access:  &nbi.Access{Perm: auth.Read}}}
}

type env struct {
	t   *testing.T
	srv *nbi.Server
	hs  *httptest.Server
	m   *twin.Manager
	o   nbi.Options
	sec *security
	// as is the user requests are sent as (default admin); "" sends no credentials.
	as string
}

func newEnv(t *testing.T, o nbi.Options) *env {
	t.Helper()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := network.LeafSpine(2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		_, err := tx.Apply(n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	o.Twins = m
	sec := testSecurity(t)
	if o.Auth == nil {
		o.Auth = sec.auth
	}
	if o.Audit == nil {
		o.Audit = sec.store.Ledger()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	o.Routes = append(o.Routes, testRoutes)
	e := &env{t: t, m: m, sec: sec, as: "admin"}
	e.serve(o)
	t.Cleanup(func() {
		e.srv.Close()
		e.hs.Close()
		m.Close()
	})
	return e
}

// serve (re)builds the server with o over the env's twins (a server takes its
// dependencies at construction: tests adding a pipeline or a drift detector build a
// new one).
func (e *env) serve(o nbi.Options) {
	e.t.Helper()
	o.Twins = e.m
	s, err := nbi.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.srv != nil {
		e.srv.Close()
		e.hs.Close()
	}
	e.srv, e.hs, e.o = s, httptest.NewServer(recordRoutes(s.Handler())), o
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.hs.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.as != "" {
		req.Header.Set("Authorization", bearer(e.sec.tokens[e.as]))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
		if hdr[i] == "Authorization" && hdr[i+1] == "" {
			req.Header.Del("Authorization")
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) json(method, path, body string, want int, out any, hdr ...string) resp {
	e.t.Helper()
	r := e.do(method, path, body, hdr...)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d; want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// state returns everything a client can observe of every twin, to assert "untouched".
func (e *env) state() string {
	e.t.Helper()
	var b strings.Builder
	for _, info := range e.m.List() {
		r := e.do("GET", "/api/v1/twins/"+info.ID+"/network", "")
		fmt.Fprintf(&b, "%s@%d:%s\n", info.ID, info.Revision, r.body)
	}
	return b.String()
}

func problem(t *testing.T, r resp) nbi.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != nbi.ProblemContentType {
		t.Fatalf("content type %q; want %q (body %s)", ct, nbi.ProblemContentType, r.body)
	}
	var p nbi.Problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != r.status || p.Title == "" || !strings.HasPrefix(p.Type, "https://") {
		t.Errorf("problem %+v for status %d", p, r.status)
	}
	if p.RequestID == "" || p.RequestID != r.header.Get("X-Request-ID") {
		t.Errorf("problem request_id %q, header %q", p.RequestID, r.header.Get("X-Request-ID"))
	}
	return p
}

const (
	live      = "/api/v1/twins/live"
	fabric    = "spine-0--leaf-0"
	goodLink  = `{"id":"new-link","endpoints":[{"device":"nd1","endpoint":"e1"},{"device":"nd2","endpoint":"e1"}],"capacity_gbps":10}`
	bigDevice = `{"id":"nd1","type":"packet-router","endpoints":[{"id":"e1"}]}`
)

// TestNegative sends every kind of bad request and checks the precise 4xx, the
// offending field and that no twin changed.
func TestNegative(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	fork := e.json("POST", live+"/forks", "", 201, nil)
	_ = fork
	linkRev := func() string {
		var l twin.Link
		e.json("GET", live+"/links/"+fabric, "", 200, &l)
		return fmt.Sprintf(`"%d"`, l.Revision)
	}()
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		field                    string
		detail                   string
	}{
		{"malformed-json", "POST", live + "/devices", `{"id":"x",`, nil, 400, "", "truncated"},
		{"syntax-error", "POST", live + "/devices", `{"id" "x"}`, nil, 400, "", "malformed JSON at byte offset"},
		{"empty-body", "POST", live + "/devices", ``, nil, 400, "", "empty"},
		{"unknown-field", "POST", live + "/devices", `{"id":"x","type":"host","colour":"red"}`, nil, 400, "colour", "unknown field"},
		{"wrong-type", "POST", live + "/devices", `{"id":"x","type":5}`, nil, 400, "type", "must be a string"},
		{"wrong-nested-type", "POST", live + "/links", `{"id":"x","endpoints":[{"device":1}],"capacity_gbps":1}`, nil, 400, "endpoints.device", "must be a string"},
		{"wrong-number-type", "PUT", live + "/links/" + fabric, `{"id":"` + fabric + `","capacity_gbps":"forty"}`, nil, 400, "capacity_gbps", "must be a number"},
		{"not-an-object", "POST", live + "/devices", `[1,2]`, nil, 400, "", "must be a JSON"},
		{"trailing-data", "POST", live + "/devices", `{"id":"x","type":"host"} {"id":"y"}`, nil, 400, "", "after the JSON value"},
		{"wrong-content-type", "POST", live + "/devices", `{"id":"x","type":"host"}`, []string{"Content-Type", "text/plain"}, 415, "Content-Type", "application/json"},
		{"duplicate-id", "POST", live + "/devices", `{"id":"leaf-0","type":"packet-switch"}`, nil, 409, "id", "already exists"},
		{"duplicate-link-id", "POST", live + "/links", `{"id":"` + fabric + `","endpoints":[{"device":"leaf-0","endpoint":"eth1"},{"device":"spine-0","endpoint":"eth1"}],"capacity_gbps":1}`, nil, 409, "id", "already exists"},
		{"invalid-enum", "POST", live + "/devices", `{"id":"x","type":"toaster"}`, nil, 422, "type", "unknown device type"},
		{"invalid-id", "POST", live + "/devices", `{"id":"bad id","type":"host"}`, nil, 422, "id", "invalid character"},
		{"revision-on-create", "POST", live + "/devices", `{"id":"x","type":"host","revision":3}`, nil, 400, "revision", "must not be set"},
		{"missing-device-ref", "POST", live + "/links", `{"id":"x","endpoints":[{"device":"ghost","endpoint":"e1"},{"device":"leaf-0","endpoint":"eth9"}],"capacity_gbps":1}`, nil, 409, "endpoints[0].device", `unknown device "ghost"`},
		{"missing-endpoint-ref", "POST", live + "/links", `{"id":"x","endpoints":[{"device":"leaf-0","endpoint":"eth9"},{"device":"leaf-1","endpoint":"eth9"}],"capacity_gbps":1}`, nil, 409, "endpoints[0].endpoint", `no endpoint "eth9"`},
		{"endpoint-taken", "POST", live + "/links", `{"id":"x","endpoints":[{"device":"leaf-0","endpoint":"eth1"},{"device":"leaf-1","endpoint":"eth1"}],"capacity_gbps":1}`, nil, 409, "endpoints[0]", "already used by link"},
		{"missing-context-ref", "POST", live + "/topologies", `{"id":"t2","context":"nowhere"}`, nil, 409, "context", `unknown context "nowhere"`},
		{"missing-flow-ref", "POST", live + "/flows", `{"id":"f9","src":"h-0-0","dst":"ghost"}`, nil, 409, "dst", `unknown device "ghost"`},
		{"broken-flow-path", "POST", live + "/flows", `{"id":"f9","src":"h-0-0","dst":"h-1-0","path":["spine-0--leaf-0"]}`, nil, 409, "path[0]", "leaves"},
		{"delete-device-in-use", "DELETE", live + "/devices/spine-0", ``, nil, 409, "", `still used by link "spine-0--leaf-0"`},
		{"delete-context-in-use", "DELETE", live + "/contexts/admin", ``, nil, 409, "", "still used by topology"},
		{"delete-unknown", "DELETE", live + "/devices/ghost", ``, nil, 404, "", "not found"},
		{"get-unknown", "GET", live + "/links/ghost", ``, nil, 404, "", "not found"},
		{"unknown-twin", "GET", "/api/v1/twins/fork-999/devices", ``, nil, 404, "twin", `no twin "fork-999"`},
		{"put-id-mismatch", "PUT", live + "/devices/leaf-0", `{"id":"leaf-1","type":"packet-switch"}`, nil, 400, "id", "differs"},
		{"put-stale-if-match", "PUT", live + "/links/" + fabric, `{"id":"` + fabric + `","endpoints":[{"device":"spine-0","endpoint":"eth1"},{"device":"leaf-0","endpoint":"eth1"}],"capacity_gbps":40}`, []string{"If-Match", `"999"`}, 412, "If-Match", "revision is"},
		{"put-stale-body-revision", "PUT", live + "/links/" + fabric, `{"id":"` + fabric + `","endpoints":[{"device":"spine-0","endpoint":"eth1"},{"device":"leaf-0","endpoint":"eth1"}],"capacity_gbps":40,"revision":999}`, nil, 412, "If-Match", "expected 999"},
		{"put-if-match-vs-body", "PUT", live + "/links/" + fabric, `{"id":"` + fabric + `","capacity_gbps":40,"revision":998}`, []string{"If-Match", linkRev}, 400, "revision", "differs from If-Match"},
		{"put-bad-if-match", "PUT", live + "/links/" + fabric, `{"id":"` + fabric + `","capacity_gbps":40}`, []string{"If-Match", `"abc"`}, 400, "If-Match", "entity tag"},
		{"put-invalid-capacity", "PUT", live + "/links/" + fabric, `{"id":"` + fabric + `","endpoints":[{"device":"spine-0","endpoint":"eth1"},{"device":"leaf-0","endpoint":"eth1"}],"capacity_gbps":-1}`, nil, 422, "capacity_gbps", "> 0"},
		{"put-removes-used-endpoint", "PUT", live + "/devices/h-0-0", `{"id":"h-0-0","type":"host"}`, nil, 409, "links[leaf-0--h-0-0].endpoints[1].endpoint", "no endpoint"},
		{"put-if-match-star-missing", "PUT", live + "/devices/nd9", `{"id":"nd9","type":"host"}`, []string{"If-Match", "*"}, 412, "If-Match", "requires an existing device"},
		{"delete-if-match-star-missing", "DELETE", live + "/devices/nd9", ``, []string{"If-Match", "*"}, 412, "If-Match", "requires an existing device"},
		{"delete-stale-if-match", "DELETE", live + "/links/" + fabric, ``, []string{"If-Match", `"999"`}, 412, "If-Match", "revision"},
		{"delete-live", "DELETE", live, ``, nil, 409, "", "cannot be deleted"},
		{"delete-unknown-twin", "DELETE", "/api/v1/twins/fork-77", ``, nil, 404, "twin", "no twin"},
		{"fork-unknown-twin", "POST", "/api/v1/twins/nope/forks", ``, nil, 404, "twin", "no twin"},
		{"fork-unknown-field", "POST", live + "/forks", `{"name":"x"}`, nil, 400, "name", "unknown field"},
		{"apply-dangling", "POST", live + "/apply", `{"devices":[` + bigDevice + `],"links":[{"id":"l-bad","endpoints":[{"device":"nd1","endpoint":"e1"},{"device":"ghost","endpoint":"e1"}],"capacity_gbps":1}]}`, nil, 409, "links[l-bad].endpoints[1].device", `unknown device "ghost"`},
		{"apply-duplicate-in-doc", "POST", live + "/apply", `{"devices":[` + bigDevice + `,` + bigDevice + `]}`, nil, 422, "devices[nd1].id", "duplicate"},
		{"apply-invalid", "POST", live + "/apply", `{"devices":[{"id":"nd1","type":"blender"}]}`, nil, 422, "devices[nd1].type", "unknown device type"},
		{"apply-unknown-field", "POST", live + "/apply", `{"routers":[]}`, nil, 400, "routers", "unknown field"},
		{"apply-wrong-type", "POST", live + "/apply", `{"links":[{"id":"x","capacity_gbps":true}]}`, nil, 400, "links.capacity_gbps", "must be a number"},
		{"bad-limit", "GET", live + "/devices?limit=0", ``, nil, 400, "limit", "from 1 to"},
		{"bad-limit-text", "GET", live + "/devices?limit=ten", ``, nil, 400, "limit", "from 1 to"},
		{"bad-page-token", "GET", live + "/devices?page_token=zzz", ``, nil, 400, "page_token", "not a token"},
		{"bad-twin-page-token", "GET", "/api/v1/twins?page_token=%21", ``, nil, 400, "page_token", "not a token"},
		{"bad-last-event-id", "GET", "/api/v1/events", ``, []string{"Last-Event-ID", "x"}, 400, "Last-Event-ID", "sequence number"},
		{"events-bad-table", "GET", "/api/v1/events?table=devices,,links", ``, nil, 400, "table", "comma-separated"},
		{"events-unknown-twin", "GET", "/api/v1/events?twin=fork-42", ``, nil, 404, "twin", "no twin"},
		{"no-route", "GET", "/api/v1/nothing", ``, nil, 404, "", "no route"},
		{"method-not-allowed", "PATCH", live + "/devices/leaf-0", `{}`, nil, 405, "", "not allowed"},
	}
	// The generic cases again for every entity kind, against an existing object.
	existing := map[string]string{"contexts": "admin", "topologies": "leaf-spine-2x2x1", "devices": "leaf-0", "links": fabric}
	for kind, id := range existing {
		p := live + "/" + kind
		cases = append(cases, []struct {
			name, method, path, body string
			hdr                      []string
			status                   int
			field                    string
			detail                   string
		}{
			{kind + "-malformed", "POST", p, `{"id":`, nil, 400, "", "truncated"},
			{kind + "-unknown-field", "POST", p, `{"id":"z","zzz":1}`, nil, 400, "zzz", "unknown field"},
			{kind + "-wrong-type", "POST", p, `{"id":5}`, nil, 400, "id", "must be a string"},
			{kind + "-duplicate", "POST", p, `{"id":"` + id + `"}`, nil, 409, "id", "already exists"},
			{kind + "-stale-put", "PUT", p + "/" + id, `{"id":"` + id + `"}`, []string{"If-Match", `"12345"`}, 412, "If-Match", "expected 12345"},
			{kind + "-missing", "GET", p + "/nope", ``, nil, 404, "", "not found"},
		}...)
	}
	cases = append(cases, struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		field                    string
		detail                   string
	}{"flows-unknown-field", "POST", live + "/flows", `{"id":"z","hops":[]}`, nil, 400, "hops", "unknown field"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.state()
			r := e.do(c.method, c.path, c.body, c.hdr...)
			if r.status != c.status {
				t.Fatalf("status %d; want %d; body %s", r.status, c.status, r.body)
			}
			p := problem(t, r)
			if p.Field != c.field {
				t.Errorf("field %q; want %q (detail %q)", p.Field, c.field, p.Detail)
			}
			if !strings.Contains(p.Detail, c.detail) {
				t.Errorf("detail %q does not contain %q", p.Detail, c.detail)
			}
			if after := e.state(); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	e := newEnv(t, nbi.Options{MaxBodyBytes: 64})
	before := e.state()
	r := e.do("POST", live+"/apply", `{"devices":[`+bigDevice+`,{"id":"nd2","type":"host","name":"a long name"}]}`)
	if r.status != 413 {
		t.Fatalf("status %d; want 413 (%s)", r.status, r.body)
	}
	problem(t, r)
	if e.state() != before {
		t.Error("state changed")
	}
}

func TestInternalErrorsAreNotLeaked(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, nbi.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, path := range []string{"/api/v1/test/internal", "/api/v1/test/panic"} {
		r := e.do("GET", path, "", "X-Request-ID", "req-"+strings.TrimPrefix(path, "/api/v1/test/"))
		if r.status != 500 {
			t.Fatalf("%s: status %d", path, r.status)
		}
		p := problem(t, r)
		if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "secret") {
			t.Errorf("%s: internal text leaked: %s", path, r.body)
		}
		if !strings.Contains(logs.String(), p.RequestID) {
			t.Errorf("%s: request ID %s not logged", path, p.RequestID)
		}
	}
	if !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "secret panic value") {
		t.Errorf("internal errors not logged: %s", logs.String())
	}
}

// TestCRUD walks the happy paths of every entity route.
func TestCRUD(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	// Contexts.
	var c twin.Context
	r := e.json("POST", live+"/contexts", `{"id":"lab","name":"Lab"}`, 201, &c)
	if c.ID != "lab" || c.Revision == 0 || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, c.Revision) {
		t.Errorf("created context %+v etag %s", c, r.header.Get("ETag"))
	}
	if loc := r.header.Get("Location"); loc != live+"/contexts/lab" {
		t.Errorf("Location %q", loc)
	}
	var cl nbi.List[twin.Context]
	e.json("GET", live+"/contexts", "", 200, &cl)
	if len(cl.Items) != 2 {
		t.Errorf("contexts %+v", cl.Items)
	}
	e.json("PUT", live+"/contexts/lab", `{"name":"Lab 2"}`, 200, &c)
	if c.Name != "Lab 2" || c.ID != "lab" {
		t.Errorf("put context %+v", c)
	}
	// Topologies.
	var tp twin.Topology
	e.json("POST", live+"/topologies", `{"id":"t-lab","context":"lab","device_ids":["leaf-0"]}`, 201, &tp)
	e.json("GET", live+"/topologies/t-lab", "", 200, &tp)
	if tp.Context != "lab" || len(tp.DeviceIDs) != 1 {
		t.Errorf("topology %+v", tp)
	}
	e.json("PUT", live+"/topologies/t-lab", `{"id":"t-lab","context":"lab"}`, 200, &tp)
	var tl nbi.List[twin.Topology]
	e.json("GET", live+"/topologies", "", 200, &tl)
	if len(tl.Items) != 2 {
		t.Errorf("topologies %d", len(tl.Items))
	}
	e.json("DELETE", live+"/topologies/t-lab", "", 204, nil)
	e.json("DELETE", live+"/contexts/lab", "", 204, nil)
	e.json("GET", live+"/contexts/lab", "", 404, nil)
	// Devices and links: create two devices and a link, update the link with If-Match.
	var d twin.Device
	e.json("POST", live+"/devices", bigDevice, 201, &d)
	e.json("PUT", live+"/devices/nd2", `{"type":"packet-router","endpoints":[{"id":"e1"}]}`, 201, &d)
	if d.ID != "nd2" {
		t.Errorf("put-created device %+v", d)
	}
	e.json("GET", live+"/devices/nd1", "", 200, &d)
	var l twin.Link
	e.json("POST", live+"/links", goodLink, 201, &l)
	r = e.json("GET", live+"/links/new-link", "", 200, &l)
	etag := r.header.Get("ETag")
	l.CapacityGbps = 40
	body, _ := json.Marshal(l.Link)
	r = e.json("PUT", live+"/links/new-link", string(body), 200, &l, "If-Match", etag)
	if l.CapacityGbps != 40 || r.header.Get("ETag") == etag {
		t.Errorf("updated link %+v etag %s (was %s)", l, r.header.Get("ETag"), etag)
	}
	// If-Match: * on an existing object is fine.
	e.json("PUT", live+"/links/new-link", string(body), 200, &l, "If-Match", "*")
	body, _ = json.Marshal(l.Link)
	// The old ETag is now stale.
	e.json("PUT", live+"/links/new-link", string(body), 412, nil, "If-Match", etag)
	var ll nbi.List[twin.Link]
	e.json("GET", live+"/links", "", 200, &ll)
	if len(ll.Items) != 7 {
		t.Errorf("links %d; want 7", len(ll.Items))
	}
	// Flows.
	var f twin.Flow
	e.json("POST", live+"/flows", `{"id":"f1","src":"nd1","dst":"nd2","path":["new-link"],"demand_gbps":2}`, 201, &f)
	e.json("GET", live+"/flows/f1", "", 200, &f)
	f = twin.Flow{}
	e.json("PUT", live+"/flows/f1", `{"id":"f1","src":"nd2","dst":"nd1","path":["new-link~r"]}`, 200, &f)
	if f.Src != "nd2" || f.DemandGbps != nil {
		t.Errorf("flow %+v", f)
	}
	var fl nbi.List[twin.Flow]
	e.json("GET", live+"/flows", "", 200, &fl)
	if len(fl.Items) != 1 {
		t.Errorf("flows %d", len(fl.Items))
	}
	e.json("DELETE", live+"/links/new-link", "", 409, nil) // flow uses it
	e.json("DELETE", live+"/flows/f1", "", 204, nil)
	e.json("DELETE", live+"/links/new-link", "", 204, nil, "If-Match", fmt.Sprintf(`"%d"`, l.Revision))
	e.json("DELETE", live+"/devices/nd1", "", 204, nil)
	var dl nbi.List[twin.Device]
	e.json("GET", live+"/devices", "", 200, &dl)
	if len(dl.Items) != 7 {
		t.Errorf("devices %d; want 7", len(dl.Items))
	}
	// Device IDs may contain "/": sent percent-encoded.
	e.json("POST", live+"/devices", `{"id":"rack1/sw1","type":"packet-switch"}`, 201, &d)
	e.json("GET", live+"/devices/rack1%2Fsw1", "", 200, &d)
	if d.ID != "rack1/sw1" {
		t.Errorf("slash ID %+v", d)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	var ids []string
	path := live + "/devices?limit=4"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		var page nbi.List[twin.Device]
		e.json("GET", path, "", 200, &page)
		for _, d := range page.Items {
			ids = append(ids, d.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		path = live + "/devices?limit=4&page_token=" + page.NextPageToken
	}
	want := "[h-0-0 h-1-0 leaf-0 leaf-1 spine-0 spine-1]"
	if fmt.Sprint(ids) != want {
		t.Errorf("ids %v; want %s", ids, want)
	}
	for range 3 {
		e.json("POST", live+"/forks", "", 201, nil)
	}
	var tw nbi.List[twin.Info]
	e.json("GET", "/api/v1/twins?limit=2", "", 200, &tw)
	if len(tw.Items) != 2 || tw.NextPageToken == "" {
		t.Fatalf("twins page %+v", tw)
	}
	var tw2 nbi.List[twin.Info]
	e.json("GET", "/api/v1/twins?limit=2&page_token="+tw.NextPageToken, "", 200, &tw2)
	if len(tw2.Items) != 2 || tw2.NextPageToken != "" || tw2.Items[0].ID == tw.Items[1].ID {
		t.Errorf("second twins page %+v after %+v", tw2, tw)
	}
}

// TestForkStory is the newcomer's story over HTTP: fork, change a link capacity in the
// fork, the parent is unchanged; apply in a fork; delete the fork.
func TestForkStory(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	var info twin.Info
	r := e.json("POST", live+"/forks", "{}", 201, &info)
	if info.Parent != "live" || info.ID == "" || r.header.Get("Location") != "/api/v1/twins/"+info.ID {
		t.Fatalf("fork %+v location %s", info, r.header.Get("Location"))
	}
	fork := "/api/v1/twins/" + info.ID
	var l twin.Link
	e.json("GET", fork+"/links/"+fabric, "", 200, &l)
	l.CapacityGbps = 40
	body, _ := json.Marshal(l.Link)
	e.json("PUT", fork+"/links/"+fabric, string(body), 200, &l, "If-Match", fmt.Sprintf(`"%d"`, l.Revision))
	var lv twin.Link
	e.json("GET", live+"/links/"+fabric, "", 200, &lv)
	if lv.CapacityGbps == 40 || l.CapacityGbps != 40 {
		t.Errorf("live %v fork %v", lv.CapacityGbps, l.CapacityGbps)
	}
	var got twin.Info
	e.json("GET", fork, "", 200, &got)
	if got.Revision != info.Revision+1 || got.ParentRevision != info.ParentRevision {
		t.Errorf("fork info %+v after one write; was %+v", got, info)
	}
	// Apply a document in the fork: results per element, all created.
	var ar nbi.ApplyResponse
	e.json("POST", fork+"/apply", `{"devices":[`+bigDevice+`,{"id":"nd2","type":"host","endpoints":[{"id":"e1"}]}],"links":[`+goodLink+`]}`, 200, &ar)
	if len(ar.Results) != 3 || ar.Results[2].Result != twin.Created || ar.Twin != info.ID {
		t.Errorf("apply %+v", ar)
	}
	e.json("POST", fork+"/apply", `{"devices":[`+bigDevice+`]}`, 200, &ar)
	if ar.Results[0].Result != twin.Unchanged {
		t.Errorf("re-apply %+v", ar)
	}
	var n network.Network
	e.json("GET", fork+"/network", "", 200, &n)
	if len(n.Devices) != 8 || len(n.Links) != 7 {
		t.Errorf("fork network has %d devices %d links", len(n.Devices), len(n.Links))
	}
	e.json("GET", live+"/devices/nd1", "", 404, nil)
	var tl nbi.List[twin.Info]
	e.json("GET", "/api/v1/twins", "", 200, &tl)
	if len(tl.Items) != 2 {
		t.Errorf("twins %+v", tl.Items)
	}
	e.json("DELETE", fork, "", 204, nil)
	e.json("GET", fork, "", 404, nil)
}

func TestEventsSSE(t *testing.T) {
	e := newEnv(t, nbi.Options{Heartbeat: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/events?twin=live", nil)
	req.Header.Set("Authorization", bearer(e.sec.tokens["viewer"]))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	e.json("POST", live+"/devices", bigDevice, 201, nil)
	e.json("POST", live+"/forks", "", 201, nil) // fork event is for the fork: filtered out
	e.json("DELETE", live+"/devices/nd1", "", 204, nil)
	evs := readSSE(t, sc, 2)
	if evs[0].name != "create" || evs[1].name != "remove" {
		t.Errorf("events %+v", evs)
	}
	var ev twin.Event
	if err := json.Unmarshal([]byte(evs[0].data), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Twin != "live" || ev.Table != twin.TableDevices || ev.ID != "nd1" || fmt.Sprint(ev.Seq) != evs[0].id {
		t.Errorf("event %+v id %s", ev, evs[0].id)
	}
	// Resume after the first event with Last-Event-ID: the fork and remove events.
	req2, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/events", nil)
	req2.Header.Set("Authorization", bearer(e.sec.tokens["viewer"]))
	req2.Header.Set("Last-Event-ID", evs[0].id)
	res2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	evs2 := readSSE(t, bufio.NewScanner(res2.Body), 2)
	if evs2[0].name != "create" || !strings.Contains(evs2[0].data, `"table":"twins"`) || evs2[1].id != evs[1].id {
		t.Errorf("resumed %+v", evs2)
	}
	// ?table= keeps only the named tables.
	req3, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/events?table=links", nil)
	req3.Header.Set("Authorization", bearer(e.sec.tokens["viewer"]))
	res3, err := http.DefaultClient.Do(req3)
	if err != nil {
		t.Fatal(err)
	}
	defer res3.Body.Close()
	e.json("POST", live+"/devices", bigDevice, 201, nil)
	e.json("PUT", live+"/links/"+fabric, `{"id":"`+fabric+`","endpoints":[{"device":"spine-0","endpoint":"eth1"},{"device":"leaf-0","endpoint":"eth1"}],"capacity_gbps":7}`, 200, nil)
	evs3 := readSSE(t, bufio.NewScanner(res3.Body), 1)
	if evs3[0].name != "update" || !strings.Contains(evs3[0].data, `"table":"links"`) {
		t.Errorf("table-filtered %+v", evs3)
	}
	// Closing the server ends the stream.
	e.srv.Close()
	for sc.Scan() {
	}
}

type sse struct{ id, name, data string }

func readSSE(t *testing.T, sc *bufio.Scanner, n int) []sse {
	t.Helper()
	done := make(chan []sse, 1)
	go func() {
		var out []sse
		var cur sse
		for len(out) < n && sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.name != "" {
					out = append(out, cur)
				}
				cur = sse{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
		done <- out
	}()
	select {
	case out := <-done:
		if len(out) < n {
			t.Fatalf("got %d events; want %d", len(out), n)
		}
		return out
	case <-time.After(10 * time.Second):
		t.Fatal("timeout waiting for events")
		return nil
	}
}

func TestSystemRoutes(t *testing.T) {
	ready := errors.New("database down")
	e := newEnv(t, nbi.Options{Ready: func(context.Context) error { return ready }})
	e.json("GET", "/healthz", "", 200, nil)
	r := e.do("GET", "/readyz", "")
	if r.status != 503 || strings.Contains(string(r.body), "database down") {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	problem(t, r)
	ready = nil
	e.json("GET", "/readyz", "", 200, nil)
	e.json("POST", live+"/forks", "", 201, nil)
	r = e.do("GET", "/metrics", "")
	for _, want := range []string{
		`twinflow_http_requests_total{code="201",method="POST",route="/api/v1/twins/{twin}/forks"} 1`,
		"twinflow_twins 2", "twinflow_forks 1", "twinflow_forks_created_total 1",
		`twinflow_http_request_duration_seconds_count{method="GET",route="/readyz"} 2`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	mfs, err := e.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() == "twinflow_http_requests_total" {
			series = len(mf.GetMetric())
		}
	}
	if series < 3 {
		t.Errorf("request series %d", series)
	}
	// Request IDs: echoed when valid, generated otherwise.
	r = e.do("GET", "/healthz", "", "X-Request-ID", "abc-123")
	if r.header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("request ID not echoed: %q", r.header.Get("X-Request-ID"))
	}
	r = e.do("GET", "/healthz", "", "X-Request-ID", "bad id\twith tab")
	if id := r.header.Get("X-Request-ID"); len(id) != 16 {
		t.Errorf("generated request ID %q", id)
	}
}
