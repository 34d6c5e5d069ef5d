package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNodeCommands drives a twinflow-node process with `twinflow node show|get|set`.
func TestNodeCommands(t *testing.T) {
	addr := startStandIn(t, "cli-r1")
	conn := []string{"--address", addr, "--insecure"}
	out, err := runTwinflow(append([]string{"node", "show"}, conn...)...)
	if err != nil || !strings.Contains(out, "cli-r1") || !strings.Contains(out, "eth2") {
		t.Fatalf("node show: %v\n%s", err, out)
	}
	out, err = runTwinflow(append([]string{"node", "set", "--update", "/interfaces/interface[name=eth1]/config/mtu=9000",
		"--update", `/interfaces/interface[name=eth1]/config/description="core uplink"`}, conn...)...)
	if err != nil {
		t.Fatalf("node set: %v\n%s", err, out)
	}
	out, err = runTwinflow(append([]string{"node", "get", "-o", "json", "/interfaces/interface[name=eth1]/config"}, conn...)...)
	if err != nil {
		t.Fatalf("node get: %v\n%s", err, out)
	}
	var vs []struct {
		Path  string `json:"path"`
		Value struct {
			MTU  int    `json:"mtu"`
			Desc string `json:"description"`
		} `json:"value"`
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) != 1 || vs[0].Value.MTU != 9000 || vs[0].Value.Desc != "core uplink" {
		t.Fatalf("node get = %v\n%s", err, out)
	}
	// A bad value is refused by the device with the offending path named.
	_, err = runTwinflow(append([]string{"node", "set", "--update", "/interfaces/interface[name=eth1]/config/mtu=true"}, conn...)...)
	if err == nil || !strings.Contains(err.Error(), "config/mtu") || !strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("bad set error = %v", err)
	}
	for _, args := range [][]string{
		{"node", "set"},
		{"node", "set", "--update", "/interfaces/interface[name=eth1]/config/mtu"},
		{"node", "get", "/a//b"},
		{"node", "get", "--type", "bogus", "/system"},
	} {
		_, err := runTwinflow(append(args, conn...)...)
		if exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v); want usage error 2", args, exitCode(err), err)
		}
	}
}

// TestFmtRate: measured rates print with four significant digits, not sixteen.
func TestFmtRate(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1.9999999999999998: "2", 0.123456789: "0.1235", 39.98712345: "39.99",
		1234.5678: "1235", 98765.4321: "98765", 2e-7: "2e-07"} {
		if got := fmtRate(v); got != want {
			t.Errorf("fmtRate(%v) = %q; want %q", v, got, want)
		}
	}
}
