package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/apps/nbi"
)

// newRestoreCmd restores service after failures on demand and lists restorations.
func newRestoreCmd(o *Options) *cobra.Command {
	var failed []string
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Reroute the flows crossing failed links now, through the pipeline (operator)",
		Long: `Restore: every flow crossing a link telemetry reports down (and --failed-link) is
moved to a new path computed in a fork, validated, and committed once approved (by the
server's --policy-approval-rule, or by a person). The server also restores on its own
when telemetry reports a failure; ` + "`twinflow restore list`" + ` shows every restoration with its
detection time and time to restore.`,
		Example: `  twinflow restore --failed-link spine-0--leaf-1
  twinflow restore list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var rs closedloop.Restoration
			if err := c.Post(cmd.Context(), "/api/v1/restorations", nbi.RestoreRequest{FailedLinks: failed}, &rs); err != nil {
				return err
			}
			return renderRestorations(o, cmd, []closedloop.Restoration{rs})
		},
	}
	cmd.Flags().StringSliceVar(&failed, "failed-link", nil, "treat this link as down too (repeatable)")
	list := &cobra.Command{
		Use: "list", Short: "Restorations and re-optimisations, with detection and restoration times", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var out nbi.RestorationList
			if err := c.Get(cmd.Context(), "/api/v1/restorations", &out); err != nil {
				return err
			}
			return renderRestorations(o, cmd, out.Items)
		},
	}
	cmd.AddCommand(usageFlags(list))
	return usageFlags(cmd)
}

// newOptimizeCmd re-optimises paths on demand.
func newOptimizeCmd(o *Options) *cobra.Command {
	var avoid []string
	cmd := &cobra.Command{
		Use:   "optimize",
		Short: "Move flows to their best paths now, through the pipeline (operator)",
		Long: `Re-optimise: every flow is moved to its least-latency path avoiding links telemetry
reports down and, for flows crossing them, the --avoid links; the moves are one change,
whose L1 validation refuses any that would break an SLO.`,
		Example: `  twinflow optimize
  twinflow optimize --avoid spine-0--leaf-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var rs closedloop.Restoration
			if err := c.Post(cmd.Context(), "/api/v1/optimize", nbi.OptimizeRequest{AvoidLinks: avoid}, &rs); err != nil {
				return err
			}
			return renderRestorations(o, cmd, []closedloop.Restoration{rs})
		},
	}
	cmd.Flags().StringSliceVar(&avoid, "avoid", nil, "a hot link the flows crossing it should leave (repeatable)")
	return usageFlags(cmd)
}

func renderRestorations(o *Options, cmd *cobra.Command, rs []closedloop.Restoration) error {
	return render(o, cmd.OutOrStdout(), rs, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tTRIGGER\tOUTCOME\tMOVED\tUNRESTORED\tDETECTION_MS\tRESTORE_MS\tCHANGE\tREASON")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%s\t%s\n", r.ID, r.Trigger, r.Outcome, len(r.Paths), len(r.Unrestored),
				r.DetectionMs, r.TimeToRestoreMs, r.Change, r.Reason)
		}
	})
}
