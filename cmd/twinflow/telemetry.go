package main

import (
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/nbi"
)

// newTelemetryCmd reads the telemetry history a server keeps in its repository.
func newTelemetryCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "telemetry",
		Short: "Read the telemetry history kept in the server's repository",
	}
	series := &cobra.Command{
		Use:   "series",
		Short: "List the recorded time series (device, interface, metric)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.SeriesList
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/telemetry/series", nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DEVICE\tINTERFACE\tMETRIC")
				for _, s := range out.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Device, s.Interface, s.Metric)
				}
			})
		},
	}
	var iface, metric, step string
	var since time.Duration
	rng := &cobra.Command{
		Use:   "range DEVICE",
		Short: "Show one series over the last --since, raw or in --step buckets",
		Example: `  twinflow telemetry range leaf-0 --interface eth1 --metric out_rate_gbps --since 10m --step 1m
  twinflow telemetry range leaf-0 --metric reachable -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("telemetry range takes one DEVICE")
			}
			if metric == "" {
				return usageErrorf("--metric is required (see `twinflow telemetry series`)")
			}
			if since <= 0 {
				return usageErrorf("--since must be positive, got %v", since)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			to := time.Now().UTC()
			q := url.Values{"device": {args[0]}, "metric": {metric},
				"from": {to.Add(-since).Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
			if iface != "" {
				q.Set("interface", iface)
			}
			if step != "" {
				q.Set("step", step)
			}
			var out nbi.RangeResponse
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/telemetry/range?"+q.Encode(), nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TIME\tAVG\tMIN\tMAX\tCOUNT")
				for _, p := range out.Points {
					fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%.6g\t%d\n", p.Time.Format(time.RFC3339), p.Avg, p.Min, p.Max, p.Count)
				}
			})
		},
	}
	f := rng.Flags()
	f.StringVar(&iface, "interface", "", "interface name (empty for device-level metrics such as reachable)")
	f.StringVar(&metric, "metric", "", "metric: in_rate_gbps, out_rate_gbps, in_octets, out_octets, in_errors, out_errors, in_discards, out_discards, oper_up, reachable")
	f.StringVar(&step, "step", "", "bucket width (e.g. 1m); empty for raw samples")
	f.DurationVar(&since, "since", time.Hour, "how far back to look")
	cmd.AddCommand(usageFlags(series), usageFlags(rng))
	return cmd
}
