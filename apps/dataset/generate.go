package dataset

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/models/network"
)

// Options tune Generate. The zero value generates every scenario on GOMAXPROCS workers.
type Options struct {
	// Shard, when Count > 1, generates only the scenarios j with j mod Count == Index.
	Shard Shard
	// Workers is the number of scenarios generated in parallel (default GOMAXPROCS).
	Workers int
	// Emulator measures the samples spec.emulate selects (required with emulate;
	// NetnsEmulator runs them in the netns sandbox).
	Emulator Emulator
	// Progress, if set, is called after each scenario with the samples done (written
	// or found complete) and the samples this run owns. Calls are serialised.
	Progress func(done, total int)
}

// Result summarises a run.
type Result struct {
	Scenarios int // scenarios this run owns
	Written   int // scenarios generated now
	Skipped   int // scenarios found complete (resume)
	Samples   int // samples this run owns
}

// Manifest is dataset.json: what the dataset is, identical for every shard of it.
type Manifest struct {
	Generator     string            `json:"generator"`
	SchemaVersion int               `json:"schema_version"`
	Spec          Spec              `json:"spec"`
	Imports       map[string]string `json:"imports,omitempty"` // file → sha256 of its canonical JSON
	Scenarios     int               `json:"scenarios"`
	Samples       int               `json:"samples"`
}

