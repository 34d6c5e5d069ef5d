package main

import (
	"context"
	"os"
	"sync"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/emulation"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// l2SandboxPrefix names the namespaces of the server's L2 sandbox (and its sweep label).
const l2SandboxPrefix = "tfl-"

// newL2Emulator builds the L2 validation sandbox of `serve --l2-sandbox`: a netns lab
// of twinflow-node agents (linux dataplane), fed the fork's network and the change's
// device operations through the production gNMI driver. It needs root.
func newL2Emulator(env *serveEnv) (pipeline.Emulator, error) {
	if os.Geteuid() != 0 {
		return nil, usageErrorf("--l2-sandbox needs root (network namespaces)")
	}
	bin, err := nodeBinary("")
	if err != nil {
		return nil, err
	}
	backend := &emulation.Netns{
		Options:  emulation.Options{Lab: "l2", Prefix: l2SandboxPrefix, Queue: emulation.QueueFQ},
		NodeCmd:  []string{bin, "--dataplane", "linux", "--insecure"},
		ProbeCmd: []string{bin, "probe"},
		Config:   gnmiConfigurer{},
	}
	env.OnShutdown(func(ctx context.Context) error { return backend.Destroy(ctx) })
	env.Notes = append(env.Notes, "L2 sandbox: changes proposed at level L2 run in network namespaces "+l2SandboxPrefix+"l2.*")
	return &serialEmulator{e: pipeline.SandboxEmulator{Sandbox: &emulation.Sandbox{Backend: backend, Config: gnmiConfigurer{}}}}, nil
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
