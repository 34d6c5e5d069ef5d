package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// changeServeOptions are the `serve` flags of the change pipeline.
type changeServeOptions struct {
	GNMIInsecure   bool
	GNMISkipVerify bool
	GNMICA         string
	GNMIUser       string
	GNMICert       string
	GNMIKey        string
	GNMIPassFile   string
	gnmiPassword   string
	Concurrency    int
	DeviceTimeout  time.Duration
	SelfApprove    bool
	DriftInterval  time.Duration
	L2Sandbox      bool
}

var changeServe = changeServeOptions{Concurrency: 16, DeviceTimeout: 10 * time.Second, DriftInterval: 500 * time.Millisecond}

func init() {
	registerServeExtension(serveExtension{
		Name: "changes",
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&changeServe.GNMIInsecure, "gnmi-insecure", false, "talk plaintext gRPC to devices (stand-in nodes started with --insecure)")
			fs.BoolVar(&changeServe.GNMISkipVerify, "gnmi-skip-verify", false, "accept any device certificate (self-signed demo nodes)")
			fs.StringVar(&changeServe.GNMICA, "gnmi-ca", "", "PEM bundle to verify device certificates")
			fs.StringVar(&changeServe.GNMIUser, "gnmi-username", "", "gNMI username (password from --gnmi-password-file or env TWINFLOW_GNMI_PASSWORD)")
			fs.StringVar(&changeServe.GNMIPassFile, "gnmi-password-file", "", "file holding the gNMI password (never a flag value)")
			fs.StringVar(&changeServe.GNMICert, "gnmi-cert", "", "client certificate (PEM) presented to devices requiring mutual TLS")
			fs.StringVar(&changeServe.GNMIKey, "gnmi-key", "", "private key (PEM) of --gnmi-cert")
			fs.IntVar(&changeServe.Concurrency, "commit-concurrency", 16, "devices set in parallel by a commit")
			fs.DurationVar(&changeServe.DeviceTimeout, "device-timeout", 10*time.Second, "timeout of every device operation of a commit")
			fs.DurationVar(&changeServe.DriftInterval, "drift-interval", 500*time.Millisecond, "how often devices are compared with their intended config (0: no drift detection)")
			fs.BoolVar(&changeServe.L2Sandbox, "l2-sandbox", false, "run level-L2 validations in a network-namespace sandbox of twinflow-node agents (needs root)")
			fs.BoolVar(&changeServe.SelfApprove, "allow-self-approval", false, "with --demo only: let the author of a change approve it")
		},
		Check: func(env *serveEnv) error {
			if err := changeServe.check(); err != nil {
				return err
			}
			changeServe.gnmiPassword = os.Getenv("TWINFLOW_GNMI_PASSWORD")
			if changeServe.GNMIPassFile != "" {
				b, err := os.ReadFile(changeServe.GNMIPassFile)
				if err != nil {
					return usageErrorf("--gnmi-password-file: %v", err)
				}
				changeServe.gnmiPassword = strings.TrimRight(string(b), "\r\n")
			}
			if changeServe.SelfApprove && !env.Options.Demo {
				return usageErrorf("--allow-self-approval exists only with --demo: outside it, a change's approver is never its author")
			}
			// devices are dialled lazily: a TLS setting that cannot work fails here,
			// not at the first commit or telemetry subscription
			o := changeServe.forServe(env)
			err := o.dialOptions("", "", nil).CheckTransport()
			switch {
			case err == nil:
				return nil
			case o.GNMIInsecure && env.Options.Demo:
				return usageErrorf("--gnmi-ca and --gnmi-skip-verify do not apply to the demo's plaintext gNMI: %v", err)
			case o.GNMIInsecure:
				return usageErrorf("--gnmi-insecure conflicts with --gnmi-ca and --gnmi-skip-verify: %v", err)
			}
			return usageErrorf("--gnmi-ca: %v", err)
		},
		Start: func(ctx context.Context, env *serveEnv) error {
			return startChangePipeline(ctx, env, env.Store, changeServe.forServe(env))
		},
	})
}

