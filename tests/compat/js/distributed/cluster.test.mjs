// Two beacon processes sharing NATS + Redis, driven by the real npm `centrifuge` client:
// publications, presence and join/leave cross instances; a client moved from A to B recovers
// what it missed; A killed with SIGKILL mid-stream loses and duplicates nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Proxy, SKIP, channel, closeClient, connToken, decodeData, newClient, sleep, startCluster,
  waitUntil,
} from './cluster.mjs';

const CODECS = ['json', 'protobuf'];

describe('two beacons on NATS + Redis', { skip: SKIP }, () => {
  let cluster;
  before(async () => { cluster = await startCluster(); });
  after(async () => { await Promise.all([cluster?.a.stop(), cluster?.b.stop()]); });

  for (const codec of CODECS) {
    test(`${codec}: publish through A's API, receive on B`, { timeout: 20000 }, async () => {
      const { a, b } = cluster;
      const ch = channel('ab');
      const c = newClient(codec, b.url, { token: connToken('reader') });
      const sub = c.newSubscription(ch);
      const got = [];
      sub.on('publication', (ctx) => got.push(ctx));
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      for (let n = 1; n <= 5; n += 1) await a.api('publish', { channel: ch, data: { n } });
      await waitUntil(() => got.length === 5, { what: '5 publications on B' });
      assert.deepEqual(got.map((p) => decodeData(codec, p.data).n), [1, 2, 3, 4, 5]);
      assert.deepEqual(got.map((p) => p.offset), [1, 2, 3, 4, 5]);
      await closeClient(c);
    });

    test(`${codec}: fossil deltas published on A decode on B`, { timeout: 20000 }, async () => {
      const { a, b } = cluster;
      const ch = channel('delta');
      const c = newClient(codec, b.url, { token: connToken('reader') });
      const sub = c.newSubscription(ch, { delta: 'fossil' });
      const got = [];
      sub.on('publication', (ctx) => got.push(ctx));
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      const doc = (n) => ({ n, rows: Array.from({ length: 40 }, (_, k) => `row ${k}: ${k === n ? 'changed' : 'same'}`) });
      for (let n = 1; n <= 10; n += 1) await a.api('publish', { channel: ch, data: doc(n) });
      await waitUntil(() => got.length === 10, { what: '10 publications on B' });
      const bytes = got.map((p) => (codec === 'protobuf' ? new TextDecoder().decode(p.data) : JSON.stringify(p.data)));
      assert.deepEqual(bytes, Array.from({ length: 10 }, (_, k) => JSON.stringify(doc(k + 1))));
      const st = sub.deltaStats();
      // On a mismatch, say what B did (a resubscribe shows as an insufficient-state line).
      const why = () => `${JSON.stringify(st)} offsets ${got.map((p) => p.offset)}; B's log: ${b.log.slice(-20).join('')}`;
      assert.equal(st.numFullPayloads, 1, why());
      assert.equal(st.numDeltaPayloads, 9, why());
      await closeClient(c);
    });
  }

  test('presence, presence_stats and join/leave agree from both beacons', { timeout: 20000 }, async () => {
    const { a, b } = cluster;
    const ch = channel('pres');
    const ca = newClient('json', a.url, { token: connToken('ua') });
    const cb = newClient('protobuf', b.url, { token: connToken('ub') });
    const sa = ca.newSubscription(ch);
    const joins = [];
    const leaves = [];
    sa.on('join', (ctx) => joins.push(ctx.info.user));
    sa.on('leave', (ctx) => leaves.push(ctx.info.user));
    sa.subscribe(); ca.connect();
    await sa.ready(5000);
    const sb = cb.newSubscription(ch);
    sb.subscribe(); cb.connect();
    await sb.ready(5000);
    await waitUntil(() => joins.includes('ub'), { what: 'join of the client on B seen on A' });
    for (const node of [a, b]) {
      const p = await node.api('presence', { channel: ch });
      assert.deepEqual(Object.values(p.presence).map((i) => i.user).sort(), ['ua', 'ub'], `presence from ${node.name}`);
      const s = await node.api('presence_stats', { channel: ch });
      assert.equal(s.num_clients, 2, `num_clients from ${node.name}`);
      assert.equal(s.num_users, 2, `num_users from ${node.name}`);
    }
    // The clients' own presence calls, answered by different beacons, agree too.
    const fromA = await sa.presenceStats();
    const fromB = await sb.presenceStats();
    assert.equal(fromA.numClients, 2);
    assert.equal(fromB.numClients, 2);
    await closeClient(cb);
    await waitUntil(() => leaves.includes('ub'), { what: 'leave of the client on B seen on A' });
    const s = await a.api('presence_stats', { channel: ch });
    assert.equal(s.num_clients, 1);
    await closeClient(ca);
  });

  test('a client moved from A to B recovers exactly what it missed', { timeout: 20000 }, async () => {
    const { a, b } = cluster;
    const proxy = await new Proxy(a.port).start();
    try {
      const ch = channel('move');
      const c = newClient('json', proxy.url, { token: connToken('mover') });
      const sub = c.newSubscription(ch);
      const got = [];
      const subscribed = [];
      sub.on('publication', (ctx) => got.push(ctx));
      sub.on('subscribed', (ctx) => subscribed.push(ctx));
      sub.subscribe(); c.connect();
      await sub.ready(5000);
      for (let n = 1; n <= 3; n += 1) await a.api('publish', { channel: ch, data: { n } });
      await waitUntil(() => got.length === 3, { what: 'live publications through A' });
      // The load balancer now sends the client to B; its connection to A is cut.
      proxy.switchTo(b.port);
      proxy.cutAll();
      for (let n = 4; n <= 6; n += 1) await a.api('publish', { channel: ch, data: { n } });
      await waitUntil(() => subscribed.length === 2, { what: 'resubscribed through B' });
      assert.equal(subscribed[1].recovered, true, 'recovered on B');
      for (let n = 7; n <= 8; n += 1) await b.api('publish', { channel: ch, data: { n } });
      await waitUntil(() => got.length >= 8, { what: '8 publications' });
      await sleep(200);
      assert.deepEqual(got.map((p) => p.data.n), [1, 2, 3, 4, 5, 6, 7, 8], 'nothing lost or duplicated');
      await closeClient(c);
    } finally {
      await proxy.stop().catch(() => {});
    }
  });
});

