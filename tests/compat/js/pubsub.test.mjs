// Subscribe, publish via the server API and receive; client publish permissions.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, apiPublish, channel, closeClient, collect, connToken, decodeData, encodeData, label,
  newClient, once, waitUntil,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`pubsub ${label(m)}`, () => {
    test('publish via server API is received with its offset', { timeout: 15000 }, async () => {
      const ch = channel(null, 'pub');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch);
      const pubs = collect(sub, 'publication');
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      c.connect();
      const s = await subscribed;
      assert.equal(s.channel, ch);
      assert.equal(s.recoverable, true, 'force_recovery namespace is recoverable');
      assert.equal(s.positioned, true);
      assert.ok(s.streamPosition && s.streamPosition.epoch, 'epoch present');
      const r1 = await apiPublish(ch, { n: 1, text: 'hello' });
      const r2 = await apiPublish(ch, { n: 2, text: 'world' });
      assert.ok(r1.offset >= 1 && r2.offset === r1.offset + 1, `API offsets ${r1.offset}, ${r2.offset}`);
      assert.equal(r1.epoch, s.streamPosition.epoch);
      await waitUntil(() => pubs.length >= 2, { what: '2 publications' });
      assert.deepEqual(pubs.map((p) => decodeData(m.codec, p.data)), [{ n: 1, text: 'hello' }, { n: 2, text: 'world' }]);
      assert.deepEqual(pubs.map((p) => p.offset), [r1.offset, r2.offset]);
      await closeClient(c);
    });

    test('client publish allowed for subscriber, echoed with publisher info', { timeout: 15000 }, async () => {
      const ch = channel('example', 'pub');
      const c = newClient(m, { token: connToken('42', { info: { name: 'alice' } }) });
      const sub = c.newSubscription(ch);
      const got = once(sub, 'publication');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      await sub.publish(encodeData(m.codec, { hi: 'there' }));
      const p = await got;
      assert.deepEqual(decodeData(m.codec, p.data), { hi: 'there' });
      assert.ok(p.info, 'publication carries ClientInfo');
      assert.equal(p.info.user, '42');
      await closeClient(c);
    });

    test('client publish into a channel it is not subscribed to: error 103', { timeout: 15000 }, async () => {
      const ch = channel('example', 'nopub');
      const c = newClient(m, { token: connToken('42') });
      c.connect();
      await c.ready(5000);
      const err = await c.publish(ch, encodeData(m.codec, { x: 1 })).then(() => null, (e) => e);
      assert.ok(err, 'publish must fail');
      assert.equal(err.code, 103);
      await closeClient(c);
    });

    test('rpc without an RPC handler: error 108', { timeout: 15000 }, async () => {
      const c = newClient(m, { token: connToken('42') });
      // Issued before connect: the client buffers it until connected.
      const pending = c.rpc('method', encodeData(m.codec, { my: 'data' })).then(() => null, (e) => e);
      c.connect();
      const err = await pending;
      assert.ok(err, 'rpc must fail');
      assert.equal(err.code, 108);
      await closeClient(c);
    });

    test('unknown namespace: subscribe error 102', { timeout: 15000 }, async () => {
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription('nosuchns:chan');
      const unsub = once(sub, 'unsubscribed');
      sub.subscribe();
      c.connect();
      const u = await unsub;
      assert.equal(u.code, 102);
      await closeClient(c);
    });
  });
}
