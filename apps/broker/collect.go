package broker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/apps/alto"
)

// Bounds of what a domain may send.
const (
	MaxAbstractionBytes = 4 << 20
	maxDomainsInDoc     = 1024
	maxNamesPerDomain   = 4096
	maxLinksInDoc       = 100_000
	maxNameLen          = 64
	fetchTimeout        = 10 * time.Second
)

// domainState is what the broker knows of one domain: its last good abstraction, or
// why it has none.
type domainState struct {
	Name       string
	URL        string
	Resources  alto.DomainResources
	Links      []alto.InterdomainLink // its outgoing inter-domain links
	VTag       alto.VersionTag
	Fetched    time.Time
	Err        string // empty when the last read succeeded
	HTTPStatus int    // of the last read (0: no answer)
}

func (d *domainState) ok() bool { return d.Err == "" && !d.Fetched.IsZero() }

// collector reads every domain's abstraction.
type collector struct {
	domains []Domain
	clients []*http.Client
	mu      sync.RWMutex
	state   map[string]*domainState
	now     func() time.Time
}

func newCollector(domains []Domain) *collector {
	c := &collector{domains: domains, state: map[string]*domainState{}, now: time.Now}
	for _, d := range domains {
		c.clients = append(c.clients, clientFor(d))
		c.state[d.Name] = &domainState{Name: d.Name, URL: d.URL, Err: "not read yet"}
	}
	return c
}

// clientFor returns the HTTP client of one domain: its certificate pinned by SHA-256
// when the configuration gives a fingerprint.
func clientFor(d Domain) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if d.CertSHA256 != nil {
		pin := d.CertSHA256
		tr.TLSClientConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, //nolint:gosec // the certificate is pinned by VerifyConnection
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("no certificate")
				}
				sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
					return fmt.Errorf("certificate fingerprint %x is not the configured one", sum)
				}
				return nil
			},
		}
	}
	return &http.Client{Transport: tr, Timeout: fetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// refresh reads every domain once, concurrently. A failed read keeps nothing of the
// domain: the broker does not answer from an abstraction it could not confirm.
func (c *collector) refresh(ctx context.Context) {
	var wg sync.WaitGroup
	for i, d := range c.domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := c.fetch(ctx, d, c.clients[i])
			c.mu.Lock()
			c.state[d.Name] = st
			c.mu.Unlock()
		}()
	}
	wg.Wait()
}

func (c *collector) fetch(ctx context.Context, d Domain, hc *http.Client) *domainState {
	st := &domainState{Name: d.Name, URL: d.URL}
	fail := func(format string, a ...any) *domainState {
		st.Err = fmt.Sprintf(format, a...)
		return st
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/alto/interdomain", nil)
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	req.Header.Set("Accept", alto.MediaInterdomain+","+alto.MediaError)
	resp, err := hc.Do(req)
	if err != nil {
		return fail("%v", err)
	}
	defer resp.Body.Close()
	st.HTTPStatus = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAbstractionBytes+1))
	if err != nil {
		return fail("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail("%s: %s", resp.Status, firstLine(body))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != alto.MediaInterdomain {
		return fail("answered %q, not %s", resp.Header.Get("Content-Type"), alto.MediaInterdomain)
	}
	if len(body) > MaxAbstractionBytes {
		return fail("the abstraction is larger than %d bytes", MaxAbstractionBytes)
	}
	doc, err := ParseAbstraction(body)
	if err != nil {
		return fail("%v", err)
	}
	res, ok := doc.Domains[d.Name]
	if !ok {
		names := make([]string, 0, len(doc.Domains))
		for n := range doc.Domains {
			names = append(names, n)
		}
		sort.Strings(names)
		return fail("its twin has no domain %q (it has %v)", d.Name, names)
	}
	st.Resources, st.VTag = res, doc.Meta.VTag
	for _, l := range doc.Links {
		if l.FromDomain == d.Name {
			st.Links = append(st.Links, l)
		}
	}
	st.Fetched = c.now()
	return st
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// snapshot returns the domain states by name (copies).
func (c *collector) snapshot() map[string]domainState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]domainState, len(c.state))
	for k, v := range c.state {
		out[k] = *v
	}
	return out
}

// ParseAbstraction decodes a domain's inter-domain abstraction (alto.Interdomain) and
// checks its bounds: names valid and bounded, numbers finite and ≥ 0, lists bounded.
// Unknown members are ignored (a newer controller may send more).
func ParseAbstraction(b []byte) (*alto.Interdomain, error) {
	if len(b) > MaxAbstractionBytes {
		return nil, fmt.Errorf("the abstraction is larger than %d bytes", MaxAbstractionBytes)
	}
	var doc alto.Interdomain
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("the abstraction is not valid: %v", err)
	}
	if doc.Domains == nil {
		return nil, errors.New("the abstraction has no domains")
	}
	if len(doc.Domains) > maxDomainsInDoc {
		return nil, fmt.Errorf("the abstraction has %d domains, more than %d", len(doc.Domains), maxDomainsInDoc)
	}
	if len(doc.Links) > maxLinksInDoc {
		return nil, fmt.Errorf("the abstraction has %d links, more than %d", len(doc.Links), maxLinksInDoc)
	}
	num := func(field string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%s: must be a finite number ≥ 0, got %v", field, v)
		}
		return nil
	}
	for name, r := range doc.Domains {
		if !validName(name) {
			return nil, fmt.Errorf("domains: %q is not a valid name", name)
		}
		for f, v := range map[string]float64{"cpu": r.CPU, "mem": r.Mem, "storage": r.Storage} {
			if err := num("domains/"+name+"/"+f, v); err != nil {
				return nil, err
			}
		}
		for f, l := range map[string][]string{"nfs": r.NFs, "saps": r.SAPs} {
			if len(l) > maxNamesPerDomain {
				return nil, fmt.Errorf("domains/%s/%s: more than %d names", name, f, maxNamesPerDomain)
			}
			for i, n := range l {
				if !validName(n) {
					return nil, fmt.Errorf("domains/%s/%s/%d: %q is not a valid name", name, f, i, n)
				}
			}
		}
	}
	for i, l := range doc.Links {
		at := fmt.Sprintf("links/%d/", i)
		for f, v := range map[string]string{"ane": l.ANE, "from-domain": l.FromDomain, "to-domain": l.ToDomain, "from-device": l.FromDevice, "to-device": l.ToDevice} {
			if !validName(v) {
				return nil, fmt.Errorf("%s%s: %q is not a valid name", at, f, v)
			}
		}
		for f, v := range map[string]float64{"capacity-bps": l.CapacityBps, "latency-ms": l.LatencyMs, "max-reservable-bandwidth": l.MaxReservableBps, "priv:tf-est-available-bandwidth": l.EstAvailableBps} {
			if err := num(at+f, v); err != nil {
				return nil, err
			}
		}
	}
	return &doc, nil
}

// validName: an ALTO name (RFC 7285 §10.1 characters, with '.'), 1 to 64 bytes.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == ':' || c == '@' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
