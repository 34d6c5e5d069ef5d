package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServe: every embedded file is served with its type and the security headers;
// directories, unknown extensions and escapes are not.
func TestServe(t *testing.T) {
	n := 0
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		w := httptest.NewRecorder()
		if !Serve(w, httptest.NewRequest(http.MethodGet, "/ui/"+p, nil), p) {
			t.Errorf("%s not served", p)
		}
		if w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("Content-Type") == "" || w.Body.Len() == 0 {
			t.Errorf("%s: headers %v, %d bytes", p, w.Header(), w.Body.Len())
		}
		return nil
	})
	if err != nil || n < 5 {
		t.Fatalf("walk: %v, %d files", err, n)
	}
	for _, p := range []string{"vendor", "vendor/", "../ui.go", "vendor/../app.js", "./app.js", "/app.js", "app.js/", "ui.go", "app.js\x00"} {
		if Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), p) {
			t.Errorf("%q served", p)
		}
	}
}

// FuzzServe: Serve answers only for names that are embedded files (clean, relative,
// no dot segments), whatever the name.
func FuzzServe(f *testing.F) {
	for _, s := range []string{"app.js", "../ui.go", "vendor/cytoscape.min.js", "vendor//x.js", "a\\b.js", "%2e%2e/ui.go", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		w := httptest.NewRecorder()
		ok := Serve(w, httptest.NewRequest(http.MethodGet, "/", nil), name)
		if !ok {
			return
		}
		if name == "" {
			name = "index.html"
		}
		if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
			t.Fatalf("served %q", name)
		}
		if _, err := fs.Stat(Static(), name); err != nil {
			t.Fatalf("served %q, which is not an embedded file: %v", name, err)
		}
	})
}
