package service

import (
	"fmt"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/models/change"
)

// SLA monitoring (issue #15 item 5, REQ-MON-07): whether telemetry says a committed
// service's flows miss their SLO. Pure: the caller passes what telemetry observed.

// LinkObservation is the observed state of one directed link ("<link>" is A→B,
// "<link>~r" B→A, as in the bottleneck model's directed link IDs).
type LinkObservation struct {
	Down         bool
	RateGbps     float64 // observed load
	CapacityGbps float64 // the link's capacity
}

// ServiceFlow is one flow of a service with its path (directed link IDs) and SLO.
type ServiceFlow struct {
	ID   string
	Path []string
	SLO  *change.SLO
	// Pair groups the disjoint paths of one endpoint pair ("<i>-<j>"): the pair keeps
	// connectivity while one of them is up.
	Pair string
}

// Congested is the observed utilisation from which a link leaves a flow's guaranteed
// rate at risk.
const Congested = 0.99

// SLAViolations returns, for each violated flow, why (sorted by flow): a pair whose
// every path crosses a link observed down has lost connectivity; a flow with a rate
// SLO on a path with a congested link (observed load ≥ 99% of capacity) may not get
// its rate. A nil result means every SLO holds as far as telemetry shows.
func SLAViolations(flows []ServiceFlow, obs map[string]LinkObservation) []string {
	downPaths := map[string]int{}
	paths := map[string]int{}
	reason := map[string]string{}
	for _, f := range flows {
		paths[f.Pair]++
		for _, l := range f.Path {
			o, ok := obs[l]
			if !ok {
				continue
			}
			if o.Down {
				downPaths[f.Pair]++
				reason[f.ID] = fmt.Sprintf("flow %s: link %s is down", f.ID, l)
				break
			}
			if f.SLO != nil && f.SLO.MinRateGbps > 0 && o.CapacityGbps > 0 && o.RateGbps >= Congested*o.CapacityGbps {
				reason[f.ID] = fmt.Sprintf("flow %s: link %s is congested (%.3g of %.3g Gb/s), its %.3g Gb/s SLO is at risk", f.ID, l, o.RateGbps, o.CapacityGbps, f.SLO.MinRateGbps)
			}
		}
	}
	var out []string
	for _, f := range flows {
		r, ok := reason[f.ID]
		if !ok {
			continue
		}
		// a down path of a protected pair with a live sibling is not a violation
		if strings.Contains(r, "is down") && downPaths[f.Pair] < paths[f.Pair] {
			continue
		}
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
