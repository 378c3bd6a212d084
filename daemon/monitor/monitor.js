// The Load Monitor's pages: each fetches its JSON from /api/... and renders
// it with DOM calls (never innerHTML, so names from files stay text), then
// refreshes every two seconds. Charts are SVG drawn here; no library.
// Operator actions appear only where the daemon serves /api/session (the
// HTTPS monitor with daemon.monitor_actions on).
"use strict";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function table(headers, rows, id) {
  const t = el("table", id ? { id } : {});
  t.append(el("tr", {}, ...headers.map((h) => el("th", {}, h))));
  for (const r of rows) t.append(r);
  return t;
}

// Readable numbers: thousands separators, and durations as people say
// them ("850 ms", "12.3 s", "1 min 12 s", "3 h 4 min").
function n(v) {
  return Number(v || 0).toLocaleString('en');
}
function dur(seconds) {
  const s = Number(seconds);
  if (!isFinite(s) || s < 0) return '–';
  if (s < 1) return Math.round(s * 1000) + ' ms';
  if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ' + Math.round(s - 60 * m) + ' s';
  const h = Math.floor(m / 60);
  if (h < 48) return h + ' h ' + (m - 60 * h) + ' min';
  return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
}
function bytes(v) {
  v = Number(v);
  if (v >= 1 << 30) return (v / (1 << 30)).toFixed(1) + ' GiB';
  if (v >= 1 << 20) return (v / (1 << 20)).toFixed(1) + ' MiB';
  return n(v) + ' B';
}
function clock(epochSeconds, withMs) {
  return new Date(epochSeconds * 1000)
      .toISOString()
      .substring(11, withMs ? 23 : 19);
}

function num(v) { return el("td", { class: "num" }, v); }

// A state cell. A task done or ingested with errors in its log says so in
// its own colour.
function stateCell(state, href, errors) {
  const withErrors = errors > 0 && (state === 'done' || state === 'ingested');
  const td = el('td', {
    class: 'state state-' + state + (withErrors ? ' with-errors' : ''),
    'data-state': withErrors ? state + '-with-errors' : state,
  });
  const text = withErrors ?
      state + ' with ' + n(errors) + (errors == 1 ? ' error' : ' errors') :
      state;
  td.append(href ? el('a', {href}, text) : text);
  return td;
}

async function get(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
async function getOr(path, fallback) {
  try {
    return await get(path);
  } catch (e) {
    return fallback;
  }
}

// The CUs, from the daemon's registry (/api/cus), in planning order.
let cus = null;
async function cuNames() {
  if (cus === null) {
    const list = (await get("/api/cus")).cus || [];
    cus = { order: list.map((c) => c.name), name: {} };
    for (const c of list) cus.name[String(c.cu)] = c.name;
  }
  return cus;
}
function cuName(cu) { return (cus && cus.name[String(cu)]) || ("CU" + cu); }

// ---- Operator actions (HTTPS monitor only) -------------------------------

// null: this monitor has no actions; else {signed_in, who, csrf, certificate}.
let session = null;
let sessionShown = '';

async function loadSession() {
  try {
    const r = await fetch('/api/session', {cache: 'no-store'});
    session = r.ok ? await r.json() : null;
  } catch (e) {
    session = null;
  }
  const key = session ?
      session.signed_in + '/' + session.who + '/' + session.certificate :
      '';
  if (key === sessionShown) return;
  sessionShown = key;
  const box = document.getElementById('session');
  if (!session) {
    box.replaceChildren();
    return;
  }
  if (session.signed_in) {
    box.replaceChildren(
        el('span', {id: 'signed-in'}, 'Signed in as ' + session.who + ' '),
        button(
            'Sign out', 'signout',
            () => post('/api/signout', {}, 'signed out')));
    return;
  }
  const token = el('input', {
    type: 'password',
    id: 'token',
    placeholder: 'operator token',
    autocomplete: 'current-password'
  });
  const form =
      el('form', {id: 'signin'}, 'Operator actions: ', token, ' ',
         el('button', {type: 'submit', id: 'signin-token'}, 'Sign in'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn({token: token.value});
  });
  if (session.certificate) {
    form.append(
        ' or ',
        button(
            'Sign in as ' + session.certificate, 'signin-cert',
            () => signIn({certificate: true})));
  }
  box.replaceChildren(form);
}

async function signIn(body) {
  await post('/api/signin', body, 'signed in');
}

function flash(text, ok) {
  const f = document.getElementById('flash');
  f.className = ok ? 'ok' : 'error';
  f.replaceChildren(text);
}

// POSTs with the CSRF token; says what came of it, then refreshes.
async function post(path, body, done) {
  try {
    const r = await fetch(path, {
      method: 'POST',
      cache: 'no-store',
      credentials: 'same-origin',
      headers: {
        'Content-Type': 'application/json',
        'X-CSRF-Token': session ? session.csrf : ''
      },
      body: JSON.stringify(body),
    });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) {
      flash(
          'refused (' + r.status + '): ' + (answer.error || r.statusText),
          false);
    } else {
      const refused = answer.refused || [];
      flash(
          done + (refused.length ? '; refused: ' + refused.join('; ') : ''),
          !refused.length);
    }
  } catch (e) {
    flash('cannot reach the daemon: ' + e.message, false);
  }
  sessionShown = '';
  await loadSession();
  await render();
}

