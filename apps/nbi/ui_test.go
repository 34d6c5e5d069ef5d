package nbi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
)

// TestUIPage (REQ-USA-02, REQ-PORT-02): the embedded page and its files are served at /
// and /ui/ with a strict CSP, without credentials; no listings, no escapes, no
// unknown files.
func TestUIPage(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	e.as = ""
	r := e.do("GET", "/", "")
	if r.status != 200 || !strings.Contains(string(r.body), `<script src="/ui/app.js"`) {
		t.Fatalf("GET /: %d %.200s", r.status, r.body)
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", r.header)
	}
	if strings.Contains(string(r.body), "<script>") || strings.Contains(string(r.body), " onclick=") || strings.Contains(string(r.body), " style=") {
		t.Error("the page has inline script, handlers or styles")
	}
	for path, ct := range map[string]string{"/ui/app.js": "text/javascript", "/ui/app.css": "text/css",
		"/ui/vendor/cytoscape.min.js": "text/javascript", "/ui/vendor/cytoscape.LICENSE.txt": "text/plain"} {
		r := e.do("GET", path, "")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ct) || len(r.body) == 0 {
			t.Errorf("GET %s: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/ui/", "/ui/vendor/", "/ui/nope.js", "/ui/../ui.go", "/ui/vendor/../app.js", "/ui/%2e%2e/ui.go", "/ui/ui.go"} {
		if r := e.do("GET", path, ""); r.status == 200 {
			t.Errorf("GET %s: %d; want an error", path, r.status)
		}
	}
}

// TestUISession (REQ-SEC-01, REQ-USA-02): a password login issues a session token that
// works as a Bearer token and that logout revokes; wrong passwords, tokens in the
// password field, foreign Origins and demo logins outside the demo are refused; logout
// never revokes an API token made with `token create`.
func TestUISession(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	e.as = ""
	var s nbi.Session
	e.json("POST", "/api/v1/session", `{"user":"Carla","password":"correct horse battery carla"}`, 201, &s)
	if s.User != "carla" || s.Token == "" || s.Expires.IsZero() || strings.Join(s.Permissions, ",") != "read,approve" {
		t.Fatalf("session %+v", s)
	}
	var who nbi.Session
	e.json("GET", "/api/v1/session", "", 200, &who, "Authorization", "Bearer "+s.Token)
	if who.User != "carla" || who.Token != "" || strings.Join(who.Roles, ",") != "approver" {
		t.Errorf("whoami %+v", who)
	}
	if r := e.do("DELETE", "/api/v1/session", "", "Authorization", "Bearer "+s.Token); r.status != 204 {
		t.Errorf("logout: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/session", "", "Authorization", "Bearer "+s.Token); r.status != 401 {
		t.Errorf("after logout: %d; want 401", r.status)
	}
	// An API token survives a logout made with it.
	if r := e.do("DELETE", "/api/v1/session", "", "Authorization", bearer(e.sec.tokens["admin"])); r.status != 204 {
		t.Errorf("logout with an API token: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/session", "", "Authorization", bearer(e.sec.tokens["admin"])); r.status != 200 {
		t.Errorf("the API token was revoked by a logout: %d", r.status)
	}
	for body, want := range map[string]int{
		`{"user":"carla","password":"wrong"}`:                        401,
		`{"user":"nobody","password":"x"}`:                           401,
		`{"user":"carla"}`:                                           400,
		`{"user":"carla","password":"tfk_abc"}`:                      400,
		`{"demo_user":"alice"}`:                                      403,
		`{"demo_user":"alice","user":"carla","password":"x"}`:        400,
		`{"user":"carla","password":"x","extra":1}`:                  400,
		`{"user":"` + strings.Repeat("a", 100) + `","password":"x"}`: 400,
	} {
		if r := e.do("POST", "/api/v1/session", body); r.status != want {
			t.Errorf("login %s: %d; want %d (%s)", body, r.status, want, r.body)
		}
	}
	if r := e.do("POST", "/api/v1/session", `{"user":"carla","password":"correct horse battery carla"}`, "Origin", "http://evil.example"); r.status != 403 {
		t.Errorf("login from another origin: %d; want 403", r.status)
	}
	var d nbi.DemoUsers
	e.json("GET", "/api/v1/session/demo", "", 200, &d)
	if d.Demo || len(d.Users) != 0 {
		t.Errorf("demo users outside the demo: %+v", d)
	}
}

// TestUIDemoLogin: in the demo, the login page offers the demo users and logs in as one
// from this host only (a rebinding page's Host is refused).
func TestUIDemoLogin(t *testing.T) {
	e := newEnv(t, nbi.Options{DemoUsers: []string{"alice", "carla"}})
	e.as = ""
	var d nbi.DemoUsers
	e.json("GET", "/api/v1/session/demo", "", 200, &d)
	if !d.Demo || len(d.Users) != 2 || d.Users[1].Name != "carla" || d.Users[1].Roles[0] != "approver" {
		t.Fatalf("demo users %+v", d)
	}
	var s nbi.Session
	e.json("POST", "/api/v1/session", `{"demo_user":"alice"}`, 201, &s)
	if s.User != "alice" || s.Token == "" {
		t.Fatalf("demo login %+v", s)
	}
	if r := e.do("POST", "/api/v1/session", `{"demo_user":"admin"}`); r.status != 400 {
		t.Errorf("demo login as a non-demo user: %d", r.status)
	}
	req, _ := http.NewRequest("POST", e.hs.URL+"/api/v1/session", strings.NewReader(`{"demo_user":"alice"}`))
	req.Host = "attacker.example:8080"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("demo login with a foreign Host: %d; want 403", res.StatusCode)
	}
}
