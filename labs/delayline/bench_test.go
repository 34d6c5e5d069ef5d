//go:build linux

package delayline

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDelayLinePrecision measures round-trip times (a UDP echo, 200 probes 5 ms
// apart, in an HTB class of their own so that they never queue behind TCP) between two
// namespaces joined directly or through the delay line at several delays, idle and
// under one bulk TCP flow, with both directions shaped to 100 Mb/s as in the sandbox
// (rate=0: unshaped, what the line itself can carry). Reported: mean RTT, its error
// against 2×delay, standard deviation (jitter), p99 and max, lost probes, and the TCP
// goodput over the probing window. Each iteration measures once; run with -benchtime 1x.
// With TWINFLOW_BIN set (make build), the line runs as `twinflow-node delay` in its own
// process, as the sandbox runs it.
//
//	go test -run '^$' -bench DelayLinePrecision -benchtime 1x ./labs/delayline
func BenchmarkDelayLinePrecision(b *testing.B) {
	type cfg struct {
		line  bool
		delay time.Duration
		load  bool
		rate  int
		rt    bool
	}
	var cfgs []cfg
	for _, load := range []bool{false, true} {
		cfgs = append(cfgs, cfg{false, 0, load, 100, false})
		for _, rt := range []bool{false, true} {
			for _, d := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
				cfgs = append(cfgs, cfg{true, d, load, 100, rt})
			}
		}
	}
	cfgs = append(cfgs, cfg{false, 0, true, 0, false}, cfg{true, 0, true, 0, false}, cfg{true, 0, true, 0, true})
	for _, c := range cfgs {
		path := "direct"
		if c.line {
			path = "line"
		}
		load := "idle"
		if c.load {
			load = "tcp"
		}
		if c.rt {
			path += "-rt"
		}
		b.Run(fmt.Sprintf("path=%s/delay=%v/load=%s/rate=%dM", path, c.delay, load, c.rate), func(b *testing.B) {
			for range b.N {
				p := newPair(b, c.line, c.delay, c.rate, c.rt)
				var stop func() int64
				var t0 time.Time
				if c.load {
					var start func() time.Time
					start, stop = tcpLoad(b, p, 5001)
					time.Sleep(time.Second) // past slow start
					t0 = start()
				}
				rtts, lost := udpPing(b, p, 200, 5*time.Millisecond)
				if c.load {
					n := stop()
					b.ReportMetric(float64(n)*8/time.Since(t0).Seconds()/1e6, "goodput-Mb/s")
				}
				s := summarize(rtts)
				want := 2 * float64(c.delay) / 1e6
				b.ReportMetric(s.mean, "rtt-mean-ms")
				b.ReportMetric(s.mean-want, "err-ms")
				b.ReportMetric(s.sd, "sd-ms")
				b.ReportMetric(s.p99, "p99-ms")
				b.ReportMetric(s.max, "max-ms")
				b.ReportMetric(float64(lost), "lost")
				if p.line != nil {
					ab, ba := p.line.Stats()
					b.ReportMetric(float64(ab.Late+ba.Late), "late-frames")
					b.ReportMetric(float64(ab.Dropped+ba.Dropped), "dropped-frames")
				}
				if p.stopLine != nil {
					p.stopLine()
					p.stopLine = nil
				}
			}
		})
	}
}