function button(label, id, onclick) {
  const b = el('button', {type: 'button', id});
  b.textContent = label;
  b.addEventListener('click', onclick);
  return b;
}

function act(command, ids, label) {
  return button(label || command, command + '-' + ids.join('-'), () => {
    if (command === 'cancel' || command === 'rerun' || command === 'reject') {
      if (!confirm(command + ' task ' + ids.join(', ') + '?')) return;
    }
    post(
        '/api/actions/' + command, {task_ids: ids.map(Number)},
        command + ' task ' + ids.join(', '));
  });
}

// The actions that make sense for a task in its state.
const ACTIONS = {
  pending: ['approve', 'reject'],
  approved: ['cancel'],
  dispatched: ['cancel'],
  running: ['cancel'],
  failed: ['retry'],
  cancelled: ['retry'],
  done: ['rerun'],
  ingested: ['rerun'],
};
function taskActions(t) {
  if (!session || !session.signed_in) return null;
  return el(
      'td', {class: 'actions'},
      ...(ACTIONS[t.state] || []).map((c) => act(c, [t.task_id])));
}

// ---- Shared parts --------------------------------------------------------

// The pause banner (and a database that is away), on every page.
async function banner() {
  const s = await getOr('/api/status', null);
  const parts = [];
  if (s && s.paused) {
    const p =
        el('div', {class: 'paused', id: 'paused-banner'},
           'Dispatch is paused: no task starts until it is resumed. ');
    if (session && session.signed_in)
      p.append(button(
          'Resume', 'resume',
          () => post('/api/actions/resume', {}, 'dispatch resumed')));
    parts.push(p);
  } else if (s && session && session.signed_in) {
    parts.push(
        el('div', {},
           button(
               'Pause dispatch', 'pause',
               () => post('/api/actions/pause', {}, 'dispatch paused'))));
  }
  if (s && !s.database_up) {
    parts.push(el(
        'div', {class: 'db-down'}, 'The database is unreachable; retrying.'));
  }
  document.getElementById('banner').replaceChildren(...parts);
}

// A list with a search box and pages, client-side over what the API
// returned. Its search text and page survive the refreshes.
const pagers = {};
function paged(id, headers, items, textOf, rowOf, total) {
  const p = pagers[id] || (pagers[id] = {page: 0, query: '', input: null});
  if (!p.input) {
    p.input = el(
        'input', {type: 'search', placeholder: 'search', id: id + '-search'});
    p.input.addEventListener('input', () => {
      p.query = p.input.value;
      p.page = 0;
      render();
    });
  }
  const q = p.query.trim().toLowerCase();
  const matching =
      q ? items.filter((it) => textOf(it).toLowerCase().includes(q)) : items;
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  p.page = Math.min(p.page, pages - 1);
  const shown = matching.slice(p.page * PAGE_SIZE, (p.page + 1) * PAGE_SIZE);
  const prev = button('‹ previous', id + '-prev', () => {
    p.page--;
    render();
  });
  const next = button('next ›', id + '-next', () => {
    p.page++;
    render();
  });
  prev.disabled = p.page === 0;
  next.disabled = p.page >= pages - 1;
  const more = total > items.length ?
      ' (the newest ' + n(items.length) + ' of ' + n(total) + ')' :
      '';
  const bar =
      el('div', {class: 'pager'}, p.input, prev,
         el('span', {class: 'count'},
            n(matching.length) + (q ? ' matching' : ' in all') + more +
                ' · page ' + (p.page + 1) + ' of ' + pages),
         next);
  return el('div', {class: 'list'}, bar, table(headers, shown.map(rowOf), id));
}

