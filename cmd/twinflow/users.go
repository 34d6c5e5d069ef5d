package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/repository"
)

// withAuth opens the repository at dsn and runs fn with an Authenticator over it.
func withAuth(ctx context.Context, dsn string, fn func(a *auth.Authenticator) error) error {
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(auth.New(st.Users(), st.Tokens(), auth.Options{}))
}

// createdToken is what `user create` and `token create` print: the secret, once.
type createdToken struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Expires time.Time `json:"expires,omitzero"`
}

func printToken(o *Options, cmd *cobra.Command, t createdToken) error {
	if o.Output != "table" {
		return render(o, cmd.OutOrStdout(), t, nil)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, t.Token)
	exp := "never expires"
	if !t.Expires.IsZero() {
		exp = "expires " + t.Expires.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "token %s of %s (%s): shown once, only its hash is stored; keep it in a 0600 file for --token-file\n", t.ID, t.User, exp)
	return nil
}

// newUserCmd is `twinflow user`: manage users directly in the repository (the same
// --db as serve), so the first admin exists before serve starts.
func newUserCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Create, list, update and delete users in the data repository (REQ-SEC-01/02)"}
	var dsn string
	cmd.PersistentFlags().StringVar(&dsn, "db", repository.DefaultDSN, "data repository: postgres://... or file:PATH (the same as serve's)")
	var roles string
	var ttl time.Duration
	var pwFile string
	create := &cobra.Command{
		Use:   "create NAME --role ROLE[,ROLE...]",
		Short: "Create a user and print their first API token (once)",
		Long: `Create a user with one or more roles (viewer, orchestrator, engineer, approver,
operator, admin; device: may only register devices for zero-touch provisioning,
docs/ztp.md) and print their first API token: it is shown once and stored only as a hash. The name
is case-insensitive. --password-file sets a password too (HTTP Basic clients).`,
		Example: `  twinflow user create admin --role admin --db file:twinflow.db
  twinflow user create alice --role engineer,operator -o json   # {"token": ...}
  twinflow user create provisioner --role device                # its token registers devices (ZTP)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := auth.ParseRoles(roles)
			if err != nil {
				return usageErrorf("--role: %v", err)
			}
			if _, err := auth.NormalizeName(args[0]); err != nil {
				return usageErrorf("user name %q: %v", args[0], err)
			}
			pw := ""
			if pwFile != "" {
				if pw, err = readPassword(pwFile); err != nil {
					return err
				}
			}
			return withAuth(cmd.Context(), dsn, func(a *auth.Authenticator) error {
				u, err := a.CreateUser(cmd.Context(), args[0], rs, pw)
				if err != nil {
					return err
				}
				secret, t, err := a.CreateToken(cmd.Context(), u.Name, "first", ttl)
				if err != nil {
					return err
				}
				return printToken(o, cmd, createdToken{Token: secret, ID: t.ID, User: u.Name, Expires: t.Expires})
			})
		},
	}
	create.Flags().StringVar(&roles, "role", "", "roles, comma-separated: viewer, orchestrator, engineer, approver, operator, admin, device")
	create.Flags().DurationVar(&ttl, "token-ttl", 0, "lifetime of the first token (0: never expires)")
	create.Flags().StringVar(&pwFile, "password-file", "", "file holding the user's password (- reads a line from the terminal); never a flag value")
	list := &cobra.Command{
		Use: "list", Short: "List users and their roles", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := repository.Open(cmd.Context(), dsn, repository.Options{})
			if err != nil {
				return err
			}
			defer st.Close()
			us, err := st.Users().List(cmd.Context())
			if err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), us, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tROLES\tPASSWORD\tCREATED")
				for _, u := range us {
					pw := "no"
					if len(u.PasswordHash) > 0 {
						pw = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, pw, u.Created.UTC().Format(time.RFC3339))
				}
			})
		},
	}
	var noPassword bool
	update := &cobra.Command{
		Use:   "update NAME [--role ROLE[,ROLE...]] [--password-file F | --no-password]",
		Short: "Change a user's roles or password",
		Long: `Replace a user's roles (--role: the whole new list) and/or set (--password-file) or
remove (--no-password) their password. Their tokens stay valid and carry the new roles:
a running server on the same database applies the change within 2 s. Removing admin
from the last admin is refused.`,
		Example: `  twinflow user update alice --role engineer,approver --db file:twinflow.db
  twinflow user update ci --password-file pw.txt
  twinflow user update ci --no-password`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			setRoles := cmd.Flags().Changed("role")
			if !setRoles && pwFile == "" && !noPassword {
				return usageErrorf("nothing to change: give --role, --password-file or --no-password")
			}
			if pwFile != "" && noPassword {
				return usageErrorf("--password-file and --no-password contradict each other")
			}
			var rs []auth.Role
			if setRoles {
				var err error
				if rs, err = auth.ParseRoles(roles); err != nil {
					return usageErrorf("--role: %v", err)
				}
			}
			if _, err := auth.NormalizeName(args[0]); err != nil {
				return usageErrorf("user name %q: %v", args[0], err)
			}
			pw := ""
			if pwFile != "" {
				var err error
				if pw, err = readPassword(pwFile); err != nil {
					return err
				}
				if pw == "" {
					return usageErrorf("--password-file %s: the password is empty (use --no-password to remove it)", pwFile)
				}
				if _, err := auth.HashPassword(pw); err != nil { // checked before anything is written
					return usageErrorf("--password-file %s: %v", pwFile, err)
				}
			}
			return withAuth(cmd.Context(), dsn, func(a *auth.Authenticator) error {
				var u repository.User // each call below looks the user up (not found: nothing changed)
				var err error
				if setRoles {
					if u, err = a.SetRoles(cmd.Context(), args[0], rs); err != nil {
						return err
					}
				}
				if pwFile != "" || noPassword {
					if u, err = a.SetPassword(cmd.Context(), args[0], pw); err != nil {
						return err
					}
				}
				return printUser(o, cmd, u, "updated")
			})
		},
	}
	update.Flags().StringVar(&roles, "role", "", "the user's new roles, comma-separated (replaces the old list)")
	update.Flags().StringVar(&pwFile, "password-file", "", "file holding the new password (- reads a line from the terminal)")
	update.Flags().BoolVar(&noPassword, "no-password", false, "remove the user's password (tokens only from then on)")
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user and all their tokens",
		Long: `Delete a user and revoke all their tokens (a running server on the same database
stops accepting them within 2 s). Changes, approvals, the ledger and the audit keep
the user's name: they are history. Deleting the last admin is refused.`,
		Example: `  twinflow user delete bob --db file:twinflow.db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := auth.NormalizeName(args[0]); err != nil {
				return usageErrorf("user name %q: %v", args[0], err)
			}
			return withAuth(cmd.Context(), dsn, func(a *auth.Authenticator) error {
				u, err := a.DeleteUser(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printUser(o, cmd, u, "deleted")
			})
		},
	}
	cmd.AddCommand(create, list, update, del)
	return usageFlags(cmd)
}

// printUser prints a user after update or delete: one line, or the record with -o json.
func printUser(o *Options, cmd *cobra.Command, u repository.User, what string) error {
	if o.Output != "table" {
		return render(o, cmd.OutOrStdout(), u, nil)
	}
	pw := "no password"
	if len(u.PasswordHash) > 0 {
		pw = "password set"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "user %s %s (roles %s, %s)\n", u.Name, what, u.Role, pw)
	return nil
}

// readPassword reads a password from a file, or from the terminal for "-".
func readPassword(path string) (string, error) {
	if path == "-" {
		fmt.Fprint(os.Stderr, "password: ")
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		return string(b), err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// newTokenCmd is `twinflow token`: create, list and revoke API tokens in the repository.
func newTokenCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens in the data repository"}
	var dsn string
	cmd.PersistentFlags().StringVar(&dsn, "db", repository.DefaultDSN, "data repository: postgres://... or file:PATH (the same as serve's)")
	var ttl time.Duration
	var label string
	create := &cobra.Command{
		Use: "create USER", Short: "Create a token for a user and print it (once)", Args: cobra.ExactArgs(1),
		Example: `  twinflow token create alice --ttl 720h --name laptop`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl < 0 {
				return usageErrorf("--ttl must not be negative")
			}
			return withAuth(cmd.Context(), dsn, func(a *auth.Authenticator) error {
				secret, t, err := a.CreateToken(cmd.Context(), args[0], label, ttl)
				if err != nil {
					return err
				}
				name, _ := auth.NormalizeName(args[0])
				return printToken(o, cmd, createdToken{Token: secret, ID: t.ID, User: name, Expires: t.Expires})
			})
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (0: never expires)")
	create.Flags().StringVar(&label, "name", "", "a label for the token")
	list := &cobra.Command{
		Use: "list USER", Short: "List a user's tokens (never their secrets)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAuth(cmd.Context(), dsn, func(a *auth.Authenticator) error {
				ts, err := a.Tokens(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return render(o, cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tNAME\tCREATED\tEXPIRES\tREVOKED")
					for _, t := range ts {
						exp := "-"
						if !t.Expires.IsZero() {
							exp = t.Expires.UTC().Format(time.RFC3339)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", t.ID, t.Name, t.Created.UTC().Format(time.RFC3339), exp, t.Revoked)
					}
				})
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke TOKEN-ID", Short: "Revoke a token (a running server stops accepting it within seconds)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAuth(cmd.Context(), dsn, func(a *auth.Authenticator) error {
				if err := a.RevokeToken(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return usageFlags(cmd)
}

// newAuditCmd is `twinflow audit`: the server's audit records (admin).
func newAuditCmd(o *Options) *cobra.Command {
	var from int64
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List audit records: every authenticated write and every denial (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			var l nbi.AuditList
			if _, err := c.Do(cmd.Context(), "GET", fmt.Sprintf("/api/v1/audit?from=%d&limit=%d", from, limit), nil, nil, &l); err != nil {
				return err
			}
			return render(o, cmd.OutOrStdout(), l, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "SEQ\tTIME\tUSER\tFROM\tREQUEST\tSTATUS\tRESULT")
				for _, e := range l.Items {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s %s\t%d\t%s\n", e.Seq, e.Time, e.User, e.Remote, e.Method, e.Path, e.Status, e.Result)
				}
			})
		},
	}
	cmd.Flags().Int64Var(&from, "from", 1, "first ledger sequence number")
	cmd.Flags().IntVar(&limit, "limit", 1000, "ledger records scanned")
	return usageFlags(cmd)
}
