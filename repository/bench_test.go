package repository_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinflow/twinflow/repository"
)

// benchSamples builds n samples over `series` series (device d<k>, interface eth0,
// metric in_rate), series-major, one sample per second starting at start.
func benchSamples(n, series int, start time.Time) []repository.Sample {
	out := make([]repository.Sample, 0, n)
	per := n / series
	for s := range series {
		dev := "d" + strconv.Itoa(s)
		for i := range per {
			out = append(out, repository.Sample{Device: dev, Interface: "eth0", Metric: "in_rate",
				Time: start.Add(time.Duration(i) * time.Second), Value: float64(i%1000) * 1.5})
		}
	}
	return out
}

func benchBackends(b *testing.B) []backend {
	if os.Getenv("TWINFLOW_TEST_PG") == "" {
		return []backend{{"sqlite", sqliteDSN}}
	}
	return backends()
}

// BenchmarkTelemetryAppend: 1M samples (1000 series x 1000 samples) per op through
// Telemetry.Append (COPY on PostgreSQL, prepared multi-row INSERTs on sqlite). Each op
// writes new timestamps, so the table and its index grow as a real ingest does.
func BenchmarkTelemetryAppend(b *testing.B) {
	const n = 1_000_000
	for _, be := range benchBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			st := openT(b, be.dsn(b))
			ctx := context.Background()
			start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			// Warm the series cache so the op measures sample ingest.
			if err := st.Telemetry().Append(ctx, benchSamples(1000, 1000, start.Add(-time.Hour))); err != nil {
				b.Fatal(err)
			}
			batches := make([][]repository.Sample, 0, 4)
			i := 0
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				if len(batches) <= i {
					batches = append(batches, benchSamples(n, 1000, start.Add(time.Duration(i)*time.Hour)))
				}
				s := batches[i%len(batches)]
				i++
				b.StartTimer()
				if err := st.Telemetry().Append(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkTelemetryRange seeds `total` samples (100 series, one sample per second) with
// Append and then queries one series: raw 1 h (3,600 points), 1 day at 1 min buckets
// (86,400 samples -> 1,440 points) and the whole series at 1 h buckets.
func BenchmarkTelemetryRange(b *testing.B) {
	for _, be := range benchBackends(b) {
		total := 10_000_000
		b.Run(fmt.Sprintf("%s/%dM", be.name, total/1_000_000), func(b *testing.B) {
			st := openT(b, be.dsn(b))
			ctx := context.Background()
			const series = 100
			per := total / series
			start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			seedStart := time.Now()
			const chunk = 1_000_000
			for off := 0; off < total; off += chunk {
				// Each chunk: 100 series x 10,000 consecutive seconds.
				samples := benchSamples(chunk, series, start.Add(time.Duration(off/series)*time.Second))
				if err := st.Telemetry().Append(ctx, samples); err != nil {
					b.Fatal(err)
				}
			}
			if st.Backend() == "postgres" {
				if _, err := repository.RawExec(ctx, st, "ANALYZE telemetry_chunks"); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("%s: seeded %d samples in %v (%.0f samples/s)", be.name, total, time.Since(seedStart),
				float64(total)/time.Since(seedStart).Seconds())
			queries := []struct {
				name string
				q    repository.RangeQuery
				want int
			}{
				{"raw-1h", repository.RangeQuery{From: start.Add(10 * time.Hour), To: start.Add(11 * time.Hour)}, 3600},
				{"1min-buckets-1d", repository.RangeQuery{From: start, To: start.Add(24 * time.Hour), Step: time.Minute}, 1440},
				{"1h-buckets-all", repository.RangeQuery{From: start, To: start.Add(time.Duration(per) * time.Second), Step: time.Hour},
					(per + 3599) / 3600},
			}
			for _, qc := range queries {
				b.Run(qc.name, func(b *testing.B) {
					k := 0
					for b.Loop() {
						q := qc.q
						q.Device, q.Interface, q.Metric = "d"+strconv.Itoa(k%series), "eth0", "in_rate"
						k++
						pts, err := st.Telemetry().Range(ctx, q)
						if err != nil {
							b.Fatal(err)
						}
						if len(pts) != qc.want {
							b.Fatalf("%s: %d points; want %d", qc.name, len(pts), qc.want)
						}
					}
				})
			}
		})
	}
}

// BenchmarkChangeTransition: one transition (with its ledger record) per op.
func BenchmarkChangeTransition(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			st := openT(b, be.dsn(b))
			ctx := context.Background()
			i := 0
			for b.Loop() {
				id := "c" + strconv.Itoa(i)
				i++
				if _, err := st.Changes().Create(ctx, repository.Change{ID: id, TwinID: "live"}); err != nil {
					b.Fatal(err)
				}
				if _, _, err := st.Changes().Transition(ctx, id, repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChangeTransitionParallel: the same with 16 concurrent writers (each op
// creates a change and moves it once), the load group commit is for.
func BenchmarkChangeTransitionParallel(b *testing.B) {
	for _, be := range benchBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			st := openT(b, be.dsn(b))
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(16 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "c" + strconv.FormatInt(n.Add(1), 10)
					if _, err := st.Changes().Create(ctx, repository.Change{ID: id, TwinID: "live"}); err != nil {
						b.Error(err)
						return
					}
					if _, _, err := st.Changes().Transition(ctx, id, repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
