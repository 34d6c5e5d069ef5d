package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/client"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// newPushPolicyCmd is `twinflow push-policy` (issue #18 item 4, docs/push.md).
func newPushPolicyCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push-policy",
		Short: "Show or set the push policy every commit passes (certification, maintenance windows, stages)",
		Long: `The push policy gates every commit of a change to the devices: changes of given kinds
or touching given device groups need a passing certification of the same content
(twinflow certify --server), commits happen only in maintenance windows, and a change
is rolled out by device groups, one stage after the other, verified between stages.
Only an admin sets it. See docs/push.md.`,
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the push policy in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var doc nbi.PushPolicyDoc
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/push-policy", nil, nil, &doc); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), doc, func(tw *tabwriter.Writer) { renderPolicy(tw, doc) })
		},
	}
	var file string
	var ifVersion int64
	set := &cobra.Command{
		Use:     "set -f policy.yaml",
		Short:   "Set the push policy (admin)",
		Example: "  twinflow push-policy set -f docs/examples/push-policy.yaml --as admin",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("-f/--file is required")
			}
			if ifVersion < 0 {
				return usageErrorf("--if-version must not be negative")
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return usageErrorf("%v", err)
			}
			p, err := change.DecodePushPolicy(data)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var doc nbi.PushPolicyDoc
			if _, err := c.Do(cmd.Context(), http.MethodPut, "/api/v1/push-policy", nbi.PushPolicyRequest{Policy: p, IfVersion: ifVersion}, nil, &doc); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), doc, func(tw *tabwriter.Writer) { renderPolicy(tw, doc) })
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "push policy file (YAML or JSON, - for stdin)")
	set.Flags().Int64Var(&ifVersion, "if-version", 0, "store only if the policy in force is at this version")
	plan := &cobra.Command{
		Use:   "plan CHANGE",
		Short: "What the push policy says about committing a change now",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("plan takes one change ID")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var pl pipeline.PushPlan
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/changes/"+esc(args[0])+"/push-plan", nil, nil, &pl); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), pl, func(tw *tabwriter.Writer) { renderPlan(tw, &pl) })
		},
	}
	cmd.AddCommand(show, set, plan)
	return cmd
}

func renderPolicy(w io.Writer, doc nbi.PushPolicyDoc) {
	if doc.Version == 0 {
		fmt.Fprintln(w, "no push policy set: every approved change commits at once, in one stage")
		return
	}
	fmt.Fprintf(w, "version %d, set by %s at %s\n", doc.Version, doc.Actor, doc.Updated.Format(time.RFC3339))
	p := doc.Policy
	for _, g := range sortedNames(p.DeviceGroups) {
		fmt.Fprintf(w, "group %s:\t%s\n", g, strings.Join(p.DeviceGroups[g], " "))
	}
	if r := p.RequireCertification; r != nil {
		var what []string
		if r.All {
			what = append(what, "every change")
		}
		for _, k := range r.Kinds {
			what = append(what, string(k)+" changes")
		}
		for _, g := range r.DeviceGroups {
			what = append(what, "changes touching "+g)
		}
		fmt.Fprintf(w, "certification required for:\t%s\n", strings.Join(what, ", "))
	}
	for _, win := range p.MaintenanceWindows {
		days := "every day"
		if len(win.Days) > 0 {
			days = strings.Join(win.Days, ",")
		}
		fmt.Fprintf(w, "maintenance window:\t%s %s-%s UTC\n", days, win.Start, win.End)
	}
	if len(p.MaintenanceWindows) > 0 {
		ow := p.OutsideWindow
		if ow == "" {
			ow = change.OutsideRefuse
		}
		fmt.Fprintf(w, "outside windows:\t%s\n", ow)
	}
	if len(p.Stages) > 0 {
		fmt.Fprintf(w, "stages:\t%s, then the rest\n", strings.Join(p.Stages, " -> "))
	}
}

func sortedNames(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func renderPlan(w io.Writer, pl *pipeline.PushPlan) {
	verdict := "ALLOWED"
	if !pl.Allowed {
		verdict = "REFUSED: " + pl.Reason
	}
	fmt.Fprintf(w, "%s\n", verdict)
	fmt.Fprintf(w, "policy version:\t%d\n", pl.PolicyVersion)
	fmt.Fprintf(w, "content hash:\t%s\n", pl.ContentHash)
	if pl.CertificationRequired {
		cert := pl.Certification
		if cert == "" {
			cert = "none recorded"
		}
		fmt.Fprintf(w, "certification:\trequired (%s); %s\n", pl.CertificationReason, cert)
	}
	if !pl.InWindow {
		fmt.Fprintf(w, "maintenance window:\tclosed; next opens %s (%s)\n", pl.NextWindow.Format(time.RFC3339), pl.OutsideWindow)
	}
	for i, st := range pl.Stages {
		fmt.Fprintf(w, "stage %d:\t%s [%s]\n", i+1, st.Group, strings.Join(st.Devices, ","))
	}
}

// waitForWindow wraps `change commit`: with --wait, a commit refused outside every
// maintenance window waits until the next window opens (as the server's push plan
// says; at most --max-wait) and commits then.
func waitForWindow(o *Options, commit *cobra.Command) {
	var wait bool
	var maxWait time.Duration
	commit.Flags().BoolVar(&wait, "wait", false, "outside every maintenance window, wait for the next one (at most --max-wait) and commit then")
	commit.Flags().DurationVar(&maxWait, "max-wait", 24*time.Hour, "with --wait: the longest wait for a window")
	run := commit.RunE
	commit.RunE = func(cmd *cobra.Command, args []string) error {
		if maxWait < 0 {
			return usageErrorf("--max-wait must not be negative")
		}
		deadline := time.Now().Add(maxWait)
		for {
			err := run(cmd, args)
			var p *client.Problem
			if !wait || !errors.As(err, &p) || !strings.HasSuffix(p.Type, "/outside-window") {
				return err
			}
			c, cerr := newAPIClient(o)
			if cerr != nil {
				return errors.Join(err, cerr)
			}
			var pl pipeline.PushPlan
			if _, perr := c.Do(cmd.Context(), http.MethodGet, "/api/v1/changes/"+esc(args[0])+"/push-plan", nil, nil, &pl); perr != nil {
				return errors.Join(err, perr)
			}
			if pl.InWindow {
				continue // a window opened meanwhile
			}
			if pl.NextWindow.IsZero() || pl.NextWindow.After(deadline) {
				return fmt.Errorf("%w\nthe next maintenance window opens at %s, beyond --max-wait %s", err, pl.NextWindow.Format(time.RFC3339), maxWait)
			}
			d := time.Until(pl.NextWindow) + time.Second
			fmt.Fprintf(cmd.ErrOrStderr(), "outside every maintenance window: waiting %s for the next (%s)\n", d.Round(time.Second), pl.NextWindow.Format(time.RFC3339))
			select {
			case <-time.After(d):
			case <-cmd.Context().Done():
				return cmd.Context().Err()
			}
		}
	}
}
