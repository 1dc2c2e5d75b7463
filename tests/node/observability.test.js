'use strict'
// Issue 16: the engine's log records as 'log' events at the asked level only, 'handshakeRefused' for a
// refused upgrade, and stats()/metrics() (also served on metricsPath) counting a scripted run exactly.
const test = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const net = require('node:net')
const WsClient = require('ws')
const { waitFor, within, listen, pair } = require('./helpers')

/** Resolves with the first 'log' entry matching `pred`. */
function logEntry(wss, pred) {
  return within(
    new Promise((resolve) => {
      const on = (e) => {
        if (pred(e)) {
          wss.off('log', on)
          resolve(e)
        }
      }
      wss.on('log', on)
    }),
    undefined,
    'a matching log record',
  )
}

/** A raw connection that upgrades and sends an unmasked frame (a protocol violation). */
async function sendUnmasked(port) {
  const sock = net.connect(port, '127.0.0.1')
  await waitFor(sock, 'connect')
  sock.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  )
  await waitFor(sock, 'data')
  sock.write(Buffer.from([0x81, 0x02, 0x68, 0x69]))
  return sock
}

test('a refused upgrade emits handshakeRefused and an info record with status and path', async () => {
  const wss = await listen({ path: '/chat', logLevel: 'info' })
  const refused = waitFor(wss, 'handshakeRefused')
  const record = logEntry(wss, (e) => e.message === 'handshake refused')
  const client = new WsClient(`ws://127.0.0.1:${wss.address().port}/elsewhere`)
  client.on('error', () => {})
  const [err, request] = await refused
  assert.strictEqual(err.code, 'WSS_ERR_HANDSHAKE_REFUSED')
  assert.strictEqual(err.status, 400)
  assert.strictEqual(request.url, '/elsewhere')
  const e = await record
  assert.strictEqual(e.level, 'info')
  assert.strictEqual(e.fields.status, '400')
  assert.strictEqual(e.fields.path, '/elsewhere')
  await wss.shutdown({ grace: 100 })
})

test('a violation is a warn record with its kind; info records never reach JS at warn', async () => {
  const wss = await listen({ logLevel: 'warn' })
  const levels = []
  wss.on('log', (e) => levels.push(e.level))
  const violation = logEntry(wss, (e) => e.message === 'protocol violation')
  const sock = await sendUnmasked(wss.address().port)
  const e = await violation
  assert.strictEqual(e.level, 'warn')
  assert.strictEqual(e.fields.kind, 'unmasked')
  assert.strictEqual(e.fields.code, '1002')
  assert.ok(Number(e.fields.id) > 0)
  sock.destroy()
  await wss.shutdown({ grace: 100 })
  assert.deepStrictEqual(levels, ['warn'])
})

test('without logLevel no record is delivered', async () => {
  const wss = await listen()
  let records = 0
  wss.on('log', () => records++)
  const sock = await sendUnmasked(wss.address().port)
  await waitFor(sock, 'close')
  await wss.shutdown({ grace: 100 })
  assert.strictEqual(records, 0)
})

test('stats() and the metrics path count a scripted run exactly', async () => {
  const wss = await listen({ path: '/', maxPayload: 1024, metricsPath: '/metrics' })
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
  const serverSides = []
  for (let i = 0; i < 3; i++) {
    const { client, ws } = await pair(wss)
    serverSides.push(waitFor(ws, 'close'))
    for (let j = 0; j < 4; j++) {
      client.send('twelve bytes')
      const [data] = await waitFor(client, 'message')
      assert.strictEqual(data.toString(), 'twelve bytes')
    }
    client.close(1000)
    await waitFor(client, 'close')
  }
  const refused = new WsClient(`ws://127.0.0.1:${wss.address().port}/nowhere`)
  const [refusal] = await waitFor(refused, 'error')
  assert.match(refusal.message, /400/)
  const { client, ws } = await pair(wss)
  const failed = waitFor(ws, 'error')
  serverSides.push(new Promise((resolve) => ws.on('close', resolve)))
  client.send(Buffer.alloc(2000))
  assert.match((await failed)[0].message, /1009/)
  const [code] = await waitFor(client, 'close')
  assert.strictEqual(code, 1009)
  // A session is counted as ended before its 'close' event.
  await Promise.all(serverSides)
  const stats = wss.stats()
  assert.strictEqual(stats.connectionsOpen, 0)
  assert.strictEqual(stats.connectionsTotal, 4)
  assert.strictEqual(stats.messagesIn, 12)
  assert.strictEqual(stats.bytesOut, 12 * 12)
  assert.deepStrictEqual(stats.handshakesRefused, { 400: 1 })
  assert.deepStrictEqual(
    stats.closes.map((c) => [c.code, c.initiator, c.count]).sort(),
    [
      [1000, 'remote', 3],
      [1009, 'local', 1],
    ],
  )
  assert.deepStrictEqual(stats.violations, { too_big: 1 })
  const body = await within(
    new Promise((resolve, reject) => {
      http.get(`http://127.0.0.1:${wss.address().port}/metrics`, (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], text }))
      }).on('error', reject)
    }),
  )
  assert.strictEqual(body.status, 200)
  assert.match(body.type, /^application\/openmetrics-text/)
  // The same figures as metrics() (the order of labelled series is not fixed).
  const lines = (text) => text.split('\n').sort()
  assert.deepStrictEqual(lines(body.text), lines(wss.metrics()))
  assert.match(body.text, /^wssession_closes_total\{code="1009",initiator="local"\} 1$/m)
  await wss.shutdown({ grace: 100 })
})

test('NODE_DEBUG=wssession prints the records to stderr', () => {
  const { spawnSync } = require('node:child_process')
  const code = `
    const { WebSocketServer } = require('wssession'); const WS = require('ws')
    const wss = new WebSocketServer({ port: 0, path: '/chat' }, () => {
      const c = new WS('ws://127.0.0.1:' + wss.address().port + '/elsewhere')
      c.on('error', () => wss.shutdown({ grace: 10 }))
    })`
  const env = { ...process.env, NODE_DEBUG: 'wssession' }
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 15000, cwd: __dirname, env })
  assert.strictEqual(r.status, 0, r.stderr)
  assert.match(r.stderr, /WSSESSION \d+: info handshake refused .*"status":"400"/)
})
