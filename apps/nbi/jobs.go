package nbi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Background jobs (issue #18): what-if runs and dataset generations are long, so the
// API runs them as jobs — create (202), status with progress and ETA, result, cancel.
// Everything is bounded: jobs running at once, jobs kept per kind, the runtime of a
// job and how long a finished job is kept. Jobs live in the server's memory (a
// restart forgets them; a dataset's files stay on disk and a new job over the same
// spec resumes them).

// JobOptions bounds the background jobs. Zero values take the defaults.
type JobOptions struct {
	// MaxRunning bounds the jobs running at once (default 2); more wait, queued.
	MaxRunning int
	// MaxJobs bounds the jobs of one kind kept (queued, running or finished and not
	// yet expired; default 32); creating another is refused with 429.
	MaxJobs int
	// MaxRuntime bounds one job's run (default 30 min); it then fails.
	MaxRuntime time.Duration
	// Keep is how long a finished job and its result stay (default 1 h).
	Keep time.Duration
	// DataDir is where dataset jobs write (a subdirectory per job); empty: the
	// dataset routes answer 503.
	DataDir string
	// MaxDatasetBytes bounds one dataset job's output (default 1 GiB); a job that
	// exceeds it fails and keeps what it wrote (resume needs a larger bound).
	MaxDatasetBytes int64
}

func (o JobOptions) withDefaults() JobOptions {
	if o.MaxRunning <= 0 {
		o.MaxRunning = 2
	}
	if o.MaxJobs <= 0 {
		o.MaxJobs = 32
	}
	if o.MaxRuntime <= 0 {
		o.MaxRuntime = 30 * time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = time.Hour
	}
	if o.MaxDatasetBytes <= 0 {
		o.MaxDatasetBytes = 1 << 30
	}
	return o
}

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCanceled  = "canceled"
)

// Job is a background job as the API shows it.
type Job struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	State  string `json:"state"`
	Owner  string `json:"owner"`
	Source string `json:"source,omitempty"`
	// Done and Total count the job's work items (what-if cases, dataset samples);
	// Progress is Done/Total (0..1), ETASeconds the estimated time left while running.
	Done       int       `json:"done"`
	Total      int       `json:"total"`
	Progress   float64   `json:"progress"`
	ETASeconds float64   `json:"eta_seconds,omitempty"`
	Error      string    `json:"error,omitempty"`
	Created    time.Time `json:"created"`
	Started    time.Time `json:"started,omitzero"`
	Finished   time.Time `json:"finished,omitzero"`
	// Expires is when a finished job and its result are forgotten.
	Expires time.Time `json:"expires,omitzero"`
	// Bytes is a dataset job's output size.
	Bytes int64 `json:"bytes,omitempty"`
}

// JobList is a list of jobs.
type JobList struct {
	Items []Job `json:"items"`
}

// jobRun does a job's work; progress reports items done of total.
type jobRun func(ctx context.Context, progress func(done, total int)) (result any, err error)

type jobEntry struct {
	job    Job
	cancel context.CancelFunc
	result any
	done   chan struct{}
	// canceled is set by cancel (the user asked), so the outcome reads canceled
	canceled bool
}

// jobs is one kind's job table.
type jobs struct {
	kind string
	s    *Server
	opt  JobOptions
	sem  chan struct{}
	mu   sync.Mutex
	m    map[string]*jobEntry
}

// newJobs returns a kind's job table; the running slots (MaxRunning) are the server's,
// shared by every kind.
func newJobs(s *Server, kind string) *jobs {
	return &jobs{kind: kind, s: s, opt: s.jobOpts, sem: s.jobSem, m: map[string]*jobEntry{}}
}

func newJobID(kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return kind + "-" + hex.EncodeToString(b[:])
}

// expire forgets finished jobs past their expiry (mu held).
func (js *jobs) expire(now time.Time) {
	for id, e := range js.m {
		if !e.job.Expires.IsZero() && now.After(e.job.Expires) {
			delete(js.m, id)
		}
	}
}

// start registers a new job and runs it in the background (queued until a slot
// frees).
func (js *jobs) start(owner, source string, run jobRun) (Job, error) {
	return js.startNew("", owner, source, nil, run)
}

// startNew is start with a chosen ID ("" for a new one) and a value kept as the job's
// result until the run returns its own.
func (js *jobs) startNew(id, owner, source string, keep any, run jobRun) (Job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.expire(time.Now())
	if len(js.m) >= js.opt.MaxJobs {
		return Job{}, Errorf(http.StatusTooManyRequests, "too-many-jobs", "Too many jobs", "",
			"%d %s jobs are kept (at most %d): cancel or delete one, or wait until finished ones expire (%s after they end)", len(js.m), js.kind, js.opt.MaxJobs, js.opt.Keep)
	}
	if id == "" {
		id = newJobID(js.kind)
	}
	e := &jobEntry{job: Job{ID: id, Kind: js.kind, State: JobQueued, Owner: owner, Source: source, Created: time.Now().UTC()}, result: keep}
	js.m[id] = e
	js.launch(e, run)
	return e.job, nil
}

