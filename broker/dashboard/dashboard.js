// fling dashboard: polls the broker's JSON (/api/stats, /api/history,
// /api/dead) every two seconds and draws it. Every text that comes from a
// peer (task names, worker names, errors, payloads) goes in through
// textContent, never as HTML. Buttons POST JSON to /api/dead/retry|purge.
"use strict";

const REFRESH_MS = 2000;
const RATE_WINDOW = 5; // history samples (seconds) behind the rate cards
const state = { refreshes: 0, lastError: null };

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === undefined || n === null ? "-" : Number(n).toLocaleString("en-US"));
const fmtRate = (r) => (r === null || !isFinite(r) ? "-" : r >= 100 ? Math.round(r).toLocaleString("en-US") : r.toFixed(1));

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function fmtDuration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  const h = Math.floor(s / 3600);
  return (h >= 24 ? Math.floor(h / 24) + " d " + (h % 24) + " h" : h + " h " + Math.floor((s % 3600) / 60) + " min");
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

async function postJSON(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(reply.error || path + ": HTTP " + response.status);
  return reply;
}

function cell(row, value, className, key) {
  const td = document.createElement("td");
  td.textContent = value;
  if (className) td.className = className;
  if (key) td.dataset.key = key;
  row.appendChild(td);
  return td;
}

function fillTable(id, rows, build, empty) {
  const body = $(id).querySelector("tbody");
  const fresh = document.createElement("tbody");
  rows.forEach((item) => fresh.appendChild(build(item)));
  if (!rows.length && empty) {
    const row = document.createElement("tr");
    row.className = "empty";
    const td = cell(row, empty, "muted");
    td.colSpan = $(id).querySelectorAll("th").length;
    fresh.appendChild(row);
  }
  body.replaceWith(fresh);
}

// ---- the numbers ---------------------------------------------------------

// Rates from the history: [wall_ms, accepted, done, failed, dead_lettered, queued, inflight].
function historyRates(history) {
  const s = history.samples;
  const out = { done: [], accepted: [], failed: [], times: [] };
  for (let i = 1; i < s.length; i++) {
    const dt = (s[i][0] - s[i - 1][0]) / 1000;
    if (dt <= 0) continue;
    out.times.push(s[i][0]);
    out.accepted.push(Math.max(0, (s[i][1] - s[i - 1][1]) / dt));
    out.done.push(Math.max(0, (s[i][2] - s[i - 1][2]) / dt));
    out.failed.push(Math.max(0, (s[i][3] - s[i - 1][3]) / dt));
  }
  return out;
}

function recentRate(history, column) {
  const s = history.samples;
  if (s.length < 2) return null;
  const a = s[Math.max(0, s.length - 1 - RATE_WINDOW)], b = s[s.length - 1];
  const dt = (b[0] - a[0]) / 1000;
  return dt > 0 ? (b[column] - a[column]) / dt : null;
}

function drawSummary(stats, history) {
  $("held").textContent = fmt(stats.tasks);
  $("dead").textContent = fmt(stats.dead);
  $("workers-count").textContent = fmt(stats.workers.length);
  $("rate-done").textContent = fmtRate(recentRate(history, 2));
  $("rate-accepted").textContent = fmtRate(recentRate(history, 1));
  $("rate-failed").textContent = fmtRate(recentRate(history, 3));
  const store = stats.store || {};
  $("store").textContent = store.kind + (store.kind === "disk" ? ", " + fmtBytes(store.bytes_on_disk) + ", " +
    store.segments + " segments" : "") + (store.full ? ", FULL" : "") + (store.failed ? ", FAILED" : "");
  $("uptime").textContent = fmtDuration(stats.uptime_ms);
}

