// Package sim is twinflow-node's in-memory dataplane: ports whose counters integrate the
// traffic rates they are told, and whose link state can be failed and restored through
// a small HTTP fault endpoint (see Handler). It stands in for a physical network in the
// demo and in tests that need no root.
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/labs/node/dataplane"
)

// ErrUnknownPort is returned by fault operations on a port that does not exist.
var ErrUnknownPort = errors.New("sim: unknown port")

// Rates are per-second traffic rates of one port.
type Rates struct {
	InBps         float64 `json:"in_bps"`
	OutBps        float64 `json:"out_bps"`
	InPps         float64 `json:"in_pps"`
	OutPps        float64 `json:"out_pps"`
	InErrorsPs    float64 `json:"in_errors_ps,omitempty"`
	OutErrorsPs   float64 `json:"out_errors_ps,omitempty"`
	InDiscardsPs  float64 `json:"in_discards_ps,omitempty"`
	OutDiscardsPs float64 `json:"out_discards_ps,omitempty"`
}

type port struct {
	mtu    uint16
	admin  bool
	linkUp bool
	rates  Rates
	// carry is the share of rates the port actually carries (fault "carry X% of
	// configured rate"; 1 by default): traffic and packet counters integrate rates × carry.
	carry float64
	// accumulated counters (float to keep fractions between samples)
	acc  [8]float64
	last time.Time
}

// Dataplane is the in-memory dataplane. The zero value is not usable; use New.
type Dataplane struct {
	now func() time.Time

	mu        sync.Mutex // guards the following
	ports     map[string]*port
	order     []string
	cfg       dataplane.Config
	failApply int // number of upcoming Apply calls that fail (fault injection)
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// New returns a dataplane with the given ports (MTU 1500, link up, no traffic). now is
// the clock counters integrate over; nil means time.Now.
func New(ports []string, now func() time.Time) (*Dataplane, error) {
	if now == nil {
		now = time.Now
	}
	d := &Dataplane{now: now, ports: map[string]*port{}}
	t := now()
	for _, p := range ports {
		if p == "" || strings.ContainsAny(p, "/[]") {
			return nil, fmt.Errorf("sim: invalid port name %q", p)
		}
		if _, dup := d.ports[p]; dup {
			return nil, fmt.Errorf("sim: duplicate port %q", p)
		}
		d.ports[p] = &port{mtu: 1500, admin: true, linkUp: true, last: t, carry: 1}
		d.order = append(d.order, p)
	}
	return d, nil
}

// Ports implements dataplane.Dataplane.
func (d *Dataplane) Ports(context.Context) ([]dataplane.Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]dataplane.Port, 0, len(d.order))
	for _, n := range d.order {
		out = append(out, dataplane.Port{Name: n, MTU: d.ports[n].mtu})
	}
	return out, nil
}

// Apply implements dataplane.Dataplane.
func (d *Dataplane) Apply(_ context.Context, cfg dataplane.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failApply > 0 {
		d.failApply--
		return fmt.Errorf("%w: injected fault", dataplane.ErrApply)
	}
	for n, ifc := range cfg.Interfaces {
		if d.ports[n] == nil && ifc.VXLAN == nil { // VXLAN interfaces are virtual: held in cfg
			return fmt.Errorf("%w: %w %q", dataplane.ErrInvalid, ErrUnknownPort, n)
		}
	}
	now := d.now()
	for n, p := range d.ports {
		d.integrate(p, now)
		ifc, ok := cfg.Interfaces[n]
		p.admin = !ok || ifc.Enabled
		if ok && ifc.MTU != 0 {
			p.mtu = ifc.MTU
		}
	}
	d.cfg = cfg
	return nil
}

// Config returns the configuration last applied.
func (d *Dataplane) Config() dataplane.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// integrate advances p's counters to now. Counters only grow while the port is up.
func (d *Dataplane) integrate(p *port, now time.Time) {
	dt := now.Sub(p.last).Seconds()
	p.last = now
	if dt <= 0 || !(p.admin && p.linkUp) {
		return
	}
	r, c := p.rates, p.carry
	for i, rate := range [8]float64{c * r.InBps / 8, c * r.OutBps / 8, c * r.InPps, c * r.OutPps, r.InErrorsPs, r.OutErrorsPs, r.InDiscardsPs, r.OutDiscardsPs} {
		p.acc[i] += rate * dt
	}
}

// State implements dataplane.Dataplane.
func (d *Dataplane) State(_ context.Context, st map[string]dataplane.PortState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for n, p := range d.ports {
		d.integrate(p, now)
		a := &p.acc
		st[n] = dataplane.PortState{
			AdminUp: p.admin,
			OperUp:  p.admin && p.linkUp,
			Counters: dataplane.Counters{
				InOctets: uint64(a[0]), OutOctets: uint64(a[1]), InPkts: uint64(a[2]), OutPkts: uint64(a[3]),
				InErrors: uint64(a[4]), OutErrors: uint64(a[5]), InDiscards: uint64(a[6]), OutDiscards: uint64(a[7]),
			},
		}
	}
	return nil
}

