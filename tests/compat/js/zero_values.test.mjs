// Zero values as Centrifugo writes them over JSON: presence_stats, presence and history replies
// always carry their fields (client.pb.go tags without omitempty), so the npm client sees 0 / {}
// / [] rather than undefined.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  BASE, MATRIX, channel, closeClient, connToken, label, newClient, waitUntil,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`zero values ${label(m)}`, () => {
    test('empty channel: presence_stats 0/0, presence {}, history [] at offset 0', { timeout: 15000 }, async () => {
      const ch = channel('zero', 'empty');
      const c = newClient(m, { token: connToken('42') });
      c.connect();
      await c.ready(5000);
      const stats = await c.presenceStats(ch);
      assert.strictEqual(stats.numClients, 0);
      assert.strictEqual(stats.numUsers, 0);
      const p = await c.presence(ch);
      assert.deepEqual(p.clients, {});
      const h = await c.history(ch, { limit: 0 });
      assert.deepEqual(h.publications, []);
      assert.strictEqual(h.offset, 0);
      assert.strictEqual(typeof h.epoch, 'string');
      await closeClient(c);
    });

    test('a client polling presence_stats sees it drop to 0', { timeout: 15000 }, async () => {
      const ch = channel('zero', 'drop');
      const watcher = newClient(m, { token: connToken('41') });
      const member = newClient(m, { token: connToken('43') });
      watcher.connect();
      await watcher.ready(5000);
      const sub = member.newSubscription(ch);
      sub.subscribe();
      member.connect();
      await sub.ready(5000);
      await waitUntil(async () => (await watcher.presenceStats(ch)).numClients === 1,
        { what: 'member present' });
      await sub.unsubscribe();
      await waitUntil(async () => {
        const s = await watcher.presenceStats(ch);
        return s.numClients === 0 && s.numUsers === 0;
      }, { what: 'presence_stats {num_clients: 0, num_users: 0}' });
      assert.deepEqual((await watcher.presence(ch)).clients, {});
      await closeClient(member);
      await closeClient(watcher);
    });
  });
}

// The exact JSON replies, read off the wire.
describe('zero values on the JSON wire', () => {
  test('presence_stats, presence and history replies carry their zero fields; others omit them', { timeout: 15000 }, async () => {
    const ch = channel('zero', 'wire');
    const ws = new WebSocket(`${BASE.replace(/^http/, 'ws')}/connection/websocket`);
    const replies = new Map();
    ws.on('message', (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (!line.trim()) continue;
        const r = JSON.parse(line);
        if (r.id) replies.set(r.id, line);
      }
    });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.send(JSON.stringify({ id: 1, connect: { token: connToken('42') } }));
    await waitUntil(() => replies.has(1), { what: 'connect reply' });
    ws.send([
      JSON.stringify({ id: 2, presence_stats: { channel: ch } }),
      JSON.stringify({ id: 3, presence: { channel: ch } }),
      JSON.stringify({ id: 4, history: { channel: ch } }),
    ].join('\n'));
    await waitUntil(() => replies.has(4) && replies.has(3) && replies.has(2), { what: 'replies' });
    assert.equal(replies.get(2), '{"id":2,"presence_stats":{"num_clients":0,"num_users":0}}');
    assert.equal(replies.get(3), '{"id":3,"presence":{"presence":{}}}');
    const h = JSON.parse(replies.get(4)).history;
    assert.deepEqual(h.publications, []);
    assert.strictEqual(h.offset, 0);
    assert.strictEqual(typeof h.epoch, 'string');
    // Replies whose fields are all omitempty in Centrifugo stay empty objects.
    ws.send([
      JSON.stringify({ id: 5, subscribe: { channel: ch } }),
      JSON.stringify({ id: 6, unsubscribe: { channel: ch } }),
    ].join('\n'));
    await waitUntil(() => replies.has(5) && replies.has(6), { what: 'subscribe/unsubscribe replies' });
    assert.equal(replies.get(5), '{"id":5,"subscribe":{}}');
    assert.equal(replies.get(6), '{"id":6,"unsubscribe":{}}');
    ws.close();
  });
});
