// Fossil delta compression with the real npm client: a `delta: 'fossil'` subscription in a
// namespace with `allowed_delta_types: ["fossil"]` gets deltas after the first publication
// (and in recovery) when the namespace has `delta_publish` or the API publish asks with
// `delta: true`, and decodes exactly the published bytes over JSON and protobuf.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, api, channel, closeClient, collect, connToken, label, newClient, once, waitUntil,
} from './lib.mjs';

/** A payload that changes little from one publication to the next. */
function payload(i) {
  return {
    seq: i,
    board: Array.from({ length: 64 }, (_, k) => (k === i % 64 ? 1000 + i : k)),
    note: 'the quick brown fox jumps over the lazy dog — ünïcödé',
  };
}

/** The bytes the client got, as a string (protobuf delivers bytes, JSON a decoded value). */
function received(codec, data) {
  return codec === 'protobuf' ? new TextDecoder().decode(data) : JSON.stringify(data);
}

for (const m of MATRIX) {
  describe(`delta ${label(m)}`, () => {
    test('live publications arrive as deltas and decode to the published bytes', { timeout: 20000 }, async () => {
      const ch = channel('delta', 'live');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { delta: 'fossil' });
      const pubs = collect(sub, 'publication');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      const n = 20;
      for (let i = 1; i <= n; i++) await api('publish', { channel: ch, data: payload(i) });
      await waitUntil(() => pubs.length >= n, { what: `${n} publications` });
      assert.deepEqual(pubs.map((p) => received(m.codec, p.data)),
        Array.from({ length: n }, (_, k) => JSON.stringify(payload(k + 1))));
      assert.deepEqual(pubs.map((p) => p.offset), Array.from({ length: n }, (_, k) => k + 1));
      const st = sub.deltaStats();
      assert.equal(st.numPublications, n);
      assert.equal(st.numFullPayloads, 1, JSON.stringify(st));
      assert.equal(st.numDeltaPayloads, n - 1, JSON.stringify(st));
      assert.ok(st.bytesReceived * 3 < st.bytesDecoded, JSON.stringify(st));
      await closeClient(c);
    });

    test('recovery after a reconnect delivers a delta chain', { timeout: 20000 }, async () => {
      const ch = channel('delta', 'rec');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { delta: 'fossil' });
      const pubs = collect(sub, 'publication');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      for (let i = 1; i <= 3; i++) await api('publish', { channel: ch, data: payload(i) });
      await waitUntil(() => pubs.length >= 3, { what: '3 live publications' });
      await closeClient(c);
      for (let i = 4; i <= 10; i++) await api('publish', { channel: ch, data: payload(i) });
      const subscribed = once(sub, 'subscribed');
      c.connect();
      const ctx = await subscribed;
      assert.equal(ctx.recovered, true);
      await waitUntil(() => pubs.length >= 10, { what: 'recovered publications' });
      await api('publish', { channel: ch, data: payload(11) });
      await waitUntil(() => pubs.length >= 11, { what: 'live publication after recovery' });
      // Reconnected with nothing missed: recovered, and the client's base is still payload 11.
      await closeClient(c);
      const again = once(sub, 'subscribed');
      c.connect();
      assert.equal((await again).recovered, true);
      await api('publish', { channel: ch, data: payload(12) });
      await waitUntil(() => pubs.length >= 12, { what: 'live publication after an empty recovery' });
      assert.deepEqual(pubs.map((p) => received(m.codec, p.data)),
        Array.from({ length: 12 }, (_, k) => JSON.stringify(payload(k + 1))));
      const st = sub.deltaStats();
      // Full: the first live one and the first recovered one. As in Centrifugo, a successful
      // recovery lets the next live publication go as a delta against what the client holds.
      assert.equal(st.numFullPayloads, 2, JSON.stringify(st));
      assert.equal(st.numDeltaPayloads, 10, JSON.stringify(st));
      await closeClient(c);
    });

    test('without delta_publish, only publications published with delta go as deltas', { timeout: 15000 }, async () => {
      const ch = channel('deltafull', 'asked');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { delta: 'fossil' });
      const pubs = collect(sub, 'publication');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      for (let i = 1; i <= 3; i++) await api('publish', { channel: ch, data: payload(i) });
      for (let i = 4; i <= 6; i++) await api('publish', { channel: ch, data: payload(i), delta: true });
      await waitUntil(() => pubs.length >= 6, { what: '6 publications' });
      assert.deepEqual(pubs.map((p) => received(m.codec, p.data)),
        [1, 2, 3, 4, 5, 6].map((i) => JSON.stringify(payload(i))));
      const st = sub.deltaStats();
      assert.equal(st.numFullPayloads, 3, JSON.stringify(st));
      assert.equal(st.numDeltaPayloads, 3, JSON.stringify(st));
      await closeClient(c);
    });
  });
}
