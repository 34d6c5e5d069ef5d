package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIMonitoringBrowser (REQ-USA-01, REQ-USA-02, REQ-MON-01; docs/ui.md) drives the
// demo's "KPIs & alarms" and "Services" views in headless Chromium: alice (engineer,
// operator) opens the alarms view by keyboard; an engineer's KPI with a threshold the
// demo's prediction crosses raises an alarm, which appears without a reload (event
// stream), with its severity as text; carla (approver, no operate permission) sees it
// without an Acknowledge button; alice acknowledges it by keyboard and carla's page
// shows who did; alice picks the KPI and its chart draws (non-blank canvas) with the
// same values as a table; the services view lists the live twin's services (the demo
// has none). Any console error fails the test.
func TestWebUIMonitoringBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium and serve")
	}
	br := newBrowser(t)
	bin := filepath.Join(labBinaries(t), "twinflow")
	srv := serveBinary(t, bin, "--demo")
	arts := artifactsDir(t)
	alice := br.ctx

	run(t, alice, "open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("demo-alice")),
		chromedp.Click(chromedp.ID("demo-alice")))
	waitJS(t, alice, "topology", `window.tfMetrics.renders >= 1`, 20*time.Second)
	run(t, alice, "alarms view by keyboard", chromedp.KeyEvent("4"), chromedp.WaitVisible(chromedp.ID("alarm-list")))
	waitJS(t, alice, "no alarm yet", `document.getElementById('alarm-summary').textContent === '(none active)'`, 10*time.Second)

	// The demo predicts 2 Gb/s on leaf-3--h-3-1: a threshold above 1 Gb/s raises at once.
	apiPost(t, srv.URL, demoToken(t, srv.URL, "alice"), "/api/v1/kpis", map[string]any{
		"id": "ui-load", "kind": "link", "subject": "leaf-3--h-3-1", "metric": "predicted_load_gbps", "sample_interval_s": 0.5,
		"threshold": map[string]any{"direction": "above", "raise": 1, "clear": 1, "severity": "major"}}, nil)
	row := `document.querySelector('#alarm-list tr[data-alarm]')`
	waitJS(t, alice, "alarm raised, via the event stream", row+` && `+row+`.dataset.severity === 'major' && `+row+`.cells[0].textContent === 'major' &&
		`+row+`.textContent.includes('leaf-3--h-3-1') && !!`+row+`.querySelector('button.ack')`, 20*time.Second)
	alarm := eval[string](t, alice, row+`.dataset.alarm`)

	carla := br.tab()
	run(t, carla, "carla logs in", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("demo-carla")),
		chromedp.Click(chromedp.ID("demo-carla")), chromedp.WaitVisible(chromedp.ID("cy")),
		chromedp.Click(chromedp.ID("nav-kpis")))
	waitJS(t, carla, "carla sees the alarm", fmt.Sprintf(`!!document.querySelector('#alarm-list tr[data-alarm=%q]')`, alarm), 10*time.Second)
	if eval[bool](t, carla, `!!document.querySelector('#alarm-list button.ack')`) {
		t.Error("carla (approver, no operate permission) is shown the Acknowledge button")
	}
	screenshot(t, alice, arts, "11-alarms.png")

	// Acknowledge by keyboard: the row has focus, y acknowledges it.
	runRows(t, alice, "acknowledge by keyboard", chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#alarm-list tr[data-alarm=%q]`, alarm))), chromedp.KeyEvent("y"))
	acked := fmt.Sprintf(`(document.querySelector('#alarm-list tr[data-alarm=%q]') || {}).dataset?.acked === 'yes'`, alarm)
	waitJS(t, alice, "acknowledged", acked, 10*time.Second)
	waitJS(t, carla, "carla's page learns it from the event stream", acked+fmt.Sprintf(
		` && document.querySelector('#alarm-list tr[data-alarm=%q]').textContent.includes('by alice')`, alarm), 10*time.Second)

	// The KPI's chart (uPlot) and its text alternative.
	run(t, alice, "KPI list", chromedp.KeyEvent("r"))
	waitJS(t, alice, "KPI listed", `!!document.querySelector('#kpi-list tr[data-kpi="ui-load"]')`, 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // a few more samples (every 0.5 s)
	runRows(t, alice, "pick the KPI by keyboard", chromedp.Focus(chromedp.CSS(`#kpi-list tr[data-kpi="ui-load"]`)), chromedp.KeyEvent("\r"))
	waitJS(t, alice, "chart drawn", `!!document.querySelector('#kpi-chart canvas') && Number(document.getElementById('kpi-chart-summary').dataset.samples) >= 2`, 10*time.Second)
	// Non-blank: the series line (the chart's stroke colour) covers pixels of the canvas.
	lit := eval[int](t, alice, `(() => { const c = document.querySelector('#kpi-chart canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 60 && d[i + 1] > 60 && d[i + 1] < 120 && d[i + 2] > 140) n++; return n; })()`)
	t.Logf("KPI chart: %d pixels of the series colour", lit)
	if lit < 50 {
		t.Errorf("the KPI chart's canvas has %d pixels of the series colour; want a drawn line", lit)
	}
	rows := eval[int](t, alice, `document.querySelectorAll('#kpi-table tbody tr').length`)
	samples := eval[int](t, alice, `Number(document.getElementById('kpi-chart-summary').dataset.samples)`)
	if rows != samples || !strings.Contains(eval[string](t, alice, `document.querySelector('#kpi-table tbody td:nth-child(2)').textContent`), "2.0000") {
		t.Errorf("value table: %d rows for %d samples, or its values are not the predicted 2 Gb/s", rows, samples)
	}
	screenshot(t, alice, arts, "12-kpi-chart.png")

	// Services and slices: the demo's live twin has none; the view says so.
	run(t, alice, "services view by keyboard", chromedp.KeyEvent("5"), chromedp.WaitVisible(chromedp.ID("svc-list")))
	waitJS(t, alice, "services listed (none in the demo)", `!document.getElementById('svc-empty').hidden && document.querySelectorAll('#svc-list tbody tr').length === 0`, 10*time.Second)

	if errs := br.consoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n  %s", strings.Join(errs, "\n  "))
	}
}
