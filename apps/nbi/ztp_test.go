package nbi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/apps/ztp"
	"github.com/twinflow/twinflow/twin"
)

// TestZTPRouteAccess: the ZTP routes' decisions (issue 17 item 4, docs/ztp.md): only
// the device role (and admins) register, the device role reads nothing, roles are
// stored by admins; and the routes are in the OpenAPI document. Without a change
// pipeline, registration answers 503 after authorisation.
func TestZTPRouteAccess(t *testing.T) {
	sec := testSecurity(t)
	ctx := context.Background()
	if _, err := sec.auth.CreateUser(ctx, "provisioner", []auth.Role{auth.Device}, ""); err != nil {
		t.Fatal(err)
	}
	devTok, _, err := sec.auth.CreateToken(ctx, "provisioner", "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	z := ztp.New(mgr, nil, sec.store.ZTP(), nil, nil)
	s, err := nbi.New(nbi.Options{Twins: mgr, Auth: sec.auth, Routes: []nbi.RouteGroup{nbi.ZTPRoutes(z)}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	do := func(method, path, token, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	reg := `{"name":"leaf-1","address":"127.0.0.1:9339","ports":["eth1"]}`
	role := `{"name":"leaf","match":{"name_prefix":"leaf-"},"template":"- op: update\n  path: /system/config/hostname\n  value: x\n"}`
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"POST", "/api/v1/ztp/register", devTok, reg, http.StatusServiceUnavailable},
		{"POST", "/api/v1/ztp/register", sec.tokens["viewer"], reg, http.StatusForbidden},
		{"POST", "/api/v1/ztp/register", sec.tokens["operator"], reg, http.StatusForbidden},
		{"POST", "/api/v1/ztp/register", "", reg, http.StatusUnauthorized},
		{"POST", "/api/v1/ztp/register", devTok, `{"name":"a b"}`, http.StatusBadRequest},
		{"GET", "/api/v1/ztp/devices", devTok, "", http.StatusForbidden},
		{"GET", "/api/v1/ztp/roles", devTok, "", http.StatusForbidden},
		{"POST", "/api/v1/ztp/roles", sec.tokens["engineer"], role, http.StatusForbidden},
		{"POST", "/api/v1/ztp/roles", sec.tokens["admin"], role, http.StatusCreated},
		{"POST", "/api/v1/ztp/roles", sec.tokens["admin"], `{"name":"x","template":"{{ .Name "}`, http.StatusBadRequest},
		{"GET", "/api/v1/ztp/roles", sec.tokens["viewer"], "", http.StatusOK},
		{"GET", "/api/v1/ztp/roles/leaf?version=1", sec.tokens["viewer"], "", http.StatusOK},
		{"GET", "/api/v1/ztp/roles/leaf?version=2", sec.tokens["viewer"], "", http.StatusNotFound},
		{"GET", "/api/v1/ztp/roles/leaf?version=zero", sec.tokens["viewer"], "", http.StatusBadRequest},
		{"GET", "/api/v1/ztp/devices", sec.tokens["viewer"], "", http.StatusOK},
		{"GET", "/api/v1/ztp/devices/leaf-1", sec.tokens["viewer"], "", http.StatusNotFound},
		{"POST", "/api/v1/ztp/devices", sec.tokens["operator"], reg, http.StatusForbidden},
		{"POST", "/api/v1/ztp/devices/leaf-1/provision", sec.tokens["viewer"], "", http.StatusForbidden},
	} {
		if got := do(c.method, c.path, c.token, c.body); got != c.want {
			t.Errorf("%s %s (%.40s): %d, want %d", c.method, c.path, c.body, got, c.want)
		}
	}
	found := false
	for _, rt := range s.Routes() {
		found = found || rt.Pattern == "/api/v1/ztp/register"
	}
	if !found {
		t.Error("the ZTP routes are not served")
	}
}
