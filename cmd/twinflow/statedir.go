package main

import (
	"net"
	"net/url"
)

// loopbackURL reports whether a server URL names a loopback host.
func loopbackURL(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
