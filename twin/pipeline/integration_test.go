package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// gnmiCLIGet reads one path from a node with the independent gnmi_cli client.
func gnmiCLIGet(t *testing.T, addr, path string) string {
	t.Helper()
	cli := os.Getenv("TWINFLOW_GNMI_CLI")
	if cli == "" {
		requireIntegration(t, "TWINFLOW_GNMI_CLI not set: the independent read-back needs gnmi_cli")
	}
	p, err := change.ParsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("path: <")
	for _, e := range p {
		fmt.Fprintf(&b, "elem: <name: %q", e.Name)
		for _, k := range e.KeyNames() {
			fmt.Fprintf(&b, " key: <key: %q value: %q>", k, e.Key[k])
		}
		b.WriteString("> ")
	}
	b.WriteString("> encoding: JSON_IETF")
	out, err := exec.Command(cli, "-address", addr, "-insecure", "-get", "-timeout", "10s", "-proto", b.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("gnmi_cli get %s: %v\n%s", path, err, out)
	}
	return string(out)
}

// TestEndToEnd proposes a change, sees it validated in a fork, commits it and reads
// the new configuration back from the devices with gnmi_cli.
func TestEndToEnd(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	cs := mtuChange("e2e", 9000, "tfc-r1", "tfc-r2", "tfc-r3")
	cs.Kind = change.KindIntent
	cs.Twin.AddFlows = []change.FlowSpec{{Flow: flowOf("acme", "tfc-r1", "tfc-r3"), SLO: &change.SLO{MinRateGbps: 2, MaxLatencyMs: 10}}}
	c, err := l.svc.Propose(ctx, cs, "bo")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateValidated {
		t.Fatalf("state %s; failed: %+v", c.State, c.Report.Failed())
	}
	// the fork's model predicted the new flow's rate and its effect on "bulk"
	var rate, lat float64
	for _, k := range c.Report.KPIs {
		if k.Subject == "acme" && k.Name == "rate" {
			rate = *k.After
		}
		if k.Subject == "acme" && k.Name == "latency" {
			lat = *k.After
		}
	}
	// latency: 4 ms of propagation plus acme's (cubic) own fq queue at its 5 Gb/s share
	// (models/queue: its sawtooth's mean 0.925 × 100 packets × 1514 B / 5 Gb/s = 0.224072 ms)
	if rate != 5 || math.Abs(lat-4.224072) > 1e-6 {
		t.Errorf("acme predicted rate %v Gb/s latency %v ms; want 5 (half of l1) and 4.224072", rate, lat)
	}
	if len(c.Report.Ripple) != 1 || c.Report.Ripple[0].Flow != "bulk" || c.Report.Ripple[0].AfterGbps != 5 {
		t.Errorf("ripple %+v; want bulk 10 -> 5", c.Report.Ripple)
	}
	// the live twin is untouched by validation
	if _, err := l.twins.Live().Flow("acme"); err == nil {
		t.Fatal("validation wrote to the live twin")
	}
	diff, err := l.svc.Diff(ctx, c.ID)
	if err != nil || len(diff) != 3 || len(diff[0].Lines) == 0 {
		t.Fatalf("diff %+v %v", diff, err)
	}
	if _, err := l.svc.Approve(ctx, c.ID, "bo"); !errors.Is(err, pipeline.ErrForbidden) {
		t.Fatalf("author approving own change: %v", err)
	}
	if _, err := l.svc.Approve(ctx, c.ID, "carla"); err != nil {
		t.Fatal(err)
	}
	c, err = l.svc.Commit(ctx, c.ID, "carla", 0)
	if err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit: %v %+v", err, c)
	}
	for _, nd := range l.nodes {
		out := gnmiCLIGet(t, nd.gnmiAddr, "/interfaces/interface[name=eth1]/config/mtu")
		if !strings.Contains(out, "9000") {
			t.Errorf("%s: gnmi_cli read-back lacks mtu 9000:\n%s", nd.name, out)
		}
	}
	// the live twin advanced: configs and the flow with its routed path
	f, err := l.twins.Live().Flow("acme")
	if err != nil || strings.Join(f.Path, ",") != "l1,l2" {
		t.Errorf("live flow acme: %+v %v", f, err)
	}
	got, _ := l.svc.Get(ctx, c.ID)
	var states []string
	for _, tr := range got.Transitions {
		states = append(states, string(tr.To))
	}
	if want := "validating,validated,approved,committing,committed"; strings.Join(states, ",") != want {
		t.Errorf("transitions %v; want %s", states, want)
	}
	v, err := l.store.Ledger().Verify(ctx)
	if err != nil || !v.OK {
		t.Errorf("ledger verify: %+v %v", v, err)
	}
}

