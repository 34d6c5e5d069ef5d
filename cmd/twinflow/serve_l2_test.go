package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/labs/labtest"
)

// TestServeL2Sandbox: `serve --demo --l2-sandbox` validates a change proposed at level
// L2 in a network-namespace sandbox (pings between the demo's hosts over the mirrored
// fork) and removes the sandbox when it stops.
func TestServeL2Sandbox(t *testing.T) {
	requireRoot(t, "the L2 sandbox needs root")
	labtest.Lock(t, server.L2SandboxPrefix+server.L2SandboxLab)
	dir := labBinaries(t)
	s := serveBinary(t, filepath.Join(dir, "twinflow"), "--demo", "--l2-sandbox", "--log-level", "warn")
	srv := s.URL
	cs := writeFile(t, "l2.yaml", "label: mtu at L2\nkind: raw-config\nlevel: L2\ndevice_ops:\n  leaf-0:\n"+
		"    - {op: update, path: \"/interfaces/interface[name=eth1]/config/mtu\", value: 9000}\n")
	out := mustCLI(t, srv, "change", "propose", "-f", cs)
	if !strings.Contains(out, "VALIDATED") || strings.Count(out, "l2.reachability") < 8 || strings.Contains(out, " fail ") {
		t.Fatalf("L2 proposal:\n%s", out)
	}
	if err := s.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("stop: %v", err)
	}
	left, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(left), server.L2SandboxPrefix) {
		t.Fatalf("sandbox namespaces left after serve stopped:\n%s", left)
	}
}
