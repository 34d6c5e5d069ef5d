package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/queue"
)

// maxParamsBytes bounds a --params file.
const maxParamsBytes = 1 << 16

func newAnalyzeQueueCmd(o *Options, ao *analyzeOptions) *cobra.Command {
	var paramsFile string
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Rates, queueing delay, jitter and loss per flow from the queueing model (fq: max-min; FIFO: fixed point)",
		Long: `Runs the queueing model (models/queue, docs/queueing.md) over a network document:
each link direction's queue (links[].queue / reverse_queue: fq, fifo, priority,
weighted; fq when unset) and each flow's congestion control (flows[].cc, cubic when
unset). Prints per flow the model used, rate, one-way delay (propagation + queueing),
RTT, jitter and loss, and per link direction (and class) load, queueing delay and loss.
The engine's own {"links","flows"} format is accepted too (every link fq).`,
		Example: `  twinflow analyze queue -f net.yaml
  twinflow analyze queue -f net.json -o json --params calibrated.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			params := queue.DefaultParams()
			if paramsFile != "" {
				p, err := readQueueParams(paramsFile)
				if err != nil {
					return err
				}
				params = p
			}
			in, err := ao.loadQueueInput(cmd)
			if err != nil {
				return err
			}
			r, err := queue.Compute(in, params)
			if err != nil {
				return usageErrorf("%s: %v", ao.file, err)
			}
			return render(o, cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) { queueTable(tw, r) })
		},
	}
	cmd.Flags().StringVar(&paramsFile, "params", "", "queue model parameters (JSON, as `twinflow lab calibrate` writes); default: the built-in set")
	return cmd
}

// readQueueParams reads and validates a parameter file (unknown fields rejected).
func readQueueParams(path string) (queue.Params, error) {
	f, err := os.Open(path)
	if err != nil {
		return queue.Params{}, usageErrorf("--params: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxParamsBytes+1))
	if err != nil || len(data) > maxParamsBytes {
		return queue.Params{}, usageErrorf("--params %s: unreadable or larger than %d bytes", path, maxParamsBytes)
	}
	p := queue.DefaultParams()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return queue.Params{}, usageErrorf("--params %s: %v", path, err)
	}
	if err := p.Validate(); err != nil {
		return queue.Params{}, usageErrorf("--params %s: %v", path, err)
	}
	return p, nil
}

// loadQueueInput reads the input file into the queue model's input.
func (ao *analyzeOptions) loadQueueInput(cmd *cobra.Command) (*queue.Input, error) {
	doc, err := ao.readDocument(cmd)
	if err != nil {
		return nil, err
	}
	if doc.Network == nil {
		in := &queue.Input{}
		for _, l := range doc.Bottleneck.Links {
			in.Links = append(in.Links, queue.Link{ID: l.ID, CapacityGbps: l.Capacity})
		}
		for _, f := range doc.Bottleneck.Flows {
			in.Flows = append(in.Flows, queue.Flow{ID: f.ID, Path: f.Path, Class: f.Class, DemandGbps: f.Demand})
		}
		return in, nil
	}
	if err := doc.Network.Validate(); err != nil {
		return nil, usageErrorf("%s: %v", ao.file, err)
	}
	r, err := bottleneck.NewRouter(doc.Network, bottleneck.Routing(ao.routing))
	if err != nil {
		return nil, usageErrorf("--routing: %v", err)
	}
	in, err := queue.FromNetwork(doc.Network, r.Route)
	if err != nil {
		return nil, usageErrorf("%s: %v", ao.file, err)
	}
	return in, nil
}

func pct(v float64) string { return fmt.Sprintf("%.4g%%", v*100) }

func queueTable(tw *tabwriter.Writer, r *queue.Result) {
	conv := "converged"
	if !r.Converged {
		conv = fmt.Sprintf("NOT converged (residual %.3g)", r.Residual)
	}
	fmt.Fprintf(tw, "model: %s\tparams: %s\t%d iterations, %s\n\n", r.Model, r.ParamsVersion, r.Iterations, conv)
	fmt.Fprintln(tw, "FLOW\tMODEL\tRATE Gb/s\tDELAY ms\tQUEUEING ms\tRTT ms\tJITTER ms\tLOSS")
	for _, f := range r.Flows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4g\t%.4g\t%.4g\t%.4g\t%s\n", f.ID, f.Model, num(f.RateGbps), f.DelayMs, f.QueueDelayMs, f.RTTMs, f.JitterMs, pct(f.Loss))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "LINK\tCLASS\tMODEL\tDISCIPLINE\tLOAD Gb/s\tSERVICE Gb/s\tUTIL\tQUEUEING ms\tLOSS\tFLOWS")
	for _, l := range r.Links {
		class := l.Class
		if class == "" {
			class = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.4g\t%s\t%d\n", l.ID, class, l.Model, l.Discipline, num(l.LoadGbps), num(l.ServiceGbps), l.Utilization, l.QueueDelayMs, pct(l.Loss), l.Flows)
	}
}
