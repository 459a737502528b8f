// Small browser client for the Centrifugo v6 JSON protocol (our own code, no build step).
// One WebSocket, commands with ids, newline-delimited frames, server pings answered with `{}`,
// connection token refresh before expiry, per-subscription token refresh, reconnect with
// full-jitter exponential backoff, and stream recovery (offset + epoch) so publications missed
// while disconnected arrive after the reconnect.
(function (global) {
  "use strict";

  // Close codes / disconnect codes in 3500..3999 and 4500..4999 mean "do not reconnect".
  function terminalCode(code) {
    return (code >= 3500 && code < 4000) || (code >= 4500 && code < 5000);
  }

  // Error codes that mean the token expired and must be refreshed (109 token expired).
  const TOKEN_EXPIRED = 109;

  class Subscription {
    constructor(client, channel, opts) {
      this.client = client;
      this.channel = channel;
      this.getToken = opts.getToken; // async () => subscription token
      this.onPublication = opts.onPublication || function () {};
      this.onState = opts.onState || function () {};
      this.token = opts.token || null;
      // Stream position: recover from the start on the first subscribe so the history fills in.
      this.offset = opts.since ? opts.since.offset : 0;
      this.epoch = opts.since ? opts.since.epoch : "";
      this.recover = true;
      this.state = "unsubscribed";
      this.refreshTimer = null;
    }

    async _subscribe() {
      if (!this.token && this.getToken) this.token = await this.getToken();
      // Ask for a positioned, recoverable stream: namespaces with allow_recovery (rather than
      // force_recovery) honour recovery only when the client requests it.
      const req = { channel: this.channel, flag: 1, positioned: true, recoverable: true };
      if (this.token) req.token = this.token;
      if (this.recover) {
        req.recover = true;
        req.offset = this.offset;
        req.epoch = this.epoch;
      }
      this._setState("subscribing");
      let res;
      try {
        res = await this.client._call({ subscribe: req });
      } catch (e) {
        if (e && e.code === TOKEN_EXPIRED && this.getToken) {
          this.token = await this.getToken();
          return this._subscribe();
        }
        throw e;
      }
      const r = res.subscribe || {};
      if (r.epoch !== undefined) {
        if (this.epoch && r.epoch !== this.epoch) this.offset = 0;
        this.epoch = r.epoch;
      }
      const pubs = r.publications || [];
      this.lastRecovered = !!r.recovered;
      for (const p of pubs) this._deliver(p);
      if (!pubs.length && r.offset !== undefined && r.offset > this.offset && !r.recovered) {
        // Not recovered: jump to the current top (the caller reloads the state it needs).
        this.offset = r.offset;
      }
      this._setState("subscribed", { recovered: !!r.recovered, count: pubs.length });
      if (r.expires && r.ttl) this._scheduleRefresh(r.ttl);
    }

    _deliver(pub) {
      if (pub.offset) {
        if (pub.offset <= this.offset) return; // already seen
        this.offset = pub.offset;
      }
      try {
        this.onPublication(pub.data, pub);
      } catch (e) {
        console.error("publication handler failed", e);
      }
    }

    _scheduleRefresh(ttl) {
      clearTimeout(this.refreshTimer);
      // Refresh well before expiry: at ~80 % of the lifetime, at least 1 s ahead.
      const ms = Math.max(1000, ttl * 1000 * 0.8 - 1000);
      this.refreshTimer = setTimeout(() => this._refresh(), ms);
    }

    async _refresh() {
      if (!this.getToken || this.state !== "subscribed") return;
      try {
        this.token = await this.getToken();
        const res = await this.client._call({ sub_refresh: { channel: this.channel, token: this.token } });
        const r = res.sub_refresh || {};
        if (r.expires && r.ttl) this._scheduleRefresh(r.ttl);
      } catch (e) {
        console.warn("subscription refresh failed; retrying", e);
        this.refreshTimer = setTimeout(() => this._refresh(), 5000);
      }
    }

    _setState(s, info) {
      this.state = s;
      this.onState(s, info || {});
    }

    unsubscribe() {
      clearTimeout(this.refreshTimer);
      this.client.subs.delete(this.channel);
      this._setState("unsubscribed");
      if (this.client.state === "connected") {
        this.client._call({ unsubscribe: { channel: this.channel } }).catch(() => {});
      }
    }
  }

  class RealtimeClient {
    // opts: { url, getToken: async () => connection token, onState(state, info),
    //         minDelay, maxDelay }
    constructor(opts) {
      this.url = opts.url;
      this.getToken = opts.getToken;
      this.onState = opts.onState || function () {};
      this.minDelay = opts.minDelay || 200;
      this.maxDelay = opts.maxDelay || 10000;
      this.ws = null;
      this.state = "disconnected";
      this.nextId = 1;
      this.pending = new Map();
      this.subs = new Map();
      this.token = opts.token || null;
      this.attempt = 0;
      this.refreshTimer = null;
      this.reconnectTimer = null;
      this.closedByUser = false;
      this.reconnects = 0;
    }

    newSubscription(channel, opts) {
      const s = new Subscription(this, channel, opts || {});
      this.subs.set(channel, s);
      if (this.state === "connected") s._subscribe().catch((e) => this._subError(s, e));
      return s;
    }

    connect() {
      this.closedByUser = false;
      this._open();
    }

    disconnect() {
      this.closedByUser = true;
      clearTimeout(this.refreshTimer);
      clearTimeout(this.reconnectTimer);
      if (this.ws) this.ws.close(1000, "client disconnect");
      this._setState("disconnected");
    }

    _setState(s, info) {
      this.state = s;
      this.onState(s, info || {});
    }

    async _open() {
      this._setState("connecting", { attempt: this.attempt });
      let token;
      try {
        token = this.token || (await this.getToken());
      } catch (e) {
        return this._scheduleReconnect("token fetch failed: " + e);
      }
      this.token = token;
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        return this._scheduleReconnect("socket: " + e);
      }
      this.ws = ws;
      ws.onopen = () => this._handshake();
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onclose = (ev) => this._onClose(ev);
      ws.onerror = () => {}; // onclose follows
    }

    async _handshake() {
      try {
        const res = await this._call({ connect: { token: this.token, name: "js" } });
        const r = res.connect || {};
        this.attempt = 0;
        this.pong = !!r.pong;
        this._setState("connected", { client: r.client });
        if (r.expires && r.ttl) this._scheduleRefresh(r.ttl);
        for (const s of this.subs.values()) s._subscribe().catch((e) => this._subError(s, e));
      } catch (e) {
        if (e && e.code === TOKEN_EXPIRED) this.token = null; // fetch a new one next time
        if (this.ws) this.ws.close(3000, "connect failed");
      }
    }

    _subError(s, e) {
      console.warn("subscribe failed", s.channel, e);
      s._setState("error", { error: e });
      // Transient errors: retry the subscription with backoff while connected.
      if (!e || !e.temporary) {
        if (e && e.code === 103) return; // permission denied: stop
      }
      setTimeout(() => {
        if (this.state === "connected" && this.subs.get(s.channel) === s) {
          s._subscribe().catch((err) => this._subError(s, err));
        }
      }, this._backoff(1));
    }

    _scheduleRefresh(ttl) {
      clearTimeout(this.refreshTimer);
      const ms = Math.max(1000, ttl * 1000 * 0.8 - 1000);
      this.refreshTimer = setTimeout(() => this._refresh(), ms);
    }

    async _refresh() {
      try {
        this.token = await this.getToken();
        const res = await this._call({ refresh: { token: this.token } });
        const r = res.refresh || {};
        if (r.expires && r.ttl) this._scheduleRefresh(r.ttl);
      } catch (e) {
        console.warn("connection refresh failed; retrying", e);
        this.refreshTimer = setTimeout(() => this._refresh(), 5000);
      }
    }

    _call(cmd) {
      return new Promise((resolve, reject) => {
        if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
          reject({ code: -1, message: "not connected" });
          return;
        }
        const id = this.nextId++;
        cmd.id = id;
        this.pending.set(id, { resolve, reject });
        this.ws.send(JSON.stringify(cmd));
      });
    }

    _onFrame(text) {
      for (const line of String(text).split("\n")) {
        if (!line.trim()) continue;
        let msg;
        try {
          msg = JSON.parse(line);
        } catch (e) {
          console.warn("bad frame", line);
          continue;
        }
        if (msg.id) {
          const p = this.pending.get(msg.id);
          if (!p) continue;
          this.pending.delete(msg.id);
          if (msg.error) p.reject(msg.error);
          else p.resolve(msg);
        } else if (msg.push) {
          this._onPush(msg.push);
        } else if (Object.keys(msg).length === 0) {
          // Server ping; answer when the server asked for pongs.
          if (this.pong && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send("{}");
        }
      }
    }

    _onPush(push) {
      if (push.pub) {
        const s = this.subs.get(push.channel);
        if (s) s._deliver(push.pub);
      } else if (push.disconnect) {
        const d = push.disconnect;
        if (this.ws) this.ws.close(d.code >= 3000 ? d.code : 3000, d.reason || "");
      } else if (push.unsubscribe) {
        const s = this.subs.get(push.channel);
        if (s) s._subscribe().catch((e) => this._subError(s, e));
      }
    }

    _onClose(ev) {
      clearTimeout(this.refreshTimer);
      for (const p of this.pending.values()) p.reject({ code: -1, message: "connection closed" });
      this.pending.clear();
      for (const s of this.subs.values()) {
        clearTimeout(s.refreshTimer);
        s.recover = true; // resume from the last offset + epoch
        s.token = null; // subscription tokens are re-fetched too
        s._setState("subscribing");
      }
      this.ws = null;
      if (this.closedByUser) return;
      if (terminalCode(ev.code)) {
        this._setState("disconnected", { code: ev.code, reason: ev.reason });
        return;
      }
      this.token = null;
      this._scheduleReconnect("closed " + ev.code);
    }

    _backoff(attempt) {
      // Full jitter: uniform in [0, min(max, min * 2^attempt)].
      const cap = Math.min(this.maxDelay, this.minDelay * Math.pow(2, attempt));
      return Math.floor(Math.random() * cap);
    }

    _scheduleReconnect(why) {
      const delay = this._backoff(this.attempt++);
      this.reconnects++;
      this._setState("connecting", { reason: why, delay });
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => this._open(), delay);
    }
  }

  global.WowlabRealtime = { RealtimeClient };
})(window);
