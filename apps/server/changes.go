package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/twinflow/twinflow/models/change"
	"log/slog"
	"time"

	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// GNMIConfig is how the server reaches devices over gNMI: commits, drift checks and
// telemetry alike. Under Config.Demo the stand-in nodes speak plaintext, so Insecure is
// forced on (and CAFile or SkipVerify conflict with it).
type GNMIConfig struct {
	// Insecure talks plaintext gRPC (nodes started with --insecure).
	Insecure bool
	// SkipVerify accepts any device certificate (self-signed lab nodes).
	SkipVerify bool
	// CAFile is a PEM bundle to verify device certificates with.
	CAFile string
	// CertFile and KeyFile are the server's client certificate and key (PEM), for
	// devices requiring mutual TLS (twinflow-node --client-ca).
	CertFile, KeyFile string
	// Username and Password are the gNMI credentials (empty: none).
	Username, Password string
	// DeviceTimeout bounds every device operation (default 10 s).
	DeviceTimeout time.Duration
}

// ChangesConfig configures the change pipeline.
type ChangesConfig struct {
	// Concurrency is how many devices a commit sets in parallel (default 16).
	Concurrency int
	// DriftInterval is how often devices are compared with their intended config
	// (0: no drift detection).
	DriftInterval time.Duration
	// SelfApprove lets the author of a change approve it (Demo only).
	SelfApprove bool
	// L2Sandbox runs level-L2 validations in a network-namespace sandbox of
	// twinflow-node agents (needs root); NodeBin is the agent binary (empty: found
	// beside this executable, then in $PATH).
	L2Sandbox bool
	NodeBin   string
	// ApprovalRules approve validated changes without a person (issue #15; the rule is
	// recorded as the approver).
	ApprovalRules []change.ApprovalRule
	// SLAInterval is how often committed services' SLOs are checked against observed
	// link state (sla-violated status and events; 0: every 2 s; negative: never).
	SLAInterval time.Duration
}

// gnmi returns the gNMI settings as the server uses them: the demo's stand-in nodes
// speak plaintext gNMI on loopback.
func (c *Config) gnmi() GNMIConfig {
	g := c.GNMI
	if c.Demo {
		g.Insecure = true
	}
	if g.DeviceTimeout == 0 {
		g.DeviceTimeout = 10 * time.Second
	}
	return g
}

// CheckTransport reports a TLS setting that cannot work (devices are dialled lazily,
// so it would otherwise fail at the first commit or telemetry subscription).
func (g GNMIConfig) CheckTransport() error {
	return g.dialOptions("", "", nil).CheckTransport()
}

// dialOptions are the gNMI options the server reaches a device with.
func (g GNMIConfig) dialOptions(id, addr string, log *slog.Logger) gnmi.Options {
	return gnmi.Options{Address: addr, Target: id, Insecure: g.Insecure, SkipVerify: g.SkipVerify,
		CAFile: g.CAFile, CertFile: g.CertFile, KeyFile: g.KeyFile, Username: g.Username, Password: g.Password, Timeout: g.DeviceTimeout, Logger: log}
}

// startChangePipeline builds the change pipeline and hands it to the API:
// repository store (Config.DB), ledger-backed commit journal,
// gNMI pool reaching devices at their twin addresses, commit engine, pipeline service;
// then it recovers commits a previous process left unfinished.
func startChangePipeline(ctx context.Context, env *assembly, o ChangesConfig) error {
	if o.Concurrency == 0 {
		o.Concurrency = 16
	}
	g := env.cfg.gnmi()
	log := env.log.With("component", "changes")
	var st repository.Store = env.store
	if st == nil {
		return errors.New("no repository store")
	}
	journal, err := pipeline.OpenJournal(ctx, st)
	if err != nil {
		return err
	}
	pool := gnmi.NewPool(o.Concurrency)
	env.onShutdown(func(context.Context) error { return pool.Close() })
	devices := &commit.GNMIDevices{Pool: pool, Resolve: func(ctx context.Context, id string) (gnmi.Options, error) {
		d, err := env.twins.Live().Device(id)
		if err != nil {
			return gnmi.Options{}, err
		}
		if d.Address == "" {
			return gnmi.Options{}, errors.New("device has no management address")
		}
		return g.dialOptions(id, d.Address, log), nil
	}}
	// KeepReadBack: the pipeline takes the intended configuration from the verified
	// read-back (one gNMI round less per commit)
	engine := &commit.Engine{Devices: devices, Journal: journal, Concurrency: o.Concurrency, DeviceTimeout: g.DeviceTimeout,
		KeepReadBack: true, Logger: log.With("component", "commit")}
	env.onShutdown(func(context.Context) error { engine.Close(); return nil })
	var emu pipeline.Emulator
	if o.L2Sandbox {
		if emu, err = newL2Emulator(env, o.NodeBin); err != nil {
			return err
		}
	}
	svc, err := pipeline.New(pipeline.Config{Twins: env.twins, Store: st, Committer: engine, Journal: journal,
		Reader: devices, DistinctApprover: !o.SelfApprove, Logger: log, Emulator: emu, ApprovalRules: o.ApprovalRules})
	if err != nil {
		return err
	}
	engine.OnResolved = svc.Resolve
	if err := svc.Recover(ctx); err != nil {
		return fmt.Errorf("recover interrupted commits: %w", err)
	}
	det := &pipeline.DriftDetector{Service: svc, Interval: o.DriftInterval}
	env.nbi.Changes, env.nbi.Drift = svc, det
	if emu != nil {
		// RESTCONF service and slice changes are probed in the sandbox before commit.
		env.nbi.ServiceLevel = change.L2
	}
	if o.DriftInterval > 0 {
		// The detector stops (a scan in flight ends) before the engine and the gNMI
		// pool it reads through close.
		env.goRun(ctx, func(ctx context.Context) { _ = det.Run(ctx) })
	}
	if o.SLAInterval >= 0 {
		env.goRun(ctx, func(ctx context.Context) { pipeline.RunSLAChecks(ctx, svc, o.SLAInterval, log) })
	}
	return nil
}
