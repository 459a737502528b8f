// Connection: token auth, refresh via getToken, unauthorized outcomes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, build, closeClient, connToken, label, newClient, once, sleep,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`connect ${label(m)}`, () => {
    test('connects with a connection token and disconnects', { timeout: 15000 }, async () => {
      const c = newClient(m, { token: connToken('42') });
      const connected = once(c, 'connected');
      c.connect();
      const ctx = await connected;
      assert.match(ctx.client, /^[0-9a-f-]{36}$/, 'client id is a UUID');
      assert.equal(ctx.transport, m.transport);
      assert.equal(c.state, 'connected');
      const disconnected = once(c, 'disconnected');
      c.disconnect();
      const d = await disconnected;
      assert.equal(d.code, build(m.codec).disconnectedCodes.disconnectCalled);
    });

    test('bad token signature: disconnected with 3500', { timeout: 15000 }, async () => {
      const c = newClient(m, { token: connToken('42', { secret: 'not-the-secret' }) });
      const disconnected = once(c, 'disconnected', { ms: 8000 });
      c.connect();
      const d = await disconnected;
      assert.equal(d.code, 3500, `disconnect code (reason '${d.reason}')`);
      assert.equal(c.state, 'disconnected');
    });

    test('no token at all: terminal disconnect 3501', { timeout: 15000 }, async () => {
      const c = newClient(m, {});
      const disconnected = once(c, 'disconnected', { ms: 8000 });
      c.connect();
      const d = await disconnected;
      assert.equal(d.code, 3501, `disconnect code (reason '${d.reason}')`);
    });

    test('expired token without getToken: unauthorized', { timeout: 15000 }, async () => {
      const c = newClient(m, { token: connToken('42', { ttl: -60 }) });
      const disconnected = once(c, 'disconnected', { ms: 8000 });
      c.connect();
      const d = await disconnected;
      assert.equal(d.code, build(m.codec).disconnectedCodes.unauthorized, `code (reason '${d.reason}')`);
    });

    test('expired token with getToken: error 109 then connects with a fresh token', { timeout: 15000 }, async () => {
      let calls = 0;
      const c = newClient(m, {
        token: connToken('42', { ttl: -60 }),
        getToken: async () => { calls += 1; return connToken('42'); },
      });
      const errors = [];
      c.on('error', (ctx) => errors.push(ctx));
      const connected = once(c, 'connected', { ms: 10000 });
      c.connect();
      await connected;
      assert.ok(calls >= 1, 'getToken was called');
      assert.ok(errors.some((e) => e.error && e.error.code === 109), `saw a 109 error: ${JSON.stringify(errors)}`);
      await closeClient(c);
    });

    test('token refresh via getToken before expiry keeps the connection', { timeout: 20000 }, async () => {
      let calls = 0;
      const c = newClient(m, {
        token: connToken('42', { ttl: 2 }),
        getToken: async () => { calls += 1; return connToken('42', { ttl: 2 }); },
      });
      const connectedCtx = once(c, 'connected');
      const connecting = [];
      c.connect();
      const first = await connectedCtx;
      c.on('connecting', (ctx) => connecting.push(ctx));
      // Two refresh rounds and past the first token's expiry plus the 3 s close delay.
      await sleep(6500);
      assert.ok(calls >= 2, `getToken called ${calls} times, want >= 2`);
      assert.equal(c.state, 'connected');
      assert.deepEqual(connecting, [], 'no reconnect happened');
      const stats = await c.presenceStats('example:refresh-check').catch((e) => e);
      // The connection still answers commands (108/103 are fine; a dead link would time out).
      assert.ok(stats && (stats.numClients !== undefined || stats.code !== undefined), 'connection responsive');
      assert.equal(first.client.length, 36);
      await closeClient(c);
    });
  });
}
