// Command twinflow is TwinFlow's CLI and server: `twinflow serve` runs the controller,
// every other subcommand either talks to a server over the REST API or works on files.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "twinflow:", err)
		os.Exit(exitCode(err))
	}
}
