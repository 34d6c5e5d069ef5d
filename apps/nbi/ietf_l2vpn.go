package nbi

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/twinflow/twinflow/models/service"
)

// RFC 8466 (ietf-l2vpn-svc), the part an NFV orchestrator's WIM connector uses: a
// vpn-service is created empty, then each site-network-access attaches one end
// (bearer-reference "<device>:<interface>"); with two ends the VPN is a point-to-point
// L2VPN (service.L2VPN) proposed through the change pipeline. The parsers below are
// pure; every tolerance is listed in docs/services.md.

// L2Module is the module name prefixing the top-level container.
const L2Module = "ietf-l2vpn-svc"

// L2VPNServicesBody is a POST body of .../vpn-services: the list qualified or not, or
// the vpn-services container.
type L2VPNServicesBody struct {
	Qualified   []L2VPNService `json:"ietf-l2vpn-svc:vpn-service,omitempty"`
	Unqualified []L2VPNService `json:"vpn-service,omitempty"`
	Container   *L2VPNServices `json:"ietf-l2vpn-svc:vpn-services,omitempty"`
	ContainerU  *L2VPNServices `json:"vpn-services,omitempty"`
	Root        *L2VPNSvcRoot  `json:"ietf-l2vpn-svc:l2vpn-svc,omitempty"`
}

// L2VPNSvcRoot is the l2vpn-svc container (answers; a POST of it is accepted too).
type L2VPNSvcRoot struct {
	Services *L2VPNServices `json:"vpn-services,omitempty"`
}

// L2VPNServices is the vpn-services container.
type L2VPNServices struct {
	Service []L2VPNService `json:"vpn-service"`
}

// L2VPNService is one vpn-service.
type L2VPNService struct {
	ID       flexString `json:"vpn-id"`
	Type     string     `json:"vpn-svc-type,omitempty"`
	Topo     string     `json:"svc-topo,omitempty"`
	Customer string     `json:"customer-name,omitempty"`
	// answers only: the attachments and TwinFlow's state
	Accesses []L2VPNAccess `json:"twinflow:site-network-access,omitempty"`
	TFStatus string        `json:"twinflow:status,omitempty"`
	TFChange string        `json:"twinflow:change,omitempty"`
}

// L2VPNAccessBody is a POST or PUT body of .../site-network-accesses.
type L2VPNAccessBody struct {
	Qualified   []L2VPNAccess  `json:"ietf-l2vpn-svc:site-network-access,omitempty"`
	Unqualified []L2VPNAccess  `json:"site-network-access,omitempty"`
	Container   *L2VPNAccesses `json:"ietf-l2vpn-svc:site-network-accesses,omitempty"`
	ContainerU  *L2VPNAccesses `json:"site-network-accesses,omitempty"`
}

// L2VPNAccesses is the site-network-accesses container.
type L2VPNAccesses struct {
	SiteAccess []L2VPNAccess `json:"site-network-access"`
}

// L2VPNAccess is a site-network-access.
type L2VPNAccess struct {
	ID flexString `json:"site-network-access-id,omitempty"`
	// NetworkAccessID is the name some clients use for the ID (tolerated).
	NetworkAccessID flexString    `json:"network-access-id,omitempty"`
	Site            string        `json:"twinflow:site,omitempty"`
	Attachment      *L2Attachment `json:"vpn-attachment,omitempty"`
	Connection      *L2Connection `json:"connection,omitempty"`
	Bearer          *L2Bearer     `json:"bearer,omitempty"`
	Service         *L2AccessSvc  `json:"service,omitempty"`
}

// L2Attachment is vpn-attachment.
type L2Attachment struct {
	VPN  flexString `json:"vpn-id"`
	Role string     `json:"site-role,omitempty"`
}

// L2Connection is the connection container (encapsulation).
type L2Connection struct {
	Encapsulation string          `json:"encapsulation-type,omitempty"`
	Tagged        *L2Tagged       `json:"tagged-interface,omitempty"`
	Untagged      json.RawMessage `json:"untagged-interface,omitempty"`
}

// L2Tagged is tagged-interface.
type L2Tagged struct {
	Type  string   `json:"type,omitempty"`
	Dot1q *L2Dot1q `json:"dot1q-vlan-tagged,omitempty"`
}

