package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

func newDeleteCmd(o *Options) *cobra.Command {
	var twinID string
	var ifMatch uint64
	cmd := &cobra.Command{
		Use:   "delete KIND ID...",
		Short: "Delete devices, links, topologies, contexts or flows of a twin (or forks: KIND twin)",
		Long: `Delete objects of a twin (--twin, default live). Deleting an object that others
still reference (a device used by a link) is refused with the referencing object named.
--if-revision makes the delete conditional on the object's revision.`,
		Example: `  twinflow delete flow f1 --twin fork-1
  twinflow delete twin fork-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErrorf("delete takes KIND ID..., e.g. `twinflow delete link l1`")
			}
			kind, err := kindOf(args[0], true)
			if err != nil {
				return err
			}
			if strings.HasPrefix(kind, "observed/") {
				return usageErrorf("observed state is recorded by telemetry and cannot be deleted")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var hdr map[string]string
			if ifMatch > 0 {
				hdr = map[string]string{"If-Match": fmt.Sprintf(`"%d"`, ifMatch)}
			}
			for _, id := range args[1:] {
				path := "/api/v1/twins/" + esc(twinID) + "/" + kind + "/" + esc(id)
				if kind == "twins" {
					path = "/api/v1/twins/" + esc(id)
				}
				if _, err := c.Do(cmd.Context(), http.MethodDelete, path, nil, hdr, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", strings.TrimSuffix(singular(kind), "s"), id)
			}
			return nil
		},
	}
	twinFlag(cmd, &twinID)
	cmd.Flags().Uint64Var(&ifMatch, "if-revision", 0, "delete only if the object has this revision")
	return usageFlags(cmd)
}

func singular(kind string) string {
	if kind == "topologies" {
		return "topology"
	}
	return strings.TrimSuffix(kind, "s")
}
