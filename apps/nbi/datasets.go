package nbi

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/twinflow/twinflow/apps/dataset"
)

// DatasetRequest is the body of POST /api/v1/datasets: a dataset spec
// (docs/datasets.md) generated in the background under the server's data directory.
type DatasetRequest struct {
	// Spec is the spec document (YAML or JSON text). Topologies come from
	// generators only: a file topology would read a file on the server.
	Spec string `json:"spec"`
}

// MaxAPIDatasetSamples bounds the samples of one dataset job.
const MaxAPIDatasetSamples = 1_000_000

// errDatasetTooBig ends a dataset job whose output outgrew JobOptions.MaxDatasetBytes.
var errDatasetTooBig = errors.New("the dataset's output exceeds the server's bound")

func datasetRoutes(s *Server) []Route {
	tags := []string{"datasets"}
	a := &datasetAPI{s: s, js: newJobs(s, "dataset")}
	id := "/api/v1/datasets/{id}"
	return []Route{
		{Method: http.MethodPost, Pattern: "/api/v1/datasets", Summary: "Generate a labelled dataset as a background job",
			Tags: tags, Request: DatasetRequest{}, Response: Job{}, Status: http.StatusAccepted, Errors: []int{400, 413, 422, 429, 503}, Handler: a.create},
		{Method: http.MethodGet, Pattern: "/api/v1/datasets", Summary: "Dataset jobs", Tags: tags, Response: JobList{}, Handler: a.list},
		{Method: http.MethodGet, Pattern: id, Summary: "A dataset job: state, progress, ETA, output size", Tags: tags, Response: Job{}, Errors: []int{404}, Handler: a.get},
		{Method: http.MethodPost, Pattern: id + "/resume", Summary: "Resume a failed or canceled dataset job (complete scenarios are kept)",
			Tags: tags, Response: Job{}, Status: http.StatusAccepted, Errors: []int{404, 409, 503}, Handler: a.resume},
		{Method: http.MethodGet, Pattern: id + "/archive", Summary: "Download a finished dataset as a gzip-compressed tar archive",
			Tags: tags, ContentType: "application/gzip", Errors: []int{404, 409}, Handler: a.archive},
		{Method: http.MethodDelete, Pattern: id, Summary: "Cancel a dataset job, or delete a finished one and its files",
			Tags: tags, Response: Job{}, Errors: []int{404}, Handler: a.cancel},
	}
}

type datasetAPI struct {
	s  *Server
	js *jobs
}

// datasetJob is what a dataset job keeps: its spec and output directory.
type datasetJob struct {
	spec *dataset.Spec
	dir  string
}

