package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIPredictedWhatifBrowser (REQ-USA-01, REQ-USA-02, REQ-MON-01; docs/ui.md) drives
// two views of the web UI in headless Chromium against `twinflow serve --demo` on the
// stand-in network (gNMI stand-ins with telemetry):
//   - predicted vs observed: alice commits an approved change by keyboard; the change's
//     view says "not compared yet" until the monitor compared the prediction with
//     telemetry (settle 3 s), then shows the per-link and per-flow table with each row's
//     verdict as text;
//   - what-if: carla (no design permission) gets no run form; alice runs the preloaded
//     N-1 sweep by keyboard (w), the progress ends in "succeeded", the links ranked by
//     criticality and the worst case's per-flow deltas are tables, the API's SVG charts
//     show as an image.
//
// Screenshots are checked to be non-blank; any console error fails the test.
func TestWebUIPredictedWhatifBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium and serve")
	}
	br := newBrowser(t)
	dir := labBinaries(t)
	srv := serveBinary(t, filepath.Join(dir, "twinflow"), "--demo", "--standin-bin", filepath.Join(dir, "twinflow-node"),
		"--monitor-settle", "3s", "--log-level", "warn")
	arts := artifactsDir(t)
	alice := br.ctx

	var ch struct {
		ID string `json:"id"`
	}
	apiPost(t, srv.URL, demoToken(t, srv.URL, "alice"), "/api/v1/changes", map[string]any{"label": "mtu leaf-0", "kind": "raw-config",
		"device_ops": map[string]any{"leaf-0": []map[string]any{{"op": "update", "path": "/interfaces/interface[name=eth1]/config/mtu", "value": 9000}}}}, &ch)
	apiPost(t, srv.URL, demoToken(t, srv.URL, "carla"), "/api/v1/changes/"+ch.ID+"/approve", nil, nil)

	run(t, alice, "open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("demo-alice")),
		chromedp.Click(chromedp.ID("demo-alice")))
	waitJS(t, alice, "topology", `window.tfMetrics.renders >= 1`, 20*time.Second)
	run(t, alice, "changes by keyboard", chromedp.KeyEvent("3"))
	row := fmt.Sprintf(`#ch-list tr[data-change=%q]`, ch.ID)
	waitJS(t, alice, "change listed", fmt.Sprintf(`!!document.querySelector('%s')`, row), 10*time.Second)
	runRows(t, alice, "select it by keyboard", chromedp.Focus(chromedp.CSS(row)), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("act-commit")))
	if eval[bool](t, alice, `!!document.getElementById('ch-pvo')`) {
		t.Error("an approved (uncommitted) change shows a predicted-vs-observed section")
	}
	run(t, alice, "commit by keyboard", chromedp.KeyEvent("c"))
	waitJS(t, alice, "committed, not compared yet", `document.querySelector('#ch-state').dataset.state === 'committed' &&
		document.getElementById('ch-pvo').dataset.compared === 'no' && document.getElementById('ch-pvo').textContent.includes('Not compared yet')`, 20*time.Second)
	waitJS(t, alice, "compared", `document.getElementById('ch-pvo').dataset.compared === 'yes'`, 30*time.Second)
	pvo := eval[string](t, alice, `document.getElementById('ch-pvo').innerText`)
	links := eval[int](t, alice, `document.querySelectorAll('#pvo-links tbody tr').length`)
	// Every row's verdict is text (not only a colour), and it agrees with data-diverged.
	bad := eval[int](t, alice, `[...document.querySelectorAll('#ch-pvo tbody tr')].filter((r) => r.cells[3].textContent !== (r.dataset.diverged === 'yes' ? 'diverged' : 'within')).length`)
	if links == 0 || bad != 0 || !strings.Contains(pvo, "Predicted vs observed: within the bound") || !strings.Contains(pvo, "spine-0--leaf-0") {
		t.Errorf("predicted vs observed: %d link rows, %d rows whose verdict text disagrees; section:\n%s", links, bad, pvo)
	}
	t.Logf("predicted vs observed: %d link rows, %d flow rows", links, eval[int](t, alice, `document.querySelectorAll('#pvo-flows tbody tr').length`))
	run(t, alice, "scroll to it", chromedp.ScrollIntoView(chromedp.ID("ch-pvo")))
	screenshot(t, alice, arts, "13-predicted-vs-observed.png")

	// What-if: carla (approver) reads jobs but has no run form.
	carla := br.tab()
	run(t, carla, "carla logs in", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("demo-carla")),
		chromedp.Click(chromedp.ID("demo-carla")), chromedp.WaitVisible(chromedp.ID("cy")), chromedp.Click(chromedp.ID("nav-whatif")),
		chromedp.WaitVisible(chromedp.ID("wi-readonly")))
	if eval[bool](t, carla, `!document.getElementById('wi-form').hidden`) {
		t.Error("carla (no design permission) is shown the what-if run form")
	}

	run(t, alice, "what-if by keyboard", chromedp.KeyEvent("6"), chromedp.WaitVisible(chromedp.ID("wi-scenario")))
	if s := eval[string](t, alice, `document.getElementById('wi-scenario').value`); !strings.Contains(s, "n1: true") {
		t.Fatalf("the preloaded scenario is not an N-1 sweep:\n%s", s)
	}
	run(t, alice, "run it by keyboard", chromedp.Focus(chromedp.ID("nav-whatif")), chromedp.KeyEvent("w"))
	waitJS(t, alice, "job succeeded", `document.getElementById('wi-job').dataset.state === 'succeeded' && !!document.querySelector('#wi-crit tbody tr')`, 60*time.Second)
	nLinks := eval[int](t, alice, `document.querySelectorAll('#wi-crit tbody tr').length`)
	nCases := eval[int](t, alice, `document.querySelectorAll('#wi-cases tbody tr').length`)
	first := eval[string](t, alice, `document.querySelector('#wi-crit tbody tr').innerText`)
	jobText := eval[string](t, alice, `document.getElementById('wi-job-text').textContent`)
	if nLinks == 0 || nCases == 0 || !strings.Contains(jobText, "succeeded") || !strings.HasPrefix(first, "1") {
		t.Errorf("what-if result: %d criticality rows, %d case rows, job %q, first row %q", nLinks, nCases, jobText, first)
	}
	// The worst case is selected: its per-flow deltas (or "no flow changed") are shown.
	waitJS(t, alice, "worst case detail", `document.querySelector('#wi-cases tbody tr.sel') && document.getElementById('wi-case').textContent.startsWith('Case fail ') && !document.getElementById('wi-case').textContent.includes('null')`, 5*time.Second)
	// The charts: the SVG as a data: image, loaded (naturalWidth > 0).
	waitJS(t, alice, "charts image loaded", `(() => { const i = document.getElementById('wi-svg-img'); return !!i && i.complete && i.naturalWidth > 0; })()`, 10*time.Second)
	t.Logf("what-if: %d links ranked, %d cases listed; most critical: %s", nLinks, nCases, strings.ReplaceAll(first, "\t", " | "))
	screenshot(t, alice, arts, "14-whatif.png")
	run(t, alice, "scroll to the charts", chromedp.ScrollIntoView(chromedp.ID("wi-svg-img")))
	screenshot(t, alice, arts, "15-whatif-charts.png")

	// carla's page lists alice's job and opens its result.
	run(t, carla, "carla re-opens the view", chromedp.Click(chromedp.ID("nav-services")), chromedp.Click(chromedp.ID("nav-whatif")))
	waitJS(t, carla, "job listed", `!!document.querySelector('#wi-jobs tbody tr[data-state="succeeded"]')`, 10*time.Second)
	runRows(t, carla, "open it by keyboard", chromedp.Focus(chromedp.CSS(`#wi-jobs tbody tr[data-state="succeeded"]`)), chromedp.KeyEvent("\r"))
	waitJS(t, carla, "carla sees the ranking", `!!document.querySelector('#wi-crit tbody tr')`, 10*time.Second)

	if errs := br.consoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors:\n  %s", strings.Join(errs, "\n  "))
	}
}
