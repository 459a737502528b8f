// Client lifecycle races mirrored from centrifuge-js's own integration suite: connect/disconnect
// and subscribe/unsubscribe loops, unsubscribe before the subscribe reply.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, api, channel, closeClient, connToken, label, newClient, once, waitUntil,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`lifecycle ${label(m)}`, () => {
    test('connect/disconnect loop ends disconnected', { timeout: 15000 }, async () => {
      const c = newClient(m, { token: connToken('42') });
      const disconnected = once(c, 'disconnected');
      for (let i = 0; i < 10; i += 1) {
        c.connect();
        c.disconnect();
      }
      assert.equal(c.state, 'disconnected');
      await disconnected;
      // The client still works afterwards.
      c.connect();
      await c.ready(5000);
      await closeClient(c);
    });

    test('subscribe/unsubscribe loop leaves exact presence', { timeout: 15000 }, async () => {
      const ch = channel('example', 'loop');
      const c = newClient(m, { token: connToken('42') });
      c.connect();
      await c.ready(5000);
      const sub = c.newSubscription(ch);
      const unsubscribed = once(sub, 'unsubscribed');
      for (let i = 0; i < 10; i += 1) {
        sub.subscribe();
        sub.unsubscribe();
      }
      assert.equal(sub.state, 'unsubscribed');
      await unsubscribed;
      sub.subscribe();
      await sub.ready(5000);
      const stats = await sub.presenceStats();
      assert.equal(stats.numClients, 1, 'exactly one presence entry after the loop');
      assert.equal(stats.numUsers, 1);
      await sub.unsubscribe();
      await waitUntil(async () => !(await api('presence_stats', { channel: ch })).num_clients,
        { what: 'presence empty after the final unsubscribe' });
      const viaClient = await c.presence(ch).catch((e) => e);
      // Presence for a non-subscriber is refused (103) or empty: never a stale entry.
      assert.ok(viaClient.code === 103 || Object.keys(viaClient.clients).length === 0, JSON.stringify(viaClient));
      await closeClient(c);
    });

    test('unsubscribe right after connect, then subscribe again', { timeout: 15000 }, async () => {
      const ch = channel(null, 'race');
      const c = newClient(m, { token: connToken('42') });
      c.connect();
      await c.ready(5000);
      const sub = c.newSubscription(ch);
      const unsubscribed = once(sub, 'unsubscribed');
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      c.disconnect();
      c.connect();
      sub.unsubscribe();
      assert.equal(sub.state, 'unsubscribed');
      await unsubscribed;
      sub.subscribe();
      await subscribed;
      await closeClient(c);
    });
  });
}
