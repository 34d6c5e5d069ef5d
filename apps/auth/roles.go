// Package auth authenticates northbound API callers and decides what they may do
// (REQ-SEC-01..03): users with roles, API tokens (random, stored as SHA-256 hashes,
// expiring, revocable), passwords hashed with argon2id, and the per-caller rate limits
// that keep one caller from starving the others. apps/nbi asks it who a request comes
// from (Authenticator.Authenticate) and whether that principal holds a permission
// (Principal.Can); the CLI uses it to create users and tokens in the repository.
package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Role is a named set of permissions a user holds. A user may hold several.
type Role string

// The roles (issue #13): viewer reads; engineer works on forks, runs what-if analysis
// and proposes changes; approver approves; operator commits, confirms, rolls back and
// reconciles; admin manages users and tokens and may write the live twin directly.
const (
	Viewer   Role = "viewer"
	Engineer Role = "engineer"
	Approver Role = "approver"
	Operator Role = "operator"
	Admin    Role = "admin"
	// Device is the dedicated role of zero-touch provisioning: a token of a user with
	// only this role can register a device (POST /api/v1/ztp/register) and nothing
	// else, not even read (issue 17 item 4, docs/ztp.md).
	Device Role = "device"
	// Orchestrator is an NFV orchestrator or slice client: it reads, and requests
	// services and slices through the RESTCONF routes (Orchestrate); nothing else.
	Orchestrator Role = "orchestrator"
	// Peer is the dedicated role of another domain's controller (issue 19 item 3,
	// docs/interdomain.md): it reads this domain's abstracted topology
	// (/alto/interdomain) and orders, confirms and rolls back inter-domain sub-slices,
	// and nothing else — not the twin, not changes of any other kind.
	Peer Role = "peer"
)

// Roles lists every role, in order of increasing privilege.
var Roles = []Role{Device, Peer, Viewer, Orchestrator, Engineer, Approver, Operator, Admin}

// Permission is an action class a route requires.
type Permission int

// The permissions. Public needs no credentials at all.
const (
	Public     Permission = iota + 1
	Read                  // read anything (every role)
	Design                // forks, fork writes, analysis, propose and re-validate changes
	Approve               // approve a change (never one's own; the pipeline checks)
	Operate               // commit, confirm, roll back; reconcile or adopt drift
	Administer            // users, tokens, audit, direct writes of the live twin
	Register              // register a device for zero-touch provisioning
	// Orchestrate: request, update and remove services and slices through the RESTCONF
	// routes (each request is a service or slice change through the pipeline; it is
	// committed in the same request only when an approval rule approved it).
	Orchestrate
	Abstraction // read the inter-domain abstraction (/alto/interdomain): every reader and peers
	Interdomain // order, confirm and roll back inter-domain sub-slices (peers)
)

var permNames = map[Permission]string{Public: "public", Read: "read", Design: "design",
	Approve: "approve", Operate: "operate", Administer: "admin", Register: "register", Orchestrate: "orchestrate",
	Abstraction: "abstraction", Interdomain: "interdomain"}

func (p Permission) String() string {
	if s, ok := permNames[p]; ok {
		return s
	}
	return fmt.Sprintf("permission(%d)", int(p))
}

// grants is what each role allows (admin allows everything).
var grants = map[Role][]Permission{
	Viewer:       {Read, Abstraction},
	Orchestrator: {Read, Orchestrate, Abstraction},
	Engineer:     {Read, Design, Orchestrate, Abstraction},
	Approver:     {Read, Approve, Abstraction},
	Operator:     {Read, Operate, Abstraction},
	Admin:        {Read, Design, Approve, Operate, Administer, Register, Orchestrate, Abstraction, Interdomain},
	Device:       {Register},
	Peer:         {Abstraction, Interdomain},
}

// ParseRoles parses a comma-separated role list ("engineer,operator"), case-insensitively.
// The result is sorted by privilege, without duplicates; at least one role is required.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, part := range strings.Split(s, ",") {
		r := Role(strings.ToLower(strings.TrimSpace(part)))
		if r == "" {
			continue
		}
		if !slices.Contains(Roles, r) {
			return nil, fmt.Errorf("unknown role %q (one of device, peer, viewer, orchestrator, engineer, approver, operator, admin)", part)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one role is required (device, peer, viewer, orchestrator, engineer, approver, operator, admin)")
	}
	slices.SortFunc(out, func(a, b Role) int { return slices.Index(Roles, a) - slices.Index(Roles, b) })
	return out, nil
}

// FormatRoles is the stored form of roles ("engineer,operator").
func FormatRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// NormalizeName returns the canonical form of a user name: lower case, 1 to 64 of
// a-z 0-9 . _ - @. Names are normalised once, when a user is created and when a caller
// presents one, so comparisons (author versus approver) are plain equality.
func NormalizeName(s string) (string, error) {
	if len(s) == 0 || len(s) > 64 {
		return "", fmt.Errorf("a user name has 1 to 64 characters")
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
			b[i] = c
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return "", fmt.Errorf("a user name may contain only letters, digits and . _ - @")
		}
	}
	return string(b), nil
}

// Principal is an authenticated caller (REQ-SEC-03: the handle every component gets).
type Principal struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Roles  []Role `json:"roles"`
	// TokenID is the token used ("" for a password).
	TokenID string `json:"token_id,omitempty"`
	// Method is "bearer", "basic-token" or "basic-password".
	Method string `json:"method"`
}

// Can reports whether p holds permission perm.
func (p *Principal) Can(perm Permission) bool {
	if perm == Public {
		return true
	}
	if p == nil {
		return false
	}
	for _, r := range p.Roles {
		if slices.Contains(grants[r], perm) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of a request's context (nil if none).
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
