package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/twinflow/twinflow/apps/client"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin/pipeline"
)

func newChangeCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "change",
		Short: "Propose, validate, approve, commit, confirm and roll back changes",
		Long: `The twin-first change pipeline. A change (a ChangeSet file, YAML or JSON) is
proposed, validated in a fork of the live twin (L0 static, L1 models, L2 emulation),
approved by another user, then committed to the devices over gNMI with pre-images,
read-back verification, an optional confirm window and automatic rollback.`,
		Example: `  twinflow change propose -f change.yaml
  twinflow change show chg-1a2b3c
  twinflow change diff chg-1a2b3c
  twinflow change approve chg-1a2b3c --as carla
  twinflow change commit chg-1a2b3c --confirm-timeout 60s
  twinflow change confirm chg-1a2b3c
  twinflow change list --state committed`,
	}
	// The acting user is the one the token belongs to (--as, --token-file, TWINFLOW_TOKEN).
	hdr := func() map[string]string { return nil }

	// propose
	var file string
	propose := &cobra.Command{
		Use:   "propose -f FILE",
		Short: "Propose a change and validate it in a fork of the live twin",
		Long: `Propose a change from a ChangeSet file (YAML or JSON; "-" reads stdin). The file is
checked locally first (unknown fields and malformed operations are errors naming the
element); the server stores it and validates it. Exit status 1 if it is rejected.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q (the change is read from -f)", args[0])
			}
			if file == "" {
				return usageErrorf("propose needs -f FILE")
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			cs, err := change.Decode(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var ch pipeline.Change
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/changes", cs, hdr(), &ch); err != nil {
				return err
			}
			if err := renderChange(o, cmd.OutOrStdout(), &ch); err != nil {
				return err
			}
			return stateExit(&ch)
		},
	}
	propose.Flags().StringVarP(&file, "file", "f", "", "ChangeSet file (YAML or JSON, - for stdin)")

	// list
	var state string
	list := &cobra.Command{
		Use:   "list",
		Short: "List changes",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("list takes no arguments")
			}
			if state != "" {
				if _, err := change.ParseState(state); err != nil {
					return usageErrorf("--state: unknown state %q (one of %s)", state, statesList())
				}
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			path := "/api/v1/changes"
			if state != "" {
				path += "?state=" + url.QueryEscape(state)
			}
			items, err := listChanges(cmd.Context(), c, path)
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tSTATE\tLABEL\tAUTHOR\tDEVICES\tUPDATED")
				for _, ch := range items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", ch.ID, ch.State, ch.Label, ch.Author,
						len(ch.ChangeSet.DeviceOps), ch.Updated.Format(time.RFC3339))
				}
			})
		},
	}
	list.Flags().StringVar(&state, "state", "", "only changes in this state")

	// show
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a change: state, validation report, commit record, transitions, predicted vs observed",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("show takes one change ID")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var view nbi.ChangeView // the change and its predicted-vs-observed record (issue 17)
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/changes/"+esc(args[0]), nil, nil, &view); err != nil {
				return err
			}
			if o.Output != "table" || view.Change == nil {
				return render(o, cmd.OutOrStdout(), view, nil)
			}
			if err := renderChange(o, cmd.OutOrStdout(), view.Change); err != nil {
				return err
			}
			if view.PredictedVsObserved == nil && view.Change.State != change.StateCommitted {
				return nil // only a committed change is compared with the network
			}
			return renderComparison(cmd.OutOrStdout(), view.PredictedVsObserved)
		},
	}

	// diff
	diff := &cobra.Command{
		Use:   "diff ID",
		Short: "Dry run: the gNMI SetRequest of every device and a human diff",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("diff takes one change ID")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var d nbi.ChangeDiff
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/changes/"+esc(args[0])+"/diff", nil, nil, &d); err != nil {
				return err
			}
			if o.Output != "table" {
				return render(o, cmd.OutOrStdout(), d, nil)
			}
			w := cmd.OutOrStdout()
			for _, dev := range d.Devices {
				fmt.Fprintf(w, "=== %s\n--- SetRequest (gNMI; values JSON_IETF)\n", dev.Device)
				if err := writeSetRequest(w, dev.SetRequest); err != nil {
					return err
				}
				fmt.Fprintln(w, "--- on the device (its running configuration: old -> new)")
				switch {
				case dev.DeviceError != "":
					fmt.Fprintf(w, "(not read: %s)\n", dev.DeviceError)
				case len(dev.DeviceLines) == 0:
					fmt.Fprintln(w, "(the device already holds this configuration)")
				}
				for _, l := range dev.DeviceLines {
					fmt.Fprintln(w, l.String())
				}
				fmt.Fprintln(w, "--- in the intended configuration (the twin)")
				for _, l := range dev.Lines {
					fmt.Fprintln(w, l.String())
				}
				if len(dev.Lines) == 0 {
					fmt.Fprintln(w, "(no change to the intended configuration)")
				}
			}
			return nil
		},
	}

	// action runs a transition. validate prints the whole change (its new report);
	// the others print a one-line outcome (-o json/yaml: the whole change, as always).
	action := func(name, short string, body func() any) *cobra.Command {
		return &cobra.Command{
			Use:   name + " ID",
			Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 {
					return usageErrorf("%s takes one change ID", name)
				}
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				var b any
				if body != nil {
					b = body()
				}
				var ch pipeline.Change
				if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/changes/"+esc(args[0])+"/"+name, b, hdr(), &ch); err != nil {
					return err
				}
				render := renderOutcome
				if name == "validate" {
					render = renderChange
				}
				if err := render(o, cmd.OutOrStdout(), &ch); err != nil {
					return err
				}
				if name == "rollback" && ch.State == change.StateRolledBack {
					return nil // what was asked for
				}
				return stateExit(&ch)
			},
		}
	}
	var confirmTimeout time.Duration
	var reason string
	commitCmd := action("commit", "Commit an approved change to the devices", func() any {
		return nbi.CommitRequest{ConfirmTimeout: confirmTimeout.String()}
	})
	commitCmd.Flags().DurationVar(&confirmTimeout, "confirm-timeout", 0, "open a confirmed-commit window: roll back unless confirmed within it (e.g. 60s)")
	commitCmd.PreRunE = func(*cobra.Command, []string) error {
		if confirmTimeout < 0 {
			return usageErrorf("--confirm-timeout must not be negative, got %s", confirmTimeout)
		}
		return nil
	}
	waitForWindow(o, commitCmd) // the push policy's maintenance windows (push.go)
	rollback := action("rollback", "Roll back a commit in its confirm window (devices return to their pre-images)", func() any {
		return nbi.RollbackRequest{Reason: reason}
	})
	rollback.Flags().StringVar(&reason, "reason", "", "why (recorded in the ledger)")

	driftCmd := &cobra.Command{
		Use:   "drift",
		Short: "List devices whose running configuration differs from the intended one",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("drift takes no arguments")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var dl nbi.DriftList
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/drift", nil, nil, &dl); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), dl.Items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DEVICE\tDETECTED\tDIFFERENCE")
				for _, d := range dl.Items {
					for i, l := range d.Lines {
						dev, at := d.Device, d.DetectedAt.Format(time.RFC3339)
						if i > 0 {
							dev, at = "", ""
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\n", dev, at, l.String())
					}
				}
			})
		},
	}
	driftAction := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use:   name + " DEVICE",
			Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 {
					return usageErrorf("%s takes one device ID", name)
				}
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				var ch pipeline.Change
				if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/drift/"+esc(args[0])+"/"+name, nil, hdr(), &ch); err != nil {
					return err
				}
				if err := renderChange(o, cmd.OutOrStdout(), &ch); err != nil {
					return err
				}
				return stateExit(&ch)
			},
		}
	}

	for _, c := range []*cobra.Command{propose, list, show, diff, driftCmd,
		driftAction("reconcile", "Propose the change that pushes the intent back to a drifted device"),
		driftAction("adopt", "Propose the change that adopts a drifted device's running configuration"),
		action("validate", "Re-validate a change against the current live twin", nil),
		action("approve", "Approve a validated change (a different user than its author)", nil),
		commitCmd,
		action("confirm", "Confirm a commit in its confirm window", nil),
		rollback,
		newChangeResolveCmd(o),
	} {
		cmd.AddCommand(usageFlags(c))
	}
	return usageFlags(cmd)
}

func statesList() string {
	var s []string
	for _, st := range change.AllStates() {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func readInput(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 16<<20))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read change file: %w", err)
	}
	return b, nil
}

func listChanges(ctx context.Context, c *client.Client, path string) ([]*pipeline.Change, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []*pipeline.Change
	token := ""
	for {
		p := path + sep + "limit=1000"
		if token != "" {
			p += "&page_token=" + url.QueryEscape(token)
		}
		var page nbi.ChangeList
		if _, err := c.Do(ctx, http.MethodGet, p, nil, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextPageToken == "" {
			return all, nil
		}
		token = page.NextPageToken
	}
}

// renderOutcome prints a transition's outcome in one line (the table output), or the
// whole change (-o json|yaml).
func renderOutcome(o *Options, w io.Writer, ch *pipeline.Change) error {
	if o.Output != "table" {
		return render(o, w, ch, nil)
	}
	line := fmt.Sprintf("change %s %s", ch.ID, strings.ToUpper(string(ch.State)))
	switch {
	case ch.Commit != nil && ch.Commit.Phase == change.PhaseAwaitingConfirm && !ch.Commit.ConfirmDeadline.IsZero():
		line += fmt.Sprintf(": %d device(s) set, confirm before %s (twinflow change confirm %s)",
			len(ch.Commit.Devices), ch.Commit.ConfirmDeadline.Format(time.RFC3339), ch.ID)
	case ch.State == change.StateApproved && ch.Approver != "":
		line += " by " + ch.Approver
	case ch.Commit != nil && (ch.State == change.StateCommitted || ch.State == change.StateRolledBack || ch.State == change.StateFailed):
		line += fmt.Sprintf(": %d device(s)", len(ch.Commit.Devices))
		if ch.Commit.Reason != "" {
			line += " — " + ch.Commit.Reason
		}
	}
	_, err := fmt.Fprintln(w, line+" (details: twinflow change show "+ch.ID+")")
	return err
}

// writeSetRequest prints a SetRequest (protobuf JSON) one operation a line, with its
// JSON_IETF values as JSON rather than protobuf JSON's base64.
func writeSetRequest(w io.Writer, raw json.RawMessage) error {
	var req gpb.SetRequest
	if err := protojson.Unmarshal(raw, &req); err != nil {
		return fmt.Errorf("read the SetRequest: %w", err)
	}
	val := func(u *gpb.Update) string {
		switch v := u.GetVal().GetValue().(type) {
		case *gpb.TypedValue_JsonIetfVal:
			return string(v.JsonIetfVal)
		case *gpb.TypedValue_JsonVal:
			return string(v.JsonVal)
		}
		b, _ := protojson.Marshal(u.GetVal())
		return string(b)
	}
	if t := req.GetPrefix().GetTarget(); t != "" {
		fmt.Fprintf(w, "target  %s\n", t)
	}
	for _, p := range req.Delete {
		fmt.Fprintf(w, "delete  %s\n", tfgnmi.PathString(req.Prefix, p))
	}
	for _, u := range req.Replace {
		fmt.Fprintf(w, "replace %s = %s\n", tfgnmi.PathString(req.Prefix, u.Path), val(u))
	}
	for _, u := range req.Update {
		fmt.Fprintf(w, "update  %s = %s\n", tfgnmi.PathString(req.Prefix, u.Path), val(u))
	}
	return nil
}

// stateExit makes rejected, rolled back and failed changes exit with status 1.
func stateExit(ch *pipeline.Change) error {
	switch ch.State {
	case change.StateRejected, change.StateRolledBack, change.StateFailed:
		return &exitError{code: 1, err: fmt.Errorf("change %s is %s", ch.ID, ch.State)}
	}
	return nil
}

func renderChange(o *Options, w io.Writer, ch *pipeline.Change) error {
	if o.Output != "table" {
		return render(o, w, ch, nil)
	}
	fmt.Fprintf(w, "change %s  %s\n", ch.ID, strings.ToUpper(string(ch.State)))
	if ch.Label != "" {
		fmt.Fprintf(w, "label:    %s\n", ch.Label)
	}
	fmt.Fprintf(w, "author:   %s\n", ch.Author)
	if ch.Approver != "" {
		fmt.Fprintf(w, "approver: %s\n", ch.Approver)
	}
	if ch.ChangeSet != nil {
		fmt.Fprintf(w, "devices:  %s\n", strings.Join(ch.ChangeSet.Devices(), ", "))
	}
	if r := ch.Report; r != nil {
		fmt.Fprintf(w, "\nvalidation (level %s, live revision %d, %d µs): passed=%v\n", r.Level, r.BaseRevision, r.DurationMicros, r.Passed)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CHECK\tSTATUS\tDETAIL")
		for _, c := range r.Checks {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Name, c.Status, c.Message)
		}
		_ = tw.Flush()
		if len(r.KPIs) > 0 {
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "\n  KPI\tSUBJECT\tBEFORE\tAFTER\tOBJECTIVE")
			for _, k := range r.KPIs {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", k.Name, k.Subject, kpiNum(k.Before, k.Unit), kpiNum(k.After, k.Unit), kpiNum(k.Objective, k.Unit))
			}
			_ = tw.Flush()
		}
		if len(r.Ripple) > 0 {
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "\n  RIPPLE FLOW\tOWNER\tBEFORE\tAFTER\tSLO\tVIOLATES")
			for _, im := range r.Ripple {
				fmt.Fprintf(tw, "  %s\t%s\t%.4g\t%.4g\t%.4g\t%v\n", im.Flow, im.Owner, im.BeforeGbps, im.AfterGbps, im.MinRateGbps, im.Violates)
			}
			_ = tw.Flush()
		}
	}
	if cr := ch.Commit; cr != nil {
		fmt.Fprintf(w, "\ncommit: %s", cr.Phase)
		if !cr.ConfirmDeadline.IsZero() && cr.Phase == change.PhaseAwaitingConfirm {
			fmt.Fprintf(w, " (confirm before %s)", cr.ConfirmDeadline.Format(time.RFC3339))
		}
		if cr.Reason != "" {
			fmt.Fprintf(w, " — %s", cr.Reason)
		}
		fmt.Fprintln(w)
		for _, d := range cr.DeviceIDs() {
			dr := cr.Devices[d]
			fmt.Fprintf(w, "  %s: %s %s\n", d, dr.Status, dr.Error)
		}
	}
	if len(ch.Transitions) > 0 {
		fmt.Fprintln(w, "\ntransitions:")
		for _, t := range ch.Transitions {
			fmt.Fprintf(w, "  %s  %s -> %s  by %s: %s\n", t.At.Format(time.RFC3339), t.From, t.To, t.Actor, t.Reason)
		}
	}
	return nil
}

func kpiNum(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.4g %s", *v, unit)
}
