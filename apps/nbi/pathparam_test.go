package nbi_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
)

// badIDs are path parameters no route may answer 500 to (seed 004 §11): control
// characters, NUL, invalid UTF-8 and oversized IDs, percent-encoded as a client sends them.
var badIDs = map[string]string{
	"nul":          "a%00b",
	"control":      "a%01b",
	"newline":      "a%0Ab",
	"del":          "a%7Fb",
	"invalid utf8": "%FF%FE",
	"oversized":    strings.Repeat("x", 257),
}

// TestInvalidPathIDs walks every route with an {id}-like path parameter and sends each
// bad ID: the answer is 400 or 404 problem+json naming no Go type, and nothing logs
// the ID (fuzzer finding, issue #13 item 7).
func TestInvalidPathIDs(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, nbi.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	attachPipeline(t, e)
	routes := 0
	for _, rt := range e.srv.Routes() {
		if !strings.Contains(rt.Pattern, "{") {
			continue
		}
		routes++
		for name, bad := range badIDs {
			path := rt.Pattern
			for _, p := range []string{"{id}", "{twin}", "{device}", "{kind}", "{site}"} {
				path = strings.ReplaceAll(path, p, bad)
			}
			if strings.Contains(path, "{") {
				t.Fatalf("route %s has a path parameter this test does not know", rt.Pattern)
			}
			body := ""
			if rt.Method == http.MethodPut || rt.Method == http.MethodPost {
				body = "{}"
			}
			r := e.do(rt.Method, path, body, nbi.ActorHeader, "bo")
			if r.status != 400 && r.status != 404 {
				t.Errorf("%s %s with %s ID: %d %s", rt.Method, rt.Pattern, name, r.status, r.body)
				continue
			}
			p := problem(t, r)
			for _, leak := range []string{"*", "nbi.", "twin.", "pipeline.", "repository.", "goroutine", ".go:"} {
				if strings.Contains(p.Detail+p.Title, leak) {
					t.Errorf("%s %s with %s ID: body names internals (%q): %s", rt.Method, rt.Pattern, name, leak, r.body)
				}
			}
		}
	}
	if routes < 10 {
		t.Fatalf("only %d routes with path parameters", routes)
	}
	long := strings.Repeat("x", 257)
	if strings.Contains(logs.String(), long) || strings.Contains(logs.String(), "\x00") {
		t.Fatalf("a refused ID was logged:\n%.2000s", logs.String())
	}
}

// TestForgedPageToken: a page token is the server's, but a client can forge one
// carrying a NUL or an oversized ID; it is refused with 400, not 500 (issue #13).
func TestForgedPageToken(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	attachPipeline(t, e)
	for _, after := range []string{"a\x00b", "\xff", strings.Repeat("x", 300)} {
		tok := base64.RawURLEncoding.EncodeToString([]byte("tf1:" + after))
		for _, path := range []string{"/api/v1/changes?page_token=", "/api/v1/twins?page_token=", "/api/v1/twins/live/devices?page_token="} {
			if r := e.do("GET", path+tok, ""); r.status != 400 || problem(t, r).Field != "page_token" {
				t.Errorf("%s with a forged token after %q: %d %s", path, after, r.status, r.body)
			}
		}
	}
}
