// Two real `wowlab beacon` processes sharing the NATS and Redis servers that scripts/test
// started (WOWLAB_TEST_NATS_URL, WOWLAB_TEST_REDIS_URL), plus a loopback TCP proxy standing in
// for the load balancer in front of them. Every cluster gets its own subject/key prefix.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReadableStream } from 'node:stream/web';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import * as jsonBuild from 'centrifuge';
import * as protobufBuild from 'centrifuge/build/protobuf';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CONFIG = path.resolve(HERE, '../../distributed-test.json');
export const SECRET = 'compat-test-secret';
export const API_KEY = 'compat-test-api-key';

const NEEDED = ['WOWLAB_BIN', 'WOWLAB_TEST_NATS_URL', 'WOWLAB_TEST_REDIS_URL'];
const missing = NEEDED.filter((v) => !process.env[v]);
if (missing.length && process.env.CI) {
  throw new Error(`${missing.join(', ')} not set: the distributed suite needs them under CI (scripts/test sets them)`);
}
/** Why the suite cannot run here (undefined when it can); tests pass it as `skip`. */
export const SKIP = missing.length
  ? `${missing.join(', ')} not set (run scripts/test --only distributed)`
  : undefined;
if (SKIP) console.log(`# skipped: ${SKIP}`);

/** One beacon process (NATS/Redis URLs default to the shared servers). */
export class BeaconProcess {
  constructor(name, prefix, { natsUrl, redisUrl } = {}) {
    this.name = name;
    this.prefix = prefix;
    this.natsUrl = natsUrl ?? process.env.WOWLAB_TEST_NATS_URL;
    this.redisUrl = redisUrl ?? process.env.WOWLAB_TEST_REDIS_URL;
    this.log = [];
  }

  /** Starts it on a port the OS picks and waits for "beacon listening on http://ADDR". */
  async start() {
    const env = {
      ...process.env,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      WOWLAB_BEACON_BROKER_NATS_PREFIX: this.prefix,
      WOWLAB_BEACON_PRESENCE_MANAGER_REDIS_PREFIX: this.prefix,
    };
    this.proc = spawn(process.env.WOWLAB_BIN, [
      'beacon', '--config', CONFIG,
      '--nats-url', this.natsUrl,
      '--redis-url', this.redisUrl,
    ], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    const keep = (chunk) => { this.log.push(chunk.toString()); if (this.log.length > 200) this.log.shift(); };
    this.proc.stderr.on('data', keep);
    this.url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start: ${this.log.join('')}`)), 30000);
      let out = '';
      this.proc.stdout.on('data', (chunk) => {
        keep(chunk);
        out += chunk.toString();
        const m = out.match(/beacon listening on (http:\/\/[^\s]+)/);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      this.proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${this.name} exited ${code}: ${this.log.join('')}`)); });
    });
    this.port = Number(new URL(this.url).port);
    return this;
  }

  /** kill -9. */
  async kill9() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  /** Server API call; returns `result`, throws on an error reply. */
  async api(method, body) {
    const res = await fetch(`${this.url}/api/${method}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': API_KEY },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${this.name} api ${method}: HTTP ${res.status}: ${text}`);
    const reply = JSON.parse(text);
    if (reply.error) throw new Error(`${this.name} api ${method}: ${JSON.stringify(reply.error)}`);
    return reply.result ?? reply;
  }
}

/** A loopback TCP proxy whose backend can be switched (the load balancer). */
export class Proxy {
  constructor(backendPort) {
    this.backendPort = backendPort;
    this.sockets = new Set();
  }

  async start() {
    this.server = net.createServer((down) => {
      const up = net.connect(this.backendPort, '127.0.0.1');
      const pair = [down, up];
      this.sockets.add(pair);
      const close = () => { down.destroy(); up.destroy(); this.sockets.delete(pair); };
      down.on('error', close); up.on('error', close);
      down.on('close', close); up.on('close', close);
      down.pipe(up); up.pipe(down);
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** New connections go to `port` from now on. */
  switchTo(port) { this.backendPort = port; }

  /** Cuts every proxied connection (clients see their transport close and reconnect). */
  cutAll() {
    for (const [a, b] of this.sockets) { a.destroy(); b.destroy(); }
    this.sockets.clear();
  }

  async stop() {
    for (const [a, b] of this.sockets) { a.destroy(); b.destroy(); }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A fresh cluster: beacons A and B with one shared prefix (optionally on other servers). */
export async function startCluster(servers = {}) {
  const prefix = `compat${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const [a, b] = await Promise.all([
    new BeaconProcess('A', prefix, servers).start(),
    new BeaconProcess('B', prefix, servers).start(),
  ]);
  return { a, b, prefix };
}

/** A free loopback TCP port. */
export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

function serviceBin(name) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`${name} not found (scripts/test installs it)`);
}

/** A private nats-server or redis-server of one test, restartable on the same port. */
export class Service {
  constructor(kind) {
    this.kind = kind;
    this.bin = serviceBin(kind === 'nats' ? 'nats-server' : 'redis-server');
  }

  async start() {
    this.port ??= await freePort();
    const args = this.kind === 'nats'
      ? ['-a', '127.0.0.1', '-p', String(this.port)]
      : ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no'];
    const ready = this.kind === 'nats' ? 'Server is ready' : 'Ready to accept connections';
    this.proc = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
    await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${this.kind} did not start: ${out}`)), 15000);
      const onData = (chunk) => {
        out += chunk.toString();
        if (out.includes(ready)) { clearTimeout(timer); resolve(); }
      };
      this.proc.stdout.on('data', onData);
      this.proc.stderr.on('data', onData);
    });
    this.url = `${this.kind === 'nats' ? 'nats' : 'redis'}://127.0.0.1:${this.port}`;
    return this;
  }

  async kill9() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) await this.kill9();
  }
}

/** HS256 connection token. */
export function connToken(sub) {
  return jwt.sign({ sub, exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET, { algorithm: 'HS256' });
}

/** A unique channel in the `dist` namespace. */
export function channel(prefix = 'c') {
  return `dist:${prefix}_${randomUUID().replaceAll('-', '')}`;
}

/** A websocket client of the given codec against `baseUrl`. */
export function newClient(codec, baseUrl, options = {}) {
  const { Centrifuge } = codec === 'protobuf' ? protobufBuild : jsonBuild;
  return new Centrifuge(`${baseUrl.replace(/^http/, 'ws')}/connection/websocket`, {
    websocket: WebSocket,
    readableStream: ReadableStream,
    timeout: 5000,
    minReconnectDelay: 100,
    maxReconnectDelay: 500,
    ...options,
  });
}

/** Publication data as a JS value for either codec. */
export function decodeData(codec, data) {
  return codec === 'protobuf' ? JSON.parse(new TextDecoder().decode(data)) : data;
}

/** Poll until `check()` is truthy. */
export async function waitUntil(check, { ms = 10000, step = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Disconnects a client and waits for it. */
export async function closeClient(c) {
  if (c.state === 'disconnected') return;
  const done = new Promise((resolve) => c.once('disconnected', resolve));
  c.disconnect();
  await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
