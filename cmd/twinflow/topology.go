package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin/emulation/clab"
)

// topologyOptions are the flags of `twinflow topology` subcommands. Defaults live here.
type topologyOptions struct {
	// generate
	k                     int
	leaves, spines, hosts int
	n                     int
	flows                 int // flow-tree: number of flows
	alpha, beta           float64
	seed                  int64
	domain                string // alto3: one domain's part
	// shared
	format string // output format (generate: --format, export: --to)
	from   string // input format (import, export)
	file   string // generate: output file; import/export: input file ("-" = stdin)
	out    string // export: output file
	// containerlab output
	clab clab.Options
	// import
	print bool
}

func newTopologyCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Generate, import and convert network topology files (offline)",
		Long: `Work on network topology files without a server: generate fat-tree, leaf-spine,
ring, Waxman WAN and the ALTO three-domain example networks; import and validate
TwinFlow JSON/YAML, containerlab topology files and GML (Internet Topology Zoo);
convert between these formats. See docs/network-model.md.`,
	}
	cmd.AddCommand(newTopologyGenerateCmd(o), newTopologyImportCmd(o), newTopologyExportCmd(o))
	return cmd
}

func addClabFlags(cmd *cobra.Command, to *clab.Options) {
	cmd.Flags().StringVar(&to.Name, "lab-name", "", "containerlab output: lab name (default: the topology ID)")
	cmd.Flags().StringVar(&to.Kind, "clab-kind", clab.DefaultKind, "containerlab output: node kind")
	cmd.Flags().StringVar(&to.Image, "clab-image", clab.DefaultImage, "containerlab output: node image")
	cmd.Flags().StringVar(&to.MgmtNetwork, "clab-mgmt-network", "", "containerlab output: management network name (mgmt.network)")
}

