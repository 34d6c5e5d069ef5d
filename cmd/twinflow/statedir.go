package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// stateDir is the per-user state directory of twinflow: $XDG_STATE_HOME/twinflow, or
// ~/.local/state/twinflow. It holds the demo's token files, the CLI's trusted server
// fingerprints and serve's generated TLS certificate.
func stateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "twinflow")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "twinflow-state-"+strings.TrimSpace(os.Getenv("USER")))
	}
	return filepath.Join(home, ".local", "state", "twinflow")
}

// serverKey names a server in file names: "127.0.0.1-8080".
func serverKey(hostport string) string {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h, p = hostport, ""
	}
	r := strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "")
	return r.Replace(h) + "-" + p
}

// demoTokenDir is where `serve --demo` listening on hostport writes its token files by
// default, and where the CLI looks for them.
func demoTokenDir(hostport string) string {
	return filepath.Join(stateDir(), "tokens", serverKey(hostport))
}

// loopbackURL reports whether a server URL names a loopback host.
func loopbackURL(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
