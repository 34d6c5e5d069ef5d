package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUINewServiceBrowser (REQ-USA-01, REQ-SERV-01; docs/ui.md) creates a default
// service from the web UI in headless Chromium against `twinflow serve --demo` on the
// stand-in network (whose switches have underlay addresses): alice (engineer, operator)
// opens Services with 5 and the form with n; every field has a label and a default (an
// L2VPN between two leaves' host ports, 1 Gb/s, a generated name and VNI); one click
// creates it and the page shows the change validated, with a jump to it; carla
// approves (API); alice commits it in Changes with c; the services list then shows it
// active with its paths. carla (approver, no design permission) sees no form. An error
// of the API is shown verbatim and the form keeps what was typed. Any console error
// fails the test.
func TestWebUINewServiceBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium and serve")
	}
	br := newBrowser(t)
	dir := labBinaries(t)
	srv := serveBinary(t, filepath.Join(dir, "twinflow"), "--demo", "--standin-bin", filepath.Join(dir, "twinflow-node"), "--log-level", "warn")
	arts := artifactsDir(t)
	alice := br.ctx

	run(t, alice, "open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("demo-alice")),
		chromedp.Click(chromedp.ID("demo-alice")))
	waitJS(t, alice, "topology", `window.tfMetrics.renders >= 1`, 20*time.Second)
	run(t, alice, "services by keyboard", chromedp.KeyEvent("5"), chromedp.WaitVisible(chromedp.ID("svc-list")))
	waitJS(t, alice, "form offered, ports listed", `!document.getElementById('svc-new').hidden && document.getElementById('svc-readonly').hidden &&
		document.querySelectorAll('#svc-a option').length >= 2 && document.getElementById('svc-id').value !== ''`, 10*time.Second)
	run(t, alice, "open the form by keyboard", chromedp.KeyEvent("n"))
	waitJS(t, alice, "form open, focus on its first field", `document.getElementById('svc-new').open && document.activeElement.id === 'svc-kind'`, 5*time.Second)

	// Every field is labelled; the defaults are the demo's simplest service.
	if unlabelled := eval[string](t, alice, `[...document.querySelectorAll('#svc-form input, #svc-form select')]
		.filter((e) => !e.closest('label') || !e.closest('label').textContent.trim()).map((e) => e.id).join(',')`); unlabelled != "" {
		t.Errorf("form fields without a label: %s", unlabelled)
	}
	defaults := eval[string](t, alice, `['svc-kind', 'svc-a', 'svc-b', 'svc-rate', 'svc-id', 'svc-vni'].map((f) => document.getElementById(f).value).join('|')`)
	if want := "l2vpn|leaf-0 eth3|leaf-3 eth4|1|l2vpn-leaf-0-leaf-3|1001"; defaults != want {
		t.Fatalf("form defaults %q, want %q", defaults, want)
	}
	// Only access ports (to hosts) are offered, never a fabric port to a spine.
	if opts := eval[string](t, alice, `[...document.querySelectorAll('#svc-a option')].map((o) => o.textContent).join('; ')`); strings.Contains(opts, "spine") {
		t.Errorf("endpoint choices include switch-to-switch ports: %s", opts)
	}

	run(t, alice, "create with one click", chromedp.Click(chromedp.ID("svc-create")))
	waitJS(t, alice, "the change is validated", `(document.getElementById('svc-change') || {}).dataset?.state === 'validated' &&
		document.getElementById('svc-change').dataset.passed === 'yes' && document.activeElement.id === 'svc-open-change'`, 30*time.Second)
	id := eval[string](t, alice, `document.getElementById('svc-change').dataset.change`)
	if res := eval[string](t, alice, `document.getElementById('svc-result').innerText`); strings.Contains(res, "null") || strings.Contains(res, "undefined") || !strings.Contains(res, "Open "+id+" in Changes") {
		t.Errorf("result: %q", res)
	}
	if eval[bool](t, alice, `document.getElementById('svc-addr-a').offsetParent !== null`) {
		t.Error("the L3VPN site fields are shown for an L2VPN")
	}
	if st := eval[string](t, alice, `document.getElementById('status').textContent`); !strings.Contains(st, id) || !strings.Contains(st, "validation passed") {
		t.Errorf("status line %q does not say the change and its validation", st)
	}
	if next := eval[string](t, alice, `document.getElementById('svc-id').value + '|' + document.getElementById('svc-vni').value`); next != "l2vpn-leaf-0-leaf-3-2|1002" {
		t.Errorf("after creating, the next defaults are %q; want a fresh name and VNI", next)
	}
	screenshot(t, alice, arts, "16-new-service.png")

	apiPost(t, srv.URL, demoToken(t, srv.URL, "carla"), "/api/v1/changes/"+id+"/approve", nil, nil)
	run(t, alice, "jump to the change (Enter on the focused link)", chromedp.KeyEvent("\r"))
	waitJS(t, alice, "the change's page, approved", `!document.getElementById('view-changes').hidden &&
		(document.getElementById('ch-state') || {}).dataset?.state === 'approved' && !!document.getElementById('act-commit') &&
		document.querySelector('#ch-detail h3').textContent.startsWith('`+id+`')`, 20*time.Second)
	run(t, alice, "commit by keyboard", chromedp.KeyEvent("c"))
	waitJS(t, alice, "committed on the stand-in nodes", `document.getElementById('ch-state').dataset.state === 'committed'`, 30*time.Second)

	run(t, alice, "back to services", chromedp.KeyEvent("5"))
	row := `#svc-list tr[data-svc="l2vpn-leaf-0-leaf-3"]`
	waitJS(t, alice, "the service is listed active", `(document.querySelector('`+row+`') || {}).dataset?.status === 'active' &&
		document.querySelector('`+row+`').cells[3].textContent === 'active' && document.querySelector('`+row+`').cells[2].textContent === 'l2vpn'`, 10*time.Second)
	runRows(t, alice, "pick it by keyboard", chromedp.Focus(chromedp.CSS(row)), chromedp.KeyEvent("\r"))
	waitJS(t, alice, "its two flows' paths", `document.querySelectorAll('#svc-paths tbody tr').length === 2 &&
		document.getElementById('svc-paths').textContent.includes('leaf-0 → leaf-3')`, 10*time.Second)

	// The other kind: an L3VPN between the same ports, its site subnets and route
	// distinguisher defaulted from the next free VNI, validates on the demo as well.
	run(t, alice, "kind L3VPN", chromedp.Evaluate[chromedp.Void](`(() => { const k = document.getElementById('svc-kind'); k.value = 'l3vpn'; k.dispatchEvent(new Event('change')); })()`))
	l3 := eval[string](t, alice, `['svc-id', 'svc-vni', 'svc-addr-a', 'svc-addr-b', 'svc-rd'].map((f) => document.getElementById(f).value).join('|') +
		'|' + (document.getElementById('svc-addr-a').offsetParent !== null)`)
	if want := "l3vpn-leaf-0-leaf-3|1002|10.3.1.1/24|10.3.2.1/24|65000:1002|true"; l3 != want {
		t.Errorf("L3VPN defaults %q, want %q", l3, want)
	}
	run(t, alice, "create the L3VPN", chromedp.Click(chromedp.ID("svc-create")))
	waitJS(t, alice, "the L3VPN change is validated", `document.getElementById('svc-change').dataset.change !== '`+id+`' &&
		document.getElementById('svc-change').dataset.state === 'validated' && document.getElementById('svc-change').dataset.passed === 'yes'`, 30*time.Second)

	// An error of the API is shown verbatim; the form keeps the values. Chromium logs the
	// refused request (422) as a console error: that one entry is expected, no other.
	before := len(br.consoleErrors())
	run(t, alice, "a name the API refuses", chromedp.SetValue(chromedp.ID("svc-id"), "bad:name"), chromedp.Click(chromedp.ID("svc-create")))
	waitJS(t, alice, "refusal shown", `!!document.getElementById('svc-error')`, 20*time.Second)
	msg := eval[string](t, alice, `document.getElementById('svc-error').textContent`)
	st := eval[string](t, alice, `document.getElementById('status').textContent`)
	if !strings.Contains(msg, `"bad:name": letters, digits`) || !strings.Contains(st, `"bad:name": letters, digits`) {
		t.Errorf("the API's error is not shown verbatim: page %q, status line %q", msg, st)
	}
	if kept := eval[string](t, alice, `['svc-kind', 'svc-a', 'svc-b', 'svc-rate', 'svc-id'].map((f) => document.getElementById(f).value).join('|')`); kept != "l3vpn|leaf-0 eth3|leaf-3 eth4|1|bad:name" {
		t.Errorf("the form lost values after a refusal: %q", kept)
	}

	// carla (approver) may not propose: no form, the service listed all the same.
	carla := br.tab()
	run(t, carla, "carla logs in", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("demo-carla")),
		chromedp.Click(chromedp.ID("demo-carla")), chromedp.WaitVisible(chromedp.ID("cy")), chromedp.KeyEvent("5"))
	waitJS(t, carla, "carla sees the service, without the form", `!!document.querySelector('`+row+`') &&
		document.getElementById('svc-new').hidden && !document.getElementById('svc-readonly').hidden`, 10*time.Second)
	run(t, carla, "n does nothing for her", chromedp.KeyEvent("n"))
	if eval[bool](t, carla, `document.getElementById('svc-new').open || !document.getElementById('svc-new').hidden`) {
		t.Error("carla (no design permission) can open the new-service form")
	}

	errs := br.consoleErrors()
	refused := slices.IndexFunc(errs[before:], func(e string) bool {
		return strings.Contains(e, "status of 422") && strings.Contains(e, "/api/v1/changes")
	})
	if refused < 0 {
		t.Errorf("the refused request left no 422 in the browser's log: %v", errs[before:])
	} else {
		errs = slices.Delete(errs, before+refused, before+refused+1)
	}
	if len(errs) > 0 {
		t.Errorf("browser console errors:\n  %s", strings.Join(errs, "\n  "))
	}
}
