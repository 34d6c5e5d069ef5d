package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/apps/upgrade"
	"github.com/twinflow/twinflow/labs/node"
	"github.com/twinflow/twinflow/labs/node/osimage"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/gnoi"
)

// upgradeRing writes a network file of the ring a - b - c - d - a with the nodes'
// addresses and a flow a→c, and returns its path.
func upgradeRing(t *testing.T, addrs map[string]string) string {
	t.Helper()
	n := network.Network{}
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		n.Devices = append(n.Devices, network.Device{ID: id, Type: network.DeviceRouter, Address: addrs[id],
			Drivers: []network.DriverKind{network.DriverGNMI}, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}})
	}
	for i := range ids {
		j := (i + 1) % len(ids)
		n.Links = append(n.Links, network.Link{ID: ids[i] + "-" + ids[j], CapacityGbps: 10, LatencyMs: 1,
			Endpoints: []network.EndPointRef{{Device: ids[i], EndPoint: "eth2"}, {Device: ids[j], EndPoint: "eth1"}}})
	}
	n.Flows = []network.Flow{{ID: "f-ac", Src: "a", Dst: "c"}}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "net.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func nodeVersion(t *testing.T, addr string) string {
	t.Helper()
	out, err := runTwinflow("node", "get", "--address", addr, "--insecure", "--type", "state", "-o", "json", "/system/state/software-version")
	if err != nil {
		t.Fatalf("node get: %v\n%s", err, out)
	}
	var vs []struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) != 1 {
		t.Fatalf("node get: %v\n%s", err, out)
	}
	return vs[0].Value
}

