package main

import (
	"net/http"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

func newSetCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Change attributes of an object in a twin",
	}
	var (
		twinID     string
		capacity   float64
		latency    float64
		status     string
		ifRevision uint64
	)
	link := &cobra.Command{
		Use:   "link ID",
		Short: "Change a link's capacity, latency or status",
		Long: `Read the link, change the given attributes and write it back, conditional on the
revision read (a concurrent change makes this fail with "Revision mismatch" instead of
being overwritten).`,
		Example: `  twinflow set link spine-0--leaf-0 --capacity 40 --twin fork-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("set link takes one link ID")
			}
			f := cmd.Flags()
			if !f.Changed("capacity") && !f.Changed("latency") && !f.Changed("status") {
				return usageErrorf("nothing to set: give --capacity, --latency or --status")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			path := "/api/v1/twins/" + esc(twinID) + "/links/" + esc(args[0])
			var l twin.Link
			if _, err := c.Do(cmd.Context(), http.MethodGet, path, nil, nil, &l); err != nil {
				return err
			}
			if f.Changed("capacity") {
				l.CapacityGbps = capacity
			}
			if f.Changed("latency") {
				l.LatencyMs = latency
			}
			if f.Changed("status") {
				l.OperStatus = network.OperStatus(status)
			}
			expect := l.Revision
			if ifRevision > 0 {
				expect = ifRevision
			}
			var out twin.Link
			if _, err := c.Do(cmd.Context(), http.MethodPut, path, l.Link,
				map[string]string{"If-Match": `"` + strconv.FormatUint(expect, 10) + `"`}, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out, linksTable([]twin.Link{out}))
		},
	}
	twinFlag(link, &twinID)
	link.Flags().Float64Var(&capacity, "capacity", 0, "capacity in Gb/s (each direction)")
	link.Flags().Float64Var(&latency, "latency", 0, "latency in ms")
	link.Flags().StringVar(&status, "status", "", "operational status: enabled, disabled, unreachable, undefined")
	link.Flags().Uint64Var(&ifRevision, "if-revision", 0, "write only if the link still has this revision (default: the revision just read)")
	cmd.AddCommand(usageFlags(link))
	return usageFlags(cmd)
}
