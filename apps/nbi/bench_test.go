package nbi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// benchServer serves a fat-tree(k=8) live twin through the full middleware chain,
// called in-process (no sockets), so the numbers are the API's own cost.
func benchServer(b *testing.B) http.Handler {
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	n, err := network.FatTree(8)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		_, err := tx.Apply(n)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	sec := testSecurity(b)
	s, err := nbi.New(nbi.Options{Twins: m, Auth: sec.auth, Audit: sec.store.Ledger(), RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	// Every request authenticates as admin with a token: the cost measured includes
	// token verification (a hash and a cache lookup) and, for writes, the audit record.
	h, tok := s.Handler(), bearer(sec.tokens["admin"])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", tok)
		h.ServeHTTP(w, r)
	})
}

func serve(b *testing.B, h http.Handler, method, path, body string, want int) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
}

func BenchmarkAPIGetDevice(b *testing.B) {
	h := benchServer(b)
	for b.Loop() {
		serve(b, h, "GET", "/api/v1/twins/live/devices/pod3-edge2", "", 200)
	}
}

func BenchmarkAPIPutLink(b *testing.B) {
	h := benchServer(b)
	body := `{"id":"pod0-edge0--h-0-0-0","endpoints":[{"device":"pod0-edge0","endpoint":"eth5"},{"device":"h-0-0-0","endpoint":"eth1"}],"capacity_gbps":CAP}`
	caps := []string{"10", "20"}
	i := 0
	for b.Loop() {
		serve(b, h, "PUT", "/api/v1/twins/live/links/pod0-edge0--h-0-0-0", strings.Replace(body, "CAP", caps[i%2], 1), 200)
		i++
	}
}

func BenchmarkAPIFork(b *testing.B) {
	h := benchServer(b)
	for b.Loop() {
		serve(b, h, "POST", "/api/v1/twins/live/forks", "", 201)
	}
}
