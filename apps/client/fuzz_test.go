package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzProblem: any error response, JSON or not, becomes a *Problem with a status and
// a message; any success body either decodes or fails with an error, never a panic.
func FuzzProblem(f *testing.F) {
	f.Add(422, `{"status":422,"title":"Invalid","detail":"d","field":"x"}`)
	f.Add(500, `{"title":"boom","request_id":"r"}`)
	f.Add(401, "")
	f.Add(404, `{"status":"x"}`)
	f.Add(200, `{"a":1}`)
	f.Add(200, `[`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		c, err := New(Options{Server: "http://192.0.2.1", TokenDir: t.TempDir(), UnauthorizedHint: "hint"})
		if err != nil {
			t.Fatal(err)
		}
		c.http.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}, nil
		})
		var out map[string]any
		err = c.Get(context.Background(), "/x", &out)
		var p *Problem
		switch {
		case status >= 400:
			if !errors.As(err, &p) || p.Status == 0 || p.Error() == "" {
				t.Fatalf("status %d body %q: %v (%T)", status, body, err, err)
			}
			if status == 401 && !strings.HasSuffix(p.Detail, "\n  hint") {
				t.Fatalf("401 without the hint: %q", p.Detail)
			}
		case errors.As(err, &p):
			t.Fatalf("status %d became a Problem: %v", status, err)
		}
	})
}
