package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/repository"
)

// TokenPrefix starts every API token secret, so a token is recognisable (secret
// scanners, the Basic password position) and never mistaken for a password.
const TokenPrefix = "tfk_"

// maxCredentialLen bounds an Authorization header's credential before anything parses it.
const maxCredentialLen = 4096

// Errors of Authenticate. Both become 401 answers; their text never includes the
// credential.
var (
	// ErrNoCredentials: the request carries no Authorization header.
	ErrNoCredentials = errors.New("no credentials: send Authorization: Bearer <token> (or HTTP Basic)")
	// ErrBadCredentials: the credential is malformed, unknown, expired, revoked or wrong.
	ErrBadCredentials = errors.New("invalid, expired or revoked credentials")
)

// Options configures an Authenticator.
type Options struct {
	// CacheTTL is how long a verified credential is trusted without asking the store
	// again (default 2s). Revocation through this Authenticator is immediate; through
	// another process (the CLI on the same database) it takes effect within CacheTTL.
	CacheTTL time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// KDFConcurrency bounds password verifications running at once (default 2): each
	// costs ~19 MiB and tens of milliseconds.
	KDFConcurrency int
}

// Authenticator verifies credentials against the repository's Users and Tokens.
// Verified credentials are cached (a hash lookup on the hot path, never a KDF per
// request).
type Authenticator struct {
	users  repository.Users
	tokens repository.Tokens
	ttl    time.Duration
	now    func() time.Time
	kdf    chan struct{}
	// cacheKey keys the cache of verified passwords (an HMAC, so the cache holds
	// nothing a memory reader could brute-force offline without the key).
	cacheKey []byte

	mu    sync.RWMutex
	cache map[[32]byte]cacheEntry
}

type cacheEntry struct {
	p       *Principal
	until   time.Time // cache expiry
	expires time.Time // token expiry (zero: none)
}

const maxCacheEntries = 1 << 14

// New returns an Authenticator over the repository's stores.
func New(users repository.Users, tokens repository.Tokens, o Options) *Authenticator {
	if o.CacheTTL <= 0 {
		o.CacheTTL = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KDFConcurrency <= 0 {
		o.KDFConcurrency = 2
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Authenticator{users: users, tokens: tokens, ttl: o.CacheTTL, now: o.Now,
		kdf: make(chan struct{}, o.KDFConcurrency), cacheKey: key, cache: map[[32]byte]cacheEntry{}}
}

// Authenticate returns the principal of r's Authorization header: "Bearer <token>",
// or "Basic" with a user name and either that user's password or one of their tokens
// as the password (WIM connectors and RESTCONF clients authenticate that way).
func (a *Authenticator) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, ErrNoCredentials
	}
	if len(h) > maxCredentialLen {
		return nil, ErrBadCredentials
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		return a.token(r.Context(), cred, "", "bearer")
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return nil, ErrBadCredentials
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, ErrBadCredentials
		}
		name, err := NormalizeName(user)
		if err != nil {
			return nil, ErrBadCredentials
		}
		if strings.HasPrefix(pass, TokenPrefix) {
			return a.token(r.Context(), pass, name, "basic-token")
		}
		return a.password(r.Context(), name, pass)
	}
	return nil, ErrBadCredentials
}

// token verifies a token secret; name, when set, must be the token's user.
func (a *Authenticator) token(ctx context.Context, secret, name, method string) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return nil, ErrBadCredentials
	}
	key := sha256.Sum256([]byte(secret))
	now := a.now()
	p, ok := a.cached(key, now)
	if !ok {
		t, err := a.tokens.Lookup(ctx, key[:])
		if err != nil {
			if errors.Is(err, repository.ErrNotFound) {
				return nil, ErrBadCredentials
			}
			return nil, fmt.Errorf("auth: token lookup: %w", err)
		}
		if t.Revoked || (!t.Expires.IsZero() && !now.Before(t.Expires)) {
			return nil, ErrBadCredentials
		}
		u, err := a.users.Get(ctx, t.UserID)
		if err != nil {
			if errors.Is(err, repository.ErrNotFound) {
				return nil, ErrBadCredentials
			}
			return nil, fmt.Errorf("auth: token user: %w", err)
		}
		roles, err := ParseRoles(u.Role)
		if err != nil {
			return nil, ErrBadCredentials
		}
		p = &Principal{UserID: u.ID, Name: u.Name, Roles: roles, TokenID: t.ID}
		a.store(key, cacheEntry{p: p, until: now.Add(a.ttl), expires: t.Expires})
	}
	if name != "" && name != p.Name {
		return nil, ErrBadCredentials
	}
	q := *p
	q.Method = method
	return &q, nil
}

