package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/nbi"
	mon "github.com/twinflow/twinflow/models/monitor"
)

// newAlarmCmd lists, shows and acknowledges alarms (docs/monitoring.md).
func newAlarmCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarm",
		Short: "Alarms: threshold crossings, failures grouped under their root, model divergence",
		Example: `  twinflow alarm list --state raised
  twinflow alarm show a-19af6e1c0f7-3b9e21
  twinflow alarm ack a-19af6e1c0f7-3b9e21`,
	}
	var state string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List alarms, children indented under their root", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && state != "raised" && state != "cleared" {
				return usageErrorf("--state must be raised or cleared, got %q", state)
			}
			if limit < 1 || limit > nbi.MaxLimit {
				return usageErrorf("--limit must be in [1, %d], got %d", nbi.MaxLimit, limit)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if state != "" {
				q.Set("state", state)
			}
			var out nbi.AlarmList
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/alarms?"+q.Encode(), nil, nil, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) { alarmRows(tw, out.Items) })
		},
	}
	list.Flags().StringVar(&state, "state", "", "raised or cleared (default: both)")
	list.Flags().IntVar(&limit, "limit", nbi.MaxLimit, "at most this many alarms")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one alarm", Args: exactArgs("alarm show", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var a mon.Alarm
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/alarms/"+esc(args[0]), nil, nil, &a); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) { alarmRows(tw, []mon.Alarm{a}) })
		},
	}
	ack := &cobra.Command{
		Use: "ack ID", Short: "Acknowledge an alarm (operators)", Args: exactArgs("alarm ack", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var a mon.Alarm
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/alarms/"+esc(args[0])+"/ack", nil, nil, &a); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) { alarmRows(tw, []mon.Alarm{a}) })
		},
	}
	cmd.AddCommand(usageFlags(list), usageFlags(show), usageFlags(ack))
	return cmd
}

// alarmRows prints roots first, each followed by its children (indented).
func alarmRows(tw *tabwriter.Writer, items []mon.Alarm) {
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tTYPE\tSUBJECT\tACK\tRAISED\tTEXT")
	byParent := map[string][]mon.Alarm{}
	ids := map[string]bool{}
	for _, a := range items {
		ids[a.ID] = true
	}
	var roots []mon.Alarm
	for _, a := range items {
		if a.ParentID != "" && ids[a.ParentID] {
			byParent[a.ParentID] = append(byParent[a.ParentID], a)
		} else {
			roots = append(roots, a)
		}
	}
	var row func(a mon.Alarm, depth int)
	row = func(a mon.Alarm, depth int) {
		ack := ""
		if a.Acknowledged {
			ack = a.AckedBy
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s %s\t%s\t%s\t%s\n", strings.Repeat("  ", depth), a.ID, a.State, a.Severity, a.Type,
			a.SubjectKind, a.Subject, ack, a.Raised.Format(time.RFC3339), a.Text)
		if depth < 4 {
			for _, c := range byParent[a.ID] {
				row(c, depth+1)
			}
		}
	}
	for _, a := range roots {
		row(a, 0)
	}
}

// renderComparison prints a change's predicted-vs-observed record (change show).
func renderComparison(w io.Writer, c *mon.Comparison) error {
	if c == nil {
		_, err := fmt.Fprintln(w, "\npredicted vs observed: not recorded yet (the network is settling, or the server runs no monitor)")
		return err
	}
	verdict := "within the bound"
	if c.Diverged {
		verdict = "DIVERGED"
	}
	fmt.Fprintf(w, "\npredicted vs observed (%s after commit, bound %g%%, floor %g Gb/s): %s\n",
		time.Duration(c.SettleS*float64(time.Second)), 100*c.Bound.Relative, c.Bound.AbsoluteGbps, verdict)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  LINK\tPREDICTED GB/S\tOBSERVED GB/S\tDIVERGED\tFLOWS")
	for _, l := range c.Links {
		fmt.Fprintf(tw, "  %s\t%.4g\t%.4g\t%v\t%s\n", l.Link, l.PredictedGbps, l.ObservedGbps, l.Diverged, strings.Join(l.Flows, ","))
	}
	_ = tw.Flush()
	if len(c.Flows) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\n  FLOW\tPREDICTED GB/S\tOBSERVED GB/S (est.)\tDIVERGED")
		for _, f := range c.Flows {
			fmt.Fprintf(tw, "  %s\t%.4g\t%.4g\t%v\n", f.Flow, f.PredictedGbps, f.ObservedGbps, f.Diverged)
		}
		_ = tw.Flush()
	}
	if len(c.Unobserved) > 0 {
		fmt.Fprintf(w, "  no telemetry for: %s\n", strings.Join(c.Unobserved, ", "))
	}
	_, err := fmt.Fprintf(w, "  %s\n", c.Note)
	return err
}
