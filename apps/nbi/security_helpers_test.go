package nbi_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/repository"
)

// security is a real (sqlite) repository with one user per role plus the demo's
// alice (engineer+operator) and carla (approver), each with a token.
type security struct {
	store  repository.Store
	auth   *auth.Authenticator
	tokens map[string]string // user name -> token secret
}

var testUsers = map[string][]auth.Role{
	"viewer": {auth.Viewer}, "engineer": {auth.Engineer}, "approver": {auth.Approver},
	"operator": {auth.Operator}, "admin": {auth.Admin},
	"alice": {auth.Engineer, auth.Operator}, "carla": {auth.Approver},
}

func newSecurity(dir string) (*security, error) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(dir, "auth.db"), repository.Options{})
	if err != nil {
		return nil, err
	}
	s := &security{store: st, auth: auth.New(st.Users(), st.Tokens(), auth.Options{}), tokens: map[string]string{}}
	for name, roles := range testUsers {
		if _, err := s.auth.CreateUser(ctx, name, roles, "correct horse battery "+name); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		secret, _, err := s.auth.CreateToken(ctx, name, "test", 0)
		if err != nil {
			return nil, err
		}
		s.tokens[name] = secret
	}
	return s, nil
}

func testSecurity(tb testing.TB) *security {
	tb.Helper()
	dir, err := os.MkdirTemp("", "nbi-auth-")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := newSecurity(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.store.Close(); _ = os.RemoveAll(dir) })
	return s
}

func bearer(secret string) string { return "Bearer " + secret }
