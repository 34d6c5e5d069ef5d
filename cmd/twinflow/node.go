package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/client"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin"
)

// nodeOpts are the gNMI connection flags of `twinflow node` subcommands.
type nodeOpts struct {
	address    string
	insecure   bool
	skipVerify bool
	caFile     string
	username   string
	password   string // --password-file path
	timeout    time.Duration
	twinID     string
}

func (n *nodeOpts) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&n.address, "address", "", "gNMI address host:port of the device (default: the device's address from the server)")
	f.BoolVar(&n.insecure, "insecure", false, "plaintext gRPC (no TLS)")
	f.BoolVar(&n.skipVerify, "skip-verify", false, "accept any device certificate (self-signed demo nodes)")
	f.StringVar(&n.caFile, "ca-file", "", "PEM CA bundle to verify the device certificate")
	f.StringVar(&n.username, "username", "", "username sent as gNMI metadata")
	f.StringVar(&n.password, "password-file", "", "file holding the password sent as gNMI metadata (else env TWINFLOW_GNMI_PASSWORD; never a flag value)")
	f.DurationVar(&n.timeout, "timeout", 10*time.Second, "per-request timeout")
	twinFlag(cmd, &n.twinID)
}

// client resolves the device address (from --address or the server) and dials it.
func (n *nodeOpts) client(cmd *cobra.Command, o *Options, device string) (*tfgnmi.Client, error) {
	if n.timeout <= 0 {
		return nil, usageErrorf("--timeout must be positive")
	}
	if n.insecure && (n.skipVerify || n.caFile != "") {
		return nil, usageErrorf("--insecure conflicts with --skip-verify and --ca-file")
	}
	addr := n.address
	if addr == "" {
		if device == "" {
			return nil, usageErrorf("give a DEVICE known to the server or --address host:port")
		}
		c, err := newAPIClient(o)
		if err != nil {
			return nil, err
		}
		var d twin.Device
		if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/twins/"+esc(n.twinID)+"/devices/"+esc(device), nil, nil, &d); err != nil {
			return nil, fmt.Errorf("look up device %s: %w", device, err)
		}
		if d.Address == "" {
			return nil, fmt.Errorf("device %s has no gNMI address on the server; use --address", device)
		}
		addr = d.Address
	}
	opts, err := n.dialOptions(addr)
	if err != nil {
		return nil, err
	}
	gc, err := tfgnmi.Dial(opts)
	return gc, n.explain(err)
}

// dialOptions are the driver options the flags give for a device at addr.
func (n *nodeOpts) dialOptions(addr string) (tfgnmi.Options, error) {
	pass := os.Getenv("TWINFLOW_GNMI_PASSWORD")
	if n.password != "" {
		b, err := os.ReadFile(n.password)
		if err != nil {
			return tfgnmi.Options{}, usageErrorf("--password-file: %v", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	return tfgnmi.Options{Address: addr, Insecure: n.insecure, SkipVerify: n.skipVerify, CAFile: n.caFile,
		Username: n.username, Password: pass, Timeout: n.timeout}, nil
}

// isPlaintextPeer reports whether err is a TLS client's failure against a plaintext
// gRPC server (gRPC passes on crypto/tls's message).
func isPlaintextPeer(err error) bool {
	return err != nil && strings.Contains(err.Error(), "first record does not look like a TLS handshake")
}

// explain adds what to do to a gNMI error a newcomer could not act on: TLS (the
// default) against a device that speaks plaintext gNMI.
func (n *nodeOpts) explain(err error) error {
	if !n.insecure && isPlaintextPeer(err) {
		return fmt.Errorf("%w\nthe device speaks plaintext gNMI (no TLS), as the demo's stand-in nodes do: add --insecure", err)
	}
	return err
}

func newNodeCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "List and inspect devices over gNMI (twinflow-node or any gNMI target)",
		Long: `node talks gNMI directly to devices. A DEVICE argument is looked up on the server
(--server) for its gNMI address; --address host:port skips the server.`,
	}
	cmd.AddCommand(newNodeListCmd(o), newNodeShowCmd(o), newNodeGetCmd(o), newNodeSetCmd(o))
	return cmd
}

type nodeRow struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Address string `json:"address"`
	Ports   int    `json:"ports"`
	Status  string `json:"oper_status"`
	GNMI    string `json:"gnmi,omitempty"`
}

