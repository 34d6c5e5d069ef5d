package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
	"github.com/twinflow/twinflow/twin/emulation"
	"github.com/twinflow/twinflow/twin/emulation/clab"
)

// labOptions are the flags shared by the lab subcommands.
type labOptions struct {
	name     string
	prefix   string
	stateDir string
	backend  string
	nodeBin  string
	noAgents bool
	clabDir  string
}

func newLabCmd(o *Options) *cobra.Command {
	lo := &labOptions{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Emulation sandbox: deploy a network as a lab, probe it, compare with the models",
		Long: `Emulation labs for engineers (see docs/emulation.md). The netns backend (default, needs
root) runs one network namespace per device joined by veth pairs, each link shaped with
HTB to capacity × --scale, routers queueing per flow (fq) or FIFO (fifo). With a
twinflow-node binary (beside twinflow, in $PATH or --node-bin) every namespace runs a
node agent reachable over gNMI on the lab's management network.`,
	}
	stateDir := os.Getenv("TWINFLOW_LAB_STATE_DIR")
	if stateDir == "" {
		stateDir = emulation.DefaultStateDir
	}
	cmd.PersistentFlags().StringVar(&lo.name, "name", "", "lab name ([a-z0-9-], default from the file's topology or name)")
	cmd.PersistentFlags().StringVar(&lo.prefix, "prefix", emulation.DefaultPrefix, "prefix of the lab's namespaces and label")
	cmd.PersistentFlags().StringVar(&lo.stateDir, "state-dir", stateDir, "directory of lab state files (env TWINFLOW_LAB_STATE_DIR)")
	cmd.PersistentFlags().StringVar(&lo.backend, "backend", "netns", "emulation backend: netns or containerlab")
	cmd.PersistentFlags().StringVar(&lo.nodeBin, "node-bin", "", "twinflow-node binary (default: beside twinflow, then $PATH)")
	cmd.PersistentFlags().BoolVar(&lo.noAgents, "no-agents", false, "do not run node agents (plumbing and probes only)")
	cmd.PersistentFlags().StringVar(&lo.clabDir, "clab-dir", "", "containerlab: directory of topology files (default <state-dir>/clab)")
	cmd.AddCommand(newLabDeployCmd(o, lo), newLabStatusCmd(o, lo), newLabDestroyCmd(o, lo),
		newLabProbeCmd(o, lo), newLabFidelityCmd(o, lo), newLabCalibrateCmd(o, lo), newLabSweepCmd(o, lo), newLabProbeAgentCmd())
	return cmd
}

// newLabProbeAgentCmd runs a labs/probe subcommand (what `twinflow-node probe` does);
// the lab uses it inside namespaces when no twinflow-node binary is available.
func newLabProbeAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "probe-agent",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := probe.Run(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return &exitError{code: code, err: errors.New("probe failed")}
			}
			return nil
		},
	}
}

var labNameClean = regexp.MustCompile(`[^a-z0-9-]+`)

// defaultLabName derives a lab name from the document or the file name.
func defaultLabName(file string, n *network.Network) string {
	src := ""
	if len(n.Topologies) > 0 {
		src = n.Topologies[0].ID
	}
	if src == "" {
		src = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		src = strings.TrimSuffix(src, ".clab")
	}
	s := strings.Trim(labNameClean.ReplaceAllString(strings.ToLower(src), "-"), "-")
	if len(s) > 24 {
		s = strings.Trim(s[:24], "-")
	}
	if s == "" {
		s = "lab"
	}
	return s
}

// readLabNetwork reads and validates a network file (JSON, YAML, containerlab, GML).
func readLabNetwork(file string) (*network.Network, error) {
	if file == "" {
		return nil, usageErrorf("-f/--file is required")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, usageErrorf("read %s: %v", file, err)
	}
	n, err := clab.DecodeFormat(bytes.NewReader(data), network.DetectFormat(file, data))
	if err != nil {
		return nil, usageErrorf("%s: %v", file, err)
	}
	if err := n.Validate(); err != nil {
		return nil, usageErrorf("%s: %v", file, err)
	}
	return n, nil
}

// nodeBinary finds twinflow-node: --node-bin, beside this executable, then $PATH.
func (lo *labOptions) nodeBinary() string {
	if lo.nodeBin != "" {
		return lo.nodeBin
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "twinflow-node")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("twinflow-node"); err == nil {
		return p
	}
	return ""
}

