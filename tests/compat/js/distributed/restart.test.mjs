// The backing servers restart under two running beacons: presence is rebuilt from the live
// connections within one update interval after Redis comes back empty, and delivery resumes
// after NATS comes back, with nothing lost or duplicated (gaps are repaired from history).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SKIP, Service, channel, closeClient, connToken, newClient, sleep, startCluster, waitUntil,
} from './cluster.mjs';

// client.presence_update_interval of tests/compat/distributed-test.json.
const UPDATE_INTERVAL_MS = 1000;

describe('backing server restarts', { skip: SKIP }, () => {
  test('Redis restarted empty: presence rebuilt within one update interval', { timeout: 30000 }, async () => {
    const redis = await new Service('redis').start();
    const { a, b } = await startCluster({ redisUrl: redis.url });
    try {
      const ch = channel('redis');
      const ca = newClient('json', a.url, { token: connToken('ra') });
      const cb = newClient('protobuf', b.url, { token: connToken('rb') });
      for (const c of [ca, cb]) {
        const s = c.newSubscription(ch);
        s.subscribe(); c.connect();
        await s.ready(5000);
      }
      assert.equal((await a.api('presence_stats', { channel: ch })).num_clients, 2);
      await redis.kill9();
      await redis.start();
      // Nothing survived the restart (no persistence) ...
      const right = await a.api('presence_stats', { channel: ch }).catch(() => ({}));
      assert.ok((right.num_clients ?? 0) < 2, 'presence was really wiped');
      // ... and each connection's next refresh puts its entry back.
      const restartedAt = Date.now();
      await waitUntil(async () => {
        const s = await a.api('presence_stats', { channel: ch }).catch(() => ({}));
        return s.num_clients === 2;
      }, { ms: UPDATE_INTERVAL_MS + 1000, what: 'presence rebuilt' });
      const took = Date.now() - restartedAt;
      const fromB = await b.api('presence', { channel: ch });
      assert.equal(Object.keys(fromB.presence).length, 2, `rebuilt after ${took} ms, seen from B`);
      await Promise.all([closeClient(ca), closeClient(cb)]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await redis.stop();
    }
  });

  test('NATS restarted: delivery resumes, nothing lost or duplicated', { timeout: 60000 }, async () => {
    const nats = await new Service('nats').start();
    const { a, b } = await startCluster({ natsUrl: nats.url });
    try {
      const ch = channel('nats');
      const c = newClient('json', b.url, { token: connToken('nr') });
      const sub = c.newSubscription(ch);
      const got = [];
      sub.on('publication', (ctx) => got.push(ctx));
      sub.subscribe(); c.connect();
      await sub.ready(5000);
      let n = 0;
      const accepted = [];
      const publish = async () => {
        n += 1;
        try {
          await a.api('publish', { channel: ch, data: { n } });
          accepted.push(n);
        } catch { /* NATS is down: the publish may fail, the stream decides below */ }
      };
      for (let i = 0; i < 5; i += 1) await publish();
      await waitUntil(() => got.length === 5, { what: '5 publications before the restart' });
      await nats.kill9();
      for (let i = 0; i < 5; i += 1) await publish();
      await sleep(300);
      await nats.start();
      // Keep publishing until deliveries flow again.
      await waitUntil(async () => { await publish(); return got.length >= 11; }, { ms: 20000, step: 200, what: 'delivery after the NATS restart' });
      await sleep(500);
      const h = await a.api('history', { channel: ch, limit: 0 });
      const top = h.offset;
      await waitUntil(() => got.length >= top, { what: `all ${top} stream publications delivered` });
      assert.deepEqual(got.map((p) => p.offset), Array.from({ length: top }, (_, i) => i + 1), 'contiguous offsets, no duplicates');
      const ns = got.map((p) => p.data.n);
      assert.deepEqual([...ns].sort((x, y) => x - y), ns, 'publication order kept');
      for (const x of accepted) assert.ok(ns.includes(x), `accepted publication ${x} delivered`);
      await closeClient(c);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await nats.stop();
    }
  });
});
