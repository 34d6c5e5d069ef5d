package emulation

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/twinflow/twinflow/labs/delayline"
	"github.com/twinflow/twinflow/labs/labtest"
	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/network"
)

// The test binary doubles as the probe agent inside namespaces: run with
// TWINFLOW_EMULATION_PROBE=1 it behaves like `twinflow-node probe`.
func TestMain(m *testing.M) {
	if os.Getenv("TWINFLOW_EMULATION_PROBE") == "1" {
		os.Exit(probe.Main(context.Background(), os.Args[1:]))
	}
	if os.Getenv("TWINFLOW_EMULATION_DELAY") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(delayline.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	if lab := os.Getenv("TWINFLOW_EMULATION_DEPLOY_CHILD"); lab != "" {
		os.Exit(deployChild(lab, os.Getenv("TWINFLOW_EMULATION_STATE")))
	}
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// testPrefix is this helper's namespace prefix: a sweep can find every leftover.
const testPrefix = "tfe-"

func probeCmd(t testing.TB) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"env", "TWINFLOW_EMULATION_PROBE=1", exe}
}

func requireRootT(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("netns integration test needs root and TWINFLOW_REQUIRE_INTEGRATION=1 is set")
		}
		t.Skip("netns integration test needs root")
	}
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func loadNetwork(t testing.TB, rel string) *network.Network {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	var n network.Network
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return &n
}

// newLab returns a netns backend for a test lab whose leftovers are swept before and
// after the test, even on failure.
func newLab(t testing.TB, lab string, o Options) *Netns {
	t.Helper()
	requireRootT(t)
	o.Lab, o.Prefix = lab, testPrefix
	b := &Netns{Options: o, ProbeCmd: probeCmd(t), StateDir: t.TempDir()}
	label := testPrefix + lab
	labtest.Lock(t, label)
	if err := Sweep(context.Background(), label, b.StateDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if err := Sweep(context.Background(), label, ""); err != nil {
			t.Errorf("sweep: %v", err)
		}
	})
	return b
}

// deployChild deploys a 40-node ring as lab <lab> and then waits to be killed: the
// parent test kills it mid-deploy or after, and checks that a sweep removes everything.
func deployChild(lab, stateDir string) int {
	n, err := network.Ring(40)
	if err != nil {
		return 3
	}
	b := &Netns{Options: Options{Lab: lab, Prefix: testPrefix}, StateDir: stateDir}
	if err := b.Deploy(context.Background(), n); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	os.Stdout.WriteString("deployed\n")
	select {}
}

// residue returns what is left of a lab: namespaces and root-namespace interfaces.
func residue(t testing.TB, label string) []string {
	t.Helper()
	ctx := context.Background()
	nss, err := LabNamespaces(ctx, label)
	if err != nil {
		t.Fatal(err)
	}
	links, err := LabLinks(ctx, label)
	if err != nil {
		t.Fatal(err)
	}
	return append(nss, links...)
}
