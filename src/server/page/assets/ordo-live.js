// ordo status page, the live parts: a resource's children, events and pod logs in its panel,
// and the tree view (object → children), kept current over /api/v1/events?tree=true while shown.
// Builds with ordo.js's helpers (window.ordoPage). Everything from the cluster is text.
'use strict';

(() => {
  const page = window.ordoPage;
  if (!page || document.body.dataset.page !== 'app') return;
  const { h, put, status, ago, askToken, tokenKey } = page;
  const $ = (sel, root = document) => root.querySelector(sel);
  const appName = document.body.dataset.app || '';
  const since = (iso) => ago(Date.parse(iso) / 1000);
  const api = (path) => `/api/v1/apps/${encodeURIComponent(appName)}/${path}`;

  let app = null; // the latest app document
  let trees = new Map(); // resource id -> children, from `event: tree`
  let stream = null; // the tree view's EventSource, open only while it is shown

  // ---- children and events ------------------------------------------------------------------

  function childRow(c, depth) {
    const pod = c.kind === 'Pod';
    return h('li', { class: 'child', 'data-kind': c.kind, 'data-name': c.name, style: `--depth:${depth}` },
      h('span', { class: 'child-head' },
        h('span', { class: 'node-kind' }, c.kind), ' ', h('span', { class: 'child-name' }, c.name), ' ',
        status(c.health)),
      h('span', { class: 'child-facts' },
        c.ready ? h('span', { title: 'ready' }, `ready ${c.ready}`) : null,
        pod || c.restarts ? h('span', { 'data-f': 'restarts', 'data-v': c.restarts ? 'Degraded' : null }, `restarts ${c.restarts}`) : null,
        c.node ? h('span', {}, `node ${c.node}`) : null,
        c.created ? h('span', { 'data-time': c.created, title: c.created }, since(c.created)) : null),
      c.message && c.health !== 'Healthy' ? h('span', { class: 'child-msg' }, c.message) : null,
      pod ? logButtons(c) : null);
  }

  function logButtons(pod) {
    return h('span', { class: 'log-buttons' }, (pod.containers || []).map((container) => [
      h('button', { class: 'btn small', type: 'button', 'data-log': 'current', 'data-pod': pod.name, 'data-container': container },
        `Log ${container}`),
      h('button', { class: 'btn small', type: 'button', 'data-log': 'previous', 'data-pod': pod.name, 'data-container': container },
        `Previous log ${container}`),
    ]));
  }

  /** The rows of a tree, depth first, as one flat list (indented by CSS): easy to read on a phone. */
  function childRows(children, depth = 0) {
    return (children || []).flatMap((c) => [childRow(c, depth), ...childRows(c.children, depth + 1)]);
  }

  function childList(children, omitted) {
    if (!children || children.length === 0) return h('p', { class: 'muted' }, 'Owns nothing live.');
    return [h('ul', { class: 'children' }, childRows(children)),
      omitted ? h('p', { class: 'muted' }, `and ${omitted} more, not shown`) : null];
  }

  function eventTable(events) {
    if (!events || events.length === 0) return h('p', { class: 'muted' }, 'No events (the API server keeps them for an hour).');
    return h('div', { class: 'table-scroll' }, h('table', { class: 'events' },
      h('thead', {}, h('tr', {}, ['Type', 'Reason', 'Object', 'Message', 'Count', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, events.map((e) => h('tr', { 'data-v': e.type === 'Warning' ? 'Degraded' : null },
        h('td', {}, e.type), h('td', {}, e.reason), h('td', {}, e.object), h('td', { class: 'event-msg' }, e.message),
        h('td', {}, String(e.count)), h('td', { 'data-time': e.lastSeen, title: e.lastSeen || '' }, e.lastSeen ? since(e.lastSeen) : ''))))));
  }

  document.addEventListener('ordo:panel', (ev) => {
    stopFollowing();
    const r = ev.detail;
    const body = $('#panel-body');
    if (!body || !('children' in r)) return;
    const sections = [
      h('section', { 'data-section': 'children' }, h('h3', {}, 'Live children'),
        r.liveError ? h('p', { class: 'err' }, r.liveError) : childList(r.children, r.childrenOmitted)),
      h('section', { 'data-section': 'events' }, h('h3', {}, 'Events'), eventTable(r.events)),
      h('section', { 'data-section': 'logs', hidden: true }, h('h3', { id: 'log-title' }, 'Log'),
        h('p', { class: 'muted', id: 'log-note' }), h('pre', { class: 'code log', id: 'log-text', tabindex: '0', 'aria-labelledby': 'log-title' }),
        h('button', { class: 'btn small', type: 'button', 'data-log': 'refresh' }, 'Refresh'), ' ',
        h('button', { class: 'btn small', type: 'button', 'data-log': 'follow', 'aria-pressed': 'false' }, 'Follow')),
    ];
    // After the health message: the why comes before the manifest.
    const anchor = $('[data-section=tier]', body);
    for (const s of sections) body.insertBefore(s, anchor);
  });

  // ---- logs: a bounded read (the last 500 lines, 256 KiB) with a refresh, or followed ----------

  let lastLog = null;
  let following = null; // the AbortController of a followed log

  function stopFollowing() {
    if (following) following.abort();
    following = null;
    const b = $('[data-log=follow]');
    if (b) { b.setAttribute('aria-pressed', 'false'); b.textContent = 'Follow'; }
  }

  /** Streams the current log while the panel stays open (the agent ends it after 5 min or 1 MiB). */
  async function followLog() {
    if (!lastLog || lastLog.previous) return;
    stopFollowing();
    const { pod, container } = lastLog;
    const token = sessionStorage.getItem(tokenKey);
    const headers = { Accept: 'text/plain' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const control = new AbortController();
    following = control;
    const b = $('[data-log=follow]');
    if (b) { b.setAttribute('aria-pressed', 'true'); b.textContent = 'Stop following'; }
    put($('#log-title'), `Log of ${pod} / ${container}, followed`);
    put($('#log-note'), 'Following: new lines appear as the container writes them.');
    const text = $('#log-text');
    put(text);
    try {
      const q = new URLSearchParams({ pod, container });
      const res = await fetch(api(`logs/follow?${q}`), { headers, credentials: 'same-origin', signal: control.signal });
      if (!res.ok || !res.body) {
        put($('#log-note'), h('span', { class: 'err' }, `Cannot follow the log: HTTP ${res.status}`));
        stopFollowing();
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        // The panel closed or moved on: stop reading (and let the agent close the stream).
        if (!text.isConnected) { control.abort(); break; }
        text.append(value);
        // Bounded on the page too: keep the last 256 KiB.
        if (text.textContent.length > 262144) text.textContent = text.textContent.slice(-262144);
        text.scrollTop = text.scrollHeight;
      }
      put($('#log-note'), 'The agent ended the followed log (5 min or 1 MiB); Follow starts again.');
    } catch (err) {
      if (err.name !== 'AbortError') put($('#log-note'), h('span', { class: 'err' }, `Following stopped: ${err.message}`));
    }
    if (following === control) stopFollowing();
  }

  async function showLog(pod, container, previous) {
    stopFollowing();
    lastLog = { pod, container, previous };
    const section = $('[data-section=logs]');
    if (!section) return;
    section.hidden = false;
    put($('#log-title'), `${previous ? 'Previous log' : 'Log'} of ${pod} / ${container}`);
    put($('#log-note'), 'Loading…');
    let token = sessionStorage.getItem(tokenKey);
    for (let attempt = 0; attempt < 3; attempt++) {
      const headers = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const q = new URLSearchParams({ pod, container, previous: String(previous) });
      let res;
      try {
        res = await fetch(api(`logs?${q}`), { headers, credentials: 'same-origin' });
      } catch (err) {
        put($('#log-note'), h('span', { class: 'err' }, `Could not read the log: ${err.message}`));
        return;
      }
      const doc = await res.json().catch(() => null);
      if (res.status === 401) {
        sessionStorage.removeItem(tokenKey);
        token = await askToken(attempt ? 'The agent refused that token. Try again.' : 'Container logs need the API token.');
        if (!token) { put($('#log-note'), h('span', { class: 'err' }, 'Logs need the API token.')); return; }
        continue;
      }
      if (!res.ok) {
        put($('#log-note'), h('span', { class: 'err' }, (doc && (doc.detail || doc.error)) || `HTTP ${res.status}`));
        put($('#log-text'));
        return;
      }
      if (token) sessionStorage.setItem(tokenKey, token);
      // The panel may have been drawn again while the log was read (its section hidden anew).
      const shown = $('[data-section=logs]');
      if (shown) shown.hidden = false;
      put($('#log-title'), `${previous ? 'Previous log' : 'Log'} of ${pod} / ${container}`);
      put($('#log-note'), `Last lines, read ${new Date().toLocaleTimeString()}; Refresh reads again.`);
      put($('#log-text'), doc.text || '(empty)');
      return;
    }
  }

  document.addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target.closest('[data-log],[data-view]') : null;
    if (!target) return;
    if (target.dataset.view) { setView(target.dataset.view); return; }
    if (target.dataset.log === 'refresh') { if (lastLog) showLog(lastLog.pod, lastLog.container, lastLog.previous); return; }
    if (target.dataset.log === 'follow') { if (following) stopFollowing(); else followLog(); return; }
    showLog(target.dataset.pod, target.dataset.container, target.dataset.log === 'previous');
  });

  // ---- the tree view --------------------------------------------------------------------------

  function renderTree() {
    const tree = $('#tree');
    if (!tree || tree.hidden || !app) return;
    const rows = (app.resources || []).map((r) => {
      const kids = trees.get(r.id);
      return h('li', { class: 'tree-root', 'data-id': r.id },
        h('button', { class: 'tnode', type: 'button', 'data-action': 'open', 'data-id': r.id, 'aria-controls': 'panel', 'data-v': r.health || 'Pending' },
          h('span', { class: 'node-kind' }, r.kind), ' ', h('span', { class: 'node-name' }, r.name), ' ',
          status(r.sync), ' ', status(r.health || 'Pending')),
        kids && kids.children.length ? h('ul', { class: 'children' }, childRows(kids.children)) : null,
        kids && kids.childrenOmitted ? h('p', { class: 'muted' }, `and ${kids.childrenOmitted} more`) : null);
    });
    put(tree, h('ul', { class: 'tree-list', 'aria-label': 'Objects and what they own' }, rows));
  }

  function openStream() {
    if (stream) return;
    stream = new EventSource(`/api/v1/events?app=${encodeURIComponent(appName)}&tree=true`);
    stream.addEventListener('tree', (ev) => {
      let doc;
      try { doc = JSON.parse(ev.data); } catch (err) { return; }
      trees = new Map((doc.trees || []).map((t) => [t.id, t]));
      renderTree();
    });
  }

  function closeStream() {
    if (stream) stream.close();
    stream = null;
  }

  function setView(view) {
    const tree = $('#tree');
    const graph = $('#graph');
    if (!tree || !graph) return;
    const showTree = view === 'tree';
    tree.hidden = !showTree;
    graph.hidden = showTree;
    for (const b of document.querySelectorAll('[data-view]')) b.setAttribute('aria-pressed', String(b.dataset.view === view));
    try { localStorage.setItem('ordo.view', view); } catch (err) { /* private mode */ }
    if (showTree) { openStream(); renderTree(); } else closeStream();
  }

  document.addEventListener('ordo:app', (ev) => {
    app = ev.detail;
    renderTree();
  });

  // ordo.js drew the embedded document before this script ran.
  try { app = JSON.parse(($('#ordo-data') || {}).textContent || 'null'); } catch (err) { app = null; }
  let saved = null;
  try { saved = localStorage.getItem('ordo.view'); } catch (err) { /* private mode */ }
  if (saved === 'tree' || new URLSearchParams(location.search).get('view') === 'tree') setView('tree');
})();
