package alto

import (
	"crypto/sha256"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/network"
)

// The inter-domain abstraction (issue #19 item 2; seed 003 §5.1, §5.2): what a TwinFlow
// domain tells an ALTO broker about itself, computed from the live twin. Per
// administrative domain (Device.Domain) the Inter-domain Resource view: the pooled CPU,
// memory and storage of its NFVI PoPs (labels alto.cpu, alto.mem, alto.storage), the
// network functions they run (alto.nf) and the service access points (alto.port); and
// the Inter-domain Topology view: every directed link between two devices of different
// domains, with its capacity, latency and max-reservable bandwidth from the bottleneck
// structure. Nothing inside a domain is exposed beyond these aggregates.

// MediaInterdomain is TwinFlow's media type for the inter-domain abstraction (the
// broker draft names no media type for its I2 interfaces).
const MediaInterdomain = "application/alto-interdomain+json"

const (
	idInterdomain   = "interdomain"
	hashInterdomain = "interdomain"
)

// Interdomain is the body of GET <prefix>/interdomain.
type Interdomain struct {
	Meta struct {
		VTag VersionTag `json:"vtag"`
	} `json:"meta"`
	// Domains maps a domain name to its resources.
	Domains map[string]DomainResources `json:"domains"`
	// Links are the directed inter-domain links, sorted by ANE name.
	Links []InterdomainLink `json:"links"`
}

// DomainResources is one domain's Inter-domain Resource entry.
type DomainResources struct {
	CPU     float64  `json:"cpu"`
	Mem     float64  `json:"mem"`
	Storage float64  `json:"storage"`
	NFs     []string `json:"nfs"`  // sorted, without duplicates
	SAPs    []string `json:"saps"` // sorted, without duplicates
	Devices int      `json:"devices"`
}

// InterdomainLink is one direction of a link between two domains.
type InterdomainLink struct {
	ANE              string  `json:"ane"`
	FromDomain       string  `json:"from-domain"`
	ToDomain         string  `json:"to-domain"`
	FromDevice       string  `json:"from-device"`
	ToDevice         string  `json:"to-device"`
	CapacityBps      float64 `json:"capacity-bps"`
	LatencyMs        float64 `json:"latency-ms"`
	MaxReservableBps float64 `json:"max-reservable-bandwidth"`
	EstAvailableBps  float64 `json:"priv:tf-est-available-bandwidth"`
	Disabled         bool    `json:"disabled,omitempty"`
}

// splitList reads a comma-separated label into trimmed, non-empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// buildInterdomain computes the abstraction of network n (after buildANEs). Malformed
// resource labels (not a finite number ≥ 0, or a name that is not a valid PID name)
// are skipped and reported in problems.
func (s *snapshot) buildInterdomain(n *network.Network) {
	doms := map[string]*DomainResources{}
	domOf := make(map[string]string, len(n.Devices))
	sets := map[string][2]map[string]bool{}
	for _, d := range n.Devices {
		if d.Domain == "" {
			continue
		}
		domOf[d.ID] = d.Domain
		r := doms[d.Domain]
		if r == nil {
			r = &DomainResources{}
			doms[d.Domain] = r
			sets[d.Domain] = [2]map[string]bool{{}, {}}
		}
		r.Devices++
		for _, q := range []struct {
			label string
			dst   *float64
		}{{network.LabelALTOCPU, &r.CPU}, {network.LabelALTOMem, &r.Mem}, {network.LabelALTOStorage, &r.Storage}} {
			v, ok := d.Labels[q.label]
			if !ok {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				s.problems = append(s.problems, "device "+d.ID+": label "+q.label+" is not a number ≥ 0: "+strconv.Quote(v))
				continue
			}
			*q.dst += f
		}
		for i, label := range []string{network.LabelALTONF, network.LabelALTOPort} {
			for _, name := range splitList(d.Labels[label]) {
				if !validName(name) {
					s.problems = append(s.problems, "device "+d.ID+": label "+label+": "+strconv.Quote(name)+" is not a valid name")
					continue
				}
				sets[d.Domain][i][name] = true
			}
		}
	}
	out := &Interdomain{Domains: make(map[string]DomainResources, len(doms)), Links: []InterdomainLink{}}
	for name, r := range doms {
		r.NFs, r.SAPs = sortedKeys(sets[name][0]), sortedKeys(sets[name][1])
		out.Domains[name] = *r
	}
	aneOf := make(map[string]*ane, len(s.anes))
	for i := range s.anes {
		aneOf[s.anes[i].Link] = &s.anes[i]
	}
	for _, l := range n.Links {
		if len(l.Endpoints) != 2 {
			continue
		}
		a, b := l.Endpoints[0].Device, l.Endpoints[1].Device
		da, db := domOf[a], domOf[b]
		if da == "" || db == "" || da == db {
			continue
		}
		for _, dir := range []struct {
			rev            bool
			from, to, f, t string
		}{{false, a, b, da, db}, {true, b, a, db, da}} {
			e := aneOf[network.DirectedLinkID(l.ID, dir.rev)]
			il := InterdomainLink{FromDomain: dir.f, ToDomain: dir.t, FromDevice: dir.from, ToDevice: dir.to,
				CapacityBps: l.CapacityGbps * 1e9, LatencyMs: l.LatencyMs, Disabled: s.opts.ExcludeLinks[l.ID]}
			if e != nil {
				il.ANE = e.Name
				il.MaxReservableBps = math.Max(0, e.CapacityGbps-e.LoadGbps) * 1e9
				il.EstAvailableBps = e.EstGbps * 1e9
			} else {
				il.ANE = nameFor("", strings.Replace(network.DirectedLinkID(l.ID, dir.rev), network.ReverseSuffix, "@r", 1))
			}
			out.Links = append(out.Links, il)
		}
	}
	sort.Slice(out.Links, func(i, j int) bool { return out.Links[i].ANE < out.Links[j].ANE })
	s.interdomain = out
	b, _ := json.Marshal(out)
	s.hash[hashInterdomain] = sha256.Sum256(b)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) interdomainResource() *resource {
	return &resource{
		ID: idInterdomain, Method: http.MethodGet, Path: "/interdomain", MediaType: MediaInterdomain,
		Handle: func(w http.ResponseWriter, _ *http.Request, sn *snapshot, _ []byte) *Error {
			out := *sn.interdomain
			out.Meta.VTag = sn.vtag(idInterdomain, hashInterdomain)
			return writeJSON(w, MediaInterdomain, out)
		},
	}
}
