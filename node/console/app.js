// dmnode's web console: reads the node's HTTP API every few seconds and
// acts through it. Plain JavaScript, no framework, no build step.
"use strict";

const API = "/api/v1/dmnode/";
const REFRESH_MS = 3000;
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];

const state = { tasks: [], members: [], history: {}, verify: {}, lastHTML: "" };

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// A node started with cluster credentials asks for a bearer token (401);
// the console asks for it once and keeps it for the browser tab.
const TOKEN_KEY = "dmnode-token";
let askedForToken = false;

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) opts.headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, opts);
  if (r.status === 401 && !askedForToken) {
    askedForToken = true;
    const t = window.prompt("This node asks for a token: run `dmnode creds token --creds DATA_DIR/secrets/admin.nk` (or viewer.nk to only look) and paste it here.");
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t.trim());
      askedForToken = false;
      return api(method, path, body);
    }
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!r.ok) {
    const err = new Error((data && (data.error || data.error_msg)) || r.statusText);
    err.status = r.status;
    err.data = data;
    throw err;
  }
  return data;
}

function duration(s) {
  if (s === undefined || s === null || s < 0) return "–";
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

function rate(r) {
  if (!r) return "–";
  return (r >= 1000 ? (r / 1000).toFixed(1) + "k" : r.toFixed(0)) + " rows/s";
}

// confirmAction asks before anything that changes the cluster.
function confirmAction(text) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise(resolve => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
  });
}

function showError(msg) {
  const el = document.getElementById("error");
  el.hidden = !msg;
  el.textContent = msg || "";
}

async function refresh() {
  if (document.getElementById("confirm").open) return;
  try {
    const [cluster, tasks, history] = await Promise.all([
      api("GET", API + "cluster.status"),
      api("GET", API + "task.list"),
      api("GET", API + "history"),
    ]);
    state.members = cluster.members || [];
    state.tasks = tasks.tasks || [];
    state.history = {};
    for (const h of history || []) state.history[h.task] = h;
    await Promise.all(state.tasks.map(async t => {
      try { state.verify[t.name] = await api("GET", API + "tasks/" + encodeURIComponent(t.name) + "/verify"); }
      catch (e) { if (e.status !== 404) throw e; delete state.verify[t.name]; }
    }));
    render();
    showError("");
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    showError(String(e.message || e));
  }
}

function render() {
  const nodes = document.querySelector("#nodes tbody");
  nodes.innerHTML = state.members.map(m => `
    <tr data-node="${esc(m.id)}">
      <td class="mono">${esc(m.id)}</td>
      <td>${m.leader ? "<strong>leader</strong>" : (m.voter ? "follower" : "non-voter")}${m.leaving ? " (leaving)" : ""}</td>
      <td class="${m.healthy ? "ok" : "error"}">${m.healthy ? "healthy" : "unreachable"}</td>
      <td class="mono">${esc(m.control)}</td>
      <td class="mono">${esc(m.http || "")}</td>
      <td>${m.actors} <span class="muted mono">${esc((m.actor_ids || []).join(", "))}</span></td>
    </tr>`).join("");

  const html = state.tasks.length ? state.tasks.map(renderTask).join("") : '<p class="muted">no tasks yet</p>';
  if (html !== state.lastHTML) {
    document.getElementById("tasks").innerHTML = html;
    state.lastHTML = html;
  }
}

