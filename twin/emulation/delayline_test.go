package emulation

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/delayline"
	"github.com/twinflow/twinflow/models/network"
)

// delayCmd runs the test binary as the delay line (TestMain dispatches on the
// environment variable), like `twinflow-node delay`.
func delayCmd(t testing.TB) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"env", "TWINFLOW_EMULATION_DELAY=1", exe}
}

// TestNetnsDelayLine deploys a 4-node ring whose links have a latency. Where the kernel
// has no netem, every link must be split by a delay line (recorded in the plan), so a
// ping over one link takes at least twice its latency and one over two links four
// times; a Reconfigure that changes the latency restarts the lines with the new one,
// and Destroy leaves no namespace (delay namespaces included) behind. The lab's prefix
// holds the process ID, so concurrent runs do not collide.
func TestNetnsDelayLine(t *testing.T) {
	requireRootT(t)
	prefix := fmt.Sprintf("tfe%d-", os.Getpid())
	o := Options{Lab: "dl", Prefix: prefix, Queue: QueueFIFO}
	b := &Netns{Options: o, ProbeCmd: probeCmd(t), DelayCmd: delayCmd(t), StateDir: t.TempDir()}
	label := o.Label()
	t.Cleanup(func() {
		if err := b.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if err := Sweep(context.Background(), label, ""); err != nil {
			t.Errorf("sweep: %v", err)
		}
	})
	ctx := context.Background()
	n, err := network.Ring(4)
	if err != nil {
		t.Fatal(err)
	}
	setLatency := func(ms float64) {
		for i := range n.Links {
			n.Links[i].LatencyMs = ms
		}
	}
	setLatency(5)
	if err := b.Deploy(ctx, n); err != nil {
		t.Fatal(err)
	}
	p := b.Plan()
	if p.Netem {
		t.Skip("this kernel has netem: links are delayed by netem, not by a delay line")
	}
	if !p.DelayLine {
		t.Fatal("no netem, a delay command, links with latency: Plan.DelayLine is false")
	}
	nss, err := LabNamespaces(ctx, label)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range p.Links {
		if !slices.Contains(nss, p.DelayNamespace(l)) {
			t.Errorf("link %s: no delay namespace %s among %v", l.ID, p.DelayNamespace(l), nss)
		}
	}
	ids := make([]string, len(n.Devices))
	for i, d := range n.Devices {
		ids[i] = d.ID
	}
	// Ring: ids[0]–ids[1] is one link, ids[0]–ids[2] two.
	minRTT := func(src, dst string) float64 {
		t.Helper()
		res, err := b.Probe(ctx, []ProbeSpec{{ID: "p", Kind: ProbePing, Src: src, Dst: dst, Count: 5}})
		if err != nil {
			t.Fatal(err)
		}
		if !res[0].OK || res[0].Ping == nil {
			t.Fatalf("ping %s→%s failed: %s %s", src, dst, res[0].Error, res[0].Evidence)
		}
		return res[0].Ping.RTTMinMs
	}
	if r := minRTT(ids[0], ids[1]); r < 10 {
		t.Errorf("one 5 ms link: minimum RTT %.3f ms, below 10 ms", r)
	}
	if r := minRTT(ids[0], ids[2]); r < 20 {
		t.Errorf("two 5 ms links: minimum RTT %.3f ms, below 20 ms", r)
	}

	setLatency(12)
	if err := b.Reconfigure(ctx, n); err != nil {
		t.Fatal(err)
	}
	if r := minRTT(ids[0], ids[1]); r < 24 {
		t.Errorf("after reconfigure to 12 ms: minimum RTT %.3f ms over one link, below 24 ms", r)
	}

	if err := b.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if left := residue(t, label); len(left) != 0 {
		t.Fatalf("residue after destroy: %v", left)
	}
	for _, pid := range pidsWithEnv("TWINFLOW_EMULATION_DELAY=1") {
		t.Errorf("delay line process %d still running after destroy", pid)
	}
}

// pidsWithEnv lists processes whose environment holds kv.
func pidsWithEnv(kv string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || isZombie(pid) {
			continue
		}
		for _, x := range strings.Split(string(env), "\x00") {
			if x == kv {
				out = append(out, pid)
			}
		}
	}
	return out
}

// TestIPLinkBatchDelayLine: with Plan.DelayLine a link with a latency becomes two veth
// pairs through its delay namespace; one without keeps its single pair; a latency
// beyond the line's maximum is refused by the plan.
func TestIPLinkBatchDelayLine(t *testing.T) {
	n, err := network.Ring(3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Links {
		n.Links[i].LatencyMs = 0
	}
	n.Links[0].LatencyMs = 2
	p, err := NewPlan(n, Options{Lab: "r", Prefix: "tfe-"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.DelayLine = true
	l0, l1 := p.link(n.Links[0].ID), p.link(n.Links[1].ID)
	got := strings.Join(ipLinkBatch(p, p.Nodes, p.Links, false), "\n")
	a, _ := p.Node(l0.A)
	d := p.DelayNamespace(l0)
	for _, want := range []string{
		"netns add " + d,
		fmt.Sprintf("link add name %s netns %s type veth peer name %s netns %s", l0.AIf, a.Namespace, DelayIfA, d),
		fmt.Sprintf("link add name %s netns %s type veth peer name %s", DelayIfB, d, l0.BIf),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("batch lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, p.DelayNamespace(l1)) {
		t.Errorf("link %s has no latency but got a delay namespace:\n%s", l1.ID, got)
	}
	if !strings.HasPrefix(d, "tfe-r.") {
		t.Errorf("delay namespace %q does not carry the lab label (the sweep would miss it)", d)
	}
	// The line holds at most delayline.MaxDelay; plans never ask for more.
	n.Links[0].LatencyMs = float64(delayline.MaxDelay/time.Millisecond) + 1
	if _, err := NewPlan(n, Options{Lab: "r", Prefix: "tfe-"}, nil, 0); err == nil {
		t.Errorf("latency beyond the delay line's maximum %v accepted", delayline.MaxDelay)
	}
}

// The queue model sees a link's latency exactly when the lab applies it: with netem
// or a delay line, not without either.
func TestQueueModelInputLatencyWithDelayLine(t *testing.T) {
	n := vectorA(t)
	for i := range n.Links {
		n.Links[i].LatencyMs = 5
	}
	p, err := NewPlan(n, Options{Lab: "va", Prefix: "tfe-", Queue: QueueFIFO}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		netem, line bool
		want        float64
	}{{false, false, 0}, {true, false, 5}, {false, true, 5}} {
		p.Netem, p.DelayLine = tc.netem, tc.line
		in, err := QueueModelInput(n, p, "cubic")
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Links) == 0 || in.Links[0].LatencyMs != tc.want {
			t.Errorf("netem %v, delay line %v: model links %+v, want latency %g", tc.netem, tc.line, in.Links, tc.want)
		}
	}
}
