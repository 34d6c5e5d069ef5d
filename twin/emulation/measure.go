package emulation

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/twinflow/twinflow/models/network"
)

// Available reports why the netns backend cannot run on this machine (an error
// wrapping ErrUnavailable), or nil: it needs Linux with network namespaces, root and
// iproute2 (ip, tc).
func Available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: the netns backend needs Linux, this is %s", ErrUnavailable, runtime.GOOS)
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("%w: no network namespaces here: %v", ErrUnavailable, err)
	}
	return requireRoot()
}

// WithLab deploys n in b, calls fn and destroys the lab afterwards, also when fn fails
// or ctx is canceled (the destroy gets 30 s of its own). fn's error comes first, then
// the destroy's.
func WithLab(ctx context.Context, b *Netns, n *network.Network, fn func(context.Context) error) error {
	if err := b.Deploy(ctx, n); err != nil {
		return err
	}
	err := fn(ctx)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	derr := b.Destroy(dctx)
	cancel()
	if err != nil {
		return err
	}
	return derr
}

// MeasureFlows deploys n in b, runs every flow of n as one TCP connection with
// congestion control cc for d (the first warmup not measured, FlowProbes) and destroys
// the lab. A flow whose probe failed has OK false in its result. latency is how the
// deployed lab applied the links' latencies (Plan.Latency), known only while it ran.
func MeasureFlows(ctx context.Context, b *Netns, n *network.Network, cc string, d, warmup time.Duration) (res []ProbeResult, latency string, err error) {
	err = WithLab(ctx, b, n, func(ctx context.Context) error {
		latency = b.Plan().Latency() // known once deployed (netem probed, delay lines up)
		var err error
		res, err = b.Probe(ctx, FlowProbes(b.Plan(), cc, d, warmup))
		return err
	})
	return res, latency, err
}

// NetworkGbps converts a TCP goodput measured in a lab of the given scale (bit/s) back
// into the network's units (Gb/s): the inverse of the goodput Compare expects for a
// model rate (rate × 1e9 × scale × GoodputFactor).
func NetworkGbps(goodputBps, scale float64) float64 {
	return goodputBps / (scale * GoodputFactor) / 1e9
}
