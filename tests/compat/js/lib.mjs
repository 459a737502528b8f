// Shared helpers for the JS compat suite: beacon address, tokens, server API, client factory.
import { randomUUID } from 'node:crypto';
import { ReadableStream } from 'node:stream/web';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import * as jsonBuild from 'centrifuge';
import * as protobufBuild from 'centrifuge/build/protobuf';

/** Beacon's base URL, set by scripts/test (http://127.0.0.1:PORT). */
export const BASE = process.env.BEACON_URL;
if (!BASE) {
  throw new Error('BEACON_URL is not set: run this suite through scripts/test --only js');
}
/** HMAC secret and API key of tests/compat/beacon-test.json. */
export const SECRET = process.env.BEACON_SECRET ?? 'compat-test-secret';
export const API_KEY = process.env.BEACON_API_KEY ?? 'compat-test-api-key';

const WS_BASE = BASE.replace(/^http/, 'ws');

/** Codec/transport combinations the suite runs (SSE is JSON-only in centrifuge-js). */
export const MATRIX = [
  { codec: 'json', transport: 'websocket' },
  { codec: 'json', transport: 'http_stream' },
  { codec: 'json', transport: 'sse' },
  { codec: 'protobuf', transport: 'websocket' },
  { codec: 'protobuf', transport: 'http_stream' },
];

/** WebSocket-only combinations (both codecs). */
export const WS_ONLY = MATRIX.filter((m) => m.transport === 'websocket');

/** A unique channel name in namespace `ns` (or without namespace). */
export function channel(ns, prefix = 'c') {
  const name = `${prefix}_${randomUUID().replaceAll('-', '')}`;
  return ns ? `${ns}:${name}` : name;
}

/** HS256 connection token for `sub` with extra claims; `ttl` seconds (null = no exp). */
export function connToken(sub = '42', { ttl = 3600, secret = SECRET, ...claims } = {}) {
  const payload = { sub, ...claims };
  if (ttl !== null) payload.exp = Math.floor(Date.now() / 1000) + ttl;
  return jwt.sign(payload, secret, { algorithm: 'HS256' });
}

/** HS256 subscription token for `channel`. */
export function subToken(channelName, sub = '42', { ttl = 3600, secret = SECRET, ...claims } = {}) {
  const payload = { sub, channel: channelName, ...claims };
  if (ttl !== null) payload.exp = Math.floor(Date.now() / 1000) + ttl;
  return jwt.sign(payload, secret, { algorithm: 'HS256' });
}

/** POST /api/<method> with the API key; returns `result`, throws on `error`. */
export async function api(method, body) {
  const res = await fetch(`${BASE}/api/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': API_KEY },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`api ${method}: HTTP ${res.status}: ${text}`);
  const reply = JSON.parse(text);
  if (reply.error) {
    const err = new Error(`api ${method}: error ${reply.error.code} ${reply.error.message}`);
    err.code = reply.error.code;
    throw err;
  }
  return reply.result ?? {};
}

/** Publish `data` (a JSON value) into `channel` through the server API. */
export function apiPublish(channelName, data) {
  return api('publish', { channel: channelName, data });
}

/** Decode publication data to a JS value for either codec (protobuf data arrives as bytes). */
export function decodeData(codec, data) {
  if (codec === 'protobuf') {
    return JSON.parse(new TextDecoder().decode(data));
  }
  return data;
}

/** Encode a JS value for a client publish in either codec. */
export function encodeData(codec, value) {
  if (codec === 'protobuf') return new TextEncoder().encode(JSON.stringify(value));
  return value;
}

/** Client constructor and codes of the build for `codec`. */
export function build(codec) {
  return codec === 'protobuf' ? protobufBuild : jsonBuild;
}

/** A Centrifuge client for one codec/transport combination; options pass through. */
export function newClient({ codec, transport }, options = {}) {
  const { Centrifuge } = build(codec);
  const endpoint = transport === 'websocket'
    ? `${WS_BASE}/connection/websocket`
    : `${BASE}/connection/${transport}`;
  return new Centrifuge([{ transport, endpoint }], {
    websocket: WebSocket,
    fetch: globalThis.fetch,
    readableStream: ReadableStream,
    eventsource: EventSource,
    emulationEndpoint: `${BASE}/emulation`,
    timeout: 5000,
    minReconnectDelay: 100,
    maxReconnectDelay: 1000,
    ...options,
  });
}

/** Resolve with the first `event` emitted by `emitter` whose context passes `filter`, or reject after `ms`. */
export function once(emitter, event, { ms = 5000, filter = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, handler);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    function handler(ctx) {
      if (!filter(ctx)) return;
      clearTimeout(timer);
      emitter.removeListener(event, handler);
      resolve(ctx);
    }
    emitter.on(event, handler);
  });
}

/** Collect every `event` context of `emitter` into an array (live). */
export function collect(emitter, event) {
  const items = [];
  emitter.on(event, (ctx) => items.push(ctx));
  return items;
}

/** Poll `check` until it returns truthy or `ms` passes. */
export async function waitUntil(check, { ms = 5000, step = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Disconnect `client` and wait until it reports disconnected. */
export async function closeClient(client) {
  if (client.state === 'disconnected') return;
  const done = once(client, 'disconnected', { ms: 3000 }).catch(() => {});
  client.disconnect();
  await done;
}

/** Label for test names. */
export function label({ codec, transport }) {
  return `${codec}/${transport}`;
}

/** Sleep helper. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
