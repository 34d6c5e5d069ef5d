package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/client"
)

// Options holds the settings shared by every subcommand. Defaults live here only.
type Options struct {
	// Server is the base URL of a twinflow server (--server, TWINFLOW_SERVER).
	Server string
	// Output is the output format: table, json or yaml (-o/--output).
	Output string
	// Security selects the identity and verifies the server (client_auth.go).
	Security clientSecurity
}

// DefaultServer is the server address used when neither --server nor TWINFLOW_SERVER is set.
const DefaultServer = "http://127.0.0.1:8080"

func newRootCmd() *cobra.Command {
	o := &Options{}
	root := &cobra.Command{
		Use:           "twinflow",
		Short:         "TwinFlow: a digital-twin-first network controller",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			o.Security.Stderr = cmd.ErrOrStderr()
			switch o.Output {
			case "table", "json", "yaml":
			default:
				return usageErrorf("--output must be one of table, json, yaml; got %q", o.Output)
			}
			return nil
		},
	}
	server := os.Getenv("TWINFLOW_SERVER")
	if server == "" {
		server = DefaultServer
	}
	root.PersistentFlags().StringVar(&o.Server, "server", server, "twinflow server URL (env TWINFLOW_SERVER)")
	root.PersistentFlags().StringVarP(&o.Output, "output", "o", "table", "output format: table, json or yaml")
	clientSecurityFlags(root.PersistentFlags(), &o.Security)
	// Every subcommand, in help order (cobra lists them alphabetically); each gets the
	// shared options it reads. A new command is added here, and nowhere else.
	root.AddCommand(
		newAnalyzeCmd(o),
		newApplyCmd(o),
		newAuditCmd(o),
		newBenchCmd(o),
		newCertifyCmd(o),
		newChangeCmd(o),
		newDatasetCmd(o),
		newDeleteCmd(o),
		newForkCmd(o),
		newGetCmd(o),
		newLabCmd(o),
		newLedgerCmd(o),
		newNodeCmd(o),
		newRoleCmd(o),
		newOptimizeCmd(o),
		newPolicyCmd(o),
		newRestoreCmd(o),
		newPushPolicyCmd(o),
		newPathCmd(o),
		newServeCmd(o),
		newServiceCmd(o),
		newSetCmd(o),
		newSliceCmd(o),
		newSnapshotCmd(o),
		newTelemetryCmd(o),
		newKPICmd(o), newAlarmCmd(o), // issue 17: monitoring (docs/monitoring.md)
		newInterdomainCmd(o), // issue 19 item 3: inter-domain slices (docs/interdomain.md)
		newTokenCmd(o),
		newTopologyCmd(o),
		newUpgradeCmd(o),
		newUserCmd(o),
		newWhatifCmd(o),
		newZTPCmd(o),
	)
	return root
}

// usageError marks an error caused by bad command-line input (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// exitCode maps an error to the process exit code: 2 for usage errors, 1 otherwise.
// Subcommands may return an *exitError to choose another code (e.g. certification
// failures).
func exitCode(err error) int {
	var ue *usageError
	var oe *client.OptionError
	if errors.As(err, &ue) || errors.As(err, &oe) {
		return 2
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