// check validates the flags.
func (o changeServeOptions) check() error {
	if o.Concurrency < 1 {
		return usageErrorf("--commit-concurrency must be at least 1, got %d", o.Concurrency)
	}
	if o.DeviceTimeout <= 0 {
		return usageErrorf("--device-timeout must be positive, got %s", o.DeviceTimeout)
	}
	return nil
}

// forServe returns the options as serve uses them: the demo's stand-in nodes speak
// plaintext gNMI on loopback.
func (o changeServeOptions) forServe(env *serveEnv) changeServeOptions {
	if env.Options.Demo {
		o.GNMIInsecure = true
	}
	return o
}

// dialOptions are the gNMI options serve reaches a device with (commits, drift checks
// and telemetry alike).
func (o changeServeOptions) dialOptions(id, addr string, log *slog.Logger) gnmi.Options {
	return gnmi.Options{Address: addr, Target: id, Insecure: o.GNMIInsecure, SkipVerify: o.GNMISkipVerify,
		CAFile: o.GNMICA, CertFile: o.GNMICert, KeyFile: o.GNMIKey, Username: o.GNMIUser, Password: o.gnmiPassword, Timeout: o.DeviceTimeout,
		Logger: log}
}

// startChangePipeline builds the change pipeline and attaches it to the API:
// repository store (serve's --db), ledger-backed commit journal,
// gNMI pool reaching devices at their twin addresses, commit engine, pipeline service;
// then it recovers commits a previous process left unfinished.
func startChangePipeline(ctx context.Context, env *serveEnv, st repository.Store, o changeServeOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	log := env.Logger.With("component", "changes")
	if st == nil {
		return errors.New("no repository store")
	}
	journal, err := pipeline.OpenJournal(ctx, st)
	if err != nil {
		return err
	}
	pool := gnmi.NewPool(o.Concurrency)
	env.OnShutdown(func(context.Context) error { return pool.Close() })
	devices := &commit.GNMIDevices{Pool: pool, Resolve: func(ctx context.Context, id string) (gnmi.Options, error) {
		d, err := env.Twins.Live().Device(id)
		if err != nil {
			return gnmi.Options{}, err
		}
		if d.Address == "" {
			return gnmi.Options{}, errors.New("device has no management address")
		}
		return o.dialOptions(id, d.Address, log), nil
	}}
	// KeepReadBack: the pipeline takes the intended configuration from the verified
	// read-back (one gNMI round less per commit)
	engine := &commit.Engine{Devices: devices, Journal: journal, Concurrency: o.Concurrency, DeviceTimeout: o.DeviceTimeout,
		KeepReadBack: true, Logger: log.With("component", "commit")}
	env.OnShutdown(func(context.Context) error { engine.Close(); return nil })
	var emu pipeline.Emulator
	if o.L2Sandbox {
		if emu, err = newL2Emulator(env); err != nil {
			return err
		}
	}
	svc, err := pipeline.New(pipeline.Config{Twins: env.Twins, Store: st, Committer: engine, Journal: journal,
		Reader: devices, DistinctApprover: !o.SelfApprove, Logger: log, Emulator: emu})
	if err != nil {
		return err
	}
	engine.OnResolved = svc.Resolve
	if err := svc.Recover(ctx); err != nil {
		return fmt.Errorf("recover interrupted commits: %w", err)
	}
	nbi.AttachChangePipeline(env.Twins, svc)
	det := &pipeline.DriftDetector{Service: svc, Interval: o.DriftInterval}
	nbi.AttachDrift(env.Twins, det)
	if o.DriftInterval > 0 {
		// The detector stops (a scan in flight ends) before the engine and the gNMI
		// pool it reads through close.
		env.Go(ctx, func(ctx context.Context) { _ = det.Run(ctx) })
	}
	return nil
}
