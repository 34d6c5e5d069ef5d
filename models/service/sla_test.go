package service

import (
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/change"
)

// TestSLAViolations (REQ-MON-07): a pair loses connectivity only when all its paths
// cross a down link; a rate SLO on a congested link is at risk; otherwise nothing.
func TestSLAViolations(t *testing.T) {
	slo := &change.SLO{MinRateGbps: 2}
	flows := []ServiceFlow{
		{ID: "s/g1/0-1/p0", Pair: "0-1", Path: []string{"a", "b"}, SLO: slo},
		{ID: "s/g1/0-1/p1", Pair: "0-1", Path: []string{"c"}, SLO: slo},
		{ID: "s/g1/1-0/p0", Pair: "1-0", Path: []string{"b~r", "a~r"}, SLO: slo},
	}
	ok := map[string]LinkObservation{"a": {RateGbps: 3, CapacityGbps: 10}, "b~r": {RateGbps: 9.8, CapacityGbps: 10}}
	if v := SLAViolations(flows, ok); len(v) != 0 {
		t.Fatalf("healthy: %v", v)
	}
	down := map[string]LinkObservation{"b": {Down: true}}
	if v := SLAViolations(flows, down); len(v) != 0 {
		t.Fatalf("protected pair with one path down: %v", v)
	}
	down["c"] = LinkObservation{Down: true}
	if v := SLAViolations(flows, down); len(v) != 2 || !strings.Contains(v[0], "link b is down") || !strings.Contains(v[1], "link c is down") {
		t.Fatalf("both paths down: %v", v)
	}
	hot := map[string]LinkObservation{"a~r": {RateGbps: 9.95, CapacityGbps: 10}}
	if v := SLAViolations(flows, hot); len(v) != 1 || !strings.Contains(v[0], "s/g1/1-0/p0") || !strings.Contains(v[0], "congested") {
		t.Fatalf("congested: %v", v)
	}
}
