package alto

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
)

// The network map: how PIDs come from the twin.
//
//   - Grouping. A device's PID is its "alto.pid" label when it has one; otherwise, with
//     PIDs by domain (Options.PIDBy = "domain"), "pid:<domain>" for a device with a
//     Domain; otherwise "pid:<device ID>". IDs that are not valid PID names (RFC 7285
//     §10.1: at most 64 of letters, digits, "-", ":", "@", "_") are made valid by
//     replacing other characters with "_" and adding a hash of the original.
//   - Addresses. A device's endpoint addresses are the IPv4 and IPv6 interface
//     addresses of its intended OpenConfig configuration
//     (/interfaces/interface/subinterfaces/subinterface/ipv{4,6}/addresses/address) and
//     the prefixes of its "alto.prefixes" label (comma-separated CIDRs: host subnets of
//     devices whose configuration the controller does not manage).
//   - A subnet (an address masked by its prefix length) that only one PID has
//     addresses in belongs to that PID whole. A subnet shared by several PIDs (a
//     point-to-point link between two routers, say) is not listed; each address in it
//     is listed as a host prefix (/32, /128) of its own PID. A prefix claimed by two
//     PIDs (a duplicate address) is listed in neither and reported as a conflict.
//   - Completeness. The PID "default" holds 0.0.0.0/0 and ::/0, so every address
//     maps to exactly one PID by longest-prefix match (RFC 7285 §11.2.1.6); no prefix
//     appears in two PIDs.

// DefaultPID is the PID of every address no device claims.
const DefaultPID = "default"

// Device labels read by the ALTO server.
const (
	LabelPID      = network.LabelALTOPID // "alto.pid"
	LabelPrefixes = "alto.prefixes"
)

// pidInfo is one PID of the network map.
type pidInfo struct {
	Name    string
	Devices []int // device indices in the routing graph, sorted
	IPv4    []netip.Prefix
	IPv6    []netip.Prefix
	Domain  string // the common domain of its devices, if any
}

// owner is the PID (and device, -1 for a whole shared subnet) a prefix maps to.
type owner struct {
	pid    int
	device int
}

// prefixTable answers longest-prefix matches: one map per prefix length.
type prefixTable struct {
	byLen [129]map[netip.Prefix]owner
}

func (t *prefixTable) add(p netip.Prefix, o owner) {
	l := p.Bits()
	if t.byLen[l] == nil {
		t.byLen[l] = map[netip.Prefix]owner{}
	}
	t.byLen[l][p] = o
}

// lookup returns the owner of the longest prefix containing a (ok false: none).
func (t *prefixTable) lookup(a netip.Addr) (owner, bool) {
	maxBits := 32
	if a.Is6() {
		maxBits = 128
	}
	for l := maxBits; l >= 0; l-- {
		m := t.byLen[l]
		if m == nil {
			continue
		}
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if o, ok := m[p]; ok {
			return o, true
		}
	}
	return owner{}, false
}

// lookupPrefix returns the owner of the longest listed prefix containing p.
func (t *prefixTable) lookupPrefix(p netip.Prefix) (owner, bool) {
	for l := p.Bits(); l >= 0; l-- {
		m := t.byLen[l]
		if m == nil {
			continue
		}
		q, err := p.Addr().Prefix(l)
		if err != nil {
			continue
		}
		if o, ok := m[q]; ok {
			return o, true
		}
	}
	return owner{}, false
}

// validName reports whether s is a valid PID or ANE name (RFC 7285 §10.1; "." is
// reserved and not used).
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == ':' || c == '@' || c == '_') {
			return false
		}
	}
	return true
}

// nameFor makes a valid name of prefix+id: as is when valid, otherwise cleaned and
// suffixed with 12 hex digits of the ID's SHA-256.
func nameFor(prefix, id string) string {
	if s := prefix + id; validName(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(id) && b.Len() < 40; i++ {
		c := id[i]
		if validName(string(c)) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	h := sha256.Sum256([]byte(id))
	return prefix + b.String() + "-" + hex.EncodeToString(h[:6])
}

// deviceAddrs returns the interface prefixes of a device's intended configuration
// (addresses with their prefix length) plus its alto.prefixes label. Unparseable
// entries are skipped and reported.
func deviceAddrs(d network.Device, config []byte) (out []netip.Prefix, problems []string) {
	if len(config) > 0 {
		t, err := change.ParseTree(config)
		if err != nil {
			problems = append(problems, fmt.Sprintf("device %s: configuration: %v", d.ID, err))
		}
		for _, itf := range entries(child(t, "interfaces"), "interface") {
			for _, sub := range entries(child(itf, "subinterfaces"), "subinterface") {
				for _, fam := range []string{"ipv4", "ipv6"} {
					for _, a := range entries(child(child(sub, fam), "addresses"), "address") {
						ip := leaf(a, "ip")
						if ip == "" {
							ip = leaf(child(a, "config"), "ip")
						}
						pl := leaf(child(a, "config"), "prefix-length")
						addr, err1 := netip.ParseAddr(ip)
						n, err2 := strconv.Atoi(pl)
						if err1 != nil || err2 != nil {
							problems = append(problems, fmt.Sprintf("device %s: interface %s: address %q/%q skipped", d.ID, leaf(itf, "name"), ip, pl))
							continue
						}
						addr = addr.Unmap()
						if n < 0 || n > addr.BitLen() {
							problems = append(problems, fmt.Sprintf("device %s: interface %s: address %s/%d skipped", d.ID, leaf(itf, "name"), ip, n))
							continue
						}
						out = append(out, netip.PrefixFrom(addr, n)) // the host part is kept
					}
				}
			}
		}
	}
	if v := d.Labels[LabelPrefixes]; v != "" {
		for _, s := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				problems = append(problems, fmt.Sprintf("device %s: label %s: %q is not a prefix", d.ID, LabelPrefixes, s))
				continue
			}
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
		}
	}
	return out, problems
}

