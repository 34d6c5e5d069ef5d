package nbi

import (
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/ui"
)

// The web UI's routes (issue 20, docs/ui.md):
//
//	GET    /                      the page (apps/ui, embedded)
//	GET    /ui/*                  its scripts, styles and the vendored graph library
//	POST   /api/v1/session        log in: {"user","password"} (or, in the demo only,
//	                              {"demo_user"}) → a short-lived API token for the page
//	GET    /api/v1/session        who the caller is and what they may do
//	DELETE /api/v1/session        log out: revokes the caller's UI session token
//	GET    /api/v1/session/demo   the demo users offered on the login page (demo only)
//
// The page keeps the token in memory and sends it as a Bearer header: no cookie, so no
// cross-site request carries a credential (docs/security.md).

// SessionTTL is the lifetime of a token a UI login issues.
const SessionTTL = 8 * time.Hour

// SessionTokenLabel names the tokens UI logins issue (the only ones logout revokes).
const SessionTokenLabel = "ui-session"

// LoginRequest is the body of POST /api/v1/session: a user name and password, or (in the
// demo, from this host only) the name of a demo user.
type LoginRequest struct {
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	DemoUser string `json:"demo_user,omitempty"`
}

// Session describes the caller: name, roles and the permissions they grant (the UI
// shows only the actions these allow; the API enforces them regardless).
type Session struct {
	User        string   `json:"user"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	// Token is set only in the answer to a login (POST), once.
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// DemoUser is one user the demo's login page offers.
type DemoUser struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// DemoUsers is the response of GET /api/v1/session/demo.
type DemoUsers struct {
	Demo  bool       `json:"demo"`
	Users []DemoUser `json:"users"`
}

func sessionOf(p *auth.Principal) Session {
	s := Session{User: p.Name, Roles: []string{}, Permissions: []string{}}
	for _, r := range p.Roles {
		s.Roles = append(s.Roles, string(r))
	}
	for _, perm := range []auth.Permission{auth.Read, auth.Design, auth.Approve, auth.Operate, auth.Administer} {
		if p.Can(perm) {
			s.Permissions = append(s.Permissions, perm.String())
		}
	}
	return s
}

// loopbackHost reports whether a Host header names this machine's loopback (a page
// reached through DNS rebinding carries the attacker's host name instead).
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// sameOrigin refuses a login posted by another site's page (login CSRF): a browser
// sends Origin on every cross-origin POST; non-browser clients send none.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func uiRoutes(s *Server) []Route {
	tags := []string{"ui"}
	public := &Access{Perm: auth.Public}
	return []Route{{
		Method: http.MethodGet, Pattern: "/", Summary: "The web UI (HTML page)", Tags: tags,
		ContentType: "text/html", Access: public, Errors: []int{404},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			ui.Serve(w, r, "")
			return nil
		},
	}, {
		Method: http.MethodGet, Pattern: "/ui/*", Summary: "The web UI's static files (scripts, styles, vendored libraries)",
		Tags: tags, ContentType: "text/plain", Access: public, Errors: []int{404},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if !ui.Serve(w, r, chi.URLParam(r, "*")) {
				return Errorf(http.StatusNotFound, "not-found", "Not found", "", "no UI file %q", safeInstance(r))
			}
			return nil
		},
	}, {
		Method: http.MethodPost, Pattern: "/api/v1/session",
		Summary: "Log in: a user name and password (or, in the demo, a demo user) for a short-lived API token",
		Tags:    tags, Request: LoginRequest{}, Response: Session{}, Status: http.StatusCreated,
		Access: &Access{Perm: auth.Public, MaxBody: 4 << 10}, Errors: []int{400, 401, 403, 415, 429},
		Handler: s.login,
	}, {
		Method: http.MethodGet, Pattern: "/api/v1/session", Summary: "The caller: user, roles and permissions",
		Tags: tags, Response: Session{}, Access: &Access{Perm: auth.Read}, Errors: []int{401},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusOK, sessionOf(auth.FromContext(r.Context())))
		},
	}, {
		Method: http.MethodDelete, Pattern: "/api/v1/session", Summary: "Log out: revoke the caller's UI session token",
		Tags: tags, Status: http.StatusNoContent, Access: &Access{Perm: auth.Read}, Errors: []int{401},
		Handler: s.logout,
	}, {
		Method: http.MethodGet, Pattern: "/api/v1/session/demo", Summary: "The demo users the login page offers (empty outside the demo)",
		Tags: tags, Response: DemoUsers{}, Access: public,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			out := DemoUsers{Users: []DemoUser{}}
			if len(s.demoUsers) > 0 && isLoopback(r) && loopbackHost(r.Host) {
				out.Demo = true
				for _, name := range s.demoUsers {
					u, err := s.guard.auth.User(r.Context(), name)
					if err != nil {
						continue
					}
					roles, err := auth.ParseRoles(u.Role)
					if err != nil {
						continue
					}
					du := DemoUser{Name: u.Name}
					for _, ro := range roles {
						du.Roles = append(du.Roles, string(ro))
					}
					out.Users = append(out.Users, du)
				}
			}
			return writeJSON(w, http.StatusOK, out)
		},
	}}
}

// login verifies a password (or a demo user) and issues a session token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	g := s.guard
	if !sameOrigin(r) {
		return Errorf(http.StatusForbidden, "forbidden", "Forbidden", "Origin", "a login must come from this server's own page")
	}
	var req LoginRequest
	if err := DecodeJSON(w, r, 4<<10, &req); err != nil {
		return err
	}
	fail := func() error {
		if ok, d := g.failLimit.Allow(remoteHost(r)); !ok {
			retryAfter(w, d)
			return Errorf(http.StatusTooManyRequests, "rate-limited", "Too many requests", "",
				"too many failed logins from this address; retry later")
		}
		return Errorf(http.StatusUnauthorized, "unauthenticated", "Unauthenticated", "", "%s", auth.ErrBadCredentials.Error())
	}
	var p *auth.Principal
	switch {
	case req.DemoUser != "" && (req.User != "" || req.Password != ""):
		return Errorf(http.StatusBadRequest, "invalid", "Invalid login", "demo_user", "give either demo_user or user and password")
	case req.DemoUser != "":
		if len(s.demoUsers) == 0 || !isLoopback(r) || !loopbackHost(r.Host) {
			return Errorf(http.StatusForbidden, "forbidden", "Forbidden", "demo_user",
				"demo logins exist only in the demo, from this host")
		}
		name, err := auth.NormalizeName(req.DemoUser)
		known := false
		for _, d := range s.demoUsers {
			known = known || d == name
		}
		if err != nil || !known {
			return Errorf(http.StatusBadRequest, "invalid", "Invalid login", "demo_user", "%q is not a demo user", req.DemoUser)
		}
		u, err := g.auth.User(r.Context(), name)
		if err != nil {
			return err
		}
		roles, err := auth.ParseRoles(u.Role)
		if err != nil {
			return err
		}
		p = &auth.Principal{UserID: u.ID, Name: u.Name, Roles: roles}
	default:
		if req.User == "" || req.Password == "" || len(req.User) > 64 || len(req.Password) > 1024 {
			return Errorf(http.StatusBadRequest, "invalid", "Invalid login", "user", "a user name (1-64 characters) and a password are required")
		}
		if strings.HasPrefix(req.Password, auth.TokenPrefix) {
			return Errorf(http.StatusBadRequest, "invalid", "Invalid login", "password",
				"that is an API token: paste it in the token field instead")
		}
		probe := r.Clone(r.Context())
		probe.Header = http.Header{}
		probe.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(req.User+":"+req.Password)))
		var err error
		p, err = g.auth.Authenticate(probe)
		if errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrNoCredentials) {
			return fail()
		}
		if err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Type: "auth-unavailable", Title: "Authentication unavailable",
				Detail: "credentials could not be checked; retry later", Err: err}
		}
	}
	secret, tok, err := g.auth.CreateToken(r.Context(), p.Name, SessionTokenLabel, SessionTTL)
	if err != nil {
		return err
	}
	out := sessionOf(p)
	out.Token, out.Expires = secret, tok.Expires
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, out)
}

// logout revokes the caller's token when a UI login issued it (API tokens made with
// `twinflow token create` are never revoked here).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	if p.TokenID != "" {
		toks, err := s.guard.auth.Tokens(r.Context(), p.Name)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if t.ID == p.TokenID && t.Name == SessionTokenLabel {
				if err := s.guard.auth.RevokeToken(r.Context(), t.ID); err != nil {
					return err
				}
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