func newNodeListCmd(o *Options) *cobra.Command {
	var n nodeOpts
	var probe bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the server's devices with their gNMI addresses",
		Example: `  twinflow node list
  twinflow node list --probe --insecure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			devs, err := client.ListAll[twin.Device](cmd.Context(), c, "/api/v1/twins/"+esc(n.twinID)+"/devices")
			if err != nil {
				return err
			}
			rows := make([]nodeRow, 0, len(devs))
			plaintext := 0 // devices that answered without TLS
			for _, d := range devs {
				r := nodeRow{ID: d.ID, Type: string(d.Type), Address: d.Address, Ports: len(d.Endpoints), Status: string(d.OperStatus)}
				if probe && d.Address != "" {
					n2 := n
					n2.address = d.Address
					r.GNMI = "unreachable"
					if gc, err := n2.client(cmd, o, d.ID); err == nil {
						_, err := gc.Capabilities(cmd.Context())
						switch {
						case err == nil:
							r.GNMI = "ok"
						case !n.insecure && isPlaintextPeer(err):
							r.GNMI = "plaintext"
							plaintext++
						}
						gc.Close()
					}
				}
				rows = append(rows, r)
			}
			if err := render(o, cmd.OutOrStdout(), rows, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tTYPE\tADDRESS\tPORTS\tSTATUS\tGNMI")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Type, orDash(r.Address), r.Ports, orDash(r.Status), orDash(r.GNMI))
				}
			}); err != nil {
				return err
			}
			if plaintext > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d device(s) speak plaintext gNMI (no TLS), as the demo's stand-in nodes do: probe them with --insecure\n", plaintext)
			}
			return nil
		},
	}
	n.flags(cmd)
	cmd.Flags().BoolVar(&probe, "probe", false, "check each device with a gNMI Capabilities request")
	return cmd
}

type ifaceRow struct {
	Name      string `json:"name"`
	Admin     string `json:"admin_status"`
	Oper      string `json:"oper_status"`
	MTU       uint64 `json:"mtu"`
	InOctets  string `json:"in_octets"`
	OutOctets string `json:"out_octets"`
}

type nodeShow struct {
	Address    string     `json:"address"`
	Hostname   string     `json:"hostname"`
	Software   string     `json:"software_version"`
	Models     []string   `json:"models"`
	Encodings  []string   `json:"encodings"`
	Interfaces []ifaceRow `json:"interfaces"`
}

func newNodeShowCmd(o *Options) *cobra.Command {
	var n nodeOpts
	cmd := &cobra.Command{
		Use:   "show [DEVICE]",
		Short: "Show a device's capabilities, system state and interfaces",
		Example: `  twinflow node show r1
  twinflow node show --address 127.0.0.1:9339 --insecure`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dev := ""
			if len(args) == 1 {
				dev = args[0]
			}
			c, err := n.client(cmd, o, dev)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			caps, err := c.Capabilities(ctx)
			if err != nil {
				return n.explain(err)
			}
			s := nodeShow{Address: c.Address()}
			for _, m := range caps.SupportedModels {
				s.Models = append(s.Models, m.Name+"@"+m.Version)
			}
			for _, e := range caps.SupportedEncodings {
				s.Encodings = append(s.Encodings, e.String())
			}
			vs, err := c.GetJSON(ctx, gpb.GetRequest_STATE, "/system/state", "/interfaces/interface[name=*]/state")
			if err != nil {
				return n.explain(err)
			}
			for _, v := range vs {
				if v.Path == "/system/state" {
					var st struct {
						Hostname string `json:"hostname"`
						Software string `json:"software-version"`
					}
					_ = json.Unmarshal(v.JSON, &st)
					s.Hostname, s.Software = st.Hostname, st.Software
					continue
				}
				var st struct {
					Name     string `json:"name"`
					Admin    string `json:"admin-status"`
					Oper     string `json:"oper-status"`
					MTU      uint64 `json:"mtu"`
					Counters struct {
						In  string `json:"in-octets"`
						Out string `json:"out-octets"`
					} `json:"counters"`
				}
				if err := json.Unmarshal(v.JSON, &st); err != nil {
					return fmt.Errorf("decode %s: %w", v.Path, err)
				}
				s.Interfaces = append(s.Interfaces, ifaceRow{Name: st.Name, Admin: st.Admin, Oper: st.Oper, MTU: st.MTU, InOctets: st.Counters.In, OutOctets: st.Counters.Out})
			}
			return render(o, cmd.OutOrStdout(), s, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "address:\t%s\nhostname:\t%s\nsoftware:\t%s\nmodels:\t%s\nencodings:\t%s\n\n",
					s.Address, s.Hostname, s.Software, strings.Join(s.Models, ", "), strings.Join(s.Encodings, ", "))
				fmt.Fprintln(tw, "INTERFACE\tADMIN\tOPER\tMTU\tIN-OCTETS\tOUT-OCTETS")
				for _, r := range s.Interfaces {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.Admin, r.Oper, r.MTU, r.InOctets, r.OutOctets)
				}
			})
		},
	}
	n.flags(cmd)
	return cmd
}

func newNodeGetCmd(o *Options) *cobra.Command {
	var n nodeOpts
	var dataType string
	cmd := &cobra.Command{
		Use:   "get [DEVICE] PATH...",
		Short: "gNMI Get of one or more paths (JSON_IETF)",
		Example: `  twinflow node get r1 /interfaces/interface[name=eth1]/config
  twinflow node get --address 127.0.0.1:9339 --insecure /system`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dev, paths := splitDevice(n.address, args)
			if len(paths) == 0 {
				return usageErrorf("give at least one PATH")
			}
			for _, p := range paths {
				if _, err := tfgnmi.PathToProto(p); err != nil {
					return usageErrorf("%v", err)
				}
			}
			dt, ok := map[string]gpb.GetRequest_DataType{"all": gpb.GetRequest_ALL, "config": gpb.GetRequest_CONFIG, "state": gpb.GetRequest_STATE}[dataType]
			if !ok {
				return usageErrorf("--type must be all, config or state; got %q", dataType)
			}
			c, err := n.client(cmd, o, dev)
			if err != nil {
				return err
			}
			defer c.Close()
			vs, err := c.GetJSON(cmd.Context(), dt, paths...)
			if err != nil {
				return n.explain(err)
			}
			return render(o, cmd.OutOrStdout(), vs, func(tw *tabwriter.Writer) {
				for _, v := range vs {
					fmt.Fprintf(tw, "%s\t%s\n", v.Path, v.JSON)
				}
			})
		},
	}
	n.flags(cmd)
	cmd.Flags().StringVar(&dataType, "type", "all", "data type: all, config or state")
	return cmd
}

// splitDevice separates an optional leading DEVICE from paths (paths start with '/').
func splitDevice(address string, args []string) (string, []string) {
	if address == "" && len(args) > 0 && !strings.HasPrefix(args[0], "/") {
		return args[0], args[1:]
	}
	return "", args
}

func newNodeSetCmd(o *Options) *cobra.Command {
	var n nodeOpts
	var updates, replaces, deletes []string
	var file string
	cmd := &cobra.Command{
		Use:   "set [DEVICE]",
		Short: "gNMI Set: updates, replaces and deletes applied atomically",
		Long: `set sends one SetRequest; the device applies all operations or none.
--update and --replace take PATH=JSON (JSON_IETF value); --delete takes PATH.
-f reads a JSON list of {"op":"update|replace|delete","path":...,"value":...}.`,
		Example: `  twinflow node set r1 --update '/interfaces/interface[name=eth1]/config/mtu=9000'
  twinflow node set --address 127.0.0.1:9339 --insecure --delete '/interfaces/interface[name=eth1]/config/description'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dev := ""
			if len(args) == 1 {
				dev = args[0]
			}
			var ops []tfgnmi.Op
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return usageErrorf("read -f: %v", err)
				}
				dec := json.NewDecoder(strings.NewReader(string(b)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ops); err != nil {
					return usageErrorf("%s: not a JSON list of operations: %v", file, err)
				}
			}
			for _, kv := range [][2]any{{tfgnmi.OpUpdate, updates}, {tfgnmi.OpReplace, replaces}} {
				for _, s := range kv[1].([]string) {
					// The value starts after the first '=' outside brackets.
					i, depth := -1, 0
					for j := 0; j < len(s); j++ {
						switch s[j] {
						case '[':
							depth++
						case ']':
							depth--
						case '=':
							if depth == 0 && i < 0 {
								i = j
							}
						}
					}
					if i < 0 {
						return usageErrorf("--%s %q: want PATH=JSON", kv[0], s)
					}
					ops = append(ops, tfgnmi.Op{Kind: kv[0].(tfgnmi.OpKind), Path: s[:i], Value: json.RawMessage(s[i+1:])})
				}
			}
			for _, p := range deletes {
				ops = append(ops, tfgnmi.Op{Kind: tfgnmi.OpDelete, Path: p})
			}
			if len(ops) == 0 {
				return usageErrorf("nothing to set: give --update, --replace, --delete or -f")
			}
			if _, err := tfgnmi.BuildSetRequest("", ops); err != nil {
				return usageErrorf("%v", err)
			}
			c, err := n.client(cmd, o, dev)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.Apply(cmd.Context(), ops)
			if err != nil {
				return n.explain(err)
			}
			type result struct {
				Op   string `json:"op"`
				Path string `json:"path"`
			}
			var rs []result
			for _, r := range resp.Response {
				rs = append(rs, result{Op: strings.ToLower(r.Op.String()), Path: tfgnmi.PathString(resp.Prefix, r.Path)})
			}
			return render(o, cmd.OutOrStdout(), rs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "OP\tPATH")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\n", r.Op, r.Path)
				}
			})
		},
	}
	n.flags(cmd)
	cmd.Flags().StringArrayVar(&updates, "update", nil, "PATH=JSON to merge (repeatable)")
	cmd.Flags().StringArrayVar(&replaces, "replace", nil, "PATH=JSON to replace (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "PATH to delete (repeatable)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "JSON file with a list of operations")
	return cmd
}
