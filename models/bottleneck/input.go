package bottleneck

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrInvalid marks malformed input: unknown link, non-positive capacity, duplicate
	// ID, repeated link in a path, empty path, bad demand.
	ErrInvalid = errors.New("bottleneck: invalid input")
	// ErrNotFound marks a reference to a link or flow the structure does not hold.
	ErrNotFound = errors.New("bottleneck: not found")
	// ErrInfeasible marks a perturbation with no feasible allocation (for example,
	// letting a flow up on a link where it is the only flow bottlenecked).
	ErrInfeasible = errors.New("bottleneck: infeasible perturbation")
)

// InputError names the offending element of an input. Element is a locator such as
// `links[2] "l3"` or `flows[5] "f6".path[1]`.
type InputError struct {
	Element string
	Msg     string
}

func (e *InputError) Error() string { return "bottleneck: " + e.Element + ": " + e.Msg }

// Unwrap makes every InputError match ErrInvalid.
func (e *InputError) Unwrap() error { return ErrInvalid }

func inputErr(elem, format string, a ...any) error {
	return &InputError{Element: elem, Msg: fmt.Sprintf(format, a...)}
}

// Link is a resource with a capacity (Gb/s in TwinFlow, but any unit works).
type Link struct {
	ID       string  `json:"id" yaml:"id"`
	Capacity float64 `json:"capacity" yaml:"capacity"`
}

// Flow is a demand following a path of links. Demand, when set, caps the rate (a
// traffic shaper, modelled as a private virtual link of that capacity). Class is an
// optional QoS class used to split the path gradient graph (Q-PGG).
type Flow struct {
	ID     string   `json:"id" yaml:"id"`
	Path   []string `json:"path" yaml:"path"`
	Demand *float64 `json:"demand,omitempty" yaml:"demand,omitempty"`
	Class  string   `json:"class,omitempty" yaml:"class,omitempty"`
}

// Network is the engine's input: links and flows.
type Network struct {
	Links []Link `json:"links" yaml:"links"`
	Flows []Flow `json:"flows" yaml:"flows"`
}

func linkLoc(i int, id string) string { return fmt.Sprintf("links[%d] %q", i, id) }
func flowLoc(i int, id string) string { return fmt.Sprintf("flows[%d] %q", i, id) }

// checkCapacity validates a capacity value.
func checkCapacity(elem string, c float64) error {
	if math.IsNaN(c) || math.IsInf(c, 0) {
		return inputErr(elem, "capacity must be a finite number, got %v", c)
	}
	if c <= 0 {
		return inputErr(elem, "capacity must be > 0, got %v", c)
	}
	return nil
}

// demandOK says whether d is a valid demand: finite and > 0.
func demandOK(d float64) bool { return d > 0 && !math.IsInf(d, 1) }

func checkDemand(elem string, d *float64) error {
	if d == nil {
		return nil
	}
	if !demandOK(*d) {
		return inputErr(elem+".demand", "demand must be a finite number > 0 or null, got %v", *d)
	}
	return nil
}

// Validate checks n and returns the first problem found, naming the element. It is
// O(|L| + Σ|path|).
func (n *Network) Validate() error {
	links := make(map[string]int, len(n.Links))
	for i, l := range n.Links {
		if l.ID == "" {
			return inputErr(linkLoc(i, l.ID), "empty link ID")
		}
		if j, dup := links[l.ID]; dup {
			return inputErr(linkLoc(i, l.ID), "duplicate link ID (also links[%d])", j)
		}
		links[l.ID] = i
		if err := checkCapacity(linkLoc(i, l.ID), l.Capacity); err != nil {
			return err
		}
	}
	flows := make(map[string]int, len(n.Flows))
	for i, f := range n.Flows {
		if err := validateFlow(flowLoc(i, f.ID), f, func(id string) bool { _, ok := links[id]; return ok }); err != nil {
			return err
		}
		if j, dup := flows[f.ID]; dup {
			return inputErr(flowLoc(i, f.ID), "duplicate flow ID (also flows[%d])", j)
		}
		flows[f.ID] = i
	}
	return nil
}

// validateFlow checks one flow against a link lookup. Paths are short, so the
// repeated-link check is quadratic in the path length only.
func validateFlow(at string, f Flow, known func(string) bool) error {
	if f.ID == "" {
		return inputErr(at, "empty flow ID")
	}
	if len(f.Path) == 0 {
		return inputErr(at+".path", "empty path")
	}
	for k, l := range f.Path {
		if !known(l) {
			return inputErr(fmt.Sprintf("%s.path[%d]", at, k), "unknown link %q", l)
		}
		for m := range k {
			if f.Path[m] == l {
				return inputErr(fmt.Sprintf("%s.path[%d]", at, k), "link %q repeated in path (cycle; first at path[%d])", l, m)
			}
		}
	}
	return checkDemand(at, f.Demand)
}
