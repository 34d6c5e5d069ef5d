package server

import (
	"slices"
	"testing"
)

// The L2 sandbox runs twinflow-node as device agent, probe agent and delay line (issue
// 16: the sandbox's RTTs include the fork's link latencies where the kernel has no
// netem).
func TestL2BackendWiresDelayLine(t *testing.T) {
	const bin = "/opt/tf/twinflow-node"
	b := l2Backend(bin)
	if want := []string{bin, "delay"}; !slices.Equal(b.DelayCmd, want) {
		t.Errorf("DelayCmd = %q, want %q", b.DelayCmd, want)
	}
	if want := []string{bin, "probe"}; !slices.Equal(b.ProbeCmd, want) {
		t.Errorf("ProbeCmd = %q, want %q", b.ProbeCmd, want)
	}
	if len(b.NodeCmd) == 0 || b.NodeCmd[0] != bin || b.Config == nil {
		t.Errorf("NodeCmd = %q, Config %v: want agents from %s with a configurer", b.NodeCmd, b.Config, bin)
	}
	if got := b.Options.Label(); got != L2SandboxPrefix+L2SandboxLab {
		t.Errorf("label %q, want %q", got, L2SandboxPrefix+L2SandboxLab)
	}
}
