package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/repository"
)

// newLedgerCmd is `twinflow ledger`: inspect and verify the hash-chained ledger
// (REQ-DLT-03, REQ-DLT-04) directly in the data repository.
func newLedgerCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect and verify the tamper-evident ledger in the data repository",
	}
	var dsn string
	cmd.PersistentFlags().StringVar(&dsn, "db", repository.DefaultDSN, "data repository: postgres://... or file:PATH")

	var anchorFlag string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Re-compute the hash chain; exit 1 naming the first edited, deleted, inserted or reordered record",
		Long: `Re-compute the ledger's hash chain and compare it with the ledger head.

--anchor SEQ:SHA256HEX additionally checks that record SEQ has that hash: keep the
output of 'twinflow ledger head' somewhere the database's writers cannot reach, and a
rewrite of the whole chain after SEQ is detected too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var anchor *repository.LedgerAnchor
			if anchorFlag != "" {
				a, err := repository.ParseLedgerAnchor(anchorFlag)
				if err != nil {
					return usageErrorf("--anchor: %v", err)
				}
				anchor = &a
			}
			st, err := openLedgerDB(cmd, dsn)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Ledger().Verify(cmd.Context())
			if err != nil {
				return err
			}
			if res.OK && anchor != nil {
				if reason, err := repository.CheckLedgerAnchor(cmd.Context(), st.Ledger(), *anchor); err != nil {
					return err
				} else if reason != "" {
					seq := anchor.Seq
					res.OK, res.FirstBad, res.Reason = false, &seq, reason
				}
			}
			if err := render(o, cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
				status := "OK"
				if !res.OK {
					status = "TAMPERED"
				}
				fmt.Fprintf(tw, "STATUS\tRECORDS\tFIRST BAD\tREASON\n")
				bad := "-"
				if res.FirstBad != nil {
					bad = fmt.Sprint(*res.FirstBad)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", status, res.Records, bad, res.Reason)
			}); err != nil {
				return err
			}
			if !res.OK {
				bad := int64(0)
				if res.FirstBad != nil {
					bad = *res.FirstBad
				}
				return &exitError{code: 1, err: fmt.Errorf("ledger verification failed at record %d: %s", bad, res.Reason)}
			}
			return nil
		},
	}

	verify.Flags().StringVar(&anchorFlag, "anchor", "", "SEQ:SHA256HEX: also require record SEQ to have this hash (from 'ledger head')")

	head := &cobra.Command{
		Use:   "head",
		Short: "Print the newest record's anchor (SEQ:SHA256HEX) to keep outside the database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openLedgerDB(cmd, dsn)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Ledger().Verify(cmd.Context())
			if err != nil {
				return err
			}
			if !res.OK {
				return &exitError{code: 1, err: fmt.Errorf("ledger does not verify (record %d: %s); no anchor printed", deref64(res.FirstBad), res.Reason)}
			}
			out := struct {
				Seq    int64  `json:"seq"`
				Hash   string `json:"hash"`
				Anchor string `json:"anchor"`
			}{}
			if res.Records > 0 {
				recs, err := st.Ledger().List(cmd.Context(), int64(res.Records), 1)
				if err != nil {
					return err
				}
				if len(recs) != 1 {
					return fmt.Errorf("ledger: record %d vanished", res.Records)
				}
				out.Seq, out.Hash = recs[0].Seq, hex.EncodeToString(recs[0].Hash)
				out.Anchor = repository.LedgerAnchor{Seq: recs[0].Seq, Hash: recs[0].Hash}.String()
			}
			return render(o, cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				if out.Anchor == "" {
					fmt.Fprintln(tw, "(empty ledger)")
					return
				}
				fmt.Fprintln(tw, out.Anchor)
			})
		},
	}

	var from int64
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List ledger records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageErrorf("--limit must not be negative, got %d", limit)
			}
			st, err := openLedgerDB(cmd, dsn)
			if err != nil {
				return err
			}
			defer st.Close()
			recs, err := st.Ledger().List(cmd.Context(), from, limit)
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), recs, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "SEQ\tTIME\tKIND\tSUBJECT\tHASH\tPAYLOAD\n")
				for _, r := range recs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%x\t%s\n", r.Seq, r.Time.Format("2006-01-02T15:04:05.000000Z"),
						r.Kind, r.Subject, r.Hash[:min(8, len(r.Hash))], r.Payload)
				}
			})
		},
	}
	list.Flags().Int64Var(&from, "from", 1, "first sequence number")
	list.Flags().IntVar(&limit, "limit", 100, "maximum records (0: all)")

	cmd.AddCommand(verify, head, list)
	return cmd
}

// openLedgerDB opens the repository for ledger commands. A file: DSN must name an
// existing database (verifying must not silently create an empty one).
func openLedgerDB(cmd *cobra.Command, dsn string) (repository.Store, error) {
	p, err := repository.ParseDSN(dsn)
	if err != nil {
		return nil, usageErrorf("--db: %v", err)
	}
	if p.Backend == "sqlite" {
		if _, err := os.Stat(p.Path); errors.Is(err, os.ErrNotExist) {
			return nil, usageErrorf("--db: no database file %s", p.Path)
		}
	}
	return repository.Open(cmd.Context(), dsn, repository.Options{})
}

func deref64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
