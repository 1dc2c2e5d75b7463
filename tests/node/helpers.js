'use strict'
// Shared helpers: every wait is bounded so a bug fails the test instead of hanging it.
const { once } = require('node:events')
const { afterEach } = require('node:test')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
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

module.exports = { waitFor, within, listen, track, pair, rawPair, stop, refusedResponse, WsClient, tlsCredentials }
