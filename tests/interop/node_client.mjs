// Interop scenarios driven by the Node `ws` client.
//
// usage: node node_client.mjs --url ws[s]://127.0.0.1:PORT [--suite echo|scenarios] [--no-deflate-offered] [--ca CERT]
//
// `echo` runs the scenarios any echo server must pass; `scenarios` adds the server-side close paths of
// SPEC §6 served by core/examples/scenarios.rs. One line per scenario; exit 1 if any failed. Every wait is bounded.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import WebSocket from 'ws';

const require = createRequire(import.meta.url);
const WS_VERSION = require('ws/package.json').version;
const TIMEOUT_MS = 10_000;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const BASE = opt('--url').replace(/\/$/, '');
const SUITE = opt('--suite', 'echo');
const DEFLATE_OFFERED = !args.includes('--no-deflate-offered');
// wss:// against a server whose certificate is the --ca file (self-signed): verified, not skipped.
const CA = opt('--ca') ? { ca: readFileSync(opt('--ca')) } : {};

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** A client with a message queue, so scenarios can `await next()` and `await closed`. */
async function open(path = '/echo', { deflate = true, base = BASE, ...options } = {}) {
  const ws = new WebSocket(base + path, { perMessageDeflate: deflate, maxPayload: 0, ...CA, ...options });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data, isBinary };
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  ws.on('error', () => {}); // surfaced through 'close'
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await withTimeout(
    new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    }),
    'open',
  );
  const next = () =>
    withTimeout(queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)), 'a message');
  return { ws, next, closed: withTimeout(closed, 'the close event') };
}

async function modes(body) {
  for (const deflate of [false, true]) {
    const c = await open('/echo', { deflate });
    if (!deflate) check(c.ws.extensions === '', `no extension without an offer, got ${c.ws.extensions}`);
    else if (DEFLATE_OFFERED) check(c.ws.extensions.startsWith('permessage-deflate'), `deflate not negotiated: '${c.ws.extensions}'`);
    await body(c, deflate);
    c.ws.close(1000);
    await c.closed;
  }
}

const SCENARIOS = [];
const scenario = (suite, name, fn) => SCENARIOS.push({ suite, name, fn });

scenario('echo', 'text messages come back as text with and without compression', () =>
  modes(async ({ ws, next }) => {
    for (const msg of ['hello', '', 'héllo wörld ✓ 🎉', 'repeat '.repeat(5000)]) {
      ws.send(msg);
      const got = await next();
      check(!got.isBinary && got.data.toString() === msg, `text echo mismatch (${msg.length} chars)`);
    }
  }),
);

scenario('echo', 'binary messages come back as binary with and without compression', () =>
  modes(async ({ ws, next }) => {
    for (const msg of [Buffer.from([0, 1, 2]), Buffer.alloc(0), randomBytes(70_000), Buffer.alloc(1 << 20, 'z')]) {
      ws.send(msg);
      const got = await next();
      check(got.isBinary && Buffer.compare(got.data, msg) === 0, `binary echo mismatch (${msg.length} bytes)`);
    }
  }),
);

scenario('echo', 'a fragmented message comes back as one message', () =>
  modes(async ({ ws, next }) => {
    const parts = Array.from({ length: 50 }, (_, i) => `frag-${i} `);
    parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1 }));
    const got = await next();
    check(!got.isBinary && got.data.toString() === parts.join(''), 'fragmented text not reassembled');
    const bparts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i));
    bparts.forEach((p, i) => ws.send(p, { binary: true, fin: i === bparts.length - 1 }));
    const bgot = await next();
    check(bgot.isBinary && Buffer.compare(bgot.data, Buffer.concat(bparts)) === 0, 'fragmented binary not reassembled');
  }),
);

scenario('echo', 'a ping is answered with a pong carrying the same payload', async () => {
  const { ws, next, closed } = await open();
  for (const payload of [Buffer.alloc(0), Buffer.from('ping-payload'), Buffer.alloc(125, 'x')]) {
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping(payload);
    const got = await withTimeout(pong, 'the pong');
    check(Buffer.compare(got, payload) === 0, 'pong payload differs from the ping payload');
  }
  ws.send('still open');
  check((await next()).data.toString() === 'still open', 'echo after pings');
  ws.close();
  await closed;
});