func flowOf(id, src, dst string) (f changeFlow) {
	f.ID, f.Src, f.Dst = id, src, dst
	return f
}

// TestFailedValidationSendsNoSet: a change that fails L0 never reaches a device.
func TestFailedValidationSendsNoSet(t *testing.T) {
	l := newLab(t, 2)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1"))
	before := l.snapshot(t)
	// duplicate IP: r2 gets r1's address 10.9.1.1
	bad := mtuChange("dup", 9100, "tfc-r2")
	c, err := l.svc.Propose(ctx, bad, "bo")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateRejected {
		t.Fatalf("state %s; want rejected", c.State)
	}
	failed := c.Report.Failed()
	if len(failed) != 1 || failed[0].Name != "l0.conflicts.ip" {
		t.Fatalf("failed checks %+v", failed)
	}
	if _, err := l.svc.Approve(ctx, c.ID, "carla"); !errors.Is(err, pipeline.ErrState) {
		t.Fatalf("approve rejected: %v", err)
	}
	if _, err := l.svc.Commit(ctx, c.ID, "carla", 0); !errors.Is(err, pipeline.ErrState) {
		t.Fatalf("commit rejected: %v", err)
	}
	sameConfigs(t, "after a rejected change", before, l.snapshot(t))
	if _, err := l.journal.Load(ctx, c.ID); err == nil {
		t.Error("the commit engine has a record of a rejected change")
	}
}

func proposeCommit(t testing.TB, l *lab, cs *change.ChangeSet) *pipeline.Change {
	t.Helper()
	c := proposeApproved(t, l, cs)
	c, err := l.svc.Commit(context.Background(), c.ID, "carla", 0)
	if err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit %s: %v state %s", cs.Label, err, c.State)
	}
	return c
}

// TestFaultDeviceRejectsSet: one device refuses its Set; every device ends at its
// pre-image and the change is rolled back.
func TestFaultDeviceRejectsSet(t *testing.T) {
	l := newLab(t, 4)
	for rep := range 3 {
		before := l.snapshot(t)
		victim := l.nodes[rep%len(l.nodes)]
		victim.failNextApply(t)
		c := proposeApproved(t, l, mtuChange(fmt.Sprintf("reject-%d", rep), 9000+rep, "tfc-r1", "tfc-r2", "tfc-r3", "tfc-r4"))
		c, err := l.svc.Commit(context.Background(), c.ID, "carla", 0)
		if err == nil || c.State != change.StateRolledBack {
			t.Fatalf("rep %d: state %s err %v", rep, c.State, err)
		}
		if st := c.Commit.Devices[victim.name].Status; st != change.DeviceUnchanged {
			t.Errorf("rep %d: victim status %s", rep, st)
		}
		sameConfigs(t, fmt.Sprintf("rep %d after rejection", rep), before, l.snapshot(t))
	}
}

// killingDevices kills a node process just before its Set: the node dies mid-commit,
// after the pre-images were captured and while other devices are being set.
type killingDevices struct {
	inner  commit.Devices
	victim *node
	armed  chan struct{}
}

func (k *killingDevices) Device(ctx context.Context, id string) (commit.Device, error) {
	d, err := k.inner.Device(ctx, id)
	if err != nil || id != k.victim.name {
		return d, err
	}
	return killingDevice{Device: d, k: k}, nil
}

