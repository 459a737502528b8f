// History: limit, reverse, since, and the 112 unrecoverable-position error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, api, apiPublish, channel, closeClient, connToken, decodeData, label, newClient,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`history ${label(m)}`, () => {
    test('history with limit, reverse and since', { timeout: 15000 }, async () => {
      const ch = channel('recovery', 'hist');
      const results = [];
      for (let i = 1; i <= 5; i += 1) results.push(await apiPublish(ch, { i }));
      const epoch = results[0].epoch;
      assert.ok(epoch, 'API publish returns the stream epoch');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch);
      sub.subscribe();
      c.connect();
      await sub.ready(5000);

      const all = await sub.history({ limit: 10 });
      assert.equal(all.epoch, epoch);
      assert.equal(all.offset, results[4].offset);
      assert.deepEqual(all.publications.map((p) => decodeData(m.codec, p.data)), [1, 2, 3, 4, 5].map((i) => ({ i })));
      assert.deepEqual(all.publications.map((p) => p.offset), results.map((r) => r.offset));

      const pos = await sub.history({ limit: 0 });
      assert.equal(pos.publications.length, 0, 'limit 0 returns only the position');
      assert.equal(pos.offset, results[4].offset);
      assert.equal(pos.epoch, epoch);

      const rev = await sub.history({ limit: 2, reverse: true });
      assert.deepEqual(rev.publications.map((p) => decodeData(m.codec, p.data)), [{ i: 5 }, { i: 4 }]);

      const since = await sub.history({ limit: 10, since: { offset: results[1].offset, epoch } });
      assert.deepEqual(since.publications.map((p) => decodeData(m.codec, p.data)), [{ i: 3 }, { i: 4 }, { i: 5 }]);

      const err = await sub.history({ limit: 10, since: { offset: 1, epoch: 'wrongepoch' } }).then(() => null, (e) => e);
      assert.ok(err, 'history since a wrong epoch must fail');
      assert.equal(err.code, 112);
      await closeClient(c);
    });

    test('history_size caps the stream (smallhistory keeps 2)', { timeout: 15000 }, async () => {
      const ch = channel('smallhistory', 'cap');
      for (let i = 1; i <= 4; i += 1) await apiPublish(ch, { i });
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch);
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      const h = await sub.history({ limit: -1 });
      assert.deepEqual(h.publications.map((p) => decodeData(m.codec, p.data)), [{ i: 3 }, { i: 4 }]);
      assert.equal(h.offset, 4);
      const viaApi = await api('history', { channel: ch, limit: 10 });
      assert.equal(viaApi.publications.length, 2);
      await closeClient(c);
    });
  });
}