function queueRates(stats) {
  // done / s per queue, from the previous poll of stats
  const rates = {};
  const before = state.previous, seconds = before ? (Date.now() - state.previousAt) / 1000 : 0;
  if (before && seconds > 0) {
    const was = {};
    before.queues.forEach((q) => { was[q.name] = q; });
    stats.queues.forEach((q) => { if (was[q.name]) rates[q.name] = (q.done - was[q.name].done) / seconds; });
  }
  return rates;
}

function drawQueues(stats) {
  const rates = queueRates(stats);
  const queues = stats.queues.slice().sort((a, b) =>
    (b.queued + b.inflight) - (a.queued + a.inflight) || a.name.localeCompare(b.name));
  fillTable("queues", queues, (q) => {
    const row = document.createElement("tr");
    row.dataset.name = q.name;
    const orphan = q.queued > 0 && q.workers === 0;
    if (orphan) row.className = "orphan";
    const name = cell(row, q.name, "mono", "name");
    if (orphan) {
      const mark = document.createElement("span");
      mark.className = "orphan-mark";
      mark.textContent = "no worker";
      name.appendChild(mark);
    }
    cell(row, fmt(q.queued), "num", "queued");
    cell(row, fmt(q.inflight), "num", "inflight");
    cell(row, fmt(q.delayed), "num", "delayed");
    cell(row, fmt(q.dead), "num", "dead");
    cell(row, fmt(q.done), "num", "done");
    cell(row, fmtRate(rates[q.name] ?? null), "num", "rate");
    cell(row, fmt(q.failed), "num", "failed");
    cell(row, fmt(q.retried), "num", "retried");
    cell(row, fmt(q.workers), "num", "workers");
    return row;
  }, "no queues yet");
}

function drawWorkers(stats) {
  fillTable("workers", stats.workers, (w) => {
    const row = document.createElement("tr");
    row.dataset.name = w.name;
    cell(row, w.name, "mono", "name");
    cell(row, w.pid, "num", "pid");
    cell(row, fmt(w.inflight.pool) + " / " + fmt(w.capacity.pool), "num", "pool");
    cell(row, fmt(w.inflight.loop) + " / " + fmt(w.capacity.loop), "num", "loop");
    cell(row, fmt(w.done), "num", "done");
    cell(row, (w.running || []).map((t) => t.name + " " + fmtDuration(t.for_ms)).join(", ") || "idle", "", "running");
    cell(row, w.names.join(", "), "clip", "names");
    return row;
  }, "no workers registered");
}

function drawRefusals(stats) {
  const rows = Object.entries(stats.refused || {}).map(([reason, n]) => ({ reason, n, kind: "message" }));
  const c = stats.counters;
  [["STORE_FULL", c.store_full], ["UNAVAILABLE", c.unavailable],
   ["other task refusals", c.rejected - c.store_full - c.unavailable]].forEach(([reason, n]) => {
    if (n > 0) rows.push({ reason: reason + " (tasks)", n });
  });
  if (!rows.length) rows.push({ reason: "none", n: 0 });
  fillTable("refusals", rows, (r) => {
    const row = document.createElement("tr");
    cell(row, r.reason, "mono", "reason");
    cell(row, fmt(r.n), "num", "count");
    return row;
  });
}

// ---- dead letters ----------------------------------------------------------

async function deadAction(action, selector, message) {
  try {
    const reply = await postJSON("/api/dead/" + action, selector);
    const n = action === "retry" ? reply.retried : reply.purged;
    $("dead-message").textContent = (action === "retry" ? "retried " : "purged ") + n + " " + message;
  } catch (error) {
    $("dead-message").textContent = action + " failed: " + error.message;
  }
  refresh();
}