// probeCmd is the probe agent run in namespaces: twinflow-node probe, or this binary.
func (lo *labOptions) probeCmd() []string {
	if bin := lo.nodeBinary(); bin != "" {
		return []string{bin, "probe"}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return []string{exe, "lab", "probe-agent"}
}

// delayCmd is the delay line for links with a latency where the kernel has no netem
// (nil without a twinflow-node binary: such links then get no delay).
func (lo *labOptions) delayCmd() []string {
	if bin := lo.nodeBinary(); bin != "" {
		return []string{bin, "delay"}
	}
	return nil
}

func (lo *labOptions) netns(o emulation.Options, agents bool) *emulation.Netns {
	b := &emulation.Netns{Options: o, StateDir: lo.stateDir, ProbeCmd: lo.probeCmd(), DelayCmd: lo.delayCmd()}
	if agents && !lo.noAgents {
		if bin := lo.nodeBinary(); bin != "" {
			b.NodeCmd = []string{bin, "--dataplane", "linux", "--insecure"}
			b.Config = server.GNMIConfigurer{}
		}
	}
	return b
}

func (lo *labOptions) backendFor(o emulation.Options) (emulation.Backend, error) {
	switch lo.backend {
	case "netns":
		return lo.netns(o, true), nil
	case "containerlab":
		dir := lo.clabDir
		if dir == "" {
			dir = filepath.Join(lo.stateDir, "clab")
		}
		return &emulation.Containerlab{Options: o, Dir: dir, Config: server.GNMIConfigurer{}}, nil
	}
	return nil, usageErrorf("--backend must be netns or containerlab, got %q", lo.backend)
}

func labErr(err error) error {
	if errors.Is(err, emulation.ErrInvalid) {
		return usageErrorf("%v", err)
	}
	return err
}

func newLabDeployCmd(o *Options, lo *labOptions) *cobra.Command {
	var file, queue string
	var scale float64
	var limit int
	var hosts bool
	cmd := &cobra.Command{
		Use:   "deploy -f NETWORK",
		Short: "Deploy a network document (JSON, YAML, .clab.yml) as a lab",
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := readLabNetwork(file)
			if err != nil {
				return err
			}
			q, err := emulation.ParseQueueModel(queue)
			if err != nil {
				return usageErrorf("--queue: %v", err)
			}
			if lo.name == "" {
				lo.name = defaultLabName(file, n)
			}
			opts := emulation.Options{Lab: lo.name, Prefix: lo.prefix, Scale: scale, Queue: q, QueueLimit: limit, SenderHosts: hosts}
			if _, err := emulation.NewPlan(n, opts, nil, 0); err != nil {
				return labErr(err)
			}
			b, err := lo.backendFor(opts)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := b.Deploy(cmd.Context(), n); err != nil {
				return labErr(err)
			}
			nodes, err := b.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lab %s%s deployed: %d nodes in %.2fs\n", lo.prefix, lo.name, len(nodes), time.Since(start).Seconds())
			return renderNodes(o, cmd, nodes)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "network document: JSON, YAML or containerlab (.clab.yml)")
	cmd.Flags().StringVar(&queue, "queue", "fq", "router queue model: fq (per-flow fair queueing) or fifo")
	cmd.Flags().Float64Var(&scale, "scale", emulation.DefaultScale, "emulated rate = capacity × scale (0.01: 10 Gb/s as 100 Mb/s)")
	cmd.Flags().IntVar(&limit, "queue-limit", emulation.DefaultQueueLimit, "packets per pfifo queue")
	cmd.Flags().BoolVar(&hosts, "sender-hosts", false, "TCP probes send from a host namespace behind each node (the first queue is then a router's)")
	return cmd
}

func renderNodes(o *Options, cmd *cobra.Command, nodes []emulation.NodeInfo) error {
	return render(o, cmd.OutOrStdout(), nodes, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NODE\tNAMESPACE\tADDRESS\tMGMT\tGNMI\tPID\tINTERFACES")
		for _, n := range nodes {
			var ifs []string
			for _, i := range n.Interfaces {
				ifs = append(ifs, fmt.Sprintf("%s=%s@%.1fMb/s", i.Name, i.Address, float64(i.RateBps)/1e6))
			}
			gnmi := n.GNMIAddress
			if gnmi == "" {
				gnmi = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, n.Namespace, n.Address, n.MgmtAddress, gnmi, n.PID, strings.Join(ifs, " "))
		}
	})
}

// labRef returns the options of an existing lab named by --name.
func (lo *labOptions) labRef() (emulation.Options, error) {
	if lo.name == "" {
		return emulation.Options{}, usageErrorf("--name is required")
	}
	return emulation.Options{Lab: lo.name, Prefix: lo.prefix}, nil
}

