package dataset

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/twinflow/twinflow/labs/labtest"
	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin/emulation"
)

// The test binary doubles as the probe agent inside namespaces: run with
// TWINFLOW_EMULATION_PROBE=1 it behaves like `twinflow-node probe`.
func TestMain(m *testing.M) {
	if os.Getenv("TWINFLOW_EMULATION_PROBE") == "1" {
		os.Exit(probe.Main(context.Background(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

const emuSpec = `
name: emu
seed: 11
samples: 3
samples_per_scenario: 2
topologies:
  - generator: "ring:n=4"
traffic:
  models: [uniform]
  flows: 3
  intensity_gbps: [100, 100]
formats: [parquet]
emulate: {samples: 1, seconds: 3, max_flows: 4}
`

// Seed 004 §9.2, issue 18: the bounds of spec.emulate, each error naming its field.
func TestEmulateSpecBounds(t *testing.T) {
	base := "name: a\nsamples: 10\ntopologies: [{generator: ring}]\ntraffic: {flows: 4}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"samples0", "emulate: {samples: 0}", "emulate.samples"},
		{"samplesMax", "emulate: {samples: 101}", "emulate.samples"},
		{"moreThanDataset", "emulate: {samples: 11}", "more than the dataset's 10 samples"},
		{"seconds", "emulate: {samples: 1, seconds: 1}", "emulate.seconds"},
		{"secondsMax", "emulate: {samples: 1, seconds: 61}", "emulate.seconds"},
		{"maxFlows", "emulate: {samples: 1, max_flows: 65}", "emulate.max_flows"},
		{"tooManyFlows", "emulate: {samples: 1, max_flows: 3}", "would have 4 flows (traffic.flows) but the sandbox runs at most 3"},
		{"unknown", "emulate: {samples: 1, rate: 2}", "rate"},
		{"routenetOnly", "formats: [routenet]\nemulate: {samples: 1}", "add parquet to formats"},
	} {
		_, err := ParseSpec([]byte(base + tc.yaml))
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrSpec containing %q", tc.name, err, tc.want)
		}
	}
	s := mustSpec(t, base+"emulate: {samples: 2}")
	if e := s.Emulate; e.Seconds != DefaultEmulateSec || e.MaxFlows != MaxEmulateFlows {
		t.Errorf("defaults: %+v", *e)
	}
	if !s.emulated(1) || s.emulated(2) || mustSpec(t, base).emulated(0) {
		t.Error("emulated(i) must select exactly the samples 0..emulate.samples-1")
	}
}

type fakeEmulator struct {
	unavailable error
	fail        error  // returned by Measure
	drop        bool   // leave the last flow unmeasured
	failFlow    bool   // the last flow's probe failed
	latency     string // Emulated.Latency (default emulation.LatencyDelayLine)
	calls       int
}

func (f *fakeEmulator) Available() error { return f.unavailable }

func (f *fakeEmulator) Measure(_ context.Context, n *network.Network, _ time.Duration) (Emulated, error) {
	f.calls++
	if f.fail != nil {
		return Emulated{}, f.fail
	}
	m := map[string]Measurement{}
	for i, fl := range n.Flows {
		if len(fl.Path) == 0 {
			return Emulated{}, errors.New("flow without path")
		}
		if fl.DemandGbps != nil {
			return Emulated{}, errors.New("emulated flows are greedy: no demand")
		}
		if f.drop && i == len(n.Flows)-1 {
			break
		}
		loss := 0.25
		if i == 1 {
			loss = math.NaN() // no data segment in the window: null, not zero
		}
		m[fl.ID] = Measurement{RateGbps: float64(i + 1), RTTMs: 1, Retransmits: 2, Loss: loss}
		if f.failFlow && i == len(n.Flows)-1 {
			m[fl.ID] = Measurement{RateGbps: math.NaN(), RTTMs: math.NaN(), Loss: math.NaN(), Error: "no data acknowledged"}
		}
	}
	lat := f.latency
	if lat == "" {
		lat = emulation.LatencyDelayLine
	}
	return Emulated{Scale: 0.002, Flows: m, Latency: lat}, nil
}

// An emulator that cannot run refuses the whole run before anything is written.
func TestEmulateRefusedLeavesNothing(t *testing.T) {
	s := mustSpec(t, emuSpec)
	for _, o := range []Options{{}, {Emulator: &fakeEmulator{unavailable: errors.New("dataset: emulate: the netns sandbox needs root")}}} {
		out := filepath.Join(t.TempDir(), "ds")
		_, err := Generate(context.Background(), s, nil, out, o)
		if err == nil {
			t.Fatal("generate with an unavailable emulator succeeded")
		}
		if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("refused run left %s behind (stat: %v); err was %v", out, serr, err)
		}
	}
	if runtime.GOOS == "linux" && os.Geteuid() != 0 {
		err := (&NetnsEmulator{ProbeCmd: []string{"x"}}).Available()
		if !errors.Is(err, ErrEmulation) || !strings.Contains(err.Error(), "needs root") {
			t.Errorf("not root: Available() = %v", err)
		}
	}
	// A topology larger than the sandbox runs is refused before anything is written.
	big := mustSpec(t, strings.Replace(emuSpec, "ring:n=4", "ring:n=65", 1))
	out0 := filepath.Join(t.TempDir(), "ds")
	if _, err := Generate(context.Background(), big, nil, out0, Options{Emulator: &fakeEmulator{}}); !errors.Is(err, ErrEmulation) || !strings.Contains(err.Error(), "65 devices") {
		t.Errorf("65-device ring: err = %v, want ErrEmulation naming 65 devices", err)
	}
	if _, serr := os.Stat(out0); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("refused 65-device run left %s behind", out0)
	}
	// A shard that owns no emulated sample does not need the emulator.
	out := t.TempDir()
	if _, err := Generate(context.Background(), s, nil, out, Options{Shard: Shard{1, 2}}); err != nil {
		t.Fatalf("shard 1/2 (no emulated sample): %v", err)
	}
}

// Emulated columns are filled for the selected samples only (fake emulator: this
// checks the plumbing; TestEmulateNetns measures for real).
func TestEmulateColumnsPlumbing(t *testing.T) {
	s := mustSpec(t, emuSpec)
	out := t.TempDir()
	fe := &fakeEmulator{}
	if _, err := Generate(context.Background(), s, nil, out, Options{Emulator: fe}); err != nil {
		t.Fatal(err)
	}
	if fe.calls != 1 {
		t.Fatalf("emulator called %d times, want 1", fe.calls)
	}
	flows := readEmulated(t, out, emulation.LatencyDelayLine)
	for _, r := range flows {
		if r.Sample == 0 {
			if r.EmulatedRateGbps == nil || *r.EmulatedRateGbps != float64(r.Flow+1) || r.EmulatedRetransmits == nil || *r.EmulatedRetransmits != 2 || r.ElasticRateGbps == nil || !(*r.ElasticRateGbps > 0) {
				t.Errorf("sample 0 flow %d: emulated columns %+v", r.Flow, r)
			}
			if (r.Flow == 1) != (r.EmulatedLoss == nil) || (r.EmulatedLoss != nil && *r.EmulatedLoss != 0.25) {
				t.Errorf("sample 0 flow %d: emulated_loss %v, want null for flow 1 (NaN measured) and 0.25 otherwise", r.Flow, r.EmulatedLoss)
			}
		}
	}
}

// readEmulated reads every flows part and checks the samples table's label_source,
// emulated_latency (one of latency for sample 0) and the nulls of the samples that were not
// emulated; it returns the flow rows.
func readEmulated(t *testing.T, out string, latency ...string) []FlowRow {
	t.Helper()
	var flows []FlowRow
	for j := range 2 {
		part := "part-00000" + string(rune('0'+j)) + ".parquet"
		fr, err := parquet.ReadFile[FlowRow](filepath.Join(out, "parquet", "flows", part))
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, fr...)
		sr, err := parquet.ReadFile[SampleRow](filepath.Join(out, "parquet", "samples", part))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range sr {
			want := "model"
			if r.Sample == 0 {
				want = "model+emulation"
			}
			if r.LabelSource != want || (r.Sample == 0) != (r.EmulatedSeconds != nil) {
				t.Errorf("sample %d: label_source %q emulated_seconds %v, want %q", r.Sample, r.LabelSource, r.EmulatedSeconds, want)
			}
			if (r.Sample == 0) != (r.EmulatedLatency != nil) || (r.EmulatedLatency != nil && !slices.Contains(latency, *r.EmulatedLatency)) {
				got := "null"
				if r.EmulatedLatency != nil {
					got = *r.EmulatedLatency
				}
				t.Errorf("sample %d: emulated_latency %s, want one of %q for sample 0 and null otherwise", r.Sample, got, latency)
			}
		}
	}
	if len(flows) != 9 {
		t.Fatalf("%d flow rows, want 9", len(flows))
	}
	for _, r := range flows {
		if r.Sample != 0 && (r.EmulatedRateGbps != nil || r.EmulatedRTTMs != nil || r.EmulatedRetransmits != nil || r.EmulatedLoss != nil || r.ElasticRateGbps != nil) {
			t.Errorf("sample %d (not emulated) flow %d has emulated values", r.Sample, r.Flow)
		}
	}
	return flows
}

