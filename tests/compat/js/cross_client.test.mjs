// Cross-client check: one publication from the server API reaches the npm `centrifuge` client and
// our Rust client (`wowlab listen`, protobuf and JSON) with the same data and offset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  BASE, SECRET, WS_ONLY, api, apiPublish, channel, closeClient, collect, connToken, decodeData,
  newClient, once, waitUntil,
} from './lib.mjs';

const BIN = process.env.WOWLAB_BIN;
// In CI a missing binary is a failure, never a skip.
const SKIP = BIN || process.env.CI ? false : 'WOWLAB_BIN not set (scripts/test sets it)';

/** Starts `wowlab listen` and collects its `--json` lines. */
function listen(ch, format) {
  const child = spawn(BIN, [
    'listen', ch, '--url', `${BASE.replace(/^http/, 'ws')}/connection/websocket`,
    '--secret', SECRET, '--user', 'rust', '--format', format, '--json', '--count', '2',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line));
    }
  });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited, stderr: () => stderr };
}

test('server API publication reaches the npm client and wowlab listen identically', { timeout: 30000, skip: SKIP }, async () => {
  assert.ok(BIN, 'WOWLAB_BIN must point at the wowlab binary');
  const ch = channel(null, 'cross');
  const m = WS_ONLY[0];
  const js = newClient(m, { token: connToken('42') });
  const sub = js.newSubscription(ch);
  const pubs = collect(sub, 'publication');
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  js.connect();
  await subscribed;
  const rustPb = listen(ch, 'protobuf');
  const rustJson = listen(ch, 'json');
  try {
    // Publish only once all three subscribers are on the channel.
    await waitUntil(async () => {
      const c = await api('channels', { pattern: ch });
      return (c.channels?.[ch]?.num_clients ?? 0) >= 3;
    }, { ms: 15000, step: 100, what: 'three subscribers' });
    const r1 = await apiPublish(ch, { n: 1, text: 'héllo', nested: { a: [1, 2.5, null] } });
    const r2 = await apiPublish(ch, { n: 2 });
    await waitUntil(() => pubs.length >= 2 && rustPb.lines.length >= 2 && rustJson.lines.length >= 2,
      { ms: 15000, what: 'two publications on every client' });
    const jsSeen = pubs.map((p) => ({ offset: p.offset, data: decodeData(m.codec, p.data) }));
    for (const rust of [rustPb, rustJson]) {
      const rustSeen = rust.lines.map((l) => ({ offset: l.offset, data: l.data }));
      assert.deepEqual(rustSeen, jsSeen, `wowlab listen output vs npm client (stderr: ${rust.stderr()})`);
      assert.equal(rust.lines[0].channel, ch);
      assert.equal(await rust.exited, 0, 'wowlab listen exits 0 after --count publications');
    }
    assert.deepEqual(jsSeen.map((p) => p.offset), [r1.offset, r2.offset]);
  } finally {
    rustPb.child.kill();
    rustJson.child.kill();
    await closeClient(js);
  }
});