func newLabStatusCmd(o *Options, lo *labOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status [--name NAME]",
		Short: "Show a lab's nodes, or list the deployed labs",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lo.name == "" {
				return listLabs(o, cmd, lo.stateDir)
			}
			opts, err := lo.labRef()
			if err != nil {
				return err
			}
			b, err := lo.backendFor(opts)
			if err != nil {
				return err
			}
			nodes, err := b.Nodes(cmd.Context())
			if err != nil {
				return labErr(err)
			}
			return renderNodes(o, cmd, nodes)
		},
	}
}

func listLabs(o *Options, cmd *cobra.Command, dir string) error {
	labs, err := emulation.DeployedLabs(dir)
	if err != nil {
		return err
	}
	return render(o, cmd.OutOrStdout(), labs, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "LAB\tBACKEND\tNODES\tLINKS\tQUEUE\tSCALE\tCREATED")
		for _, l := range labs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%g\t%s\n", l.Lab, l.Backend, l.Nodes, l.Links, l.Queue, l.Scale, l.Created.Format(time.RFC3339))
		}
	})
}

func newLabDestroyCmd(_ *Options, lo *labOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "destroy --name NAME",
		Short: "Destroy a lab: processes, namespaces, links and state, leaving nothing behind",
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := lo.labRef()
			if err != nil {
				return err
			}
			b, err := lo.backendFor(opts)
			if err != nil {
				return err
			}
			if err := b.Destroy(cmd.Context()); err != nil {
				return labErr(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lab %s destroyed\n", opts.Label())
			return nil
		},
	}
}

func newLabSweepCmd(o *Options, lo *labOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "sweep [--name NAME] [--prefix PREFIX]",
		Short: "Remove leftovers (processes, namespaces, links, state) of one lab or of every lab under a prefix",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var swept []string
			if lo.name != "" {
				opts := emulation.Options{Lab: lo.name, Prefix: lo.prefix}
				if _, err := emulation.NewPlan(&network.Network{Devices: []network.Device{{ID: "x"}}}, opts, nil, 0); err != nil {
					return labErr(err)
				}
				if err := emulation.Sweep(cmd.Context(), opts.Label(), lo.stateDir); err != nil {
					return labErr(err)
				}
				swept = []string{opts.Label()}
			} else {
				var err error
				if swept, err = emulation.SweepPrefix(cmd.Context(), lo.prefix, lo.stateDir); err != nil {
					return labErr(err)
				}
			}
			if swept == nil {
				swept = []string{}
			}
			return render(o, cmd.OutOrStdout(), map[string][]string{"swept": swept}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "SWEPT")
				for _, l := range swept {
					fmt.Fprintln(tw, l)
				}
			})
		},
	}
}

// parsePair parses "SRC:DST" or "ID=SRC:DST".
func parsePair(flag, s string) (id, src, dst string, err error) {
	id = ""
	rest := s
	if i := strings.IndexByte(s, '='); i >= 0 {
		id, rest = s[:i], s[i+1:]
	}
	a, b, ok := strings.Cut(rest, ":")
	if !ok || a == "" || b == "" {
		return "", "", "", usageErrorf("%s %q: want SRC:DST or ID=SRC:DST (device IDs)", flag, s)
	}
	if id == "" {
		id = a + "->" + b
	}
	return id, a, b, nil
}

