// Presence, presence_stats and join/leave pushes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, api, channel, closeClient, collect, connToken, label, newClient, once, waitUntil,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`presence ${label(m)}`, () => {
    test('presence and presence_stats list the subscriber', { timeout: 15000 }, async () => {
      const ch = channel('example', 'pres');
      const c = newClient(m, { token: connToken('42', { info: { role: 'tester' } }) });
      const sub = c.newSubscription(ch);
      const connectedP = once(c, 'connected');
      sub.subscribe();
      c.connect();
      const connected = await connectedP;
      await sub.ready(5000);
      const p = await sub.presence();
      const ids = Object.keys(p.clients);
      assert.deepEqual(ids, [connected.client]);
      assert.equal(p.clients[connected.client].user, '42');
      assert.equal(p.clients[connected.client].client, connected.client);
      const stats = await sub.presenceStats();
      assert.equal(stats.numClients, 1);
      assert.equal(stats.numUsers, 1);
      const viaApi = await api('presence_stats', { channel: ch });
      assert.equal(viaApi.num_clients, 1);
      await sub.unsubscribe();
      await waitUntil(async () => !(await api('presence_stats', { channel: ch })).num_clients,
        { what: 'presence emptied after unsubscribe' });
      await closeClient(c);
    });

    test('join and leave pushes between two users', { timeout: 15000 }, async () => {
      const ch = channel('example', 'jl');
      const a = newClient(m, { token: connToken('42') });
      const b = newClient(m, { token: connToken('43') });
      const subA = a.newSubscription(ch, { joinLeave: true });
      const joins = collect(subA, 'join');
      const leaves = collect(subA, 'leave');
      subA.subscribe();
      a.connect();
      await subA.ready(5000);
      const subB = b.newSubscription(ch);
      const bConnectedP = once(b, 'connected');
      subB.subscribe();
      b.connect();
      const bConnected = await bConnectedP;
      await subB.ready(5000);
      await waitUntil(() => joins.find((j) => j.info.user === '43'), { what: 'join of user 43' });
      const j = joins.find((x) => x.info.user === '43');
      assert.equal(j.channel, ch);
      assert.equal(j.info.client, bConnected.client);
      const stats = await subA.presenceStats();
      assert.equal(stats.numClients, 2);
      assert.equal(stats.numUsers, 2);
      await subB.unsubscribe();
      await waitUntil(() => leaves.find((l) => l.info.user === '43'), { what: 'leave of user 43' });
      assert.equal(leaves.find((l) => l.info.user === '43').info.client, bConnected.client);
      await closeClient(b);
      await closeClient(a);
    });
  });
}
