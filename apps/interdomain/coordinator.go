package interdomain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/apps/alto"
	"github.com/twinflow/twinflow/apps/broker"
	"github.com/twinflow/twinflow/models/change"
)

// Phases of an end-to-end slice (Record.Phase).
const (
	PhasePreparing  = "preparing"  // sub-slices ordered; none confirmed
	PhaseConfirming = "confirming" // every domain accepted: confirming everywhere
	PhaseAborting   = "aborting"   // a domain refused: rolling back everywhere
	PhaseActive     = "active"     // every sub-slice confirmed
	PhaseAborted    = "aborted"    // nothing committed anywhere
	PhaseFailed     = "failed"     // mixed outcome; Domains says which domain is where
)

// Steps of one domain (DomainStep.Step).
const (
	StepPending     = "pending"
	StepPreparing   = "preparing"
	StepPrepared    = "prepared" // validated, committed in its confirm window
	StepRefused     = "refused"  // validation failed: nothing committed there
	StepUnreachable = "unreachable"
	StepConfirmed   = "confirmed"
	StepRolledBack  = "rolled_back"
	StepFailed      = "failed"
	StepUnknown     = "unknown" // the answer was lost; the domain's confirm window rolls it back
)

// Errors of the coordinator.
var (
	ErrNotFound = errors.New("no such inter-domain slice")
	ErrExists   = errors.New("an inter-domain slice of that name exists")
	ErrPeer     = errors.New("peer domain")
	// ErrAborted: a domain refused its sub-slice; nothing was committed anywhere.
	ErrAborted = errors.New("inter-domain slice aborted")
)

// DomainStep is where one domain of a slice is.
type DomainStep struct {
	Domain string `json:"domain"`
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	// LatencyBudgetMs is the domain's share of the slice's latency objective.
	LatencyBudgetMs float64 `json:"latency_budget_ms,omitempty"`
	Change          string  `json:"change,omitempty"`
	Step            string  `json:"step"`
	Error           string  `json:"error,omitempty"`
	// Status is the domain's current view of its sub-slice (GET only).
	Status *SubSlice `json:"status,omitempty"`
	// StatusError is why Status could not be read (GET only).
	StatusError string `json:"status_error,omitempty"`
}

// Record is the coordinator's durable record of an end-to-end slice, written before
// and after every step.
type Record struct {
	Name    string       `json:"name"`
	Request SliceRequest `json:"request"`
	Phase   string       `json:"phase"`
	Reason  string       `json:"reason,omitempty"`
	Domains []DomainStep `json:"domains"`
	Created time.Time    `json:"created"`
	Updated time.Time    `json:"updated"`
	// PredictedRateGbps and PredictedLatencyMs are the end-to-end predictions from
	// the sub-slices' (GET only): the smallest rate, the sum of latencies.
	PredictedRateGbps  *float64 `json:"predicted_rate_gbps,omitempty"`
	PredictedLatencyMs *float64 `json:"predicted_latency_ms,omitempty"`
}

// Coordinator orders end-to-end slices from the domains. Safe for concurrent use.
type Coordinator struct {
	local   string
	agent   *Agent
	peers   map[string]broker.Domain
	clients map[string]*http.Client
	dir     string
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	records map[string]*Record
	busy    map[string]bool
}

// NewCoordinator returns the coordinator of domain s.Domain, whose own sub-slices go
// through agent, and loads its records from s.StateDir (created if missing).
func NewCoordinator(s *Settings, agent *Agent, log *slog.Logger) (*Coordinator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{local: s.Domain, agent: agent, peers: map[string]broker.Domain{}, clients: map[string]*http.Client{},
		dir: s.StateDir, log: log, now: time.Now, records: map[string]*Record{}, busy: map[string]bool{}}
	for _, p := range s.Peers {
		c.peers[p.Name] = p
		c.clients[p.Name] = broker.ClientFor(p)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil || !validID(r.Name) {
			return nil, fmt.Errorf("interdomain: record %s: unreadable (%v)", e.Name(), err)
		}
		c.records[r.Name] = &r
	}
	return c, nil
}

// Domain is the coordinator's own domain.
func (c *Coordinator) Domain() string { return c.local }

// save writes r durably (temporary file, fsync, rename). Called with c.mu held.
func (c *Coordinator) save(r *Record) error {
	r.Updated = c.now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, "."+r.Name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, r.Name+".json"))
}

// update applies fn to the record of name under the lock and saves it.
func (c *Coordinator) update(r *Record, fn func(*Record)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(r)
	if err := c.save(r); err != nil {
		c.log.Error("interdomain: saving the record failed", "slice", r.Name, "err", err)
	}
}

