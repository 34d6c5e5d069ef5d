package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/snapshot"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

func newSnapshotCmd(o *Options) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Named, immutable network snapshots in the repository (create, list, show)",
		Long: `Named network snapshots, stored in the repository (--db) and never modified: creating
an existing name fails. A snapshot is taken from a twin of a running server (--twin,
through the API: its intended network and revision) or from a network file (-f).`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", repository.DefaultDSN, "data repository: postgres://... or file:PATH")
	open := func(cmd *cobra.Command) (repository.Store, error) { return openDB(cmd, db) }

	var file, twinID string
	create := &cobra.Command{
		Use:   "create NAME (-f FILE | --twin TWIN)",
		Short: "Store a snapshot of a twin (through --server) or of a network file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := snapshot.CheckName(name); err != nil {
				return usageErrorf("%v", err)
			}
			if (file == "") == (twinID == "") {
				return usageErrorf("give exactly one of -f FILE and --twin TWIN")
			}
			var n *network.Network
			var rev uint64
			var source string
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return usageErrorf("-f: %v", err)
				}
				if n, err = network.Decode(bytes.NewReader(b), network.DetectFormat(file, b)); err != nil {
					return usageErrorf("%s: %v", file, err)
				}
				source = "file:" + file
			} else {
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				var info twin.Info
				if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/twins/"+esc(twinID), nil, nil, &info); err != nil {
					return err
				}
				n = &network.Network{}
				if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/twins/"+esc(twinID)+"/network", nil, nil, n); err != nil {
					return err
				}
				rev, source = info.Revision, "server:"+o.Server+" twin "+twinID
			}
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := snapshot.Create(cmd.Context(), st, name, source, rev, n)
			if err != nil {
				if errors.Is(err, snapshot.ErrInvalid) {
					return usageErrorf("%v", err)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snapshot %s created: %d devices, %d links, %d flows (%s, revision %d)\n",
				s.Name, s.Devices, s.Links, s.Flows, s.Source, s.Revision)
			return nil
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "network file (JSON, YAML, GML, containerlab)")
	create.Flags().StringVar(&twinID, "twin", "", "twin of the server to snapshot (e.g. live)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ss, err := snapshot.List(cmd.Context(), st)
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), ss, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tTAKEN\tDEVICES\tLINKS\tFLOWS\tREVISION\tSOURCE")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Taken.UTC().Format(time.RFC3339), s.Devices, s.Links, s.Flows, s.Revision, s.Source)
				}
			})
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a snapshot (-o json|yaml prints it with its network)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := snapshot.CheckName(args[0]); err != nil {
				return usageErrorf("%v", err)
			}
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := snapshot.Get(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), s, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "name\t%s\ntaken\t%s\nsource\t%s\nrevision\t%d\ndevices\t%d\nlinks\t%d\nflows\t%d\n",
					s.Name, s.Taken.UTC().Format(time.RFC3339), s.Source, s.Revision, s.Devices, s.Links, s.Flows)
			})
		},
	}
	cmd.AddCommand(create, list, show)
	return cmd
}