// Seed 004 §9.2, issue 18 (labels from emulation for a chosen subset, marked as such): one
// sample of a 4-node ring with 3 flows runs for real in the netns sandbox for 3 s.
func TestEmulateNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("netns integration test needs root and TWINFLOW_REQUIRE_INTEGRATION=1 is set")
		}
		t.Skip("netns integration test needs root")
	}
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := mustSpec(t, emuSpec)
	out := t.TempDir()
	em := &NetnsEmulator{ProbeCmd: []string{"env", "TWINFLOW_EMULATION_PROBE=1", exe}, StateDir: t.TempDir(), Prefix: "tfdt-", Lab: "emu"}
	// The ring's links have a latency (1 ms): with twinflow-node ($TWINFLOW_BIN, `make
	// build`) it comes from delay lines where the kernel has no netem, else from no one.
	wantLatency := []string{emulation.LatencyNetem, emulation.LatencyNotApplied}
	if node := filepath.Join(os.Getenv("TWINFLOW_BIN"), "twinflow-node"); os.Getenv("TWINFLOW_BIN") != "" {
		if _, err := os.Stat(node); err != nil {
			t.Fatalf("TWINFLOW_BIN is set but has no twinflow-node: %v", err)
		}
		em.DelayCmd = []string{node, "delay"}
		wantLatency = []string{emulation.LatencyNetem, emulation.LatencyDelayLine}
	}
	const label = "tfdt-emu"
	labtest.Lock(t, label)
	residue := func() []string {
		nss, err := emulation.LabNamespaces(context.Background(), label)
		if err != nil {
			t.Fatal(err)
		}
		links, err := emulation.LabLinks(context.Background(), label)
		if err != nil {
			t.Fatal(err)
		}
		return append(nss, links...)
	}
	if err := emulation.Sweep(context.Background(), label, em.StateDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := residue(); len(left) > 0 {
			t.Errorf("left behind: %v", left)
			_ = emulation.Sweep(context.Background(), label, em.StateDir)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Generate(ctx, s, nil, out, Options{Emulator: em}); err != nil {
		t.Fatal(err)
	}
	flows := readEmulated(t, out, wantLatency...)
	for _, r := range flows {
		if r.Sample != 0 {
			continue
		}
		if r.EmulatedRateGbps == nil || r.EmulatedRTTMs == nil || r.EmulatedRetransmits == nil || r.ElasticRateGbps == nil {
			t.Fatalf("flow %d: emulated columns missing: %+v", r.Flow, r)
		}
		got, ref := *r.EmulatedRateGbps, *r.ElasticRateGbps
		loss := "null"
		if r.EmulatedLoss != nil {
			loss = strconv.FormatFloat(*r.EmulatedLoss, 'g', 3, 64)
		}
		t.Logf("flow %d %s->%s: emulated %.3f Gb/s, elastic max-min %.3f Gb/s, model (demand-capped) %.3f Gb/s, rtt %.2f ms, retransmits %d, loss %s",
			r.Flow, r.SrcDevice, r.DstDevice, got, ref, r.RateGbps, *r.EmulatedRTTMs, *r.EmulatedRetransmits, loss)
		if r.EmulatedLoss != nil && (*r.EmulatedLoss < 0 || *r.EmulatedLoss > 1) {
			t.Errorf("flow %d: emulated loss %v outside [0, 1]", r.Flow, *r.EmulatedLoss)
		}
		if !(got > 0) || !(*r.EmulatedRTTMs > 0) || *r.EmulatedRetransmits < 0 {
			t.Errorf("flow %d: emulated values not positive", r.Flow)
		}
		// fq lab: per-flow HTB classes reproduce max-min (docs/fidelity.md); 25% is
		// the L2 sandbox's goodput tolerance, far from what a wrong path or scale gives.
		if e := math.Abs(got-ref) / ref; !(e <= 0.25) {
			t.Errorf("flow %d: emulated %.3f Gb/s vs elastic max-min %.3f Gb/s: %.0f%% off, want <= 25%%", r.Flow, got, ref, e*100)
		}
	}
}

// A failed or incomplete measurement fails the run and leaves the scenario incomplete
// (no part file): a rerun (resume) measures it again.
func TestEmulateFailureLeavesScenarioIncomplete(t *testing.T) {
	s := mustSpec(t, emuSpec)
	for _, fe := range []*fakeEmulator{{fail: errors.New("probe died")}, {drop: true}, {latency: "bogus"}} {
		out := t.TempDir()
		_, err := Generate(context.Background(), s, nil, out, Options{Emulator: fe, Workers: 1})
		if err == nil || !strings.Contains(err.Error(), "sample 0") {
			t.Fatalf("failed measurement: err = %v, want an error naming sample 0", err)
		}
		if (fe.drop || fe.latency != "") && !errors.Is(err, ErrEmulation) {
			t.Errorf("unmeasured flow or unknown latency emulation: err = %v, want ErrEmulation", err)
		}
		if fe.latency != "" && !strings.Contains(err.Error(), `latency emulation "bogus"`) {
			t.Errorf("unknown latency emulation: err = %v, want it named", err)
		}
		if _, serr := os.Stat(filepath.Join(out, "parquet", "flows", "part-000000.parquet")); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("scenario 0 written although its emulated sample failed (stat: %v)", serr)
		}
		ok := &fakeEmulator{}
		if _, err := Generate(context.Background(), s, nil, out, Options{Emulator: ok}); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if ok.calls != 1 {
			t.Errorf("resume measured %d samples, want 1", ok.calls)
		}
		readEmulated(t, out, emulation.LatencyDelayLine)
	}
}