function drawDead(dead) {
  $("dead-total").textContent = dead.total > dead.dead.length
    ? dead.total + " (showing " + dead.dead.length + ")" : String(dead.total);
  fillTable("dead-letters", dead.dead, (t) => {
    const row = document.createElement("tr");
    row.dataset.id = t.id;
    cell(row, t.id, "mono", "id");
    cell(row, t.name, "mono", "name");
    cell(row, t.attempts, "num", "attempts");
    cell(row, t.crashes, "num", "crashes");
    cell(row, t.reason, "", "reason");
    cell(row, t.error, "clip", "error");
    cell(row, t.payload, "clip mono", "payload");
    const buttons = cell(row, "", "");
    const retry = document.createElement("button");
    retry.textContent = "Retry";
    retry.className = "retry";
    retry.addEventListener("click", () => deadAction("retry", { id: t.id }, t.id));
    const purge = document.createElement("button");
    purge.textContent = "Purge";
    purge.className = "purge danger";
    purge.addEventListener("click", () => {
      if (confirm("Purge " + t.id + " for good?")) deadAction("purge", { id: t.id }, t.id);
    });
    buttons.append(retry, " ", purge);
    return row;
  }, "no dead tasks");
}

// ---- the chart -----------------------------------------------------------------

function drawChart(history) {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 1100, height = canvas.clientHeight || 220;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const r = historyRates(history);
  const series = [["done", "#1f8a4c"], ["accepted", "#2d6cdf"], ["failed", "#d2452f"]];
  const peak = Math.max(1, ...r.done, ...r.accepted, ...r.failed);
  const left = 60, right = 10, top = 10, bottom = 24, w = width - left - right, h = height - top - bottom;
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7684";
  g.strokeStyle = "#e1e5ea";
  for (let i = 0; i <= 4; i++) {
    const y = top + h - (h * i) / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(left + w, y); g.stroke();
    g.fillText(fmtRate((peak * i) / 4), 6, y + 4);
  }
  const n = r.times.length;
  canvas.dataset.points = String(n);
  canvas.dataset.peak = String(Math.round(peak));
  if (n < 2) { g.fillText("collecting...", left + 8, top + 16); return; }
  const t0 = r.times[0], span = Math.max(1, r.times[n - 1] - t0);
  const x = (t) => left + (w * (t - t0)) / span;
  g.fillText(new Date(t0).toLocaleTimeString(), left, height - 6);
  g.fillText(new Date(r.times[n - 1]).toLocaleTimeString(), left + w - 60, height - 6);
  series.forEach(([key, color]) => {
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.beginPath();
    r[key].forEach((v, i) => {
      const px = x(r.times[i]), py = top + h - (h * v) / peak;
      if (i) g.lineTo(px, py); else g.moveTo(px, py);
    });
    g.stroke();
  });
}

// ---- the loop ----------------------------------------------------------------

async function refresh() {
  try {
    const [stats, history, dead] = await Promise.all([
      getJSON("/api/stats"), getJSON("/api/history"), getJSON("/api/dead?limit=100")]);
    drawSummary(stats, history);
    drawQueues(stats);
    drawWorkers(stats);
    drawRefusals(stats);
    drawDead(dead);
    drawChart(history);
    state.previous = stats;
    state.previousAt = Date.now();
    state.refreshes++;
    state.lastError = null;
    $("status").textContent = "live";
    $("status").className = "status ok";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.refreshes = String(state.refreshes);
  } catch (error) {
    state.lastError = error.message;
    $("status").textContent = "broker not answering: " + error.message;
    $("status").className = "status down";
  }
}

async function lookup(event) {
  event.preventDefault();
  const id = $("lookup-id").value.trim();
  if (!id) return;
  try {
    const response = await fetch("/api/task?id=" + encodeURIComponent(id), { cache: "no-store" });
    $("lookup-result").textContent = JSON.stringify(await response.json(), null, 2);
  } catch (error) {
    $("lookup-result").textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("retry-all").addEventListener("click", () => deadAction("retry", { all: true }, "tasks"));
  $("purge-all").addEventListener("click", () => {
    if (confirm("Purge every dead task for good?")) deadAction("purge", { all: true }, "tasks");
  });
  $("lookup").addEventListener("submit", lookup);
  refresh();
  setInterval(refresh, REFRESH_MS);
});
