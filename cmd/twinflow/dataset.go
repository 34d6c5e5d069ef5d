package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/dataset"
)

func newDatasetCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Generate labelled ML training datasets from the twin's models (no server needed)",
	}
	cmd.AddCommand(newDatasetGenerateCmd(), newDatasetMergeCmd())
	return cmd
}

func newDatasetGenerateCmd() *cobra.Command {
	var file, dir, shard string
	var workers int
	var quiet bool
	cmd := &cobra.Command{
		Use:   "generate -f spec.yaml -d DIR [--shard I/N]",
		Short: "Generate a dataset (Parquet and RouteNet layout); resumes into a partly written DIR",
		Long: `Generate the dataset a spec describes into DIR (see docs/datasets.md). The same spec
and seed give byte-identical files. --shard I/N writes only the scenarios j with
j mod N == I; "twinflow dataset merge" combines the N shard directories into what a
single run writes. Re-running into a partly written DIR skips complete scenarios.
Progress (samples, rate, ETA) goes to stderr. With "emulate" in the spec, the first
samples are also measured in the netns sandbox (root on Linux; seconds per sample):
their measured labels are the Parquet emulated_* columns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" || dir == "" {
				return usageErrorf("-f/--file and -d/--dir are required")
			}
			var sh dataset.Shard
			if shard != "" {
				var err error
				if sh, err = dataset.ParseShard(shard); err != nil {
					return usageErrorf("--shard: %v", err)
				}
			}
			spec, imp, err := dataset.LoadSpec(file)
			if err != nil {
				if errors.Is(err, dataset.ErrSpec) {
					return usageErrorf("%v", err)
				}
				return err
			}
			opts := dataset.Options{Shard: sh, Workers: workers}
			if spec.Emulate != nil { // the probe agent, delay line and state dir as `twinflow lab` finds them
				lo := &labOptions{stateDir: os.Getenv("TWINFLOW_LAB_STATE_DIR")}
				opts.Emulator = &dataset.NetnsEmulator{ProbeCmd: lo.probeCmd(), DelayCmd: lo.delayCmd(), StateDir: lo.stateDir}
			}
			var p *progressLine
			if !quiet {
				p = newProgressLine(cmd.ErrOrStderr(), "dataset "+spec.Name)
				opts.Progress = p.update
			}
			res, err := dataset.Generate(cmd.Context(), spec, imp, dir, opts)
			if p != nil {
				p.finish()
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d samples in %d scenarios (%d written, %d already complete)\n",
				dir, res.Samples, res.Scenarios, res.Written, res.Skipped)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "dataset spec (YAML)")
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "output directory")
	cmd.Flags().StringVar(&shard, "shard", "", "generate only shard I of N (I/N, 0-based)")
	cmd.Flags().IntVar(&workers, "workers", 0, "scenarios generated in parallel (default: GOMAXPROCS)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	return cmd
}

func newDatasetMergeCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "merge -d DIR SHARD_DIR...",
		Short: "Merge shard directories into one dataset, identical to a single-machine run",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageErrorf("-d/--dir is required")
			}
			res, err := dataset.Merge(dir, args)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d samples in %d scenarios merged from %d shards\n", dir, res.Samples, res.Scenarios, len(args))
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "dir", "d", "", "output directory")
	return cmd
}

// progressLine prints "name: done/total samples (p%) rate/s ETA d" on one line of w,
// at most twice a second, and a final line when finished.
type progressLine struct {
	w           io.Writer
	name        string
	start, last time.Time
	done, total int
	startDone   int
}

func newProgressLine(w io.Writer, name string) *progressLine {
	return &progressLine{w: w, name: name, start: time.Now(), startDone: -1}
}

func (p *progressLine) update(done, total int) {
	if p.startDone < 0 {
		p.startDone = done // samples found complete are not part of the rate
	}
	p.done, p.total = done, total
	if time.Since(p.last) < 500*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	p.print("\r")
}

func (p *progressLine) print(prefix string) {
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.done-p.startDone) / el
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	fmt.Fprintf(p.w, "%s%s: %d/%d samples (%.1f%%) %.0f samples/s ETA %s   ", prefix, p.name, p.done, p.total, pct, rate, eta)
}

func (p *progressLine) finish() {
	if p.startDone < 0 {
		return // refused before any progress (e.g. a machine that cannot emulate)
	}
	p.print("\r")
	fmt.Fprintln(p.w)
}
