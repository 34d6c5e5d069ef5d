package nbi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/twin"
)

// TestNewRefusesRouteWithoutDecision: a route nobody decided a permission for stops
// New (so it can never be served unguarded).
func TestNewRefusesRouteWithoutDecision(t *testing.T) {
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := auth.New(nil, nil, auth.Options{})
	if _, err := New(Options{Twins: m}); err == nil || !strings.Contains(err.Error(), "Auth is required") {
		t.Fatalf("New without Auth: %v", err)
	}
	if _, err := New(Options{Twins: m, Auth: a}); err != nil {
		t.Fatal(err)
	}
	undecided := func(*Server) []Route {
		return []Route{{Method: http.MethodPost, Pattern: "/api/v1/undecided", Summary: "no decision",
			Handler: func(http.ResponseWriter, *http.Request) error { return nil }}}
	}
	_, err = New(Options{Twins: m, Auth: a, Routes: []RouteGroup{undecided}})
	if err == nil || !strings.Contains(err.Error(), "POST /api/v1/undecided has no permission decision") {
		t.Fatalf("New with an undecided route: %v", err)
	}
}