func manifestOf(s *Spec, imp Imported) ([]byte, error) {
	m := Manifest{Generator: "twinflow dataset", SchemaVersion: SchemaVersion, Spec: *s, Scenarios: s.Scenarios(), Samples: s.Samples}
	if len(imp) > 0 {
		m.Imports = map[string]string{}
		for f, n := range imp {
			var b bytes.Buffer
			if err := network.Encode(&b, n, network.FormatJSON); err != nil {
				return nil, err
			}
			h := sha256.Sum256(b.Bytes())
			m.Imports[f] = hex.EncodeToString(h[:])
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// scenarioFiles lists the files (relative to the output directory) scenario j writes.
func scenarioFiles(s *Spec, j int) []string {
	var fs []string
	if s.has(FormatParquet) {
		for _, t := range []string{"samples", "flows", "links"} {
			fs = append(fs, filepath.Join("parquet", t, fmt.Sprintf("part-%06d.parquet", j)))
		}
	}
	if s.has(FormatRouteNet) {
		fs = append(fs,
			filepath.Join("routenet", "graphs", graphName(j)),
			filepath.Join("routenet", "routings", routingName(j), "Routing_src_0.txt"),
			filepath.Join("routenet", tarballBase(s.Name, j)+".tar.gz"))
	}
	return fs
}

func complete(out string, s *Spec, j int) bool {
	for _, f := range scenarioFiles(s, j) {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			return false
		}
	}
	return true
}

// Generate writes the dataset of s (or the shard o.Shard of it) under out. Scenarios
// whose files all exist are skipped (resume). An out directory holding another
// dataset (a different dataset.json) is refused.
//
// With spec.emulate, the scenarios holding emulated samples are generated first, one at
// a time (nothing else competes for the CPU while a sample runs in emulation), and an
// emulator that cannot run here is refused before anything is written.
func Generate(ctx context.Context, s *Spec, imp Imported, out string, o Options) (Result, error) {
	if s.Emulate != nil && o.Shard.ownsAny(s, s.Emulate.Samples) {
		if o.Emulator == nil {
			return Result{}, fmt.Errorf("%w: no emulator configured", ErrEmulation)
		}
		if err := o.Emulator.Available(); err != nil {
			return Result{}, err
		}
		for j := 0; j*s.SamplesPerScenario < s.Emulate.Samples && j < s.Scenarios(); j++ {
			if !o.Shard.owns(j) {
				continue
			}
			sc, _, err := computeScenario(s, imp, j) // cheap next to a run: refuse before writing
			if err != nil {
				return Result{}, err
			}
			if sc.n() > MaxEmulateNodes {
				return Result{}, fmt.Errorf("%w: scenario %d: topology %q has %d devices, the sandbox runs at most %d", ErrEmulation, j, sc.topology, sc.n(), MaxEmulateNodes)
			}
		}
	}
	man, err := manifestOf(s, imp)
	if err != nil {
		return Result{}, err
	}
	dirs := []string{out}
	if s.has(FormatParquet) {
		dirs = append(dirs, filepath.Join(out, "parquet", "samples"), filepath.Join(out, "parquet", "flows"), filepath.Join(out, "parquet", "links"))
	}
	if s.has(FormatRouteNet) {
		dirs = append(dirs, filepath.Join(out, "routenet", "graphs"), filepath.Join(out, "routenet", "routings"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Result{}, err
		}
		if err := removeTemps(d); err != nil {
			return Result{}, err
		}
	}
	if old, err := os.ReadFile(filepath.Join(out, "dataset.json")); err == nil {
		if !bytes.Equal(old, man) {
			return Result{}, fmt.Errorf("dataset: %s holds another dataset (dataset.json differs); use an empty directory", out)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return Result{}, err
	}
	if err := writeAtomic(filepath.Join(out, "schema.json"), writeSchema); err != nil {
		return Result{}, err
	}
	if err := writeAtomic(filepath.Join(out, "dataset.json"), func(w io.Writer) error { _, err := w.Write(man); return err }); err != nil {
		return Result{}, err
	}

	var res Result
	var todo []int
	nsc := s.Scenarios()
	for j := range nsc {
		if !o.Shard.owns(j) {
			continue
		}
		res.Scenarios++
		res.Samples += samplesIn(s, j)
		if complete(out, s, j) {
			res.Skipped++
			continue
		}
		todo = append(todo, j)
	}
	var done atomic.Int64
	done.Store(int64(res.Samples - samplesOf(s, todo)))
	var mu sync.Mutex
	report := func() {
		if o.Progress != nil {
			mu.Lock()
			o.Progress(int(done.Load()), res.Samples)
			mu.Unlock()
		}
	}
	report()
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var parallel []int
	for _, j := range todo {
		if s.Emulate == nil || j*s.SamplesPerScenario >= s.Emulate.Samples {
			parallel = append(parallel, j)
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		measured := 0
		err := writeScenario(ctx, s, imp, out, j, o.Emulator, func() { // seconds per sample: report each
			measured++
			done.Add(1)
			report()
		})
		if err != nil {
			return res, err
		}
		done.Add(int64(samplesIn(s, j) - measured))
		report()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, j := range parallel {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if err := writeScenario(gctx, s, imp, out, j, nil, nil); err != nil {
				return err
			}
			done.Add(int64(samplesIn(s, j)))
			report()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Written = len(todo)
	return res, nil
}

func samplesIn(s *Spec, j int) int {
	return min(s.SamplesPerScenario, s.Samples-j*s.SamplesPerScenario)
}

func samplesOf(s *Spec, js []int) int {
	n := 0
	for _, j := range js {
		n += samplesIn(s, j)
	}
	return n
}

// computeScenario builds scenario j and labels its samples.
func computeScenario(s *Spec, imp Imported, j int) (*scenario, []*sample, error) {
	sc, err := buildScenario(s, imp, j)
	if err != nil {
		return nil, nil, err
	}
	first := j * s.SamplesPerScenario
	samples := make([]*sample, samplesIn(s, j))
	for k := range samples {
		sm := drawTraffic(s, sc, first+k)
		if err := label(s, sc, sm); err != nil {
			return nil, nil, err
		}
		samples[k] = sm
	}
	return sc, samples, nil
}

// writeScenario computes and writes scenario j; with em, the samples spec.emulate
// selects are measured too and measured is called after each.
func writeScenario(ctx context.Context, s *Spec, imp Imported, out string, j int, em Emulator, measured func()) error {
	sc, samples, err := computeScenario(s, imp, j)
	if err != nil {
		return err
	}
	for _, sm := range samples {
		if s.emulated(sm.index) {
			if err := emulateSample(ctx, s, sc, sm, em); err != nil {
				return err
			}
			measured()
		}
	}
	if s.has(FormatParquet) {
		srows, frows, lrows := sc.parquetRows(samples)
		part := fmt.Sprintf("part-%06d.parquet", j)
		if err := writeAtomic(filepath.Join(out, "parquet", "samples", part), func(w io.Writer) error { return writeParquet(w, srows) }); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(out, "parquet", "flows", part), func(w io.Writer) error { return writeParquet(w, frows) }); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(out, "parquet", "links", part), func(w io.Writer) error { return writeParquet(w, lrows) }); err != nil {
			return err
		}
	}
	if s.has(FormatRouteNet) {
		port, next, err := sc.ports()
		if err != nil {
			return err
		}
		rn := filepath.Join(out, "routenet")
		if err := writeAtomic(filepath.Join(rn, "graphs", graphName(j)), func(w io.Writer) error { return sc.writeGML(w, port) }); err != nil {
			return err
		}
		final := filepath.Join(rn, "routings", routingName(j))
		tmp := filepath.Join(rn, "routings", ".tmp-"+routingName(j))
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return err
		}
		for i, b := range sc.routingFiles(port) {
			if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("Routing_src_%d.txt", i)), b, 0o644); err != nil {
				return err
			}
		}
		if err := os.RemoveAll(final); err != nil {
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(rn, tarballBase(s.Name, j)+".tar.gz"), func(w io.Writer) error { return sc.writeTarball(w, s.Name, samples, next) }); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes path through a temporary file in the same directory and renames
// it, so a reader (or a resumed run) never sees a partial file.
func writeAtomic(path string, fill func(io.Writer) error) error {
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// removeTemps deletes what an interrupted run left: ".tmp-*" entries of dir.
func removeTemps(dir string) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Merge combines shard directories (each written by Generate with the same spec and
// seed) into out. Every shard must hold the same dataset.json; a file present in two
// shards must be identical; after the copy every scenario must be complete. The result
// is byte-identical to a single-machine run.
func Merge(out string, shards []string) (Result, error) {
	if len(shards) == 0 {
		return Result{}, errors.New("dataset merge: no shard directories")
	}
	var man []byte
	for _, d := range shards {
		b, err := os.ReadFile(filepath.Join(d, "dataset.json"))
		if err != nil {
			return Result{}, fmt.Errorf("dataset merge: %w", err)
		}
		if man == nil {
			man = b
		} else if !bytes.Equal(man, b) {
			return Result{}, fmt.Errorf("dataset merge: %s holds another dataset than %s (dataset.json differs)", d, shards[0])
		}
	}
	var m Manifest
	if err := json.Unmarshal(man, &m); err != nil {
		return Result{}, fmt.Errorf("dataset merge: dataset.json: %w", err)
	}
	s := m.Spec
	if err := s.Normalize(); err != nil {
		return Result{}, fmt.Errorf("dataset merge: dataset.json: %w", err)
	}
	if old, err := os.ReadFile(filepath.Join(out, "dataset.json")); err == nil && !bytes.Equal(old, man) {
		return Result{}, fmt.Errorf("dataset merge: %s holds another dataset", out)
	}
	for _, d := range shards {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(e.Name(), ".tmp-") {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			rel, err := filepath.Rel(d, p)
			if err != nil {
				return err
			}
			dst := filepath.Join(out, rel)
			if e.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			if rel == "dataset.json" {
				return nil // written last
			}
			return copyFile(p, dst)
		})
		if err != nil {
			return Result{}, fmt.Errorf("dataset merge: %w", err)
		}
	}
	var missing []string
	for j := range s.Scenarios() {
		if !complete(out, &s, j) {
			missing = append(missing, fmt.Sprint(j))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		if len(missing) > 10 {
			missing = append(missing[:10], "...")
		}
		return Result{}, fmt.Errorf("dataset merge: scenarios %s are missing (a shard is absent or incomplete)", strings.Join(missing, ", "))
	}
	if err := writeAtomic(filepath.Join(out, "dataset.json"), func(w io.Writer) error { _, err := w.Write(man); return err }); err != nil {
		return Result{}, err
	}
	return Result{Scenarios: s.Scenarios(), Samples: s.Samples}, nil
}

// copyFile copies src to dst; an existing dst must have the same content.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(dst); err == nil {
		if !bytes.Equal(old, b) {
			return fmt.Errorf("%s differs between shards", dst)
		}
		return nil
	}
	return writeAtomic(dst, func(w io.Writer) error { _, err := w.Write(b); return err })
}
