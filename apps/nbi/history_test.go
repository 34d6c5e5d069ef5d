package nbi_test

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/repository"
)

// TestTelemetryHistory serves samples stored in a real (sqlite) repository, raw and
// downsampled, and rejects malformed queries precisely.
func TestTelemetryHistory(t *testing.T) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "h.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var samples []repository.Sample
	for i := range 120 { // one sample a second for two minutes, value = i
		samples = append(samples, repository.Sample{Device: "leaf-0", Interface: "eth1", Metric: "in_rate_gbps",
			Time: t0.Add(time.Duration(i) * time.Second), Value: float64(i)})
	}
	if err := st.Telemetry().Append(ctx, samples); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nbi.Options{History: st.Telemetry()})

	var series nbi.SeriesList
	e.json("GET", "/api/v1/telemetry/series", "", 200, &series)
	if len(series.Items) != 1 || series.Items[0] != (repository.Series{Device: "leaf-0", Interface: "eth1", Metric: "in_rate_gbps"}) {
		t.Fatalf("series = %+v", series.Items)
	}
	q := url.Values{"device": {"leaf-0"}, "interface": {"eth1"}, "metric": {"in_rate_gbps"},
		"from": {t0.Format(time.RFC3339)}, "to": {t0.Add(2 * time.Minute).Format(time.RFC3339)}}
	var raw nbi.RangeResponse
	e.json("GET", "/api/v1/telemetry/range?"+q.Encode(), "", 200, &raw)
	if len(raw.Points) != 120 || raw.Points[7].Avg != 7 {
		t.Fatalf("raw: %d points, [7]=%+v", len(raw.Points), raw.Points[7])
	}
	q.Set("step", "1m")
	var buck nbi.RangeResponse
	e.json("GET", "/api/v1/telemetry/range?"+q.Encode(), "", 200, &buck)
	if len(buck.Points) != 2 {
		t.Fatalf("1m buckets: %+v", buck.Points)
	}
	if p := buck.Points[0]; p.Min != 0 || p.Max != 59 || p.Avg != 29.5 || p.Count != 60 {
		t.Fatalf("first bucket = %+v; want min 0 max 59 avg 29.5 count 60", p)
	}

	for _, c := range []struct{ query, field string }{
		{"metric=x", "device"},
		{"device=d", "metric"},
		{"device=d&metric=m&from=yesterday", "from"},
		{"device=d&metric=m&to=2026-13-01T00:00:00Z", "to"},
		{"device=d&metric=m&from=2026-11-21T11:00:00Z&to=2026-11-21T10:00:00Z", "from"},
		{"device=d&metric=m&step=-1s", "step"},
		{"device=d&metric=m&step=soon", "step"},
		{"device=d&metric=m&from=2000-01-01T00:00:00Z&step=1ms", "step"},
		{"device=d&metric=m&bogus=1", "bogus"},
	} {
		t.Run(c.field, func(t *testing.T) {
			p := problem(t, e.do("GET", "/api/v1/telemetry/range?"+c.query, ""))
			if p.Status != 400 || p.Field != c.field {
				t.Fatalf("%s: %+v; want 400 on field %s", c.query, p, c.field)
			}
		})
	}

	// Without a history the routes say so.
	e2 := newEnv(t, nbi.Options{})
	for _, path := range []string{"/api/v1/telemetry/series", "/api/v1/telemetry/range?device=d&metric=m"} {
		if p := problem(t, e2.do("GET", path, "")); p.Status != 503 {
			t.Fatalf("%s without history: %+v", path, p)
		}
	}
}
