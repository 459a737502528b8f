// Grid totals, live: subscribes to `nodes:all` over beacon (a read-only subscription token from
// GET /api/realtime/grid-token) and updates the stat cards the server rendered. Every
// publication there (totals, node status flips) is also re-sent as a `wowlab:grid` event so
// the page's own lists can refresh (dashboard.js, nodes.js).
(function () {
  "use strict";
  const box = document.getElementById("grid-totals");
  if (!box || !window.WowlabRealtime) return;
  const live = { connection: "idle", subscribed: false, updates: 0, last: null };
  window.__gridLive = live;

  // Same as the server's numbers::rate: one decimal below 10, else whole, comma groups.
  function fmtRate(r) {
    if (!(r > 0) || !isFinite(r)) return "0";
    return window.wowlabFmt(r, r < 10 ? 1 : 0);
  }
  function set(k, text) {
    const c = box.querySelector('[data-stat="' + k + '"]');
    if (c && c.textContent !== text) c.textContent = text;
  }
  function apply(t) {
    set("nodes-online", t.nodesOnline + " / " + t.nodesTotal);
    set("cores", window.wowlabFmt(t.cores, 0));
    set("cores-in-use", window.wowlabFmt(t.coresInUse, 0));
    set("running", String(t.runningJobs));
    set("sims", fmtRate(t.simsPerSec));
  }

  let pair = null;
  async function tokens() {
    if (pair && Date.now() - pair.at < 5000) return pair.v;
    const v = await window.wowlabApi("GET", "/api/realtime/grid-token");
    pair = { at: Date.now(), v };
    return v;
  }
  const url = window.WOWLAB_BEACON_URL ||
    (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/connection/websocket";
  const client = new window.WowlabRealtime.RealtimeClient({
    url,
    getToken: async () => (await tokens()).connection.token,
    onState: (s) => {
      live.connection = s;
    },
  });
  client.newSubscription("nodes:all", {
    getToken: async () => (await tokens()).subscription.token,
    onPublication: (data) => {
      if (data && data.type === "totals") {
        live.updates += 1;
        live.last = data;
        apply(data);
      }
      document.dispatchEvent(new CustomEvent("wowlab:grid", { detail: data }));
    },
    onState: (s) => {
      live.subscribed = s === "subscribed";
      // Missed publications are not recovered (no history on `nodes:`): ask the lists to
      // refresh once after every (re)subscribe.
      if (live.subscribed) document.dispatchEvent(new CustomEvent("wowlab:grid", { detail: { type: "resubscribed" } }));
    },
  });
  client.connect();
})();
