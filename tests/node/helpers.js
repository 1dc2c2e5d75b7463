'use strict'
// Shared helpers: every wait is bounded so a bug fails the test instead of hanging it.
const { once } = require('node:events')
const { afterEach } = require('node:test')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const net = require('node:net')
const WsClient = require('ws')
const { WebSocketServer } = require('wssession')

const LIMIT_MS = 5000

/** Resolves with the event's arguments, or rejects after `ms`. */
function waitFor(emitter, event, ms = LIMIT_MS) {
  return within(once(emitter, event), ms, `event '${event}'`)
}

/** Races `promise` against a timeout. */
function within(promise, ms = LIMIT_MS, what = 'operation') {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Servers a test has not stopped yet: a live one keeps the process (and `node --test`) running. */
const live = new Set()

/** Returns `wss`, to be stopped after the test even when the test fails before stopping it. */
function track(wss) {
  live.add(wss)
  return wss
}

// Runs after every test of the file that requires this module (the hook of its root test).
afterEach(async () => {
  const left = [...live]
  live.clear()
  await Promise.allSettled(left.map((wss) => within(wss.shutdown({ grace: 0 }), LIMIT_MS, 'shutdown')))
})

/** A listening server on an ephemeral port, stopped after the test if the test does not stop it. */
async function listen(options = {}) {
  const wss = track(new WebSocketServer({ port: 0, ...options }))
  await waitFor(wss, 'listening')
  return wss
}

/** An open `ws` client plus the server-side socket of the same connection. */
async function pair(wss, path = '/', clientOptions, protocols) {
  const conn = waitFor(wss, 'connection')
  const client = new WsClient(`ws://127.0.0.1:${wss.address().port}${path}`, protocols, clientOptions)
  client.on('error', () => {})
  await waitFor(client, 'open')
  const [ws, req] = await conn
  return { client, ws, req }
}

/** A raw TCP client upgraded by hand (for peers that misbehave), plus the server-side socket. */
async function rawPair(wss) {
  const net = require('node:net')
  const conn = waitFor(wss, 'connection')
  const sock = net.connect(wss.address().port, '127.0.0.1')
  sock.on('error', () => {})
  await waitFor(sock, 'connect')
  sock.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  )
  const [ws] = await conn
  return { sock, ws }
}

/** Stops the server and ends every session. */
async function stop(wss) {
  live.delete(wss)
  await within(wss.shutdown({ grace: 200 }), LIMIT_MS, 'shutdown')
}

/** The response to a refused handshake: status, headers and body. */
async function refusedResponse(client) {
  const [, res] = await waitFor(client, 'unexpected-response')
  let body = ''
  res.setEncoding('utf8')
  res.on('data', (d) => (body += d))
  await waitFor(res, 'end')
  return { status: res.statusCode, headers: res.headers, body }
}

let credentials = null

/** A self-signed certificate for 127.0.0.1 made with openssl (once per process): `{ certPath, keyPath, cert, key }`. */
function tlsCredentials() {
  if (credentials) return credentials
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wssession-tls-'))
  const certPath = path.join(dir, 'cert.pem')
  const keyPath = path.join(dir, 'key.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyPath, '-out', certPath],
    { stdio: 'ignore' },
  )
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  credentials = { certPath, keyPath, cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) }
  return credentials
}

/** Sends one RESP command to the Redis at `port`; resolves with the raw reply (rejects if nothing listens). */
function redisCommand(port, ...args) {
  return within(
    new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1')
      let reply = ''
      sock.on('error', reject)
      sock.on('data', (d) => {
        reply += d
        if (reply.endsWith('\r\n')) {
          sock.end()
          resolve(reply)
        }
      })
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
    }),
    LIMIT_MS,
    'redis reply',
  )
}

/** A real redis-server (`make brokers` installs it) on a free loopback port, without persistence,
 * stopped by pid when the test ends; resolves with its `redis://` URL and port. */
async function startRedis(t) {
  const probe = net.createServer().listen(0, '127.0.0.1')
  await waitFor(probe, 'listening')
  const { port } = probe.address()
  probe.close()
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.after(() => {
    proc.kill('SIGTERM')
    return proc.exitCode === null ? waitFor(proc, 'exit') : undefined
  })
  // redis-server offers no readiness signal but its port: ask until it answers.
  for (let i = 0; ; i++) {
    try {
      await redisCommand(port, 'PING')
      break
    } catch (e) {
      if (i > 1000 || proc.exitCode !== null) throw e
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  return { url: `redis://127.0.0.1:${port}`, port }
}

/** Waits until `count` servers listen on the Redis pub/sub `channel` (PUBSUB NUMSUB). */
async function redisListening(port, channel, count) {
  for (let i = 0; i < 1000; i++) {
    const reply = await redisCommand(port, 'PUBSUB', 'NUMSUB', channel)
    if (Number(reply.slice(reply.lastIndexOf(':') + 1)) === count) return
  }
  throw new Error(`${channel} never had ${count} listeners`)
}

/** The messages a `ws` client receives, one at a time (text as strings). */
class Inbox {
  constructor(client) {
    this._queue = []
    this._waiters = []
    client.on('message', (data, isBinary) => {
      const m = isBinary ? data : data.toString()
      const w = this._waiters.shift()
      if (w) w(m)
      else this._queue.push(m)
    })
    client.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      for (const w of this._waiters.splice(0)) w(this.closed)
    })
  }

  /** The next message (or the close `{ code, reason }` once closed), bounded. */
  next() {
    if (this._queue.length) return Promise.resolve(this._queue.shift())
    if (this.closed) return Promise.resolve(this.closed)
    return within(new Promise((resolve) => this._waiters.push(resolve)), LIMIT_MS, 'message')
  }
}

module.exports = {
  waitFor,
  within,
  listen,
  track,
  pair,
  rawPair,
  stop,
  refusedResponse,
  WsClient,
  tlsCredentials,
  startRedis,
  redisListening,
  Inbox,
}
