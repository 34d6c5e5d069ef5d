package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/certify"
	"github.com/twinflow/twinflow/apps/nbi"
	appsnapshot "github.com/twinflow/twinflow/apps/snapshot"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

func newCertifyCmd(o *Options) *cobra.Command {
	var file, snapshot, level, junit, report, db string
	cmd := &cobra.Command{
		Use:   "certify -f change.yaml [--snapshot FILE | --server URL] [--level L1|L2] --junit out.xml --report out.md",
		Short: "Certify a change for CI: validate without committing, write JUnit and a Markdown report",
		Long: `Run the change pipeline's validation on a change without committing it, and exit 0
only if every check passes (1 if a check fails, 2 on bad input).

With --snapshot FILE the validation runs in-process on the network in FILE (JSON, YAML,
GML or containerlab), with the same twin/pipeline code a server runs; no server is
needed. Otherwise the change is proposed to --server through the change API (the server
validates it in a fork of its live twin and keeps it as validated or rejected; nothing
is committed without an approval).

--junit writes the checks as JUnit XML (one testcase per check) for CI systems;
--report writes a Markdown report. With --db the certification (the report's SHA-256
bound to the change's content hash) is stored in the repository's certifications and
appended to its ledger.`,
		Example: `  twinflow certify -f change.yaml --snapshot network.yaml --junit certify.xml --report certify.md
  twinflow certify -f change.yaml --server http://twinflow:8080 --level L2 --junit certify.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageErrorf("-f/--file is required")
			}
			data, err := readInput(cmd, file)
			if err != nil {
				return usageErrorf("%v", err)
			}
			cs, err := change.Decode(data)
			if err != nil {
				return usageErrorf("%s: %v", file, err)
			}
			switch level {
			case "":
			case string(change.L1), string(change.L2):
				cs.Level = change.Level(level)
			default:
				return usageErrorf("--level must be L1 or L2, got %q", level)
			}
			var res *certify.Result
			var serverMD []byte
			var serverHash string
			if name, ok := strings.CutPrefix(snapshot, "db:"); ok {
				// a named snapshot of the repository (twinflow snapshot create)
				if db == "" {
					return usageErrorf("--snapshot db:NAME needs --db")
				}
				st, err := openDB(cmd, db)
				if err != nil {
					return err
				}
				s, err := appsnapshot.Get(cmd.Context(), st, name)
				st.Close()
				if err != nil {
					return usageErrorf("--snapshot %s: %v", snapshot, err)
				}
				if res, err = certify.Snapshot(cmd.Context(), s.Network, cs, "snapshot:"+snapshot); err != nil {
					return err
				}
			} else if snapshot != "" {
				b, err := os.ReadFile(snapshot)
				if err != nil {
					return usageErrorf("--snapshot: %v", err)
				}
				n, err := network.Decode(bytes.NewReader(b), network.DetectFormat(snapshot, b))
				if err != nil {
					return usageErrorf("--snapshot %s: %v", snapshot, err)
				}
				if res, err = certify.Snapshot(cmd.Context(), n, cs, "snapshot:"+snapshot); err != nil {
					return err
				}
			} else {
				c, err := newAPIClient(o)
				if err != nil {
					return err
				}
				start := time.Now()
				var ch pipeline.Change
				// proposed as the CLI's identity (--as, --token-file, TWINFLOW_TOKEN)
				if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/changes", cs, nil, &ch); err != nil {
					return err
				}
				if res, err = certify.FromReport(cs, ch.Report, "server:"+o.Server, start, time.Since(start)); err != nil {
					return err
				}
				// the server records the certification from its own report (the push
				// policy's gate looks it up); the Markdown it answers is the report
				// whose hash the ledger holds
				var cr nbi.CertificationResult
				if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/changes/"+esc(ch.ID)+"/certification", nil, nil, &cr); err != nil {
					return fmt.Errorf("record the certification on the server: %w", err)
				}
				serverMD, serverHash = []byte(cr.Markdown), cr.ReportSHA256
				fmt.Fprintf(cmd.OutOrStdout(), "certification %s recorded by the server\n", cr.Certification.ID)
			}
			md, mdHash := certify.Markdown(res)
			if serverMD != nil {
				md, mdHash = serverMD, serverHash
			}
			if junit != "" {
				var b bytes.Buffer
				if err := certify.WriteJUnit(&b, res); err != nil {
					return err
				}
				if err := os.WriteFile(junit, b.Bytes(), 0o644); err != nil {
					return err
				}
			}
			if report != "" {
				if err := os.WriteFile(report, md, 0o644); err != nil {
					return err
				}
			}
			if db != "" {
				st, err := openDB(cmd, db)
				if err != nil {
					return err
				}
				defer st.Close()
				cert, err := certify.Record(cmd.Context(), st, res, mdHash)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "certification %s recorded\n", cert.ID)
			}
			failed := res.Report.Failed()
			verdict := "PASSED"
			if !res.Passed {
				verdict = "FAILED"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: change %s (content %s) at %s: %d checks, %d failed\n",
				verdict, res.ChangeID, res.ContentHash[:12], res.Level, len(res.Report.Checks), len(failed))
			for _, f := range failed {
				fmt.Fprintf(cmd.OutOrStdout(), "  FAIL %s: %s\n", f.Name, f.Message)
			}
			if !res.Passed {
				return &exitError{code: 1, err: fmt.Errorf("certification failed: %d of %d checks failed", len(failed), len(res.Report.Checks))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "ChangeSet file (YAML or JSON, - for stdin)")
	cmd.Flags().StringVar(&snapshot, "snapshot", "", "validate in-process on this network file (or db:NAME, a snapshot in --db) instead of a server")
	cmd.Flags().StringVar(&level, "level", "", "validation level L1 or L2 (default: the change's level)")
	cmd.Flags().StringVar(&junit, "junit", "", "write JUnit XML here")
	cmd.Flags().StringVar(&report, "report", "", "write the Markdown report here")
	cmd.Flags().StringVar(&db, "db", "", "record the certification in this repository (postgres://... or file:PATH)")
	return cmd
}

// openDB opens the repository named by a --db flag.
func openDB(cmd *cobra.Command, dsn string) (repository.Store, error) {
	if _, err := repository.ParseDSN(dsn); err != nil {
		return nil, usageErrorf("--db: %v", err)
	}
	return repository.Open(cmd.Context(), dsn, repository.Options{})
}
