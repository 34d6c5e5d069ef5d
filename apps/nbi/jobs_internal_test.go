package nbi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func testJobs(t *testing.T, o JobOptions) (*jobs, *Server) {
	t.Helper()
	o = o.withDefaults()
	s := &Server{jobOpts: o, jobSem: make(chan struct{}, o.MaxRunning), done: make(chan struct{})}
	t.Cleanup(s.Close)
	return newJobs(s, "test"), s
}

func waitState(t *testing.T, js *jobs, id, want string) Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, _, err := js.get(id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s; want %s", id, j.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blocking is a job that reports progress 1/4 and then blocks until canceled or
// released.
func blocking(release chan struct{}) jobRun {
	return func(ctx context.Context, progress func(done, total int)) (any, error) {
		progress(1, 4)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			progress(4, 4)
			return "result", nil
		}
	}
}

// TestJobsBounds (issue #18): MaxRunning jobs run at once and the others queue;
// MaxJobs jobs are kept (429 beyond); cancel ends a queued or running job as
// canceled and forgets a finished one; the runtime bound fails a job; finished jobs
// expire after Keep.
func TestJobsBounds(t *testing.T) {
	js, _ := testJobs(t, JobOptions{MaxRunning: 1, MaxJobs: 3, Keep: 200 * time.Millisecond})
	rel := make(chan struct{})
	a, err := js.start("bo", "src", blocking(rel))
	if err != nil {
		t.Fatal(err)
	}
	ja := waitState(t, js, a.ID, JobRunning)
	b, _ := js.start("bo", "src", blocking(rel))
	time.Sleep(20 * time.Millisecond)
	if jb, _, _ := js.get(b.ID); jb.State != JobQueued {
		t.Fatalf("second job with one slot: %s", jb.State)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ja.Done != 1 && time.Now().Before(deadline) {
		ja, _, _ = js.get(a.ID)
	}
	if ja.Done != 1 || ja.Total != 4 || ja.Progress != 0.25 {
		t.Fatalf("progress %+v", ja)
	}
	c, _ := js.start("bo", "src", blocking(rel))
	_, err = js.start("bo", "src", blocking(rel))
	var pe *Error
	if !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests {
		t.Fatalf("a fourth job: %v", err)
	}
	// cancel the queued one and the running one
	if j, err := js.cancel(context.Background(), b.ID); err != nil || j.State != JobCanceled {
		t.Fatalf("cancel queued: %+v %v", j, err)
	}
	if j, err := js.cancel(context.Background(), a.ID); err != nil || j.State != JobCanceled || j.Finished.IsZero() {
		t.Fatalf("cancel running: %+v %v", j, err)
	}
	waitState(t, js, c.ID, JobRunning)
	close(rel)
	jc := waitState(t, js, c.ID, JobSucceeded)
	if _, res, _ := js.get(c.ID); res != "result" || jc.Progress != 1 {
		t.Fatalf("result %v progress %v", res, jc.Progress)
	}
	// a canceled (finished) job is forgotten by a second cancel
	if _, err := js.cancel(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := js.get(a.ID); !errors.As(err, &pe) || pe.Status != 404 {
		t.Fatalf("forgotten job: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if l := js.list(); len(l) != 0 {
		t.Fatalf("finished jobs did not expire: %+v", l)
	}

	js2, srv := testJobs(t, JobOptions{MaxRuntime: 50 * time.Millisecond})
	d, _ := js2.start("bo", "src", blocking(make(chan struct{})))
	if j := waitState(t, js2, d.ID, JobFailed); j.Error == "" {
		t.Fatal("no error for a job over its runtime")
	}
	e, _ := js2.start("bo", "src", blocking(make(chan struct{})))
	waitState(t, js2, e.ID, JobRunning)
	srv.Close() // the server stops: running jobs end
	if j := waitState(t, js2, e.ID, JobCanceled); j.Error == "" {
		t.Fatal("no reason for a job ended by the server stopping")
	}
}
