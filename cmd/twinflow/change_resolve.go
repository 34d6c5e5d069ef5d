package main

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// newChangeResolveCmd is `twinflow change resolve ID` (REQ-REL-02, docs/reliability.md).
func newChangeResolveCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "resolve ID",
		Short: "Settle a commit that did not end on its own and say which device is at which image",
		Long: `Settle a commit that did not end on its own: a change left committing (its final
state could not be stored, or its commit was interrupted), or a failed change with
devices still pending restoration (a device lost during a rollback or the confirm
window). The server rolls the commit forward if every device was verified at the
intent, otherwise back (devices already at their pre-image are left alone), then reads
every device and prints which image it holds: pre-image, intent, other (neither) or
unreachable (run resolve again once it is back). On any other committed or rolled-back
change it only reads the devices. Exit 0 when every device is at the image the
change's state says, 1 otherwise.`,
		Example: `  twinflow change resolve chg-1a2b3c`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("resolve takes one change ID")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var res pipeline.Resolution
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/changes/"+esc(args[0])+"/resolve", nil, nil, &res); err != nil {
				return err
			}
			if res.Change == nil {
				return fmt.Errorf("resolve %s: the server answered no change", args[0])
			}
			ch := res.Change
			if err := render(o, cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				line := fmt.Sprintf("change %s %s", ch.ID, strings.ToUpper(string(ch.State)))
				if ch.Commit != nil && ch.Commit.Reason != "" {
					line += ": " + ch.Commit.Reason
				}
				fmt.Fprintln(tw, line)
				fmt.Fprintln(tw, "DEVICE\tIMAGE\tSTATUS\tDETAIL")
				for _, id := range sortedKeys(res.Devices) {
					d := res.Devices[id]
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, d.Image, d.Status, d.Detail)
				}
			}); err != nil {
				return err
			}
			if bad := misplaced(&res); len(bad) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("change %s is %s and %s not at its image (run resolve again once reachable)",
					ch.ID, ch.State, strings.Join(bad, ", "))}
			}
			return nil
		},
	}
}

// misplaced lists the devices not at the image the change's state implies: the intent
// for committed, the pre-image otherwise (a device that refused or was never sent its
// Set is at its pre-image too).
func misplaced(res *pipeline.Resolution) []string {
	want := change.ImagePreImage
	if res.Change.State == change.StateCommitted {
		want = change.ImageIntent
	}
	var bad []string
	for _, id := range sortedKeys(res.Devices) {
		if res.Devices[id].Image != want {
			bad = append(bad, id+" ("+res.Devices[id].Image+")")
		}
	}
	return bad
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