func newLabProbeCmd(o *Options, lo *labOptions) *cobra.Command {
	var pings, tcps []string
	var cc string
	var count int
	var dur, warmup time.Duration
	var flows bool
	cmd := &cobra.Command{
		Use:   "probe --name NAME [--ping SRC:DST]... [--tcp SRC:DST]... [--flows]",
		Short: "Run probes in a lab: pings and concurrent TCP flows (exit 1 if any fails)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := lo.labRef()
			if err != nil {
				return err
			}
			if cc != "cubic" && cc != "bbr" && cc != "reno" {
				return usageErrorf("--cc must be cubic, bbr or reno, got %q", cc)
			}
			var b interface {
				emulation.Backend
				Load() error
				Plan() *emulation.Plan
			}
			switch lo.backend {
			case "netns":
				b = lo.netns(opts, false)
			case "containerlab":
				cb, err := lo.backendFor(opts)
				if err != nil {
					return err
				}
				b = cb.(*emulation.Containerlab)
			default:
				return usageErrorf("--backend must be netns or containerlab, got %q", lo.backend)
			}
			if err := b.Load(); err != nil {
				return labErr(err)
			}
			var specs []emulation.ProbeSpec
			for _, p := range pings {
				id, s, d, err := parsePair("--ping", p)
				if err != nil {
					return err
				}
				specs = append(specs, emulation.ProbeSpec{ID: "ping:" + id, Kind: emulation.ProbePing, Src: s, Dst: d, Count: count})
			}
			for _, p := range tcps {
				id, s, d, err := parsePair("--tcp", p)
				if err != nil {
					return err
				}
				specs = append(specs, emulation.ProbeSpec{ID: id, Kind: emulation.ProbeTCP, Src: s, Dst: d, CC: cc, Duration: dur, Warmup: warmup})
			}
			if flows {
				specs = append(specs, emulation.FlowProbes(b.Plan(), cc, dur, warmup)...)
			}
			if len(specs) == 0 {
				return usageErrorf("nothing to probe: give --ping, --tcp or --flows")
			}
			res, err := b.Probe(cmd.Context(), specs)
			if err != nil {
				return labErr(err)
			}
			if err := render(o, cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tKIND\tSRC\tDST\tOK\tRESULT")
				for _, r := range res {
					detail := r.Error
					switch {
					case r.OK && r.Ping != nil:
						detail = fmt.Sprintf("%d/%d replies, rtt median %.3f ms", r.Ping.Received, r.Ping.Sent, r.Ping.RTTMedianMs)
					case r.OK && r.TCP != nil:
						detail = fmt.Sprintf("%.3f Mb/s goodput (%s, %.1fs, rtt %.2f ms, %d retransmits)", r.TCP.GoodputBps/1e6, r.TCP.CC, r.TCP.Seconds, r.TCP.RTTMs, r.TCP.Retransmits)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", r.ID, r.Kind, r.Src, r.Dst, r.OK, detail)
				}
			}); err != nil {
				return err
			}
			for _, r := range res {
				if !r.OK {
					return &exitError{code: 1, err: fmt.Errorf("probe %s failed: %s", r.ID, r.Error)}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&pings, "ping", nil, "ping SRC:DST or ID=SRC:DST (device IDs); repeatable")
	cmd.Flags().StringArrayVar(&tcps, "tcp", nil, "TCP flow SRC:DST or ID=SRC:DST; repeatable, all run at once")
	cmd.Flags().BoolVar(&flows, "flows", false, "one TCP flow per flow of the deployed network")
	cmd.Flags().StringVar(&cc, "cc", "cubic", "congestion control of TCP probes: cubic, bbr or reno")
	cmd.Flags().IntVar(&count, "count", 3, "echo requests per ping")
	cmd.Flags().DurationVar(&dur, "duration", 10*time.Second, "TCP probe duration")
	cmd.Flags().DurationVar(&warmup, "warmup", 2*time.Second, "initial part of --duration not measured")
	return cmd
}

// fidelityReport is `lab fidelity`'s output.
type fidelityReport struct {
	// Version is emulation.FidelityReportVersion (absent, 0, in older reports).
	Version int    `json:"version,omitempty"`
	Network string `json:"network"`
	// Generate and Seed name a generated network (--generate) instead of a file.
	Generate    string                  `json:"generate,omitempty"`
	Seed        int64                   `json:"seed,omitempty"`
	Scale       float64                 `json:"scale"`
	QueueLimit  int                     `json:"queue_limit"`
	SenderHosts bool                    `json:"sender_hosts"`
	Params      string                  `json:"params_version"`
	Runs        []emulation.FidelityRun `json:"runs"`
}

func newLabFidelityCmd(o *Options, lo *labOptions) *cobra.Command {
	var file, ccs, queues string
	var scale float64
	var limit int
	var hosts bool
	var gen, paramsFile string
	var seed int64
	var dur, warmup time.Duration
	cmd := &cobra.Command{
		Use:   "fidelity -f NETWORK | --generate SPEC --seed N",
		Short: "Run the network's flows as real TCP per queue model and congestion control; compare with max-min",
		Long: `Deploys the network once per queue model, runs every flow of the document as a TCP
flow with each congestion control, and prints measured goodput against the max-min rate
of the bottleneck model (converted to goodput: × scale × 1448/1514), per flow, with the
median and maximum absolute error per run.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var n *network.Network
			var err error
			if gen != "" {
				if file != "" {
					return usageErrorf("-f and --generate are exclusive")
				}
				if n, err = network.Generate(gen, seed); err != nil {
					return usageErrorf("--generate: %v", err)
				}
			} else if n, err = readLabNetwork(file); err != nil {
				return err
			}
			params := queue.DefaultParams()
			if paramsFile != "" {
				if params, err = readQueueParams(paramsFile); err != nil {
					return err
				}
			}
			var qs []emulation.QueueModel
			for _, q := range strings.Split(queues, ",") {
				qm, err := emulation.ParseQueueModel(strings.TrimSpace(q))
				if err != nil {
					return usageErrorf("--queue: %v", err)
				}
				qs = append(qs, qm)
			}
			var cl []string
			for _, c := range strings.Split(ccs, ",") {
				c = strings.TrimSpace(c)
				if c != "cubic" && c != "bbr" && c != "reno" {
					return usageErrorf("--cc: %q is not cubic, bbr or reno", c)
				}
				cl = append(cl, c)
			}
			if warmup == 0 {
				warmup = dur / 4
			}
			if dur <= 0 || warmup >= dur {
				return usageErrorf("--duration %v must be > 0 and longer than --warmup %v", dur, warmup)
			}
			if lo.name == "" {
				lo.name = "fidelity"
			}
			base := emulation.Options{Lab: lo.name, Prefix: lo.prefix, Scale: scale, QueueLimit: limit, SenderHosts: hosts}
			if _, err := emulation.NewPlan(n, base, nil, 0); err != nil {
				return labErr(err)
			}
			runs, err := emulation.Fidelity(cmd.Context(), n, emulation.FidelityConfig{Base: base, Queues: qs, CCs: cl,
				Duration: dur, Warmup: warmup, ProbeCmd: lo.probeCmd(), DelayCmd: lo.delayCmd(), StateDir: lo.stateDir, Params: &params})
			if err != nil {
				return labErr(err)
			}
			rep := fidelityReport{Version: emulation.FidelityReportVersion, Network: file, Generate: gen, Scale: scale, QueueLimit: limit, SenderHosts: hosts, Params: params.Version, Runs: runs}
			if gen != "" {
				rep.Seed = seed
			}
			return render(o, cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "QUEUE\tCC\tFLOW\tMAX-MIN Mb/s\tERROR\tMODEL\tPREDICTED Mb/s\tMEASURED Mb/s\tERROR\tRTT ms (model/measured)\tLOSS % (model/measured)")
				for _, r := range runs {
					q := r.Queueing
					for i, row := range r.Comparison.Rows {
						qs := "-\t-\t-\t-\t-\t-"
						if q != nil && i < len(q.Rows) && q.Rows[i].Flow == row.Flow {
							qr := q.Rows[i]
							qs = fmt.Sprintf("%s\t%.3f\t%.3f\t%+.1f%%\t%.1f/%.1f\t%.2f/%.2f", q.Model, qr.PredictedBps/1e6, qr.MeasuredBps/1e6, qr.ErrorPct, qr.PredictedRTTMs, qr.MeasuredRTTMs, qr.PredictedLoss*100, qr.MeasuredLoss*100)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%+.1f%%\t%s\n", r.Queue, r.CC, row.Flow, row.PredictedBps/1e6, row.ErrorPct, qs)
					}
					fmt.Fprintf(tw, "%s\t%s\tmedian |error|\t\t%.1f%%", r.Queue, r.CC, r.Comparison.MedianAbsErrorPct)
					if q != nil {
						fmt.Fprintf(tw, "\t%s\t\t\t%.1f%%\t%.1f%% (RTT)\t", q.Model, q.MedianAbsErrorPct, q.MedianAbsRTTErrorPct)
					}
					fmt.Fprintln(tw)
				}
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "network document with flows (JSON, YAML)")
	cmd.Flags().StringVar(&gen, "generate", "", "generate the network instead (e.g. flow-tree:n=6,flows=6; see topology generate)")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed of --generate")
	cmd.Flags().StringVar(&paramsFile, "params", "", "queue model parameters (JSON, as lab calibrate writes); default: built-in")
	cmd.Flags().StringVar(&ccs, "cc", "cubic,bbr", "congestion controls, comma-separated")
	cmd.Flags().StringVar(&queues, "queue", "fq,fifo", "queue models, comma-separated")
	cmd.Flags().Float64Var(&scale, "scale", emulation.DefaultScale, "emulated rate = capacity × scale")
	cmd.Flags().DurationVar(&dur, "duration", 20*time.Second, "length of each run")
	cmd.Flags().DurationVar(&warmup, "warmup", 0, "unmeasured start of each run (default duration/4)")
	cmd.Flags().IntVar(&limit, "queue-limit", emulation.DefaultQueueLimit, "packets per pfifo queue (the FIFO buffer)")
	cmd.Flags().BoolVar(&hosts, "sender-hosts", false, "TCP probes send from a host namespace behind each node (the first queue is then a router's)")
	return cmd
}