// L2Dot1q holds the customer VLAN (cvlan-id per RFC 8466; c-vlan-id tolerated).
type L2Dot1q struct {
	CVLAN  *flexNumber `json:"cvlan-id,omitempty"`
	CVLAN2 *flexNumber `json:"c-vlan-id,omitempty"`
}

// L2Bearer is the bearer container.
type L2Bearer struct {
	Reference string `json:"bearer-reference"`
}

// L2AccessSvc is the access's service container (bandwidths in bit/s).
type L2AccessSvc struct {
	In  *flexNumber `json:"svc-input-bandwidth,omitempty"`
	Out *flexNumber `json:"svc-output-bandwidth,omitempty"`
	MTU *flexNumber `json:"svc-mtu,omitempty"`
}

// VPNShell is a vpn-service as created, before its accesses make it a service.
type VPNShell struct {
	ID       string
	Type     string
	Topo     string
	Customer string
}

// SiteAccess is a parsed site-network-access: one end of a VPN.
type SiteAccess struct {
	ID, Site, VPN     string
	Device, Interface string
	VLAN              int     // 0: untagged (recorded; not applied, see docs)
	Gbps              float64 // the larger of input and output bandwidth, 0 if none
}

// ParseVPNServices parses a POST body of vpn-services.
func ParseVPNServices(data []byte) ([]VPNShell, error) {
	var b L2VPNServicesBody
	if fe := decodeYANGJSON(data, &b); fe != nil {
		return nil, fe
	}
	var list []L2VPNService
	n := 0
	for _, l := range [][]L2VPNService{b.Qualified, b.Unqualified} {
		if l != nil {
			n++
			list = l
		}
	}
	for _, c := range []*L2VPNServices{b.Container, b.ContainerU} {
		if c != nil {
			n++
			list = c.Service
		}
	}
	if b.Root != nil && b.Root.Services != nil {
		n++
		list = b.Root.Services.Service
	}
	if n != 1 {
		return nil, fieldErr("malformed-message", "", "want exactly one of {\"ietf-l2vpn-svc:vpn-service\": [...]} or {\"ietf-l2vpn-svc:vpn-services\": {...}}")
	}
	base := L2Module + ":vpn-service"
	if len(list) == 0 || len(list) > 16 {
		return nil, fieldErr("missing-element", base, "%d vpn-service entries (1 to 16)", len(list))
	}
	var out []VPNShell
	seen := map[string]bool{}
	for i, v := range list {
		f := fmt.Sprintf("%s[%d]", base, i)
		if v.ID == "" {
			return nil, fieldErr("missing-element", f+"/vpn-id", "missing")
		}
		if m := service.CheckID(string(v.ID)); m != "" {
			return nil, fieldErr("invalid-value", f+"/vpn-id", "%s", m)
		}
		if seen[string(v.ID)] {
			return nil, fieldErr("data-exists", f+"/vpn-id", "%q is given twice", v.ID)
		}
		seen[string(v.ID)] = true
		switch stripModule(v.Type) {
		case "", "vpws", "pwe3", "vpls":
			// vpls with two ends is point-to-point too; a third end is refused when it comes
		default:
			return nil, fieldErr("operation-not-supported", f+"/vpn-svc-type", "%q: vpws (or a two-site vpls) only", v.Type)
		}
		switch stripModule(v.Topo) {
		case "", "any-to-any", "hub-spoke", "hub-spoke-disjoint":
		default:
			return nil, fieldErr("invalid-value", f+"/svc-topo", "%q is not a topology of RFC 8466", v.Topo)
		}
		if len(v.Customer) > 256 || len(v.Type) > 128 || len(v.Topo) > 128 {
			return nil, fieldErr("invalid-value", f, "a value is longer than 256 characters")
		}
		out = append(out, VPNShell{ID: string(v.ID), Type: stripModule(v.Type), Topo: stripModule(v.Topo), Customer: v.Customer})
	}
	return out, nil
}

