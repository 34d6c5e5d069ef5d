package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/nbi"
	mon "github.com/twinflow/twinflow/models/monitor"
)

// newKPICmd manages KPI descriptors and reads their values (docs/monitoring.md).
func newKPICmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kpi",
		Short: "KPI descriptors and their values (device, endpoint, link, flow, service or slice metrics)",
		Example: `  twinflow kpi create --id l1-util --kind link --subject L1 --metric utilisation --above 0.9 --clear 0.8
  twinflow kpi create -f kpi.json
  twinflow kpi list
  twinflow kpi range l1-util --since 10m`,
	}
	var d mon.Descriptor
	var file string
	var above, below, clear float64
	var severity string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a KPI descriptor from flags or a JSON file (-f)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				b, err := readLimited(file, mon.MaxDescriptorBytes)
				if err != nil {
					return err
				}
				if d, err = mon.ParseDescriptor(b); err != nil {
					return usageErrorf("%s: %v", file, err)
				}
			} else {
				fl := cmd.Flags()
				switch {
				case fl.Changed("above") && fl.Changed("below"):
					return usageErrorf("--above and --below exclude each other")
				case fl.Changed("above") || fl.Changed("below"):
					th := &mon.Threshold{Direction: mon.Above, Raise: above, Severity: mon.Severity(severity)}
					if fl.Changed("below") {
						th.Direction, th.Raise = mon.Below, below
					}
					th.Clear = th.Raise
					if fl.Changed("clear") {
						th.Clear = clear
					}
					d.Threshold = th
				case fl.Changed("clear"):
					return usageErrorf("--clear needs --above or --below")
				}
				if err := d.Validate(); err != nil {
					return usageErrorf("%v", err)
				}
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.KPIView
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/kpis", d, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { kpiRows(tw, []nbi.KPIView{out}) })
		},
	}
	f := create.Flags()
	f.StringVarP(&file, "file", "f", "", "a JSON descriptor (fields as the API's; other flags are ignored)")
	f.StringVar(&d.ID, "id", "", "KPI ID")
	f.StringVar((*string)(&d.Kind), "kind", "", "device, endpoint, link, flow, service or slice")
	f.StringVar(&d.Subject, "subject", "", "the device, link, flow, service or slice ID (an endpoint's device)")
	f.StringVar(&d.Endpoint, "endpoint", "", "the endpoint (interface) of an endpoint KPI")
	f.StringVar(&d.Metric, "metric", "", "metric (see docs/monitoring.md), e.g. utilisation, rate_gbps, predicted_rate_gbps, reachable")
	f.StringVar(&d.Description, "description", "", "free text")
	f.Float64Var(&d.SampleIntervalS, "interval", 1, "sampling interval in seconds, in [0.1, 3600]")
	f.Float64Var(&above, "above", 0, "raise an alarm when the value rises above this")
	f.Float64Var(&below, "below", 0, "raise an alarm when the value falls below this")
	f.Float64Var(&clear, "clear", 0, "clear it only when the value comes back past this (hysteresis; default: the raise level)")
	f.StringVar(&severity, "severity", "major", "alarm severity: critical, major, minor, warning")

	list := &cobra.Command{
		Use: "list", Short: "List KPI descriptors with their latest values", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.KPIList
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/kpis", nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) { kpiRows(tw, out.Items) })
		},
	}
	get := &cobra.Command{
		Use: "get ID", Short: "Show one KPI descriptor and its latest value", Args: exactArgs("kpi get", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.KPIView
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/kpis/"+esc(args[0]), nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { kpiRows(tw, []nbi.KPIView{out}) })
		},
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a KPI descriptor and its samples", Args: exactArgs("kpi delete", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			if _, err := c.Do(cmd.Context(), http.MethodDelete, "/api/v1/kpis/"+esc(args[0]), nil, nil, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "kpi %s deleted\n", args[0])
			return err
		},
	}
	var since time.Duration
	var limit int
	rng := &cobra.Command{
		Use: "range ID", Short: "Stored samples of a KPI over the last --since", Args: exactArgs("kpi range", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if since <= 0 {
				return usageErrorf("--since must be positive, got %v", since)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			to := time.Now().UTC()
			q := url.Values{"from": {to.Add(-since).Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(limit)}}
			var out nbi.KPIRangeResponse
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/kpis/"+esc(args[0])+"/range?"+q.Encode(), nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TIME\tVALUE")
				for _, s := range out.Samples {
					fmt.Fprintf(tw, "%s\t%.6g\n", s.Time.Format(time.RFC3339Nano), s.Value)
				}
			})
		},
	}
	rng.Flags().DurationVar(&since, "since", time.Hour, "how far back to look")
	rng.Flags().IntVar(&limit, "limit", nbi.DefaultKPIRangeLimit, "at most this many samples (1..100000)")
	cmd.AddCommand(usageFlags(create), usageFlags(list), usageFlags(get), usageFlags(del), usageFlags(rng))
	return cmd
}

func exactArgs(cmd, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s takes one %s", cmd, what)
		}
		return nil
	}
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if st.Size() > int64(max) {
		return nil, usageErrorf("%s: larger than %d bytes", path, max)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return b, nil
}

func kpiRows(tw *tabwriter.Writer, items []nbi.KPIView) {
	fmt.Fprintln(tw, "ID\tKIND\tSUBJECT\tMETRIC\tINTERVAL\tTHRESHOLD\tLATEST\tAT")
	for _, k := range items {
		subj := k.Subject
		if k.Endpoint != "" {
			subj += "/" + k.Endpoint
		}
		th := "-"
		if t := k.Threshold; t != nil {
			th = fmt.Sprintf("%s %g (clear %g, %s)", t.Direction, t.Raise, t.Clear, t.Severity)
		}
		latest, at := "-", "-"
		if k.Latest != nil {
			latest, at = strconv.FormatFloat(k.Latest.Value, 'g', 6, 64), k.Latest.Time.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%gs\t%s\t%s\t%s\n", k.ID, k.Kind, subj, k.Metric, k.SampleIntervalS, th, latest, at)
	}
}
