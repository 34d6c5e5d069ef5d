package upgrade

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twinflow/twinflow/apps/whatif"
	"github.com/twinflow/twinflow/models/network"
)

// TwinValidator validates a wave on the twin's network model: every device of the
// wave is known, enabled and has a management address, and taking the wave's devices
// out of service together (they reboot) leaves every flow that neither starts nor ends
// on them routed (the what-if engine fails all their links and reroutes, seed 004
// §7.1). Flows that start or end on a rebooting device are listed as notes: they are
// interrupted by any upgrade of their end.
type TwinValidator struct {
	Net *network.Network
}

// ValidateWave implements Validator.
func (v TwinValidator) ValidateWave(_ context.Context, devices []string) WaveCheck {
	byID := map[string]network.Device{}
	for _, d := range v.Net.Devices {
		byID[d.ID] = d
	}
	in := map[string]bool{}
	for _, id := range devices {
		d, ok := byID[id]
		switch {
		case !ok:
			return WaveCheck{Reason: fmt.Sprintf("device %q is not in the twin", trunc(id))}
		case d.Address == "":
			return WaveCheck{Reason: fmt.Sprintf("device %q has no management address in the twin", id)}
		case d.OperStatus == network.StatusDisabled:
			return WaveCheck{Reason: fmt.Sprintf("device %q is disabled in the twin", id)}
		}
		in[id] = true
	}
	if len(v.Net.Flows) == 0 {
		return WaveCheck{OK: true, Notes: []string{"no flows in the twin: nothing to reroute"}}
	}
	r, err := whatif.NewRunner(&whatif.Scenario{Top: whatif.MaxTop}, v.Net)
	if err != nil {
		return WaveCheck{Reason: fmt.Sprintf("twin model: %v", err)}
	}
	cr, err := r.RunCase("upgrade wave", whatif.Perturbation{FailDevices: slices.Clone(devices)})
	if err != nil {
		return WaveCheck{Reason: fmt.Sprintf("twin model: %v", err)}
	}
	if cr.Error != "" {
		return WaveCheck{Reason: "twin model: " + cr.Error}
	}
	ends := map[string][2]string{}
	for _, f := range v.Net.Flows {
		ends[f.ID] = [2]string{f.Src, f.Dst}
	}
	var cut, interrupted []string
	for _, f := range cr.Flows {
		if !f.Removed && f.NewGbps > 0 {
			continue
		}
		e := ends[f.Flow]
		if in[e[0]] || in[e[1]] {
			interrupted = append(interrupted, f.Flow)
		} else {
			cut = append(cut, f.Flow)
		}
	}
	wc := WaveCheck{OK: len(cut) == 0}
	if len(interrupted) > 0 {
		wc.Notes = append(wc.Notes, fmt.Sprintf("%d flow(s) end on the wave and pause while it reboots: %s", len(interrupted), list(interrupted)))
	}
	if cr.Rerouted > 0 {
		wc.Notes = append(wc.Notes, fmt.Sprintf("%d flow(s) reroute around the wave", cr.Rerouted))
	}
	if !wc.OK {
		wc.Reason = fmt.Sprintf("with the wave out of service %d transit flow(s) lose their path: %s", len(cut), list(cut))
	}
	return wc
}

func list(ids []string) string {
	if len(ids) > 10 {
		return strings.Join(ids[:10], ", ") + fmt.Sprintf(" and %d more", len(ids)-10)
	}
	return strings.Join(ids, ", ")
}
