package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/models/bottleneck"
)

// analyzeOptions are the flags shared by the analyze subcommands.
type analyzeOptions struct {
	file    string
	routing string
}

func newAnalyzeCmd(o *Options) *cobra.Command {
	ao := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Analyse a network file with the twin's models (no server needed)",
		Long: `Analyse a network file offline. The file (JSON or YAML) is either the bottleneck
engine's input {"links":[{"id":"l1","capacity":25}],"flows":[{"id":"f1","path":["l1"],"demand":null}]}
or a TwinFlow network document (devices, links, flows with src/dst); flows of a network
document without a path are routed with --routing.`,
	}
	cmd.PersistentFlags().StringVarP(&ao.file, "file", "f", "", "input file (JSON or YAML; - for stdin)")
	cmd.PersistentFlags().StringVar(&ao.routing, "routing", "shortest", "routing of flows without a path in a network document: shortest or ecmp")
	cmd.AddCommand(newAnalyzeBottleneckCmd(o, ao), newAnalyzeGradientCmd(o, ao), newAnalyzeQueueCmd(o, ao))
	return cmd
}

// readDocument reads and parses the input file (-f, or stdin for "-"): the engine's own
// input or a network document. Problems are usage errors (exit 2).
func (ao *analyzeOptions) readDocument(cmd *cobra.Command) (*bottleneck.Document, error) {
	if ao.file == "" {
		return nil, usageErrorf("-f/--file is required")
	}
	var data []byte
	var err error
	if ao.file == "-" {
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), bottleneck.MaxInputBytes+1))
	} else {
		data, err = os.ReadFile(ao.file)
	}
	if err != nil {
		return nil, usageErrorf("read %s: %v", ao.file, err)
	}
	doc, err := bottleneck.Parse(data)
	if err != nil {
		return nil, usageErrorf("%s: %v", ao.file, err)
	}
	return doc, nil
}

// loadState reads the input file and builds the bottleneck structure. Input problems
// are usage errors (exit 2) naming the offending element.
func (ao *analyzeOptions) loadState(cmd *cobra.Command) (*bottleneck.State, error) {
	doc, err := ao.readDocument(cmd)
	if err != nil {
		return nil, err
	}
	in := doc.Bottleneck
	if doc.Network != nil {
		if err := doc.Network.Validate(); err != nil {
			return nil, usageErrorf("%s: %v", ao.file, err)
		}
		r, err := bottleneck.NewRouter(doc.Network, bottleneck.Routing(ao.routing))
		if err != nil {
			return nil, usageErrorf("--routing: %v", err)
		}
		if in, err = bottleneck.FromNetwork(doc.Network, r.Route); err != nil {
			return nil, usageErrorf("%s: %v", ao.file, err)
		}
	}
	s, err := bottleneck.New(in)
	if err != nil {
		return nil, usageErrorf("%s: %v", ao.file, err)
	}
	return s, nil
}

func newAnalyzeBottleneckCmd(o *Options, ao *analyzeOptions) *cobra.Command {
	var graph string
	var dot, svg bool
	cmd := &cobra.Command{
		Use:   "bottleneck",
		Short: "Max-min rates, levels, bottleneck sets and the gradient graph (FGG/PGG)",
		Example: `  twinflow analyze bottleneck -f net.json
  twinflow analyze bottleneck -f net.json -o json --graph pgg
  twinflow analyze bottleneck -f net.json --svg > fgg.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind := bottleneck.GraphKind(graph)
			switch kind {
			case bottleneck.GraphFGG, bottleneck.GraphPGG, bottleneck.GraphQPGG:
			default:
				return usageErrorf("--graph must be fgg, pgg or qpgg; got %q", graph)
			}
			if dot && svg {
				return usageErrorf("--dot and --svg are exclusive")
			}
			s, err := ao.loadState(cmd)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case dot:
				return s.Graph(kind).WriteDOT(w)
			case svg:
				return s.Graph(kind).WriteSVG(w)
			}
			switch o.Output {
			case "json":
				// streamed (schema twinflow.bottleneck/v2); one element per line on a
				// terminal, compact otherwise
				return s.WriteJSON(w, kind, isTerminal(w))
			case "yaml":
				var b bytes.Buffer
				if err := s.WriteJSON(&b, kind, false); err != nil {
					return err
				}
				return render(o, w, json.RawMessage(b.Bytes()), nil)
			}
			return s.WriteTable(w, kind)
		},
	}
	cmd.Flags().StringVar(&graph, "graph", "fgg", "graph: fgg (one vertex per flow), pgg (flows with the same path merged) or qpgg (per path and class)")
	cmd.Flags().BoolVar(&dot, "dot", false, "write the graph in Graphviz DOT instead")
	cmd.Flags().BoolVar(&svg, "svg", false, "write the graph as an SVG drawing (layered by level) instead")
	return cmd
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }

// isTerminal says whether w is a terminal (a character device): JSON for a person is
// indented, JSON for a pipe or a file is compact.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newAnalyzeGradientCmd(o *Options, ao *analyzeOptions) *cobra.Command {
	var link, flow string
	cmd := &cobra.Command{
		Use:   "gradient",
		Short: "One-sided derivatives of every flow's rate for a link's capacity or a flow's rate",
		Long: `For --link: right = per unit of capacity added, left = slope as capacity is removed.
For --flow: right = change per unit the flow is let up, left = change per unit it is
shaped down (the papers' flow gradient). Only flows in the region of influence are listed.`,
		Example: `  twinflow analyze gradient -f net.json --link l1
  twinflow analyze gradient -f net.json --flow f6 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (link == "") == (flow == "") {
				return usageErrorf("exactly one of --link or --flow is required")
			}
			s, err := ao.loadState(cmd)
			if err != nil {
				return err
			}
			var g *bottleneck.Gradient
			if link != "" {
				g, err = s.LinkGradient(link)
			} else {
				g, err = s.FlowGradient(flow)
			}
			if errors.Is(err, bottleneck.ErrNotFound) {
				return usageErrorf("%v", err)
			}
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), g, func(tw *tabwriter.Writer) { gradientTable(tw, g) })
		},
	}
	cmd.Flags().StringVar(&link, "link", "", "link whose capacity is perturbed")
	cmd.Flags().StringVar(&flow, "flow", "", "flow whose rate is perturbed")
	return cmd
}

func side(s bottleneck.Side, id string) string {
	if s.Infeasible {
		return "infeasible"
	}
	return num(s.Flows[id])
}

func gradientTable(tw *tabwriter.Writer, g *bottleneck.Gradient) {
	fmt.Fprintf(tw, "%s %s\tregion of influence: %d links\n\n", g.Kind, g.Of, len(g.Region))
	fmt.Fprintln(tw, "FLOW\tRIGHT\tLEFT")
	ids := make([]string, 0, len(g.Right.Flows)+len(g.Left.Flows))
	seen := map[string]bool{}
	for _, m := range []map[string]float64{g.Right.Flows, g.Left.Flows} {
		for id := range m {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", id, side(g.Right, id), side(g.Left, id))
	}
	r, l := num(g.Right.Total), num(g.Left.Total)
	if g.Right.Infeasible {
		r = "infeasible"
	}
	if g.Left.Infeasible {
		l = "infeasible"
	}
	fmt.Fprintf(tw, "TOTAL\t%s\t%s\n", r, l)
}