type killingDevice struct {
	commit.Device
	k *killingDevices
}

func (d killingDevice) Set(ctx context.Context, ops []change.Op) error {
	select {
	case <-d.k.armed:
		d.k.victim.kill()
	default:
	}
	return d.Device.Set(ctx, ops)
}

// TestFaultDeviceDiesMidCommit: a node process is killed mid-commit; every other
// device is restored to its pre-image and the change is rolled back.
func TestFaultDeviceDiesMidCommit(t *testing.T) {
	for rep := range 3 {
		t.Run(fmt.Sprint(rep), func(t *testing.T) {
			l := newLab(t, 4)
			victim := l.nodes[rep%len(l.nodes)]
			kd := &killingDevices{victim: victim, armed: make(chan struct{})}
			l.close()
			l.open(t, func(d commit.Devices) commit.Devices { kd.inner = d; return kd })
			proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1", "tfc-r2", "tfc-r3", "tfc-r4"))
			before := l.snapshot(t)
			c := proposeApproved(t, l, mtuChange("dies", 9000, "tfc-r1", "tfc-r2", "tfc-r3", "tfc-r4"))
			close(kd.armed)
			c, err := l.svc.Commit(context.Background(), c.ID, "carla", 0)
			if err == nil || c.State != change.StateRolledBack {
				t.Fatalf("state %s err %v", c.State, err)
			}
			after := l.snapshot(t)
			if _, alive := after[victim.name]; alive {
				t.Fatal("victim still answers")
			}
			sameConfigs(t, "after a device died", before, after)
			if c.Commit.Devices[victim.name].Acked {
				t.Error("the dead device acknowledged its Set")
			}
		})
	}
}

