package emulation

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestNetnsVectorAQuick(t *testing.T) {
	b := newLab(t, "quick", Options{})
	n := loadNetwork(t, "labs/vector-a/network.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := b.Deploy(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy took %v", time.Since(start))
	out, _ := exec.Command("ip", "netns", "list").Output()
	t.Logf("%s", out)
	out, _ = exec.Command("tc", "-n", "tfe-quick.n0", "-s", "class", "show", "dev", "eth1").CombinedOutput()
	t.Logf("%s", strings.Join(strings.Split(string(out), "\n")[:8], "\n"))
	res, err := b.Probe(ctx, []ProbeSpec{{ID: "p", Kind: ProbePing, Src: "n0", Dst: "n4"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", res[0], res[0].Ping)
	var specs []ProbeSpec
	for _, f := range n.Flows {
		specs = append(specs, ProbeSpec{ID: f.ID, Kind: ProbeTCP, Src: f.Src, Dst: f.Dst, CC: "cubic", Duration: 10 * time.Second, Warmup: 3 * time.Second})
	}
	res, err = b.Probe(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := MaxMin(n, b.Plan())
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(pred, res, b.Plan().Options.Scale, GoodputFactor)
	for _, r := range c.Rows {
		t.Logf("%s pred %.2f Mb/s meas %.2f Mb/s err %.1f%%", r.Flow, r.PredictedBps/1e6, r.MeasuredBps/1e6, r.ErrorPct)
	}
	for _, r := range res {
		if !r.OK {
			t.Logf("%s: %s %s", r.ID, r.Error, r.Evidence)
		}
	}
	t.Logf("median %.1f%% max %.1f%%", c.MedianAbsErrorPct, c.MaxAbsErrorPct)
}
