package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twinflow/twinflow/apps/client"
	"github.com/twinflow/twinflow/twin"
	"math"
)

func newGetCmd(o *Options) *cobra.Command {
	var twinID string
	cmd := &cobra.Command{
		Use:   "get KIND [ID]",
		Short: "Show devices, links, topologies, contexts, flows or twins from a server",
		Long: `Show objects of a twin (--twin, default live) from a twinflow server.
KIND is one of devices, links, topologies, contexts, flows, twins (singular works too),
or observed-devices, observed-links, observed-interfaces (what telemetry reports).
Without ID every object is listed (all pages); with ID one object is shown.`,
		Example: `  twinflow get devices
  twinflow get link spine-0--leaf-0 --twin fork-1 -o json
  twinflow get twins`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf("get takes KIND [ID], e.g. `twinflow get devices`")
			}
			kind, err := kindOf(args[0], true)
			if err != nil {
				return err
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 2 {
				id = args[1]
			}
			return get(cmd, o, c, twinID, kind, id)
		},
	}
	twinFlag(cmd, &twinID)
	return usageFlags(cmd)
}

func get(cmd *cobra.Command, o *Options, c *client.Client, twinID, kind, id string) error {
	ctx, w := cmd.Context(), cmd.OutOrStdout()
	base := "/api/v1/twins/" + esc(twinID) + "/" + kind
	switch kind {
	case "twins":
		if id != "" {
			var info twin.Info
			if _, err := c.Do(ctx, http.MethodGet, "/api/v1/twins/"+esc(id), nil, nil, &info); err != nil {
				return err
			}
			return render(o, w, info, twinsTable([]twin.Info{info}))
		}
		items, err := client.ListAll[twin.Info](ctx, c, "/api/v1/twins")
		if err != nil {
			return err
		}
		return render(o, w, items, twinsTable(items))
	case "devices":
		return getKind(cmd, o, c, base, id, devicesTable)
	case "links":
		return getKind(cmd, o, c, base, id, linksTable)
	case "topologies":
		return getKind(cmd, o, c, base, id, topologiesTable)
	case "contexts":
		return getKind(cmd, o, c, base, id, contextsTable)
	case "flows":
		return getKind(cmd, o, c, base, id, flowsTable)
	case "observed/devices":
		return getKind(cmd, o, c, base, id, observedDevicesTable)
	case "observed/links":
		return getKind(cmd, o, c, base, id, observedLinksTable)
	case "observed/interfaces":
		if id != "" {
			return usageErrorf("observed-interfaces takes no ID; it lists every interface")
		}
		return getKind(cmd, o, c, base, id, observedInterfacesTable)
	}
	return usageErrorf("unknown kind %q", kind)
}

func getKind[T any](cmd *cobra.Command, o *Options, c *client.Client, base, id string, table func([]T) func(*tabwriter.Writer)) error {
	ctx, w := cmd.Context(), cmd.OutOrStdout()
	if id != "" {
		var v T
		if _, err := c.Do(ctx, http.MethodGet, base+"/"+esc(id), nil, nil, &v); err != nil {
			return err
		}
		return render(o, w, v, table([]T{v}))
	}
	items, err := client.ListAll[T](ctx, c, base)
	if err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	return render(o, w, items, table(items))
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// fmtRate prints a measured rate or utilisation with four significant digits (whole
// numbers from 10,000 up): what telemetry measures is not exact to 16.
func fmtRate(v float64) string {
	if math.Abs(v) >= 1e4 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func devicesTable(ds []twin.Device) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tTYPE\tENDPOINTS\tSTATUS\tREVISION")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", d.ID, d.Type, len(d.Endpoints), orDash(string(d.OperStatus)), d.Revision)
		}
	}
}

func linksTable(ls []twin.Link) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tA\tB\tCAPACITY_GBPS\tLATENCY_MS\tSTATUS\tREVISION")
		for _, l := range ls {
			ends := []string{"-", "-"}
			for i, ep := range l.Endpoints {
				if i < 2 {
					ends[i] = ep.Device + ":" + ep.EndPoint
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", l.ID, ends[0], ends[1], fmtNum(l.CapacityGbps),
				fmtNum(l.LatencyMs), orDash(string(l.OperStatus)), l.Revision)
		}
	}
}

func topologiesTable(ts []twin.Topology) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tCONTEXT\tDEVICES\tLINKS\tREVISION")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", t.ID, t.Context, len(t.DeviceIDs), len(t.LinkIDs), t.Revision)
		}
	}
}

func contextsTable(cs []twin.Context) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tNAME\tREVISION")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.ID, orDash(c.Name), c.Revision)
		}
	}
}

func flowsTable(fs []twin.Flow) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tSRC\tDST\tHOPS\tDEMAND_GBPS\tPATH\tREVISION")
		for _, f := range fs {
			demand := "elastic"
			if f.DemandGbps != nil {
				demand = fmtNum(*f.DemandGbps)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\n", f.ID, f.Src, f.Dst, len(f.Path), demand,
				orDash(strings.Join(f.Path, ",")), f.Revision)
		}
	}
}

func twinsTable(ts []twin.Info) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "ID\tPARENT\tPARENT_REVISION\tREVISION\tCREATED")
		for _, t := range ts {
			prev := "-"
			if t.Parent != "" {
				prev = strconv.FormatUint(t.ParentRevision, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", t.ID, orDash(t.Parent), prev, t.Revision,
				t.CreatedAt.UTC().Format(time.RFC3339))
		}
	}
}

func observedDevicesTable(ds []twin.ObservedDevice) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "DEVICE\tREACHABLE\tAT")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%t\t%s\n", d.ID, d.Reachable, d.At.UTC().Format(time.RFC3339Nano))
		}
	}
}

func observedLinksTable(ls []twin.ObservedLink) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "LINK\tSTATUS\tRATE_AB_GBPS\tRATE_BA_GBPS\tUTIL_AB\tUTIL_BA\tAT")
		for _, l := range ls {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, orDash(string(l.OperStatus)),
				fmtRate(l.RateGbps[0]), fmtRate(l.RateGbps[1]), fmtRate(l.Utilisation[0]), fmtRate(l.Utilisation[1]),
				l.At.UTC().Format(time.RFC3339Nano))
		}
	}
}

func observedInterfacesTable(is []twin.ObservedInterface) func(*tabwriter.Writer) {
	return func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "DEVICE\tINTERFACE\tSTATUS\tIN_OCTETS\tOUT_OCTETS\tIN_GBPS\tOUT_GBPS\tAT")
		for _, i := range is {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", i.Device, i.Interface, orDash(string(i.OperStatus)),
				i.InOctets, i.OutOctets, fmtRate(i.InRateGbps), fmtRate(i.OutRateGbps), i.At.UTC().Format(time.RFC3339Nano))
		}
	}
}