func (a *datasetAPI) dataDir() (string, error) {
	if a.s.jobOpts.DataDir == "" {
		return "", Errorf(http.StatusServiceUnavailable, "no-data-dir", "Datasets not available", "",
			"this server has no data directory for datasets (serve --data-dir)")
	}
	return a.s.jobOpts.DataDir, nil
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// run returns the job's work: Generate into dir (skipping complete scenarios, so a
// second run resumes), checking the output size at most once a second.
func (a *datasetAPI) run(id string, dj *datasetJob) jobRun {
	return func(ctx context.Context, progress func(done, total int)) (any, error) {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		var last atomic.Int64
		check := func() {
			n := dirSize(dj.dir)
			a.js.setBytes(id, n)
			if n > a.s.jobOpts.MaxDatasetBytes {
				cancel(errDatasetTooBig)
			}
		}
		_, err := dataset.Generate(ctx, dj.spec, nil, dj.dir, dataset.Options{Workers: 1, Progress: func(done, total int) {
			progress(done, total)
			if now := time.Now().UnixNano(); now-last.Load() > int64(time.Second) {
				last.Store(now)
				check()
			}
		}})
		check()
		if errors.Is(context.Cause(ctx), errDatasetTooBig) {
			return dj, fmt.Errorf("%w (%d bytes): it keeps what it wrote; delete it, or generate fewer samples", errDatasetTooBig, a.s.jobOpts.MaxDatasetBytes)
		}
		return dj, err
	}
}

func (a *datasetAPI) create(w http.ResponseWriter, r *http.Request) error {
	root, err := a.dataDir()
	if err != nil {
		return err
	}
	var req DatasetRequest
	if err := DecodeJSON(w, r, a.s.MaxBodyBytes(), &req); err != nil {
		return err
	}
	if req.Spec == "" {
		return BadRequest("spec", "the dataset spec is required (YAML or JSON text)")
	}
	spec, err := dataset.ParseSpec([]byte(req.Spec))
	if err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid dataset spec", Field: "spec", Detail: err.Error()}
	}
	for i, t := range spec.Topologies {
		if t.File != "" {
			return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid dataset spec", Field: fmt.Sprintf("spec.topologies[%d].file", i),
				Detail: "the API takes generated topologies only (a file would be read on the server); use twinflow dataset generate for imported files"}
		}
	}
	if spec.Emulate != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid dataset spec", Field: "spec.emulate",
			Detail: "the API does not run emulation (namespaces on the server, as root); use twinflow dataset generate for emulated labels"}
	}
	if spec.Samples > MaxAPIDatasetSamples {
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid dataset spec", Field: "spec.samples",
			Detail: fmt.Sprintf("at most %d samples per API job, got %d (shard larger datasets with twinflow dataset generate --shard)", MaxAPIDatasetSamples, spec.Samples)}
	}
	id := newJobID("dataset")
	dj := &datasetJob{spec: spec, dir: filepath.Join(root, id)}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return fmt.Errorf("nbi: data dir: %w", err)
	}
	job, err := a.js.startNew(id, actorOf(r), "spec:"+spec.Name, dj, a.run(id, dj))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/datasets/"+job.ID)
	return writeJSON(w, http.StatusAccepted, job)
}

func (a *datasetAPI) list(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, JobList{Items: a.js.list()})
}

func (a *datasetAPI) get(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	j, _, err := a.js.get(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

func (a *datasetAPI) resume(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.dataDir(); err != nil {
		return err
	}
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	if err := decodeOptionalEmpty(w, r, a.s.MaxBodyBytes()); err != nil {
		return err
	}
	j, res, err := a.js.get(id)
	if err != nil {
		return err
	}
	dj, ok := res.(*datasetJob)
	if (j.State != JobFailed && j.State != JobCanceled) || !ok {
		return Errorf(http.StatusConflict, "wrong-state", "Job cannot be resumed", "", "job %s is %s; only failed or canceled dataset jobs resume", j.ID, j.State)
	}
	job, err := a.js.restart(id, actorOf(r), a.run(id, dj))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, job)
}

func (a *datasetAPI) archive(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	j, res, err := a.js.get(id)
	if err != nil {
		return err
	}
	dj, ok := res.(*datasetJob)
	if j.State != JobSucceeded || !ok {
		return Errorf(http.StatusConflict, "not-finished", "Job has no result", "", "job %s is %s%s", j.ID, j.State, errSuffix(j.Error))
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", dj.spec.Name+".tar.gz"))
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(dj.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dj.dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(filepath.Join(dj.spec.Name, rel)), Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, fi.Size())
		return err
	})
	if err != nil {
		// the status is sent: the truncated archive fails to decompress
		a.s.log.Warn("dataset archive", "job", id, "err", err)
		return nil
	}
	if err := tw.Close(); err != nil {
		return nil
	}
	_ = gz.Close()
	return nil
}

func (a *datasetAPI) cancel(w http.ResponseWriter, r *http.Request) error {
	id, err := PathParam(r, "id")
	if err != nil {
		return err
	}
	before, res, err := a.js.get(id)
	if err != nil {
		return err
	}
	j, err := a.js.cancel(r.Context(), id)
	if err != nil {
		return err
	}
	if before.State != JobQueued && before.State != JobRunning {
		// a finished job is forgotten: its files go too
		if dj, ok := res.(*datasetJob); ok {
			if err := os.RemoveAll(dj.dir); err != nil {
				return fmt.Errorf("nbi: delete dataset %s: %w", id, err)
			}
		}
	}
	return writeJSON(w, http.StatusOK, j)
}