func child(m map[string]any, name string) map[string]any {
	if m == nil {
		return nil
	}
	c, _ := m[name].(map[string]any)
	return c
}

func entries(m map[string]any, name string) []map[string]any {
	if m == nil {
		return nil
	}
	l, _ := m[name].([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if em, ok := e.(map[string]any); ok {
			out = append(out, em)
		}
	}
	return out
}

func leaf(m map[string]any, name string) string {
	if m == nil {
		return ""
	}
	switch v := m[name].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// netmapInput is what the network map is built from: per device (by graph index) its
// ID, PID grouping key and addresses.
type netmapInput struct {
	devices []network.Device
	addrs   [][]netip.Prefix // per device, host addresses with prefix length
}

// buildNetmap groups devices into PIDs and assigns prefixes (see the comment at the top
// of this file). It returns the PIDs sorted by name (the default PID included), the
// longest-prefix table and the conflicts found.
func buildNetmap(in netmapInput, byDomain bool) ([]pidInfo, *prefixTable, []string) {
	var conflicts []string
	pidOf := make([]string, len(in.devices))
	groups := map[string][]int{}
	for i, d := range in.devices {
		name := ""
		if l := d.Labels[LabelPID]; l != "" {
			name = nameFor("", l)
		} else if byDomain && d.Domain != "" {
			name = nameFor("pid:", d.Domain)
		} else {
			name = nameFor("pid:", d.ID)
		}
		if name == DefaultPID {
			conflicts = append(conflicts, fmt.Sprintf("device %s: PID %q is reserved; using its own PID", d.ID, DefaultPID))
			name = nameFor("pid:", d.ID)
		}
		pidOf[i] = name
		groups[name] = append(groups[name], i)
	}
	names := make([]string, 0, len(groups)+1)
	for n := range groups {
		names = append(names, n)
	}
	names = append(names, DefaultPID)
	sort.Strings(names)
	idx := make(map[string]int, len(names))
	pids := make([]pidInfo, len(names))
	for i, n := range names {
		idx[n] = i
		pids[i] = pidInfo{Name: n, Devices: groups[n]}
		dom := ""
		for j, d := range groups[n] {
			if j == 0 {
				dom = in.devices[d].Domain
			} else if in.devices[d].Domain != dom {
				dom = ""
				break
			}
		}
		pids[i].Domain = dom
	}
	// subnets: which PIDs have addresses in them
	type addrUse struct {
		pid, device int
		addr        netip.Prefix
	}
	subnets := map[netip.Prefix][]addrUse{}
	for d, as := range in.addrs {
		for _, a := range as {
			s := a.Masked()
			subnets[s] = append(subnets[s], addrUse{pid: idx[pidOf[d]], device: d, addr: a})
		}
	}
	claims := map[netip.Prefix]map[int]int{} // prefix → pid → device (-1: several)
	claim := func(p netip.Prefix, pid, dev int) {
		m := claims[p]
		if m == nil {
			m = map[int]int{}
			claims[p] = m
		}
		if old, ok := m[pid]; ok && old != dev {
			dev = -1
		}
		m[pid] = dev
	}
	for s, uses := range subnets {
		one := true
		for _, u := range uses[1:] {
			if u.pid != uses[0].pid {
				one = false
				break
			}
		}
		if one {
			dev := uses[0].device
			for _, u := range uses[1:] {
				if u.device != dev {
					dev = -1
				}
			}
			claim(s, uses[0].pid, dev)
			continue
		}
		for _, u := range uses {
			claim(netip.PrefixFrom(u.addr.Addr(), u.addr.Addr().BitLen()), u.pid, u.device)
		}
	}
	t := &prefixTable{}
	for p, m := range claims {
		if p.Bits() == 0 {
			conflicts = append(conflicts, fmt.Sprintf("prefix %s belongs to the default PID; a device's claim on it is ignored", p))
			continue
		}
		if len(m) > 1 {
			var who []string
			for pid := range m {
				who = append(who, pids[pid].Name)
			}
			sort.Strings(who)
			conflicts = append(conflicts, fmt.Sprintf("prefix %s claimed by PIDs %s: listed in none", p, strings.Join(who, ", ")))
			continue
		}
		for pid, dev := range m {
			t.add(p, owner{pid: pid, device: dev})
			if p.Addr().Is4() {
				pids[pid].IPv4 = append(pids[pid].IPv4, p)
			} else {
				pids[pid].IPv6 = append(pids[pid].IPv6, p)
			}
		}
	}
	def := idx[DefaultPID]
	for _, p := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		t.add(p, owner{pid: def, device: -1})
	}
	pids[def].IPv4 = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	pids[def].IPv6 = []netip.Prefix{netip.MustParsePrefix("::/0")}
	for i := range pids {
		sortPrefixes(pids[i].IPv4)
		sortPrefixes(pids[i].IPv6)
	}
	sort.Strings(conflicts)
	return pids, t, conflicts
}

func sortPrefixes(ps []netip.Prefix) {
	sort.Slice(ps, func(i, j int) bool {
		if c := ps[i].Addr().Compare(ps[j].Addr()); c != 0 {
			return c < 0
		}
		return ps[i].Bits() < ps[j].Bits()
	})
}
