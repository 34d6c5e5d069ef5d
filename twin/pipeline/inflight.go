package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
)

// interacts reports whether the validation of cs can depend on a change to other
// devices: a twin model delta (flows and capacities: L1 ripple and SLOs over shared
// links, flow names) or device configuration that L0 compares across devices (IPv4 and
// IPv6 addresses, network instances and their route distinguishers), including any
// operation on a container above a config container (an interface, the interfaces
// tree, the root), which may hold them. Such changes are not committed while another
// one is in flight (see interactingInFlight); others on disjoint devices commit
// concurrently.
func interacts(cs *change.ChangeSet) bool {
	if !cs.Twin.Empty() {
		return true
	}
	for _, ops := range cs.DeviceOps {
		for _, op := range ops {
			p := op.Path
			if strings.Contains(p, "ipv4") || strings.Contains(p, "ipv6") || strings.Contains(p, "network-instance") {
				return true
			}
			if !strings.HasSuffix(p, "/config") && !strings.Contains(p, "/config/") {
				return true
			}
		}
	}
	return false
}

// interactingInFlight returns the ID of another interacting change whose commit has
// started and whose effect is not yet in the live twin ("" if none): one between its
// staleness check and its durable move to committing (s.starting), or one durably
// committing (being committed, awaiting confirmation, or interrupted and waiting for
// recovery). The caller holds commitMu.
func (s *Service) interactingInFlight(ctx context.Context, self string) (string, error) {
	for id := range s.starting {
		if id != self {
			return id, nil
		}
	}
	list, err := s.cfg.Store.Changes().List(ctx, repository.ChangeFilter{State: repository.StateCommitting})
	if err != nil {
		return "", fmt.Errorf("pipeline: list committing changes: %w", err)
	}
	for _, rc := range list {
		if rc.ID == self {
			continue
		}
		c, err := s.load(ctx, rc.ID)
		if err != nil {
			return "", err
		}
		if interacts(c.ChangeSet) {
			return c.ID, nil
		}
	}
	return "", nil
}
