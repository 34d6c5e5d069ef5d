package server

import (
	"context"
	"errors"
	"os"
	"sync"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/emulation"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// L2SandboxPrefix names the namespaces of the server's L2 sandbox (and its sweep label).
const L2SandboxPrefix = "tfl-"

// L2SandboxLab is the L2 sandbox's lab name: its label is L2SandboxPrefix+L2SandboxLab.
const L2SandboxLab = "l2"

// newL2Emulator builds the L2 validation sandbox (ChangesConfig.L2Sandbox): a netns lab
// of twinflow-node agents (linux dataplane), fed the fork's network and the change's
// device operations through the production gNMI driver. It needs root.
func newL2Emulator(env *assembly, nodeBin string) (pipeline.Emulator, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the L2 sandbox needs root (network namespaces)")
	}
	bin, err := NodeBinary(nodeBin)
	if err != nil {
		return nil, err
	}
	backend := l2Backend(bin)
	env.onShutdown(func(ctx context.Context) error { return backend.Destroy(ctx) })
	env.notes = append(env.notes, "L2 sandbox: changes proposed at level L2 run in network namespaces "+L2SandboxPrefix+L2SandboxLab+".*")
	return &serialEmulator{e: &pipeline.SandboxEmulator{Sandbox: &emulation.Sandbox{Backend: backend, Config: GNMIConfigurer{}}}}, nil
}

// l2Backend is the L2 sandbox's netns backend with twinflow-node at bin as the device
// agent, the probe agent and the delay line: where the kernel has no netem, links with
// a latency get it from a delay line (`twinflow-node delay`), so that the sandbox's
// RTTs include the fork's propagation delays.
func l2Backend(bin string) *emulation.Netns {
	return &emulation.Netns{
		Options:  emulation.Options{Lab: L2SandboxLab, Prefix: L2SandboxPrefix, Queue: emulation.QueueFQ, FirstPathWins: true},
		NodeCmd:  []string{bin, "--dataplane", "linux", "--insecure"},
		ProbeCmd: []string{bin, "probe"},
		DelayCmd: []string{bin, "delay"},
		Config:   GNMIConfigurer{},
	}
}

// GNMIConfigurer pushes config rules to a sandbox node with the production gNMI driver
// (physical/gnmi), over plaintext: sandbox nodes run with --insecure.
type GNMIConfigurer struct{}

// Push implements emulation.Configurer.
func (GNMIConfigurer) Push(ctx context.Context, node emulation.NodeInfo, rules []network.ConfigRule) error {
	return tfgnmi.ApplyRules(ctx, tfgnmi.Options{Address: node.GNMIAddress, Insecure: true}, rules)
}

// serialEmulator runs one L2 validation at a time: there is one sandbox lab, and each
// validation mirrors its own fork into it.
type serialEmulator struct {
	mu sync.Mutex // serializes ValidateL2
	e  pipeline.Emulator
}

func (s *serialEmulator) ValidateL2(ctx context.Context, fork *twin.Twin, cs *change.ChangeSet, predicted *change.Report) ([]change.Check, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e.ValidateL2(ctx, fork, cs, predicted)
}