// Create builds the end-to-end slice: reads the abstracted topology of the peers on
// the path, splits the slice into sub-slices, orders them from every domain at once,
// then confirms all of them, or rolls back those accepted if any domain refused. The
// record is returned in every case where one was stored; ErrAborted says nothing is
// committed anywhere.
func (c *Coordinator) Create(ctx context.Context, actor string, req *SliceRequest) (*Record, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	for i, d := range req.Domains {
		if _, ok := c.peers[d]; !ok && d != c.local {
			return nil, fmt.Errorf("%w: domains[%d]: %q is neither this domain (%s) nor a configured peer", ErrInvalid, i, d, c.local)
		}
	}
	c.mu.Lock()
	if _, ok := c.records[req.Name]; ok || c.busy[req.Name] {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrExists, req.Name)
	}
	c.busy[req.Name] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.busy, req.Name)
		c.mu.Unlock()
	}()

	steps, err := c.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	r := &Record{Name: req.Name, Request: *req, Phase: PhasePreparing, Domains: steps, Created: c.now().UTC()}
	c.mu.Lock()
	c.records[r.Name] = r
	err = c.save(r)
	c.mu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.records, r.Name)
		c.mu.Unlock()
		return nil, fmt.Errorf("interdomain: storing the record: %w", err)
	}

	// order every sub-slice at once
	var wg sync.WaitGroup
	for i := range r.Domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.prepare(ctx, actor, r, i)
		}()
	}
	wg.Wait()
	all := true
	var why []string
	for _, d := range r.Domains {
		if d.Step != StepPrepared {
			all = false
			why = append(why, d.Domain+" "+d.Step+": "+d.Error)
		}
	}
	if all {
		c.update(r, func(r *Record) { r.Phase = PhaseConfirming })
		c.finish(ctx, actor, r, true, "")
		return r, nil
	}
	reason := "not every domain accepted its sub-slice: " + strings.Join(why, "; ")
	c.update(r, func(r *Record) { r.Phase, r.Reason = PhaseAborting, reason })
	c.finish(ctx, actor, r, false, reason)
	if r.Phase == PhaseAborted {
		return r, fmt.Errorf("%w: %s", ErrAborted, reason)
	}
	return r, fmt.Errorf("inter-domain slice %s failed: %s", r.Name, r.Reason)
}

// plan splits req into sub-slices over the inter-domain links the domains' abstracted
// topologies (GET /alto/interdomain) report: a domain's sub-slice runs from its
// ingress (the device the previous domain's link arrives at; the slice's source in
// the first domain) to the device across its link to the next domain (the slice's
// destination in the last), so each domain's sub-slice covers the link it sends over.
func (c *Coordinator) plan(ctx context.Context, req *SliceRequest) ([]DomainStep, error) {
	var links []alto.InterdomainLink
	for _, d := range req.Domains {
		if d == c.local {
			continue
		}
		doc, err := c.abstraction(ctx, d)
		if err != nil {
			return nil, err
		}
		links = append(links, doc.Links...)
	}
	budgets := req.budgets()
	steps := make([]DomainStep, len(req.Domains))
	ingress := req.Src.Device
	for i, d := range req.Domains {
		steps[i] = DomainStep{Domain: d, Src: ingress, Step: StepPending, LatencyBudgetMs: budgets[d]}
		if i == len(req.Domains)-1 {
			steps[i].Dst = req.Dst.Device
			break
		}
		l, err := pickLink(links, d, req.Domains[i+1], req.SLO.MinRateGbps)
		if err != nil {
			return nil, err
		}
		steps[i].Dst, ingress = l.ToDevice, l.ToDevice
	}
	for i := range steps {
		if steps[i].Src == steps[i].Dst {
			return nil, fmt.Errorf("%w: the sub-slice of %s would start and end at %s", ErrInvalid, steps[i].Domain, steps[i].Src)
		}
	}
	return steps, nil
}

// pickLink chooses the enabled link from → to with the most reservable bandwidth, of
// at least rate.
func pickLink(links []alto.InterdomainLink, from, to string, rateGbps float64) (alto.InterdomainLink, error) {
	var best *alto.InterdomainLink
	seen := 0
	for i := range links {
		l := &links[i]
		if l.FromDomain != from || l.ToDomain != to || l.Disabled {
			continue
		}
		seen++
		if l.MaxReservableBps < rateGbps*1e9 {
			continue
		}
		if best == nil || l.MaxReservableBps > best.MaxReservableBps || (l.MaxReservableBps == best.MaxReservableBps && l.ANE < best.ANE) {
			best = l
		}
	}
	if best == nil {
		if seen == 0 {
			return alto.InterdomainLink{}, fmt.Errorf("%w: no inter-domain link from %s to %s in the peers' abstracted topology", ErrInvalid, from, to)
		}
		return alto.InterdomainLink{}, fmt.Errorf("%w: none of the %d links from %s to %s can reserve %g Gb/s", ErrAborted, seen, from, to, rateGbps)
	}
	return *best, nil
}