// password verifies a user's password (argon2id, concurrency-bounded).
func (a *Authenticator) password(ctx context.Context, name, pass string) (*Principal, error) {
	mac := hmac.New(sha256.New, a.cacheKey)
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var key [32]byte
	copy(key[:], mac.Sum(nil))
	now := a.now()
	if p, ok := a.cached(key, now); ok {
		q := *p
		q.Method = "basic-password"
		return &q, nil
	}
	u, err := a.users.GetByName(ctx, name)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			return nil, ErrBadCredentials
		}
		return nil, fmt.Errorf("auth: user lookup: %w", err)
	}
	if len(u.PasswordHash) == 0 {
		return nil, ErrBadCredentials
	}
	select {
	case a.kdf <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ok, err := CheckPassword(string(u.PasswordHash), pass)
	<-a.kdf
	if err != nil || !ok {
		return nil, ErrBadCredentials
	}
	roles, err := ParseRoles(u.Role)
	if err != nil {
		return nil, ErrBadCredentials
	}
	p := &Principal{UserID: u.ID, Name: u.Name, Roles: roles}
	a.store(key, cacheEntry{p: p, until: now.Add(a.ttl)})
	q := *p
	q.Method = "basic-password"
	return &q, nil
}

func (a *Authenticator) cached(key [32]byte, now time.Time) (*Principal, bool) {
	a.mu.RLock()
	e, ok := a.cache[key]
	a.mu.RUnlock()
	if !ok || !now.Before(e.until) || (!e.expires.IsZero() && !now.Before(e.expires)) {
		return nil, false
	}
	return e.p, true
}

func (a *Authenticator) store(key [32]byte, e cacheEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxCacheEntries {
		clear(a.cache)
	}
	a.cache[key] = e
}

// forget drops cached credentials of a token or a user (immediate revocation).
func (a *Authenticator) forget(tokenID, userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.cache {
		if (tokenID != "" && e.p.TokenID == tokenID) || (userID != "" && e.p.UserID == userID) {
			delete(a.cache, k)
		}
	}
}

// ---- administration (CLI and admin routes) ----

// NewTokenSecret returns a fresh token secret: the prefix and 256 random bits.
func NewTokenSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateUser stores a user with roles and, when password is not empty, its argon2id
// hash. The name is normalised first.
func (a *Authenticator) CreateUser(ctx context.Context, name string, roles []Role, password string) (repository.User, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return repository.User{}, err
	}
	if len(roles) == 0 {
		return repository.User{}, errors.New("at least one role is required")
	}
	u := repository.User{ID: newID("usr-"), Name: n, Role: FormatRoles(roles)}
	if password != "" {
		h, err := HashPassword(password)
		if err != nil {
			return repository.User{}, err
		}
		u.PasswordHash = []byte(h)
	}
	return a.users.Create(ctx, u)
}

// User returns the user named name (normalised first).
func (a *Authenticator) User(ctx context.Context, name string) (repository.User, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return repository.User{}, err
	}
	return a.users.GetByName(ctx, n)
}

// ErrLastAdmin is returned when a change would leave the repository without any user
// holding the admin role: nobody could then manage users over the API or approve
// administrative changes, and the only way back would be a hand-edited database.
var ErrLastAdmin = errors.New("this is the last admin: create or promote another admin first")

// SetRoles replaces the roles of the user named name. Removing admin from the last
// admin is refused (ErrLastAdmin). This Authenticator forgets the user's cached
// credentials at once; another process on the same database sees the change within
// its cache TTL.
func (a *Authenticator) SetRoles(ctx context.Context, name string, roles []Role) (repository.User, error) {
	if len(roles) == 0 {
		return repository.User{}, errors.New("at least one role is required")
	}
	u, err := a.User(ctx, name)
	if err != nil {
		return repository.User{}, err
	}
	if hasRole(u.Role, Admin) && !slices.Contains(roles, Admin) {
		if err := a.keepAnAdmin(ctx, u.ID); err != nil {
			return repository.User{}, err
		}
	}
	u.Role = FormatRoles(roles)
	if u, err = a.users.Update(ctx, u); err != nil {
		return repository.User{}, err
	}
	a.forget("", u.ID)
	return u, nil
}