function progressCell(t) {
  if (t.state !== 'running') return el('td', {});
  const files = Number(t.files || 0), done = Number(t.files_done || 0);
  const bar = el('progress', {
    max: String(Math.max(files, 1)),
    value: String(done),
    'data-task': t.task_id,
    class: 'task-progress'
  });
  const eta = Number(t.remaining_seconds);
  const text = n(done) + ' / ' + n(files) + ' files' +
      (t.elapsed_seconds ? ', ' + dur(t.elapsed_seconds) + ' so far' : '') +
      (eta >= 0 && t.estimated_seconds >= 0 && t.started_at ?
           ', ' + dur(eta) + ' left' :
           ', ETA unknown');
  return el('td', {class: 'progress'}, bar, el('span', {class: 'eta'}, text));
}

// An empty SVG chart of W x H pixels.
function chart(id, W, H, label) {
  return svg('svg', {
    class: 'chart',
    id,
    width: W,
    height: H,
    viewBox: '0 0 ' + W + ' ' + H,
    role: 'img',
    'aria-label': label
  });
}

// The labels of a time axis (UTC) at height y, with milliseconds when the
// span is short; the first and last stay inside the chart.
function timeAxis(s, x, t0, t1, y, ticks) {
  const ms = t1 - t0 < 2 * ticks;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + (t1 - t0) * i / ticks;
    const anchor = i === 0 ? 'start' : i === ticks ? 'end' : 'middle';
    s.append(svg('text', {x: x(t), y, 'text-anchor': anchor}, clock(t, ms)));
  }
}

