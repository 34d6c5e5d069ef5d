package main

import (
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/twinflow/twinflow/apps/client"
)

// clientSecurity are the CLI's identity and TLS flags; apps/client finds the token
// and verifies the server with them.
type clientSecurity struct {
	// As selects a user whose token file is in the token directory (--as).
	As string
	// TokenFile holds the token to send (--token-file).
	TokenFile string
	// TokenDir is the directory of per-user token files (--token-dir,
	// TWINFLOW_TOKEN_DIR; default: the demo's per-server directory, for loopback
	// servers).
	TokenDir string
	// CA verifies the server's certificate with this PEM bundle (--ca, TWINFLOW_CA);
	// without it, a certificate no system root vouches for is trusted on first use and
	// pinned.
	CA string
	// Stderr receives trust-on-first-use notices.
	Stderr io.Writer
}

func clientSecurityFlags(f *pflag.FlagSet, o *clientSecurity) {
	f.StringVar(&o.As, "as", os.Getenv("TWINFLOW_AS"), "act as this user: their token file in the token directory (env TWINFLOW_AS)")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the API token to send (else env TWINFLOW_TOKEN)")
	f.StringVar(&o.TokenDir, "token-dir", os.Getenv("TWINFLOW_TOKEN_DIR"), "directory of per-user token files (env TWINFLOW_TOKEN_DIR; default: a loopback demo server's own)")
	f.StringVar(&o.CA, "ca", os.Getenv("TWINFLOW_CA"), "PEM CA bundle verifying the server's certificate (env TWINFLOW_CA; default: system roots, else trust on first use)")
}

// clientOptions maps the shared flags (and TWINFLOW_TOKEN) to the API client's options.
func (o *Options) clientOptions() client.Options {
	return client.Options{
		Server:           o.Server,
		TokenFile:        o.Security.TokenFile,
		As:               o.Security.As,
		Token:            os.Getenv("TWINFLOW_TOKEN"),
		TokenDir:         o.Security.TokenDir,
		CAFile:           o.Security.CA,
		Notices:          o.Security.Stderr,
		UnauthorizedHint: "authenticate with --as NAME, --token-file FILE or TWINFLOW_TOKEN (a loopback demo server's tokens are found by themselves)",
		UnreachableHint:  "start one with `twinflow serve --demo`, or point --server / TWINFLOW_SERVER at it",
	}
}
