package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/apps/ztp"
	mztp "github.com/twinflow/twinflow/models/ztp"
	"github.com/twinflow/twinflow/repository"
)

// newZTPCmd is `twinflow ztp`: zero-touch provisioning records (docs/ztp.md).
func newZTPCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ztp",
		Short: "Zero-touch provisioning: devices registered or added, provisioned by role",
	}
	cmd.AddCommand(newZTPListCmd(o), newZTPShowCmd(o), newZTPAddCmd(o), newZTPProvisionCmd(o), newZTPWaitCmd(o))
	return cmd
}

func ztpTable(tw *tabwriter.Writer, ds []repository.ZTPDevice) {
	fmt.Fprintln(tw, "DEVICE\tROLE\tVERSION\tSTATE\tCHANGE\tDETAIL")
	for _, d := range ds {
		v := ""
		if d.RoleVersion > 0 {
			v = strconv.FormatInt(d.RoleVersion, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Role, v, d.State, d.ChangeID, d.Detail)
	}
}

func newZTPListCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Provisioning records of every device",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var l nbi.ZTPDeviceList
			if err := c.Get(cmd.Context(), "/api/v1/ztp/devices", &l); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), l.Items, func(tw *tabwriter.Writer) { ztpTable(tw, l.Items) })
		},
	}
}

func getZTPDevice(cmd *cobra.Command, o *Options, id string) (repository.ZTPDevice, error) {
	var d repository.ZTPDevice
	if err := mztp.CheckName("device", id); err != nil {
		return d, usageErrorf("%v", err)
	}
	c, err := newAPIClient(o)
	if err != nil {
		return d, err
	}
	err = c.Get(cmd.Context(), "/api/v1/ztp/devices/"+esc(id), &d)
	return d, err
}

func newZTPShowCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "show DEVICE",
		Short: "One device's provisioning record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := getZTPDevice(cmd, o, args[0])
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) { ztpTable(tw, []repository.ZTPDevice{d}) })
		},
	}
}

func newZTPAddCmd(o *Options) *cobra.Command {
	var reg mztp.Registration
	var ports string
	cmd := &cobra.Command{
		Use:     "add DEVICE",
		Short:   "Add a device to the inventory and provision it (admin)",
		Example: `  twinflow ztp add leaf-3 --address 10.0.0.13:57400 --ports eth1,eth2 --role leaf`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg.Name = args[0]
			if ports != "" {
				reg.Ports = strings.Split(ports, ",")
			}
			if err := reg.Check(); err != nil {
				return usageErrorf("%v", err)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var d repository.ZTPDevice
			if err := c.Post(cmd.Context(), "/api/v1/ztp/devices", reg, &d); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) { ztpTable(tw, []repository.ZTPDevice{d}) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&reg.Address, "address", "", "management (gNMI) address host:port")
	f.StringVar(&ports, "ports", "", "comma-separated interface names")
	f.StringVar(&reg.Role, "role", "", "role to provision with (default: the role whose name prefix matches)")
	return cmd
}

func newZTPProvisionCmd(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "provision DEVICE",
		Short: "Provision a known device again, with its role's latest version (operator)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mztp.CheckName("device", args[0]); err != nil {
				return usageErrorf("%v", err)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var d repository.ZTPDevice
			if err := c.Post(cmd.Context(), "/api/v1/ztp/devices/"+esc(args[0])+"/provision", nil, &d); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) { ztpTable(tw, []repository.ZTPDevice{d}) })
		},
	}
}

func newZTPWaitCmd(o *Options) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait DEVICE",
		Short: "Wait until a device's provisioning ends; exit 1 unless it is enabled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			deadline := time.Now().Add(timeout)
			for {
				d, err := getZTPDevice(cmd, o, args[0])
				final := err == nil && (d.State == ztp.StateEnabled || d.State == ztp.StateRejected || d.State == ztp.StateFailed)
				if final || time.Now().After(deadline) {
					if err != nil {
						return err
					}
					if rerr := render(o, cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) { ztpTable(tw, []repository.ZTPDevice{d}) }); rerr != nil {
						return rerr
					}
					if d.State != ztp.StateEnabled {
						return fmt.Errorf("device %s is %s: %s", d.ID, d.State, d.Detail)
					}
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait")
	return cmd
}

// newRoleCmd is `twinflow role`: provisioning roles and their day-0 templates.
func newRoleCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Zero-touch provisioning roles: day-0 configuration templates, versioned",
	}
	var file string
	create := &cobra.Command{
		Use:   "create -f ROLE.yaml",
		Short: "Store a role (a new version when the role exists) (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("-f/--file is required")
			}
			b, err := readInput(cmd, file)
			if err != nil {
				return usageErrorf("%v", err)
			}
			role, err := mztp.ParseRole(b)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var v ztp.RoleView
			if err := c.Post(cmd.Context(), "/api/v1/ztp/roles", json.RawMessage(role.JSON()), &v); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) { roleTable(tw, []ztp.RoleView{v}) })
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "role document (YAML or JSON; - for stdin)")
	list := &cobra.Command{
		Use:   "list",
		Short: "The latest version of every role",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var l nbi.ZTPRoleList
			if err := c.Get(cmd.Context(), "/api/v1/ztp/roles", &l); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), l.Items, func(tw *tabwriter.Writer) { roleTable(tw, l.Items) })
		},
	}
	var version int64
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "A role with its template (the latest version, or --version N)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mztp.CheckName("role", args[0]); err != nil {
				return usageErrorf("%v", err)
			}
			if version < 0 {
				return usageErrorf("--version must be positive")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			path := "/api/v1/ztp/roles/" + esc(args[0])
			if version > 0 {
				path += "?version=" + strconv.FormatInt(version, 10)
			}
			var v ztp.RoleView
			if _, err := c.Do(cmd.Context(), http.MethodGet, path, nil, nil, &v); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				roleTable(tw, []ztp.RoleView{v})
				fmt.Fprintf(tw, "\n%s", v.Template)
			})
		},
	}
	show.Flags().Int64Var(&version, "version", 0, "role version (default: the latest)")
	cmd.AddCommand(create, list, show)
	return cmd
}

func roleTable(tw *tabwriter.Writer, rs []ztp.RoleView) {
	fmt.Fprintln(tw, "ROLE\tVERSION\tMATCH\tAUTHOR\tCREATED\tDESCRIPTION")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Version, r.Match.NamePrefix, r.Author, r.Created.UTC().Format(time.RFC3339), r.Description)
	}
}
