package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/repository/pgtest"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// requireIntegration skips (or fails under TWINFLOW_REQUIRE_INTEGRATION=1).
func requireIntegration(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// node is one running twinflow-node process.
type node struct {
	name      string
	gnmiAddr  string
	faultAddr string
	cmd       *exec.Cmd
	done      chan struct{}
}

func startNode(t testing.TB, name string, ports []string) *node {
	t.Helper()
	cmd := exec.Command(nodetest.Binary(t), "--name", name, "--gnmi-addr", "127.0.0.1:0", "--insecure",
		"--ports", strings.Join(ports, ","), "--fault-addr", "127.0.0.1:0", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.kill() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		for sc.Scan() {
		}
	}()
	select {
	case l := <-line:
		var ready struct {
			GNMIAddr  string `json:"gnmi_addr"`
			FaultAddr string `json:"fault_addr"`
		}
		if err := json.Unmarshal([]byte(l), &ready); err != nil {
			t.Fatalf("node %s ready line %q: %v", name, l, err)
		}
		n.gnmiAddr, n.faultAddr = ready.GNMIAddr, ready.FaultAddr
	case <-time.After(20 * time.Second):
		t.Fatalf("node %s did not start", name)
	}
	return n
}

func (n *node) kill() {
	if n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.done
	}
}

func (n *node) failNextApply(t testing.TB) {
	t.Helper()
	resp, err := http.Post("http://"+n.faultAddr+"/fail-next-apply?count=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("fail-next-apply: %s", resp.Status)
	}
}

// lab is a chain network r1 - r2 - ... - rN of twinflow-node processes plus the
// controller side: twin manager, repository, gNMI pool, commit engine, pipeline.
type lab struct {
	nodes   []*node
	net     *network.Network
	dsn     string
	pool    *gnmi.Pool
	twins   *twin.Manager
	store   repository.Store
	journal *pipeline.Journal
	engine  *commit.Engine
	svc     *pipeline.Service
	devices commit.Devices
	// liveFail makes the live twin's journal refuse writes (a repository with its
	// disk full), so the twin's transactions abort.
	liveFail atomic.Bool
	// ledgerFail makes the repository refuse ledger appends and change transitions
	// (journal_confirm_test.go), leaving the live twin's journal alone.
	ledgerFail atomic.Bool
	// ledgerFailAfterLive sets ledgerFail once the live twin's journal took a
	// transaction (live_once_test.go): the twin takes a change, its committed
	// transition is refused.
	ledgerFailAfterLive atomic.Bool
}

func chainNetwork(nodes []*node) *network.Network {
	n := &network.Network{}
	for i, nd := range nodes {
		d := network.Device{ID: nd.name, Type: network.DeviceRouter, Drivers: []network.DriverKind{network.DriverGNMI},
			Address: nd.gnmiAddr, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}}
		_ = i
		n.Devices = append(n.Devices, d)
	}
	for i := 0; i+1 < len(nodes); i++ {
		n.Links = append(n.Links, network.Link{ID: fmt.Sprintf("l%d", i+1), CapacityGbps: 10, LatencyMs: 2,
			Endpoints: []network.EndPointRef{{Device: nodes[i].name, EndPoint: "eth2"}, {Device: nodes[i+1].name, EndPoint: "eth1"}}})
	}
	if len(nodes) >= 2 {
		n.Flows = append(n.Flows, network.Flow{ID: "bulk", Src: nodes[0].name, Dst: nodes[1].name, Path: []string{"l1"}, Owner: "tenant-a"})
	}
	return n
}

func newLab(t testing.TB, n int) *lab { return newLabDSN(t, n, "") }

// newLabDSN is newLab with the repository at dsn ("" for a temporary sqlite file).
func newLabDSN(t testing.TB, n int, dsn string) *lab {
	t.Helper()
	l := &lab{}
	for i := range n {
		l.nodes = append(l.nodes, startNode(t, fmt.Sprintf("tfc-r%d", i+1), []string{"eth1", "eth2"}))
	}
	l.net = chainNetwork(l.nodes)
	l.dsn = dsn
	if l.dsn == "" {
		l.dsn = "file:" + filepath.Join(t.TempDir(), "twinflow.db")
	}
	l.open(t, nil)
	return l
}