describe('beacon A killed with SIGKILL mid-stream', { skip: SKIP }, () => {
  test('clients reconnect to B and recover 10,000 publications, none lost or duplicated', { timeout: 120000 }, async () => {
    const { a, b } = await startCluster();
    const proxy = await new Proxy(a.port).start();
    const TOTAL = 10000;
    const BATCH = 100;
    try {
      const ch = channel('kill');
      const clients = CODECS.map((codec) => {
        const c = newClient(codec, proxy.url, { token: connToken(`k-${codec}`) });
        const sub = c.newSubscription(ch);
        const state = { codec, c, sub, got: [], subscribed: [] };
        sub.on('publication', (ctx) => state.got.push(ctx));
        sub.on('subscribed', (ctx) => state.subscribed.push(ctx));
        sub.subscribe(); c.connect();
        return state;
      });
      await Promise.all(clients.map((s) => s.sub.ready(5000)));
      // The publisher talks to B's API, which outlives A.
      let published = 0;
      const publisher = (async () => {
        while (published < TOTAL) {
          const commands = [];
          for (let i = 0; i < BATCH; i += 1) {
            published += 1;
            commands.push({ publish: { channel: ch, data: { n: published } } });
          }
          const r = await b.api('batch', { commands });
          assert.ok(r.replies.every((x) => x.publish), 'every publish accepted');
        }
      })();
      await waitUntil(() => clients.every((s) => s.got.length >= 2000), { ms: 60000, what: '2000 publications via A' });
      proxy.switchTo(b.port);
      await a.kill9();
      const publishedAtKill = published;
      await publisher;
      assert.ok(publishedAtKill < TOTAL, `A was killed mid-stream (after ${publishedAtKill} publications)`);
      for (const s of clients) {
        await waitUntil(() => s.got.length >= TOTAL, { ms: 60000, what: `${TOTAL} publications (${s.codec}), have ${s.got.length}` });
      }
      await sleep(300);
      for (const s of clients) {
        assert.ok(s.subscribed.length >= 2, `${s.codec} resubscribed after the kill`);
        assert.ok(s.subscribed.slice(1).every((x) => x.recovered), `${s.codec} recovered every time`);
        assert.equal(s.got.length, TOTAL, `${s.codec}: count`);
        const ns = s.got.map((p) => decodeData(s.codec, p.data).n);
        const offsets = s.got.map((p) => p.offset);
        const firstBad = ns.findIndex((n, i) => n !== i + 1);
        assert.equal(firstBad, -1, `${s.codec}: order broken at index ${firstBad}`);
        assert.ok(offsets.every((o, i) => o === i + 1), `${s.codec}: offsets 1..${TOTAL}`);
      }
      await Promise.all(clients.map((s) => closeClient(s.c)));
    } finally {
      await proxy.stop().catch(() => {});
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