// abstraction reads a peer's inter-domain abstraction.
func (c *Coordinator) abstraction(ctx context.Context, peer string) (*alto.Interdomain, error) {
	p := c.peers[peer]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/alto/interdomain", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Accept", alto.MediaInterdomain+","+alto.MediaError)
	resp, err := c.clients[peer].Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w %s: reading its abstracted topology: %v", ErrPeer, peer, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, broker.MaxAbstractionBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: reading its abstracted topology: %v", ErrPeer, peer, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w %s: its abstracted topology: %s: %s", ErrPeer, peer, resp.Status, firstLine(body))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != alto.MediaInterdomain {
		return nil, fmt.Errorf("%w %s: answered %q, not %s", ErrPeer, peer, resp.Header.Get("Content-Type"), alto.MediaInterdomain)
	}
	doc, err := broker.ParseAbstraction(body)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrPeer, peer, err)
	}
	return doc, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return clip(s, 300)
}

// prepare orders domain i's sub-slice.
func (c *Coordinator) prepare(ctx context.Context, actor string, r *Record, i int) {
	c.update(r, func(r *Record) { r.Domains[i].Step = StepPreparing })
	st := r.Domains[i]
	sr := &SubSliceRequest{Slice: r.Name, Coordinator: c.local, Src: st.Src, Dst: st.Dst,
		SLO:            SLO{MinRateGbps: r.Request.SLO.MinRateGbps, MaxLatencyMs: st.LatencyBudgetMs, Isolation: r.Request.SLO.Isolation},
		ConfirmTimeout: r.Request.ConfirmTimeout}
	var v *SubSlice
	var err error
	var status int
	if st.Domain == c.local {
		v, err = c.agent.Prepare(ctx, actor, sr)
		if errors.Is(err, ErrRefused) {
			status = http.StatusUnprocessableEntity
		}
	} else {
		v = &SubSlice{}
		status, err = c.call(ctx, st.Domain, http.MethodPost, "/api/v1/interdomain/subslices", sr, v)
	}
	c.update(r, func(r *Record) {
		d := &r.Domains[i]
		if v != nil && v.Change != "" {
			d.Change = v.Change
		}
		switch {
		case err == nil && v != nil && v.State == change.StateCommitting:
			d.Step, d.Error = StepPrepared, ""
		case err == nil:
			d.Step, d.Error = StepFailed, "the domain answered a sub-slice that is not in its confirm window"
		case status == http.StatusUnprocessableEntity:
			d.Step, d.Error = StepRefused, clip(err.Error(), 1000)
		case status == 0 && d.Change == "":
			d.Step, d.Error = StepUnreachable, clip(err.Error(), 1000)
		default:
			d.Step, d.Error = StepUnknown, clip(err.Error(), 1000)
		}
	})
}

// finish confirms (commit) or rolls back every prepared sub-slice and ends the record.
func (c *Coordinator) finish(ctx context.Context, actor string, r *Record, commit bool, reason string) {
	var wg sync.WaitGroup
	for i := range r.Domains {
		d := r.Domains[i]
		if d.Change == "" || (d.Step != StepPrepared && d.Step != StepUnknown && d.Step != StepPreparing) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v *SubSlice
			var err error
			if commit {
				v, err = c.act(ctx, actor, d, "confirm", "")
			} else {
				v, err = c.act(ctx, actor, d, "rollback", reason)
			}
			c.update(r, func(r *Record) {
				s := &r.Domains[i]
				switch {
				case v != nil && v.State == change.StateCommitted:
					s.Step, s.Error = StepConfirmed, ""
				case v != nil && (v.State == change.StateRolledBack || v.State == change.StateRejected):
					s.Step = StepRolledBack
					if err != nil {
						s.Error = clip(err.Error(), 1000)
					}
				default:
					s.Step = StepFailed
					if err != nil {
						s.Error = clip(err.Error(), 1000)
					}
				}
			})
		}()
	}
	wg.Wait()
	c.update(r, func(r *Record) {
		confirmed, held := 0, 0
		for _, d := range r.Domains {
			switch d.Step {
			case StepConfirmed:
				confirmed++
			case StepFailed, StepUnknown, StepPrepared, StepPreparing:
				held++
			}
		}
		switch {
		case commit && confirmed == len(r.Domains):
			r.Phase = PhaseActive
		case !commit && confirmed == 0 && held == 0:
			r.Phase = PhaseAborted
		default:
			r.Phase = PhaseFailed
			if r.Reason == "" {
				r.Reason = "not every domain confirmed its sub-slice; the domains list says which domain is where"
			}
		}
	})
}

