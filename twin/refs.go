package twin

import (
	"fmt"
	"slices"

	"github.com/twinflow/twinflow/models/network"
)

// checkRefs enforces referential integrity over everything the transaction touched, at
// commit time, so a batch may write objects in any order.
func (tx *Txn) checkRefs() error {
	if len(tx.touched) == 0 {
		return nil
	}
	// Objects to re-check because something they reference changed.
	links := map[string]bool{}
	flows := map[string]bool{}
	topos := map[string]bool{}
	for _, tc := range tx.touched {
		alive := tx.exists(tc.t, tc.id)
		switch tc.t {
		case TableDevices:
			if !tc.refs {
				continue
			}
			for _, raw := range tx.by(TableLinks, idxDevice, tc.id) {
				l := raw.(*Link)
				if !alive {
					return conflict(TableDevices, tc.id, "", "still used by link %q", l.ID)
				}
				links[l.ID] = true
			}
			if !alive {
				if raws := tx.by(TableFlows, idxDevice, tc.id); len(raws) > 0 {
					return conflict(TableDevices, tc.id, "", "still used by flow %q", idOf(raws[0]))
				}
				if raws := tx.by(TableTopologies, idxDevice, tc.id); len(raws) > 0 {
					return conflict(TableDevices, tc.id, "", "still used by topology %q", idOf(raws[0]))
				}
			}
		case TableLinks:
			if alive {
				links[tc.id] = true
			}
			if !tc.refs {
				continue
			}
			for _, raw := range tx.by(TableFlows, idxLink, tc.id) {
				if !alive {
					return conflict(TableLinks, tc.id, "", "still used by flow %q", idOf(raw))
				}
				flows[idOf(raw)] = true
			}
			if !alive {
				if raws := tx.by(TableTopologies, idxLink, tc.id); len(raws) > 0 {
					return conflict(TableLinks, tc.id, "", "still used by topology %q", idOf(raws[0]))
				}
			}
		case TableContexts:
			if !alive {
				if raws := tx.by(TableTopologies, idxContext, tc.id); len(raws) > 0 {
					return conflict(TableContexts, tc.id, "", "still used by topology %q", idOf(raws[0]))
				}
			}
		case TableTopologies:
			if alive {
				topos[tc.id] = true
			}
		case TableFlows:
			if alive {
				flows[tc.id] = true
			}
		case TableDeviceConfigs:
			if alive && !tx.exists(TableDevices, tc.id) {
				return conflict(TableDeviceConfigs, tc.id, "device", "unknown device %q", tc.id)
			}
		}
	}
	for _, id := range sortedKeys(links) {
		if err := tx.checkLink(id); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(flows) {
		if err := tx.checkFlow(id); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(topos) {
		if err := tx.checkTopology(id); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (tx *Txn) device(id string) *Device {
	raw, err := tx.mt.First(string(TableDevices), idxID, id)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*Device)
}

func (tx *Txn) lookupDevice(id string) (network.Device, bool) {
	d := tx.device(id)
	if d == nil {
		return network.Device{}, false
	}
	return d.Device, true
}

func (tx *Txn) checkLink(id string) error {
	raw, err := tx.get(TableLinks, id)
	if err != nil {
		return err
	}
	l := raw.(*Link)
	if err := network.ValidateLink(l.Link, tx.lookupDevice); err != nil {
		return fromValidation(TableLinks, id, ErrConflict, err)
	}
	for i, ep := range l.Endpoints {
		for _, other := range tx.by(TableLinks, idxEndpoint, endpointKey(ep)) {
			if oid := idOf(other); oid != id {
				return conflict(TableLinks, id, fmt.Sprintf("endpoints[%d]", i),
					"endpoint %s/%s is already used by link %q", ep.Device, ep.EndPoint, oid)
			}
		}
	}
	return nil
}

func (tx *Txn) checkFlow(id string) error {
	raw, err := tx.get(TableFlows, id)
	if err != nil {
		return err
	}
	f := raw.(*Flow)
	hasDevice := func(id string) bool { return tx.exists(TableDevices, id) }
	lookupLink := func(directed string) (string, string, bool) {
		lid, rev := network.ParseDirectedLinkID(directed)
		lraw, err := tx.mt.First(string(TableLinks), idxID, lid)
		if err != nil || lraw == nil {
			return "", "", false
		}
		fwd, back, ok := network.LinkDirections(lraw.(*Link).Link)
		if !ok {
			return "", "", false
		}
		if rev {
			return back.From.Device, back.To.Device, true
		}
		return fwd.From.Device, fwd.To.Device, true
	}
	return fromValidation(TableFlows, id, ErrConflict, network.ValidateFlow(f.Flow, hasDevice, lookupLink))
}

func (tx *Txn) checkTopology(id string) error {
	raw, err := tx.get(TableTopologies, id)
	if err != nil {
		return err
	}
	t := raw.(*Topology)
	exists := func(k network.Kind, id string) bool {
		switch k {
		case network.KindContext:
			return tx.exists(TableContexts, id)
		case network.KindDevice:
			return tx.exists(TableDevices, id)
		case network.KindLink:
			return tx.exists(TableLinks, id)
		}
		return false
	}
	return fromValidation(TableTopologies, id, ErrConflict, network.ValidateTopology(t.Topology, exists))
}