// ParseAccesses parses a POST or PUT body of site=<site>/site-network-accesses.
func ParseAccesses(site string, data []byte) ([]SiteAccess, error) {
	var b L2VPNAccessBody
	if fe := decodeYANGJSON(data, &b); fe != nil {
		return nil, fe
	}
	var list []L2VPNAccess
	n := 0
	for _, l := range [][]L2VPNAccess{b.Qualified, b.Unqualified} {
		if l != nil {
			n++
			list = l
		}
	}
	for _, c := range []*L2VPNAccesses{b.Container, b.ContainerU} {
		if c != nil {
			n++
			list = c.SiteAccess
		}
	}
	if n != 1 {
		return nil, fieldErr("malformed-message", "", "want exactly one of {\"ietf-l2vpn-svc:site-network-access\": [...]} or {\"ietf-l2vpn-svc:site-network-accesses\": {...}}")
	}
	base := L2Module + ":site-network-access"
	if len(list) == 0 || len(list) > 2 {
		return nil, fieldErr("missing-element", base, "%d site-network-access entries (1 or 2)", len(list))
	}
	var out []SiteAccess
	for i, a := range list {
		f := fmt.Sprintf("%s[%d]", base, i)
		id := a.ID
		if id == "" {
			id = a.NetworkAccessID // tolerated: network-access-id
		} else if a.NetworkAccessID != "" && a.NetworkAccessID != id {
			return nil, fieldErr("invalid-value", f+"/network-access-id", "differs from site-network-access-id %q", id)
		}
		if id == "" {
			return nil, fieldErr("missing-element", f+"/site-network-access-id", "missing")
		}
		if len(id) > 128 || strings.ContainsAny(string(id), "/\x00") {
			return nil, fieldErr("invalid-value", f+"/site-network-access-id", "at most 128 characters, no '/'")
		}
		if a.Attachment == nil || a.Attachment.VPN == "" {
			return nil, fieldErr("missing-element", f+"/vpn-attachment/vpn-id", "missing: which VPN this access attaches to")
		}
		if a.Bearer == nil || a.Bearer.Reference == "" {
			return nil, fieldErr("missing-element", f+"/bearer/bearer-reference", "missing (\"<device>:<interface>\")")
		}
		dev, ifc, ok := strings.Cut(a.Bearer.Reference, ":")
		if !ok || dev == "" || ifc == "" || strings.Contains(ifc, ":") {
			return nil, fieldErr("invalid-value", f+"/bearer/bearer-reference", "%q: want \"<device>:<interface>\"", clip(a.Bearer.Reference, 80))
		}
		acc := SiteAccess{ID: string(id), Site: site, VPN: string(a.Attachment.VPN), Device: dev, Interface: ifc}
		if c := a.Connection; c != nil {
			switch stripModule(c.Encapsulation) {
			case "", "ethernet-type", "untagged-int", "ethernet":
			case "dot1q-vlan-tagged", "vlan-type", "tagged-int", "dot1q":
				var v *flexNumber
				if c.Tagged != nil && c.Tagged.Dot1q != nil {
					v = c.Tagged.Dot1q.CVLAN
					if v == nil {
						v = c.Tagged.Dot1q.CVLAN2
					}
				}
				if v == nil {
					return nil, fieldErr("missing-element", f+"/connection/tagged-interface/dot1q-vlan-tagged/cvlan-id", "a tagged encapsulation needs the VLAN")
				}
				if v.V < 1 || v.V > 4094 || v.V != math.Trunc(v.V) {
					return nil, fieldErr("invalid-value", f+"/connection/tagged-interface/dot1q-vlan-tagged/cvlan-id", "%v is not a VLAN ID (1 to 4094)", v.V)
				}
				acc.VLAN = int(v.V)
			default:
				return nil, fieldErr("operation-not-supported", f+"/connection/encapsulation-type", "%q: ethernet or dot1q tagged only", c.Encapsulation)
			}
		}
		if s := a.Service; s != nil {
			for _, bw := range []*flexNumber{s.In, s.Out} {
				if bw != nil {
					acc.Gbps = math.Max(acc.Gbps, bw.V/1e9)
				}
			}
		}
		out = append(out, acc)
	}
	return out, nil
}

// l2vpnService is the point-to-point L2VPN of a VPN's two accesses.
func l2vpnService(v VPNShell, acc []SiteAccess) *service.Service {
	s := &service.Service{ID: v.ID, Type: service.L2VPN, Name: v.Customer, L2: &service.L2Options{VNI: VNIOf(v.ID)}}
	for _, a := range acc {
		s.Endpoints = append(s.Endpoints, service.Endpoint{Device: a.Device, Interface: a.Interface, Ref: a.Site + "/" + a.ID})
		s.Constraints.CapacityGbps = math.Max(s.Constraints.CapacityGbps, a.Gbps)
	}
	return s
}
