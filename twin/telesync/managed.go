package telesync

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// ManagedNetwork returns the live twin's managed devices (gNMI driver and an address)
// and every link, with a key that changes exactly when what telemetry depends on does
// (device IDs, addresses and ports; link IDs, endpoints and capacities): the
// devices telemetry streams from, and the links it maps their interfaces onto.
func ManagedNetwork(t *twin.Twin) (network.Network, string, error) {
	var net network.Network
	err := t.View(func(r *twin.Reader) error {
		ds, _, err := r.Devices(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Address != "" && slices.Contains(d.Drivers, network.DriverGNMI) {
				net.Devices = append(net.Devices, d.Device)
			}
		}
		ls, _, err := r.Links(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, l := range ls {
			net.Links = append(net.Links, l.Link)
		}
		return nil
	})
	if err != nil {
		return network.Network{}, "", fmt.Errorf("telemetry: read live twin: %w", err)
	}
	slices.SortFunc(net.Devices, func(a, b network.Device) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(net.Links, func(a, b network.Link) int { return strings.Compare(a.ID, b.ID) })
	var k strings.Builder
	for _, d := range net.Devices {
		k.WriteString(strconv.Quote(d.ID) + "@" + strconv.Quote(d.Address))
		for _, ep := range d.Endpoints {
			k.WriteString("," + strconv.Quote(ep.ID))
		}
		k.WriteByte(';')
	}
	k.WriteByte('|')
	for _, l := range net.Links {
		k.WriteString(strconv.Quote(l.ID) + strconv.FormatFloat(l.CapacityGbps, 'g', -1, 64))
		for _, ep := range l.Endpoints {
			k.WriteString("," + strconv.Quote(ep.Device) + "/" + strconv.Quote(ep.EndPoint))
		}
		k.WriteByte(';')
	}
	return net, k.String(), nil
}
