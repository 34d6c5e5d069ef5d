package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/upgrade"
	"github.com/twinflow/twinflow/labs/node/osimage"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/ocpath"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/physical/gnoi"
	"github.com/twinflow/twinflow/repository"
)

// newUpgradeCmd is `twinflow upgrade`: NOS upgrades over gNOI OS in waves
// (REQ-AUTO-06/08, REQ-DLT-03; docs/upgrades.md).
func newUpgradeCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Roll a NOS version out in waves over gNOI OS, validated in the twin, rolled back on failure",
	}
	cmd.AddCommand(newUpgradeRunCmd(o), newUpgradeHistoryCmd(o), newUpgradeImageCmd())
	return cmd
}

func newUpgradeRunCmd(o *Options) *cobra.Command {
	var n nodeOpts
	var version, image, netFile, dsn string
	var waves []string
	var healthTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Upgrade device groups wave by wave; stop and roll the wave back when its health check fails",
		Long: `run installs IMAGE as VERSION on each wave's devices (gNOI OS Install), activates it
(Activate) and checks each device's health: Verify reports VERSION with no activation
failure, gNMI answers and reports VERSION at /system/state/software-version, and every
interface that was up before is up again. Each wave is first validated in the twin
(the devices are known and have management addresses; with the wave rebooting, every
flow not ending on it keeps a path). A wave that fails is rolled back (each activated
device is activated back to its previous version) and the rollout stops. With --db,
every device's version change goes into the ledger ('twinflow upgrade history').

The network (device addresses, links, flows) comes from the server's twin, or from
--network FILE.`,
		Example: `  twinflow upgrade run --version 2.0 --image nos-2.0.img --wave r1,r2 --wave r3 --insecure --db postgres:///twinflow`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if version == "" || image == "" || len(waves) == 0 {
				return usageErrorf("--version, --image and at least one --wave are required")
			}
			if n.insecure && (n.skipVerify || n.caFile != "") {
				return usageErrorf("--insecure conflicts with --skip-verify and --ca-file")
			}
			if healthTimeout <= 0 {
				return usageErrorf("--health-timeout must be positive")
			}
			img, err := readBounded(image, 1<<30)
			if err != nil {
				return usageErrorf("--image: %v", err)
			}
			plan := upgrade.Plan{Version: version, Image: img}
			for _, w := range waves {
				plan.Waves = append(plan.Waves, strings.Split(w, ","))
			}
			net, err := upgradeNetwork(cmd, o, netFile, n.twinID)
			if err != nil {
				return err
			}
			if err := plan.Check(net); err != nil {
				return usageErrorf("%v", err)
			}
			opts := upgrade.Options{Net: net, HealthTimeout: healthTimeout, Actor: "cli", Dial: gnoiDialer(&n)}
			if dsn != "" {
				st, err := openLedgerDB(cmd, dsn)
				if err != nil {
					return err
				}
				defer st.Close()
				opts.Ledger = st.Ledger()
			}
			rep, rerr := upgrade.Run(cmd.Context(), plan, opts)
			if rep == nil {
				return rerr
			}
			if err := render(o, cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "WAVE\tDEVICE\tFROM\tTO\tRESULT\tDETAIL")
				for _, w := range rep.Waves {
					for _, d := range w.Devices {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", w.Wave, d.Device, d.From, d.To, d.Result, d.Detail)
					}
					for _, note := range w.Twin.Notes {
						fmt.Fprintf(tw, "%d\t\t\t\ttwin\t%s\n", w.Wave, note)
					}
				}
			}); err != nil {
				return err
			}
			if rerr != nil {
				return fmt.Errorf("%w", rerr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&version, "version", "", "the version to roll out (as the image's header names it)")
	f.StringVar(&image, "image", "", "the image file to install")
	f.StringArrayVar(&waves, "wave", nil, "a wave: comma-separated device IDs (repeat, in order)")
	f.StringVar(&netFile, "network", "", "network document with the devices' addresses (default: the server's twin)")
	f.StringVar(&dsn, "db", "", "data repository for the ledger: postgres://... or file:PATH (empty: no ledger records)")
	f.DurationVar(&healthTimeout, "health-timeout", 30*time.Second, "how long a device may take to pass its health check after activation")
	n.flags(cmd)
	return cmd
}

// upgradeNetwork reads the network from a file or from the server's twin.
func upgradeNetwork(cmd *cobra.Command, o *Options, file, twinID string) (*network.Network, error) {
	if file != "" {
		b, err := readBounded(file, 64<<20)
		if err != nil {
			return nil, usageErrorf("--network: %v", err)
		}
		n, err := network.Decode(bytes.NewReader(b), network.DetectFormat(file, b))
		if err != nil {
			return nil, usageErrorf("--network %s: %v", file, err)
		}
		return n, nil
	}
	c, err := newAPIClient(o)
	if err != nil {
		return nil, err
	}
	n := &network.Network{}
	if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/twins/"+esc(twinID)+"/network", nil, nil, n); err != nil {
		return nil, err
	}
	return n, nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, fi.Size(), max)
	}
	return os.ReadFile(path)
}

