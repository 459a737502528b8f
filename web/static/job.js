// Job page live parts: progress bar, rate, the running-mean chart (server-drawn from stored
// progress, redrawn as chunks merge), contributing nodes, cancel, copy of the public link, and
// the final report swapped in from the server-rendered page on finish.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root || root.dataset.live !== "true") return;
  const jobId = root.dataset.jobId;
  const chunkSize = Number(root.dataset.chunkSize) || 0;
  const iterationsTotal = Number(root.dataset.iterations) || 0;
  // Target-error jobs: the half-width (percent of the mean) to reach.
  const targetError = Number(root.dataset.targetError) || 0;
  const NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const fmt = (x, d) => window.wowlabFmt(x, d);
  const setText = (id, t) => { const e = $(id); if (e) e.textContent = t; };

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
    // Nodes the server listed by name stay; new ones appear as short ids until the finish.
    const ul = $("nodes");
    if (ul && state.nodes.size) {
      for (const n of state.nodes) {
        if (ul.querySelector('[data-node="' + CSS.escape(String(n)) + '"]')) continue;
        const empty = ul.querySelector("li.muted");
        if (empty) empty.remove();
        const li = document.createElement("li");
        li.dataset.node = String(n);
        const a = document.createElement("a");
        a.href = "/nodes/" + encodeURIComponent(String(n));
        a.textContent = "node " + String(n).slice(0, 8);
        a.title = String(n);
        li.append(a);
        ul.append(li);
      }
    }
    if (m.type !== "progress") {
      if (data && data.result) state.finalResult = data.result; // the report as published live
      finish(m);
    }
  }

  // The chart is drawn by the server from the job's stored convergence points (the same
  // drawing as a finished job's); redrawn at most once a second while chunks merge.
  let drawing = null, drawAgain = false;
  async function drawChart() {
    const box = $("chart");
    if (!box || !box.dataset.src) return;
    if (drawing) { drawAgain = true; return; }
    drawing = (async () => {
      try {
        const res = await fetch(box.dataset.src, { credentials: "same-origin" });
        if (res.ok) box.innerHTML = await res.text();
      } catch (e) {
        console.warn("chart redraw failed", e);
      }
      await new Promise((r) => setTimeout(r, 1000));
    })();
    await drawing;
    drawing = null;
    if (drawAgain) { drawAgain = false; drawChart(); }
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
    // The live figures (rate, running mean) are superseded by the answer at the top.
    const lf = $("live-facts");
    if (lf) lf.remove();
    // The report and actions are rendered by the server; take them from the fresh page.
    try {
      const res = await fetch("/jobs/" + jobId, { credentials: "same-origin" });
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      // The live chart gives way to the stored one of the finished job, the live node list
      // to the one in the report.
      const live = $("live-chart");
      const stored = doc.getElementById("convergence-figure");
      if (live && stored) live.replaceWith(stored);
      else if (live) live.remove();
      const liveNodes = $("live-nodes");
      if (liveNodes) liveNodes.remove();
      for (const sel of ["#answer", "#report", "#status", ".actions", "#failure", "#details"]) {
        const fresh = doc.querySelector(sel);
        const cur = document.querySelector(sel);
        if (fresh && cur) cur.replaceWith(fresh);
      }
      bindCancel();
      bindVisibility();
      bindDelete();
      bindCopy();
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

  // Public link: copy it to the clipboard (with a fallback selection where that is refused).
  function bindCopy() {
    const b = $("copy-share");
    if (!b) return;
    b.addEventListener("click", async () => {
      const text = b.dataset.copy;
      try {
        await navigator.clipboard.writeText(text);
        setText("copy-status", "Copied.");
      } catch (e) {
        const sel = window.getSelection();
        const range = document.createRange();
        range.selectNodeContents($("share"));
        sel.removeAllRanges();
        sel.addRange(range);
        setText("copy-status", "Press Ctrl+C to copy.");
      }
    });
  }
  bindCopy();

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