// act confirms or rolls back one domain's sub-slice.
func (c *Coordinator) act(ctx context.Context, actor string, d DomainStep, op, reason string) (*SubSlice, error) {
	if d.Domain == c.local {
		if op == "confirm" {
			return c.agent.Confirm(ctx, actor, d.Change)
		}
		return c.agent.Rollback(ctx, actor, d.Change, reason)
	}
	v := &SubSlice{}
	_, err := c.call(ctx, d.Domain, http.MethodPost, "/api/v1/interdomain/subslices/"+d.Change+"/"+op, Ending{Reason: clip(reason, 200)}, v)
	if v.Change == "" {
		v = nil
	}
	return v, err
}

// call sends a JSON request to a peer and decodes its answer into out (also on an
// error status when the answer is a sub-slice). It returns the HTTP status (0: no
// answer).
func (c *Coordinator) call(ctx context.Context, peer, method, path string, body, out any) (int, error) {
	p, ok := c.peers[peer]
	if !ok {
		return 0, fmt.Errorf("%w %s: not configured", ErrPeer, peer)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.clients[peer].Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w %s: %v", ErrPeer, peer, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%w %s: reading the answer: %v", ErrPeer, peer, err)
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%w %s: the answer is not valid: %v", ErrPeer, peer, err)
		}
		return resp.StatusCode, nil
	}
	var prob struct {
		Title    string    `json:"title"`
		Detail   string    `json:"detail"`
		SubSlice *SubSlice `json:"subslice"`
	}
	_ = json.Unmarshal(b, &prob)
	if prob.SubSlice != nil {
		if b2, err := json.Marshal(prob.SubSlice); err == nil {
			_ = json.Unmarshal(b2, out)
		}
	}
	msg := prob.Detail
	if msg == "" {
		msg = firstLine(b)
	}
	return resp.StatusCode, fmt.Errorf("%w %s: %s: %s", ErrPeer, peer, resp.Status, clip(msg, 600))
}

// Get returns the record of name with every domain's current view of its sub-slice
// and the end-to-end predictions (KPIs of the sub-slices, §8.9).
func (c *Coordinator) Get(ctx context.Context, name string) (*Record, error) {
	c.mu.Lock()
	r, ok := c.records[name]
	var cp Record
	if ok {
		b, _ := json.Marshal(r)
		_ = json.Unmarshal(b, &cp)
	}
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	var wg sync.WaitGroup
	for i := range cp.Domains {
		d := &cp.Domains[i]
		if d.Change == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if d.Domain == c.local {
				d.Status, err = c.agent.Get(ctx, d.Change)
			} else {
				v := &SubSlice{}
				if _, err = c.call(ctx, d.Domain, http.MethodGet, "/api/v1/interdomain/subslices/"+d.Change, nil, v); err == nil {
					d.Status = v
				}
			}
			if err != nil {
				d.StatusError = clip(err.Error(), 600)
			}
		}()
	}
	wg.Wait()
	var rate, lat float64
	n := 0
	for _, d := range cp.Domains {
		if d.Status == nil || d.Status.PredictedRateGbps == nil || d.Status.PredictedLatencyMs == nil {
			continue
		}
		if n == 0 || *d.Status.PredictedRateGbps < rate {
			rate = *d.Status.PredictedRateGbps
		}
		lat += *d.Status.PredictedLatencyMs
		n++
	}
	if n == len(cp.Domains) && n > 0 {
		cp.PredictedRateGbps, cp.PredictedLatencyMs = &rate, &lat
	}
	return &cp, nil
}

// List returns the records (without the domains' current views), by name.
func (c *Coordinator) List() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Record, 0, len(c.records))
	for _, r := range c.records {
		cp := *r // the domains are updated in place while a slice is built: copy them
		cp.Domains = append([]DomainStep(nil), r.Domains...)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Resume ends the slices a previous run left mid-way: one whose every domain had
// accepted (confirming) is confirmed everywhere; any other is rolled back everywhere
// (a domain whose answer was lost rolls its sub-slice back by itself when its confirm
// window expires, and the record says so).
func (c *Coordinator) Resume(ctx context.Context) {
	c.mu.Lock()
	var open []*Record
	for _, r := range c.records {
		if r.Phase == PhasePreparing || r.Phase == PhaseConfirming || r.Phase == PhaseAborting {
			open = append(open, r)
		}
	}
	c.mu.Unlock()
	for _, r := range open {
		commit := r.Phase == PhaseConfirming
		reason := "the coordinator restarted before every domain had accepted"
		if !commit {
			c.update(r, func(r *Record) { r.Phase, r.Reason = PhaseAborting, reason })
		}
		c.log.Info("interdomain: resuming a slice left mid-way", "slice", r.Name, "commit", commit)
		c.finish(ctx, PolicyActor, r, commit, reason)
	}
}
