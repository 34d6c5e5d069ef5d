package broker

import "net/http"

// ClientFor returns the HTTP client the broker reads d with: d's certificate pinned by
// its SHA-256 fingerprint when d has one, no proxy, no redirects followed, a 10 s
// timeout. Other controllers talking to peers (apps/interdomain) use it too.
func ClientFor(d Domain) *http.Client { return clientFor(d) }
