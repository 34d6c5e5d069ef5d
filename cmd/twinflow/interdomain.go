package main

import (
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/interdomain"
	"github.com/twinflow/twinflow/apps/nbi"
)

// newInterdomainCmd orders and shows end-to-end slices across domains from the
// coordinating controller (issue 19 item 3, docs/interdomain.md).
func newInterdomainCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "interdomain",
		Short: "Inter-domain slices: end-to-end slices built from sub-slices of several domains, all or nothing",
		Example: `  twinflow interdomain slice create -f e2e.json
  twinflow interdomain slice show e2e-1
  twinflow interdomain slice list`,
	}
	slice := &cobra.Command{Use: "slice", Short: "End-to-end slices (on the coordinating controller: serve --interdomain)"}
	var file string
	create := &cobra.Command{
		Use: "create -f FILE", Short: "Build an end-to-end slice (JSON: name, src, dst, domains, slo, …)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("create needs -f FILE")
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			req, err := interdomain.ParseSliceRequest(data)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var rec interdomain.Record
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/interdomain/slices", req, nil, &rec); err != nil {
				return err
			}
			return renderSlice(o, cmd, &rec)
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", `the slice request (JSON; "-" reads stdin)`)
	show := &cobra.Command{
		Use: "show NAME", Short: "Where each domain is, and each sub-slice's state and predicted KPIs", Args: exactArgs("interdomain slice show", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var rec interdomain.Record
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/interdomain/slices/"+esc(args[0]), nil, nil, &rec); err != nil {
				return err
			}
			return renderSlice(o, cmd, &rec)
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "The coordinator's end-to-end slices", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.InterdomainSliceList
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/interdomain/slices", nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tPHASE\tDOMAINS\tRATE (Gb/s)\tUPDATED")
				for _, r := range out.Items {
					fmt.Fprintf(tw, "%s\t%s\t%v\t%g\t%s\n", r.Name, r.Phase, r.Request.Domains, r.Request.SLO.MinRateGbps, r.Updated.Format("2006-01-02T15:04:05Z"))
				}
			})
		},
	}
	slice.AddCommand(create, show, list)
	cmd.AddCommand(slice)
	return cmd
}

func renderSlice(o *Options, cmd *cobra.Command, r *interdomain.Record) error {
	return render(o, cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "slice %s: %s\n", r.Name, r.Phase)
		if r.Reason != "" {
			fmt.Fprintf(tw, "reason: %s\n", r.Reason)
		}
		if r.PredictedRateGbps != nil && r.PredictedLatencyMs != nil {
			fmt.Fprintf(tw, "predicted end to end: %.4g Gb/s, %.4g ms\n", *r.PredictedRateGbps, *r.PredictedLatencyMs)
		}
		fmt.Fprintln(tw, "DOMAIN\tSTEP\tCHANGE\tSTATE\tSRC\tDST\tRATE (Gb/s)\tLATENCY (ms)\tERROR")
		for _, d := range r.Domains {
			state, rate, lat := "", "", ""
			if s := d.Status; s != nil {
				state = string(s.State)
				if s.PredictedRateGbps != nil {
					rate = fmt.Sprintf("%.4g", *s.PredictedRateGbps)
				}
				if s.PredictedLatencyMs != nil {
					lat = fmt.Sprintf("%.4g", *s.PredictedLatencyMs)
				}
			}
			msg := d.Error
			if msg == "" {
				msg = d.StatusError
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Domain, d.Step, d.Change, state, d.Src, d.Dst, rate, lat, msg)
		}
	})
}
