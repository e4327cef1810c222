// ordo status page: keeps the server-rendered page current from /api/v1/events, opens a
// resource's details, and calls the API's actions. No framework, no build step.
//
// One code path: the page embeds the same JSON document the event stream sends
// (#ordo-data), and the script applies it exactly as it applies an event. The DOM built here
// mirrors the markup of src/server/page/{index,app}.rs (classes and data-* names).
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const TOKEN_KEY = 'ordo.apiToken';
  const TIERS = ['config', 'database', 'backend', 'frontend', 'monitoring'];
  const LABELS = { OutOfSync: 'Out of sync', TimedOut: 'Timed out', RollingBack: 'Rolling back' };

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const body = document.body;
  const appName = body.dataset.app || '';
  const actionsEnabled = body.dataset.actions === 'true';

  // ---- building blocks ----------------------------------------------------------------------

  /** An element with attributes (null/false are left out) and children (strings are text). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  /** Replaces `el`'s children with `children` unless that would change nothing (keeps focus). */
  function put(el, ...children) {
    if (!el) return;
    const next = document.createElement(el.tagName);
    append(next, children);
    if (next.innerHTML !== el.innerHTML) el.replaceChildren(...next.childNodes);
  }

  const label = (v) => LABELS[v] || v;

  function icon(value) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const use = document.createElementNS(SVG, 'use');
    use.setAttribute('href', '#i-' + String(value).toLowerCase());
    svg.append(use);
    return svg;
  }

  function status(value, text) {
    return h('span', { class: 'st', 'data-v': value }, icon(value), h('span', { class: 'st-t' }, text ?? label(value)));
  }

  const short = (sha) => String(sha || '').slice(0, 7);
  const firstLine = (m) => String(m || '').split('\n')[0];

  function ago(t) {
    const s = Math.max(0, Math.floor(Date.now() / 1000 - t));
    if (s < 5) return 'just now';
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }

  function duration(secs) {
    const s = Math.max(0, secs);
    if (s < 10) return `${s.toFixed(1)}s`;
    if (s < 60) return `${Math.round(s)}s`;
    const r = Math.round(s);
    return `${Math.floor(r / 60)}m ${String(r % 60).padStart(2, '0')}s`;
  }

  function time(t) {
    const iso = new Date(t * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    return h('time', { datetime: iso, 'data-t': t }, ago(t));
  }

  function refreshTimes() {
    for (const el of $$('time[data-t]')) {
      const t = Number(el.dataset.t);
      el.textContent = ago(t);
      if (!el.title) el.title = new Date(t * 1000).toLocaleString();
    }
  }

  function actionButton(action, text, revision, primary) {
    return h('button', {
      class: primary ? 'btn primary' : 'btn',
      type: 'button',
      'data-action': action,
      'data-revision': revision,
      disabled: !actionsEnabled,
      title: actionsEnabled ? null : 'Disabled: the agent has no apiTokenFile configured',
    }, text);
  }

  // ---- index: one tile per app --------------------------------------------------------------

  function revision(rev) {
    if (!rev) return h('span', { class: 'muted' }, 'not synced yet');
    return [h('code', { class: 'sha', title: rev.sha }, short(rev.sha)), ' ',
      h('span', { class: 'msg', title: rev.message }, firstLine(rev.message))];
  }

  function lastSync(last) {
    if (!last) return h('span', { class: 'muted' }, 'Never synced');
    return ['Last sync ', time(last.finished), ' · took ', h('span', { class: 'dur' }, duration(last.finished - last.started)),
      ' · ', status(last.result)];
  }

  function tierBar(tiers) {
    return h('ol', { class: 'tierbar', 'data-f': 'tierbar', 'aria-label': 'Tiers' }, (tiers || []).map((t) => {
      const value = t.resources === 0 ? 'Empty' : (t.health || 'Pending');
      return h('li', { class: 'seg', 'data-v': value, title: `${t.tier}: ${t.healthy} of ${t.resources} healthy` },
        h('span', { class: 'seg-name' }, t.tier),
        h('span', { class: 'seg-st' }, t.resources === 0 ? '–' : status(value, `${t.healthy}/${t.resources}`)));
    }));
  }

  function renderTile(doc) {
    const tile = $$('.tile').find((t) => t.dataset.app === doc.name);
    if (!tile) return;
    put($('[data-f=rev]', tile), revision(doc.revision));
    put($('[data-f=badges]', tile), status(doc.syncStatus), status(doc.health),
      doc.phase !== 'Idle' ? status(doc.phase) : null);
    const history = doc.history;
    put($('[data-f=last]', tile), lastSync(doc.lastSync !== undefined ? doc.lastSync : history && history[0]));
    const bar = $('.tierbar', tile);
    const next = tierBar(doc.tiers);
    if (bar && bar.outerHTML !== next.outerHTML) bar.replaceWith(next);
    const error = $('[data-f=error]', tile);
    if (error) {
      error.hidden = !doc.lastError;
      error.textContent = doc.lastError || '';
    }
  }

  // ---- index: counts by status, kept live -----------------------------------------------------
  // The island lists every app's [name, sync, health, hasError, standby]; each event updates
  // its app's row and the counts are recomputed (once a frame, however many events arrive).
  // Tiles are only ever updated, never added: the page shows one filtered, sorted page of apps
  // (src/server/page/listing.rs), and an app outside it stays off it until a reload.

  const statuses = new Map();
  let filter = {};

  // Same rules as listing.rs (has_error, needs_attention).
  const hasError = (doc) => Boolean(doc.lastError || doc.storeError || doc.taskDown);
  const needsAttention = ([sync, health, error]) => health !== 'Healthy' || sync !== 'Synced' || error;

  function holds(key, row) {
    const [kind, value] = key.split(':');
    const [, sync, health, error, standby] = row;
    if (kind === 'sync') return sync === value;
    if (kind === 'health') return health === value;
    if (value === 'attention') return needsAttention([sync, health, error]);
    if (value === 'error') return error;
    if (value === 'standby') return standby;
    return false;
  }

  let countsQueued = false;
  function renderCounts() {
    countsQueued = false;
    const rows = Array.from(statuses.values());
    for (const el of $$('.counts [data-count]')) {
      const key = el.dataset.count;
      const n = key === 'all' ? rows.length : rows.filter((r) => holds(key, r)).length;
      put($('.count-n', el), String(n));
      if (key !== 'all') el.toggleAttribute('data-zero', n === 0);
    }
  }

  /** Marks a tile whose app no longer has the status the page is filtered by. */
  function markOutside(tile, row) {
    const wanted = [['sync', filter.sync], ['health', filter.health], ['only', filter.only]]
      .filter(([, v]) => v).map(([k, v]) => `${k}:${v}`);
    const outside = wanted.some((key) => !holds(key, row));
    if (outside !== tile.hasAttribute('data-outside')) {
      tile.toggleAttribute('data-outside', outside);
      if (outside) tile.title = 'No longer matches the filter: it leaves the list on reload';
      else tile.removeAttribute('title');
    }
  }

  function indexEvent(doc) {
    const row = [doc.name, doc.syncStatus, doc.health, hasError(doc), doc.phase === 'Standby'];
    statuses.set(doc.name, row);
    renderTile(doc);
    const tile = $$('.tile').find((t) => t.dataset.app === doc.name);
    if (tile) markOutside(tile, row);
    if (!countsQueued) {
      countsQueued = true;
      requestAnimationFrame(renderCounts);
    }
  }

  // ---- app page -----------------------------------------------------------------------------

  let current = null; // the last app document applied

  function banners(doc) {
    const out = [];
    if (doc.pin) {
      out.push(h('div', { class: 'banner', 'data-v': 'Suspended' }, icon('Suspended'),
        h('div', { class: 'banner-text' },
          h('strong', {}, 'Pinned to ', h('code', { title: doc.pin.revision }, short(doc.pin.revision))), ': ', doc.pin.reason,
          h('br'),
          h('small', {}, doc.pin.manual ? 'Set by hand: the agent stays on it until it is unpinned.'
            : ['A new commit on ', doc.reference, ' lifts it.'])),
        actionButton('unpin', 'Unpin')));
    }
    // A failed revision matters while the branch still points at it (see app.rs, holds_back).
    if (doc.failedRevision && (!doc.head || doc.head === doc.failedRevision)) {
      out.push(h('div', { class: 'banner', 'data-v': 'Failed' }, icon('Failed'),
        h('div', { class: 'banner-text' },
          h('strong', {}, 'Revision ', h('code', { title: doc.failedRevision }, short(doc.failedRevision)), ' failed'),
          h('br'),
          h('small', {}, 'It is not retried until the branch moves, someone syncs, or it is unpinned.')),
        actionButton('unpin', 'Unpin')));
    }
    if (doc.storeError) {
      out.push(h('div', { class: 'banner', 'data-v': 'Degraded' }, icon('Degraded'),
        h('div', { class: 'banner-text' }, h('strong', {}, 'Stored state not saved'), h('br'), h('span', { class: 'err' }, doc.storeError))));
    }
    if (doc.taskDown) {
      out.push(h('div', { class: 'banner', 'data-v': 'Failed' }, icon('Failed'),
        h('div', { class: 'banner-text' }, h('strong', {}, 'App task down'), h('br'), h('span', { class: 'err' }, doc.taskDown))));
    }
    if (doc.pruneHeld) {
      const held = doc.pruneHeld;
      out.push(h('div', { class: 'banner', 'data-v': 'OutOfSync' }, icon('OutOfSync'),
        h('div', { class: 'banner-text' },
          h('strong', {}, `Prune held: ${held.objects.length} object(s) left git`),
          h('br'),
          h('small', {}, "More than the app's pruneGuard allows at once, or marked Prune=confirm: ",
            held.objects.join(', '))),
        actionButton('confirm-prune', 'Confirm prune', held.revision)));
    }
    if (doc.lastError) {
      out.push(h('div', { class: 'banner', 'data-v': 'Degraded' }, icon('Degraded'),
        h('div', { class: 'banner-text' }, h('strong', {}, 'Last error'), h('br'), h('span', { class: 'err' }, doc.lastError))));
    }
    return out;
  }

  function renderFacts(doc) {
    const facts = $('#facts');
    if (!facts) return;
    const rev = doc.revision;
    const head = doc.head && (!rev || rev.sha !== doc.head) ? doc.head : null;
    put($('[data-f=rev]', facts),
      rev ? [h('code', { class: 'sha', title: rev.sha }, short(rev.sha)), ' ',
        h('span', { class: 'msg', title: rev.message }, firstLine(rev.message)), h('br'),
        h('small', {}, 'by ', rev.author, ', committed ', time(rev.time))]
        : h('span', { class: 'muted' }, 'not synced yet'),
      head ? [h('br'), h('small', { class: 'head' }, 'branch head ', h('code', { title: head }, short(head)))] : null);
    put($('[data-f=sync]', facts), status(doc.syncStatus));
    put($('[data-f=health]', facts), status(doc.health));
    put($('[data-f=phase]', facts), status(doc.phase),
      doc.currentStep ? [h('br'), h('small', { class: 'step' }, doc.currentStep)] : null);
    const resources = doc.resources || [];
    const healthy = resources.filter((r) => r.health === 'Healthy').length;
    const dd = $('[data-f=progress]', facts);
    if (dd) {
      const count = $('.count', dd);
      const bar = $('progress', dd);
      if (count) count.textContent = `${healthy}/${resources.length} healthy`;
      if (bar) {
        bar.max = Math.max(1, resources.length);
        bar.value = healthy;
      }
    }
    put($('[data-f=reconciled]', facts),
      doc.reconciledAt ? time(doc.reconciledAt) : h('span', { class: 'muted' }, 'not yet'),
      doc.driftCount > 0 ? [h('br'), h('small', {}, `${doc.driftCount} drift corrections`)] : null);
  }

  function nodeButton(r) {
    return h('button', { class: 'node', type: 'button', 'data-id': r.id, 'aria-controls': 'panel', 'aria-expanded': 'false' },
      h('span', { class: 'node-kind' }, r.kind),
      h('span', { class: 'node-name' }, r.name),
      h('span', { class: 'node-st' }, h('span', { 'data-f': 'sync' }), h('span', { 'data-f': 'health' })));
  }

  const nodes = () => new Map($$('.node').map((n) => [n.dataset.id, n]));

  function renderGraph(doc) {
    const resources = doc.resources || [];
    const existing = nodes();
    const wanted = new Set(resources.map((r) => r.id));
    for (const [id, node] of existing) {
      if (!wanted.has(id)) node.closest('li').remove();
    }
    for (const tier of TIERS) {
      const column = $(`.tier[data-tier="${tier}"]`);
      if (!column) continue;
      const list = $('.nodes', column);
      const ofTier = resources.filter((r) => r.tier === tier);
      const items = ofTier.map((r) => {
        let node = existing.get(r.id);
        if (!node) node = nodeButton(r);
        const health = r.health || 'Pending';
        node.dataset.v = health;
        if (r.message) node.title = r.message;
        else node.removeAttribute('title');
        put($('[data-f=sync]', node), status(r.sync));
        put($('[data-f=health]', node), status(health));
        node.setAttribute('aria-expanded', String(r.id === openId));
        return node.closest('li') || h('li', {}, node);
      });
      // Re-append only when the order changed: moving a focused node would drop its focus.
      const order = Array.from(list.children);
      if (order.length !== items.length || order.some((li, i) => li !== items[i])) list.append(...items);
      const healthy = ofTier.filter((r) => r.health === 'Healthy').length;
      put($('[data-f=count]', column), `${healthy}/${ofTier.length}`);
    }
    scheduleEdges();
  }

  // ---- dependency edges, drawn after layout ---------------------------------------------------

  let edgesQueued = false;
  function scheduleEdges() {
    if (edgesQueued) return;
    edgesQueued = true;
    requestAnimationFrame(() => {
      edgesQueued = false;
      drawEdges();
    });
  }

  function marker(id) {
    const m = document.createElementNS(SVG, 'marker');
    for (const [k, v] of Object.entries({ id, viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto' })) {
      m.setAttribute(k, v);
    }
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', 'M0 0L10 5L0 10z');
    m.append(p);
    if (id.endsWith('hl')) m.setAttribute('class', 'hl');
    return m;
  }

  function drawEdges() {
    const svg = $('#edges');
    const graph = $('#graph');
    if (!svg || !graph || !current) return;
    if (getComputedStyle(svg).display === 'none') return;
    const box = graph.getBoundingClientRect();
    svg.setAttribute('width', String(graph.clientWidth));
    svg.setAttribute('height', String(graph.clientHeight));
    const defs = document.createElementNS(SVG, 'defs');
    defs.append(marker('arrow'), marker('arrow-hl'));
    const paths = [];
    const byId = nodes();
    const rel = (el) => {
      const r = el.getBoundingClientRect();
      return { l: r.left - box.left, r: r.right - box.left, t: r.top - box.top, b: r.bottom - box.top, cy: (r.top + r.bottom) / 2 - box.top };
    };
    for (const res of current.resources || []) {
      const to = byId.get(res.id);
      if (!to) continue;
      for (const dep of res.dependsOn || []) {
        const from = byId.get(dep.id);
        if (!from) continue;
        const a = rel(from);
        const b = rel(to);
        let d;
        if (a.r <= b.l) {
          const dx = Math.max(18, (b.l - a.r) / 2);
          d = `M${a.r} ${a.cy}C${a.r + dx} ${a.cy} ${b.l - dx} ${b.cy} ${b.l - 1} ${b.cy}`;
        } else if (b.r <= a.l) {
          const dx = Math.max(18, (a.l - b.r) / 2);
          d = `M${a.l} ${a.cy}C${a.l - dx} ${a.cy} ${b.r + dx} ${b.cy} ${b.r + 1} ${b.cy}`;
        } else {
          // Same column: a bow out to the right, into the gap between columns.
          const bulge = 16 + Math.min(14, Math.abs(b.cy - a.cy) / 10);
          d = `M${a.r} ${a.cy}C${a.r + bulge} ${a.cy} ${b.r + bulge} ${b.cy} ${b.r + 1} ${b.cy}`;
        }
        const p = document.createElementNS(SVG, 'path');
        p.setAttribute('d', d);
        p.setAttribute('marker-end', 'url(#arrow)');
        if (dep.id.startsWith('Namespace/')) p.classList.add('ns');
        p.dataset.from = dep.id;
        p.dataset.to = res.id;
        paths.push(p);
      }
    }
    svg.replaceChildren(defs, ...paths);
    highlight(highlighted);
  }

  let highlighted = null;
  function highlight(id) {
    highlighted = id;
    const related = new Set();
    for (const p of $$('#edges path[data-from]')) {
      const on = id !== null && (p.dataset.from === id || p.dataset.to === id);
      p.classList.toggle('hl', on);
      p.setAttribute('marker-end', on ? 'url(#arrow-hl)' : 'url(#arrow)');
      if (on) related.add(p.dataset.from === id ? p.dataset.to : p.dataset.from);
    }
    for (const n of $$('.node')) n.classList.toggle('related', related.has(n.dataset.id));
  }

  // ---- history ------------------------------------------------------------------------------

  const historyKey = (e) => `h-${Math.floor(e.started * 1000)}`;

  // Object times are seconds since the sync started.
  const offset = (at) => (at === null || at === undefined ? '–' : `+${duration(at)}`);

  function rowActions(e, doc) {
    if (doc.revision && doc.revision.sha === e.revision) return h('span', { class: 'tag' }, 'deployed');
    if (e.result === 'Succeeded') return actionButton('rollback', 'Rollback to this revision', e.revision);
    return null;
  }

  function historyRows(e, doc) {
    const key = historyKey(e);
    const objects = e.objects || [];
    const row = h('tr', { class: 'h-row', 'data-key': key },
      h('td', {}, h('button', {
        class: 'expand', type: 'button', 'data-action': 'expand', 'aria-expanded': 'false', 'aria-controls': `${key}-objects`,
        disabled: objects.length === 0, title: `Per-object timings (${objects.length} objects)`,
      }, h('span', { 'aria-hidden': 'true' }, '▸'), h('span', { class: 'sr' }, 'Show per-object timings'))),
      h('td', {}, h('code', { class: 'sha', title: e.revision }, short(e.revision))),
      h('td', { class: 'msg' }, h('span', { title: e.message }, e.message), e.error ? [h('br'), h('small', { class: 'err' }, e.error)] : null),
      h('td', {}, e.author),
      h('td', {}, e.trigger),
      h('td', {}, status(e.result)),
      h('td', {}, time(e.started)),
      h('td', {}, duration(e.finished - e.started)),
      h('td', { class: 'row-actions' }, rowActions(e, doc)));
    const detail = h('tr', { class: 'h-objects', id: `${key}-objects`, hidden: true },
      h('td', { colspan: '9' }, h('table', { class: 'objects' },
        h('thead', {}, h('tr', {}, ['Object', 'Action', 'Outcome', 'Applied', 'Healthy', 'Waited'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, objects.map((o) => h('tr', {},
          h('td', { class: 'obj-id' }, o.id),
          h('td', {}, o.action),
          h('td', {}, status(o.outcome)),
          h('td', {}, offset(o.appliedAt)),
          h('td', {}, offset(o.healthyAt)),
          h('td', {}, o.appliedAt != null && o.healthyAt != null ? duration(o.healthyAt - o.appliedAt) : '–')))))));
    return [row, detail];
  }

  function renderHistory(doc) {
    const tbody = $('#history-body');
    if (!tbody) return;
    const history = doc.history || [];
    const rows = new Map($$('tr.h-row', tbody).map((r) => [r.dataset.key, r]));
    const wanted = [];
    for (const e of history) {
      const key = historyKey(e);
      let row = rows.get(key);
      let detail = row && document.getElementById(`${key}-objects`);
      if (!row || !detail) {
        [row, detail] = historyRows(e, doc);
      } else {
        put($('.row-actions', row), rowActions(e, doc));
      }
      rows.delete(key);
      wanted.push(row, detail);
    }
    for (const stale of rows.values()) {
      const detail = document.getElementById(`${stale.dataset.key}-objects`);
      if (detail) detail.remove();
      stale.remove();
    }
    const order = Array.from(tbody.children);
    if (order.length !== wanted.length || order.some((r, i) => r !== wanted[i])) tbody.append(...wanted);
    const empty = $('#history-empty');
    if (empty) empty.hidden = history.length > 0;
  }

  // ---- the resource panel -------------------------------------------------------------------

  let openId = null;
  let openedFrom = null;
  let panelSeq = 0;
  let panelStamp = '';

  function resourceStamp(doc, id) {
    const r = (doc.resources || []).find((x) => x.id === id);
    return JSON.stringify([doc.revision && doc.revision.sha, r && r.sync, r && r.health, r && r.message]);
  }

  function diffLines(text) {
    return String(text).split('\n').map((line) => {
      let cls = null;
      if (line.startsWith('@@')) cls = 'd-hunk';
      else if (line.startsWith('+') && !line.startsWith('+++')) cls = 'd-add';
      else if (line.startsWith('-') && !line.startsWith('---')) cls = 'd-del';
      return h('span', { class: cls }, line || ' ');
    });
  }

  function depList(items, empty) {
    if (!items || items.length === 0) return h('p', { class: 'muted' }, empty);
    return h('ul', { class: 'deps' }, items.map((d) => h('li', {},
      h('button', { class: 'linklike', type: 'button', 'data-action': 'open', 'data-id': d.id }, d.id),
      h('br'), h('span', { class: 'reason' }, d.reason))));
  }

  function renderPanel(r) {
    const health = r.health || 'Pending';
    put($('#panel-title'), h('span', { class: 'node-kind' }, r.kind), ' ', r.name);
    put($('#panel-body'),
      h('dl', {},
        h('dt', {}, 'Sync'), h('dd', {}, status(r.sync)),
        h('dt', {}, 'Health'), h('dd', {}, status(health)),
        h('dt', {}, 'Namespace'), h('dd', {}, r.namespace || '(cluster)'),
        h('dt', {}, 'API version'), h('dd', {}, r.apiVersion),
        h('dt', {}, 'From'), h('dd', { 'data-field': 'source' }, r.source || '')),
      h('section', { 'data-section': 'message' }, h('h3', {}, 'Health message'),
        h('p', {}, r.message || h('span', { class: 'muted' }, 'No message.'))),
      h('section', { 'data-section': 'tier' }, h('h3', {}, `Why tier “${r.tier}”`), h('p', {}, r.tierReason)),
      h('section', { 'data-section': 'depends' }, h('h3', {}, 'Depends on'), depList(r.dependsOn, 'Nothing: it can go first.')),
      h('section', { 'data-section': 'dependents' }, h('h3', {}, 'Needed by'), depList(r.dependents, 'Nothing waits for it.')),
      h('section', { 'data-section': 'diff' }, h('h3', {}, 'Diff against git ', r.diffStatus ? status(r.diffStatus) : null),
        r.diff ? h('pre', { class: 'code diff' }, diffLines(r.diff)) : h('p', { class: 'muted' }, 'No differences: the cluster matches git.')),
      h('section', { 'data-section': 'live' }, h('h3', {}, 'Live manifest'),
        r.live ? h('pre', { class: 'code live' }, r.live) : h('p', { class: 'muted' }, 'Not in the cluster.')));
    // Children, events and logs are drawn by ordo-live.js.
    document.dispatchEvent(new CustomEvent('ordo:panel', { detail: r }));
  }

  async function loadPanel(id) {
    const seq = ++panelSeq;
    panelStamp = current ? resourceStamp(current, id) : '';
    try {
      const res = await fetch(`/api/v1/apps/${encodeURIComponent(appName)}/resource?id=${encodeURIComponent(id)}`,
        { headers: { Accept: 'application/json' } });
      const doc = await res.json().catch(() => null);
      if (seq !== panelSeq || openId !== id) return;
      if (!res.ok) {
        put($('#panel-body'), h('p', { class: 'err' }, `Could not load ${id}: `, (doc && (doc.detail || doc.error)) || `HTTP ${res.status}`));
        return;
      }
      renderPanel(doc);
    } catch (err) {
      if (seq === panelSeq) put($('#panel-body'), h('p', { class: 'err' }, `Could not load ${id}: ${err.message}`));
    }
  }

  function openPanel(id, from) {
    const panel = $('#panel');
    if (!panel) return;
    openId = id;
    if (from) openedFrom = from;
    const r = current && (current.resources || []).find((x) => x.id === id);
    put($('#panel-title'), r ? [h('span', { class: 'node-kind' }, r.kind), ' ', r.name] : id);
    put($('#panel-body'), h('p', { class: 'muted' }, 'Loading…'));
    panel.hidden = false;
    panel.dataset.id = id;
    for (const n of $$('.node')) n.setAttribute('aria-expanded', String(n.dataset.id === id));
    highlight(id);
    panel.focus();
    loadPanel(id);
  }

  function closePanel() {
    const panel = $('#panel');
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    openId = null;
    for (const n of $$('.node')) n.setAttribute('aria-expanded', 'false');
    highlight(null);
    const back = openedFrom && document.contains(openedFrom) ? openedFrom : null;
    openedFrom = null;
    if (back) back.focus();
  }

  function renderApp(doc) {
    current = doc;
    document.dispatchEvent(new CustomEvent('ordo:app', { detail: doc }));
    put($('#banners'), banners(doc));
    renderFacts(doc);
    renderGraph(doc);
    renderHistory(doc);
    if (openId && resourceStamp(doc, openId) !== panelStamp) loadPanel(openId);
    refreshTimes();
  }

  // ---- actions ------------------------------------------------------------------------------

  let noticeTimer = null;
  function notify(text, failed) {
    const n = $('#notice');
    if (!n) return;
    n.textContent = text;
    n.dataset.v = failed ? 'Failed' : 'ok';
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, failed ? 12000 : 5000);
  }

  function askToken(message) {
    const dialog = $('#token-dialog');
    const input = $('#token-input');
    const error = $('#token-error');
    if (!dialog || !input) return Promise.resolve(null);
    error.hidden = !message;
    error.textContent = message || '';
    input.value = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        resolve(dialog.returnValue === 'ok' && input.value.trim() ? input.value.trim() : null);
      }, { once: true });
      dialog.returnValue = '';
      dialog.showModal();
      input.focus();
    });
  }

  const ACTIONS = {
    sync: { path: 'sync', done: 'Sync requested.' },
    rollback: { path: 'rollback', done: 'Rollback requested.' },
    unpin: { path: 'unpin', done: 'Unpinned: the agent follows the branch again.' },
    'confirm-prune': { path: 'confirm-prune', done: 'Prune confirmed: the agent deletes the held objects.' },
  };

  async function act(action, button) {
    const spec = ACTIONS[action];
    const payload = button.dataset.revision ? { revision: button.dataset.revision } : {};
    if (action === 'rollback' && !window.confirm(`Roll ${appName} back to ${short(payload.revision)}?`)) return;
    if (action === 'confirm-prune' && !window.confirm(`Delete the objects ${appName} holds back from pruning?`)) return;
    let token = sessionStorage.getItem(TOKEN_KEY);
    let refused = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!token) {
        token = await askToken(refused);
        if (!token) return;
      }
      button.setAttribute('aria-busy', 'true');
      button.disabled = true;
      let res;
      try {
        res = await fetch(`/api/v1/apps/${encodeURIComponent(appName)}/${spec.path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify(payload),
        });
      } catch (err) {
        notify(`${label(action)} failed: ${err.message}`, true);
        return;
      } finally {
        button.removeAttribute('aria-busy');
        button.disabled = !actionsEnabled;
      }
      if (res.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        token = null;
        refused = 'The agent refused that token. Try again.';
        continue;
      }
      if (!res.ok) {
        const err = await res.json().catch(() => null);
        const what = err ? [err.error, err.detail].filter(Boolean).join(': ') : `HTTP ${res.status}`;
        notify(`Could not ${action}: ${what}`, true);
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, token);
      notify(spec.done);
      return;
    }
  }

  document.addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target : null;
    if (!target) return;
    const node = target.closest('.node');
    if (node) {
      openPanel(node.dataset.id, node);
      return;
    }
    const button = target.closest('[data-action]');
    if (!button || button.disabled) return;
    const action = button.dataset.action;
    if (action === 'close-panel') closePanel();
    else if (action === 'open') openPanel(button.dataset.id);
    else if (action === 'expand') {
      const detail = document.getElementById(button.getAttribute('aria-controls'));
      const open = button.getAttribute('aria-expanded') !== 'true';
      button.setAttribute('aria-expanded', String(open));
      if (detail) detail.hidden = !open;
    } else if (ACTIONS[action]) act(action, button);
  });

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !$('#token-dialog[open]')) closePanel();
  });

  for (const type of ['mouseover', 'focusin']) {
    document.addEventListener(type, (ev) => {
      const node = ev.target instanceof Element && ev.target.closest('.node');
      if (node) highlight(node.dataset.id);
    });
  }
  for (const type of ['mouseout', 'focusout']) {
    document.addEventListener(type, (ev) => {
      if (ev.target instanceof Element && ev.target.closest('.node')) highlight(openId);
    });
  }

  // ---- live updates -------------------------------------------------------------------------

  function setLive(value, text) {
    const live = $('#live');
    if (!live) return;
    live.hidden = false;
    live.dataset.v = value;
    put(live, icon(value), h('span', { class: 'st-t' }, text));
  }

  /** Follows an event stream; the browser retries dropped connections, and we retry refused ones. */
  function follow(url, apply) {
    let delay = 1000;
    const connect = () => {
      const events = new EventSource(url);
      events.addEventListener('open', () => {
        delay = 1000;
        setLive('live', 'live');
      });
      events.addEventListener('app', (ev) => {
        let doc;
        try {
          doc = JSON.parse(ev.data);
        } catch (err) {
          console.error('ordo: bad event', err);
          return;
        }
        apply(doc);
      });
      events.addEventListener('error', () => {
        setLive('connecting', 'reconnecting…');
        if (events.readyState === EventSource.CLOSED) {
          events.close();
          setTimeout(connect, delay);
          delay = Math.min(delay * 2, 30000);
        }
      });
    };
    connect();
  }

  function start() {
    const island = $('#ordo-data');
    const data = island ? JSON.parse(island.textContent) : null;
    const page = body.dataset.page;
    if (page === 'index' && data) {
      for (const row of data.statuses || []) statuses.set(row[0], row);
      filter = data.filter || {};
      for (const doc of data.apps || []) renderTile(doc);
      follow('/api/v1/events', indexEvent);
    } else if (page === 'app' && data) {
      renderApp(data);
      follow(`/api/v1/events?app=${encodeURIComponent(appName)}`, (doc) => {
        if (doc.name === appName) renderApp(doc);
      });
      const graph = $('#graph');
      if (graph && 'ResizeObserver' in window) new ResizeObserver(scheduleEdges).observe(graph);
    }
    refreshTimes();
    setInterval(refreshTimes, 10000);
  }

  // What ordo-live.js (children, events, logs, the tree view) builds with.
  window.ordoPage = { h, put, status, icon, ago, openPanel, askToken, tokenKey: TOKEN_KEY };

  start();
})();
