package emulation

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
)

// Requirement trace: issue 16 (RTT under load within 25% per flow in emulation).

// recordedRun is one run of a recorded fidelity report (labs/fidelity/runs) re-scored
// against the committed queue model.
type recordedRun struct {
	file   string
	seed   int64
	buffer int
	run    FidelityRun
	now    QueueComparison
}

// rescoreRecorded re-scores every recorded run that has a queue-model comparison with
// the given parameters.
func rescoreRecorded(t *testing.T, params queue.Params) []recordedRun {
	t.Helper()
	files, err := filepath.Glob("../../labs/fidelity/runs/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded runs: %v", err)
	}
	var out []recordedRun
	for _, file := range files {
		var rep struct {
			Version     int           `json:"version"`
			Network     string        `json:"network"`
			Generate    string        `json:"generate"`
			Seed        int64         `json:"seed"`
			Scale       float64       `json:"scale"`
			QueueLimit  int           `json:"queue_limit"`
			SenderHosts bool          `json:"sender_hosts"`
			Runs        []FidelityRun `json:"runs"`
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var n *network.Network
		if rep.Generate != "" {
			n, err = network.Generate(rep.Generate, rep.Seed)
		} else {
			var path string // the network file in the repository
			switch {
			case strings.HasSuffix(rep.Network, "vector-a/network.json"):
				path = "labs/vector-a/network.json"
			case strings.HasPrefix(rep.Network, "labs/"):
				path = rep.Network
			default:
				t.Fatalf("%s: network %q is not in the repository", file, rep.Network)
			}
			var f *os.File
			if f, err = os.Open(filepath.Join("../..", path)); err == nil {
				n, err = network.DecodeJSON(f)
				f.Close()
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, r := range rep.Runs {
			if r.Queueing == nil {
				continue
			}
			o := Options{Lab: "rescore", Prefix: "tfe-", Scale: rep.Scale, Queue: r.Queue, QueueLimit: rep.QueueLimit, SenderHosts: rep.SenderHosts}
			p, err := NewPlan(n, o, nil, 0)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			recordedLatency(p, rep.Version, r)
			c, err := RescoreQueueModel(n, p, r.CC, params, *r.Queueing)
			if err != nil {
				t.Fatalf("%s %s %s: %v", file, r.Queue, r.CC, err)
			}
			if len(c.Rows) != len(r.Queueing.Rows) || len(c.Missing) > 0 {
				t.Fatalf("%s %s %s: %d rows re-scored of %d (missing %v)", file, r.Queue, r.CC, len(c.Rows), len(r.Queueing.Rows), c.Missing)
			}
			out = append(out, recordedRun{file: filepath.Base(file), seed: rep.Seed, buffer: rep.QueueLimit, run: r, now: c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].file < out[j].file })
	return out
}

// recordedLatency sets how the recorded run r applied link latencies on its plan p:
// as the report records it (version 2 on), else inferred — older reports come from
// machines without netem, where a network with link latencies ran with delay lines.
func recordedLatency(p *Plan, version int, r FidelityRun) {
	if version >= 2 {
		p.Netem, p.DelayLine = r.Netem, r.DelayLine
		return
	}
	p.Netem, p.DelayLine = false, hasDelay(p)
}

// TestRecordedRunsRTT re-scores the recorded emulation runs (labs/fidelity/runs) with
// the committed queue model — the measurements are the recorded ones, only the
// predictions are recomputed — and holds the model to the RTT results
// docs/fidelity.md reports as met: CUBIC under fq every flow within 25%; CUBIC and
// Reno on 50- and 200-packet FIFOs of seeds 103–105 (RTTs measured as the mean over the
// window) every flow within 25%; CUBIC and Reno on vector A's FIFOs of session 11 (va*
// runs: 20, 50, 100 and 200 packets, with 5 ms links through the delay line and without;
// seed 110 with 5 ms links, s110-5ms-*) every flow within 25%. Run with -v for the per-run table.
func TestRecordedRunsRTT(t *testing.T) {
	runs := rescoreRecorded(t, queue.DefaultParams())
	for _, r := range runs {
		c := r.now
		var errs []string
		for _, row := range c.Rows {
			errs = append(errs, fmt.Sprintf("%+.0f", row.RTTErrorPct))
		}
		t.Logf("%-26s %-4s %-5s rate %5.1f%% (%5.1f%%)  RTT %5.1f%% (%5.1f%%)  converged %v  RTT per flow %s",
			r.file, r.run.Queue, r.run.CC, c.MedianAbsErrorPct, c.MaxAbsErrorPct, c.MedianAbsRTTErrorPct, c.MaxAbsRTTErrorPct, c.Converged, strings.Join(errs, " "))
		held := false
		switch {
		case r.run.Queue == QueueFQ && r.run.CC == "cubic" && !strings.HasSuffix(r.file, "-fq.json"):
			held = true // fq with the ACK class (the runs before it starved ACKs)
		case r.run.Queue == QueueFIFO && (r.run.CC == "cubic" || r.run.CC == "reno") && r.seed >= 103 && r.seed <= 105 && r.buffer >= 50:
			held = true
		case r.run.Queue == QueueFIFO && (r.run.CC == "cubic" || r.run.CC == "reno") && (strings.HasPrefix(r.file, "va") || strings.HasSuffix(r.file, "-s11.json")):
			held = true // vector A with and without, seed 110 with, propagation delay (session 11)
		}
		if held && c.MaxAbsRTTErrorPct > 25 {
			t.Errorf("%s %s %s: RTT error up to %.1f%% (%s), want every flow within 25%%", r.file, r.run.Queue, r.run.CC, c.MaxAbsRTTErrorPct, strings.Join(errs, " "))
		}
		if !c.Converged {
			t.Errorf("%s %s %s: the model did not converge", r.file, r.run.Queue, r.run.CC)
		}
	}
}

// TestRecordedRunsBBRShallow holds bbr_shallow (labs/calibration/queue-params-bbrwin-1.json)
// to what docs/fidelity.md reports on the BBR runs at 20 packets: on the calibration
// networks it was fitted on (seeds 1, 2, 4, 8, two runs each) the mean of the median
// |rate error| falls from 30.8% to 14.4%, and on the evaluation networks (seeds 102–111
// and vector A) from 42.7% to 25.7%; at 50 and 200 packets it changes no median by more than half a
// point (the one FIFO there shallower than its flows' in-flight excess, seed 103's
// r-1→r-0 with five flows at 50 packets, does not hold them). The session-11 vector A
// runs (*-s11.json: vector A and seed 110 with 5 ms links through the delay line, vector A
// without) are logged, not held or
// averaged: with propagation BBR's in-flight excess grows with the BDP, so bbr_shallow
// applies at 50 packets there too (docs/fidelity.md, "Session 11").
func TestRecordedRunsBBRShallow(t *testing.T) {
	p := queue.DefaultParams()
	p.BBRShallow = 1
	base, runs := rescoreRecorded(t, queue.DefaultParams()), rescoreRecorded(t, p)
	var calib, eval [2][]float64 // theory-1, bbr_shallow
	for i, r := range runs {
		if r.run.CC != "bbr" || r.run.Queue != QueueFIFO || base[i].file != r.file {
			continue
		}
		b, s := base[i].now.MedianAbsErrorPct, r.now.MedianAbsErrorPct
		if strings.HasSuffix(r.file, "-s11.json") {
			t.Logf("%-28s %d packets: theory-1 %5.1f%%  bbr_shallow %5.1f%% (session 11, not held)", r.file, r.buffer, b, s)
			continue
		}
		if r.buffer != 20 {
			if math.Abs(b-s) > 0.5 {
				t.Errorf("%s: %d packets, median %.1f%% → %.1f%%, want unchanged", r.file, r.buffer, b, s)
			}
			continue
		}
		if !r.now.Converged {
			t.Errorf("%s: did not converge with bbr_shallow", r.file)
		}
		t.Logf("%-28s theory-1 %5.1f%%  bbr_shallow %5.1f%%", r.file, b, s)
		if r.seed < 100 && !strings.HasPrefix(r.file, "vector-a") {
			calib[0], calib[1] = append(calib[0], b), append(calib[1], s)
		} else {
			eval[0], eval[1] = append(eval[0], b), append(eval[1], s)
		}
	}
	mean := func(v []float64) float64 {
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		return sum / float64(len(v))
	}
	if len(calib[0]) < 8 || len(eval[0]) < 8 {
		t.Fatalf("%d calibration and %d evaluation runs at 20 packets, want 8 and 8", len(calib[0]), len(eval[0]))
	}
	c0, c1, e0, e1 := mean(calib[0]), mean(calib[1]), mean(eval[0]), mean(eval[1])
	t.Logf("calibration %.1f%% → %.1f%%, evaluation %.1f%% → %.1f%%", c0, c1, e0, e1)
	if !(c1 < 15 && c1 < c0-10) || !(e1 < 28 && e1 < e0-10) {
		t.Errorf("mean median |rate error| at 20 packets: calibration %.1f%% → %.1f%%, evaluation %.1f%% → %.1f%%; want under 15%% and 28%%, 10 points lower", c0, c1, e0, e1)
	}
}