// open builds the controller side (again, after a simulated restart).
func (l *lab) open(t testing.TB, wrap func(commit.Devices) commit.Devices) {
	t.Helper()
	ctx := context.Background()
	var err error
	l.twins, err = twin.NewManager(twin.Options{Journal: func(context.Context, string, twin.JournalEntry) error {
		if l.liveFail.Load() {
			return errors.New("journal: no space left on device (test)")
		}
		if l.ledgerFailAfterLive.Load() {
			l.ledgerFail.Store(true)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.twins.Live().Update(ctx, func(tx *twin.Txn) error {
		for _, d := range l.net.Devices {
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, lk := range l.net.Links {
			if _, err := tx.PutLink(lk, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, f := range l.net.Flows {
			if _, err := tx.PutFlow(f, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, err := repository.Open(ctx, l.dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.store = ledgerFailStore{Store: st, fail: &l.ledgerFail}
	l.journal, err = pipeline.OpenJournal(ctx, l.store)
	if err != nil {
		t.Fatal(err)
	}
	l.pool = gnmi.NewPool(16)
	addr := map[string]string{}
	for _, nd := range l.nodes {
		addr[nd.name] = nd.gnmiAddr
	}
	var devs commit.Devices = &commit.GNMIDevices{Pool: l.pool, Resolve: func(ctx context.Context, id string) (gnmi.Options, error) {
		a, ok := addr[id]
		if !ok {
			return gnmi.Options{}, fmt.Errorf("no address for %s", id)
		}
		return gnmi.Options{Address: a, Insecure: true, Timeout: 2 * time.Second}, nil
	}}
	if wrap != nil {
		devs = wrap(devs)
	}
	l.devices = devs
	l.engine = &commit.Engine{Devices: devs, Journal: l.journal, Concurrency: 8, DeviceTimeout: 2 * time.Second, KeepReadBack: true}
	reader, _ := devs.(pipeline.DeviceReader)
	l.svc, err = pipeline.New(pipeline.Config{Twins: l.twins, Store: l.store, Committer: l.engine, Journal: l.journal, DistinctApprover: true, Reader: reader})
	if err != nil {
		t.Fatal(err)
	}
	l.engine.OnResolved = l.svc.Resolve
	t.Cleanup(l.close)
}

func (l *lab) close() {
	if l.engine != nil {
		l.engine.Close()
		l.engine = nil
	}
	if l.pool != nil {
		_ = l.pool.Close()
		l.pool = nil
	}
	if l.store != nil {
		_ = l.store.Close()
		l.store = nil
	}
	if l.twins != nil {
		l.twins.Close()
		l.twins = nil
	}
}

type changeFlow = network.Flow

// configOf reads a node's whole configuration with the controller's driver.
func (l *lab) configOf(t testing.TB, name string) change.Tree {
	t.Helper()
	d, err := l.devices.Device(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(context.Background(), []string{"/interfaces", "/network-instances"})
	if err != nil {
		t.Fatalf("get config of %s: %v", name, err)
	}
	out := change.Tree{}
	for p, v := range got {
		tr, err := change.ParseTree(append(append([]byte(`{"v":`), v...), '}'))
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, "/")] = tr["v"]
	}
	return out
}

func (l *lab) snapshot(t testing.TB) map[string]change.Tree {
	t.Helper()
	out := map[string]change.Tree{}
	for _, nd := range l.nodes {
		if nd.cmd.ProcessState != nil {
			continue
		}
		select {
		case <-nd.done:
			continue
		default:
		}
		out[nd.name] = l.configOf(t, nd.name)
	}
	return out
}

func sameConfigs(t testing.TB, what string, want, got map[string]change.Tree) {
	t.Helper()
	for dev, w := range want {
		g, ok := got[dev]
		if !ok {
			continue
		}
		if d := change.DiffTrees(w, g); len(d) != 0 {
			t.Errorf("%s: %s differs: %v", what, dev, d)
		}
	}
}

// mtuChange sets MTU, description and an address on every listed device.
func mtuChange(label string, mtu int, devs ...string) *change.ChangeSet {
	cs := &change.ChangeSet{Label: label, Author: "bo", Kind: change.KindRawConfig, Level: change.L1, DeviceOps: map[string][]change.Op{}}
	for i, d := range devs {
		cs.DeviceOps[d] = []change.Op{
			{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config", Value: json.RawMessage(fmt.Sprintf(`{"mtu":%d,"description":"%s"}`, mtu, label))},
			{Op: change.OpUpdate, Path: fmt.Sprintf("/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.9.%d.1]/config", i+1),
				Value: json.RawMessage(fmt.Sprintf(`{"ip":"10.9.%d.1","prefix-length":24}`, i+1))},
		}
	}
	return cs
}

func proposeApproved(t testing.TB, l *lab, cs *change.ChangeSet) *pipeline.Change {
	t.Helper()
	ctx := context.Background()
	c, err := l.svc.Propose(ctx, cs, "bo")
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if c.State != change.StateValidated {
		t.Fatalf("propose: state %s, report %+v", c.State, c.Report.Failed())
	}
	if c, err = l.svc.Approve(ctx, c.ID, "carla"); err != nil || c.State != change.StateApproved {
		t.Fatalf("approve: %v %v", c, err)
	}
	return c
}

// postgresDSN creates a scratch database on TWINFLOW_TEST_PG and returns its DSN; it is
// dropped when the test ends.
func postgresDSN(t testing.TB) string { t.Helper(); return pgtest.DSN(t) }
