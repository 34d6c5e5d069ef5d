package emulation

import (
	"context"
	"fmt"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
)

// FidelityConfig configures a fidelity experiment: the network's flows run as real TCP
// in a netns lab, once per queue model and congestion control, and are compared with
// the max-min prediction.
type FidelityConfig struct {
	// Lab names the lab (Options.Lab/Prefix/Scale/QueueLimit are taken from Base).
	Base Options
	// Queues and CCs to combine (default fq and fifo; cubic and bbr).
	Queues []QueueModel
	CCs    []string
	// Duration of each run and the warmup excluded from it (default 20s and 5s).
	Duration time.Duration
	Warmup   time.Duration
	// ProbeCmd, DelayCmd and StateDir as in Netns.
	ProbeCmd []string
	DelayCmd []string
	StateDir string
	// Params are the queue model's parameters (nil: queue.DefaultParams).
	Params *queue.Params
}

// FidelityReportVersion is the version of `twinflow lab fidelity -o json` reports
// (their "version" field). Version 2 records in each run how the lab applied link
// latencies (FidelityRun.Netem and DelayLine); reports without a version (1, before
// 2026-12-08) do not: a reader must infer it.
const FidelityReportVersion = 2

// FidelityRun is the comparison of one (queue, cc) run.
type FidelityRun struct {
	Queue    QueueModel    `json:"queue"`
	CC       string        `json:"cc"`
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	// Netem and DelayLine are the lab's Plan.Netem and Plan.DelayLine: whether link
	// latencies were applied by netem, by userspace delay lines, or (both false, on a
	// network with latencies) not at all. Recorded since FidelityReportVersion 2.
	Netem     bool `json:"netem"`
	DelayLine bool `json:"delay_line"`
	// Comparison is against max-min (the bottleneck model) whatever the queue.
	Comparison Comparison `json:"comparison"`
	// Queueing is against the queue model (models/queue) for the run's discipline:
	// maxmin for fq, fifo-fixed-point for fifo; with RTT and loss.
	Queueing *QueueComparison `json:"queueing,omitempty"`
	// Failed lists probe failures (flow: error), if any.
	Failed []string `json:"failed,omitempty"`
}

// Fidelity runs the experiment. The lab is deployed once per queue model and destroyed
// at the end, also on failure.
func Fidelity(ctx context.Context, n *network.Network, cfg FidelityConfig) (runs []FidelityRun, err error) {
	if len(cfg.Queues) == 0 {
		cfg.Queues = []QueueModel{QueueFQ, QueueFIFO}
	}
	if len(cfg.CCs) == 0 {
		cfg.CCs = []string{"cubic", "bbr"}
	}
	if cfg.Duration == 0 {
		cfg.Duration = 20 * time.Second
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = cfg.Duration / 4
	}
	if cfg.Warmup >= cfg.Duration {
		return nil, fmt.Errorf("%w: warmup %v must be shorter than duration %v", ErrInvalid, cfg.Warmup, cfg.Duration)
	}
	if len(n.Flows) == 0 {
		return nil, fmt.Errorf("%w: the network has no flows to measure", ErrInvalid)
	}
	for _, cc := range cfg.CCs {
		if cc != "cubic" && cc != "bbr" && cc != "reno" {
			return nil, fmt.Errorf("%w: congestion control %q (want cubic, bbr or reno)", ErrInvalid, cc)
		}
	}
	for _, q := range cfg.Queues {
		if _, err := ParseQueueModel(string(q)); err != nil {
			return nil, err
		}
	}
	for _, q := range cfg.Queues {
		o := cfg.Base
		o.Queue = q
		b := &Netns{Options: o, ProbeCmd: cfg.ProbeCmd, DelayCmd: cfg.DelayCmd, StateDir: cfg.StateDir}
		if err := WithLab(ctx, b, n, func(ctx context.Context) error {
			qruns, err := fidelityRuns(ctx, b, n, q, cfg)
			runs = append(runs, qruns...)
			return err
		}); err != nil {
			return runs, err
		}
	}
	return runs, nil
}

func fidelityRuns(ctx context.Context, b *Netns, n *network.Network, q QueueModel, cfg FidelityConfig) ([]FidelityRun, error) {
	pred, err := MaxMin(n, b.Plan())
	if err != nil {
		return nil, err
	}
	var runs []FidelityRun
	for _, cc := range cfg.CCs {
		specs := FlowProbes(b.Plan(), cc, cfg.Duration, cfg.Warmup)
		res, err := b.Probe(ctx, specs)
		if err != nil {
			return runs, err
		}
		run := FidelityRun{Queue: q, CC: cc, Duration: cfg.Duration, Warmup: cfg.Warmup,
			Netem: b.Plan().Netem, DelayLine: b.Plan().DelayLine,
			Comparison: Compare(pred, res, b.Plan().Options.Scale, GoodputFactor)}
		params := queue.DefaultParams()
		if cfg.Params != nil {
			params = *cfg.Params
		}
		qc, err := CompareQueueModel(n, b.Plan(), cc, params, res)
		if err != nil {
			return runs, err
		}
		run.Queueing = &qc
		for _, r := range res {
			if !r.OK {
				run.Failed = append(run.Failed, r.ID+": "+r.Error)
			}
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// FlowProbes returns one TCP probe per flow of the plan, all with the same congestion
// control, duration and warmup.
func FlowProbes(p *Plan, cc string, d, warmup time.Duration) []ProbeSpec {
	specs := make([]ProbeSpec, 0, len(p.Flows))
	for _, f := range p.Flows {
		specs = append(specs, ProbeSpec{ID: f.ID, Kind: ProbeTCP, Src: f.Src, Dst: f.Dst, CC: cc, Duration: d, Warmup: warmup})
	}
	return specs
}
