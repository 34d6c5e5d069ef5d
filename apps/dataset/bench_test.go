package dataset

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// The goal: ≥ 10,000 labelled samples per minute for 50-node topologies with
// 2,500 flows each. Results are in docs/benchmarks.md.
func benchSpec(b *testing.B, samples int, formats string) *Spec {
	return mustSpec(b, fmt.Sprintf(`
name: bench
seed: 1
samples: %d
samples_per_scenario: 100
topologies: [{generator: "wan:n=50"}]
traffic: {flows: 2500, intensity_gbps: [1, 10]}
failures: {max: 2}
formats: [%s]
`, samples, formats))
}

// BenchmarkLabel50x2500 measures drawing and labelling one sample (no output).
func BenchmarkLabel50x2500(b *testing.B) {
	s := benchSpec(b, 100, "parquet")
	sc, err := buildScenario(s, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sm := drawTraffic(s, sc, i)
		if err := label(s, sc, sm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Minutes(), "samples/min")
}

// BenchmarkLabelQueue50x2500 is BenchmarkLabel50x2500 with the queueing model's
// delay, jitter and loss labels (labels.queue).
func BenchmarkLabelQueue50x2500(b *testing.B) {
	s := benchSpec(b, 100, "parquet")
	s.Labels.Queue = true
	sc, err := buildScenario(s, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sm := drawTraffic(s, sc, i)
		if err := label(s, sc, sm); err != nil {
			b.Fatal(err)
		}
		if !sm.queued {
			b.Fatalf("sample %d: the queueing model did not converge", i)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Minutes(), "samples/min")
}

func benchGenerate(b *testing.B, formats string) {
	const samples = 400
	s := benchSpec(b, samples, formats)
	start, cpu0 := time.Now(), processCPU(b)
	for b.Loop() {
		if _, err := Generate(context.Background(), s, nil, b.TempDir(), Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(samples*b.N)/time.Since(start).Minutes(), "samples/min")
	// CPU time per sample (user + system, whole process) reads the same on a loaded
	// machine; samples/min on the 2-core machine is at best 2 × 60,000 / cpu-ms/sample.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Millisecond)/float64(samples*b.N), "cpu-ms/sample")
}

// processCPU is the user + system CPU time the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGenerateParquet50x2500 generates 400 samples (4 scenarios) to Parquet.
func BenchmarkGenerateParquet50x2500(b *testing.B) { benchGenerate(b, "parquet") }

// BenchmarkGenerateBoth50x2500 generates 400 samples to Parquet and the RouteNet layout.
func BenchmarkGenerateBoth50x2500(b *testing.B) { benchGenerate(b, "parquet, routenet") }