// Close implements dataplane.Dataplane.
func (d *Dataplane) Close() error { return nil }

// SetLink fails (up=false) or restores a port's link.
func (d *Dataplane) SetLink(name string, up bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.ports[name]
	if p == nil {
		return fmt.Errorf("%w %q", ErrUnknownPort, name)
	}
	d.integrate(p, d.now())
	p.linkUp = up
	return nil
}

// SetCarry makes a port carry percent (0..100) of the traffic rates it is told (a
// fault: the port's octet and packet counters then grow at rates × percent/100; error
// and discard counters are unchanged). 100 restores it.
func (d *Dataplane) SetCarry(name string, percent float64) error {
	if !(percent >= 0 && percent <= 100) {
		return fmt.Errorf("sim: carry percent %v out of range [0, 100]", percent)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.ports[name]
	if p == nil {
		return fmt.Errorf("%w %q", ErrUnknownPort, name)
	}
	d.integrate(p, d.now())
	p.carry = percent / 100
	return nil
}

// SetRates sets the traffic rates a port's counters integrate from now on.
func (d *Dataplane) SetRates(name string, r Rates) error {
	return d.setRates(map[string]Rates{name: r})
}

// setRates sets the rates of several ports: all of them, or none if one port is
// unknown or one rate out of range.
func (d *Dataplane) setRates(rs map[string]Rates) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, r := range rs {
		if d.ports[name] == nil {
			return fmt.Errorf("%w %q", ErrUnknownPort, name)
		}
		for _, v := range []float64{r.InBps, r.OutBps, r.InPps, r.OutPps, r.InErrorsPs, r.OutErrorsPs, r.InDiscardsPs, r.OutDiscardsPs} {
			if v < 0 || v != v || v > 1e15 {
				return fmt.Errorf("sim: port %q: rate %v out of range [0, 1e15]", name, v)
			}
		}
	}
	now := d.now()
	for name, r := range rs {
		p := d.ports[name]
		d.integrate(p, now)
		p.rates = r
	}
	return nil
}

// FailNextApply makes the next n Apply calls fail (to exercise rollback).
func (d *Dataplane) FailNextApply(n int) {
	d.mu.Lock()
	d.failApply = n
	d.mu.Unlock()
}

// Handler returns the fault endpoint:
//
//	POST /interfaces/{name}/down      fail the port's link (oper-status DOWN)
//	POST /interfaces/{name}/up        restore it
//	POST /interfaces/{name}/carry?percent=P  carry only P% (0..100) of the port's configured rates
//	POST /traffic                     {"eth1": {"in_bps": 1e9, "out_bps": 5e8, "in_pps": ..., "out_pps": ...}, ...}
//	POST /fail-next-apply?count=N     make the next N dataplane applies fail
//	GET  /state                       ports with admin/link state and rates (JSON)
func (d *Dataplane) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /interfaces/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name, action := r.PathValue("name"), r.PathValue("action")
		if action != "up" && action != "down" {
			http.Error(w, fmt.Sprintf("unknown action %q: want up or down", action), http.StatusNotFound)
			return
		}
		if err := d.SetLink(name, action == "up"); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /interfaces/{name}/carry", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("percent")
		pct, err := strconv.ParseFloat(q, 64)
		if err != nil || len(q) > 32 {
			http.Error(w, fmt.Sprintf("sim: percent must be a number in [0, 100], got %q", q), http.StatusBadRequest)
			return
		}
		if err := d.SetCarry(r.PathValue("name"), pct); err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, ErrUnknownPort) {
				code = http.StatusNotFound
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /traffic", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]Rates
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "sim: bad traffic document: "+err.Error(), http.StatusBadRequest)
			return
		}
		// All ports or none (checked and set under one lock).
		if err := d.setRates(req); err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, ErrUnknownPort) {
				code = http.StatusNotFound
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /fail-next-apply", func(w http.ResponseWriter, r *http.Request) {
		n := 1
		if c := r.URL.Query().Get("count"); c != "" {
			if _, err := fmt.Sscanf(c, "%d", &n); err != nil || n < 0 || n > 1000 {
				http.Error(w, "sim: count must be an integer in [0, 1000]", http.StatusBadRequest)
				return
			}
		}
		d.FailNextApply(n)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, _ *http.Request) {
		type ps struct {
			Name   string    `json:"name"`
			Admin  bool      `json:"admin_up"`
			Link   bool      `json:"link_up"`
			MTU    uint16    `json:"mtu"`
			Rates  Rates     `json:"rates"`
			Carry  float64   `json:"carry_percent"`
			Octets [2]uint64 `json:"in_out_octets"`
		}
		d.mu.Lock()
		out := make([]ps, 0, len(d.ports))
		for n, p := range d.ports {
			out = append(out, ps{Name: n, Admin: p.admin, Link: p.linkUp, MTU: p.mtu, Rates: p.rates, Carry: 100 * p.carry, Octets: [2]uint64{uint64(p.acc[0]), uint64(p.acc[1])}})
		}
		d.mu.Unlock()
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}