// restart runs a finished job again under its ID (a dataset's resume).
func (js *jobs) restart(id, owner string, run jobRun) (Job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	old, ok := js.m[id]
	if !ok {
		return Job{}, Errorf(http.StatusNotFound, "not-found", "Not found", "", "no %s job has that ID", js.kind)
	}
	if old.job.State == JobQueued || old.job.State == JobRunning {
		return Job{}, Errorf(http.StatusConflict, "wrong-state", "Job is not finished", "", "job %s is %s", id, old.job.State)
	}
	e := &jobEntry{job: Job{ID: id, Kind: js.kind, State: JobQueued, Owner: owner, Source: old.job.Source, Created: time.Now().UTC(), Bytes: old.job.Bytes}, result: old.result}
	js.m[id] = e
	js.launch(e, run)
	return e.job, nil
}

// launch runs e in the background (js.mu held).
func (js *jobs) launch(e *jobEntry, run jobRun) {
	ctx, cancel := context.WithTimeout(context.Background(), js.opt.MaxRuntime)
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		defer cancel()
		go func() {
			select {
			case <-js.s.done: // the server stops: jobs end
				cancel()
			case <-e.done:
			}
		}()
		select {
		case js.sem <- struct{}{}:
			defer func() { <-js.sem }()
		case <-ctx.Done():
			js.finish(e, nil, ctx.Err())
			return
		}
		js.mu.Lock()
		e.job.State, e.job.Started = JobRunning, time.Now().UTC()
		js.mu.Unlock()
		res, err := run(ctx, func(done, total int) {
			js.mu.Lock()
			defer js.mu.Unlock()
			e.job.Done, e.job.Total = done, total
			if total > 0 {
				e.job.Progress = float64(done) / float64(total)
			}
			if el := time.Since(e.job.Started).Seconds(); done > 0 && done < total {
				e.job.ETASeconds = el / float64(done) * float64(total-done)
			} else {
				e.job.ETASeconds = 0
			}
		})
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		js.finish(e, res, err)
	}()
}

func (js *jobs) finish(e *jobEntry, res any, err error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	now := time.Now().UTC()
	e.job.Finished, e.job.Expires, e.job.ETASeconds = now, now.Add(js.opt.Keep), 0
	switch {
	case err == nil:
		e.job.State, e.result = JobSucceeded, res
		e.job.Progress = 1
	case e.canceled:
		e.job.State, e.job.Error = JobCanceled, "canceled"
	case err == context.DeadlineExceeded:
		e.job.State, e.job.Error = JobFailed, fmt.Sprintf("ran longer than the job runtime bound %s", js.opt.MaxRuntime)
	case err == context.Canceled:
		e.job.State, e.job.Error = JobCanceled, "canceled: the server is stopping"
	default:
		e.job.State, e.job.Error = JobFailed, err.Error()
	}
	if e.job.State != JobSucceeded && res != nil {
		e.result = res // partial results (e.g. a dataset's files) stay reachable
	}
}

// get returns a job and its result (nil until it succeeded).
func (js *jobs) get(id string) (Job, any, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.expire(time.Now())
	e, ok := js.m[id]
	if !ok {
		return Job{}, nil, Errorf(http.StatusNotFound, "not-found", "Not found", "", "no %s job has that ID (finished jobs are kept %s)", js.kind, js.opt.Keep)
	}
	return e.job, e.result, nil
}

func (js *jobs) list() []Job {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.expire(time.Now())
	out := make([]Job, 0, len(js.m))
	for _, e := range js.m {
		out = append(out, e.job)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created.Before(out[j].Created) || out[i].Created.Equal(out[j].Created) && out[i].ID < out[j].ID
	})
	return out
}

// cancel stops a queued or running job (and waits for it to end); a finished job is
// forgotten. It returns the job as it ended.
func (js *jobs) cancel(ctx context.Context, id string) (Job, error) {
	js.mu.Lock()
	e, ok := js.m[id]
	if !ok {
		js.mu.Unlock()
		return Job{}, Errorf(http.StatusNotFound, "not-found", "Not found", "", "no %s job has that ID", js.kind)
	}
	if e.job.State != JobQueued && e.job.State != JobRunning {
		delete(js.m, id)
		j := e.job
		js.mu.Unlock()
		return j, nil
	}
	e.canceled = true
	e.cancel()
	js.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return Job{}, ctx.Err()
	}
	j, _, err := js.get(id)
	return j, err
}

// setBytes records a dataset job's output size.
func (js *jobs) setBytes(id string, n int64) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if e, ok := js.m[id]; ok {
		e.job.Bytes = n
	}
}