scenario('echo', 'a client close with a code is echoed with that code', async () => {
  const { ws, closed } = await open();
  ws.close(4000, 'client says bye');
  const c = await closed;
  check(c.code === 4000, `server echoed ${c.code}`);
});

scenario('echo', 'a client close without a code is echoed empty', async () => {
  const { ws, closed } = await open();
  ws.close(); // empty Close frame
  const c = await closed;
  check(c.code === 1005, `expected the empty Close echoed (1005), got ${c.code}`);
});

scenario('echo', 'invalid utf8 in a text message closes with 1007', async () => {
  const { ws, closed } = await open('/echo', { deflate: false });
  ws.send(Buffer.from([0x76, 0x61, 0x6c, 0x69, 0x64, 0xff, 0xfe]), { binary: false });
  const c = await closed;
  check(c.code === 1007, `expected Close 1007, got ${c.code}`);
});

async function firstThenClose(path, expectCode, expectReason) {
  const { ws, next, closed } = await open(path);
  ws.send('first');
  check((await next()).data.toString() === 'first', 'first message echoed');
  const c = await closed;
  check(c.code === expectCode, `expected Close ${expectCode}, got ${c.code} '${c.reason}'`);
  if (expectReason !== undefined) check(c.reason === expectReason, `expected reason '${expectReason}', got '${c.reason}'`);
}

scenario('scenarios', 'the handler returning closes with 1000', () => firstThenClose('/close-1000-after-first', 1000));
scenario('scenarios', 'a server close with a custom code and reason reaches the client', () =>
  firstThenClose('/close-4000-after-first', 4000, 'custom reason'),
);
scenario('scenarios', 'a failing handler closes with 1011', () => firstThenClose('/raise', 1011));
scenario('scenarios', 'terminate ends the connection without a close frame', () => firstThenClose('/terminate', 1006));

scenario('scenarios', 'a message over max frame size closes with 1009', async () => {
  for (const deflate of [false, true]) {
    const { ws, next, closed } = await open('/max-1k', { deflate });
    ws.send('x'.repeat(1024));
    check((await next()).data.toString() === 'x'.repeat(1024), 'a message at the limit is echoed');
    ws.send(deflate ? Buffer.alloc(100_000, 'y') : randomBytes(2000));
    const c = await closed;
    check(c.code === 1009, `expected Close 1009 (deflate ${deflate}), got ${c.code}`);
  }
});

scenario('scenarios', 'a missing pong closes with 1011 ping timeout', async () => {
  const { closed } = await open('/ping-timeout', { autoPong: false });
  const c = await closed;
  check(c.code === 1011 && c.reason === 'ping timeout', `expected 1011 'ping timeout', got ${c.code} '${c.reason}'`);
});

scenario('scenarios', 'server shutdown closes every session with 1001', async () => {
  const res = await withTimeout(fetch(BASE.replace('ws://', 'http://') + '/spawn-shutdown'), 'the spawn response');
  const port = (await res.text()).trim();
  const other = await open('/', { base: `ws://127.0.0.1:${port}` });
  const { ws, next, closed } = await open('/', { base: `ws://127.0.0.1:${port}` });
  ws.send('first');
  check((await next()).data.toString() === 'first', 'first message echoed');
  for (const c of [await closed, await other.closed]) check(c.code === 1001, `expected Close 1001, got ${c.code}`);
});

let failed = 0;
for (const { suite, name, fn } of SCENARIOS) {
  if (suite === 'scenarios' && SUITE !== 'scenarios') continue;
  try {
    await withTimeout(fn(), name);
    console.log(`  ok   node ws ${WS_VERSION}: ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`  FAIL node ws ${WS_VERSION}: ${name}: ${e.stack || e}`);
  }
}
process.exit(failed ? 1 : 0);
