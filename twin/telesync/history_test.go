package telesync

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/repository"
)

// TestHistory maps telemetry batches to repository samples, drops (and counts)
// what exceeds its buffer, and flushes into a real sqlite repository.
func TestHistory(t *testing.T) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "h.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h := NewHistory(st.Telemetry(), slog.New(slog.DiscardHandler))
	h.max = 5
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	h.Observe(&telemetry.Batch{Received: at, Interfaces: []telemetry.InterfaceSample{
		{Device: "r1", Interface: "eth1", At: at, OperStatus: network.StatusEnabled, HasRates: true, InRateGbps: 1.5, OutRateGbps: 2.5},
		{Device: "r1", Interface: "eth2", At: at, HasRates: true, InRateGbps: 3, OutRateGbps: 4},
	}, Devices: []telemetry.DeviceSample{{Device: "r2", Reachable: false}}})
	if got, want := h.dropped.Load(), uint64(1); got != want {
		t.Fatalf("dropped %d; want %d (buffer of 5, 6 samples)", got, want)
	}
	h.flush(ctx)
	if got := h.written.Load(); got != 5 {
		t.Fatalf("written %d; want 5", got)
	}
	for _, c := range []struct {
		iface, metric string
		want          float64
	}{{"eth1", "oper_up", 1}, {"eth1", "in_rate_gbps", 1.5}, {"eth1", "out_rate_gbps", 2.5}, {"eth2", "in_rate_gbps", 3}} {
		pts, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: "r1", Interface: c.iface, Metric: c.metric,
			From: at.Add(-time.Second), To: at.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 1 || pts[0].Avg != c.want {
			t.Errorf("%s/%s = %+v; want one point %v", c.iface, c.metric, pts, c.want)
		}
	}
	h.flush(ctx) // nothing buffered: no write, no error
	if got := h.written.Load(); got != 5 {
		t.Fatalf("an empty flush wrote: %d", got)
	}
}
