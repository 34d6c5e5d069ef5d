package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/repository"
)

// SecurityConfig is how a server authenticates callers and protects its listener
// (issue #13, docs/security.md). The zero value: HTTPS with a self-signed certificate
// outside Demo, plain HTTP on loopback in Demo, 500 requests/s per token.
type SecurityConfig struct {
	// TokenDir is where Demo writes one token file per demo user (default
	// auth.DemoTokenDir of the listen address, where the CLI looks for them).
	TokenDir string
	// TLSCert and TLSKey serve HTTPS with this certificate (PEM files, both or neither).
	TLSCert, TLSKey string
	// TLSDir keeps the self-signed certificate generated without TLSCert outside Demo
	// (default: <auth.StateDir>/tls).
	TLSDir string
	// PlainHTTP serves plain HTTP outside Demo (loopback Listen only: behind a
	// TLS-terminating proxy on the same host, and tests).
	PlainHTTP bool
	// MetricsPublic serves /metrics to non-loopback clients.
	MetricsPublic bool
	// RateLimit is the requests per second each API token may make (0: 500; negative:
	// unlimited).
	RateLimit float64
}

// DemoUsers are the users Config.Demo creates: the README tour's identities.
var DemoUsers = []struct {
	Name  string
	Roles []auth.Role
}{
	{"admin", []auth.Role{auth.Admin}},
	{"alice", []auth.Role{auth.Engineer, auth.Operator}},
	{"carla", []auth.Role{auth.Approver}},
}

func (c *Config) checkSecurity() error {
	o := c.Security
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return fmt.Errorf("%w: the TLS certificate and key go together", ErrConfig)
	}
	if o.PlainHTTP && o.TLSCert != "" {
		return fmt.Errorf("%w: plain HTTP conflicts with a TLS certificate", ErrConfig)
	}
	if o.PlainHTTP && !c.Demo && !loopbackListen(c.Listen) {
		return fmt.Errorf("%w: plain HTTP needs a loopback listen address (got %q): serve HTTPS beyond this host", ErrConfig, c.Listen)
	}
	if o.TokenDir != "" && !c.Demo {
		return fmt.Errorf("%w: a token directory applies to the demo only (create tokens with `twinflow token create`)", ErrConfig)
	}
	if ch := c.Changes; ch != nil && ch.SelfApprove && !c.Demo {
		return fmt.Errorf("%w: self-approval exists only in the demo: outside it, a change's approver is never its author", ErrConfig)
	}
	return nil
}

// security is what startSecurity prepared: the authenticator, the TLS configuration
// (nil: plain HTTP) and the demo tokens still to be written.
type security struct {
	cfg        SecurityConfig
	auth       *auth.Authenticator
	tls        *tls.Config
	demoTokens map[string]string
}

// startSecurity builds the authenticator over the store, creates the demo users (Demo)
// or checks that a user exists (otherwise), prepares TLS, and sets the API's
// authentication, audit and limits.
func startSecurity(ctx context.Context, env *assembly) (*security, error) {
	c := env.cfg
	o := c.Security
	s := &security{cfg: o, auth: auth.New(env.store.Users(), env.store.Tokens(), auth.Options{})}
	if c.Demo {
		s.demoTokens = map[string]string{}
		for _, du := range DemoUsers {
			if _, err := s.auth.User(ctx, du.Name); errors.Is(err, repository.ErrNotFound) {
				if _, err := s.auth.CreateUser(ctx, du.Name, du.Roles, ""); err != nil {
					return nil, fmt.Errorf("demo user %s: %w", du.Name, err)
				}
			} else if err != nil {
				return nil, err
			}
			secret, _, err := s.auth.CreateToken(ctx, du.Name, "demo", 0)
			if err != nil {
				return nil, fmt.Errorf("demo token of %s: %w", du.Name, err)
			}
			s.demoTokens[du.Name] = secret
			env.nbi.DemoUsers = append(env.nbi.DemoUsers, du.Name)
		}
	} else {
		ok, err := s.auth.HasUsers(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("no user is configured, and serve does not start without one (outside --demo).\n"+
				"  Create an admin first, with the same --db, and keep the token it prints:\n"+
				"    twinflow user create admin --role admin --db %s", env.dbShown)
		}
	}
	switch {
	case o.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate and key: %w", err)
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	case (!c.Demo || !loopbackListen(c.Listen)) && !o.PlainHTTP:
		// the demo serves plain HTTP on loopback only
		dir := o.TLSDir
		if dir == "" {
			dir = filepath.Join(auth.StateDir(), "tls")
		}
		cert, err := auth.SelfSignedCert(dir, c.Listen)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		env.notes = append(env.notes, fmt.Sprintf("TLS: self-signed certificate %s, SHA-256 fingerprint %s\n"+
			"  (the CLI trusts it on first use and pins it; or give it --ca %s)", filepath.Join(dir, "cert.pem"),
			auth.CertFingerprint(cert.Certificate[0]), filepath.Join(dir, "cert.pem")))
	}
	env.nbi.Auth = s.auth
	env.nbi.Audit = env.store.Ledger()
	env.nbi.RateLimit = o.RateLimit
	env.nbi.MetricsPublic = o.MetricsPublic
	return s, nil
}

// loopbackListen reports whether a listen address is on loopback.
func loopbackListen(listen string) bool {
	host, _, _ := net.SplitHostPort(listen)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// scheme is the API's URL scheme.
func (s *security) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// listening writes the demo's token files now that the address is known, and returns
// the banner notes.
func (s *security) listening(addr string) ([]string, error) {
	if s.demoTokens == nil {
		return nil, nil
	}
	dir := s.cfg.TokenDir
	if dir == "" {
		dir = auth.DemoTokenDir(addr)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token dir: %w", err)
	}
	for name, secret := range s.demoTokens {
		if err := auth.WriteSecretFile(filepath.Join(dir, name), secret+"\n"); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
	}
	note := fmt.Sprintf("Demo users admin, alice (engineer, operator) and carla (approver): token files in %s\n"+
		"  (the CLI uses alice's by default; --as carla for another; for curl: TOKEN=$(cat %s))", dir, filepath.Join(dir, "alice"))
	if s.cfg.TokenDir != "" {
		note += fmt.Sprintf("; point the CLI at them with --token-dir %s", dir)
	}
	return []string{note}, nil
}
