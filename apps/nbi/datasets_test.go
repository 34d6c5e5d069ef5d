package nbi_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
)

const apiDatasetSpec = `name: api
seed: 3
samples: 8
samples_per_scenario: 2
topologies: [{generator: "ring:n=6"}]
traffic: {models: [uniform, gravity], flows: 10, intensity_gbps: [1, 5]}
failures: {max: 1}
`

// TestDatasetAPI (issue #18 item 2): POST /api/v1/datasets generates a dataset in the
// background under the data directory, with progress; the archive holds its files;
// DELETE removes a finished one with its files; a job over the size bound fails and
// can be resumed (here failing again: the bound still holds); malformed specs, file
// topologies, emulate and too many samples are refused with nothing written; without a data
// directory the routes answer 503.
func TestDatasetAPI(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	body := func(spec string) string { b, _ := json.Marshal(nbi.DatasetRequest{Spec: spec}); return string(b) }
	if r := e.do("POST", "/api/v1/datasets", body(apiDatasetSpec)); r.status != 503 {
		t.Fatalf("no data dir: %d %s", r.status, r.body)
	}
	dir := t.TempDir()
	o := e.o
	o.Jobs = nbi.JobOptions{DataDir: dir}
	e.serve(o)
	for _, c := range []struct {
		body  string
		code  int
		field string
	}{
		{`{}`, 400, "spec"},
		{body("samples: -1\n"), 422, "spec"},
		{body("name: x\nsamples: 4\ntopologies: [{file: /etc/passwd}]\n"), 422, "spec.topologies[0].file"},
		{body(strings.Replace(apiDatasetSpec, "samples: 8", "samples: 2000000", 1)), 422, "spec.samples"},
		{body(apiDatasetSpec + "emulate: {samples: 1}\n"), 422, "spec.emulate"},
		{`{"spec":"x","extra":1}`, 400, ""},
	} {
		r := e.do("POST", "/api/v1/datasets", c.body)
		if r.status != c.code || c.field != "" && problem(t, r).Field != c.field {
			t.Errorf("POST %s: %d %s; want %d field %q", c.body, r.status, r.body, c.code, c.field)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused specs wrote %d entries", len(entries))
	}

	var j nbi.Job
	e.json("POST", "/api/v1/datasets", body(apiDatasetSpec), 202, &j)
	done := waitJob(t, e, "/api/v1/datasets/"+j.ID)
	if done.State != nbi.JobSucceeded || done.Total != 8 || done.Done != 8 || done.Bytes == 0 {
		t.Fatalf("finished %+v", done)
	}
	if _, err := os.Stat(filepath.Join(dir, j.ID, "dataset.json")); err != nil {
		t.Fatalf("no manifest under the data dir: %v", err)
	}
	if r := e.do("POST", "/api/v1/datasets/"+j.ID+"/resume", ""); r.status != 409 {
		t.Fatalf("resuming a finished job: %d", r.status)
	}
	r := e.do("GET", "/api/v1/datasets/"+j.ID+"/archive", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("archive: %d %v", r.status, r.header)
	}
	gz, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	if !names["api/dataset.json"] || len(names) < 5 {
		t.Fatalf("archive holds %v", names)
	}
	e.json("DELETE", "/api/v1/datasets/"+j.ID, "", 200, nil)
	if _, err := os.Stat(filepath.Join(dir, j.ID)); !os.IsNotExist(err) {
		t.Fatalf("deleting a finished dataset kept its files: %v", err)
	}

	// a tiny size bound: the job fails; a resume runs it again under its ID
	o.Jobs = nbi.JobOptions{DataDir: dir, MaxDatasetBytes: 10}
	e.serve(o)
	e.json("POST", "/api/v1/datasets", body(apiDatasetSpec), 202, &j)
	failed := waitJob(t, e, "/api/v1/datasets/"+j.ID)
	if failed.State != nbi.JobFailed || !strings.Contains(failed.Error, "exceeds") {
		t.Fatalf("over the bound: %+v", failed)
	}
	var resumed nbi.Job
	e.json("POST", "/api/v1/datasets/"+j.ID+"/resume", "", 202, &resumed)
	if resumed.ID != j.ID {
		t.Fatalf("resumed under another ID: %s", resumed.ID)
	}
	if again := waitJob(t, e, "/api/v1/datasets/"+j.ID); again.State != nbi.JobFailed {
		t.Fatalf("still over the bound: %+v", again)
	}
	if r := e.do("POST", "/api/v1/datasets/"+j.ID+"/resume", "", "Authorization", bearer(e.sec.tokens["carla"])); r.status != 403 {
		t.Fatalf("an approver resumes: %d", r.status)
	}
}
