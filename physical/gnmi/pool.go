package gnmi

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency is the Pool's default bound on concurrent per-device operations.
const DefaultConcurrency = 64

// Pool holds one Client per device and runs operations across many devices with bounded
// concurrency. It is safe for concurrent use.
type Pool struct {
	limit int

	mu      sync.Mutex // guards the following
	clients map[string]*Client
	closed  bool
}

// NewPool returns a pool running at most limit device operations at once (<= 0 means
// DefaultConcurrency).
func NewPool(limit int) *Pool {
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	return &Pool{limit: limit, clients: map[string]*Client{}}
}

// Add dials a device and registers it under name, replacing (and closing) any previous
// client of that name.
func (p *Pool) Add(name string, o Options) (*Client, error) {
	return p.add(name, o, func(*Client) bool { return true })
}

// AddIfAbsent returns the device's client, dialing and registering one if the pool
// has none: concurrent callers for the same new device all get the one registered
// first (a client dialed meanwhile by another caller is closed unused), so no caller's
// client is closed under it, as Add's replacement would.
func (p *Pool) AddIfAbsent(name string, o Options) (*Client, error) {
	if c, ok := p.Client(name); ok {
		return c, nil
	}
	return p.add(name, o, func(*Client) bool { return false })
}

// Replace dials a device with new options (e.g. a changed management address) and
// registers the client in place of stale, which is closed (calls in flight on it
// fail). If stale is no longer the device's client (a concurrent caller replaced it,
// or it was removed), nothing is dialed for it and the current client is returned; a
// removed device is dialed and registered anew.
func (p *Pool) Replace(name string, o Options, stale *Client) (*Client, error) {
	p.mu.Lock()
	cur := p.clients[name]
	p.mu.Unlock()
	if cur != nil && cur != stale {
		return cur, nil
	}
	return p.add(name, o, func(old *Client) bool { return old == stale })
}

// add dials a device and registers it under name. A client already registered is
// replaced (and closed) if replace(it) says so, and otherwise kept and returned.
func (p *Pool) add(name string, o Options, replace func(old *Client) bool) (*Client, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: device name is required", ErrOptions)
	}
	c, err := Dial(o)
	if err != nil {
		return nil, fmt.Errorf("gnmi: device %s: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return nil, ErrClosed
	}
	if old := p.clients[name]; old != nil {
		if !replace(old) {
			_ = c.Close()
			return old, nil
		}
		_ = old.Close()
	}
	p.clients[name] = c
	return c, nil
}

// Remove closes and forgets a device's client.
func (p *Pool) Remove(name string) {
	p.mu.Lock()
	c := p.clients[name]
	delete(p.clients, name)
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// Client returns a device's client.
func (p *Pool) Client(name string) (*Client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[name]
	return c, ok
}

// Names returns the registered device names, sorted.
func (p *Pool) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.clients))
	for n := range p.clients {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ForEach runs fn for each named device (all devices when names is nil), at most the
// pool's limit at a time. A device's failure does not cancel the others: errors are
// returned per device (devices that succeeded are absent from the map).
func (p *Pool) ForEach(ctx context.Context, names []string, fn func(ctx context.Context, name string, c *Client) error) map[string]error {
	if names == nil {
		names = p.Names()
	}
	var mu sync.Mutex
	errs := map[string]error{}
	g := new(errgroup.Group)
	g.SetLimit(p.limit)
	for _, n := range names {
		c, ok := p.Client(n)
		if !ok {
			errs[n] = fmt.Errorf("gnmi: device %s: %w", n, ErrNotInPool)
			continue
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				mu.Lock()
				errs[n] = ctx.Err()
				mu.Unlock()
				return nil
			}
			if err := fn(ctx, n, c); err != nil {
				mu.Lock()
				errs[n] = err
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errs
}

// Close closes every client.
func (p *Pool) Close() error {
	p.mu.Lock()
	cs := p.clients
	p.clients = map[string]*Client{}
	p.closed = true
	p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}