// SetPassword sets (argon2id) or, with an empty password, removes the password of the
// user named name. Their tokens are unchanged.
func (a *Authenticator) SetPassword(ctx context.Context, name, password string) (repository.User, error) {
	u, err := a.User(ctx, name)
	if err != nil {
		return repository.User{}, err
	}
	u.PasswordHash = nil
	if password != "" {
		h, err := HashPassword(password)
		if err != nil {
			return repository.User{}, err
		}
		u.PasswordHash = []byte(h)
	}
	if u, err = a.users.Update(ctx, u); err != nil {
		return repository.User{}, err
	}
	a.forget("", u.ID)
	return u, nil
}

// DeleteUser removes the user named name and every token of theirs. Deleting the last
// admin is refused (ErrLastAdmin). Records that name the user (changes, approvals,
// the ledger, the audit) keep the name: they are history.
func (a *Authenticator) DeleteUser(ctx context.Context, name string) (repository.User, error) {
	u, err := a.User(ctx, name)
	if err != nil {
		return repository.User{}, err
	}
	if hasRole(u.Role, Admin) {
		if err := a.keepAnAdmin(ctx, u.ID); err != nil {
			return repository.User{}, err
		}
	}
	if err := a.users.Delete(ctx, u.ID); err != nil {
		return repository.User{}, err
	}
	a.forget("", u.ID)
	return u, nil
}

// keepAnAdmin returns ErrLastAdmin unless a user other than id holds the admin role.
// (Two administrators demoting each other at the same instant from two processes can
// both pass it; user administration is a rare, human act.)
func (a *Authenticator) keepAnAdmin(ctx context.Context, id string) error {
	us, err := a.users.List(ctx)
	if err != nil {
		return err
	}
	for _, o := range us {
		if o.ID != id && hasRole(o.Role, Admin) {
			return nil
		}
	}
	return ErrLastAdmin
}

// hasRole reports whether a stored role list ("engineer,admin") holds r.
func hasRole(stored string, r Role) bool {
	for _, p := range strings.Split(stored, ",") {
		if Role(strings.TrimSpace(p)) == r {
			return true
		}
	}
	return false
}

// HasUsers reports whether at least one user exists.
func (a *Authenticator) HasUsers(ctx context.Context) (bool, error) {
	us, err := a.users.List(ctx)
	return len(us) > 0, err
}

// CreateToken makes a token for the user named name. ttl 0 means it never expires.
// The secret is returned once; only its SHA-256 is stored.
func (a *Authenticator) CreateToken(ctx context.Context, name, label string, ttl time.Duration) (string, repository.Token, error) {
	u, err := a.User(ctx, name)
	if err != nil {
		return "", repository.Token{}, err
	}
	if ttl < 0 {
		return "", repository.Token{}, errors.New("a token's lifetime must not be negative")
	}
	secret := NewTokenSecret()
	t := repository.Token{ID: newID("tok-"), UserID: u.ID, Name: label, Hash: repository.HashToken(secret)}
	if ttl > 0 {
		t.Expires = a.now().Add(ttl)
	}
	t, err = a.tokens.Create(ctx, t)
	if err != nil {
		return "", repository.Token{}, err
	}
	return secret, t, nil
}

// Tokens lists the tokens of the user named name (never their secrets).
func (a *Authenticator) Tokens(ctx context.Context, name string) ([]repository.Token, error) {
	u, err := a.User(ctx, name)
	if err != nil {
		return nil, err
	}
	return a.tokens.List(ctx, u.ID)
}

// RevokeToken revokes a token; this Authenticator stops accepting it at once.
func (a *Authenticator) RevokeToken(ctx context.Context, id string) error {
	if err := a.tokens.Revoke(ctx, id); err != nil {
		return err
	}
	a.forget(id, "")
	return nil
}