// gnoiDevice is a device reached over gNOI OS and gNMI on one gRPC connection.
type gnoiDevice struct {
	g  *tfgnmi.Client
	os *gnoi.OS
}

func gnoiDialer(n *nodeOpts) upgrade.Dialer {
	return func(d network.Device) (upgrade.Device, func(), error) {
		opts, err := n.dialOptions(d.Address)
		if err != nil {
			return nil, nil, err
		}
		g, err := tfgnmi.Dial(opts)
		if err != nil {
			return nil, nil, n.explain(err)
		}
		o := gnoi.NewOS(g.Conn())
		o.Timeout = n.timeout
		return &gnoiDevice{g: g, os: o}, func() { _ = g.Close() }, nil
	}
}

func (d *gnoiDevice) Install(ctx context.Context, version string, image []byte) error {
	return d.os.Install(ctx, version, bytes.NewReader(image), int64(len(image)))
}

func (d *gnoiDevice) Activate(ctx context.Context, version string) error {
	return d.os.Activate(ctx, version)
}

func (d *gnoiDevice) Verify(ctx context.Context) (string, string, error) { return d.os.Verify(ctx) }

func (d *gnoiDevice) Health(ctx context.Context) (upgrade.Health, error) {
	vs, err := d.g.GetJSON(ctx, gpb.GetRequest_STATE, "/system/state/software-version", "/interfaces/interface/state/oper-status")
	if err != nil {
		return upgrade.Health{}, err
	}
	var h upgrade.Health
	for _, v := range vs {
		var s string
		if err := json.Unmarshal(v.JSON, &s); err != nil {
			continue
		}
		p, err := ocpath.Parse(v.Path)
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(v.Path, "/system/state/software-version"):
			h.SoftwareVersion = s
		case strings.HasSuffix(v.Path, "/state/oper-status") && len(p) > 1 && s == "UP":
			h.Up = append(h.Up, p[1].Key["name"])
		}
	}
	return h, nil
}

func newUpgradeHistoryCmd(o *Options) *cobra.Command {
	dsn := repository.DefaultDSN
	cmd := &cobra.Command{
		Use:   "history DEVICE",
		Short: "A device's software version history from the ledger",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openLedgerDB(cmd, dsn)
			if err != nil {
				return err
			}
			defer st.Close()
			recs, err := upgrade.History(cmd.Context(), st.Ledger(), args[0])
			if err != nil {
				return err
			}
			type row struct {
				Seq  int64     `json:"seq"`
				Time time.Time `json:"time"`
				upgrade.SoftwareRecord
			}
			rows := make([]row, 0, len(recs))
			for _, r := range recs {
				var s upgrade.SoftwareRecord
				if err := json.Unmarshal(r.Payload, &s); err != nil {
					return fmt.Errorf("ledger record %d: %w", r.Seq, err)
				}
				rows = append(rows, row{Seq: r.Seq, Time: r.Time, SoftwareRecord: s})
			}
			return render(o, cmd.OutOrStdout(), rows, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "SEQ\tTIME\tROLLOUT\tWAVE\tFROM\tTO\tRUNNING\tRESULT")
				for _, r := range rows {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), r.Rollout, r.Wave, r.From, r.To, r.Running, r.Result)
				}
			})
		},
	}
	cmd.Flags().StringVar(&dsn, "db", dsn, "data repository: postgres://... or file:PATH")
	return cmd
}

func newUpgradeImageCmd() *cobra.Command {
	var version, payload, inject, out string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build a twinflow-node sim image (a version, a checksum and a payload)",
		Example: `  twinflow upgrade image --version 2.0 -o nos-2.0.img
  twinflow upgrade image --version 2.1 --inject boot-old -o bad.img   # for testing the health checks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErrorf("-o/--output is required")
			}
			var body []byte
			if payload != "" {
				b, err := readBounded(payload, 1<<30)
				if err != nil {
					return usageErrorf("--payload: %v", err)
				}
				body = b
			} else {
				body = []byte("twinflow-node sim image " + version + "\n")
			}
			img, err := osimage.Build(version, body, inject)
			if err != nil {
				if errors.Is(err, osimage.ErrParse) {
					return usageErrorf("%v", err)
				}
				return err
			}
			return os.WriteFile(out, img, 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&version, "version", "", "the image's version")
	f.StringVar(&payload, "payload", "", "file to carry as the payload (default: a short text)")
	f.StringVar(&inject, "inject", "", "sim fault for tests: activate-fail or boot-old")
	f.StringVarP(&out, "output", "o", "", "image file to write")
	return cmd
}
