// Node page: what the node itself says right now, through the tunnel. Polls
// GET /api/nodes/{id}/live every 5 s (the node answers within 2 s or is shown as not reachable)
// and streams GET /api/nodes/{id}/logs?follow=1 into the log tail, reconnecting when it ends.
(function () {
  "use strict";
  const box = document.getElementById("node-live");
  if (!box) return;
  const EVERY_MS = 5000;
  const KEEP_LINES = 500;
  const pre = document.getElementById("node-log");

  function set(k, text) {
    const c = box.querySelector('[data-k="' + k + '"]');
    if (c && c.textContent !== text) c.textContent = text;
  }
  function uptime(s) {
    if (!(s >= 0)) return "\u2014";
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min";
  }

  async function probe() {
    let r;
    try {
      r = await window.wowlabApi("GET", box.dataset.live);
    } catch (e) {
      set("live-state", "Could not ask the node (" + (e.message || e.code || "error") + ").");
      return;
    }
    box.dataset.online = String(!!r.online);
    if (r.online && r.status) {
      const s = r.status;
      set("live-state", "Online \u2014 answered in " + r.latencyMs + " ms.");
      set("live-active", String(s.active_chunks));
      set("live-sims", window.wowlabFmt(s.sims_per_sec, s.sims_per_sec < 10 ? 1 : 0));
      set("live-uptime", uptime(s.uptime_secs));
      set("live-host", s.hostname + " (v" + s.version + ")");
    } else {
      set("live-state", "Not reachable live (" + (r.reason || "no answer") + ").");
      for (const k of ["live-active", "live-sims", "live-uptime", "live-host"]) set(k, "\u2014");
    }
  }

  function append(text) {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent += text;
    const lines = pre.textContent.split("\n");
    if (lines.length > KEEP_LINES + 1) pre.textContent = lines.slice(-KEEP_LINES - 1).join("\n");
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  async function follow() {
    set("log-state", "");
    try {
      const res = await fetch(box.dataset.logs, { credentials: "same-origin" });
      if (!res.ok) {
        let msg = "HTTP " + res.status;
        try {
          const j = await res.json();
          if (j && j.error) msg = j.error.code;
        } catch (e) { /* not JSON */ }
        throw new Error(msg);
      }
      pre.textContent = "";
      set("log-state", "Following the node's log.");
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        append(dec.decode(value, { stream: true }));
      }
      set("log-state", "The log stream ended; reconnecting\u2026");
    } catch (e) {
      set("log-state", "Log tail unavailable (" + (e.message || "error") + "); retrying\u2026");
    }
    setTimeout(follow, EVERY_MS);
  }

  probe();
  setInterval(() => {
    if (!document.hidden) probe();
  }, EVERY_MS);
  follow();
})();
