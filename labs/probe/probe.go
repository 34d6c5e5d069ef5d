// Package probe implements the measurement probes that TwinFlow's emulation sandbox runs
// inside each emulated node (`twinflow-node probe ...`): ICMP ping (reachability and
// round-trip time), a TCP sink (tcp-server) and a bulk TCP sender (tcp-client) with a
// chosen congestion control that reports its goodput.
//
// Every subcommand prints exactly one JSON document on stdout (tcp-server prints one per
// finished connection, one per line) so that the sandbox controller can parse results of
// probes run through `ip netns exec`. Exit codes: 0 success, 1 probe failure (e.g. no
// echo reply, connection refused), 2 malformed arguments.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Sentinel errors.
var (
	// ErrUsage marks malformed probe arguments.
	ErrUsage = errors.New("probe: usage")
	// ErrUnreachable is returned by ping when no echo reply arrived.
	ErrUnreachable = errors.New("probe: destination unreachable")
)

// Kinds of probe results, the "kind" field of every JSON result.
const (
	KindPing      = "ping"
	KindTCPClient = "tcp-client"
	KindTCPServer = "tcp-server"
)

// Main runs one probe subcommand (args excludes the program name and the word "probe",
// e.g. ["ping", "--dst", "10.0.0.2"]) writing results to os.Stdout and diagnostics to
// os.Stderr. It returns the process exit code.
func Main(ctx context.Context, args []string) int {
	return Run(ctx, args, os.Stdout, os.Stderr)
}

// Run is Main with explicit writers.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage) || errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

const usage = `usage: probe <subcommand> [flags]
subcommands:
  ping        --dst IP [--count N] [--interval D] [--timeout D] [--src IP]
  tcp-server  --listen ADDR [--max-conns N]
  tcp-client  --dst HOST:PORT [--cc cubic|bbr|reno] [--duration D] [--warmup D] [--id NAME] [--src IP] [--connect-timeout D]`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: missing subcommand", ErrUsage)
	}
	switch args[0] {
	case "ping":
		return runPing(ctx, args[1:], stdout, stderr)
	case "tcp-server":
		return runTCPServer(ctx, args[1:], stdout, stderr)
	case "tcp-client":
		return runTCPClient(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: unknown subcommand %q (want ping, tcp-server or tcp-client)", ErrUsage, args[0])
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("probe "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", ErrUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("probe: encode result: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("probe: write result: %w", err)
	}
	return nil
}

// CongestionControls lists the TCP congestion-control algorithms the probes accept.
var CongestionControls = []string{"cubic", "bbr", "reno"}

func validCC(cc string) bool {
	for _, c := range CongestionControls {
		if c == cc {
			return true
		}
	}
	return false
}

func ccList() string { return strings.Join(CongestionControls, ", ") }