// Ingest rows/s of each batch over time, newest 500 (an SVG line chart).
function throughputChart(points) {
  const W = 900, H = 220, L = 70, R = 10, T = 10, B = 30;
  const s = chart('throughput-chart', W, H, 'ingest rows per second over time');
  const pts = points.filter((p) => p.finished > 0)
                  .sort((a, b) => a.finished - b.finished);
  if (!pts.length) {
    s.append(svg('text', {x: L, y: H / 2}, 'no batch ingested yet'));
    return s;
  }
  const t0 = pts[0].finished,
        t1 = Math.max(pts[pts.length - 1].finished, t0 + 1);
  const ymax = Math.max(...pts.map((p) => p.rows_per_second), 1) * 1.1;
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (v) => H - B - (H - T - B) * v / ymax;
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4;
    s.append(
        svg('line', {class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v)}));
    s.append(
        svg('text', {x: L - 4, y: y(v) + 4, 'text-anchor': 'end'},
            n(Math.round(v))));
  }
  timeAxis(s, x, t0, t1, H - B + 16, 4);
  s.append(svg('line', {class: 'axis', x1: L, x2: L, y1: T, y2: H - B}));
  s.append(
      svg('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
  s.append(svg('text', {x: L + 4, y: T + 10}, 'rows/s (UTC)'));
  s.append(svg('polyline', {
    class: 'line',
    points: pts.map(
                   (p) => x(p.finished).toFixed(1) + ',' +
                       y(p.rows_per_second).toFixed(1))
                .join(' ')
  }));
  for (const p of pts) {
    const c = svg('circle', {
      class: 'point',
      cx: x(p.finished),
      cy: y(p.rows_per_second),
      r: 3,
      'data-batch': p.batch_id
    });
    c.append(
        svg('title', {},
            p.batch_id + ': ' + n(p.rows) + ' rows in ' + dur(p.seconds) +
                ', ' + n(Math.round(p.rows_per_second)) + ' rows/s'));
    s.append(c);
  }
  return s;
}

// ---- Pages ---------------------------------------------------------------

function waits(t) {
  return (t.waiting_for || []).length ? "waits for " + t.waiting_for.join("; ") : "";
}

function lifeText(night) {
  const parts = [];
  if (night.retired) parts.push('retired');
  parts.push('delivery ' + (night.delivery || 1));
  if (night.deprecated_frames)
    parts.push(n(night.deprecated_frames) + ' frames deprecated');
  if (night.pending_changes)
    parts.push(n(night.pending_changes) + ' files changed, waiting');
  return parts.join('; ');
}

function sourcesText(s) {
  if (!s || !s.loaded) return '–';
  return n(s.new_sources) + ' / ' + n(s.updated_sources) + ' / ' +
      n(s.unmatched_sources);
}

function taskRow(t, errors) {
  const actions = taskActions(t);
  return el(
      'tr', {'data-task': t.task_id},
      el('td', {}, el('a', {href: '/tasks/' + t.task_id}, t.task_id)),
      el('td', {}, t.night), el('td', {}, cuName(t.cu)),
      stateCell(t.state, null, errors[t.task_id]), progressCell(t),
      num(n(t.files)), num(t.attempts + ' / ' + t.max_attempts),
      el('td', {}, t.worker_id), el('td', {}, waits(t) || t.last_error),
      actions);
}
function taskHeaders() {
  const h = [
    'Task', 'Night', 'CU', 'State', 'Progress', 'Files', 'Attempts', 'Worker',
    'Last error / waiting for'
  ];
  if (session && session.signed_in) h.push('Actions');
  return h;
}
function taskText(t) {
  return [
    t.task_id, t.night, cuName(t.cu), t.state, t.worker_id, t.last_error,
    waits(t)
  ].join(' ');
}

async function nightsPage() {
  const [nights, tasks, plan, errors, throughput, names] = await Promise.all([
    get('/api/nights'), get('/api/tasks?limit=5000'), getOr('/api/plan', {}),
    getOr('/api/task_errors', {}), getOr('/api/throughput', {batches: []}),
    cuNames()
  ]);
  const CUS = names.order;
  const taskById = {};
  for (const t of tasks.tasks || []) taskById[t.task_id] = t;
  const rows =
      (nights.nights || [])
          .map(
              (night) =>
                  el('tr', {'data-night': night.night},
                     el('td', {},
                        el('a', {href: '/timeline?night=' + night.night},
                           night.night)),
                     el('td', {},
                        night.transfer_complete ? 'complete' : 'transferring'),
                     num(n(night.images)), num(n(night.catalogues)),
                     ...CUS.map((cu) => {
                       const state = (night.tasks || {})[cu];
                       const id = (night.task_ids || {})[cu];
                       return state ?
                           stateCell(state, '/tasks/' + id, errors[id]) :
                           el('td', {}, '–');
                     }),
                     el('td', {class: 'sources'}, sourcesText(night.sources)),
                     el('td', {
                       class: night.pending_changes || night.retired ?
                           'life warn' :
                           'life'
                     },
                        lifeText(night))));
  const entries = plan.entries || [];
  const planRows = entries.map(
      (e) =>
          el('tr', {'data-plan-task': e.task_id},
             el('td', {}, el('a', {href: '/tasks/' + e.task_id}, e.task_id)),
             el('td', {}, e.night), el('td', {}, cuName(e.cu)),
             el('td', {}, e.worker_id),
             num(e.starts_now ? 'now' : 'in ' + dur(e.start_in_seconds)),
             num('in ' + dur(e.finish_in_seconds)),
             taskById[e.task_id] ? taskActions(taskById[e.task_id]) : null));
  const planHeaders = ['Task', 'Night', 'CU', 'Worker', 'Starts', 'Finishes'];
  if (session && session.signed_in) planHeaders.push('Actions');
  const planPart = entries.length ?
      [
        el('p', {id: 'plan-summary'},
           n(entries.length) + ' tasks planned, all done in about ' +
               dur(plan.finish_in_seconds) +
               (plan.paused ? ' once dispatch is resumed' : '') +
               ((plan.unplaceable || []).length ?
                    '; no worker for tasks ' + plan.unplaceable.join(', ') :
                    '')),
        table(planHeaders, planRows, 'plan')
      ] :
      [el('p', {id: 'plan-summary'},
          'Nothing planned: no task is waiting for a worker.')];
  const pending = (tasks.tasks || [])
                      .filter((t) => t.state === 'pending')
                      .map((t) => t.task_id);
  return [
    el('h2', {}, 'Nights'),
    table(
        [
          'Night', 'Transfer', 'Images', 'Catalogues', ...CUS,
          'Sources (new / updated / unmatched)', 'Delivery'
        ],
        rows, 'nights'),
    el('h2', {}, 'Plan'),
    ...planPart,
    session && session.signed_in && pending.length ?
        el('p', {},
           act('approve', pending,
               'Approve all ' + pending.length + ' pending')) :
        null,
    el('h2', {}, 'Tasks'),
    paged(
        'tasks', taskHeaders(), tasks.tasks || [], taskText,
        (t) => taskRow(t, errors), tasks.total),
    el('h2', {}, 'Ingest rows/s'),
    throughputChart(throughput.batches || []),
  ];
}

async function workersPage() {
  const [workers, tasks] =
      await Promise.all([get('/api/workers'), get('/api/tasks?limit=5000')]);
  const running = {};
  for (const t of tasks.tasks || []) {
    if (t.state === "running" || t.state === "dispatched") {
      (running[t.worker_id] = running[t.worker_id] || []).push(t.task_id);
    }
  }
  const rows = (workers.workers || []).map((w) => {
    const l = w.load || {};
    return el(
        'tr', {'data-worker': w.worker_id}, el('td', {}, w.worker_id),
        el('td', {}, w.address),
        el('td', w.alive ? {} : {class: 'dead'}, w.alive ? 'alive' : 'silent'),
        num(dur(w.seconds_since_heartbeat) + ' ago'),
        num(Number(l.load_average_1m || 0).toFixed(2)), num(l.cores || 0),
        num((l.running_tasks || 0) + ' / ' + (l.slots || 0)),
        num(l.queued_tasks || 0),
        el('td', {},
           ...(running[w.worker_id] || [])
               .map(
                   (id) =>
                       el('a', {href: '/tasks/' + id}, 'task ' + id + ' '))),
        num(bytes(l.free_memory_bytes || 0)),
        num(bytes(l.free_disk_bytes || 0)));
  });
  return [el("h2", {}, "Workers"),
    table(["Worker", "Address", "State", "Last heartbeat", "Load (1 min)", "Cores",
           "Running / slots", "Queued", "Tasks", "Free memory", "Free disk"], rows, "workers")];
}

// {"detection": 240, "multiframe": 2} as "detection 240, multiframe 2".
function perTable(b) {
  // rows_by_table (a map) where the daemon has it, else the older
  // rows_per_table (a JSON object's text).
  let rows = b.rows_by_table;
  if (!rows && b.rows_per_table) {
    try {
      rows = JSON.parse(b.rows_per_table);
    } catch (e) {
      return b.rows_per_table;
    }
  }
  return Object.entries(rows || {}).map(([t, v]) => t + ' ' + n(v)).join(', ');
}

async function batchesPage() {
  const [batches, throughput] = await Promise.all([
    get('/api/batches?limit=5000'), getOr('/api/throughput', {batches: []}),
    cuNames()
  ]);
  const list = batches.batches || [];
  const row = (b) =>
      el('tr', {'data-batch': b.batch_id}, el('td', {}, b.batch_id),
         el('td', {}, b.night), el('td', {}, cuName(b.cu)), stateCell(b.state),
         num(n(b.rows)), el('td', {}, perTable(b)),
         num(b.ingest_ms ? dur(b.ingest_ms / 1000) : ''),
         el('td', {},
            b.held_by ? 'held by ' + b.held_by + ' since ' + b.held_since :
                        b.report));
  const text =
      (b) => [b.batch_id, b.night, cuName(b.cu), b.state, b.report, b.held_by]
                 .join(' ');
  return [
    el('h2', {}, 'Batches'),
    paged(
        'batches',
        [
          'Batch', 'Night', 'CU', 'State', 'Rows', 'Rows per table',
          'Ingest time', 'Report'
        ],
        list, text, row, batches.total),
    el('h2', {}, 'Ingest rows/s'), throughputChart(throughput.batches || [])
  ];
}

let filesOffset = 0;
async function taskPage(id) {
  const [log, files, errors] = await Promise.all([
    get('/api/tasks/' + id + '/log'),
    getOr('/api/tasks/' + id + '/files?limit=5000', {files: []}),
    getOr('/api/task_errors', {}), cuNames()
  ]);
  const t = log.task;
  const steps = (log.steps || [])
                    .map(
                        (s) => el(
                            'tr', {}, el('td', {}, s.step), num(dur(s.seconds)),
                            num(n(s.rows)), num(n(s.files)), num(n(s.errors)),
                            num(n(s.warnings))));
  const attempts =
      (log.attempts || [])
          .map(
              (a) =>
                  el('tr', {}, num(a.number), el('td', {}, a.worker_id),
                     el('td', {}, a.started), stateCell(a.outcome || 'running'),
                     num(dur(a.seconds)), el('td', {}, a.error)));
  const lines = (log.lines || []).map((l) => el("tr", { class: "level-" + l.level },
    el("td", {}, l.level), el("td", {}, l.step), el("td", {}, l.path), num(l.hdu || ""),
    el("td", {}, l.item), el("td", {}, l.message)));
  const fileRow = (f) =>
      el('tr',
         {class: f.errors ? 'level-error' :
              f.warnings  ? 'level-warning' :
                            ''},
         el('td', {}, f.step), el('td', {}, f.path), num(f.multiframe_id || ''),
         el('td', {}, f.started), num(dur(f.seconds)), num(n(f.rows)),
         num(n(f.errors)), num(n(f.warnings)));
  const fileText = (f) => [f.step, f.path, f.multiframe_id].join(' ');
  const headers = [
    'State', 'Progress', 'Files', 'Attempts', 'Worker', 'Batch', 'Last error'
  ];
  const actions = taskActions(t);
  if (actions) headers.push('Actions');
  return [
    el('h2', {},
       'Task ' + t.task_id + ': ' + cuName(t.cu) + ' of night ' + t.night),
    table(
        headers,
        [el('tr', {'data-task': t.task_id},
            stateCell(t.state, null, errors[t.task_id]), progressCell(t),
            num(n(t.files)), num(t.attempts + ' / ' + t.max_attempts),
            el('td', {}, t.worker_id), el('td', {}, t.batch_id),
            el('td', {}, t.last_error), actions)],
        'task'),
    el('h2', {}, 'Attempts'),
    table(
        ['Attempt', 'Worker', 'Started', 'Outcome', 'Time', 'Error'], attempts,
        'attempts'),
    el('h2', {}, 'Steps'),
    table(
        ['Step', 'Time', 'Rows', 'Files', 'Errors', 'Warnings'], steps,
        'steps'),
    el('h2', {}, 'Errors and warnings'),
    table(['Level', 'Step', 'File', 'HDU', 'Item', 'Message'], lines, 'lines'),
    el('h2', {}, 'Files'),
    paged(
        'files',
        [
          'Step', 'File', 'Multiframe', 'Started', 'Time', 'Rows', 'Errors',
          'Warnings'
        ],
        files.files || [], fileText, fileRow, files.total),
  ];
}

// A night's task attempts and ingests on a time axis (Airflow's Gantt).
async function timelinePage() {
  const night = new URLSearchParams(location.search).get('night') || '';
  const [tl, nights] = await Promise.all([
    get('/api/timeline' + (night ? '?night=' + encodeURIComponent(night) : '')),
    getOr('/api/nights', {nights: []}), cuNames()
  ]);
  const picker =
      el('p', {class: 'nights'}, 'Night: ',
         ...(nights.nights || [])
             .map(
                 (x) => x.night === tl.night ?
                     el('strong', {}, x.night + ' ') :
                     el('a', {href: '/timeline?night=' + x.night},
                        x.night + ' ')));
  const lanes = [];
  const laneOf = {};
  const add = (key, label) => {
    if (!(key in laneOf)) {
      laneOf[key] = lanes.length;
      lanes.push(label);
    }
    return laneOf[key];
  };
  for (const a of tl.attempts)
    add('t' + a.task_id, a.cu + ' task ' + a.task_id);
  for (const b of tl.ingests) add('b' + b.batch_id, 'ingest ' + b.cu);
  const all = tl.attempts.concat(tl.ingests);
  if (!all.length)
    return [
      el('h2', {}, 'Timeline of night ' + (tl.night || '–')), picker,
      el('p', {}, 'Nothing has run for this night yet.')
    ];
  const t0 = Math.min(...all.map((a) => a.start));
  const t1 = Math.max(...all.map((a) => a.end), t0 + 1);
  const W = 1000, L = 150, R = 10, T = 10, LANE = 20, B = 30;
  const H = T + lanes.length * LANE + B;
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const s = chart('timeline-chart', W, H, 'the night\'s tasks over time');
  lanes.forEach((label, i) => {
    s.append(svg('text', {x: 4, y: T + i * LANE + 14}, label));
    s.append(svg('line', {
      class: 'grid',
      x1: L,
      x2: W - R,
      y1: T + (i + 1) * LANE,
      y2: T + (i + 1) * LANE
    }));
  });
  timeAxis(s, x, t0, t1, H - B + 16, 5);
  s.append(
      svg('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
  const bar = (lane, start, end, cls, title, data) => {
    const r =
        svg('rect',
            Object.assign(
                {
                  class: 'bar ' + cls,
                  x: x(start),
                  y: T + lane * LANE + 3,
                  width: Math.max(2, x(end) - x(start)),
                  height: LANE - 6
                },
                data));
    r.append(svg('title', {}, title));
    s.append(r);
  };
  for (const a of tl.attempts) {
    bar(laneOf['t' + a.task_id], a.start, a.end,
        'state-' + (a.outcome || 'running'),
        a.cu + ' task ' + a.task_id + ' on ' + a.worker_id + ': ' +
            (a.outcome || 'running') + ', ' + dur(a.end - a.start),
        {'data-task': a.task_id});
  }
  for (const b of tl.ingests) {
    bar(laneOf['b' + b.batch_id], b.start, b.end, 'ingest state-' + b.state,
        b.batch_id + ': ' + b.state + ', ' + dur(b.end - b.start),
        {'data-batch': b.batch_id});
  }
  if (tl.now >= t0 && tl.now <= t1 + 1) {
    s.append(
        svg('line',
            {class: 'now', x1: x(tl.now), x2: x(tl.now), y1: T, y2: H - B}));
  }
  return [
    el('h2', {}, 'Timeline of night ' + tl.night), picker, s,
    el('p', {class: 'legend'},
       ...['running', 'done', 'failed', 'cancelled', 'lost'].map(
           (st) => el('span', {class: 'state-' + st}, st)),
       el('span', {class: 'state-ingested'}, 'ingest'),
       el('span', {class: 'state-quarantined'}, 'quarantined'))
  ];
}

async function auditPage() {
  const audit = await getOr('/api/audit?limit=1000', null);
  if (!audit)
    return [el('h2', {}, 'Audit'), el('p', {}, 'No audit log on this daemon.')];
  const list = audit.entries || [];
  const row = (a) =>
      el('tr', {'data-audit': a.id}, el('td', {}, a.at), el('td', {}, a.who),
         el('td', {}, a.via), el('td', {}, a.command), el('td', {}, a.target),
         el('td', {}, a.reason), el('td', {}, a.outcome));
  const text =
      (a) => [a.at, a.who, a.via, a.command, a.target, a.reason, a.outcome]
                 .join(' ');
  return [
    el('h2', {}, 'Audit: who did what, newest first'),
    paged(
        'audit',
        ['When', 'Who', 'Via', 'Command', 'Target', 'Reason', 'Outcome'], list,
        text, row)
  ];
}

function pageFor(path) {
  const task = path.match(/^\/tasks\/(\d+)$/);
  if (task) return () => taskPage(task[1]);
  if (path === "/workers") return workersPage;
  if (path === "/batches") return batchesPage;
  if (path === '/timeline') return timelinePage;
  if (path === '/audit') return auditPage;
  return nightsPage;
}

// Draws the page once; keeps a search box's focus across the redraw.
async function render() {
  const status = document.getElementById("status");
  const focused = document.activeElement;
  const caret = focused && focused.selectionStart;
  try {
    await banner();
    const content = await pageFor(location.pathname)();
    document.getElementById('main').replaceChildren(
        ...content.filter((c) => c !== null));
    if (focused && focused.id && focused.id.endsWith('-search') &&
        document.getElementById(focused.id)) {
      focused.focus();
      if (caret !== null && caret !== undefined)
        focused.setSelectionRange(caret, caret);
    }
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.className = "";
    document.body.dataset.loaded = "yes";
  } catch (e) {
    status.textContent = "cannot reach the daemon: " + e.message;
    status.className = "stale";
  }
}

async function refresh() {
  await loadSession();
  await render();
  setTimeout(refresh, REFRESH_MS);
}

refresh();