function renderTask(t) {
  const name = esc(t.name);
  const running = t.state === "running";
  const rows = (t.sources || []).map(s => {
    // The copy's share: status gives it while dumping and loading; past
    // the load (sync, done) the copy is complete.
    const copied = s.stage === "sync" || s.stage === "done" || (s.rows_estimated > 0 && s.rows_loaded >= s.rows_estimated);
    const pct = copied ? 100 : Math.min(100, s.percent || 0);
    return `
    <tr data-source="${esc(s.source)}">
      <td class="mono">${esc(s.source)}</td>
      <td><span class="badge stage ${esc(s.stage)}">${esc(s.stage)}</span></td>
      <td><span class="bar" title="copy ${pct.toFixed(1)}%"><span style="width:${pct.toFixed(1)}%"></span></span> ${pct.toFixed(1)}%
        <div class="muted">${s.rows_loaded} / ~${s.rows_estimated} rows copied, ${s.chunks_done}/${s.chunks_total} chunks</div></td>
      <td>${rate(s.rows_per_second)}</td>
      <td>${duration(s.eta_seconds)}</td>
      <td class="lag">${s.stage === "sync" ? duration(s.lag_seconds) : "–"}</td>
      <td class="mono">${esc(s.applied_position)}<div class="muted">upstream ${esc(s.upstream_position)}</div></td>
      <td>${s.last_error ? `<span class="error">${esc(s.last_error)}</span>` : ""}
        ${(s.warnings || []).map(w => `<div class="warn">${esc(w)}</div>`).join("")}
        ${s.next ? `<div class="muted">next: <code>${esc(s.next)}</code></div>` : ""}</td>
    </tr>`;
  }).join("");
  return `
  <div class="task" data-task="${name}">
    <div class="task-head">
      <h3>${name}</h3>
      <span class="badge state ${esc(t.state)}">${esc(t.state)}</span>
      <span class="muted">mode ${esc(t.mode)}</span>
      <div class="actions">
        ${running ? `<button data-action="pause" data-task="${name}">Pause</button>` : `<button data-action="resume" data-task="${name}">Resume</button>`}
        ${t.state !== "stopped" ? `<button data-action="stop" data-task="${name}" class="danger">Stop</button>` : ""}
        <button data-action="verify" data-task="${name}">Verify rows</button>
      </div>
    </div>
    <table class="sources">
      <thead><tr><th>source</th><th>stage</th><th>progress</th><th>rate</th><th>ETA</th><th>lag</th><th>applied</th><th>notes</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>
    ${renderGraph(t)}
    ${renderLocks(t)}
    ${renderRejected(t)}
    ${renderVerify(t)}
  </div>`;
}

// renderGraph draws each source's lag over the node's history (last hour).
function renderGraph(t) {
  const h = state.history[t.name];
  const samples = (h && h.samples) || [];
  if (samples.length < 2) return `<div class="graph muted">lag graph: the node samples every ${(h && h.interval_seconds) || 10}s; it shows after two samples</div>`;
  const W = 600, H = 110, t0 = Date.parse(samples[0].time), t1 = Date.parse(samples[samples.length - 1].time);
  const sources = [...new Set(samples.flatMap(s => (s.sources || []).map(x => x.source)))];
  let max = 1;
  for (const s of samples) for (const x of s.sources || []) max = Math.max(max, x.lag_seconds);
  const lines = sources.map((src, i) => {
    const pts = samples.map(s => {
      const f = (s.sources || []).find(x => x.source === src);
      if (!f) return null;
      const x = t1 > t0 ? (Date.parse(s.time) - t0) / (t1 - t0) * W : 0;
      const y = H - f.lag_seconds / max * (H - 10);
      return x.toFixed(1) + "," + y.toFixed(1);
    }).filter(Boolean).join(" ");
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${pts}"/>`;
  }).join("");
  const legend = sources.map((s, i) => `<span style="color:${COLORS[i % COLORS.length]}">■ ${esc(s)}</span>`).join("");
  return `<div class="graph">
    <div class="legend"><strong>lag</strong> over ${duration(Math.round((t1 - t0) / 1000))} (max ${duration(max)}) ${legend}</div>
    <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="lag of task ${esc(t.name)}">${lines}</svg>
  </div>`;
}

function renderLocks(t) {
  const locks = t.shard_ddl_locks || [];
  if (!locks.length) return "";
  return `<div class="sub locks"><h3>Shard DDL locks</h3>
    <table><thead><tr><th>lock</th><th>state</th><th>DDLs</th><th>arrived</th><th>missing</th><th></th></tr></thead><tbody>
    ${locks.map(l => `<tr class="lock" data-lock="${esc(l.id)}">
      <td class="mono">${esc(l.id)}</td><td>${esc(l.state)}</td>
      <td class="mono">${(l.ddls || []).map(esc).join("<br>")}</td>
      <td class="mono arrived">${(l.arrived || []).map(a => esc(a.member)).join("<br>")}</td>
      <td class="mono missing">${(l.missing || []).map(esc).join("<br>")}</td>
      <td><button data-action="unlock" data-task="${esc(t.name)}" data-lock="${esc(l.id)}">Unlock (run DDL)</button>
          <button data-action="skip-lock" data-task="${esc(t.name)}" data-lock="${esc(l.id)}" class="danger">Skip DDL</button></td>
    </tr>`).join("")}
    </tbody></table></div>`;
}

function renderRejected(t) {
  const rj = t.rejected_ddls || [];
  if (!rj.length) return "";
  return `<div class="sub"><h3>DDLs the target refused</h3><pre class="mono">${esc(JSON.stringify(rj, null, 2))}</pre>
    <p class="muted">Decide with <code>dmnode task skip ${esc(t.name)}</code> or <code>dmnode task replace</code>.</p></div>`;
}

