package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
	"github.com/twinflow/twinflow/twin/emulation"
)

// maxReportBytes bounds a fidelity report read by lab calibrate.
const maxReportBytes = 16 << 20

func newLabCalibrateCmd(o *Options, lo *labOptions) *cobra.Command {
	var reports, out, version, paramsFile string
	var rttWeight float64
	var fit []string
	cmd := &cobra.Command{
		Use:   "calibrate --runs REPORT[,REPORT...] --version NAME [--out PARAMS.json]",
		Short: "Fit the queue model's free parameters to measured FIFO runs (lab fidelity -o json reports)",
		Long: `Reads fidelity reports written by ` + "`lab fidelity -o json`" + ` (on calibration networks:
generated with seeds not used for evaluation), rebuilds each run's network and lab plan,
and fits the queue model's free parameters (queue_fill, cubic_gain, reno_gain,
bbr_min_window, hop_loss_gain, port_loss, port_gap, bbr_shallow; --fit NAME,... only those) by coordinate descent over a grid, minimising the mean
over FIFO runs of median |rate error| + rtt-weight × median |RTT error|. Writes the
fitted set (versioned) to --out for ` + "`--params`" + ` of analyze queue and lab fidelity.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if reports == "" || version == "" {
				return usageErrorf("--runs and --version are required")
			}
			for _, name := range fit {
				if !slices.Contains(emulation.CalibratedParams(), name) {
					return usageErrorf("--fit: unknown parameter %q (known: %s)", name, strings.Join(emulation.CalibratedParams(), ", "))
				}
			}
			start := queue.DefaultParams()
			if paramsFile != "" {
				p, err := readQueueParams(paramsFile)
				if err != nil {
					return err
				}
				start = p
			}
			var runs []emulation.CalibrationRun
			for _, file := range strings.Split(reports, ",") {
				rs, err := calibrationRuns(strings.TrimSpace(file), lo.prefix)
				if err != nil {
					return err
				}
				runs = append(runs, rs...)
			}
			res, err := emulation.CalibrateOnly(runs, start, version, rttWeight, fit)
			if err != nil {
				return labErr(err)
			}
			if out != "" {
				b, _ := json.MarshalIndent(res.Params, "", "  ")
				if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			return render(o, cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "runs\t%d\nevaluations\t%d\nobjective (start)\t%.2f%%\nobjective (fitted)\t%.2f%%\n", res.Runs, res.Evaluations, res.StartObjective, res.Objective)
				p := res.Params
				fmt.Fprintf(tw, "version\t%s\nqueue_fill\t%g\ncubic_gain\t%g\nreno_gain\t%g\nbbr_min_window\t%g\nhop_loss_gain\t%g\nport_loss\t%g\nport_gap\t%g\nbbr_shallow\t%g\n", p.Version, p.QueueFill, p.CubicGain, p.RenoGain, p.BBRMinWindow, p.HopLossGain, p.PortLoss, p.PortGap, p.BBRShallow)
			})
		},
	}
	cmd.Flags().StringVar(&reports, "runs", "", "fidelity reports (lab fidelity -o json), comma-separated")
	cmd.Flags().StringVar(&version, "version", "", "name of the fitted parameter set (e.g. calib-2026-12-07)")
	cmd.Flags().StringVar(&out, "out", "", "write the fitted parameters (JSON) here")
	cmd.Flags().StringVar(&paramsFile, "params", "", "starting parameters (default: built-in)")
	cmd.Flags().Float64Var(&rttWeight, "rtt-weight", 0.5, "weight of the RTT error in the objective")
	cmd.Flags().StringSliceVar(&fit, "fit", nil, "fit only these parameters (comma-separated; default: all of "+strings.Join(emulation.CalibratedParams(), ", ")+")")
	return cmd
}

// calibrationRuns reads one fidelity report and returns its FIFO runs.
func calibrationRuns(file, prefix string) ([]emulation.CalibrationRun, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, usageErrorf("--runs: %v", err)
	}
	if len(data) > maxReportBytes {
		return nil, usageErrorf("--runs %s: larger than %d bytes", file, maxReportBytes)
	}
	var rep fidelityReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, usageErrorf("--runs %s: %v", file, err)
	}
	var n *network.Network
	switch {
	case rep.Generate != "":
		if n, err = network.Generate(rep.Generate, rep.Seed); err != nil {
			return nil, usageErrorf("--runs %s: generate: %v", file, err)
		}
	case rep.Network != "":
		if n, err = readLabNetwork(rep.Network); err != nil {
			return nil, err
		}
	default:
		return nil, usageErrorf("--runs %s: the report names no network", file)
	}
	var out []emulation.CalibrationRun
	for _, r := range rep.Runs {
		if r.Queue != emulation.QueueFIFO || r.Queueing == nil {
			continue
		}
		cr := emulation.CalibrationRun{Network: n, CC: r.CC, MeasuredBps: map[string]float64{}, MeasuredRTTMs: map[string]float64{},
			Options: emulation.Options{Lab: "calibrate", Prefix: prefix, Scale: rep.Scale, Queue: emulation.QueueFIFO, QueueLimit: rep.QueueLimit, SenderHosts: rep.SenderHosts}}
		for _, row := range r.Queueing.Rows {
			cr.MeasuredBps[row.Flow] = row.MeasuredBps
			cr.MeasuredRTTMs[row.Flow] = row.MeasuredRTTMs
		}
		out = append(out, cr)
	}
	if len(out) == 0 {
		return nil, usageErrorf("--runs %s: no FIFO run with a queue-model comparison", file)
	}
	return out, nil
}
