package pipeline

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// observedDown returns the links telemetry reports down in the twin r reads: their
// observed oper status disabled or unreachable, or an end device observed unreachable.
// Each maps to why ("disabled since <time>", "device x unreachable since <time>").
func observedDown(r *twin.Reader) map[string]string {
	down := map[string]string{}
	ols, _, _ := r.ObservedLinks(twin.ListOptions{})
	for _, ol := range ols {
		if ol.OperStatus == network.StatusDisabled || ol.OperStatus == network.StatusUnreachable {
			down[ol.ID] = fmt.Sprintf("oper status %s since %s", ol.OperStatus, ol.At.UTC().Format(time.RFC3339Nano))
		}
	}
	ods, _, _ := r.ObservedDevices(twin.ListOptions{})
	unreach := map[string]time.Time{}
	for _, od := range ods {
		if !od.Reachable {
			unreach[od.ID] = od.At
		}
	}
	if len(unreach) == 0 {
		return down
	}
	ls, _, _ := r.Links(twin.ListOptions{})
	for _, l := range ls {
		if _, known := down[l.ID]; known {
			continue
		}
		for _, ep := range l.Endpoints {
			if at, ok := unreach[ep.Device]; ok {
				down[l.ID] = fmt.Sprintf("device %s unreachable since %s", ep.Device, at.UTC().Format(time.RFC3339Nano))
				break
			}
		}
	}
	return down
}

// downLinksCheck is l1.down-links: no flow the change adds (or moves) takes a link
// telemetry reports down. routed holds the added flows' paths (directed link IDs),
// before the live flows. A flow the change re-adds on the path it already has (a
// change of its class, demand or SLO) is not routed anew and is not judged here: moving
// it off the failed link is restoration's work.
func downLinksCheck(cs *change.ChangeSet, routed map[string][]string, before map[string]network.Flow, down map[string]string) change.Check {
	c := change.Check{Name: "l1.down-links", Level: change.L1, Status: change.Pass}
	if len(cs.Twin.AddFlows) == 0 {
		c.Status, c.Message = change.Skip, "the change adds no flows"
		return c
	}
	if len(down) == 0 {
		c.Message = "telemetry reports no link down"
		return c
	}
	var bad []string
	ev := map[string]any{}
	for _, f := range cs.Twin.AddFlows {
		p := routed[f.ID]
		if old, ok := before[f.ID]; ok && slices.Equal(old.Path, p) {
			continue
		}
		var hit []string
		for _, dl := range p {
			id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
			if why, ok := down[id]; ok && !containsPrefix(hit, id+" ") {
				hit = append(hit, id+" ("+why+")")
			}
		}
		if len(hit) > 0 {
			bad = append(bad, fmt.Sprintf("flow %s: path %s crosses %s %s, which telemetry reports down", f.ID, strings.Join(p, ","), plural(len(hit), "link", "links"), strings.Join(hit, ", ")))
			ev[f.ID] = p
		}
	}
	if len(bad) == 0 {
		c.Message = fmt.Sprintf("no added flow takes a link telemetry reports down (%d %s)", len(down), plural(len(down), "link", "links"))
		return c
	}
	sort.Strings(bad)
	c.Status, c.Message, c.Evidence = change.Fail, strings.Join(bad, "; "), ev
	return c
}

func containsPrefix(xs []string, p string) bool {
	for _, x := range xs {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