// Progress is reported after the emulated scenario and reaches the total.
func TestEmulateProgress(t *testing.T) {
	s := mustSpec(t, emuSpec)
	var calls [][2]int
	_, err := Generate(context.Background(), s, nil, t.TempDir(), Options{Emulator: &fakeEmulator{}, Progress: func(done, total int) {
		calls = append(calls, [2]int{done, total})
	}})
	if err != nil {
		t.Fatal(err)
	}
	// (0,3) at the start, (1,3) after the emulated sample, (2,3) after its scenario,
	// (3,3) after the last scenario.
	want := [][2]int{{0, 3}, {1, 3}, {2, 3}, {3, 3}}
	if !slices.Equal(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
}

// A flow whose probe failed keeps null emulated columns (absent, not zero) and is
// counted in emulated_failed_flows; the sample's scale is recorded.
func TestEmulateFailedFlowIsNull(t *testing.T) {
	s := mustSpec(t, emuSpec)
	out := t.TempDir()
	if _, err := Generate(context.Background(), s, nil, out, Options{Emulator: &fakeEmulator{failFlow: true}}); err != nil {
		t.Fatal(err)
	}
	sr, err := parquet.ReadFile[SampleRow](filepath.Join(out, "parquet", "samples", "part-000000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if r := sr[0]; r.EmulatedFailedFlows == nil || *r.EmulatedFailedFlows != 1 || r.EmulatedScale == nil || *r.EmulatedScale != 0.002 {
		t.Errorf("sample 0: emulated_failed_flows %v emulated_scale %v, want 1 and 0.002", r.EmulatedFailedFlows, r.EmulatedScale)
	}
	if r := sr[1]; r.EmulatedFailedFlows != nil || r.EmulatedScale != nil {
		t.Errorf("sample 1 (not emulated): emulated_failed_flows %v emulated_scale %v, want null", r.EmulatedFailedFlows, r.EmulatedScale)
	}
	for _, r := range readEmulated(t, out, emulation.LatencyDelayLine) {
		if r.Sample != 0 {
			continue
		}
		failed := r.Flow == 2
		if got := r.EmulatedRateGbps == nil && r.EmulatedRTTMs == nil && r.EmulatedRetransmits == nil && r.EmulatedLoss == nil; got != failed {
			t.Errorf("flow %d: emulated columns null = %v, want %v", r.Flow, got, failed)
		}
		if r.ElasticRateGbps == nil {
			t.Errorf("flow %d: elastic_rate_gbps null: it is a model value, present for every flow of an emulated sample", r.Flow)
		}
	}
}

// The lab's scale keeps the forwarding load within LoadBps and every link within
// MaxEmulatedBps; a budget that would shape a link below the sandbox's minimum rate is
// refused with ErrEmulation.
func TestEmulateScale(t *testing.T) {
	n, err := network.Generate("ring:n=4", 1)
	if err != nil {
		t.Fatal(err)
	}
	n.Flows = []network.Flow{{ID: "f0", Src: n.Devices[0].ID, Dst: n.Devices[2].ID}, {ID: "f1", Src: n.Devices[1].ID, Dst: n.Devices[3].ID}}
	o := emulation.Options{Lab: "sc", Prefix: "tfdt-"}
	for _, budget := range []float64{1e9, 50e6, 1e6} {
		e := &NetnsEmulator{LoadBps: budget}
		scale, err := e.scale(n, o)
		if err != nil {
			t.Fatalf("budget %g: %v", budget, err)
		}
		p, err := emulation.NewPlan(n, o, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		pred, err := emulation.MaxMin(n, p)
		if err != nil {
			t.Fatal(err)
		}
		load := 0.0
		for i, f := range p.Flows {
			load += pred[i].RateGbps * 1e9 * float64(len(f.Path)) * scale
		}
		if load > budget*(1+1e-9) || scale > emulation.DefaultScale || network.RingCapacityGbps*1e9*scale > MaxEmulatedBps*(1+1e-9) {
			t.Errorf("budget %g: scale %g gives a load of %g bit/s", budget, scale, load)
		}
		if budget < 1e9 && load < budget*(1-1e-9) {
			t.Errorf("budget %g: scale %g uses only %g bit/s: not the largest scale", budget, scale, load)
		}
	}
	if _, err := (&NetnsEmulator{LoadBps: 100}).scale(n, o); !errors.Is(err, ErrEmulation) || !strings.Contains(err.Error(), "below") {
		t.Errorf("tiny budget: err = %v, want ErrEmulation (a link below the minimum rate)", err)
	}
}
