'use strict'
// The WebSocketServer options not covered elsewhere, each shown to have its effect with the real ws client
// (or a raw socket where ws's client would hide it): host, backlog, pingInterval/pingTimeout,
// handshakeTimeout, tls, perMessageDeflate's context-takeover flags, and maxFragments.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const { execFileSync } = require('node:child_process')
const { waitFor, within, listen, pair, stop, WsClient, tlsCredentials } = require('./helpers')

/** Opens a ws client on `url` and resolves with it once open (plus the 101's headers). */
async function open(url, options) {
  const client = new WsClient(url, options)
  client.on('error', () => {})
  const upgrade = waitFor(client, 'upgrade')
  await waitFor(client, 'open')
  const [res] = await upgrade
  return { client, headers: res.headers }
}

test('host binds the given address only', async () => {
  const wss = await listen({ host: '127.0.0.2' })
  const { address, port } = wss.address()
  assert.strictEqual(address, '127.0.0.2')
  const { client } = await open(`ws://127.0.0.2:${port}`)
  client.close()
  const elsewhere = net.connect(port, '127.0.0.1')
  const [err] = await waitFor(elsewhere, 'error')
  assert.strictEqual(err.code, 'ECONNREFUSED')
  await stop(wss)
})

test('backlog is the listen queue length of the socket (ss reports it)', async () => {
  const wss = await listen({ backlog: 7 })
  const { port } = wss.address()
  const out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' })
  // State Recv-Q Send-Q Local Peer: for a listener, Send-Q is the backlog.
  assert.strictEqual(out.trim().split(/\s+/)[2], '7', out)
  await stop(wss)
})

test('pingInterval pings the client and pingTimeout closes one that never answers with 1011', async () => {
  const wss = await listen({ pingInterval: 20, pingTimeout: 60 })
  const { port } = wss.address()
  const { client } = await open(`ws://127.0.0.1:${port}`, { autoPong: false })
  const ping = waitFor(client, 'ping')
  const closed = waitFor(client, 'close')
  await ping
  const [code, reason] = await closed
  assert.strictEqual(code, 1011)
  assert.strictEqual(String(reason), 'ping timeout')
  await stop(wss)
})

test('handshakeTimeout answers a request head that does not arrive in time with 408', async () => {
  const wss = await listen({ handshakeTimeout: 50 })
  const sock = net.connect(wss.address().port, '127.0.0.1')
  sock.write('GET / HTTP/1.1\r\nHost: x\r\n') // never finished
  let answer = ''
  sock.on('data', (d) => (answer += d))
  await waitFor(sock, 'close')
  assert.match(answer, /^HTTP\/1\.1 408 /)
  await stop(wss)
})

test('tls serves wss:// with the given certificate and key files', async () => {
  const { certPath, keyPath, cert } = tlsCredentials()
  const wss = await listen({ tls: { cert: certPath, key: keyPath } })
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data)))
  const { client } = await open(`wss://127.0.0.1:${wss.address().port}`, { ca: cert })
  const echoed = waitFor(client, 'message')
  client.send('over tls')
  assert.strictEqual(String((await echoed)[0]), 'over tls')
  client.close()
  await stop(wss)
})

test('perMessageDeflate serverNoContextTakeover and clientNoContextTakeover are negotiated in the 101', async () => {
  const flags = { serverNoContextTakeover: true, clientNoContextTakeover: true }
  const wss = await listen({ perMessageDeflate: flags })
  const { client, headers } = await open(`ws://127.0.0.1:${wss.address().port}`, { perMessageDeflate: true })
  const ext = headers['sec-websocket-extensions']
  assert.match(ext, /permessage-deflate/)
  assert.match(ext, /server_no_context_takeover/)
  assert.match(ext, /client_no_context_takeover/)
  client.close()
  const plain = await listen({ perMessageDeflate: {} })
  const other = await open(`ws://127.0.0.1:${plain.address().port}`, { perMessageDeflate: true })
  assert.doesNotMatch(other.headers['sec-websocket-extensions'], /no_context_takeover/)
  other.client.close()
  await within(Promise.all([stop(wss), stop(plain)]))
})

test('maxFragments (default 16384) lets a message arrive in that many frames and closes one in more with 1008', async () => {
  const byDefault = await listen()
  assert.strictEqual(byDefault.options.maxFragments, 16384)
  await stop(byDefault)
  const wss = await listen({ maxFragments: 3 })
  const { client, ws } = await pair(wss)
  const errors = []
  ws.on('error', (e) => errors.push(e.code))
  const whole = waitFor(ws, 'message')
  client.send('a', { fin: false })
  client.send('b', { fin: false })
  client.send('c', { fin: true })
  assert.strictEqual(String((await whole)[0]), 'abc')
  const closed = waitFor(client, 'close')
  for (const part of ['a', 'b', 'c']) client.send(part, { fin: false })
  client.send('d', { fin: true })
  const [code] = await closed
  assert.strictEqual(code, 1008)
  await within(ws.closeReason)
  assert.deepStrictEqual(errors, ['WS_ERR_TOO_MANY_BUFFERED_PARTS'])
  await stop(wss)
})

test('maxConnections and handshakeTimeout below 1 throw the core RangeError naming its setting', () => {
  const { WebSocketServer } = require('wssession')
  const refused = [
    [{ port: 0, maxConnections: 0 }, /max_connections must be at least 1 \(got 0\)/],
    [{ port: 0, handshakeTimeout: 0 }, /handshake_timeout_ms must be at least 1 \(got 0\)/],
    [{ noServer: true, maxConnections: 0 }, /max_connections must be at least 1 \(got 0\)/],
  ]
  for (const [options, message] of refused) {
    const expected = { name: 'RangeError', code: 'WSSESSION_ERR_INVALID_ARGUMENT', message }
    assert.throws(() => new WebSocketServer(options), expected, JSON.stringify(options))
  }
})
