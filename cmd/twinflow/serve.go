package main

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/broker"
	"github.com/twinflow/twinflow/apps/interdomain"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
)

// serveFlags are the flags of `twinflow serve`; config maps them to a server.Config.
type serveFlags struct {
	jobs                           nbi.JobOptions // the API's what-if and dataset jobs (issue #18)
	listen, demoSpec, logLevel, db string
	demo                           bool
	retention                      time.Duration

	gnmiInsecure, gnmiSkipVerify bool
	gnmiCA, gnmiUser             string
	gnmiCert, gnmiKey            string
	gnmiPassFile                 string
	deviceTimeout                time.Duration

	security server.SecurityConfig

	commitConcurrency      int
	driftInterval          time.Duration
	selfApprove, l2Sandbox bool
	standIn                bool
	standInBin             string
	telemetry              bool
	telemetrySample        time.Duration
	alto                   bool
	altoPIDs               string
	broker                 string
	closedLoops            bool
	policyApprovalRule     string
	optimizeAbove          float64
	approvalRules          string
	interdomain            string
	dbChanged              bool // --db was given (the demo otherwise starts on a temporary database)

	monitor monitorFlags // issue 17: KPIs, alarms, predicted vs observed (serve_monitor.go)
}

func newServeCmd(o *Options) *cobra.Command {
	sf := &serveFlags{}
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
			sf.dbChanged = cmd.Flags().Changed("db")
			cfg, err := sf.config()
			if err != nil {
				return err
			}
			level, _ := parseLevel(sf.logLevel)
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			cfg.Banner = cmd.OutOrStdout()
			err = server.Run(cmd.Context(), cfg)
			if errors.Is(err, server.ErrConfig) {
				return usageErrorf("%v", err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.listen, "listen", server.DefaultListen, "address to serve the API on (host:port)")
	f.BoolVar(&sf.demo, "demo", false, "load a demo network and flows into the live twin")
	f.StringVar(&sf.demoSpec, "demo-network", server.DefaultDemoSpec, "generator spec of the demo network")
	f.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.DurationVar(&sf.retention, "telemetry-retention", 7*24*time.Hour, "how long telemetry history is kept in the repository (0: forever)")
	f.StringVar(&sf.db, "db", repository.DefaultDSN, "repository: postgres://user@host/db or file:PATH (with --demo and no --db: a temporary file)")
	// the change pipeline
	f.BoolVar(&sf.gnmiInsecure, "gnmi-insecure", false, "talk plaintext gRPC to devices (stand-in nodes started with --insecure)")
	f.BoolVar(&sf.gnmiSkipVerify, "gnmi-skip-verify", false, "accept any device certificate (self-signed demo nodes)")
	f.StringVar(&sf.gnmiCA, "gnmi-ca", "", "PEM bundle to verify device certificates")
	f.StringVar(&sf.gnmiUser, "gnmi-username", "", "gNMI username (password from --gnmi-password-file or env TWINFLOW_GNMI_PASSWORD)")
	f.StringVar(&sf.gnmiPassFile, "gnmi-password-file", "", "file holding the gNMI password (never a flag value)")
	f.StringVar(&sf.gnmiCert, "gnmi-cert", "", "client certificate (PEM) presented to devices requiring mutual TLS")
	f.StringVar(&sf.gnmiKey, "gnmi-key", "", "private key (PEM) of --gnmi-cert")
	f.IntVar(&sf.commitConcurrency, "commit-concurrency", 16, "devices set in parallel by a commit")
	f.DurationVar(&sf.deviceTimeout, "device-timeout", 10*time.Second, "timeout of every device operation of a commit")
	f.DurationVar(&sf.driftInterval, "drift-interval", 500*time.Millisecond, "how often devices are compared with their intended config (0: no drift detection)")
	f.BoolVar(&sf.l2Sandbox, "l2-sandbox", false, "run level-L2 validations in a network-namespace sandbox of twinflow-node agents (needs root)")
	f.StringVar(&sf.approvalRules, "approval-rules", "", "YAML/JSON file of approval rules (rules: [{name, kinds, roles, authors, min_margin}]): matching validated changes are approved by the rule (docs/services.md)")
	f.BoolVar(&sf.selfApprove, "allow-self-approval", false, "with --demo only: let the author of a change approve it")
	// security (docs/security.md)
	sec := &sf.security
	f.StringVar(&sec.TokenDir, "token-dir", "", "with --demo: directory for the demo users' token files (default: per-server under "+filepath.Join("$XDG_STATE_HOME", "twinflow", "tokens")+")")
	f.StringVar(&sec.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain)")
	f.StringVar(&sec.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&sec.TLSDir, "tls-dir", "", "without --tls-cert (and not --demo): keep the generated self-signed certificate here (default: <state dir>/tls)")
	f.BoolVar(&sec.PlainHTTP, "plain-http", false, "serve plain HTTP without --demo (loopback --listen only: behind a TLS-terminating proxy on this host)")
	f.BoolVar(&sec.MetricsPublic, "metrics-public", false, "serve /metrics to non-loopback clients too (default: loopback only)")
	f.Float64Var(&sec.RateLimit, "rate-limit", 500, "requests per second each API token may make (bursts of twice that; negative: unlimited)")
	// the demo's stand-in network
	f.BoolVar(&sf.standIn, "standin", true, "with --demo: run a stand-in physical network of twinflow-node processes")
	f.StringVar(&sf.standInBin, "standin-bin", "", "twinflow-node binary for the stand-in network (default: next to twinflow, then $PATH)")
	// telemetry
	f.BoolVar(&sf.telemetry, "telemetry", true, "stream telemetry from every managed device (gNMI driver and an address in the live twin) into its observed state")
	f.DurationVar(&sf.telemetrySample, "telemetry-sample", time.Second, "counter sample interval of device telemetry, in (0, 1s]")
	// ALTO
	f.BoolVar(&sf.alto, "alto", true, "serve the ALTO protocol (RFC 7285 and extensions) over the live twin under /alto/")
	f.StringVar(&sf.altoPIDs, "alto-pids", "device", "ALTO PIDs: device (one per device) or domain (one per administrative domain); a device's alto.pid label wins")
	sf.monitor.register(f)
	f.StringVar(&sf.interdomain, "interdomain", "", "coordinate inter-domain slices: FILE names this domain, its peers and the records' directory (see docs/interdomain.md)")
	f.StringVar(&sf.broker, "broker", "", "serve the multi-domain ALTO broker under /alto/ instead of the twin's ALTO; FILE names the domains (see docs/alto.md)")
	// the policy engine and restoration (docs/policies.md)
	f.BoolVar(&sf.closedLoops, "closed-loops", true, "run the policy engine and restoration after link/device failures (their changes go through the pipeline)")
	f.StringVar(&sf.policyApprovalRule, "policy-approval-rule", "", "approve the policy engine's and restoration's validated changes as approver rule:NAME (default: off, a person approves them)")
	f.Float64Var(&sf.optimizeAbove, "optimize-above", 0, "re-optimise paths when an observed link's utilisation rises above this percent (0: off)")
	// what-if and dataset jobs of the API (docs/whatif.md, docs/datasets.md)
	f.StringVar(&sf.jobs.DataDir, "data-dir", "", "directory where /api/v1/datasets jobs write (empty: the dataset routes answer 503)")
	f.IntVar(&sf.jobs.MaxRunning, "jobs-running", 2, "what-if and dataset jobs running at once (more wait, queued)")
	f.Int64Var(&sf.jobs.MaxDatasetBytes, "dataset-max-bytes", 1<<30, "the largest output of one dataset job")
	// the stand-in network's own flag, from before every managed device was covered
	f.DurationVar(&sf.telemetrySample, "standin-sample", time.Second, "same as --telemetry-sample")
	return usageFlags(cmd)
}

// config checks the flags (a bad one stops serve with nothing started) and maps them to
// the server's configuration.
func (sf *serveFlags) config() (server.Config, error) {
	if _, _, err := net.SplitHostPort(sf.listen); err != nil {
		return server.Config{}, usageErrorf("--listen must be host:port, got %q", sf.listen)
	}
	if _, err := parseLevel(sf.logLevel); err != nil {
		return server.Config{}, err
	}
	if sf.retention < 0 {
		return server.Config{}, usageErrorf("--telemetry-retention must not be negative, got %v", sf.retention)
	}
	if sf.commitConcurrency < 1 {
		return server.Config{}, usageErrorf("--commit-concurrency must be at least 1, got %d", sf.commitConcurrency)
	}
	if sf.deviceTimeout <= 0 {
		return server.Config{}, usageErrorf("--device-timeout must be positive, got %s", sf.deviceTimeout)
	}
	if s := sf.telemetrySample; sf.telemetry && (s <= 0 || s > time.Second) {
		return server.Config{}, usageErrorf("--telemetry-sample must be in (0, 1s], got %v", s)
	}
	sec := sf.security
	if (sec.TLSCert == "") != (sec.TLSKey == "") {
		return server.Config{}, usageErrorf("--tls-cert and --tls-key go together")
	}
	if sec.PlainHTTP && sec.TLSCert != "" {
		return server.Config{}, usageErrorf("--plain-http conflicts with --tls-cert")
	}
	if sec.PlainHTTP && !sf.demo && !loopbackListen(sf.listen) {
		return server.Config{}, usageErrorf("--plain-http needs a loopback --listen address (got %q): serve HTTPS beyond this host", sf.listen)
	}
	if sec.TokenDir != "" && !sf.demo {
		return server.Config{}, usageErrorf("--token-dir applies to --demo only (create tokens with `twinflow token create`)")
	}
	if sf.jobs.MaxRunning < 1 || sf.jobs.MaxDatasetBytes < 1 {
		return server.Config{}, usageErrorf("--jobs-running and --dataset-max-bytes must be positive")
	}
	if sf.selfApprove && !sf.demo {
		return server.Config{}, usageErrorf("--allow-self-approval exists only with --demo: outside it, a change's approver is never its author")
	}
	password := os.Getenv("TWINFLOW_GNMI_PASSWORD")
	if sf.gnmiPassFile != "" {
		b, err := os.ReadFile(sf.gnmiPassFile)
		if err != nil {
			return server.Config{}, usageErrorf("--gnmi-password-file: %v", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	var rules []change.ApprovalRule
	if sf.approvalRules != "" {
		b, err := os.ReadFile(sf.approvalRules)
		if err != nil {
			return server.Config{}, usageErrorf("--approval-rules: %v", err)
		}
		if rules, err = change.DecodeRules(b); err != nil {
			return server.Config{}, usageErrorf("--approval-rules %s: %v", sf.approvalRules, err)
		}
	}
	db := sf.db
	if sf.demo && !sf.dbChanged {
		db = "" // the demo starts fresh every time unless told otherwise
	}
	cfg := server.Config{
		Listen: sf.listen, Demo: sf.demo, DemoSpec: sf.demoSpec, DB: db, Retention: sf.retention,
		GNMI: server.GNMIConfig{Insecure: sf.gnmiInsecure, SkipVerify: sf.gnmiSkipVerify, CAFile: sf.gnmiCA,
			CertFile: sf.gnmiCert, KeyFile: sf.gnmiKey, Username: sf.gnmiUser, Password: password, DeviceTimeout: sf.deviceTimeout},
		Changes: &server.ChangesConfig{Concurrency: sf.commitConcurrency, DriftInterval: sf.driftInterval,
			SelfApprove: sf.selfApprove, L2Sandbox: sf.l2Sandbox, ApprovalRules: rules},
		Security: sec, Jobs: sf.jobs, Interdomain: sf.interdomain,
	}
	if sf.interdomain != "" {
		if _, err := interdomain.LoadConfig(sf.interdomain); err != nil {
			return server.Config{}, usageErrorf("--interdomain: %v", err)
		}
	}
	if sf.closedLoops {
		cfg.ClosedLoop = &server.ClosedLoopConfig{ApprovalRule: sf.policyApprovalRule, Restore: true, OptimizeAbove: sf.optimizeAbove}
	} else if sf.policyApprovalRule != "" || sf.optimizeAbove != 0 {
		return server.Config{}, usageErrorf("--policy-approval-rule and --optimize-above need --closed-loops")
	}
	if sf.demo && sf.standIn {
		cfg.StandIn = &server.StandInConfig{Bin: sf.standInBin}
	}
	if sf.telemetry {
		cfg.Telemetry = &server.TelemetryConfig{Sample: sf.telemetrySample}
	}
	mc, err := sf.monitor.config()
	if err != nil {
		return server.Config{}, err
	}
	cfg.Monitor = mc
	if sf.alto {
		if p := sf.altoPIDs; p != "device" && p != "domain" {
			return server.Config{}, usageErrorf("--alto-pids must be device or domain, got %q", p)
		}
		if sf.broker != "" {
			// the file and its token files are read again at start; a bad one stops serve here
			if _, _, err := broker.LoadConfig(sf.broker); err != nil {
				return server.Config{}, usageErrorf("--broker: %v", err)
			}
		}
		cfg.ALTO = &server.ALTOConfig{PIDBy: sf.altoPIDs, Broker: sf.broker}
	} else if sf.broker != "" {
		return server.Config{}, usageErrorf("--broker serves under /alto/: it does not go with --alto=false")
	}
	// devices are dialled lazily: a TLS setting that cannot work fails here, not at the
	// first commit or telemetry subscription
	g := cfg.GNMI
	if sf.demo {
		g.Insecure = true
	}
	switch err := g.CheckTransport(); {
	case err == nil:
	case g.Insecure && sf.demo:
		return server.Config{}, usageErrorf("--gnmi-ca and --gnmi-skip-verify do not apply to the demo's plaintext gNMI: %v", err)
	case g.Insecure:
		return server.Config{}, usageErrorf("--gnmi-insecure conflicts with --gnmi-ca and --gnmi-skip-verify: %v", err)
	default:
		return server.Config{}, usageErrorf("--gnmi-ca: %v", err)
	}
	if sf.demo && sf.standIn && sf.standInBin != "" {
		if _, err := os.Stat(sf.standInBin); err != nil {
			return server.Config{}, usageErrorf("--standin-bin: %v", err)
		}
	}
	return cfg, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, usageErrorf("--log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// loopbackListen reports whether a listen address is on loopback.
func loopbackListen(listen string) bool {
	host, _, _ := net.SplitHostPort(listen)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
