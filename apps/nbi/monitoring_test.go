package nbi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/repository/pgtest"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

// monitorStore opens a fresh PostgreSQL database (repository/pgtest, dropped at
// cleanup); without TWINFLOW_TEST_PG, sqlite (or a failure under
// TWINFLOW_REQUIRE_INTEGRATION).
func monitorStore(t *testing.T) repository.Store {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "m.db")
	pg := os.Getenv("TWINFLOW_TEST_PG") != "" || os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1"
	if pg {
		dsn = pgtest.DSN(t)
	}
	st, err := repository.Open(context.Background(), dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if pg && st.Backend() != "postgres" {
		t.Fatalf("backend %s", st.Backend())
	}
	return st
}

// TestMonitoringAPI (REQ-MON-01, -04, -07, -08, seed 000 §3.5) on PostgreSQL: KPI descriptors are
// created, listed, sampled, ranged and deleted over REST; a failed link's grouped alarms
// and the KPI values arrive on the one SSE stream (tables alarms and kpis); an operator
// acknowledges an alarm; malformed requests are refused precisely and change nothing.
func TestMonitoringAPI(t *testing.T) {
	ctx := context.Background()
	st := monitorStore(t)
	e := newEnv(t, nbi.Options{Heartbeat: 50 * time.Millisecond})
	var link network.Link
	_ = e.m.Live().View(func(r *twin.Reader) error {
		ls, _, _ := r.Links(twin.ListOptions{})
		link = ls[0].Link
		return nil
	})
	if _, err := e.m.Live().Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutFlow(network.Flow{ID: "fl1", Src: link.Endpoints[0].Device, Dst: link.Endpoints[1].Device,
			Path: []string{link.ID}, Owner: "svc1"}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc, err := monitor.New(ctx, monitor.Config{Twins: e.m, Store: st.Monitoring()})
	if err != nil {
		t.Fatal(err)
	}
	o := e.o
	o.Monitor = svc
	e.serve(o)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", e.hs.URL+"/api/v1/events?table=alarms,kpis", nil)
	req.Header.Set("Authorization", bearer(e.sec.tokens["viewer"]))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)

	kpi := `{"id":"util-1","kind":"link","subject":"` + link.ID + `","metric":"oper_up","sample_interval_s":1,
		"threshold":{"direction":"below","raise":0.5,"clear":0.5,"severity":"critical"}}`
	e.as = "viewer"
	e.json("POST", "/api/v1/kpis", kpi, 403, nil)
	e.as = "engineer"
	var created nbi.KPIView
	e.json("POST", "/api/v1/kpis", kpi, 201, &created)
	if created.ID != "util-1" || created.Threshold.Severity != mon.SeverityCritical || created.Created.IsZero() {
		t.Fatalf("created %+v", created)
	}
	e.json("POST", "/api/v1/kpis", kpi, 409, nil)
	for _, bad := range []struct {
		body   string
		status int
	}{
		{`{"id":"k2","kind":"link","subject":"x","metric":"oper_up","sample_interval_s":0}`, 422},
		{`{"id":"k2","kind":"link","subject":"x","metric":"oper_up","sample_interval_s":1,"threshold":{"direction":"above","raise":1,"clear":2}}`, 422},
		{`{"id":"` + strings.Repeat("k", 200) + `","kind":"link","subject":"x","metric":"oper_up","sample_interval_s":1}`, 422},
		{`{"id":"k2","kind":"link","subject":"x","metric":"oper_up","sample_interval_s":1,"extra":1}`, 400},
		{`{"id":"k2"`, 400},
	} {
		e.json("POST", "/api/v1/kpis", bad.body, bad.status, nil)
	}
	var list nbi.KPIList
	e.json("GET", "/api/v1/kpis", "", 200, &list)
	if len(list.Items) != 1 {
		t.Fatalf("malformed KPIs were stored: %+v", list.Items)
	}
	e.json("GET", "/api/v1/kpis/util-1/latest", "", 404, nil) // not sampled yet

	// The link fails: one sample (value 0 → the threshold raises) and the grouped alarms.
	if err := e.m.Live().ObserveLink(ctx, link.ID, twin.LinkState{OperStatus: network.StatusDisabled, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	evs := readSSE(t, sc, 5) // 1 kpi value + 4 alarms (link, flow, service, threshold)
	tables := map[string]int{}
	for _, ev := range evs {
		var te struct {
			Table string `json:"table"`
		}
		if err := json.Unmarshal([]byte(ev.data), &te); err != nil {
			t.Fatal(err)
		}
		tables[te.Table]++
	}
	if tables["kpis"] != 1 || tables["alarms"] != 4 {
		t.Errorf("SSE tables %v; want 1 kpis and 4 alarms", tables)
	}
	var latest monitor.KPIValue
	e.json("GET", "/api/v1/kpis/util-1/latest", "", 200, &latest)
	if latest.Value != 0 {
		t.Errorf("latest %+v", latest)
	}
	var alarms nbi.AlarmList
	e.json("GET", "/api/v1/alarms?state=raised", "", 200, &alarms)
	byKey := map[string]mon.Alarm{}
	for _, a := range alarms.Items {
		byKey[a.Key] = a
	}
	root := byKey["link-down:"+link.ID]
	if root.ID == "" || byKey["flow-affected:fl1"].ParentID != root.ID || byKey["service-affected:svc1"].ParentID != root.ID ||
		byKey["threshold:util-1"].ParentID != root.ID {
		t.Fatalf("grouping: %+v", alarms.Items)
	}
	var page nbi.AlarmList
	e.json("GET", "/api/v1/alarms?limit=2", "", 200, &page)
	if len(page.Items) != 2 || page.NextPageToken == "" {
		t.Errorf("page %+v", page)
	}
	e.as = "engineer"
	e.json("POST", "/api/v1/alarms/"+root.ID+"/ack", "", 403, nil)
	e.as = "operator"
	var acked mon.Alarm
	e.json("POST", "/api/v1/alarms/"+root.ID+"/ack", "", 200, &acked)
	if !acked.Acknowledged || acked.AckedBy != "operator" {
		t.Errorf("acked %+v", acked)
	}
	e.json("POST", "/api/v1/alarms/nope/ack", "", 404, nil)
	e.json("GET", "/api/v1/alarms/"+strings.Repeat("a", 200), "", 400, nil)
	e.json("GET", "/api/v1/alarms?state=open", "", 400, nil)

	var rng nbi.KPIRangeResponse
	e.json("GET", "/api/v1/kpis/util-1/range", "", 200, &rng)
	if len(rng.Samples) != 1 || rng.Samples[0].Value != 0 {
		t.Errorf("range %+v", rng)
	}
	for _, q := range []string{"limit=0", "limit=100001", "from=yesterday", "from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z", "bogus=1"} {
		e.json("GET", "/api/v1/kpis/util-1/range?"+q, "", 400, nil)
	}
	e.as = "engineer"
	e.json("DELETE", "/api/v1/kpis/util-1", "", 204, nil)
	e.json("GET", "/api/v1/kpis/util-1", "", 404, nil)
	e.json("DELETE", "/api/v1/kpis/util-1", "", 404, nil)
	// Deleting the KPI cleared its threshold alarm, in the store too.
	e.json("GET", "/api/v1/alarms/"+byKey["threshold:util-1"].ID, "", 200, &acked)
	if acked.State != mon.Cleared {
		t.Errorf("threshold alarm of a deleted KPI: %s", acked.State)
	}
}

// TestMonitoringUnavailable: without a monitor the routes answer 503.
func TestMonitoringUnavailable(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	e.json("GET", "/api/v1/kpis", "", 503, nil)
	e.json("GET", "/api/v1/alarms", "", 503, nil)
}
