// Package server assembles a TwinFlow server: the repository (durable state, the live
// twin's journal and snapshots, telemetry history), the twins, the change pipeline with
// its commit engine and drift detector, the stand-in network of the demo, telemetry
// from every managed device into the live twin (twin/telesync), and the northbound API
// (apps/nbi) on an HTTP listener.
//
// It is the one package of the application layer that wires the physical network's
// implementations (physical/gnmi, physical/commit, physical/telemetry, labs/standin)
// into the interfaces the twin layer defines; `twinflow serve` maps its flags to a
// Config and calls Run:
//
//	err := server.Run(ctx, server.Config{Listen: "127.0.0.1:8080", DB: "file:twinflow.db",
//		Changes: &server.ChangesConfig{Concurrency: 16}, Telemetry: &server.TelemetryConfig{Sample: time.Second}})
//
// Every component is constructed explicitly, in order, by Run; each registers the
// step that stops it, and the steps run in reverse order when Run returns.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/telesync"
)

// DefaultListen is the address a server listens on by default.
const DefaultListen = "127.0.0.1:8080"

// DefaultDemoSpec is the network Config.Demo loads (see `twinflow topology generate`).
const DefaultDemoSpec = "leaf-spine:leaves=4,spines=2,hosts=2"

// ErrConfig is wrapped by the errors of an invalid Config.
var ErrConfig = errors.New("server: invalid configuration")

// Config is what a server runs with. The zero value (plus Listen) runs the twins, a
// temporary repository and the API, without change pipeline, telemetry or stand-in
// network.
type Config struct {
	// Listen is the API's address, host:port (":0" ports pick a free one; see Ready).
	Listen string
	// Demo loads a generated network (DemoSpec, default DefaultDemoSpec) with demo
	// flows into the live twin; its stand-in nodes speak plaintext gNMI.
	Demo     bool
	DemoSpec string
	// DB is the repository DSN (postgres://… or file:PATH); empty means a temporary
	// sqlite file, removed when Run returns.
	DB string
	// Retention is how long telemetry history is kept (0: forever).
	Retention time.Duration
	// Logger receives the server's logs (nil: discarded).
	Logger *slog.Logger
	// Banner, if set, receives the startup banner (address, database, next steps).
	Banner io.Writer
	// Ready, if set, is called with the bound address once the API accepts connections.
	Ready func(addr string)
	// GNMI is how the server reaches devices (commits, drift checks, telemetry).
	GNMI GNMIConfig
	// Changes runs the change pipeline (nil: none; the change routes answer 503).
	Changes *ChangesConfig
	// StandIn runs the demo's stand-in network (used with Demo only; nil: none).
	StandIn *StandInConfig
	// Telemetry streams from every managed device into the live twin (nil: none).
	Telemetry *TelemetryConfig
	// Security is how callers authenticate and the listener is protected.
	Security SecurityConfig
	// ALTO serves the ALTO protocol over the live twin under /alto/ (nil: not served).
	ALTO *ALTOConfig
	// Monitor runs KPIs, alarms and the predicted-vs-observed check (nil: none; the
	// monitoring routes answer 503).
	Monitor *MonitorConfig
	// ClosedLoop runs the policy engine and restoration (needs Changes; nil: none).
	ClosedLoop *ClosedLoopConfig
	// Jobs bounds the what-if and dataset jobs of the API (DataDir: where datasets go).
	Jobs nbi.JobOptions
	// Interdomain is the coordinator's configuration file of inter-domain slices
	// (apps/interdomain; empty: this controller serves only the domain side).
	Interdomain string
}

// Check validates c; the errors wrap ErrConfig. Run checks c before it starts anything.
func (c *Config) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("Listen must be host:port, got %q", c.Listen)
	}
	if c.Retention < 0 {
		return bad("Retention must not be negative, got %v", c.Retention)
	}
	if c.GNMI.DeviceTimeout < 0 {
		return bad("GNMI.DeviceTimeout must not be negative, got %v", c.GNMI.DeviceTimeout)
	}
	if err := c.gnmi().CheckTransport(); err != nil {
		return bad("GNMI: %v", err)
	}
	if ch := c.Changes; ch != nil && ch.Concurrency < 0 {
		return bad("Changes.Concurrency must not be negative, got %d", ch.Concurrency)
	}
	if tc := c.Telemetry; tc != nil && (tc.Sample < 0 || tc.Sample > time.Second) {
		return bad("Telemetry.Sample must be in (0, 1s], got %v", tc.Sample)
	}
	if c.ALTO != nil {
		if err := c.ALTO.check(); err != nil {
			return err
		}
	}
	if c.ClosedLoop != nil {
		if err := c.ClosedLoop.check(); err != nil {
			return err
		}
	}
	return c.checkSecurity()
}

// assembly is what the components work with while the server starts.
type assembly struct {
	cfg *Config
	log *slog.Logger
	// twins holds the live twin (already restored from store and loaded with the demo
	// network under Demo).
	twins *twin.Manager
	// store is the repository holding changes, the ledger, snapshots and the live
	// twin's journal.
	store repository.Store
	// history keeps telemetry samples in store (telemetry tees its batches into it).
	history *telesync.History
	// nbi are the options the API server is built with.
	nbi nbi.Options
	// notes are printed in the startup banner (e.g. "database: postgres://…").
	notes []string
	// dbShown is the repository's DSN as the banner shows it (password redacted).
	dbShown string

	shutdown []func(context.Context) error
}

// onShutdown registers f to run, in reverse order, after the API stops.
func (e *assembly) onShutdown(f func(context.Context) error) { e.shutdown = append(e.shutdown, f) }

