package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

func init() { register(newServeCmd) }

// DefaultListen is the address `twinflow serve` listens on by default.
const DefaultListen = "127.0.0.1:8080"

// DefaultDemoSpec is the network `serve --demo` loads (see `twinflow topology generate`).
const DefaultDemoSpec = "leaf-spine:leaves=4,spines=2,hosts=2"

// serveOptions are the settings of `twinflow serve`.
type serveOptions struct {
	Listen   string
	Demo     bool
	DemoSpec string
	LogLevel string
	// DB is the repository DSN (postgres://… or file:PATH); empty means a temporary
	// sqlite file. The command-line default is repository.DefaultDSN, except with --demo.
	DB string
	// Retention is how long telemetry history is kept (0: forever).
	Retention time.Duration
	// Ready, if set, is called with the bound address once the API accepts
	// connections (tests listen on 127.0.0.1:0).
	Ready func(addr string)
	// Extensions overrides the registered serve extensions (nil: every registered one).
	Extensions []serveExtension
}

// serveEnv is what serve extensions work with while the server starts.
type serveEnv struct {
	Options *serveOptions
	Logger  *slog.Logger
	// Twins holds the live twin (already restored from Store and loaded with the demo
	// network under --demo).
	Twins *twin.Manager
	// Store is the repository (--db) holding changes, the ledger, snapshots and the live
	// twin's journal.
	Store repository.Store
	// History, when not nil, keeps telemetry samples in Store (telemetry sources tee
	// their batches into it).
	History *historySink
	// NBI are the options the API server will be built with; extensions may set
	// Ready, Registry, MaxBodyBytes.
	NBI *nbi.Options
	// Notes are printed in the startup banner (e.g. "database: postgres://…").
	Notes []string
	// Mounts are handlers served beside the API under their path prefix (Mount; the
	// ALTO server in serve_alto.go).
	Mounts []mount

	shutdown []func(context.Context) error
}

// OnShutdown registers f to run, in reverse order, after the API stops.
func (e *serveEnv) OnShutdown(f func(context.Context) error) { e.shutdown = append(e.shutdown, f) }

// Go runs fn in a goroutine with a context derived from ctx, and registers a shutdown
// step that cancels it and waits for fn to return (so work in flight ends before what
// is registered earlier, such as the store, closes).
func (e *serveEnv) Go(ctx context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	e.OnShutdown(func(context.Context) error { cancel(); <-done; return nil })
}

// serveExtension plugs a component into `twinflow serve` from its own file:
//
//	func init() {
//		registerServeExtension(serveExtension{
//			Name:  "repository",
//			Flags: func(fs *pflag.FlagSet) { fs.StringVar(&dsn, "db", "", "PostgreSQL DSN") },
//			Start: func(ctx context.Context, env *serveEnv) error { ...; env.OnShutdown(closeDB); return nil },
//		})
//	}
type serveExtension struct {
	Name string
	// Flags adds the extension's flags to `serve` (optional).
	Flags func(fs *pflag.FlagSet)
	// Check validates the extension's flags (optional). Every extension's Check runs
	// before anything starts, so a bad flag stops serve with nothing started.
	Check func(env *serveEnv) error
	// Start runs in registration order after the twins exist (and the demo network is
	// loaded) and before the API is built. ctx ends when the server shuts down:
	// goroutines started here must stop with it. An error aborts startup.
	Start func(ctx context.Context, env *serveEnv) error
}

var serveExtensions []serveExtension

func registerServeExtension(e serveExtension) { serveExtensions = append(serveExtensions, e) }

