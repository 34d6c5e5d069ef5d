package main

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/nbi"
)

// newPathCmd is `twinflow path`: the TE paths services' flows take (issue #15).
func newPathCmd(o *Options) *cobra.Command {
	var twinID, svc string
	cmd := &cobra.Command{
		Use:   "path",
		Short: "TE paths: the path each service flow takes, with its SLO",
		Long: `List the traffic-engineered paths of a twin's services (--twin, default live): one
row per flow a service or slice member created (per endpoint pair and disjoint path),
with the links it takes and its SLO. --service narrows to one service or slice member
(a slice's members are <slice>.<service>).`,
		Example: `  twinflow path
  twinflow path --service s1.c1 -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("path takes no arguments (use --service)")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			q := ""
			if svc != "" {
				q = "?service=" + url.QueryEscape(svc)
			}
			var out nbi.TEPathList
			if err := c.Get(cmd.Context(), "/api/v1/twins/"+esc(twinID)+"/te/paths"+q, &out); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), out.Items, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "SERVICE\tFLOW\tSRC\tDST\tMIN_GBPS\tMAX_MS\tISOLATION\tPATH")
				for _, p := range out.Items {
					rate, lat, iso := "-", "-", "-"
					if p.SLO != nil {
						rate, lat = fmt.Sprintf("%g", p.SLO.MinRateGbps), fmt.Sprintf("%g", p.SLO.MaxLatencyMs)
						if p.SLO.Isolation != "" {
							iso = string(p.SLO.Isolation)
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Service, p.Flow, p.Src, p.Dst, rate, lat, iso, strings.Join(p.Path, " "))
				}
			})
		},
	}
	twinFlag(cmd, &twinID)
	cmd.Flags().StringVar(&svc, "service", "", "only this service's (or slice member's) paths")
	return usageFlags(cmd)
}
