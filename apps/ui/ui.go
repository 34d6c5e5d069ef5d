// Package ui is TwinFlow's embedded web UI (issue 20, docs/ui.md): static files compiled
// into the binary with go:embed and served by `twinflow serve` at / and /ui/, on the
// API's own router (apps/nbi mounts Handler; there is no second server). The page is
// plain JavaScript over the REST API and its SSE event stream; it holds the caller's
// API token in memory only and sends it as a Bearer header, so no cookie exists for a
// cross-site request to ride on (see docs/security.md).
//
// Every response carries a strict Content-Security-Policy (no inline script or style,
// no other origin), and the vendored graph library (cytoscape.js, static/vendor/,
// THIRD_PARTY.md) is served from this package: the UI never needs the network beyond
// the server that serves it.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// CSP is the Content-Security-Policy of every UI response: scripts, styles, images and
// connections from this origin only; no plugins, frames or base-URI games.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Static returns the embedded file tree (rooted at the page: index.html, app.js, ...).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees "static" exists
	}
	return sub
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}

// Serve writes the embedded file name ("" or "index.html" for the page) with the UI's
// security headers. Directories, unknown files and names with dot segments get 404: no
// listings, no escapes. It reports whether the file existed.
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	if name == "" {
		name = "index.html"
	}
	if len(name) > 200 || strings.Contains(name, "\\") || path.Clean("/"+name) != "/"+name {
		return false
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		return false
	}
	b, err := fs.ReadFile(Static(), name)
	if err != nil {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// revalidate every time: a new binary never leaves stale JavaScript in a browser
	h.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return true
	}
	_, _ = w.Write(b)
	return true
}
