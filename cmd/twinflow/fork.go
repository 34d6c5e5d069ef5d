package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
	"github.com/twinflow/twinflow/twin"
)

func newForkCmd(o *Options) *cobra.Command {
	var twinID string
	cmd := &cobra.Command{
		Use:   "fork",
		Short: "Fork a twin (copy-on-write) and print the new fork's ID",
		Long: `Fork a twin (--twin, default live) on the server. The fork is an independent
copy-on-write snapshot: changes in the fork never reach its parent. With the table
output only the new ID is printed, so F=$(twinflow fork) works.`,
		Example: `  twinflow fork
  twinflow fork --twin fork-1        # a fork of a fork
  twinflow fork delete fork-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("fork takes no arguments, got %q: to fork that twin, `twinflow fork --twin %s`; to delete it, `twinflow fork delete %s`", args[0], args[0], args[0])
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var info twin.Info
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/twins/"+esc(twinID)+"/forks", nil, nil, &info); err != nil {
				return err
			}
			if o.Output == "table" {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), info.ID)
				return err
			}
			return render(o, cmd.OutOrStdout(), info, nil)
		},
	}
	twinFlag(cmd, &twinID)
	cmd.AddCommand(usageFlags(&cobra.Command{
		Use:   "delete FORK...",
		Short: "Delete forks (the live twin cannot be deleted)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("fork delete takes one or more fork IDs")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			for _, id := range args {
				if _, err := c.Do(cmd.Context(), http.MethodDelete, "/api/v1/twins/"+esc(id), nil, nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted twin %s\n", id)
			}
			return nil
		},
	}))
	cmd.AddCommand(usageFlags(&cobra.Command{
		Use:   "list",
		Short: "List twins (same as `twinflow get twins`)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("fork list takes no arguments")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			return get(cmd, o, c, "", "twins", "")
		},
	}))
	return usageFlags(cmd)
}
