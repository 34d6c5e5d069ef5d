// Command twinflow-node is TwinFlow's emulated device agent: a gNMI target over an
// OpenConfig subset with an in-memory (sim) or netlink (linux) dataplane. See
// docs/southbound.md. `twinflow-node probe ...` runs the reachability and throughput
// probes of package labs/probe; `twinflow-node delay ...` the userspace link delay line
// of package labs/delayline.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/twinflow/twinflow/labs/delayline"
	"github.com/twinflow/twinflow/labs/node"
	"github.com/twinflow/twinflow/labs/probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		os.Exit(probe.Main(ctx, os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "delay" {
		os.Exit(delayline.Main(ctx, os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(node.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