// TestFaultConfirmWindowExpires: a commit that is not confirmed in time is rolled back.
func TestFaultConfirmWindowExpires(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	for rep := range 3 {
		before := l.snapshot(t)
		c := proposeApproved(t, l, mtuChange(fmt.Sprintf("window-%d", rep), 9000+rep, "tfc-r1", "tfc-r2", "tfc-r3"))
		// The window must still be open for the checks below (a Get and a gNMI read):
		// 2 s leaves a loaded CI machine room; expiry is waited for, not assumed.
		c, err := l.svc.Commit(ctx, c.ID, "carla", 2*time.Second)
		if err != nil || c.State != change.StateCommitting {
			t.Fatalf("rep %d: commit: %v %s", rep, err, c.State)
		}
		if got, _ := l.svc.Get(ctx, c.ID); got.Commit == nil || got.Commit.Phase != change.PhaseAwaitingConfirm || got.Commit.ConfirmDeadline.IsZero() {
			t.Fatalf("rep %d: commit record during the window: %+v", rep, got.Commit)
		}
		// during the window the devices hold the intent
		if out := l.configOf(t, "tfc-r2"); !strings.Contains(fmt.Sprint(out), fmt.Sprint(9000+rep)) {
			t.Fatalf("rep %d: intent not applied during the window: %v", rep, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := l.svc.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == change.StateRolledBack {
				if !strings.Contains(got.Transitions[len(got.Transitions)-1].Reason, "confirm window expired") {
					t.Errorf("reason %q", got.Transitions[len(got.Transitions)-1].Reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rep %d: still %s after the window", rep, got.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
		sameConfigs(t, fmt.Sprintf("rep %d after expiry", rep), before, l.snapshot(t))
		if _, err := l.svc.Confirm(ctx, c.ID, "carla"); !errors.Is(err, pipeline.ErrState) {
			t.Errorf("confirm after expiry: %v", err)
		}
	}
	// and a confirmed one stays
	c := proposeApproved(t, l, mtuChange("confirmed", 9200, "tfc-r1", "tfc-r2", "tfc-r3"))
	if _, err := l.svc.Commit(ctx, c.ID, "carla", time.Minute); err != nil {
		t.Fatal(err)
	}
	c, err := l.svc.Confirm(ctx, c.ID, "carla")
	if err != nil || c.State != change.StateCommitted {
		t.Fatalf("confirm: %v %s", err, c.State)
	}
	if out := gnmiCLIGet(t, l.nodes[2].gnmiAddr, "/interfaces/interface[name=eth1]/config/mtu"); !strings.Contains(out, "9200") {
		t.Errorf("confirmed mtu not on device:\n%s", out)
	}
}

// The controller crash test re-executes the test binary as the controller process.
const controllerEnv = "TFC_PIPELINE_CONTROLLER"

// controllerSpec is what the parent hands the controller process.
type controllerSpec struct {
	DSN      string            `json:"dsn"`
	Network  json.RawMessage   `json:"network"`
	Nodes    map[string]string `json:"nodes"`
	ChangeID string            `json:"change_id"`
	Slow     string            `json:"slow"`
	// SlowGet blocks the pre-image Get of this device (the controller is killed
	// before any journal record or Set).
	SlowGet string `json:"slow_get,omitempty"`
}

// slowDevices delays the Set of one device so the parent can kill the controller
// while the other devices are already set.
type slowDevices struct {
	inner   commit.Devices
	slow    string
	slowGet string
	setOK   chan string
}

func (s *slowDevices) Device(ctx context.Context, id string) (commit.Device, error) {
	d, err := s.inner.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	return slowDevice{Device: d, id: id, s: s}, nil
}

type slowDevice struct {
	commit.Device
	id string
	s  *slowDevices
}

func (d slowDevice) Get(ctx context.Context, paths []string) (map[string]json.RawMessage, error) {
	if d.id == d.s.slowGet {
		fmt.Printf("GET %s\n", d.id)
		time.Sleep(time.Hour) // killed before this returns
	}
	return d.Device.Get(ctx, paths)
}

func (d slowDevice) Set(ctx context.Context, ops []change.Op) error {
	if d.id == d.s.slow {
		time.Sleep(time.Hour) // killed before this returns
	}
	err := d.Device.Set(ctx, ops)
	if err == nil {
		fmt.Printf("SET %s\n", d.id)
	}
	return err
}

// TestMain runs the controller process when asked to.
func TestMain(m *testing.M) {
	if os.Getenv(controllerEnv) != "" {
		os.Exit(runController())
	}
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

func runController() int {
	var spec controllerSpec
	if err := json.Unmarshal([]byte(os.Getenv(controllerEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		return 2
	}
	t := &fakeT{}
	l := &lab{dsn: spec.DSN}
	if err := json.Unmarshal(spec.Network, &l.net); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		return 2
	}
	for name, addr := range spec.Nodes {
		l.nodes = append(l.nodes, &node{name: name, gnmiAddr: addr})
	}
	l.open(t, func(d commit.Devices) commit.Devices {
		return &slowDevices{inner: d, slow: spec.Slow, slowGet: spec.SlowGet}
	})
	fmt.Println("READY")
	_, err := l.svc.Commit(context.Background(), spec.ChangeID, "carla", 0)
	fmt.Println("DONE", err)
	return 0
}

// fakeT lets the harness run outside a test (in the controller process).
type fakeT struct{ testing.TB }

func (*fakeT) Helper()                   {}
func (*fakeT) Cleanup(func())            {}
func (*fakeT) Fatal(a ...any)            { fmt.Fprintln(os.Stderr, a...); os.Exit(3) }
func (*fakeT) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(3) }

// killController runs a controller process (runController) committing spec's change on
// the lab (its database, network and nodes filled in), reads its output until at(line)
// says so, then SIGKILLs it and waits for it. It reports whether at said so before the
// process exited (or 30 s passed).
func (l *lab) killController(t *testing.T, spec controllerSpec, at func(line string) bool) bool {
	t.Helper()
	spec.DSN = l.dsn
	spec.Network, _ = json.Marshal(l.net)
	spec.Nodes = map[string]string{}
	for _, nd := range l.nodes {
		spec.Nodes[nd.name] = nd.gnmiAddr
	}
	env, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), controllerEnv+"="+string(env))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	timeout := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	reached := false
	for sc := bufio.NewScanner(out); !reached && sc.Scan(); {
		reached = at(sc.Text())
	}
	timeout.Stop()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && reached {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return reached
}

// TestControllerKilledMidCommit: the controller is SIGKILLed while a commit is half
// applied; a restarted controller rolls every device back to its pre-image and the
// change says rolled_back.
func TestControllerKilledMidCommit(t *testing.T) {
	for rep := range 2 {
		t.Run(fmt.Sprint(rep), func(t *testing.T) {
			l := newLab(t, 4)
			ctx := context.Background()
			proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1", "tfc-r2", "tfc-r3", "tfc-r4"))
			before := l.snapshot(t)
			c := proposeApproved(t, l, mtuChange("crash", 9000, "tfc-r1", "tfc-r2", "tfc-r3", "tfc-r4"))
			l.close() // the controller process takes over the database

			sets := 0
			l.killController(t, controllerSpec{ChangeID: c.ID, Slow: l.nodes[3-rep].name}, func(line string) bool {
				if strings.HasPrefix(line, "SET ") {
					sets++
				}
				return sets == 3 // every device but the slow one holds the intent
			})
			if sets != 3 {
				t.Fatalf("controller set %d devices before exiting", sets)
			}
			// Three devices hold the intent now: half applied.
			l.open(t, nil)
			mid := l.snapshot(t)
			changed := 0
			for dev := range before {
				if len(change.DiffTrees(before[dev], mid[dev])) > 0 {
					changed++
				}
			}
			if changed != 3 {
				t.Fatalf("%d devices changed before recovery; want 3", changed)
			}
			got, _ := l.svc.Get(ctx, c.ID)
			if got.State != change.StateCommitting {
				t.Fatalf("state after the crash %s; want committing", got.State)
			}
			if err := l.svc.Recover(ctx); err != nil {
				t.Fatalf("recover: %v", err)
			}
			got, _ = l.svc.Get(ctx, c.ID)
			if got.State != change.StateRolledBack {
				t.Fatalf("state after recovery %s", got.State)
			}
			sameConfigs(t, "after recovery", before, l.snapshot(t))
		})
	}
}

var _ = twin.LiveID

// TestControllerKilledDuringPreImages: the move to committing is stored with the first
// journal record (the pre-images), so a controller killed while it reads the
// pre-images leaves the change approved, with no journal record and no device
// touched; a restarted controller commits it.
func TestControllerKilledDuringPreImages(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1", "tfc-r2", "tfc-r3"))
	before := l.snapshot(t)
	c := proposeApproved(t, l, mtuChange("crash", 9000, "tfc-r1", "tfc-r2", "tfc-r3"))
	l.close()

	if !l.killController(t, controllerSpec{ChangeID: c.ID, SlowGet: "tfc-r2"}, func(line string) bool { return line == "GET tfc-r2" }) {
		t.Fatal("controller exited before reading the pre-images")
	}

	l.open(t, nil)
	sameConfigs(t, "after the crash", before, l.snapshot(t))
	got, err := l.svc.Get(ctx, c.ID)
	if err != nil || got.State != change.StateApproved || got.Commit != nil {
		t.Fatalf("after the crash: %v %+v; want approved without a commit record", err, got)
	}
	if _, err := l.journal.Load(ctx, c.ID); !errors.Is(err, pipeline.ErrUnknownCommit) {
		t.Fatalf("journal record after a crash before the pre-images were journaled: %v", err)
	}
	if err := l.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ = l.svc.Get(ctx, c.ID); got.State != change.StateApproved {
		t.Fatalf("state after recovery %s; want approved", got.State)
	}
	if got, err = l.svc.Commit(ctx, c.ID, "carla", 0); err != nil || got.State != change.StateCommitted {
		t.Fatalf("commit after restart: %v %+v", err, got)
	}
	for _, tr := range got.Transitions {
		if tr.To == repository.StateCommitting && tr.From != repository.StateApproved {
			t.Errorf("transition %+v", tr)
		}
	}
	for dev, cfg := range l.snapshot(t) {
		if !containsMTU(cfg, 9000) {
			t.Errorf("%s not at the intent: %v", dev, cfg)
		}
	}
	res, err := l.store.Ledger().Verify(ctx)
	if err != nil || !res.OK {
		t.Fatalf("ledger: %+v %v", res, err)
	}
}

// TestPostgres runs a commit, a rejected Set with rollback and a crash recovery with
// the repository on PostgreSQL (pgx).
func TestPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	l := newLabDSN(t, 3, dsn)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("pg", 9000, "tfc-r1", "tfc-r2", "tfc-r3"))
	before := l.snapshot(t)
	l.nodes[1].failNextApply(t)
	c := proposeApproved(t, l, mtuChange("pg-reject", 9100, "tfc-r1", "tfc-r2", "tfc-r3"))
	c, err := l.svc.Commit(ctx, c.ID, "carla", 0)
	if err == nil || c.State != change.StateRolledBack {
		t.Fatalf("state %s err %v", c.State, err)
	}
	sameConfigs(t, "after rejection on postgres", before, l.snapshot(t))
	// a window left open when the controller stops is resolved by the next one
	c = proposeApproved(t, l, mtuChange("pg-window", 9200, "tfc-r1", "tfc-r2", "tfc-r3"))
	if _, err := l.svc.Commit(ctx, c.ID, "carla", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	l.close()
	time.Sleep(300 * time.Millisecond) // the window expires while no controller runs
	l.open(t, nil)
	if err := l.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := l.svc.Get(ctx, c.ID)
	if err != nil || got.State != change.StateRolledBack {
		t.Fatalf("after recovery: %v %+v", err, got)
	}
	sameConfigs(t, "after recovery on postgres", before, l.snapshot(t))
	v, err := l.store.Ledger().Verify(ctx)
	if err != nil || !v.OK {
		t.Fatalf("ledger: %+v %v", v, err)
	}
}

// TestStaleChangeRevalidatedAtCommit: two changes that each pass alone but conflict
// (the same address on two devices); once the first is committed, the second is
// re-validated at commit, rejected, and its device never receives a Set.
func TestStaleChangeRevalidatedAtCommit(t *testing.T) {
	l := newLab(t, 2)
	ctx := context.Background()
	a := proposeApproved(t, l, mtuChange("a", 9000, "tfc-r1")) // 10.9.1.1 on r1
	b := proposeApproved(t, l, mtuChange("b", 9100, "tfc-r2")) // 10.9.1.1 on r2
	if _, err := l.svc.Commit(ctx, a.ID, "carla", 0); err != nil {
		t.Fatal(err)
	}
	before := l.snapshot(t)
	c, err := l.svc.Commit(ctx, b.ID, "carla", 0)
	if !errors.Is(err, pipeline.ErrStale) || c.State != change.StateRejected {
		t.Fatalf("stale commit: %v %s", err, c.State)
	}
	if f := c.Report.Failed(); len(f) != 1 || f[0].Name != "l0.conflicts.ip" || c.Report.BaseRevision == b.BaseRevision {
		t.Fatalf("re-validation report: base %d (was %d) %+v", c.Report.BaseRevision, b.BaseRevision, f)
	}
	sameConfigs(t, "after a stale change", before, l.snapshot(t))
	if _, err := l.journal.Load(ctx, b.ID); err == nil {
		t.Error("the commit engine was called for a stale change")
	}
}

// TestInteractingChangesCommitOneAtATime: two changes validated against the same live
// revision that conflict only with each other (both configure 10.9.1.1, on different
// devices). While the first is in its confirm window (devices changed, live twin not
// yet), the second is refused as busy and touches nothing; a change that cannot
// interact commits meanwhile; once the first is confirmed the second is re-validated
// against the live twin that holds it and rejected.
func TestInteractingChangesCommitOneAtATime(t *testing.T) {
	l := newLab(t, 2)
	ctx := context.Background()
	a := proposeApproved(t, l, mtuChange("a", 9000, "tfc-r1"))
	b := proposeApproved(t, l, mtuChange("b", 9100, "tfc-r2"))
	if a.BaseRevision != b.BaseRevision {
		t.Fatalf("both changes should be validated against one revision: %d, %d", a.BaseRevision, b.BaseRevision)
	}
	ca, err := l.svc.Commit(ctx, a.ID, "carla", time.Minute)
	if err != nil || ca.Commit == nil || ca.Commit.Phase != change.PhaseAwaitingConfirm {
		t.Fatalf("commit a with a confirm window: %v %+v", err, ca.Commit)
	}
	before := l.snapshot(t)
	cb, err := l.svc.Commit(ctx, b.ID, "carla", 0)
	if !errors.Is(err, pipeline.ErrBusy) || !strings.Contains(err.Error(), a.ID) {
		t.Fatalf("commit b while a is in flight: %v", err)
	}
	if cb.State != change.StateApproved {
		t.Fatalf("b after the refused commit: %s", cb.State)
	}
	sameConfigs(t, "after a refused commit", before, l.snapshot(t))
	if _, err := l.journal.Load(ctx, b.ID); err == nil {
		t.Error("the commit engine was called for a refused change")
	}
	// a change that no other can invalidate (an interface config leaf on another
	// device) commits while a is still in flight
	m := &change.ChangeSet{Label: "mtu", Author: "bo", Kind: change.KindRawConfig, Level: change.L1,
		DeviceOps: map[string][]change.Op{"tfc-r2": {{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth2]/config", Value: json.RawMessage(`{"mtu":1600}`)}}}}
	if pipeline.Interacts(m) {
		t.Fatal("an MTU change counts as interacting")
	}
	cm := proposeApproved(t, l, m)
	if cm, err = l.svc.Commit(ctx, cm.ID, "carla", 0); err != nil || cm.State != change.StateCommitted {
		t.Fatalf("non-interacting commit during a's window: %v %s", err, cm.State)
	}
	if _, err := l.svc.Confirm(ctx, a.ID, "carla"); err != nil {
		t.Fatal(err)
	}
	before = l.snapshot(t)
	cb, err = l.svc.Commit(ctx, b.ID, "carla", 0)
	if !errors.Is(err, pipeline.ErrStale) || cb.State != change.StateRejected {
		t.Fatalf("b after a was confirmed: %v %s", err, cb.State)
	}
	if f := cb.Report.Failed(); len(f) != 1 || f[0].Name != "l0.conflicts.ip" {
		t.Fatalf("b's re-validation: %+v", f)
	}
	sameConfigs(t, "after the stale change", before, l.snapshot(t))
}

func TestInteracts(t *testing.T) {
	op := func(path string) *change.ChangeSet {
		return &change.ChangeSet{DeviceOps: map[string][]change.Op{"r1": {{Op: change.OpUpdate, Path: path}}}}
	}
	for _, c := range []struct {
		cs   *change.ChangeSet
		want bool
	}{
		{op("/interfaces/interface[name=eth1]/config"), false},
		{op("/interfaces/interface[name=eth1]/config/mtu"), false},
		{op("/system/config/hostname"), false},
		{op("/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config"), true},
		{op("/network-instances/network-instance[name=blue]/config"), true},
		{op("/interfaces/interface[name=eth1]"), true},
		{op("/interfaces"), true},
		{op("/"), true},
		{&change.ChangeSet{Twin: change.TwinDelta{RemoveFlows: []string{"f1"}}}, true},
	} {
		if got := pipeline.Interacts(c.cs); got != c.want {
			t.Errorf("%+v: interacts %v, want %v", c.cs.DeviceOps, got, c.want)
		}
	}
}