func newTopologyGenerateCmd(_ *Options) *cobra.Command {
	t := &topologyOptions{}
	cmd := &cobra.Command{
		Use:   "generate <fat-tree|leaf-spine|ring|wan|alto3|flow-tree>",
		Short: "Generate a network and write it as JSON, YAML, containerlab or GML",
		Example: `  twinflow topology generate fat-tree --k 4
  twinflow topology generate leaf-spine --leaves 8 --spines 4 --hosts 16 --format yaml
  twinflow topology generate wan --n 50 --seed 7 --format gml -f wan.gml
  twinflow topology generate alto3 --format clab -f alto3.clab.yml
  twinflow topology generate alto3 --domain AS2 --format yaml
  twinflow topology generate flow-tree --n 6 --flows 6 --seed 102`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("topology generate: want exactly one kind (%s), got %d arguments", strings.Join(network.GeneratorKinds, ", "), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := t.generate(cmd, args[0])
			if err != nil {
				return err
			}
			format, err := network.ParseFormat(t.format)
			if err != nil {
				return usageErrorf("topology generate: --format: %v", err)
			}
			if err := t.write(cmd, n, format, t.file); err != nil {
				return err
			}
			if t.file != "" && t.file != "-" {
				// standard output may carry the document itself: the note goes to stderr
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %s, %d devices, %d links (%s)\n", t.file, args[0], len(n.Devices), len(n.Links), format)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&t.k, "k", 4, "fat-tree: number of ports per switch (even)")
	f.IntVar(&t.leaves, "leaves", 4, "leaf-spine: number of leaves")
	f.IntVar(&t.spines, "spines", 2, "leaf-spine: number of spines")
	f.IntVar(&t.hosts, "hosts", 2, "leaf-spine: hosts per leaf")
	f.IntVar(&t.n, "n", 0, "ring, wan, flow-tree: number of nodes (default 8 for ring, 50 for wan, 6 for flow-tree)")
	f.IntVar(&t.flows, "flows", 6, "flow-tree: number of flows between random routers")
	f.Float64Var(&t.alpha, "alpha", network.DefaultWaxmanAlpha, "wan: Waxman alpha (link probability decay with distance)")
	f.Float64Var(&t.beta, "beta", 0, "wan: Waxman beta (link density; default 0.1*min(1, 50/n))")
	f.Int64Var(&t.seed, "seed", 1, "wan, flow-tree: random seed")
	f.StringVar(&t.domain, "domain", "", "alto3: only this domain's part (its devices and the neighbouring borders), as its own controller holds it")
	f.StringVar(&t.format, "format", "json", "output format: json, yaml, clab or gml")
	f.StringVarP(&t.file, "file", "f", "", "output file (default: standard output)")
	addClabFlags(cmd, &t.clab)
	return cmd
}

// generate checks that only the flags of the chosen kind are set and runs its generator.
func (t *topologyOptions) generate(cmd *cobra.Command, kind string) (*network.Network, error) {
	own := map[string][]string{
		"fat-tree":   {"k"},
		"leaf-spine": {"leaves", "spines", "hosts"},
		"ring":       {"n"},
		"wan":        {"n", "alpha", "beta", "seed"},
		"alto3":      {"domain"},
		"flow-tree":  {"n", "flows", "seed"},
	}
	mine, ok := own[kind]
	if !ok {
		return nil, usageErrorf("topology generate: unknown kind %q (want one of %s)", kind, strings.Join(network.GeneratorKinds, ", "))
	}
	for _, name := range []string{"k", "leaves", "spines", "hosts", "n", "flows", "alpha", "beta", "seed", "domain"} {
		if cmd.Flags().Changed(name) && !slices.Contains(mine, name) {
			return nil, usageErrorf("topology generate: --%s does not apply to %s", name, kind)
		}
	}
	var n *network.Network
	var err error
	switch kind {
	case "fat-tree":
		n, err = network.FatTree(t.k)
	case "leaf-spine":
		n, err = network.LeafSpine(t.leaves, t.spines, t.hosts)
	case "ring":
		size := t.n
		if !cmd.Flags().Changed("n") {
			size = 8
		}
		n, err = network.Ring(size)
	case "wan":
		size := t.n
		if !cmd.Flags().Changed("n") {
			size = 50
		}
		beta := t.beta
		if !cmd.Flags().Changed("beta") {
			beta = network.DefaultWaxmanBetaFor(size)
		}
		n, err = network.WAN(size, t.seed, t.alpha, beta)
	case "flow-tree":
		size := t.n
		if !cmd.Flags().Changed("n") {
			size = 6
		}
		n, err = network.FlowTree(size, t.flows, t.seed)
	case "alto3":
		n, err = network.ALTOThreeDomain()
		if err == nil && t.domain != "" {
			n, err = network.DomainPart(n, t.domain)
		}
	}
	if errors.Is(err, network.ErrSpec) {
		return nil, usageErrorf("topology generate: %v", err)
	}
	return n, err
}

// write encodes n to file, or to the command's standard output when file is "" or "-".
func (t *topologyOptions) write(cmd *cobra.Command, n *network.Network, format network.Format, file string) error {
	var buf bytes.Buffer
	if err := clab.EncodeFormat(&buf, n, format, t.clab); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	if file == "" || file == "-" {
		_, err := cmd.OutOrStdout().Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	return nil
}

// read loads and decodes a network file ("-" = the command's standard input) in the
// format named by from ("auto" detects it from the name and content).
func readNetwork(cmd *cobra.Command, file, from string) (*network.Network, network.Format, error) {
	if file == "" {
		return nil, "", usageErrorf("-f/--file is required (use - for standard input)")
	}
	var format network.Format
	if from != "auto" {
		f, err := network.ParseFormat(from)
		if err != nil {
			return nil, "", usageErrorf("--from: %v", err)
		}
		format = f
	}
	var r io.Reader
	if file == "-" {
		r = cmd.InOrStdin()
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, "", err
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, network.MaxDocumentBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", file, err)
	}
	if format == "" {
		format = network.DetectFormat(file, b)
	}
	n, err := clab.DecodeFormat(bytes.NewReader(b), format)
	if err != nil {
		return nil, format, fmt.Errorf("%s (%s): %w", file, format, multiline(err))
	}
	return n, format, nil
}

// multiline puts each field error of a validation error on its own line.
func multiline(err error) error {
	var ve *network.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) < 2 {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(ve.Errors))
	for _, fe := range ve.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return &wrapped{msg: b.String(), err: err}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// topologySummary is what `topology import` prints.
type topologySummary struct {
	File              string         `json:"file"`
	Format            network.Format `json:"format"`
	Contexts          int            `json:"contexts"`
	Topologies        int            `json:"topologies"`
	Devices           int            `json:"devices"`
	DeviceTypes       map[string]int `json:"device_types"`
	Domains           []string       `json:"domains,omitempty"`
	Links             int            `json:"links"`
	TotalCapacityGbps float64        `json:"total_capacity_gbps"`
	Flows             int            `json:"flows"`
	Valid             bool           `json:"valid"`
}

func summarize(file string, format network.Format, n *network.Network) topologySummary {
	s := topologySummary{
		File: file, Format: format, Contexts: len(n.Contexts), Topologies: len(n.Topologies),
		Devices: len(n.Devices), DeviceTypes: map[string]int{}, Links: len(n.Links), Flows: len(n.Flows),
		Valid: true,
	}
	for _, d := range n.Devices {
		s.DeviceTypes[string(d.Type)]++
		if d.Domain != "" && !slices.Contains(s.Domains, d.Domain) {
			s.Domains = append(s.Domains, d.Domain)
		}
	}
	slices.Sort(s.Domains)
	for _, l := range n.Links {
		s.TotalCapacityGbps += l.CapacityGbps
	}
	return s
}

func newTopologyImportCmd(o *Options) *cobra.Command {
	t := &topologyOptions{}
	cmd := &cobra.Command{
		Use:   "import -f FILE",
		Short: "Parse and validate a network file; print a summary or the normalised network",
		Long: `Parse a network file (TwinFlow JSON or YAML, containerlab topology, GML), validate it
and print a summary (-o table|json|yaml). With --print, print the normalised network
instead, as TwinFlow JSON (or YAML with -o yaml). Exit status 1 if the file is
malformed or invalid; every problem is listed with the offending field.`,
		Example: `  twinflow topology import -f lab.clab.yml
  twinflow topology import -f Abilene.gml -o json
  cat net.yaml | twinflow topology import -f - --from yaml --print -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, format, err := readNetwork(cmd, t.file, t.from)
			if err != nil {
				return fmt.Errorf("topology import: %w", err)
			}
			if t.print {
				out := network.FormatJSON
				if o.Output == "yaml" {
					out = network.FormatYAML
				}
				return t.write(cmd, n, out, "")
			}
			s := summarize(t.file, format, n)
			return render(o, cmd.OutOrStdout(), s, func(tw *tabwriter.Writer) {
				types := make([]string, 0, len(s.DeviceTypes))
				for k, v := range s.DeviceTypes {
					types = append(types, fmt.Sprintf("%s=%d", k, v))
				}
				slices.Sort(types)
				fmt.Fprintf(tw, "FILE\t%s\n", s.File)
				fmt.Fprintf(tw, "FORMAT\t%s\n", s.Format)
				fmt.Fprintf(tw, "VALID\t%v\n", s.Valid)
				fmt.Fprintf(tw, "CONTEXTS\t%d\n", s.Contexts)
				fmt.Fprintf(tw, "TOPOLOGIES\t%d\n", s.Topologies)
				fmt.Fprintf(tw, "DEVICES\t%d (%s)\n", s.Devices, strings.Join(types, ", "))
				if len(s.Domains) > 0 {
					fmt.Fprintf(tw, "DOMAINS\t%s\n", strings.Join(s.Domains, ", "))
				}
				fmt.Fprintf(tw, "LINKS\t%d (%g Gb/s in total)\n", s.Links, s.TotalCapacityGbps)
				fmt.Fprintf(tw, "FLOWS\t%d\n", s.Flows)
			})
		},
	}
	cmd.Flags().StringVarP(&t.file, "file", "f", "", "input file (- for standard input)")
	cmd.Flags().StringVar(&t.from, "from", "auto", "input format: auto, json, yaml, clab or gml")
	cmd.Flags().BoolVar(&t.print, "print", false, "print the normalised network instead of a summary")
	return cmd
}

func newTopologyExportCmd(_ *Options) *cobra.Command {
	t := &topologyOptions{}
	cmd := &cobra.Command{
		Use:   "export -f FILE --to FORMAT",
		Short: "Convert a network file to containerlab, GML, JSON or YAML",
		Long: `Read a network file (any format import reads), validate it and write it in another
format. What each format carries is listed in docs/network-model.md.`,
		Example: `  twinflow topology export -f net.json --to clab --clab-image twinflow-node:dev > lab.clab.yml
  twinflow topology export -f Abilene.gml --to yaml --out abilene.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if t.format == "" {
				return usageErrorf("topology export: --to is required (clab, gml, json or yaml)")
			}
			format, err := network.ParseFormat(t.format)
			if err != nil {
				return usageErrorf("topology export: --to: %v", err)
			}
			n, _, err := readNetwork(cmd, t.file, t.from)
			if err != nil {
				return fmt.Errorf("topology export: %w", err)
			}
			return t.write(cmd, n, format, t.out)
		},
	}
	cmd.Flags().StringVarP(&t.file, "file", "f", "", "input file (- for standard input)")
	cmd.Flags().StringVar(&t.from, "from", "auto", "input format: auto, json, yaml, clab or gml")
	cmd.Flags().StringVar(&t.format, "to", "", "output format: clab, gml, json or yaml")
	cmd.Flags().StringVar(&t.out, "out", "", "output file (default: standard output)")
	addClabFlags(cmd, &t.clab)
	return cmd
}
