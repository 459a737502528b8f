// Nodes page: claim token generate/reveal/copy, drain/resume buttons.
(function () {
  "use strict";
  const api = window.wowlabApi;
  const newBtn = document.getElementById("claim-token-new");
  const reveal = document.getElementById("claim-token-reveal");
  const copy = document.getElementById("claim-token-copy");
  const text = document.getElementById("claim-token-text");
  const cmd = document.getElementById("node-command");
  const err = document.getElementById("claim-token-error");
  let token = null;
  let shown = false;

  function render() {
    if (!token) return;
    text.textContent = shown ? token : token.slice(0, 6) + "•".repeat(12);
    reveal.textContent = shown ? "Hide" : "Reveal";
    reveal.setAttribute("aria-pressed", String(shown));
  }

  if (newBtn) {
    newBtn.addEventListener("click", async () => {
      err.textContent = "";
      try {
        const r = await api("POST", "/api/claim-tokens");
        token = r.token;
        shown = false;
        reveal.hidden = false;
        copy.hidden = false;
        newBtn.textContent = "Regenerate claim token";
        cmd.dataset.token = token;
        render();
      } catch (e) {
        err.textContent = e.message || "Could not create a claim token.";
      }
    });
    reveal.addEventListener("click", () => {
      shown = !shown;
      render();
    });
    copy.addEventListener("click", async () => {
      const line = "wowlab node --sentinel " + cmd.dataset.sentinel + " --claim-token " + token;
      try {
        await navigator.clipboard.writeText(line);
        copy.textContent = "Copied";
      } catch (e) {
        shown = true;
        render();
        err.textContent = "Copy is not available here; select the command above.";
      }
    });
  }

  document.querySelectorAll("button[data-drain]").forEach((b) => {
    b.addEventListener("click", async () => {
      const form = b.closest("form");
      try {
        await api("PATCH", form.dataset.api, { draining: b.dataset.drain === "true" });
        location.reload();
      } catch (e) {
        form.querySelector(".form-error").textContent = e.message || "Request failed.";
      }
    });
  });
})();

// Node detail: unlink.
(function () {
  "use strict";
  const b = document.getElementById("unlink");
  if (!b) return;
  b.addEventListener("click", async () => {
    if (!confirm("Unlink this node from your account?")) return;
    b.disabled = true;
    try {
      await window.wowlabApi("POST", b.dataset.url);
      location.href = "/nodes";
    } catch (e) {
      document.getElementById("unlink-error").textContent = e.message || "Could not unlink.";
      b.disabled = false;
    }
  });
})();

// Nodes page and node detail: refresh status, last heartbeat, cores in use, sims/s and capacity
// from GET /api/nodes every few seconds (the server-rendered figures are the last heartbeat's).
(function () {
  "use strict";
  if (!document.querySelector("[data-node]")) return;
  const EVERY_MS = 5000;

  function fmtTime(ms) {
    if (ms == null) return "never";
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  // Same as the server's numbers::rate: one decimal below 10, else whole, comma groups.
  function fmtRate(r) {
    if (!(r > 0) || !isFinite(r)) return "0";
    return window.wowlabFmt(r, r < 10 ? 1 : 0);
  }
  function set(el, k, text) {
    const c = el.querySelector('[data-k="' + k + '"]');
    if (c && c.textContent !== text) c.textContent = text;
  }
  // Same as the server: the effective capacity, and on the node page why it is below the
  // owner's setting when the node caps itself (--max-parallel).
  function setCapacity(el, n) {
    if (n.capacity == null) return;
    const limited = n.localMaxParallel != null && n.localMaxParallel < n.maxParallel;
    if (el.tagName === "TR") {
      set(el, "capacity", String(n.capacity));
      const c = el.querySelector('[data-k="capacity"]');
      if (!c) return;
      if (limited) c.title = "limited by the node's own --max-parallel " + n.localMaxParallel;
      else c.removeAttribute("title");
      return;
    }
    let text = n.capacity + " parallel chunks";
    if (limited) {
      text += " (the node's own limit " + n.localMaxParallel + ", your setting " + n.maxParallel + ")";
    }
    set(el, "capacity", text);
  }
  function setStatus(el, n) {
    const c = el.querySelector('[data-k="status"] .pill');
    if (!c) return;
    c.className = "pill pill-" + n.status;
    c.textContent = n.status;
  }

  async function refresh() {
    let nodes;
    try {
      nodes = await window.wowlabApi("GET", "/api/nodes");
    } catch (e) {
      return; // keep the figures shown; the next round retries
    }
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const el of document.querySelectorAll("[data-node]")) {
      const n = byId.get(el.dataset.node);
      if (!n) continue;
      setStatus(el, n);
      set(el, "last-seen", fmtTime(n.lastSeenAt));
      set(el, "cores-in-use", n.coresInUse + " / " + n.cores);
      set(el, "sims", fmtRate(n.simsPerSec));
      setCapacity(el, n);
    }
  }
  setInterval(() => {
    if (!document.hidden) refresh();
  }, EVERY_MS);

  // Nodes page: the lists (mine, the grid's own, the summary) re-render from the server when
  // `nodes:all` says something changed (status flips, totals), at most every 2 s.
  const lists = () => document.getElementById("node-lists");
  if (!lists()) return;
  let last = 0;
  let pending = null;
  async function swap() {
    pending = null;
    last = Date.now();
    try {
      const res = await fetch(location.href, { credentials: "same-origin" });
      if (!res.ok) return;
      const fresh = new DOMParser().parseFromString(await res.text(), "text/html").getElementById("node-lists");
      if (fresh && lists()) lists().replaceWith(fresh);
    } catch (e) {
      // The next publication retries.
    }
  }
  document.addEventListener("wowlab:grid", () => {
    if (pending) return;
    pending = setTimeout(swap, Math.max(0, 2000 - (Date.now() - last)));
  });
})();
