// Job page live parts: progress bar, rate, running-mean chart with its 95 % band, contributing
// nodes, cancel, and the final report swapped in from the server-rendered page on finish.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root || root.dataset.live !== "true") return;
  const jobId = root.dataset.jobId;
  const chunkSize = Number(root.dataset.chunkSize) || 0;
  const iterationsTotal = Number(root.dataset.iterations) || 0;
  // Target-error jobs: the half-width (percent of the mean) to reach.
  const targetError = Number(root.dataset.targetError) || 0;
  const $ = (id) => document.getElementById(id);
  const fmt = (x, d) => window.wowlabFmt(x, d);
  const setText = (id, t) => { const e = $(id); if (e) e.textContent = t; };
  const NS = "http://www.w3.org/2000/svg";

  const state = {
    status: root.dataset.status,
    points: [], // {x: iterations, mean, ci}
    halfWidths: [], // {x: iterations, pct}: target-error jobs
    nodes: new Set(),
    lastRate: null, // {t, iterations}
    messages: 0,
    chunksDone: 0,
  };
  window.__studio = state;

  // Accept both the api crate's JobMessage (snake_case) and the projector's camelCase update.
  function normalize(m) {
    const est = m.estimate || {};
    const progress = m.progress || m;
    const pick = (...vals) => vals.find((v) => v !== undefined && v !== null);
    const chunksDone = pick(progress.chunks_done, progress.chunksDone, m.chunksDone);
    const chunksTotal = pick(progress.chunks_total, progress.chunkCount, m.chunkCount, Number(root.dataset.chunks));
    let iterations = pick(progress.iterations_done, est.iterations, est.iterations_done);
    if (iterations === undefined && chunksDone !== undefined) iterations = Math.min(chunksDone * chunkSize, iterationsTotal);
    return {
      type: m.type,
      status: m.status || (m.type === "progress" ? "running" : m.type),
      chunksDone,
      chunksTotal,
      iterations,
      mean: pick(progress.mean_dps, est.mean_dps, est.meanDps, est.mean),
      ci: pick(progress.ci95_dps, est.ci95_dps, est.ci95_half_width, est.ci95),
      rate: pick(progress.sims_per_sec, est.sims_per_sec),
      nodes: pick(progress.nodes, est.nodes, m.nodes) || [],
      halfWidth: pick(progress.half_width_pct, progress.halfWidthPct),
      reason: m.reason,
    };
  }

  function onMessage(data) {
    if (!$("progress")) return; // a finished job's page has no live section
    state.messages++;
    const m = normalize(data || {});
    if (m.chunksDone !== undefined && m.chunksDone >= state.chunksDone) {
      state.chunksDone = m.chunksDone;
      const pct = m.chunksTotal ? (100 * m.chunksDone) / m.chunksTotal : 0;
      $("progress").value = pct;
      $("progress").textContent = Math.round(pct) + "%";
      $("progress-text").textContent = fmt(m.chunksDone, 0) + " / " + fmt(m.chunksTotal, 0) + " chunks";
    }
    // The projector reports 0 until its window fills; fall back to our own measurement.
    let rate = m.rate > 0 ? m.rate : undefined;
    const now = performance.now();
    if (rate === undefined && m.iterations !== undefined) {
      if (state.lastRate && now > state.lastRate.t + 50 && m.iterations > state.lastRate.iterations) {
        rate = ((m.iterations - state.lastRate.iterations) * 1000) / (now - state.lastRate.t);
      }
    }
    if (m.iterations !== undefined) state.lastRate = { t: now, iterations: m.iterations };
    if (rate !== undefined && m.type === "progress") setText("rate", fmt(rate, 0) + " sims/s");
    // An ending with nothing merged (failed or cancelled early) carries no estimate.
    if (m.mean !== undefined && m.iterations > 0) {
      setText("mean", fmt(m.mean) + " DPS");
      setText("ci", fmt(m.ci));
      if (m.iterations !== undefined && !state.points.some((p) => p.x === m.iterations)) {
        state.points.push({ x: m.iterations, mean: m.mean, ci: m.ci || 0 });
        state.points.sort((a, b) => a.x - b.x);
        drawChart();
      }
    }
    if (targetError && m.halfWidth !== undefined && m.iterations > 0) {
      setText("halfwidth", "± " + fmt(m.halfWidth, 3) + " % (target " + targetError + " %)");
      if (!state.halfWidths.some((p) => p.x === m.iterations)) {
        state.halfWidths.push({ x: m.iterations, pct: m.halfWidth });
        state.halfWidths.sort((a, b) => a.x - b.x);
        drawHalfWidth();
      }
    }
    for (const n of m.nodes) state.nodes.add(n);
    if (state.nodes.size) {
      const ul = $("nodes");
      ul.replaceChildren(
        ...Array.from(state.nodes).map((n) => {
          const li = document.createElement("li");
          const code = document.createElement("code");
          code.textContent = String(n).slice(0, 8); // short id; the full one on hover/link
          code.title = String(n);
          const a = document.createElement("a");
          a.href = "/nodes/" + encodeURIComponent(String(n));
          a.append(code);
          li.append(a);
          return li;
        })
      );
    }
    if (m.type !== "progress") {
      if (data && data.result) state.finalResult = data.result; // the report as published live
      finish(m);
    }
  }

  function drawChart() {
    const pts = state.points;
    const box = $("chart");
    if (!pts.length) return;
    const W = 900, H = 240, P = 40;
    // Scale on the later 80 % of points so the wide early band does not flatten the chart.
    const tail = pts.slice(Math.floor(pts.length * 0.2));
    let lo = Math.min(...tail.map((p) => p.mean - p.ci));
    let hi = Math.max(...tail.map((p) => p.mean + p.ci));
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.1;
    lo -= pad; hi += pad;
    const xmax = Math.max(iterationsTotal, pts[pts.length - 1].x) || 1;
    const X = (x) => P + (x / xmax) * (W - P - 8);
    const Y = (y) => Math.min(H - 20, Math.max(6, 6 + ((hi - y) / (hi - lo)) * (H - 26)));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "chart-svg");
    svg.setAttribute("aria-hidden", "true");
    const band = document.createElementNS(NS, "polygon");
    band.setAttribute("class", "band");
    band.setAttribute("points", pts.map((p) => X(p.x) + "," + Y(p.mean + p.ci)).concat(
      pts.slice().reverse().map((p) => X(p.x) + "," + Y(p.mean - p.ci))).join(" "));
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("class", "line");
    line.setAttribute("points", pts.map((p) => X(p.x) + "," + Y(p.mean)).join(" "));
    svg.append(band, line);
    for (const [y, anchor] of [[hi - pad, "hi"], [lo + pad, "lo"]]) {
      const t = document.createElementNS(NS, "text");
      t.setAttribute("x", 2); t.setAttribute("y", Y(y) + 4); t.setAttribute("class", "axis");
      t.textContent = fmt(y, 0);
      t.dataset.axis = anchor;
      svg.append(t);
    }
    const xl = document.createElementNS(NS, "text");
    xl.setAttribute("x", W - 8); xl.setAttribute("y", H - 4); xl.setAttribute("text-anchor", "end");
    xl.setAttribute("class", "axis");
    xl.textContent = fmt(pts[pts.length - 1].x, 0) + " iterations";
    svg.append(xl);
    box.replaceChildren(svg);
    box.setAttribute("aria-label", "Running mean DPS " + fmt(pts[pts.length - 1].mean) + " ± " + fmt(pts[pts.length - 1].ci) + " after " + fmt(pts[pts.length - 1].x, 0) + " iterations");
  }

  // The half-width over iterations on a 0-based scale, with the target as a dashed line.
  function drawHalfWidth() {
    const pts = state.halfWidths;
    const box = $("halfwidth-chart");
    if (!box || !pts.length) return;
    const W = 900, H = 160, P = 40;
    const hi = Math.max(targetError * 1.5, ...pts.map((p) => p.pct)) * 1.05;
    const xmax = pts[pts.length - 1].x || 1;
    const X = (x) => P + (x / xmax) * (W - P - 8);
    const Y = (y) => 6 + (1 - y / hi) * (H - 26);
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "chart-svg");
    svg.setAttribute("aria-hidden", "true");
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("class", "line");
    line.setAttribute("points", pts.map((p) => X(p.x) + "," + Y(p.pct)).join(" "));
    const target = document.createElementNS(NS, "line");
    target.setAttribute("class", "target");
    target.setAttribute("x1", P); target.setAttribute("x2", W - 8);
    target.setAttribute("y1", Y(targetError)); target.setAttribute("y2", Y(targetError));
    target.setAttribute("stroke-dasharray", "6 4");
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", 2); label.setAttribute("y", Y(targetError) + 4); label.setAttribute("class", "axis");
    label.textContent = targetError + " %";
    svg.append(target, line, label);
    box.replaceChildren(svg);
    const last = pts[pts.length - 1];
    box.setAttribute("aria-label", "Half-width " + fmt(last.pct, 3) + " % of the mean after " + fmt(last.x, 0) + " iterations; target " + targetError + " %");
  }

  async function finish(m) {
    state.status = m.status;
    if (m.reason) $("failure").textContent = m.reason;
    if (!state.nodes.size) $("nodes").innerHTML = '<li class="muted">No node list was published for this job.</li>';
    // The live figures (rate, running mean) are superseded by the answer at the top.
    const lf = $("live-facts");
    if (lf) lf.remove();
    // The report and actions are rendered by the server; take them from the fresh page.
    try {
      const res = await fetch("/jobs/" + jobId, { credentials: "same-origin" });
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const sel of ["#answer", "#report", "#status", ".actions", "#failure", "#details"]) {
        const fresh = doc.querySelector(sel);
        const cur = document.querySelector(sel);
        if (fresh && cur) cur.replaceWith(fresh);
      }
      bindCancel();
      bindVisibility();
      bindDelete();
      root.dataset.status = m.status;
    } catch (e) {
      console.warn("report reload failed", e);
    }
    if (client) client.disconnect();
  }

  function bindCancel() {
    const b = $("cancel");
    if (!b) return;
    b.addEventListener("click", async () => {
      if (!confirm("Cancel this job?")) return;
      b.disabled = true;
      try {
        await window.wowlabApi("POST", "/api/jobs/" + jobId + "/cancel");
        finish({ status: "cancelled", type: "cancelled" });
      } catch (e) {
        $("action-error").textContent = e.message || "Could not cancel.";
        b.disabled = false;
      }
    });
  }
  bindCancel();

  // Owner only: flip the job public/private, then reload to show (or hide) the share link.
  function bindVisibility() {
    const b = $("visibility");
    if (!b) return;
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await window.wowlabApi("POST", "/api/jobs/" + jobId + "/visibility", { public: b.dataset.public !== "true" });
        location.reload();
      } catch (e) {
        $("action-error").textContent = e.message || "Could not change visibility.";
        b.disabled = false;
      }
    });
  }
  bindVisibility();

  // Owner only, finished jobs: delete it and go back to the dashboard.
  function bindDelete() {
    const b = $("delete");
    if (!b) return;
    b.addEventListener("click", async () => {
      if (!confirm("Delete this job and its results? This cannot be undone.")) return;
      b.disabled = true;
      try {
        await window.wowlabApi("DELETE", "/api/jobs/" + jobId);
        location.href = "/";
      } catch (e) {
        $("action-error").textContent = e.message || "Could not delete the job.";
        b.disabled = false;
      }
    });
  }
  bindDelete();

  // A finished job's page is complete as rendered: nothing to follow live.
  if (["completed", "failed", "cancelled"].includes(state.status)) return;

  // One fetch yields both tokens; each getter reuses a pair fetched moments ago.
  let pair = null;
  async function tokens() {
    if (pair && Date.now() - pair.at < 5000) return pair.v;
    const v = await window.wowlabApi("GET", "/api/realtime/job-token?jobId=" + encodeURIComponent(jobId));
    pair = { at: Date.now(), v };
    return v;
  }

  // Beacon shares the listener under `wowlab up`; WOWLAB_BEACON_URL overrides it for split setups.
  const url = window.WOWLAB_BEACON_URL ||
    (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/connection/websocket";
  const client = new window.WowlabRealtime.RealtimeClient({
    url,
    getToken: async () => (await tokens()).connection.token,
    onState: (s, info) => {
      state.connection = s;
      if ($("live") && !["completed", "failed", "cancelled"].includes(state.status)) {
        setText("live", s === "connected" ? "live" : s === "connecting" ? "reconnecting…" : s);
      }
      if (s === "connecting" && info.reason) state.reconnects = (state.reconnects || 0) + 1;
    },
  });
  state.client = client;
  state.sub = client.newSubscription("jobs:" + jobId, {
    getToken: async () => (await tokens()).subscription.token,
    onPublication: onMessage,
    onState: (s, info) => {
      if (s === "subscribed") state.recovered = info.recovered;
    },
  });
  client.connect();
})();