// TestUpgradeRollout drives four twinflow-node processes over gNOI OS and gNMI with
// `twinflow upgrade run`, the ledger in PostgreSQL (REQ-AUTO-06, REQ-AUTO-08,
// REQ-DLT-03): a good rollout upgrades every wave; a rollout whose second wave holds a
// node that comes back on the old version after its reboot rolls that wave back and
// stops before the third; the twin refuses a wave whose reboot would cut a transit
// flow; the ledger holds each device's version history.
func TestUpgradeRollout(t *testing.T) {
	dsn := ledgerTestPG(t)
	addrs := map[string]string{}
	for _, id := range []string{"a", "b", "c", "d"} {
		addrs[id] = startStandIn(t, "up-"+id)
	}
	netFile := upgradeRing(t, addrs)
	dir := t.TempDir()
	img := func(version, inject string) string {
		p := filepath.Join(dir, version+inject+".img")
		args := []string{"upgrade", "image", "--version", version, "-o", p}
		if inject != "" {
			args = append(args, "--inject", inject)
		}
		if out, err := runTwinflow(args...); err != nil {
			t.Fatalf("upgrade image: %v\n%s", err, out)
		}
		return p
	}
	run := func(version, image string, waves ...string) (upgrade.Report, error) {
		args := []string{"upgrade", "run", "--version", version, "--image", image, "--network", netFile, "--insecure",
			"--db", dsn, "--health-timeout", "2s", "-o", "json"}
		for _, w := range waves {
			args = append(args, "--wave", w)
		}
		out, err := runTwinflow(args...)
		var rep upgrade.Report
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
			t.Fatalf("upgrade run output: %v\n%s (%v)", jerr, out, err)
		}
		return rep, err
	}

	// 1. A good rollout: every wave upgraded; gNMI reports the new version.
	rep, err := run("2.0", img("2.0", ""), "a", "b,c", "d")
	if err != nil || !rep.OK || len(rep.Waves) != 3 {
		t.Fatalf("rollout 2.0: %v %+v", err, rep)
	}
	for id, addr := range addrs {
		if v := nodeVersion(t, addr); v != "2.0" {
			t.Fatalf("%s reports %q after the rollout", id, v)
		}
	}

	// 2. Node c holds a 3.0 image that does not boot (installed beforehand with the
	// gnoi module's client, as a device whose flash holds a bad image): wave 2 fails its
	// health check, b and c are rolled back to 2.0, wave 3 (d) is never touched.
	conn, err := grpc.NewClient(addrs["c"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bad, err := os.ReadFile(img("3.0", osimage.InjectBootOld))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := gnoi.NewOS(conn).Install(ctx, "3.0", strings.NewReader(string(bad)), int64(len(bad))); err != nil {
		t.Fatal(err)
	}
	rep, err = run("3.0", img("3.0", ""), "a", "b,c", "d")
	if err == nil || !rep.Stopped || len(rep.Waves) != 2 || !rep.Waves[0].OK || rep.Waves[1].OK {
		t.Fatalf("rollout 3.0: %v %+v", err, rep)
	}
	if !strings.Contains(rep.Reason, "c:") || !strings.Contains(rep.Reason, "2.0") {
		t.Errorf("reason %q should name c and the version it came back on", rep.Reason)
	}
	want := map[string]string{"a": "3.0", "b": "2.0", "c": "2.0", "d": "2.0"}
	for id, v := range want {
		if got := nodeVersion(t, addrs[id]); got != v {
			t.Errorf("%s runs %q after the stopped rollout, want %q", id, got, v)
		}
	}

	// 3. The twin refuses a wave whose reboot cuts both paths of the transit flow a→c.
	rep, err = run("3.0", img("3.0", ""), "b,d")
	if err == nil || rep.Waves[0].Twin.OK || !strings.Contains(rep.Reason, "f-ac") {
		t.Fatalf("transit wave: %v %+v", err, rep)
	}
	if got := nodeVersion(t, addrs["b"]); got != "2.0" {
		t.Errorf("b runs %q after a refused wave", got)
	}

	// 4. The ledger holds each device's version history.
	out, err := runTwinflow("upgrade", "history", "b", "--db", dsn, "-o", "json")
	if err != nil {
		t.Fatalf("history: %v\n%s", err, out)
	}
	var hist []struct {
		upgrade.SoftwareRecord
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, h := range hist {
		got = append(got, fmt.Sprintf("%s>%s:%s=%s", h.From, h.To, h.Result, h.Running))
	}
	if strings.Join(got, " ") != node.DefaultVersion+">2.0:upgraded=2.0 2.0>3.0:rolled-back=2.0" {
		t.Errorf("b's history %v", got)
	}
	out, err = runTwinflow("upgrade", "history", "d", "--db", dsn, "-o", "json")
	if err != nil || strings.Count(out, `"rollout"`) != 1 {
		t.Errorf("d's history (one upgrade, never touched after): %v\n%s", err, out)
	}
	if out, err := runTwinflow("ledger", "verify", "--db", dsn); err != nil {
		t.Errorf("ledger verify: %v\n%s", err, out)
	}

	// 5. The network may come from a server's live twin instead of a file.
	srv := runServer(t, server.Config{})
	mustCLI(t, srv, "apply", "-f", netFile, "--as", "admin")
	out, errs, code := cli(t, srv, "upgrade", "run", "--version", "4.0", "--image", img("4.0", ""), "--wave", "a", "--insecure", "--as", "admin")
	if code != 0 || !strings.Contains(out, "upgraded") {
		t.Fatalf("rollout from the server's twin: exit %d\n%s%s", code, out, errs)
	}
	if got := nodeVersion(t, addrs["a"]); got != "4.0" {
		t.Errorf("a runs %q after the rollout from the server's twin", got)
	}

	// Bad input is a usage error.
	for _, args := range [][]string{
		{"upgrade", "run", "--version", "2.0", "--image", img("2.0", ""), "--network", netFile, "--insecure"},
		{"upgrade", "run", "--version", "2.0", "--image", img("2.0", ""), "--network", netFile, "--insecure", "--wave", "zz"},
		{"upgrade", "run", "--version", "2.0", "--image", filepath.Join(dir, "none"), "--network", netFile, "--wave", "a"},
		{"upgrade", "image", "--version", "../x", "-o", filepath.Join(dir, "x.img")},
	} {
		if _, err := runTwinflow(args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
}
