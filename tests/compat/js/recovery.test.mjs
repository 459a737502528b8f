// Stream recovery after a dropped connection, and unrecoverable positions.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, apiPublish, channel, closeClient, collect, connToken, decodeData, label, newClient,
  once, sleep, waitUntil,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`recovery ${label(m)}`, () => {
    test('reconnect recovers exactly the publications missed while offline', { timeout: 20000 }, async () => {
      const ch = channel('recovery', 'rec');
      const net = new EventTarget();
      // getData runs before every connect attempt: holding it keeps the client offline
      // while the test publishes the publications it must then recover.
      let gate = Promise.resolve();
      let reconnectAttempts = 0;
      const c = newClient(m, {
        token: connToken('42'),
        networkEventTarget: net,
        getData: async () => { reconnectAttempts += 1; await gate; return null; },
      });
      const sub = c.newSubscription(ch);
      const pubs = collect(sub, 'publication');
      const subscribedEvents = collect(sub, 'subscribed');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      await apiPublish(ch, { n: 1 });
      await apiPublish(ch, { n: 2 });
      await waitUntil(() => pubs.length === 2, { what: '2 live publications' });

      // Drop the transport (the client thinks the network went away) and publish meanwhile.
      let open;
      gate = new Promise((resolve) => { open = resolve; });
      const attemptsBefore = reconnectAttempts;
      const connecting = once(c, 'connecting');
      net.dispatchEvent(new Event('offline'));
      await connecting;
      await waitUntil(() => reconnectAttempts > attemptsBefore, { what: 'reconnect attempt held' });
      for (let n = 3; n <= 5; n += 1) await apiPublish(ch, { n });
      net.dispatchEvent(new Event('online'));
      open();

      await waitUntil(() => subscribedEvents.length === 2, { ms: 10000, what: 'resubscribed' });
      const s = subscribedEvents[1];
      assert.equal(s.wasRecovering, true, 'resubscribe asked for recovery');
      assert.equal(s.recovered, true, 'server recovered the stream');
      assert.equal(s.hasRecoveredPublications, true);
      await waitUntil(() => pubs.length >= 5, { what: '5 publications in total' });
      await apiPublish(ch, { n: 6 });
      await waitUntil(() => pubs.length >= 6, { what: 'live publication after recovery' });
      await sleep(200);
      assert.deepEqual(pubs.map((p) => decodeData(m.codec, p.data).n), [1, 2, 3, 4, 5, 6], 'no loss, no duplicates');
      assert.deepEqual(pubs.map((p) => p.offset), [1, 2, 3, 4, 5, 6]);
      await closeClient(c);
    });

    test('wrong epoch: subscribed with recovered=false at the current top', { timeout: 15000 }, async () => {
      const ch = channel('recovery', 'epoch');
      const r = await apiPublish(ch, { n: 1 });
      await apiPublish(ch, { n: 2 });
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { since: { offset: 1, epoch: 'notthere' } });
      const pubs = collect(sub, 'publication');
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      c.connect();
      const s = await subscribed;
      assert.equal(s.wasRecovering, true);
      assert.equal(s.recovered, false);
      assert.equal(s.streamPosition.epoch, r.epoch);
      assert.equal(s.streamPosition.offset, 2);
      await sleep(200);
      assert.equal(pubs.length, 0, 'nothing replayed');
      await closeClient(c);
    });

    test('position too far behind history: recovered=false', { timeout: 15000 }, async () => {
      const ch = channel('smallhistory', 'far');
      const first = await apiPublish(ch, { n: 1 });
      for (let n = 2; n <= 5; n += 1) await apiPublish(ch, { n });
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { since: { offset: first.offset, epoch: first.epoch } });
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      c.connect();
      const s = await subscribed;
      assert.equal(s.wasRecovering, true);
      assert.equal(s.recovered, false);
      assert.equal(s.streamPosition.offset, 5);
      await closeClient(c);
    });

    test('position at the top with the right epoch: recovered=true, nothing replayed', { timeout: 15000 }, async () => {
      const ch = channel('recovery', 'top');
      await apiPublish(ch, { n: 1 });
      const top = await apiPublish(ch, { n: 2 });
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { since: { offset: top.offset, epoch: top.epoch } });
      const pubs = collect(sub, 'publication');
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      c.connect();
      const s = await subscribed;
      assert.equal(s.recovered, true);
      await sleep(200);
      assert.equal(pubs.length, 0);
      await closeClient(c);
    });
  });
}
