// The Load Monitor's pages: each fetches its JSON from /api/... and renders
// it with DOM calls (never innerHTML, so names from files stay text), then
// refreshes every two seconds.
"use strict";

const REFRESH_MS = 2000;

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

function table(headers, rows, id) {
  const t = el("table", id ? { id } : {});
  t.append(el("tr", {}, ...headers.map((h) => el("th", {}, h))));
  for (const r of rows) t.append(r);
  return t;
}

function num(v) { return el("td", { class: "num" }, v); }

function stateCell(state, href) {
  const td = el("td", { class: "state state-" + state, "data-state": state });
  td.append(href ? el("a", { href }, state) : state);
  return td;
}

function bytes(n) {
  n = Number(n);
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  return n + " B";
}

async function get(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// The CUs, from the daemon's registry (/api/cus), in planning order:
// their names for the columns, and a name for each CU as tasks and
// batches give it (a name, or a number for a CU outside the enum).
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

function waits(t) {
  return (t.waiting_for || []).length ? "waits for " + t.waiting_for.join("; ") : "";
}

// A night's delivery, retirement, deprecated frames and waiting changes.
function lifeText(n) {
  const parts = [];
  if (n.retired) parts.push('retired');
  parts.push('delivery ' + (n.delivery || 1));
  if (n.deprecated_frames)
    parts.push(n.deprecated_frames + ' frames deprecated');
  if (n.pending_changes)
    parts.push(n.pending_changes + ' files changed, waiting');
  return parts.join('; ');
}

// A night's CU5 association, as LSST's reports it.
function sourcesText(s) {
  if (!s || !s.loaded) return '–';
  const n = (v) => Number(v || 0).toLocaleString('en');
  return n(s.new_sources) + ' / ' + n(s.updated_sources) + ' / ' +
      n(s.unmatched_sources);
}

async function nightsPage() {
  const [nights, tasks, names] =
      await Promise.all([get("/api/nights"), get("/api/tasks"), cuNames()]);
  const CUS = names.order;
  const rows =
      (nights.nights || [])
          .map(
              (n) => el(
                  'tr', {'data-night': n.night}, el('td', {}, n.night),
                  el('td', {},
                     n.transfer_complete ? 'complete' : 'transferring'),
                  num(n.images), num(n.catalogues), ...CUS.map((cu) => {
                    const state = (n.tasks || {})[cu];
                    const id = (n.task_ids || {})[cu];
                    return state ? stateCell(state, '/tasks/' + id) :
                                   el('td', {}, '–');
                  }),
                  el('td', {class: 'sources'}, sourcesText(n.sources)),
                  el('td', {
                    class: n.pending_changes || n.retired ? 'life warn' : 'life'
                  },
                     lifeText(n))));
  const taskRows = (tasks.tasks || []).map((t) => el("tr", { "data-task": t.task_id },
    el("td", {}, el("a", { href: "/tasks/" + t.task_id }, t.task_id)),
    el("td", {}, t.night), el("td", {}, cuName(t.cu)), stateCell(t.state),
    num(t.files), num(t.attempts), el("td", {}, t.worker_id),
    el("td", {}, waits(t) || t.last_error)));
  return [
    el('h2', {}, 'Nights'),
    table(
        [
          'Night', 'Transfer', 'Images', 'Catalogues', ...CUS,
          'Sources (new / updated / unmatched)', 'Delivery'
        ],
        rows, 'nights'),
    el('h2', {}, 'Tasks'),
    table(
        [
          'Task', 'Night', 'CU', 'State', 'Files', 'Attempts', 'Worker',
          'Last error / waiting for'
        ],
        taskRows, 'tasks'),
  ];
}

async function workersPage() {
  const [workers, tasks] = await Promise.all([get("/api/workers"), get("/api/tasks")]);
  const running = {};
  for (const t of tasks.tasks || []) {
    if (t.state === "running" || t.state === "dispatched") {
      (running[t.worker_id] = running[t.worker_id] || []).push(t.task_id);
    }
  }
  const rows = (workers.workers || []).map((w) => {
    const l = w.load || {};
    return el("tr", { "data-worker": w.worker_id },
      el("td", {}, w.worker_id), el("td", {}, w.address),
      el("td", w.alive ? {} : { class: "dead" }, w.alive ? "alive" : "silent"),
      num(Number(w.seconds_since_heartbeat).toFixed(1) + " s ago"),
      num(Number(l.load_average_1m || 0).toFixed(2)), num(l.cores || 0),
      num((l.running_tasks || 0) + " / " + (l.slots || 0)), num(l.queued_tasks || 0),
      el("td", {}, ...(running[w.worker_id] || []).map(
        (id) => el("a", { href: "/tasks/" + id }, "task " + id + " "))),
      num(bytes(l.free_memory_bytes || 0)), num(bytes(l.free_disk_bytes || 0)));
  });
  return [el("h2", {}, "Workers"),
    table(["Worker", "Address", "State", "Last heartbeat", "Load (1 min)", "Cores",
           "Running / slots", "Queued", "Tasks", "Free memory", "Free disk"], rows, "workers")];
}

async function batchesPage() {
  const [batches] = await Promise.all([get("/api/batches"), cuNames()]);
  const rows =
      (batches.batches || [])
          .map(
              (b) =>
                  el('tr', {'data-batch': b.batch_id}, el('td', {}, b.batch_id),
                     el('td', {}, b.night), el('td', {}, cuName(b.cu)),
                     stateCell(b.state), num(b.rows),
                     el('td', {},
                        Object.entries(b.rows_by_table || {})
                            .map(([t, n]) => t + ': ' + n)
                            .join(', ')),
                     num(b.ingest_ms ? Number(b.ingest_ms).toFixed(0) + ' ms' :
                                       ''),
                     el('td', {},
                        b.held_by ?
                            'held by ' + b.held_by + ' since ' + b.held_since :
                            b.report)));
  return [el("h2", {}, "Batches"),
    table(["Batch", "Night", "CU", "State", "Rows", "Rows per table", "Ingest time", "Report"],
          rows, "batches")];
}

async function taskPage(id) {
  const [log] = await Promise.all([get("/api/tasks/" + id + "/log"), cuNames()]);
  const t = log.task;
  const steps = (log.steps || []).map((s) => el("tr", {},
    el("td", {}, s.step), num(Number(s.seconds).toFixed(2) + " s"), num(s.rows), num(s.files),
    num(s.errors), num(s.warnings)));
  const attempts = (log.attempts || []).map((a) => el("tr", {},
    num(a.number), el("td", {}, a.worker_id), el("td", {}, a.started),
    stateCell(a.outcome || "running"), num(Number(a.seconds).toFixed(1) + " s"),
    el("td", {}, a.error)));
  const lines = (log.lines || []).map((l) => el("tr", { class: "level-" + l.level },
    el("td", {}, l.level), el("td", {}, l.step), el("td", {}, l.path), num(l.hdu || ""),
    el("td", {}, l.item), el("td", {}, l.message)));
  return [
    el("h2", {}, "Task " + t.task_id + ": " + cuName(t.cu) + " of night " + t.night),
    table(["State", "Files", "Attempts", "Worker", "Batch", "Last error"], [el("tr", {},
      stateCell(t.state), num(t.files), num(t.attempts), el("td", {}, t.worker_id),
      el("td", {}, t.batch_id), el("td", {}, t.last_error))], "task"),
    el("h2", {}, "Attempts"),
    table(["Attempt", "Worker", "Started", "Outcome", "Time", "Error"], attempts, "attempts"),
    el("h2", {}, "Steps"),
    table(["Step", "Time", "Rows", "Files", "Errors", "Warnings"], steps, "steps"),
    el("h2", {}, "Errors and warnings"),
    table(["Level", "Step", "File", "HDU", "Item", "Message"], lines, "lines"),
  ];
}

function pageFor(path) {
  const task = path.match(/^\/tasks\/(\d+)$/);
  if (task) return () => taskPage(task[1]);
  if (path === "/workers") return workersPage;
  if (path === "/batches") return batchesPage;
  return nightsPage;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const content = await pageFor(location.pathname)();
    document.getElementById("main").replaceChildren(...content);
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.className = "";
    document.body.dataset.loaded = "yes";
  } catch (e) {
    status.textContent = "cannot reach the daemon: " + e.message;
    status.className = "stale";
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
