package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	appsnapshot "github.com/twinflow/twinflow/apps/snapshot"
	"github.com/twinflow/twinflow/apps/whatif"
	"github.com/twinflow/twinflow/models/network"
)

func newWhatifCmd(o *Options) *cobra.Command {
	var file, netFile, snapshot, db, twinID, svg string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "whatif -f scenario.yaml [--network FILE | --snapshot NAME --db DSN | --server URL [--twin live]]",
		Short: "Run a what-if scenario (failures, capacity, traffic; N-1, N-2, capacity plan) on a network",
		Long: `Apply the scenario's cases and sweeps to a base network with the bottleneck engine's
incremental updates (each case applied, measured and reverted; no full recomputation
per case) and report per case the total throughput delta, the flows that lose most,
per-SLO rates and violations, the links ranked by N-1 criticality, the capacity plan
and a short list of recommendations. Nothing is changed anywhere.

The base is a network file (--network: JSON, YAML, GML or containerlab), a named
snapshot of a repository (--snapshot NAME --db DSN), or a twin of a server fetched over
the API (--server URL, --twin, default live). Progress goes to standard error for
sweeps of more than 20 cases (--quiet turns it off). --svg writes a heat-map of N-1
impact and a bar chart of the capacity plan's gradients. See docs/whatif.md.`,
		Example: `  twinflow whatif -f n-minus-1.yaml --network backbone.yaml
  twinflow whatif -f plan.yaml --snapshot before-upgrade --db file:twinflow.db -o json
  twinflow whatif -f n-minus-1.yaml --server http://twinflow:8080 --svg n1.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("-f/--file is required")
			}
			if netFile != "" && snapshot != "" {
				return usageErrorf("give at most one of --network and --snapshot")
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return usageErrorf("%v", err)
			}
			sc, err := whatif.ParseScenario(data)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			var n *network.Network
			var source string
			switch {
			case netFile != "":
				b, err := os.ReadFile(netFile)
				if err != nil {
					return usageErrorf("--network: %v", err)
				}
				if n, err = network.Decode(bytes.NewReader(b), network.DetectFormat(netFile, b)); err != nil {
					return usageErrorf("--network %s: %v", netFile, err)
				}
				source = "file:" + netFile
			case snapshot != "":
				if db == "" {
					return usageErrorf("--snapshot needs --db")
				}
				if err := appsnapshot.CheckName(snapshot); err != nil {
					return usageErrorf("--snapshot: %v", err)
				}
				st, err := openDB(cmd, db)
				if err != nil {
					return err
				}
				defer st.Close()
				s, err := appsnapshot.Get(cmd.Context(), st, snapshot)
				if err != nil {
					return usageErrorf("--snapshot %s: %v", snapshot, err)
				}
				n, source = s.Network, "snapshot:"+snapshot
			default:
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				n = &network.Network{}
				if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/twins/"+esc(twinID)+"/network", nil, nil, n); err != nil {
					return err
				}
				source = "server:" + o.Server + " twin " + twinID
			}
			r, err := whatif.NewRunner(sc, n)
			if err != nil {
				return usageErrorf("%v", err)
			}
			opts := whatif.Options{Source: source}
			if !quiet {
				start := time.Now()
				last := time.Time{}
				opts.Progress = func(done, total int) {
					if total <= 20 || (time.Since(last) < 500*time.Millisecond && done < total) {
						return
					}
					last = time.Now()
					el := time.Since(start)
					eta := time.Duration(float64(el) / float64(done) * float64(total-done))
					fmt.Fprintf(cmd.ErrOrStderr(), "whatif: %d/%d cases, %s elapsed, ETA %s\n", done, total, el.Round(time.Millisecond), eta.Round(time.Second))
				}
			}
			rep, err := r.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if svg != "" {
				var b bytes.Buffer
				if err := whatif.WriteSVG(&b, rep); err != nil {
					return err
				}
				if err := os.WriteFile(svg, b.Bytes(), 0o644); err != nil {
					return err
				}
			}
			return render(o, cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) { whatifTable(tw, rep) })
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "scenario file (YAML or JSON; - for standard input)")
	cmd.Flags().StringVar(&netFile, "network", "", "base network file")
	cmd.Flags().StringVar(&snapshot, "snapshot", "", "base: a named snapshot in --db")
	cmd.Flags().StringVar(&db, "db", "", "repository holding --snapshot (postgres://... or file:PATH)")
	cmd.Flags().StringVar(&twinID, "twin", "live", "base: this twin of --server")
	cmd.Flags().StringVar(&svg, "svg", "", "write the N-1 heat-map and gradient bar chart here")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress on standard error")
	return cmd
}

func whatifTable(tw *tabwriter.Writer, rep *whatif.Report) {
	fmt.Fprintf(tw, "base: %s  links: %d  flows: %d  total throughput: %.6g Gb/s  SLO violations: %d\n\n",
		rep.Base.Source, rep.Base.Links, rep.Base.Flows, rep.Base.TotalGbps, rep.Base.Violations)
	if rep.N2 != nil {
		fmt.Fprintf(tw, "N-2: %d of %d pairs (sampled: %v, seed %d)\n\n", rep.N2.Cases, rep.N2.Pairs, rep.N2.Sampled, rep.N2.Seed)
	}
	fmt.Fprintln(tw, "CASE\tKIND\tTOTAL\tDELTA\tFLOWS-LOST\tREROUTED\tDROPPED\tVIOLATIONS\tWORST FLOW\tERROR")
	for _, c := range rep.Cases {
		worst := ""
		if len(c.Flows) > 0 && c.Flows[0].NewGbps < c.Flows[0].OldGbps {
			worst = fmt.Sprintf("%s %.4g->%.4g", c.Flows[0].Flow, c.Flows[0].OldGbps, c.Flows[0].NewGbps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.6g\t%+.4g\t%d\t%d\t%d\t%d\t%s\t%s\n", c.Name, c.Kind, c.TotalGbps, c.DeltaGbps, c.FlowsLost, c.Rerouted, c.Dropped, c.Violations, worst, c.Error)
	}
	if len(rep.Criticality) > 0 {
		fmt.Fprintln(tw, "\nCRITICAL LINK\tLOSS\tVIOLATIONS\tDROPPED")
		for i, l := range rep.Criticality {
			if i == 10 {
				fmt.Fprintf(tw, "… %d more (-o json)\n", len(rep.Criticality)-10)
				break
			}
			fmt.Fprintf(tw, "%s\t%.6g\t%d\t%d\n", l.Link, l.LossGbps, l.Violations, l.Dropped)
		}
	}
	if len(rep.Plan) > 0 {
		fmt.Fprintln(tw, "\nUPGRADE\tGRADIENT\tSTEP\tGAIN")
		for _, u := range rep.Plan {
			fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%.6g\n", u.Link, u.Gradient, u.StepGbps, u.GainGbps)
		}
	}
	fmt.Fprintln(tw, "\nRECOMMENDATIONS")
	for _, s := range rep.Recommendations {
		fmt.Fprintln(tw, "- "+strings.ReplaceAll(s, "\t", " "))
	}
}
