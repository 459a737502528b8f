// Subscription tokens, sub token refresh, permission errors, server-side subscriptions.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MATRIX, apiPublish, channel, closeClient, collect, connToken, decodeData, label, newClient,
  once, sleep, subToken, waitUntil,
} from './lib.mjs';

for (const m of MATRIX) {
  describe(`auth ${label(m)}`, () => {
    test('private channel with a subscription token', { timeout: 15000 }, async () => {
      const ch = channel('private', 'tok');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { token: subToken(ch, '42', { info: { seat: 7 } }) });
      const got = once(sub, 'publication');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      await apiPublish(ch, { secret: true });
      const p = await got;
      assert.deepEqual(decodeData(m.codec, p.data), { secret: true });
      const pres = await sub.presence();
      const me = Object.values(pres.clients)[0];
      assert.equal(me.user, '42');
      await closeClient(c);
    });

    test('subscription token from getToken, refreshed before expiry', { timeout: 20000 }, async () => {
      const ch = channel('private', 'ref');
      let calls = 0;
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, {
        getToken: async (ctx) => { calls += 1; return subToken(ctx.channel, '42', { ttl: 2 }); },
      });
      const unsubscribed = collect(sub, 'unsubscribed');
      const subscribing = collect(sub, 'subscribing');
      sub.subscribe();
      c.connect();
      await sub.ready(5000);
      subscribing.length = 0;
      await sleep(6500);
      assert.ok(calls >= 3, `getToken called ${calls} times, want initial + >= 2 refreshes`);
      assert.equal(sub.state, 'subscribed');
      assert.deepEqual(unsubscribed, []);
      assert.deepEqual(subscribing, [], 'no resubscribe: the refresh kept the subscription');
      const got = once(sub, 'publication');
      await apiPublish(ch, { after: 'refresh' });
      assert.deepEqual(decodeData(m.codec, (await got).data), { after: 'refresh' });
      await closeClient(c);
    });

    test('private channel without a token: error 103', { timeout: 15000 }, async () => {
      const ch = channel('private', 'denied');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch);
      const unsub = once(sub, 'unsubscribed');
      sub.subscribe();
      c.connect();
      const u = await unsub;
      assert.equal(u.code, 103, `unsubscribed code (reason '${u.reason}')`);
      assert.equal(c.state, 'connected', 'the connection survives');
      await closeClient(c);
    });

    test('subscription token with a bad signature: error 103', { timeout: 15000 }, async () => {
      const ch = channel('private', 'badsig');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { token: subToken(ch, '42', { secret: 'wrong' }) });
      const unsub = once(sub, 'unsubscribed');
      sub.subscribe();
      c.connect();
      const u = await unsub;
      assert.equal(u.code, 103);
      await closeClient(c);
    });

    test('subscription token for another channel: disconnect 3500', { timeout: 15000 }, async () => {
      const ch = channel('private', 'mismatch');
      const c = newClient(m, { token: connToken('42') });
      const sub = c.newSubscription(ch, { token: subToken(`${ch}_other`, '42') });
      const disconnected = once(c, 'disconnected', { ms: 8000 });
      sub.subscribe();
      c.connect();
      const d = await disconnected;
      assert.equal(d.code, 3500);
    });

    test('server-side subscriptions from the channels claim', { timeout: 15000 }, async () => {
      const ch1 = channel('server', 'ss');
      const ch2 = channel('server', 'ss');
      const c = newClient(m, { token: connToken('42', { channels: [ch1, ch2] }) });
      const subscribed = collect(c, 'subscribed');
      const pubs = collect(c, 'publication');
      c.connect();
      await c.ready(5000);
      await waitUntil(() => subscribed.length === 2, { what: '2 server-side subscribed events' });
      assert.deepEqual(subscribed.map((s) => s.channel).sort(), [ch1, ch2].sort());
      assert.ok(subscribed.every((s) => s.recoverable), 'force_recovery applies to server-side subs');
      await apiPublish(ch1, { to: 1 });
      await apiPublish(ch2, { to: 2 });
      await waitUntil(() => pubs.length === 2, { what: '2 server-side publications' });
      const byChannel = Object.fromEntries(pubs.map((p) => [p.channel, decodeData(m.codec, p.data)]));
      assert.deepEqual(byChannel, { [ch1]: { to: 1 }, [ch2]: { to: 2 } });
      await closeClient(c);
    });

    test('server-side subscription recovers through connect after a drop', { timeout: 20000 }, async () => {
      const ch = channel('server', 'ssrec');
      const net = new EventTarget();
      let gate = Promise.resolve();
      let attempts = 0;
      const c = newClient(m, {
        token: connToken('42', { channels: [ch] }),
        networkEventTarget: net,
        getData: async () => { attempts += 1; await gate; return null; },
      });
      const subscribed = collect(c, 'subscribed');
      const pubs = collect(c, 'publication');
      c.connect();
      await waitUntil(() => subscribed.length === 1, { what: 'server-side subscribed' });
      await apiPublish(ch, { n: 1 });
      await waitUntil(() => pubs.length === 1, { what: 'live publication' });
      let open;
      gate = new Promise((resolve) => { open = resolve; });
      const before = attempts;
      net.dispatchEvent(new Event('offline'));
      await waitUntil(() => attempts > before, { what: 'reconnect attempt held' });
      await apiPublish(ch, { n: 2 });
      await apiPublish(ch, { n: 3 });
      net.dispatchEvent(new Event('online'));
      open();
      await waitUntil(() => subscribed.length === 2, { ms: 10000, what: 'server-side resubscribed' });
      assert.equal(subscribed[1].wasRecovering, true);
      assert.equal(subscribed[1].recovered, true);
      await waitUntil(() => pubs.length === 3, { what: 'recovered server-side publications' });
      await sleep(200);
      assert.deepEqual(pubs.map((p) => decodeData(m.codec, p.data).n), [1, 2, 3]);
      await closeClient(c);
    });
  });
}