func newServeCmd(o *Options) *cobra.Command {
	so := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the TwinFlow server (REST API on --listen)",
		Long: `Run the TwinFlow server: the twins in memory and the REST API under /api/v1.
--demo loads a generated leaf-spine network with demo flows into the live twin, so
every CLI command has something to work on. Stop with Ctrl-C (graceful shutdown).`,
		Example: `  twinflow serve --demo
  twinflow serve --listen 127.0.0.1:9090 --log-level debug`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("serve takes no arguments")
			}
			if _, _, err := net.SplitHostPort(so.Listen); err != nil {
				return usageErrorf("--listen must be host:port, got %q", so.Listen)
			}
			if _, err := parseLevel(so.LogLevel); err != nil {
				return err
			}
			if so.Retention < 0 {
				return usageErrorf("--telemetry-retention must not be negative, got %v", so.Retention)
			}
			if so.Demo && !cmd.Flags().Changed("db") {
				so.DB = "" // the demo starts fresh every time unless told otherwise
			}
			return runServe(cmd.Context(), so, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&so.Listen, "listen", DefaultListen, "address to serve the API on (host:port)")
	f.BoolVar(&so.Demo, "demo", false, "load a demo network and flows into the live twin")
	f.StringVar(&so.DemoSpec, "demo-network", DefaultDemoSpec, "generator spec of the demo network")
	f.StringVar(&so.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.DurationVar(&so.Retention, "telemetry-retention", 7*24*time.Hour, "how long telemetry history is kept in the repository (0: forever)")
	f.StringVar(&so.DB, "db", repository.DefaultDSN, "repository: postgres://user@host/db or file:PATH (with --demo and no --db: a temporary file)")
	for _, e := range serveExtensions {
		if e.Flags != nil {
			e.Flags(f)
		}
	}
	return usageFlags(cmd)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, usageErrorf("--log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// runServe runs the server until ctx ends. Logs go to stderr as text; the startup
// banner goes to stdout.
func runServe(ctx context.Context, so *serveOptions, stdout, stderr io.Writer) (err error) {
	level, err := parseLevel(so.LogLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	env := &serveEnv{Options: so, Logger: log}
	exts := so.Extensions
	if exts == nil {
		exts = serveExtensions
	}
	for _, e := range exts {
		if e.Check == nil {
			continue
		}
		if err := e.Check(env); err != nil {
			return fmt.Errorf("serve: %s: %w", e.Name, err)
		}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := len(env.shutdown) - 1; i >= 0; i-- {
			if serr := env.shutdown[i](sctx); serr != nil {
				log.Error("shutdown step failed", "err", serr)
				err = errors.Join(err, serr)
			}
		}
	}()
	st, err := openServeStore(ctx, env)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	env.Store = st
	journal := newLiveJournal(st, log.With("component", "journal"))
	twins, err := twin.NewManager(twin.Options{Logger: log.With("component", "twin"), Journal: journal.write})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer twins.Close()
	env.Twins = twins
	env.NBI = &nbi.Options{Twins: twins, Logger: log.With("component", "nbi"), History: st.Telemetry()}
	env.History = newHistorySink(st.Telemetry(), log.With("component", "history"))
	hctx, stopHistory := context.WithCancel(context.WithoutCancel(ctx))
	historyDone := make(chan struct{})
	go func() { defer close(historyDone); env.History.run(hctx) }()
	// After the telemetry sources stopped (extensions' shutdown steps run first), write
	// what is buffered, before the store closes.
	env.OnShutdown(func(context.Context) error { stopHistory(); <-historyDone; return nil })
	if so.Retention > 0 {
		// A prune or compaction in flight ends before the store closes.
		env.Go(ctx, func(ctx context.Context) {
			runRetention(ctx, st.Telemetry(), so.Retention, time.Hour, log.With("component", "retention"))
		})
	}
	snapRev, replayed, err := restoreLive(ctx, st, twins.Live())
	if err != nil {
		return fmt.Errorf("serve: restore the live twin: %w", err)
	}
	if rev := twins.Live().Revision(); rev > 0 {
		log.Info("live twin restored", "revision", rev, "snapshot_revision", snapRev, "journal_entries", replayed)
		env.Notes = append(env.Notes, fmt.Sprintf("Live twin restored at revision %d.", rev))
	}
	// Checkpoint at shutdown: shutdown steps run in reverse order, so this runs after
	// the extensions stopped and before the store (registered earlier) closes, once the
	// periodic checkpoints (registered next, so stopped first) have ended.
	env.OnShutdown(func(ctx context.Context) error { return journal.checkpoint(ctx, twins.Live()) })
	env.Go(ctx, func(ctx context.Context) { journal.run(ctx, twins.Live()) })
	var demo *demoSummary
	if so.Demo {
		demo, err = loadDemo(ctx, twins.Live(), so.DemoSpec)
		if err != nil {
			return fmt.Errorf("serve: demo: %w", err)
		}
		log.Info("demo network loaded", "spec", so.DemoSpec, "devices", demo.Devices, "links", demo.Links, "flows", demo.Flows)
	}
	for _, e := range exts {
		if e.Start == nil {
			continue
		}
		if err := e.Start(ctx, env); err != nil {
			return fmt.Errorf("serve: %s: %w", e.Name, err)
		}
	}
	api, err := nbi.New(*env.NBI)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", so.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", so.Listen, err)
	}
	srv := &http.Server{Handler: withMounts(api.Handler(), env.Mounts), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("serving", "addr", "http://"+addr)
	printBanner(stdout, addr, demo, env.Notes)
	if so.Ready != nil {
		so.Ready(addr)
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutting down")
	api.Close() // ends event streams
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

func printBanner(w io.Writer, addr string, demo *demoSummary, notes []string) {
	base := "http://" + addr
	var b strings.Builder
	fmt.Fprintf(&b, "TwinFlow API on %s/api/v1 (OpenAPI: %s/api/v1/openapi.json)\n", base, base)
	for _, n := range notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	if demo != nil {
		fmt.Fprintf(&b, "Demo: the live twin holds %s (%d devices, %d links, %d flows).\n",
			demo.Spec, demo.Devices, demo.Links, demo.Flows)
	}
	b.WriteString("\nTry next, in another terminal:\n")
	if base != "http://127.0.0.1:8080" {
		fmt.Fprintf(&b, "  export TWINFLOW_SERVER=%s\n", base)
	}
	link := "<link-id>"
	if demo != nil && demo.SampleLink != "" {
		link = demo.SampleLink
	}
	var cmds strings.Builder
	tw := tabwriter.NewWriter(&cmds, 0, 4, 2, ' ', 0)
	for _, l := range [][2]string{
		{"twinflow get devices", ""},
		{"twinflow get links", ""},
		{"twinflow fork", "# prints the new fork's ID, e.g. fork-1"},
		{"twinflow set link " + link + " --capacity 40 --twin fork-1", ""},
		{"twinflow get link " + link + " --twin fork-1", "# 40 Gb/s in the fork"},
		{"twinflow get link " + link, "# unchanged in live"},
		{"twinflow get twins", ""},
		{"curl -N '" + base + "/api/v1/events?table=devices,links'", "# the event stream"},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", l[0], l[1])
	}
	_ = tw.Flush()
	for _, l := range strings.SplitAfter(cmds.String(), "\n") {
		b.WriteString(strings.TrimRight(l, " \n"))
		if strings.HasSuffix(l, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("Stop with Ctrl-C.\n")
	_, _ = io.WriteString(w, b.String())
}
