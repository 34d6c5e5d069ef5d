package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/labtest"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/emulation"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// sandboxConfigurer pushes config rules to the sandbox's agents with the production
// gNMI driver, as L2 requires ("the very same device configs through the same driver").
type sandboxConfigurer struct{}

func (sandboxConfigurer) Push(ctx context.Context, node emulation.NodeInfo, rules []network.ConfigRule) error {
	return tfgnmi.ApplyRules(ctx, tfgnmi.Options{Address: node.GNMIAddress, Insecure: true}, rules)
}

// noCommit fails the test if the pipeline ever tries to commit: an L2-rejected change
// must never reach a device.
type noCommit struct{ t *testing.T }

func (n noCommit) Commit(context.Context, string, map[string][]change.Op, time.Duration) (*change.CommitRecord, error) {
	n.t.Error("a change was committed in an L2 validation test")
	return nil, fmt.Errorf("no commits here")
}

func (noCommit) Confirm(context.Context, string) (*change.CommitRecord, error) {
	return nil, fmt.Errorf("no commits here")
}

func (noCommit) Rollback(context.Context, string, string) (*change.CommitRecord, error) {
	return nil, fmt.Errorf("no commits here")
}

func (noCommit) Recover(context.Context) ([]*change.CommitRecord, error) { return nil, nil }

// sandboxPipeline returns a pipeline over a live twin holding n, with a sqlite change
// store, that commits nothing (noCommit) and validates L2 in a netns lab of
// twinflow-node agents (linux dataplane, binary bin) named by opts; also the sandbox
// and its backend, for probes and link failures. The lab is destroyed when the test
// ends, and a namespace left behind fails the test.
func sandboxPipeline(ctx context.Context, t *testing.T, n *network.Network, bin string, opts emulation.Options) (*pipeline.Service, *emulation.Sandbox, *emulation.Netns) {
	t.Helper()
	twins, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(twins.Close)
	if _, err := twins.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		t.Fatal(err)
	}
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "changes.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	journal, err := pipeline.OpenJournal(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	labtest.Lock(t, opts.Prefix+opts.Lab)
	backend := &emulation.Netns{
		Options:  opts,
		NodeCmd:  []string{bin, "--dataplane", "linux", "--insecure"},
		ProbeCmd: []string{bin, "probe"},
		Config:   sandboxConfigurer{},
		StateDir: t.TempDir(),
	}
	t.Cleanup(func() {
		if err := backend.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if left, _ := emulation.LabNamespaces(context.Background(), opts.Prefix+opts.Lab); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})
	sandbox := &emulation.Sandbox{Backend: backend, Config: sandboxConfigurer{}}
	svc, err := pipeline.New(pipeline.Config{Twins: twins, Store: st, Committer: noCommit{t}, Journal: journal,
		Emulator: &pipeline.SandboxEmulator{Sandbox: sandbox}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, sandbox, backend
}

// TestPipelineL2RejectsWrongNextHop (issues 6 and 7): through the pipeline, a raw-config
// change that L0 and L1 accept — a static route on n1 towards n3 pointing back at n0 —
// is proposed at level L2; the fork is mirrored into a netns sandbox, the route pushed
// over gNMI to twinflow-node agents, the implied pings run, and the change is rejected
// with the failing ping as evidence. The right next hop passes L2.
func TestPipelineL2RejectsWrongNextHop(t *testing.T) {
	if os.Geteuid() != 0 {
		requireIntegration(t, "L2 through the pipeline needs root for network namespaces")
	}
	bin := nodetest.Binary(t)
	raw, err := os.ReadFile("../../labs/vector-a/network.json")
	if err != nil {
		t.Fatal(err)
	}
	var n network.Network
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	for i := range n.Devices {
		// Production management addresses: never contacted, since nothing commits
		// (noCommit fails the test if the pipeline tries).
		n.Devices[i].Drivers = []network.DriverKind{network.DriverGNMI}
		n.Devices[i].Address = fmt.Sprintf("127.0.0.1:%d", 1+i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	svc, _, _ := sandboxPipeline(ctx, t, &n, bin, emulation.Options{Lab: "l2p", Prefix: "tfc-"})
	route := func(nextHop string) *change.ChangeSet {
		return &change.ChangeSet{Label: "route to n3 via " + nextHop, Kind: change.KindRawConfig, Level: change.L2,
			DeviceOps: map[string][]change.Op{"n1": {{Op: change.OpUpdate,
				Path:  "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]",
				Value: json.RawMessage(fmt.Sprintf(`{"static-routes":{"static":[{"prefix":"10.0.0.4/32","next-hops":{"next-hop":[{"index":"0","config":{"next-hop":%q}}]}}]}}`, nextHop))}}}}
	}

	// n3 is 10.0.0.4; from n1 the right next hop is n2 (10.128.0.6), the wrong one n0
	// (10.128.0.1), which sends packets back: a loop (addressing plan of docs/emulation.md).
	bad, err := svc.Propose(ctx, route("10.128.0.1"), "bo")
	if err != nil {
		t.Fatal(err)
	}
	if bad.State != change.StateRejected {
		t.Fatalf("wrong next hop: state %s; want rejected; report %+v", bad.State, bad.Report)
	}
	var failing *change.Check
	for i, c := range bad.Report.Checks {
		if c.Level == change.L2 && c.Status == change.Fail && failing == nil {
			failing = &bad.Report.Checks[i]
		}
		if c.Level != change.L2 && c.Status == change.Fail {
			t.Errorf("the model levels should accept this change; %s failed: %s", c.Name, c.Message)
		}
	}
	if failing == nil || failing.Evidence == nil {
		t.Fatalf("no failing L2 check with evidence: %+v", bad.Report.Checks)
	}
	t.Logf("rejected at L2: %s: %s", failing.Name, failing.Message)

	good, err := svc.Propose(ctx, route("10.128.0.6"), "bo")
	if err != nil {
		t.Fatal(err)
	}
	if good.State != change.StateValidated {
		for _, c := range good.Report.Checks {
			t.Logf("%s %s: %s", c.Status, c.Name, c.Message)
		}
		t.Fatalf("right next hop: state %s; want validated", good.State)
	}
}