// goRun runs fn in a goroutine with a context derived from ctx, and registers a
// shutdown step that cancels it and waits for fn to return (so work in flight ends
// before what is registered earlier, such as the store, closes).
func (e *assembly) goRun(ctx context.Context, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	e.onShutdown(func(context.Context) error { cancel(); <-done; return nil })
}

// Run runs the server until ctx ends, then shuts it down (the API first, then every
// component in reverse order of construction) and returns. An invalid cfg (see
// Config.Check) starts nothing.
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.Check(); err != nil {
		return err
	}
	so := &cfg
	if so.DemoSpec == "" {
		so.DemoSpec = DefaultDemoSpec
	}
	log := so.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := &assembly{cfg: so, log: log}
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
	st, err := openStore(ctx, env)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	env.store = st
	journal := newLiveJournal(st, log.With("component", "journal"))
	twins, err := twin.NewManager(twin.Options{Logger: log.With("component", "twin"), Journal: journal.write})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer twins.Close()
	env.twins = twins
	env.nbi = nbi.Options{Twins: twins, Logger: log.With("component", "nbi"), History: st.Telemetry(), Jobs: cfg.Jobs}
	sec, err := startSecurity(ctx, env) // sets the API's authentication, audit and limits
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	env.history = telesync.NewHistory(st.Telemetry(), log.With("component", "history"))
	hctx, stopHistory := context.WithCancel(context.WithoutCancel(ctx))
	historyDone := make(chan struct{})
	go func() { defer close(historyDone); env.history.Run(hctx) }()
	// After the telemetry sources stopped (the components' shutdown steps run first), write
	// what is buffered, before the store closes.
	env.onShutdown(func(context.Context) error { stopHistory(); <-historyDone; return nil })
	if so.Retention > 0 {
		// A prune or compaction in flight ends before the store closes.
		env.goRun(ctx, func(ctx context.Context) {
			telesync.RunRetention(ctx, st.Telemetry(), so.Retention, time.Hour, log.With("component", "retention"))
		})
	}
	snapRev, replayed, err := restoreLive(ctx, st, twins.Live())
	if err != nil {
		return fmt.Errorf("serve: restore the live twin: %w", err)
	}
	if rev := twins.Live().Revision(); rev > 0 {
		log.Info("live twin restored", "revision", rev, "snapshot_revision", snapRev, "journal_entries", replayed)
		env.notes = append(env.notes, fmt.Sprintf("Live twin restored at revision %d.", rev))
	}
	// Checkpoint at shutdown: shutdown steps run in reverse order, so this runs after
	// the components stopped and before the store (registered earlier) closes, once the
	// periodic checkpoints (registered next, so stopped first) have ended.
	env.onShutdown(func(ctx context.Context) error { return journal.checkpoint(ctx, twins.Live()) })
	env.goRun(ctx, func(ctx context.Context) { journal.run(ctx, twins.Live()) })
	var demo *demoSummary
	if so.Demo {
		demo, err = loadDemo(ctx, twins.Live(), so.DemoSpec)
		if err != nil {
			return fmt.Errorf("serve: demo: %w", err)
		}
		log.Info("demo network loaded", "spec", so.DemoSpec, "devices", demo.Devices, "links", demo.Links, "flows", demo.Flows)
	}
	// The components, in order: each registers its shutdown steps, which run in reverse.
	if so.Changes != nil {
		if err := startChangePipeline(ctx, env, *so.Changes); err != nil {
			return fmt.Errorf("serve: changes: %w", err)
		}
		startZTP(ctx, env)
		if err := startInterdomain(ctx, env, so.Interdomain); err != nil {
			return fmt.Errorf("serve: interdomain: %w", err)
		}
	}
	// the monitor first: the policy engine reads its KPIs and alarms
	if so.Monitor != nil {
		if err := startMonitor(ctx, env, *so.Monitor); err != nil {
			return fmt.Errorf("serve: monitor: %w", err)
		}
	}
	if so.ClosedLoop != nil {
		if err := startClosedLoops(ctx, env, *so.ClosedLoop); err != nil {
			return fmt.Errorf("serve: closed loops: %w", err)
		}
	}
	if so.Demo && so.StandIn != nil {
		if err := startStandIn(ctx, env, *so.StandIn); err != nil {
			return fmt.Errorf("serve: standin: %w", err)
		}
	}
	if so.Telemetry != nil {
		startTelemetry(ctx, env, *so.Telemetry)
	}
	api, err := nbi.New(env.nbi)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	handler := api.Handler()
	if so.ALTO != nil {
		if handler, err = startALTO(ctx, env, api, *so.ALTO); err != nil {
			return fmt.Errorf("serve: alto: %w", err)
		}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", so.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", so.Listen, err)
	}
	if sec.tls != nil {
		ln = tls.NewListener(ln, sec.tls)
	}
	// Per-request read and write deadlines are set by the API (event streams excepted).
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	notes, err := sec.listening(addr)
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("serving", "addr", sec.scheme()+"://"+addr)
	if so.Banner != nil {
		printBanner(so.Banner, sec.scheme(), addr, demo, append(env.notes, notes...), env.dbShown)
	}
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

func printBanner(w io.Writer, scheme, addr string, demo *demoSummary, notes []string, db string) {
	base := scheme + "://" + addr
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
	if base != "http://"+DefaultListen {
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
		{"curl -N -H \"Authorization: Bearer $TOKEN\" '" + base + "/api/v1/events?table=devices,links'", "# the event stream"},
		{"twinflow ledger verify --db '" + db + "'", "# the hash-chained ledger of every change"},
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
