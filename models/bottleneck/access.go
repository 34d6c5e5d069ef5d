package bottleneck

import "fmt"

func (s *State) link(id string) (int32, error) {
	l, ok := s.linkIdx[id]
	if !ok {
		return -1, fmt.Errorf("%w: link %q", ErrNotFound, id)
	}
	return l, nil
}

func (s *State) flow(id string) (int32, error) {
	f, ok := s.flowIdx[id]
	if !ok || !s.alive[f] {
		return -1, fmt.Errorf("%w: flow %q", ErrNotFound, id)
	}
	return f, nil
}

// Rate returns the max-min rate of flow id.
func (s *State) Rate(id string) (float64, error) {
	f, err := s.flow(id)
	if err != nil {
		return 0, err
	}
	s.syncRates()
	return s.rate[f], nil
}

// FlowLevel returns the level (water-filling round) at which flow id was fixed.
func (s *State) FlowLevel(id string) (int, error) {
	f, err := s.flow(id)
	if err != nil {
		return 0, err
	}
	s.Refresh()
	return int(s.levelF[f]), nil
}

// LinkLevel returns the level of link id, 0 if it never bottlenecks a flow.
func (s *State) LinkLevel(id string) (int, error) {
	l, err := s.link(id)
	if err != nil {
		return 0, err
	}
	s.Refresh()
	return int(s.levelL[l]), nil
}

// Levels returns the number of levels of the structure.
func (s *State) Levels() int {
	s.Refresh()
	return int(s.maxLevel)
}

// NumFlows returns the number of flows.
func (s *State) NumFlows() int { return s.nAlive }

// NumLinks returns the number of (real) links.
func (s *State) NumLinks() int { return len(s.linkIdx) }

// Bottlenecks returns the IDs of the links that fixed flow id (ties: all of them);
// a demand cap is reported as "demand".
func (s *State) Bottlenecks(id string) ([]string, error) {
	f, err := s.flow(id)
	if err != nil {
		return nil, err
	}
	return s.bottleneckNames(f), nil
}

// DemandBottleneck is the name used for a flow's demand cap in bottleneck lists.
const DemandBottleneck = "demand"

func (s *State) bottleneckNames(f int32) []string {
	s.Refresh()
	var out []string
	for _, l := range s.path[f] {
		if s.levelL[l] == s.levelF[f] {
			if s.virtOf[l] >= 0 {
				out = append(out, DemandBottleneck)
			} else {
				out = append(out, s.linkID[l])
			}
		}
	}
	return out
}

// Capacity returns the capacity of link id.
func (s *State) Capacity(id string) (float64, error) {
	l, err := s.link(id)
	if err != nil {
		return 0, err
	}
	return s.capa[l], nil
}

// Network exports the current network (failed links and removed flows omitted), for
// example to rebuild a State from scratch.
func (s *State) Network() *Network {
	n := &Network{Links: make([]Link, 0, len(s.linkIdx)), Flows: make([]Flow, 0, s.nAlive)}
	for l, id := range s.linkID {
		if s.virtOf[l] == -1 && !s.failed[l] {
			n.Links = append(n.Links, Link{ID: id, Capacity: s.capa[l]})
		}
	}
	for f := range s.path {
		if !s.alive[f] {
			continue
		}
		fl := Flow{ID: s.flowID[f], Path: s.PathOf(int32(f)), Class: s.class[f]}
		if p := s.path[f]; len(p) > 0 && s.virtOf[p[len(p)-1]] >= 0 {
			d := s.capa[p[len(p)-1]]
			fl.Demand = &d
		}
		n.Flows = append(n.Flows, fl)
	}
	return n
}
