// TwinFlow web UI (issue 20, docs/ui.md). Plain JavaScript over /api/v1 and the SSE
// event stream. The API token lives in this closure only (never in storage or a
// cookie) and goes out as a Bearer header. Everything from the server is inserted as
// text (textContent), never as HTML.
'use strict';
(() => {
  const S = {
    token: null, session: null, view: 'login', source: 'live', colour: 'load',
    cy: null, net: null, live: null, observed: null, report: null, drift: new Set(),
    changes: new Map(), selChange: null, sse: null, timer: null,
    alarms: new Map(), selKPI: null, chart: null, selSvc: null, svcRecs: null, svcIDs: [], svcVNIs: [],
  };
  // Read by the browser tests and by anyone curious (docs/ui.md): timings of the last
  // topology render and counts of what it drew.
  const metrics = window.tfMetrics = { renders: 0, firstFrameMs: null, nodes: 0, edges: 0, layout: '' };
  const $ = (id) => document.getElementById(id);
  const can = (perm) => !!(S.session && S.session.permissions.includes(perm));

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const status = (msg) => { $('status').textContent = msg; };
  const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x)) ? '–' : Number(x).toFixed(d);
  const pct = (u) => (u === null || u === undefined) ? 'no data' : Math.round(u * 100) + '%';

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (S.token) headers.Authorization = 'Bearer ' + S.token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit' });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!res.ok) {
      if (res.status === 401 && S.token && path !== '/api/v1/session') { loggedOut('Your session ended: log in again.'); }
      const err = new Error((data && (data.detail || data.title)) || (res.status + ' ' + res.statusText));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // ---- login ----
  async function initLogin() {
    const d = await api('GET', '/api/v1/session/demo');
    const box = $('demo-buttons');
    box.replaceChildren();
    if (d && d.demo && d.users.length) {
      $('demo-users').hidden = false;
      for (const u of d.users) {
        box.append(el('button', { type: 'button', id: 'demo-' + u.name, class: 'primary',
          onclick: () => login({ demo_user: u.name }) }, `${u.name} (${u.roles.join(', ')})`));
      }
    }
  }
  async function login(body) {
    $('login-error').textContent = '';
    try {
      const s = await api('POST', '/api/v1/session', body);
      S.token = s.token;
      delete s.token;
      await loggedIn(s);
    } catch (e) { $('login-error').textContent = 'Login failed: ' + e.message; }
  }
  async function loginToken(tok) {
    $('login-error').textContent = '';
    S.token = tok.trim();
    try { await loggedIn(await api('GET', '/api/v1/session')); } catch (e) {
      S.token = null;
      $('login-error').textContent = 'Login failed: ' + e.message;
    }
  }
  async function loggedIn(s) {
    S.session = s;
    $('login-password').value = '';
    $('login-token').value = '';
    $('who-name').textContent = `${s.user} (${s.roles.join(', ')})`;
    $('who').hidden = false;
    $('nav').hidden = false;
    $('propose-form').hidden = !can('design');
    if (!can('design')) { S.colour = 'utilisation'; $('topo-colour').querySelector('[value=load]').disabled = true; }
    $('topo-colour').value = S.colour;
    connectEvents();
    S.timer = setInterval(refreshColours, 10000);
    await show('topology');
  }
  async function logout() {
    try { await api('DELETE', '/api/v1/session'); } catch (_) { /* the token is dropped either way */ }
    loggedOut('Logged out.');
  }
  function loggedOut(msg) {
    S.token = null; S.session = null;
    if (S.sse) S.sse.abort();
    S.sse = null;
    clearInterval(S.timer);
    $('who').hidden = true; $('nav').hidden = true;
    if (S.cy) { S.cy.destroy(); S.cy = null; }
    if (S.cyLive) { S.cyLive.destroy(); S.cyLive = null; }
    S.changes.clear(); S.alarms.clear();
    if (S.chart) { S.chart.destroy(); S.chart = null; }
    S.selKPI = null; S.selSvc = null; resetServiceForm();
    clearTimeout(S.pvoTimer); S.wiJob = null; S.wiResult = null;
    show('login');
    status(msg);
  }

  // ---- views ----
  async function show(view) {
    S.view = view;
    for (const v of ['login', 'topology', 'bottleneck', 'changes', 'kpis', 'services', 'whatif']) $('view-' + v).hidden = v !== view;
    for (const b of document.querySelectorAll('#nav button')) {
      if (b.dataset.view === view) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
    }
    try {
      if (view === 'login') await initLogin();
      if (view === 'topology') await loadTopology();
      if (view === 'bottleneck') await loadTwins($('bn-twin'));
      if (view === 'changes') await loadChanges();
      if (view === 'kpis') await loadMonitoring();
      if (view === 'services') await loadServices();
      if (view === 'whatif') await loadWhatif();
    } catch (e) { status('Error: ' + e.message); }
  }

  async function loadTwins(select) {
    const t = await api('GET', '/api/v1/twins');
    const keep = select.value;
    const opts = [];
    if (select.id === 'topo-source') opts.push(['live', 'live twin (intended)'], ['observed', 'observed network']);
    else opts.push(['live', 'live twin']);
    for (const tw of t.items) if (tw.id !== 'live') opts.push([tw.id, 'fork ' + tw.id]);
    select.replaceChildren(...opts.map(([v, l]) => el('option', { value: v }, l)));
    if (opts.some(([v]) => v === keep)) select.value = keep;
  }

  // ---- topology ----
  const BANDS = [['ok', 0.5, '#2e7d32', 'below 50%'], ['mid', 0.8, '#f9a825', '50–80%'], ['high', 0.95, '#ef6c00', '80–95%'],
    ['full', Infinity, '#c62828', '95% and more']];
  const band = (u) => (u === null || u === undefined) ? 'none' : BANDS.find(([, lim]) => u < lim)[0];

  function legend() {
    const what = S.colour === 'load' ? 'Predicted load / capacity (bottleneck model)' : 'Observed utilisation (telemetry)';
    $('legend').replaceChildren(el('strong', {}, what),
      el('ul', {}, ...BANDS.map(([b, , , t]) => el('li', {}, el('span', { class: 'sw sw-' + b, 'aria-hidden': 'true' }), t)),
        el('li', {}, el('span', { class: 'sw sw-none', 'aria-hidden': 'true' }), 'no data'),
        el('li', {}, el('span', { class: 'sw sw-down', 'aria-hidden': 'true' }), 'device or link down (label says “down”)'),
        el('li', {}, el('span', { class: 'sw sw-drift', 'aria-hidden': 'true' }), 'device drifted from intent (label says “drift”)')),
      el('p', {}, 'Diff view: added in green, removed in red dashes, changed in purple.'));
  }

  async function fetchTopology() {
    const src = S.source;
    const twinID = src === 'observed' ? 'live' : src;
    const jobs = [api('GET', `/api/v1/twins/${encodeURIComponent(twinID)}/network`),
      api('GET', '/api/v1/twins/live/observed/links').catch(() => ({ items: [] })),
      src === 'observed' ? api('GET', '/api/v1/twins/live/observed/devices').catch(() => ({ items: [] })) : null,
      api('GET', '/api/v1/drift').catch(() => ({ items: [] })),
      S.colour === 'load' && can('design') ? api('POST', `/api/v1/twins/${encodeURIComponent(twinID)}/analysis/bottleneck`, {}).catch((e) => { status('Prediction unavailable: ' + e.message); return null; }) : null,
      src !== 'live' && src !== 'observed' && $('topo-diff').checked ? api('GET', '/api/v1/twins/live/network') : null];
    const [net, obsLinks, obsDevs, drift, report, live] = await Promise.all(jobs);
    S.net = net; S.report = report; S.live = live;
    S.observed = { links: new Map((obsLinks.items || []).map((l) => [l.id, l])), devices: new Map(((obsDevs && obsDevs.items) || []).map((d) => [d.id, d])) };
    S.drift = new Set((drift.items || []).map((d) => d.device));
  }

  // Index the bottleneck report by link (both directions: "id" and "id~r").
  function reportIndex() {
    const ix = new Map();
    for (const r of (S.report && S.report.links) || []) {
      if ((r.kind || 'link') !== 'link') continue;
      const id = r.id.endsWith('~r') ? r.id.slice(0, -2) : r.id;
      const e = ix.get(id) || { u: null, level: null };
      if (r.capacity > 0) e.u = Math.max(e.u || 0, r.load / r.capacity);
      if (r.level > 0) e.level = e.level === null ? r.level : Math.min(e.level, r.level);
      ix.set(id, e);
    }
    return ix;
  }
  function linkValue(l, rix) {
    if (S.colour === 'load') {
      const e = rix.get(l.id);
      return e ? e.u : null;
    }
    const o = S.observed.links.get(l.id);
    if (!o || !o.utilisation) return null;
    return Math.max(...o.utilisation);
  }
  function devStatus(d) {
    const o = S.observed.devices.get(d.id);
    return (S.source === 'observed' && o && o.oper_status) ? o.oper_status : (d.oper_status || 'unknown');
  }

  function elements() {
    const nodes = new Map(); const edges = new Map();
    const addNet = (net, diff) => {
      for (const d of net.devices || []) {
        if (nodes.has(d.id)) { if (diff === 'live') nodes.get(d.id).cmp = d; continue; }
        nodes.set(d.id, { d, diff: diff === 'live' ? 'removed' : '' });
      }
      for (const l of net.links || []) {
        const a = l.endpoints && l.endpoints[0] && l.endpoints[0].device; const b = l.endpoints && l.endpoints[1] && l.endpoints[1].device;
        if (!a || !b) continue;
        if (edges.has(l.id)) { if (diff === 'live') edges.get(l.id).cmp = l; continue; }
        edges.set(l.id, { l, a, b, diff: diff === 'live' ? 'removed' : '' });
      }
    };
    addNet(S.net, '');
    if (S.live) {
      addNet(S.live, 'live');
      for (const n of nodes.values()) if (!n.cmp && n.diff === '') n.diff = 'added'; else if (n.cmp && n.diff === '' && (n.cmp.oper_status !== n.d.oper_status)) n.diff = 'changed';
      for (const e of edges.values()) if (!e.cmp && e.diff === '') e.diff = 'added'; else if (e.cmp && e.diff === '' && (e.cmp.capacity_gbps !== e.l.capacity_gbps || e.cmp.oper_status !== e.l.oper_status)) e.diff = 'changed';
    }
    const all = [...nodes.values()];
    const placed = all.length > 0 && all.every((n) => n.d.x || n.d.y);
    const out = [];
    const rix = reportIndex();
    for (const n of all) {
      const st = devStatus(n.d); const drift = S.drift.has(n.d.id);
      const label = n.d.id + (st === 'disabled' ? ' (down)' : '') + (drift ? ' (drift)' : '') + (n.diff ? ` [${n.diff}]` : '');
      const node = { group: 'nodes', data: { id: n.d.id, label, type: n.d.type || 'device', status: st, drift: drift ? 'yes' : 'no', diff: n.diff || 'none' } };
      if (placed) node.position = { x: n.d.x * 20, y: -n.d.y * 20 };
      out.push(node);
    }
    for (const e of edges.values()) {
      if (!nodes.has(e.a) || !nodes.has(e.b)) continue;
      const u = linkValue(e.l, rix); const o = S.observed.links.get(e.l.id);
      const down = (e.l.oper_status === 'disabled') || (S.source === 'observed' && o && o.oper_status === 'disabled');
      out.push({ group: 'edges', data: { id: 'l:' + e.l.id, link: e.l.id, source: e.a, target: e.b, u: u === null ? -1 : u,
        band: down ? 'down' : band(u), level: (rix.get(e.l.id) || {}).level || 0, diff: e.diff || 'none', capacity: e.l.capacity_gbps || 0 } });
    }
    return { out, placed };
  }

  const STYLE = [
    { selector: 'node', style: { label: 'data(label)', 'font-size': 9, 'min-zoomed-font-size': 7, 'text-valign': 'bottom',
      'background-color': '#607d8b', width: 14, height: 14, 'border-width': 2, 'border-color': '#2e7d32' } },
    { selector: 'node[type="host"]', style: { shape: 'round-rectangle', width: 10, height: 10, 'background-color': '#90a4ae' } },
    { selector: 'node[status="disabled"]', style: { 'border-color': '#c62828', 'border-width': 4 } },
    { selector: 'node[status="unknown"]', style: { 'border-color': '#9aa4ae' } },
    { selector: 'node[drift="yes"]', style: { 'border-color': '#8e24aa', 'border-style': 'dashed', 'border-width': 4 } },
    { selector: 'node[diff="added"]', style: { 'background-color': '#2e7d32' } },
    { selector: 'node[diff="removed"]', style: { 'background-color': '#fff', 'border-color': '#c62828', 'border-style': 'dashed' } },
    { selector: 'node[diff="changed"]', style: { 'background-color': '#8e24aa' } },
    { selector: 'edge', style: { width: 2, 'line-color': '#9aa4ae', 'curve-style': 'haystack' } },
    ...BANDS.map(([b, , c]) => ({ selector: `edge[band="${b}"]`, style: { 'line-color': c, width: b === 'ok' ? 2 : 3 } })),
    { selector: 'edge[band="down"]', style: { 'line-color': '#c62828', 'line-style': 'dotted' } },
    { selector: 'edge[diff="added"]', style: { 'line-style': 'solid', 'line-color': '#2e7d32', width: 4 } },
    { selector: 'edge[diff="removed"]', style: { 'line-style': 'dashed', 'line-color': '#c62828' } },
    { selector: 'edge[diff="changed"]', style: { 'line-color': '#8e24aa', width: 4 } },
    { selector: ':selected', style: { 'overlay-color': '#0b5cad', 'overlay-opacity': 0.25, 'overlay-padding': 4 } },
  ];

  async function loadTopology() {
    const t0 = performance.now();
    S.source = $('topo-source').value || S.source;
    await loadTwins($('topo-source'));
    $('topo-source').value = S.source;
    $('diff-label').hidden = S.source === 'live' || S.source === 'observed';
    legend();
    await fetchTopology();
    const t1 = performance.now();
    const { out, placed } = elements();
    if (S.cy) S.cy.destroy();
    if (S.cyLive) { S.cyLive.destroy(); S.cyLive = null; }
    const sbs = !!S.live;
    $('topo-panes').classList.toggle('sbs', sbs);
    $('cy-live').hidden = !sbs; $('sbs-caption').hidden = !sbs;
    S.lastOut = out;
    const n = out.filter((e) => e.group === 'nodes').length;
    const layout = placed ? { name: 'preset' } : n <= 300
      ? { name: 'cose', animate: false, randomize: false, numIter: 600, nodeRepulsion: () => 8000, idealEdgeLength: () => 40 }
      : { name: 'concentric', animate: false, concentric: (nd) => nd.degree(), levelWidth: () => 2, minNodeSpacing: 4 };
    metrics.layout = layout.name;
    // Large graphs draw without labels (text measuring dominates their first frame):
    // a selected device shows its name, and the tables list every name.
    const style = n > 300 ? [...STYLE, { selector: 'node', style: { label: '' } }, { selector: 'node:selected', style: { label: 'data(label)' } }] : STYLE;
    S.cy = window.cytoscape({ container: $('cy'), elements: out, style, layout, wheelSensitivity: 0.3,
      hideEdgesOnViewport: n > 300, textureOnViewport: n > 300, pixelRatio: 1, boxSelectionEnabled: false });
    metrics.cyMs = Math.round(performance.now() - t1);
    if (sbs) sideBySide(out, style, n);
    S.cy.on('tap', 'node', (ev) => detailDevice(ev.target.id()));
    S.cy.on('tap', 'edge', (ev) => detailLink(ev.target.data('link')));
    const cy = S.cy;
    requestAnimationFrame(() => requestAnimationFrame(() => {
      if (S.cy !== cy) return; // replaced by a newer load meanwhile
      metrics.firstFrameMs = Math.round(performance.now() - t0);
      metrics.fetchMs = Math.round(t1 - t0); metrics.drawMs = Math.round(performance.now() - t1);
      metrics.nodes = n; metrics.edges = out.length - n; metrics.renders++;
      metrics.source = S.source; metrics.colour = S.colour;
      tables(); // after the first frame: the graph comes first, its text tables next
    }));
    $('topo-summary').textContent = `${n} devices, ${out.length - n} links` + (S.drift.size ? `, ${S.drift.size} drifted` : '');
  }

  // The side-by-side diff: the union of live and fork was laid out once in S.cy; the
  // live twin (union minus what the fork added) goes to the left pane at the same
  // positions, what only live has leaves the fork's pane, and pan/zoom stay in step.
  function sideBySide(out, style, n) {
    const pos = new Map(S.cy.nodes().map((nd) => [nd.id(), { ...nd.position() }]));
    const live = out.filter((e) => e.data.diff !== 'added').map((e) => (e.group === 'nodes' ? { ...e, position: pos.get(e.data.id) } : e));
    S.cy.elements('[diff = "removed"]').remove();
    S.cyLive = window.cytoscape({ container: $('cy-live'), elements: live, style, layout: { name: 'preset', fit: false },
      hideEdgesOnViewport: n > 300, textureOnViewport: n > 300, pixelRatio: 1, boxSelectionEnabled: false });
    S.cy.fit(undefined, 10);
    S.cyLive.viewport({ zoom: S.cy.zoom(), pan: S.cy.pan() });
    let syncing = false;
    const follow = (a, b) => a.on('viewport', () => {
      if (syncing) return;
      syncing = true; b.viewport({ zoom: a.zoom(), pan: a.pan() }); syncing = false;
    });
    follow(S.cy, S.cyLive); follow(S.cyLive, S.cy);
    S.cyLive.on('tap', 'node', (ev) => detailDevice(ev.target.id()));
    metrics.sideBySide = { live: S.cyLive.nodes().length, fork: S.cy.nodes().length };
  }

  async function refreshColours() {
    if (!S.cy || S.view !== 'topology') return;
    try {
      await fetchTopology();
      const { out } = elements();
      S.cy.batch(() => {
        for (const e of out) {
          const c = S.cy.getElementById(e.data.id);
          if (c.nonempty()) c.data(e.data);
        }
      });
      metrics.renders++;
      tables();
    } catch (e) { status('Refresh failed: ' + e.message); }
  }

  function tables() {
    const edges = S.cy.edges().map((e) => e.data()).sort((a, b) => b.u - a.u);
    $('link-table').tBodies[0].replaceChildren(...edges.slice(0, 300).map((d) => el('tr', { tabindex: 0, 'data-link': d.link,
      onclick: () => detailLink(d.link), onkeydown: (ev) => { if (ev.key === 'Enter') detailLink(d.link); } },
    el('td', {}, d.link), el('td', {}, d.source + ' — ' + d.target), el('td', {}, fmt(d.capacity, 0) + ' Gb/s'),
    el('td', {}, d.level || '–'), el('td', { 'data-band': d.band }, (d.band === 'down' ? 'down' : pct(d.u < 0 ? null : d.u)) + (d.diff !== 'none' ? ' · ' + d.diff : '')))));
    const nodes = S.cy.nodes().map((n) => n.data());
    $('device-table').tBodies[0].replaceChildren(...nodes.slice(0, 300).map((d) => el('tr', { tabindex: 0, onclick: () => detailDevice(d.id),
      onkeydown: (ev) => { if (ev.key === 'Enter') detailDevice(d.id); } },
    el('td', {}, d.id), el('td', {}, d.type), el('td', {}, d.status + (d.drift === 'yes' ? ', drift' : '') + (d.diff !== 'none' ? ', ' + d.diff : '')))));
    const diffs = (S.lastOut || []).filter((x) => x.data.diff !== 'none').map((x) => `${x.group === 'nodes' ? 'device ' + x.data.id : 'link ' + x.data.link}: ${x.data.diff}`);
    $('topo-diff-list').replaceChildren(...(S.live ? [el('p', {}, diffs.length ? `Fork against live: ${diffs.length} differences` : 'Fork against live: no topology differences'),
      el('ul', {}, ...diffs.slice(0, 200).map((t) => el('li', {}, t)))] : []));
  }

  function detailDevice(id) {
    const d = (S.net.devices || []).find((x) => x.id === id) || { id };
    S.cy.elements().unselect(); S.cy.getElementById(id).select();
    $('topo-detail').replaceChildren(el('h3', {}, 'Device ' + id), el('dl', {},
      el('dt', {}, 'Type'), el('dd', {}, d.type || '–'), el('dt', {}, 'Status'), el('dd', {}, devStatus(d)),
      el('dt', {}, 'Drift'), el('dd', {}, S.drift.has(id) ? 'yes: its running configuration differs from the intent (Changes → drift)' : 'no'),
      el('dt', {}, 'Address'), el('dd', {}, d.address || '–')));
  }

  async function detailLink(id) {
    const e = S.cy.getElementById('l:' + id);
    S.cy.elements().unselect(); e.select();
    const d = e.data();
    const box = $('topo-detail');
    box.replaceChildren(el('h3', {}, 'Link ' + id), el('p', {}, `${d.source} — ${d.target}, ${fmt(d.capacity, 0)} Gb/s, ` +
      `${S.colour === 'load' ? 'predicted load' : 'utilisation'} ${d.band === 'down' ? 'down' : pct(d.u < 0 ? null : d.u)}` + (d.level ? `, bottleneck level ${d.level}` : '')));
    if (can('design')) box.append(await gradientOf(S.source === 'observed' ? 'live' : S.source, id));
  }

  async function gradientOf(twinID, link) {
    try {
      const g = await api('POST', `/api/v1/twins/${encodeURIComponent(twinID)}/analysis/gradient`, { link });
      const flows = Object.entries(g.right.flows || {}).sort((a, b) => b[1] - a[1]);
      return el('div', { class: 'gradient', 'data-link': link }, el('h4', {}, 'Gradient of ' + link),
        el('p', {}, `+1 Gb/s of capacity: total throughput ${g.right.total >= 0 ? '+' : ''}${fmt(g.right.total)} Gb/s; ` +
          `−1 Gb/s: ${fmt(-g.left.total)} Gb/s.`),
        flows.length ? el('table', {}, el('caption', {}, 'Per flow (+1 Gb/s)'), el('tbody', {}, ...flows.map(([f, v]) => el('tr', {}, el('td', {}, f), el('td', {}, (v >= 0 ? '+' : '') + fmt(v)))))) : el('p', {}, 'No flow gains.'),
        el('p', {}, 'Region: ' + (g.region_links || []).join(', ')));
    } catch (e) { return el('p', { class: 'error' }, 'Gradient unavailable: ' + e.message); }
  }

  // ---- bottleneck structure ----
  async function runBottleneck() {
    if (!can('design')) { status('The bottleneck analysis needs the design permission (engineer or admin).'); return; }
    const twinID = $('bn-twin').value || 'live';
    const [r, base] = await Promise.all([api('POST', `/api/v1/twins/${encodeURIComponent(twinID)}/analysis/bottleneck`, {}),
      twinID === 'live' ? null : api('POST', '/api/v1/twins/live/analysis/bottleneck', {})]);
    whatIf(twinID, base, r);
    $('bn-gradient').replaceChildren(el('p', {}, `Pick a link of ${twinID} to see its gradient: what +1 Gb/s of its capacity buys, and for whom.`));
    const byLink = r.links.map(() => []);
    for (const f of r.flows || []) for (const i of f.bottlenecks || []) if (byLink[i]) byLink[i].push(f.id);
    const rows = r.links.map((l, i) => ({ l, flows: byLink[i] })).filter((x) => x.l.level > 0 && (x.l.kind || 'link') === 'link').sort((a, b) => a.l.level - b.l.level || a.l.id.localeCompare(b.l.id));
    $('bn-summary').textContent = `${r.levels} levels, total throughput ${fmt(r.total_throughput, 1)} Gb/s, ${rows.length} bottleneck links`;
    $('bn-links').tBodies[0].replaceChildren(...rows.map(({ l, flows }) => {
      const base = l.id.replace(/~r$/, '');
      const pick = async () => { $('bn-gradient').replaceChildren(await gradientOf(twinID, base)); };
      return el('tr', { tabindex: 0, 'data-link': l.id, onclick: pick, onkeydown: (ev) => { if (ev.key === 'Enter') pick(); } },
        el('td', {}, l.level), el('td', {}, l.id), el('td', {}, fmt(l.fair_share)), el('td', {}, `${fmt(l.load)} / ${fmt(l.capacity)}`), el('td', {}, flows.join(', ') || '–'));
    }));
    $('bn-flows').tBodies[0].replaceChildren(...(r.flows || []).map((f) => el('tr', {}, el('td', {}, f.id), el('td', {}, f.level), el('td', {}, fmt(f.rate)),
      el('td', {}, (f.bottlenecks || []).map((i) => r.links[i] ? r.links[i].id : i).join(', ')))));
  }

  // What-if on a fork: its bottleneck structure against live's (total throughput and
  // every flow whose max-min rate differs), from the same analysis API.
  function whatIf(twinID, base, r) {
    const box = $('bn-whatif');
    if (!base) { box.replaceChildren(el('p', {}, 'Pick a fork to see its what-if deltas against the live twin.')); return; }
    const before = new Map((base.flows || []).map((f) => [f.id, f.rate]));
    const after = new Map((r.flows || []).map((f) => [f.id, f.rate]));
    const ids = [...new Set([...before.keys(), ...after.keys()])];
    const rows = ids.map((id) => ({ id, b: before.get(id), a: after.get(id) }))
      .filter((x) => x.b === undefined || x.a === undefined || Math.abs(x.a - x.b) > 1e-9)
      .sort((x, y) => Math.abs((y.a || 0) - (y.b || 0)) - Math.abs((x.a || 0) - (x.b || 0)));
    const dt = r.total_throughput - base.total_throughput;
    box.replaceChildren(el('h3', {}, `What-if: ${twinID} against live`),
      el('p', { id: 'whatif-total', 'data-delta': dt }, `Total throughput ${fmt(base.total_throughput, 1)} → ${fmt(r.total_throughput, 1)} Gb/s (${dt >= 0 ? '+' : ''}${fmt(dt, 1)}); ${rows.length} flows change rate.`),
      rows.length ? el('table', { id: 'whatif-flows' }, el('caption', {}, 'Flows whose rate changes (largest first)'),
        el('thead', {}, el('tr', {}, el('th', {}, 'Flow'), el('th', {}, 'Live Gb/s'), el('th', {}, 'Fork Gb/s'), el('th', {}, 'Delta'))),
        el('tbody', {}, ...rows.slice(0, 200).map((x) => el('tr', {}, el('td', {}, x.id), el('td', {}, x.b === undefined ? 'absent' : fmt(x.b)),
          el('td', {}, x.a === undefined ? 'absent' : fmt(x.a)), el('td', {}, fmt((x.a || 0) - (x.b || 0))))))) : null);
  }

  // ---- KPIs and alarms (docs/monitoring.md) ----
  const SEVERITIES = ['critical', 'major', 'minor', 'warning'];
  async function loadMonitoring() {
    await Promise.all([loadAlarms(), loadKPIs()]);
  }
  async function loadAlarms() {
    // Active = raised; pages of 500 up to 2,000 alarms.
    S.alarms.clear();
    let token = '';
    for (let i = 0; i < 4; i++) {
      const r = await api('GET', '/api/v1/alarms?state=raised&limit=500' + (token ? '&page_token=' + encodeURIComponent(token) : ''));
      for (const a of r.items || []) S.alarms.set(a.id, a);
      token = r.next_page_token || '';
      if (!token) break;
    }
    renderAlarms();
  }
  function onAlarmEvent(ev) {
    const a = ev.object && ev.object.alarm;
    if (!a || !a.id) return;
    if (a.state === 'raised') S.alarms.set(a.id, a); else S.alarms.delete(a.id);
    if (S.view === 'kpis') renderAlarms();
  }
  // Root alarms (no parent, or a parent no longer active) in ID order (= raise order),
  // each followed by its children.
  function alarmRows() {
    const all = [...S.alarms.values()].sort((x, y) => x.id.localeCompare(y.id));
    const kids = new Map();
    const roots = [];
    for (const a of all) {
      if (a.parent_id && S.alarms.has(a.parent_id)) {
        if (!kids.has(a.parent_id)) kids.set(a.parent_id, []);
        kids.get(a.parent_id).push(a);
      } else roots.push(a);
    }
    const out = [];
    const walk = (a, depth) => { out.push({ a, depth }); for (const c of kids.get(a.id) || []) if (depth < 8) walk(c, depth + 1); };
    for (const r of roots) walk(r, 0);
    return out;
  }
  function renderAlarms() {
    const rows = alarmRows();
    const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest('#alarm-list tr[data-alarm]') : null;
    const keep = focused ? focused.dataset.alarm : null;
    const counts = SEVERITIES.map((s) => [s, rows.filter((x) => x.a.severity === s).length]).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`);
    $('alarm-summary').textContent = rows.length ? `(${rows.length}: ${counts.join(', ')})` : '(none active)';
    $('alarm-list').tBodies[0].replaceChildren(...rows.map(({ a, depth }) => {
      const sev = SEVERITIES.includes(a.severity) ? a.severity : 'unknown';
      const ack = a.acknowledged ? el('span', {}, 'yes, by ' + (a.acked_by || '?'))
        : can('operate') ? el('button', { type: 'button', class: 'ack', id: 'ack-' + a.id, 'aria-keyshortcuts': 'y', onclick: () => ackAlarm(a.id) }, 'Acknowledge ', el('kbd', {}, 'y'))
          : el('span', {}, 'no');
      return el('tr', { tabindex: 0, 'data-alarm': a.id, 'data-severity': sev, 'data-depth': depth, 'data-acked': a.acknowledged ? 'yes' : 'no' },
        el('td', { class: 'sev sev-' + sev }, el('span', { class: 'sev-dot', 'aria-hidden': 'true' }), sev),
        el('td', { class: 'indent-' + Math.min(depth, 4) }, (depth ? '↳ ' : '') + (a.type || '')),
        el('td', {}, `${a.subject_kind || ''} ${a.subject || ''}`.trim()), el('td', {}, a.text || ''),
        el('td', {}, a.raised ? new Date(a.raised).toISOString().replace('T', ' ').slice(0, 19) : ''), el('td', {}, ack));
    }));
    if (keep) { const r = $('alarm-list').querySelector(`tr[data-alarm="${CSS.escape(keep)}"]`); if (r) r.focus(); }
  }
  async function ackAlarm(id) {
    status(`acknowledge: ${id} …`);
    try {
      const a = await api('POST', `/api/v1/alarms/${encodeURIComponent(id)}/ack`);
      if (a && a.id && a.state === 'raised') S.alarms.set(a.id, a);
      status(`acknowledged ${id}`);
      renderAlarms();
    } catch (e) { status('acknowledge refused: ' + e.message); }
  }

  async function loadKPIs() {
    const r = await api('GET', '/api/v1/kpis');
    const items = (r.items || []).sort((a, b) => a.id.localeCompare(b.id));
    $('kpi-list').tBodies[0].replaceChildren(...items.map((k) => {
      const pick = () => selectKPI(k.id).catch((e) => status(e.message));
      const th = k.threshold ? `${k.threshold.direction} ${k.threshold.raise} (clear ${k.threshold.clear}, ${k.threshold.severity || 'major'})` : '–';
      return el('tr', { tabindex: 0, 'data-kpi': k.id, class: k.id === S.selKPI ? 'sel' : '', onclick: pick, onkeydown: (ev) => { if (ev.key === 'Enter') pick(); } },
        el('td', {}, k.id), el('td', {}, `${k.kind} ${k.subject}${k.endpoint ? ':' + k.endpoint : ''}`), el('td', {}, k.metric),
        el('td', {}, k.latest ? fmt(k.latest.value, 3) : 'no value yet'), el('td', {}, th));
    }));
    if (!items.length) $('kpi-chart-h').replaceChildren(el('p', {}, 'No KPI descriptors yet (twinflow kpi create; docs/monitoring.md).'));
    if (S.selKPI && items.some((k) => k.id === S.selKPI)) await selectKPI(S.selKPI);
    else if (S.selKPI) { // deleted since: drop its chart and values
      S.selKPI = null;
      if (S.chart) { S.chart.destroy(); S.chart = null; }
      $('kpi-chart').replaceChildren();
      $('kpi-table').tBodies[0].replaceChildren();
      if (items.length) $('kpi-chart-h').replaceChildren(el('p', {}, 'Pick a KPI to see its last hour.'));
    }
  }
  async function selectKPI(id) {
    S.selKPI = id;
    for (const tr of $('kpi-list').tBodies[0].rows) tr.classList.toggle('sel', tr.dataset.kpi === id);
    const r = await api('GET', `/api/v1/kpis/${encodeURIComponent(id)}/range?limit=5000`);
    const pts = r.samples || [];
    const xs = pts.map((p) => Date.parse(p.time) / 1000); const ys = pts.map((p) => p.value);
    $('kpi-chart-h').replaceChildren(el('h3', {}, `${id}: last hour`),
      el('p', { id: 'kpi-chart-summary', 'data-samples': pts.length }, pts.length
        ? `${pts.length} samples${r.truncated ? ' (the first 5,000 of the hour)' : ''}, min ${fmt(Math.min(...ys), 3)}, max ${fmt(Math.max(...ys), 3)}, last ${fmt(ys[ys.length - 1], 3)}`
        : 'No samples in the last hour yet.'));
    const box = $('kpi-chart');
    if (S.chart) { S.chart.destroy(); S.chart = null; }
    box.replaceChildren();
    if (pts.length && window.uPlot) {
      const width = Math.max(320, box.clientWidth || 560);
      S.chart = new window.uPlot({ width, height: 260, scales: { x: { time: true } },
        series: [{}, { label: id, stroke: '#0b5cad', width: 2, points: { show: pts.length < 60 } }],
        axes: [{}, { size: 60 }] }, [xs, ys], box);
      metrics.chart = { kpi: id, points: pts.length };
    }
    $('kpi-table').tBodies[0].replaceChildren(...pts.slice(-500).reverse().map((p) => el('tr', {}, el('td', {}, p.time.replace('T', ' ').slice(0, 23)), el('td', {}, fmt(p.value, 4)))));
  }

  // ---- services and slices (docs/services.md) ----
  const SVC_STATUS = { active: 'active', 'sla-violated': 'SLA violated', planned: 'pending (validated, not committed)', updating: 'pending (update proposed)', 'pending-removal': 'pending (removal proposed)' };
  async function loadServices() {
    const [sv, sl] = await Promise.all([api('GET', '/api/v1/twins/live/services'), api('GET', '/api/v1/twins/live/slices')]);
    const recs = [...(sv.items || []).map((x) => ({ ...x, what: 'service' })), ...(sl.items || []).map((x) => ({ ...x, what: 'slice' }))]
      .sort((a, b) => a.id.localeCompare(b.id));
    $('svc-empty').hidden = recs.length > 0;
    S.svcRecs = recs;
    $('svc-list').tBodies[0].replaceChildren(...recs.map((x) => {
      const pick = () => selectService(x).catch((e) => status(e.message));
      const type = (x.spec && (x.spec.type || x.spec.template)) || '';
      return el('tr', { tabindex: 0, 'data-svc': x.id, 'data-status': x.status, class: x.id === S.selSvc ? 'sel' : '', onclick: pick, onkeydown: (ev) => { if (ev.key === 'Enter') pick(); } },
        el('td', {}, x.id), el('td', {}, x.what), el('td', {}, type), el('td', { class: 'svc svc-' + x.status }, SVC_STATUS[x.status] || x.status), el('td', {}, x.revision));
    }));
    await loadServiceForm();
  }

  // ---- new service (REQ-USA-01: a default service in a few clicks) ----
  // The form builds an intent-only change of kind "service" (docs/services.md): the
  // server compiles it against the live twin and validates it in a fork like any change.
  // Only roles with the design permission (who may propose changes) get the form.
  const portKey = (p) => p.device + ' ' + p.iface; // device IDs and interface names hold no space
  // Access ports: endpoints of devices that are not hosts, unlinked or linked to a host
  // (a port to another switch carries the fabric, not a site). Every switch port if
  // there are fewer than two.
  function accessPorts(net) {
    const devs = new Map((net.devices || []).map((d) => [d.id, d]));
    const peer = new Map();
    for (const l of net.links || []) {
      const [a, b] = l.endpoints || [];
      if (!a || !b) continue;
      peer.set(a.device + ' ' + a.endpoint, b.device); peer.set(b.device + ' ' + b.endpoint, a.device);
    }
    const all = [];
    for (const d of net.devices || []) {
      if (d.type === 'host') continue;
      for (const ep of d.endpoints || []) {
        const p = peer.get(d.id + ' ' + ep.id); const pd = p && devs.get(p);
        all.push({ device: d.id, iface: ep.id, peer: p || '', access: !p || (!!pd && pd.type === 'host') });
      }
    }
    const acc = all.filter((x) => x.access);
    return acc.length >= 2 ? acc : all;
  }
  async function loadServiceForm() {
    const allowed = can('design');
    $('svc-new').hidden = !allowed; $('svc-readonly').hidden = allowed;
    if (!allowed) return;
    const ports = accessPorts(await api('GET', '/api/v1/twins/live/network'));
    const first = ports[0]; const other = [...ports].reverse().find((p) => first && p.device !== first.device) || ports[1];
    const fill = (sel, def) => {
      const keep = sel.value;
      sel.replaceChildren(...ports.map((p) => el('option', { value: portKey(p) }, `${p.device} ${p.iface}` + (p.peer ? ` (to ${p.peer})` : ''))));
      sel.value = ports.some((p) => portKey(p) === keep) ? keep : (def ? portKey(def) : '');
    };
    fill($('svc-a'), first); fill($('svc-b'), other);
    $('svc-create').disabled = ports.length < 2;
    if (ports.length < 2) status('New service: the live twin has fewer than two switch ports to join.');
    svcDefaults();
  }
  function usedVNIs() {
    const used = new Set(S.svcVNIs);
    for (const r of S.svcRecs || []) {
      const sp = r.spec || {};
      if (sp.l2 && sp.l2.vni) used.add(sp.l2.vni);
      const n = (sp.endpoints || []).length;
      if (sp.l3 && sp.l3.vni_base) for (let i = 0; i < n * (n - 1) / 2; i++) used.add(sp.l3.vni_base + i);
    }
    return used;
  }
  // Defaults for the fields the user has not edited: the first VNI from 1001 no service
  // of the live twin (or proposed from this page) uses; the name <kind>-<device A>-<device
  // B>, numbered when taken; for an L3VPN, the sites' subnets and route distinguisher
  // from the VNI.
  function svcDefaults() {
    const kind = $('svc-kind').value;
    $('svc-l3').hidden = kind !== 'l3vpn';
    const auto = (id) => $(id).dataset.edited !== 'yes';
    if (auto('svc-vni')) { const used = usedVNIs(); let v = 1001; while (used.has(v)) v++; $('svc-vni').value = v; }
    const vni = Math.trunc(Number($('svc-vni').value)) || 1001;
    if (auto('svc-id')) {
      const ids = new Set([...(S.svcRecs || []).map((r) => r.id), ...S.svcIDs]);
      const dev = (sel) => (sel.value.split(' ')[0] || 'x').replace(/[^A-Za-z0-9_.-]/g, '-');
      const base = `${kind}-${dev($('svc-a'))}-${dev($('svc-b'))}`.slice(0, 56);
      let id = base;
      for (let i = 2; ids.has(id); i++) id = `${base}-${i}`;
      $('svc-id').value = id;
    }
    const x = (vni % 250) + 1;
    if (auto('svc-addr-a')) $('svc-addr-a').value = `10.${x}.1.1/24`;
    if (auto('svc-addr-b')) $('svc-addr-b').value = `10.${x}.2.1/24`;
    if (auto('svc-rd')) $('svc-rd').value = `65000:${vni}`;
  }
  function serviceChange() {
    const kind = $('svc-kind').value; const id = $('svc-id').value.trim();
    const ep = (sel, addr) => {
      const [device, iface] = sel.value.split(' ');
      return kind === 'l3vpn' ? { device: device || '', interface: iface || '', address: $(addr).value.trim() } : { device: device || '', interface: iface || '' };
    };
    const vni = Number($('svc-vni').value); const rate = $('svc-rate').value.trim();
    const spec = { id, type: kind, endpoints: [ep($('svc-a'), 'svc-addr-a'), ep($('svc-b'), 'svc-addr-b')] };
    if (rate !== '') spec.constraints = { capacity_gbps: Number(rate) };
    if (kind === 'l3vpn') spec.l3 = { rd: $('svc-rd').value.trim(), vni_base: vni };
    else spec.l2 = { vni };
    const [a, b] = spec.endpoints;
    return { kind: 'service', label: `new ${kind} ${id}: ${a.device} ${a.interface} to ${b.device} ${b.interface}` + (rate !== '' ? `, ${rate} Gb/s` : ''),
      intents: [{ type: 'service', name: id, spec }] };
  }
  async function createService(ev) {
    ev.preventDefault();
    const body = serviceChange(); const spec = body.intents[0].spec;
    $('svc-create').disabled = true;
    status(`Creating service ${spec.id} (compiled against the live twin, then validated in a fork) …`);
    let c;
    try {
      c = await api('POST', '/api/v1/changes', body);
    } catch (e) {
      // Verbatim, and the form keeps every value for a correction.
      status(`Service ${spec.id} refused: ${e.message}`);
      $('svc-result').replaceChildren(el('p', { id: 'svc-error', class: 'error', role: 'alert' }, `Refused: ${e.message}`));
      return;
    } finally { $('svc-create').disabled = false; }
    S.changes.set(c.id, c);
    S.svcIDs.push(spec.id);
    S.svcVNIs.push(...(spec.l2 ? [spec.l2.vni] : [spec.l3.vni_base]));
    for (const f of ['svc-id', 'svc-vni', 'svc-addr-a', 'svc-addr-b', 'svc-rd']) delete $(f).dataset.edited;
    svcDefaults(); // the next service gets a fresh name and VNI; kind, ports and rate stay
    const rep = c.report;
    const failed = rep ? (rep.checks || []).filter((k) => k.status === 'fail') : [];
    const next = { validated: 'It waits for an approver; an operator then commits it (Changes view).',
      approved: 'An approval rule approved it: an operator commits it (Changes view).',
      rejected: 'Rejected: nothing is stored as the service; the failed checks say why.' }[c.state] || '';
    const verdict = rep ? `validation ${rep.passed ? 'passed' : 'failed'} (${rep.level})` : 'no validation report';
    $('svc-result').replaceChildren(...[
      el('p', { id: 'svc-change', 'data-change': c.id, 'data-state': c.state, 'data-passed': rep && rep.passed ? 'yes' : 'no' },
        `Service ${spec.id}: change ${c.id} is `, el('span', { class: 'st st-' + c.state }, c.state), ` — ${verdict}. ${next}`),
      failed.length ? el('ul', {}, ...failed.map((k) => el('li', { class: 'fail' }, `${k.name}: ${k.message || ''}`))) : null,
      el('button', { type: 'button', id: 'svc-open-change', onclick: () => { S.selChange = c.id; show('changes').then(() => $('nav-changes').focus()); } },
        `Open ${c.id} in Changes`)].filter(Boolean));
    status(`Service ${spec.id}: change ${c.id} is ${c.state} (${verdict})`);
    $('svc-open-change').focus();
  }
  function resetServiceForm() {
    $('svc-form').reset();
    for (const f of ['svc-id', 'svc-vni', 'svc-addr-a', 'svc-addr-b', 'svc-rd']) delete $(f).dataset.edited;
    $('svc-result').replaceChildren();
    $('svc-new').open = false;
    S.svcIDs = []; S.svcVNIs = []; S.svcRecs = null;
  }
  async function selectService(x) {
    S.selSvc = x.id;
    for (const tr of $('svc-list').tBodies[0].rows) tr.classList.toggle('sel', tr.dataset.svc === x.id);
    // A slice's flows belong to its member services "<slice>.<service>" (owner: the slice).
    const r = await api('GET', '/api/v1/twins/live/te/paths' + (x.what === 'service' ? '?service=' + encodeURIComponent(x.id) : ''));
    const paths = (r.items || []).filter((p) => x.what === 'service' || p.owner === x.id || String(p.service).startsWith(x.id + '.'));
    $('svc-detail').replaceChildren(el('h3', {}, `${x.what} ${x.id}: ${SVC_STATUS[x.status] || x.status}`),
      paths.length ? el('table', { id: 'svc-paths' }, el('caption', {}, 'Paths of its flows (te/paths)'),
        el('thead', {}, el('tr', {}, el('th', {}, 'Flow'), el('th', {}, 'Endpoints'), el('th', {}, 'Path #'), el('th', {}, 'Links'), el('th', {}, 'SLO'))),
        el('tbody', {}, ...paths.map((p) => el('tr', {}, el('td', {}, p.flow), el('td', {}, `${p.src} → ${p.dst}`), el('td', {}, p.index),
          el('td', {}, (p.path || []).join(' → ')), el('td', {}, p.slo ? JSON.stringify(p.slo) : '–')))))
        : el('p', {}, 'No paths (no flows of this service in the live twin).'),
      el('details', {}, el('summary', {}, 'Specification'), el('pre', {}, JSON.stringify(x.spec, null, 2))));
  }

  // ---- what-if (docs/whatif.md): background jobs of POST /api/v1/whatif ----
  const WI_EXAMPLE = 'name: N-1 from the web UI\nrouting: shortest\nsweeps:\n  n1: true          # every link failed in turn\n' +
    '  capacity_plan: {step_gbps: 10, top: 3}\ntop: 10\n# slos: [{name: gold, flows: [FLOW-ID], min_rate_gbps: 1}]   # rate objectives to check\n';
  const WI_DONE = new Set(['succeeded', 'failed', 'canceled']);
  async function loadWhatif() {
    $('wi-form').hidden = !can('design');
    $('wi-readonly').hidden = can('design');
    if (!$('wi-scenario').value) $('wi-scenario').value = WI_EXAMPLE;
    await Promise.all([loadTwins($('wi-twin')), loadWhatifJobs()]);
  }
  async function loadWhatifJobs() {
    const r = await api('GET', '/api/v1/whatif');
    const jobs = (r.items || []).slice().sort((a, b) => String(b.created).localeCompare(String(a.created)));
    $('wi-jobs').tBodies[0].replaceChildren(...jobs.map((j) => {
      const pick = () => { if (j.state === 'succeeded') showWhatifResult(j.id).catch((e) => status(e.message)); else status(`${j.id} is ${j.state}` + (j.error ? ': ' + j.error : '')); };
      return el('tr', { tabindex: 0, 'data-job': j.id, 'data-state': j.state, class: j.id === S.wiResult ? 'sel' : '', onclick: pick, onkeydown: (ev) => { if (ev.key === 'Enter') pick(); } },
        el('td', {}, j.id), el('td', { class: j.state === 'failed' ? 'fail' : (j.state === 'succeeded' ? 'pass' : '') }, j.state), el('td', {}, j.source || ''),
        el('td', {}, j.owner || ''), el('td', {}, `${j.done}/${j.total}`));
    }));
  }
  async function runWhatif(ev) {
    ev.preventDefault();
    if (S.wiJob) return;
    const body = { scenario: $('wi-scenario').value, twin: $('wi-twin').value || 'live' };
    status('What-if: starting …');
    let job;
    try { job = await api('POST', '/api/v1/whatif', body); } catch (e) { status('What-if refused: ' + e.message); $('wi-job-text').textContent = 'Refused: ' + e.message; return; }
    S.wiJob = job.id;
    $('wi-run').disabled = true; $('wi-cancel').hidden = false;
    try { await pollWhatif(job); } finally { S.wiJob = null; $('wi-run').disabled = false; $('wi-cancel').hidden = true; }
  }
  async function pollWhatif(job) {
    const bar = $('wi-progress');
    bar.hidden = false;
    for (;;) {
      bar.value = job.progress || 0;
      $('wi-job-text').textContent = `${job.id}: ${job.state}, ${job.done}/${job.total} cases (${Math.round(100 * (job.progress || 0))}%)` +
        (job.eta_seconds ? `, about ${Math.ceil(job.eta_seconds)} s left` : '') + (job.error ? ': ' + job.error : '');
      $('wi-job').dataset.state = job.state;
      if (WI_DONE.has(job.state) || !S.token || S.wiJob !== job.id) break;
      await new Promise((r) => setTimeout(r, 500));
      job = await api('GET', `/api/v1/whatif/${encodeURIComponent(job.id)}`);
    }
    await loadWhatifJobs().catch(() => {});
    if (job.state === 'succeeded') { status(`What-if ${job.id} done`); await showWhatifResult(job.id); } else status(`What-if ${job.id} ${job.state}`);
  }
  async function cancelWhatif() {
    if (!S.wiJob) return;
    await api('DELETE', `/api/v1/whatif/${encodeURIComponent(S.wiJob)}`);
    status(`What-if ${S.wiJob}: cancel requested`);
  }
  async function showWhatifResult(id) {
    const r = await api('GET', `/api/v1/whatif/${encodeURIComponent(id)}/result`);
    S.wiResult = id;
    for (const tr of $('wi-jobs').tBodies[0].rows) tr.classList.toggle('sel', tr.dataset.job === id);
    const b = r.base || {};
    const cases = (r.cases || []).slice().sort((x, y) => (y.violations - x.violations) || (x.delta_gbps - y.delta_gbps));
    const shown = cases.slice(0, 50);
    const caseBox = el('div', { id: 'wi-case' });
    const pickCase = (c) => {
      for (const tr of $('wi-cases').tBodies[0].rows) tr.classList.toggle('sel', tr.dataset.case === c.name);
      caseBox.replaceChildren(...caseDetail(c).filter((x) => x !== null));
    };
    const crit = (r.criticality || []).slice(0, 50);
    $('wi-result').replaceChildren(
      el('h3', {}, `Result of ${id}` + (r.scenario ? `: ${r.scenario}` : '')),
      el('p', { id: 'wi-base' }, `Base ${b.source || ''}: ${b.links} links, ${b.flows} flows, ${fmt(b.total_gbps, 2)} Gb/s in total, ${b.violations} flows below their SLO.`),
      (r.recommendations || []).length ? el('div', {}, el('h4', {}, 'Recommendations'), el('ul', { id: 'wi-recs' }, ...r.recommendations.map((x) => el('li', {}, x)))) : null,
      crit.length ? el('table', { id: 'wi-crit' }, el('caption', {}, `Links ranked by criticality (N-1: SLO violations first, then throughput lost)${(r.criticality || []).length > 50 ? '; the first 50 of ' + r.criticality.length : ''}`),
        el('thead', {}, el('tr', {}, el('th', {}, 'Rank'), el('th', {}, 'Link'), el('th', {}, 'Throughput lost Gb/s'), el('th', {}, 'SLO violations'), el('th', {}, 'Flows dropped'))),
        el('tbody', {}, ...crit.map((l, i) => el('tr', { 'data-link': l.link }, el('td', {}, i + 1), el('td', {}, l.link), el('td', {}, fmt(l.loss_gbps, 3)), el('td', {}, l.violations), el('td', {}, l.dropped))))) : null,
      (r.plan || []).length ? el('table', { id: 'wi-plan' }, el('caption', {}, 'Capacity plan (upgrades ranked by gradient; gain measured)'),
        el('thead', {}, el('tr', {}, el('th', {}, 'Link'), el('th', {}, 'Gradient'), el('th', {}, 'Step Gb/s'), el('th', {}, 'Gain Gb/s'))),
        el('tbody', {}, ...r.plan.map((u) => el('tr', {}, el('td', {}, u.link), el('td', {}, fmt(u.gradient, 3)), el('td', {}, fmt(u.step_gbps, 1)), el('td', {}, fmt(u.gain_gbps, 3)))))) : null,
      el('table', { id: 'wi-cases' }, el('caption', {}, `Cases, worst first (click one, or Enter, for its per-flow and SLO deltas)${cases.length > 50 ? '; the first 50 of ' + cases.length : ''}`),
        el('thead', {}, el('tr', {}, el('th', {}, 'Case'), el('th', {}, 'Total Gb/s'), el('th', {}, 'Δ Gb/s'), el('th', {}, 'Flows lost'), el('th', {}, 'Rerouted'), el('th', {}, 'Dropped'), el('th', {}, 'SLO violations'))),
        el('tbody', {}, ...shown.map((c) => el('tr', { tabindex: 0, 'data-case': c.name, onclick: () => pickCase(c), onkeydown: (ev) => { if (ev.key === 'Enter') pickCase(c); } },
          el('td', {}, c.name + (c.error ? ` (error: ${c.error})` : '')), el('td', {}, fmt(c.total_gbps, 3)), el('td', {}, fmt(c.delta_gbps, 3)),
          el('td', {}, c.flows_lost), el('td', {}, c.rerouted), el('td', {}, c.dropped), el('td', {}, c.violations))))),
      caseBox,
      el('div', { id: 'wi-svg' }));
    if (shown.length) pickCase(shown[0]);
    // The API's charts (?format=svg) as an image: fetched with the Bearer header and shown
    // as a data: URL (the CSP allows img-src 'self' data:; an <img> runs no script).
    try {
      const res = await fetch(`/api/v1/whatif/${encodeURIComponent(id)}/result?format=svg`, { headers: { Authorization: 'Bearer ' + S.token }, cache: 'no-store', credentials: 'omit' });
      if (res.ok) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        let bin = '';
        for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        if (S.wiResult === id) $('wi-svg').replaceChildren(el('h4', {}, 'Charts'), el('img', { id: 'wi-svg-img', src: 'data:image/svg+xml;base64,' + btoa(bin),
          alt: 'Heat map of the N-1 impact per failure and SLO, and a bar chart of the capacity plan; the tables above give the same numbers' }));
      }
    } catch (_) { /* the tables carry the result; the chart is extra */ }
  }
  function caseDetail(c) {
    return [el('h4', {}, `Case ${c.name}: ${fmt(c.delta_gbps, 3)} Gb/s, ${c.flows_changed} flows changed, ${c.violations} below their SLO`),
      (c.flows || []).length ? el('table', { id: 'wi-flows' }, el('caption', {}, 'Flows losing most (per-flow deltas)'),
        el('thead', {}, el('tr', {}, el('th', {}, 'Flow'), el('th', {}, 'Before Gb/s'), el('th', {}, 'After Gb/s'), el('th', {}, 'Δ Gb/s'))),
        el('tbody', {}, ...c.flows.map((f) => el('tr', {}, el('td', {}, f.flow + (f.added ? ' (added)' : '') + (f.removed ? ' (removed or dropped)' : '')),
          el('td', {}, fmt(f.old_gbps, 3)), el('td', {}, fmt(f.new_gbps, 3)), el('td', {}, fmt(f.new_gbps - f.old_gbps, 3)))))) : el('p', {}, 'No flow changed its rate.'),
      (c.slos || []).length ? el('table', { id: 'wi-slos' }, el('caption', {}, 'SLOs'),
        el('thead', {}, el('tr', {}, el('th', {}, 'SLO'), el('th', {}, 'Before Gb/s'), el('th', {}, 'After Gb/s'), el('th', {}, 'Violations'), el('th', {}, 'Flows below'))),
        el('tbody', {}, ...c.slos.map((x) => el('tr', { class: x.violations ? 'diverged' : '' }, el('td', {}, x.slo), el('td', {}, fmt(x.old_gbps, 3)), el('td', {}, fmt(x.new_gbps, 3)),
          el('td', {}, x.violations ? `${x.violations} (violated)` : '0'), el('td', {}, (x.violated || []).join(', ')))))) : null];
  }

  // ---- changes ----
  async function loadChanges() {
    const r = await api('GET', '/api/v1/changes?limit=100');
    S.changes.clear();
    for (const c of r.items || []) S.changes.set(c.id, c);
    renderChanges();
    if (!$('propose-body').value && S.net) $('propose-body').value = exampleChange();
    if (S.selChange) await selectChange(S.selChange);
  }
  function exampleChange() {
    const hosts = (S.net.devices || []).filter((d) => d.type === 'host').map((d) => d.id);
    const src = hosts[0] || 'h-0-0'; const dst = hosts[hosts.length - 1] || 'h-1-0';
    return JSON.stringify({ label: `new flow ${src} to ${dst}`, kind: 'intent',
      twin: { add_flows: [{ id: 'ui-flow-' + Date.now().toString(36), src, dst, slo: { min_rate_gbps: 1 } }] } }, null, 2);
  }
  function renderChanges() {
    const list = [...S.changes.values()].sort((a, b) => String(b.created).localeCompare(String(a.created)));
    $('ch-list').tBodies[0].replaceChildren(...list.map((c) => el('tr', { tabindex: 0, 'data-change': c.id, 'data-state': c.state,
      class: c.id === S.selChange ? 'sel' : '', onclick: () => selectChange(c.id), onkeydown: (ev) => { if (ev.key === 'Enter') selectChange(c.id); } },
    el('td', {}, c.id), el('td', {}, c.label || ''), el('td', { class: 'st st-' + c.state }, c.state), el('td', {}, c.author || ''),
    el('td', {}, c.report ? (c.report.passed ? 'passed' : 'failed') : (c.passed === undefined ? '–' : (c.passed ? 'passed' : 'failed'))))));
  }

  async function selectChange(id) {
    S.selChange = id;
    renderChanges();
    const [c, diff] = await Promise.all([api('GET', `/api/v1/changes/${encodeURIComponent(id)}`),
      api('GET', `/api/v1/changes/${encodeURIComponent(id)}/diff`).catch(() => null)]);
    S.changes.set(c.id, c);
    renderChanges();
    const box = $('ch-detail');
    const me = S.session.user;
    const actions = [];
    const act = (verb, key, label, body) => actions.push(el('button', { type: 'button', id: 'act-' + verb, class: 'primary', 'aria-keyshortcuts': key,
      onclick: () => doAction(c.id, verb, body) }, label + ' ', el('kbd', {}, key)));
    if (can('approve') && c.state === 'validated') act('approve', 'a', 'Approve', undefined);
    let windowSel = null;
    if (can('operate') && c.state === 'approved') {
      windowSel = el('select', { id: 'commit-window' }, el('option', { value: '' }, 'none (confirm at once)'),
        el('option', { value: '60s' }, '60 s'), el('option', { value: '300s' }, '5 min'));
      actions.push(el('button', { type: 'button', id: 'act-commit', class: 'primary', 'aria-keyshortcuts': 'c',
        onclick: () => doAction(c.id, 'commit', windowSel.value ? { confirm_timeout: windowSel.value } : {}) }, 'Commit ', el('kbd', {}, 'c')),
      el('label', {}, 'confirm window ', windowSel));
    }
    if (can('operate') && c.state === 'committing') { act('confirm', 'f', 'Confirm', undefined); act('rollback', 'x', 'Roll back', { reason: 'rolled back from the web UI' }); }
    if (can('design') && (c.state === 'validated' || c.state === 'approved')) act('validate', 'v', 'Re-validate', undefined);
    const rep = c.report;
    box.replaceChildren(el('h3', {}, `${c.id}: ${c.label || ''}`),
      el('p', { id: 'ch-state', 'data-state': c.state }, 'State: ', el('span', { class: 'st st-' + c.state }, c.state),
        ` · author ${c.author || '–'}` + (c.approver ? ` · approved by ${c.approver}` : '') + (c.author === me && can('approve') && c.state === 'validated' ? ' · (you wrote it: another user approves it)' : '')),
      el('div', { class: 'actions' }, ...actions),
      pvoView(c),
      rep ? el('div', {}, el('h4', {}, `Validation (${rep.level}): ${rep.passed ? 'passed' : 'failed'}`),
        el('table', { id: 'ch-checks' }, el('caption', {}, 'Checks'), el('thead', {}, el('tr', {}, el('th', {}, 'Check'), el('th', {}, 'Result'), el('th', {}, 'Message'))),
          el('tbody', {}, ...(rep.checks || []).map((k) => el('tr', {}, el('td', {}, k.name), el('td', { class: k.status === 'skip' ? 'skip-status' : k.status }, k.status), el('td', {}, k.message || ''))))),
        (rep.kpis || []).length ? el('table', {}, el('caption', {}, 'KPIs before → after'), el('tbody', {}, ...rep.kpis.map((k) => el('tr', {},
          el('td', {}, `${k.name} (${k.subject})`), el('td', {}, `${k.before === undefined ? '–' : fmt(k.before, 3)} → ${k.after === undefined ? '–' : fmt(k.after, 3)} ${k.unit || ''}` + (k.objective ? ` (objective ${k.objective})` : '')))))) : null)
        : el('p', {}, 'No validation report yet.'),
      el('h4', {}, 'Per-device diff (old → new)'), diffView(diff),
      (c.transitions || []).length ? el('details', {}, el('summary', {}, 'Transitions'), el('ol', {}, ...c.transitions.map((t) => el('li', {}, `${t.from || ''} → ${t.to} by ${t.actor || '?'}: ${t.reason || ''}`)))) : null);
  }
  // Predicted vs observed (docs/monitoring.md): the monitor compares a committed change's
  // prediction with telemetry once the network settled; until then the view polls.
  function pvoView(c) {
    clearTimeout(S.pvoTimer);
    const cmp = c.predicted_vs_observed;
    if (!cmp) {
      if (c.state !== 'committed') return null;
      // Poll every 2 s for 10 minutes at most (a server without a monitor never answers one).
      S.pvoPolls = S.pvoFor === c.id ? S.pvoPolls + 1 : 0; S.pvoFor = c.id;
      if (S.pvoPolls < 300) S.pvoTimer = setTimeout(() => { if (S.view === 'changes' && S.selChange === c.id) selectChange(c.id).catch(() => {}); }, 2000);
      return el('div', { id: 'ch-pvo', 'data-compared': 'no' }, el('h4', {}, 'Predicted vs observed'),
        el('p', {}, 'Not compared yet: the monitor compares the twin\'s prediction with telemetry once the network settled after the commit (or the server runs no monitor).'));
    }
    const verdict = cmp.diverged ? 'DIVERGED (a model-divergence alarm is raised)' : 'within the bound';
    const row = (name, x, extra) => el('tr', { 'data-diverged': x.diverged ? 'yes' : 'no', class: x.diverged ? 'diverged' : '' },
      el('td', {}, name), el('td', {}, fmt(x.predicted_gbps, 4)), el('td', {}, fmt(x.observed_gbps, 4)),
      el('td', { class: x.diverged ? 'fail' : 'pass' }, x.diverged ? 'diverged' : 'within'), extra === undefined ? null : el('td', {}, extra));
    const bound = cmp.bound || {};
    return el('div', { id: 'ch-pvo', 'data-compared': 'yes', 'data-diverged': cmp.diverged ? 'yes' : 'no' },
      el('h4', {}, `Predicted vs observed: ${verdict}`),
      el('p', {}, `Measured ${fmt(cmp.settle_s, 1)} s after the commit; a value diverges when |observed − predicted| > max(${fmt(100 * (bound.relative || 0), 0)}% of predicted, ${fmt(bound.absolute_gbps, 3)} Gb/s).`),
      el('table', { id: 'pvo-links' }, el('caption', {}, 'Links (directed)'),
        el('thead', {}, el('tr', {}, el('th', {}, 'Link'), el('th', {}, 'Predicted Gb/s'), el('th', {}, 'Observed Gb/s'), el('th', {}, 'Verdict'), el('th', {}, 'Flows'))),
        el('tbody', {}, ...(cmp.links || []).map((l) => row(l.link, l, (l.flows || []).join(', '))))),
      (cmp.flows || []).length ? el('table', { id: 'pvo-flows' }, el('caption', {}, 'Flows (observed rate estimated from link loads)'),
        el('thead', {}, el('tr', {}, el('th', {}, 'Flow'), el('th', {}, 'Predicted Gb/s'), el('th', {}, 'Observed Gb/s (est.)'), el('th', {}, 'Verdict'))),
        el('tbody', {}, ...cmp.flows.map((f) => row(f.flow, f)))) : null,
      (cmp.unobserved || []).length ? el('p', {}, 'No telemetry for: ' + cmp.unobserved.join(', ')) : null,
      cmp.note ? el('p', { class: 'note' }, cmp.note) : null);
  }
  function diffView(diff) {
    if (!diff) return el('p', {}, 'Diff unavailable.');
    if (!(diff.devices || []).length) return el('p', {}, 'No device configuration changes (twin-only change).');
    return el('div', {}, ...diff.devices.map((d) => {
      const lines = (d.device_diff && d.device_diff.length) ? d.device_diff : (d.diff || []);
      return el('div', {}, el('h5', {}, d.device + (d.device_error ? ` (device not read: ${d.device_error})` : '')),
        el('ul', {}, ...lines.map((l) => el('li', {}, el('code', {}, l.path), ': ', el('span', { class: 'diff-old' }, l.before || '∅'), ' → ', el('span', { class: 'diff-new' }, l.after || '∅')))));
    }));
  }
  async function doAction(id, verb, body) {
    status(`${verb}: ${id} …`);
    try {
      const c = await api('POST', `/api/v1/changes/${encodeURIComponent(id)}/${verb}`, body);
      status(`${verb}: ${id} is ${c.state}`);
      S.changes.set(c.id, c);
      await selectChange(id);
    } catch (e) { status(`${verb} refused: ${e.message}`); }
  }
  async function propose(ev) {
    ev.preventDefault();
    const text = $('propose-body').value;
    status('Proposing (validated in a fork first) …');
    try {
      const res = await fetch('/api/v1/changes', { method: 'POST', credentials: 'omit', cache: 'no-store',
        headers: { Authorization: 'Bearer ' + S.token, Accept: 'application/json', 'Content-Type': text.trim().startsWith('{') ? 'application/json' : 'application/yaml' }, body: text });
      const c = await res.json();
      if (!res.ok) throw new Error(c.detail || c.title);
      status(`Proposed ${c.id}: ${c.state}`);
      S.changes.set(c.id, c);
      $('propose-body').value = exampleChange();
      await selectChange(c.id);
    } catch (e) { status('Proposal refused: ' + e.message); }
  }

  // ---- live updates: the SSE stream read with fetch (EventSource cannot send the Bearer header) ----
  async function connectEvents(delay = 0) {
    if (!S.token) return;
    const ctrl = new AbortController();
    S.sse = ctrl;
    await new Promise((r) => setTimeout(r, delay));
    if (ctrl.signal.aborted) return;
    try {
      const res = await fetch('/api/v1/events?table=changes,alarms', { headers: { Authorization: 'Bearer ' + S.token, Accept: 'text/event-stream' },
        signal: ctrl.signal, cache: 'no-store', credentials: 'omit' });
      if (!res.ok) throw new Error('events: ' + res.status);
      $('sse-state').textContent = 'events: live';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (data) { try { onEvent(JSON.parse(data)); } catch (_) { /* a malformed event is skipped */ } }
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    if (S.sse === ctrl && S.token) { $('sse-state').textContent = 'events: reconnecting'; connectEvents(Math.min(2 * (delay || 500), 15000)); }
  }
  let pending = null;
  function onEvent(ev) {
    if (ev.table === 'alarms') { onAlarmEvent(ev); return; }
    if (ev.table !== 'changes') return;
    const o = ev.object || {};
    const c = S.changes.get(ev.id) || { id: ev.id, label: o.label, author: o.actor };
    c.state = o.to || c.state; c.passed = o.passed;
    S.changes.set(ev.id, c);
    if (S.view === 'changes') {
      renderChanges();
      if (S.selChange === ev.id) selectChange(ev.id).catch(() => {});
    }
    if (o.to === 'committed' || o.to === 'rolled_back') { // the live twin changed: recolour soon
      clearTimeout(pending);
      pending = setTimeout(refreshColours, 300);
    }
  }

  // ---- keyboard ----
  function onKey(ev) {
    const t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT'))) return;
    if (!S.session) return;
    const views = { 1: 'topology', 2: 'bottleneck', 3: 'changes', 4: 'kpis', 5: 'services', 6: 'whatif' };
    const click = (id) => { const b = $(id); if (b) { b.click(); ev.preventDefault(); } };
    if (views[ev.key]) { show(views[ev.key]); $('nav-' + views[ev.key]).focus(); ev.preventDefault(); return; }
    if (ev.key === '?') { $('help').hidden = !$('help').hidden; return; }
    if (S.view === 'topology' && ev.key === 'r') { loadTopology(); ev.preventDefault(); return; }
    if (S.view === 'kpis' && ev.key === 'r') { loadMonitoring().catch((e) => status(e.message)); ev.preventDefault(); return; }
    if (S.view === 'services' && ev.key === 'n') { if (!$('svc-new').hidden) { $('svc-new').open = true; $('svc-kind').focus(); ev.preventDefault(); } return; }
    if (S.view === 'services' && ev.key === 'r') { loadServices().catch((e) => status(e.message)); ev.preventDefault(); return; }
    if (S.view === 'kpis' && ev.key === 'y') {
      const row = t && t.closest && t.closest('#alarm-list tr[data-alarm]');
      const b = row && row.querySelector('button.ack');
      if (b) { b.click(); ev.preventDefault(); }
      return;
    }
    if (S.view === 'whatif' && ev.key === 'w') { if (!$('wi-form').hidden && !$('wi-run').disabled) { $('wi-run').click(); ev.preventDefault(); } return; }
    if (S.view !== 'changes') return;
    const map = { a: 'act-approve', c: 'act-commit', f: 'act-confirm', x: 'act-rollback', v: 'act-validate' };
    if (map[ev.key]) return click(map[ev.key]);
    if (ev.key === 'p' && !$('propose-form').hidden) { $('propose-body').focus(); ev.preventDefault(); return; }
    if (ev.key === 'j' || ev.key === 'k') {
      const rows = [...$('ch-list').tBodies[0].rows];
      let i = rows.findIndex((r) => r.dataset.change === S.selChange);
      i = Math.max(0, Math.min(rows.length - 1, i + (ev.key === 'j' ? 1 : -1)));
      if (rows[i]) { rows[i].focus(); selectChange(rows[i].dataset.change); }
      ev.preventDefault();
    }
  }

  // ---- wiring ----
  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); login({ user: $('login-user').value, password: $('login-password').value }); });
    $('token-form').addEventListener('submit', (ev) => { ev.preventDefault(); loginToken($('login-token').value); });
    $('logout').addEventListener('click', logout);
    for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => show(b.dataset.view));
    $('topo-source').addEventListener('change', () => { S.source = $('topo-source').value; loadTopology().catch((e) => status(e.message)); });
    $('topo-colour').addEventListener('change', () => { S.colour = $('topo-colour').value; loadTopology().catch((e) => status(e.message)); });
    $('topo-diff').addEventListener('change', () => loadTopology().catch((e) => status(e.message)));
    $('topo-refresh').addEventListener('click', () => loadTopology().catch((e) => status(e.message)));
    $('bn-run').addEventListener('click', () => runBottleneck().catch((e) => status(e.message)));
    $('propose-form').addEventListener('submit', propose);
    $('kpi-refresh').addEventListener('click', () => loadMonitoring().catch((e) => status(e.message)));
    $('svc-refresh').addEventListener('click', () => loadServices().catch((e) => status(e.message)));
    $('svc-form').addEventListener('submit', (ev) => createService(ev).catch((e) => status(e.message)));
    for (const f of ['svc-kind', 'svc-a', 'svc-b']) $(f).addEventListener('change', svcDefaults);
    for (const f of ['svc-id', 'svc-vni', 'svc-addr-a', 'svc-addr-b', 'svc-rd']) $(f).addEventListener('input', () => { $(f).dataset.edited = 'yes'; svcDefaults(); });
    $('wi-form').addEventListener('submit', runWhatif);
    $('wi-cancel').addEventListener('click', () => cancelWhatif().catch((e) => status(e.message)));
    document.addEventListener('keydown', onKey);
    show('login');
  });
})();
