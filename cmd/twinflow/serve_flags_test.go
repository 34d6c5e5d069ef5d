package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeBadFlagsStartNothing: serve's flags are checked before anything
// starts: a bad one exits 2 naming it, before the demo network or its stand-in nodes
// come up.
func TestServeBadFlagsStartNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := labBinaries(t) + "/twinflow"
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	badRules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(badRules, []byte("rules:\n  - name: auto-slices\n    min_margin: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--approval-rules=" + badRules}, "rules[0].min_margin: -1"},
		{[]string{"--demo", "--telemetry-sample=2s"}, "--telemetry-sample must be in (0, 1s], got 2s"},
		{[]string{"--demo", "--standin-sample=0s"}, "--telemetry-sample must be in (0, 1s], got 0s"},
		{[]string{"--demo", "--commit-concurrency=0"}, "--commit-concurrency must be at least 1, got 0"},
		{[]string{"--demo", "--device-timeout=-1s"}, "--device-timeout must be positive, got -1s"},
		{[]string{"--demo", "--gnmi-skip-verify"}, "--gnmi-ca and --gnmi-skip-verify do not apply to the demo's plaintext gNMI"},
		{[]string{"--gnmi-insecure", "--gnmi-ca=" + notPEM}, "--gnmi-insecure conflicts with --gnmi-ca and --gnmi-skip-verify"},
		{[]string{"--gnmi-ca=" + notPEM}, "--gnmi-ca: gnmi: invalid options: no certificates in " + notPEM},
		{[]string{"--gnmi-ca=" + notPEM + ".missing"}, "--gnmi-ca: gnmi: invalid options: read CA file"},
		{[]string{"--allow-self-approval"}, "--allow-self-approval exists only with --demo"},
		{[]string{"--tls-cert=x.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--plain-http", "--listen=0.0.0.0:0"}, "--plain-http needs a loopback --listen address"},
		{[]string{"--token-dir=/tmp/x"}, "--token-dir applies to --demo only"},
		{[]string{"--demo", "--monitor-settle=0s"}, "--monitor-settle must be in (0, 1h], got 0s"},
		{[]string{"--demo", "--divergence-bound=0"}, "--divergence-bound/--divergence-floor-gbps"},
		{[]string{"--demo", "--divergence-floor-gbps=-1"}, "--divergence-bound/--divergence-floor-gbps"},
		{[]string{"--demo", "--broker=" + notPEM + ".missing"}, "--broker: open " + notPEM + ".missing"},
		{[]string{"--demo", "--broker=" + notPEM}, "--broker: " + notPEM + ": invalid broker configuration: invalid character"},
		{[]string{"--demo", "--alto=false", "--broker=" + notPEM}, "--broker serves under /alto/: it does not go with --alto=false"},
	} {
		flag := strings.Join(c.flags, " ")
		// a serve that wrongly starts is killed after 30 s (and the case fails)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--db", "file:" + filepath.Join(t.TempDir(), "x.db")}, c.flags...)...)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit 2\n%s", flag, err, out)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: output lacks %q:\n%s", flag, c.want, out)
		}
		if strings.Contains(string(out), "demo network loaded") || strings.Contains(string(out), "node up") || strings.Contains(string(out), "TwinFlow API on") {
			t.Errorf("%s: serve started something before refusing the flag:\n%s", flag, out)
		}
	}
}
