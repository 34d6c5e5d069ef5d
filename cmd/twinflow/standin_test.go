package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeDemoStandIn runs `twinflow serve --demo` as a process: it must start a
// twinflow-node per demo device, publish each device's gNMI address, answer gNMI on
// every one of them, and leave no node behind when it stops.
func TestServeDemoStandIn(t *testing.T) {
	dir := labBinaries(t)
	cmd := exec.Command(filepath.Join(dir, "twinflow"), "serve", "--demo", "--listen", "127.0.0.1:0",
		"--standin-bin", filepath.Join(dir, "twinflow-node"), "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`TwinFlow API on (http://[0-9.:]+)/api/v1`)
	var server string
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			server = m[1]
			break
		}
	}
	if server == "" {
		t.Fatal("no API address in the banner")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	out, err := runTwinflow("node", "list", "--probe", "--insecure", "--server", server, "-o", "json")
	if err != nil {
		t.Fatalf("node list: %v\n%s", err, out)
	}
	var rows []nodeRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 4 {
		t.Fatalf("%d devices; want the demo network", len(rows))
	}
	for _, r := range rows {
		if r.Address == "" || r.GNMI != "ok" {
			t.Errorf("device %s: address %q gnmi %q; want a reachable gNMI address", r.ID, r.Address, r.GNMI)
		}
	}
	out, err = runTwinflow("node", "show", rows[0].ID, "--insecure", "--server", server)
	if err != nil || !strings.Contains(out, rows[0].ID) {
		t.Fatalf("node show %s: %v\n%s", rows[0].ID, err, out)
	}
	// The demo's rate-capped flows drive the stand-in counters.
	moving := false
	for deadline := time.Now().Add(10 * time.Second); !moving && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, r := range rows {
			out, err := runTwinflow("node", "show", "--address", r.Address, "--insecure", "-o", "json")
			if err != nil {
				t.Fatalf("node show %s: %v", r.ID, err)
			}
			var s nodeShow
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatal(err)
			}
			for _, i := range s.Interfaces {
				if i.OutOctets != "0" && i.OutOctets != "" {
					moving = true
				}
			}
		}
	}
	if !moving {
		t.Error("no stand-in interface counts traffic; the demo flows should drive the counters")
	}
	// The same telemetry is kept as history in the repository: some interface's
	// out_rate_gbps series has samples and a positive rate.
	found := false
	for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		out, err := runTwinflow("telemetry", "series", "--server", server, "-o", "json")
		if err != nil {
			t.Fatalf("telemetry series: %v\n%s", err, out)
		}
		var series []struct{ Device, Interface, Metric string }
		if err := json.Unmarshal([]byte(out), &series); err != nil {
			t.Fatalf("telemetry series: %v\n%s", err, out)
		}
		for _, s := range series {
			if s.Metric != "out_rate_gbps" || found {
				continue
			}
			out, err := runTwinflow("telemetry", "range", s.Device, "--interface", s.Interface, "--metric", s.Metric,
				"--since", "1m", "--server", server, "-o", "json")
			if err != nil {
				t.Fatalf("telemetry range: %v\n%s", err, out)
			}
			var rr struct{ Points []struct{ Max float64 } }
			if err := json.Unmarshal([]byte(out), &rr); err != nil {
				t.Fatal(err)
			}
			for _, p := range rr.Points {
				if p.Max > 0 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("no positive out_rate_gbps sample in the telemetry history after 10s")
	}
	// Stop the server: every node must go with it.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	// serve stops every node (and waits for it to exit) before it exits itself
	for _, r := range rows {
		if _, err := runTwinflow("node", "show", "--address", r.Address, "--insecure", "--timeout", "1s"); err == nil {
			t.Errorf("node %s still answers at %s after serve stopped", r.ID, r.Address)
		}
	}
}