function renderVerify(t) {
  const v = state.verify[t.name];
  if (!v) return "";
  const r = v.report;
  let body = v.running ? `<p class="muted">verifying since ${esc(new Date(v.started).toLocaleTimeString())}…</p>` : "";
  if (v.error) body += `<p class="error">${esc(v.error)}</p>`;
  if (r) {
    body += `<p class="verify-result ${r.equal ? "ok" : (v.running ? "muted" : "error")}">${r.equal ? "all tables equal" : (v.running ? "in progress" : "differences found")}</p>
    <table><thead><tr><th>target table</th><th>status</th><th>rows compared</th><th>missing</th><th>extra</th><th>different</th><th>sample keys</th></tr></thead><tbody>
    ${(r.tables || []).map(tb => `<tr><td class="mono">${esc(tb.target)}</td><td>${esc(tb.status)}${tb.reason ? ` <span class="muted">${esc(tb.reason)}</span>` : ""}</td>
      <td>${tb.rows_compared}</td><td>${tb.missing}</td><td>${tb.extra}</td><td>${tb.different}</td>
      <td class="mono">${[["missing", tb.missing_keys], ["extra", tb.extra_keys], ["different", tb.different_keys]]
        .filter(([, ks]) => ks && ks.length).map(([k, ks]) => `${k}: ${esc(ks.slice(0, 10).map(x => "(" + x.join(", ") + ")").join(" "))}${ks.length > 10 ? " …" : ""}`).join("<br>")}</td></tr>`).join("")}
    </tbody></table>`;
  }
  return `<div class="sub verify"><h3>Verification</h3>${body}</div>`;
}

async function act(btn) {
  const task = btn.dataset.task, action = btn.dataset.action, lock = btn.dataset.lock;
  const what = {
    pause: [`Pause task ${task}? Its appliers stop; the binlog is still relayed.`, "task.pause", { name: task }],
    resume: [`Resume task ${task} from its checkpoints?`, "task.resume", { name: task }],
    stop: [`Stop task ${task}? Its actors stop; its checkpoints are kept.`, "task.stop", { name: task }],
    unlock: [`Unlock ${lock}: run its DDL on the target now and let the held shards go on?`, "task.ddl-unlock", { name: task, shard: { lock, action: "exec" } }],
    "skip-lock": [`Skip the DDL of ${lock}: the target does not get it, the held shards go on?`, "task.ddl-unlock", { name: task, shard: { lock, action: "skip" } }],
    verify: [`Verify task ${task}: compare every row of its sources with the target (the appliers are held for moments)?`, null, null],
  }[action];
  if (!what) return;
  if (!(await confirmAction(what[0]))) return;
  try {
    if (action === "verify") await api("POST", API + "tasks/" + encodeURIComponent(task) + "/verify");
    else await api("POST", API + what[1], what[2]);
    showError("");
  } catch (e) {
    showError(String(e.message || e));
  }
  refresh();
}

async function precheck() {
  const out = document.getElementById("check-out");
  out.innerHTML = '<p class="muted">checking…</p>';
  let resp, err = "";
  try {
    resp = await api("POST", API + "task.check", { files: [{ name: "task file (console)", data: document.getElementById("check-yaml").value }] });
  } catch (e) {
    resp = e.data && e.data.response;
    err = String(e.message || e);
  }
  const findings = (resp && resp.findings) || [];
  out.innerHTML = (err ? `<p class="error">${esc(err)}</p>` : '<p class="ok">the task passes the precheck</p>') +
    (findings.length ? `<table class="findings"><thead><tr><th>severity</th><th>item</th><th>where</th><th>finding</th><th>fix</th></tr></thead><tbody>
    ${findings.map(f => `<tr><td class="${f.severity === "error" ? "error" : "warn"}">${esc(f.severity)}</td><td class="mono">${esc(f.item)}</td>
      <td class="mono">${esc(f.source || (f.target ? "target" : ""))} ${esc(f.table || "")}</td><td>${esc(f.message)}</td><td class="fix">${esc(f.fix)}</td></tr>`).join("")}
    </tbody></table>` : "") +
    ((resp && resp.report) || []).map(l => `<div class="muted">${esc(l)}</div>`).join("");
}

document.addEventListener("click", e => {
  const btn = e.target.closest("button[data-action]");
  if (btn) act(btn);
});
document.getElementById("check-run").addEventListener("click", precheck);
refresh();
setInterval(refresh, REFRESH_MS);
