package nbi_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/twin"
)

var (
	hitMu sync.Mutex
	hits  = map[string]bool{} // "METHOD pattern" served by any test
)

// recordRoutes notes the route pattern of every request the tests send.
func recordRoutes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rctx := chi.NewRouteContext()
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		h.ServeHTTP(w, r)
		if p := rctx.RoutePattern(); p != "" {
			hitMu.Lock()
			hits[r.Method+" "+p] = true
			hitMu.Unlock()
		}
	})
}

// TestMain fails the run if a full run of the tests left a route untested.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		mgr, _ := twin.NewManager(twin.Options{})
		dir, _ := os.MkdirTemp("", "nbi-main-")
		defer os.RemoveAll(dir)
		sec, err := newSecurity(dir)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		defer sec.store.Close()
		s, err := nbi.New(nbi.Options{Twins: mgr, Auth: sec.auth})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		var missing []string
		for _, rt := range s.Routes() {
			if !hits[rt.Method+" "+rt.Pattern] {
				missing = append(missing, rt.Method+" "+rt.Pattern)
			}
		}
		if len(missing) > 0 {
			fmt.Printf("FAIL: routes no test exercised:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

// TestOpenAPIInSync compares the routes chi serves with the paths of the served
// OpenAPI document, both ways.
func TestOpenAPIInSync(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
		Comp    struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	e.json("GET", "/api/v1/openapi.json", "", 200, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			if op["summary"] == "" || op["responses"] == nil || op["operationId"] == "" {
				t.Errorf("%s %s: incomplete operation %v", method, path, op)
			}
		}
	}
	routed := map[string]bool{}
	err := chi.Walk(e.srv.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is served but not documented", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("route %s is documented but not served", k)
		}
	}
	if len(routed) < 30 {
		t.Errorf("only %d routes", len(routed))
	}
	// Every $ref resolves.
	b, _ := json.Marshal(doc.Paths)
	refs := strings.Split(string(b), `"$ref":"#/components/schemas/`)
	for _, r := range refs[1:] {
		name := r[:strings.IndexByte(r, '"')]
		if _, ok := doc.Comp.Schemas[name]; !ok {
			t.Errorf("dangling $ref %s", name)
		}
	}
	for _, want := range []string{"Device", "DeviceList", "Link", "Problem", "Network", "ApplyResponse", "Info"} {
		if _, ok := doc.Comp.Schemas[want]; !ok {
			t.Errorf("schema %s missing (have %v)", want, keys(doc.Comp.Schemas))
		}
	}
	// The Device schema inlines the embedded network.Device fields and the revision.
	dev, _ := doc.Comp.Schemas["Device"].(map[string]any)
	props, _ := dev["properties"].(map[string]any)
	for _, f := range []string{"id", "type", "endpoints", "revision"} {
		if _, ok := props[f]; !ok {
			t.Errorf("Device schema lacks %q", f)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
