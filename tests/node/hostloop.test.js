'use strict'
// `hostLoop: true`: Node's own libuv loop reads the sockets; the behaviour seen by the real ws
// client must be the default mode's.
const test = require('node:test')
const assert = require('node:assert')
const net = require('node:net')
const { waitFor, within, listen, pair, stop, WsClient } = require('./helpers')
const { WebSocketServer } = require('wssession')

/** An echo server in host-loop mode. */
async function echoServer(options = {}) {
  const wss = await listen({ hostLoop: true, ...options })
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
  return wss
}

/** Collects `n` messages of `client`. */
function messages(client, n) {
  return within(
    new Promise((resolve) => {
      const got = []
      client.on('message', (data, isBinary) => {
        got.push([isBinary, Buffer.from(data)])
        if (got.length === n) resolve(got)
      })
    }),
  )
}

test('hostLoop echoes text and binary messages, small and large, in order', async () => {
  const wss = await echoServer()
  const { client } = await pair(wss)
  const big = Buffer.alloc(200 * 1024, 7)
  const got = messages(client, 4)
  client.send('hello')
  client.send(Buffer.from([1, 2, 3]))
  client.send(big)
  client.send('x'.repeat(5000))
  const out = await got
  assert.deepStrictEqual(out[0], [false, Buffer.from('hello')])
  assert.deepStrictEqual(out[1], [true, Buffer.from([1, 2, 3])])
  assert.ok(out[2][0] && out[2][1].equals(big))
  assert.deepStrictEqual(out[3], [false, Buffer.from('x'.repeat(5000))])
  client.close(1000)
  await waitFor(client, 'close')
  await stop(wss)
})

test('hostLoop: many messages sent at once all arrive and are echoed in order', async () => {
  const wss = await echoServer()
  const { client } = await pair(wss)
  const n = 2000
  const got = messages(client, n)
  for (let i = 0; i < n; i++) client.send(String(i))
  const out = await got
  assert.deepStrictEqual(
    out.map(([, d]) => String(d)),
    Array.from({ length: n }, (_, i) => String(i)),
  )
  await stop(wss)
})

test('hostLoop: close codes and reasons reach both sides, as in the default mode', async () => {
  const wss = await echoServer()
  const { client, ws } = await pair(wss)
  const serverClose = waitFor(ws, 'close')
  client.close(4001, 'bye')
  const [code, reason] = await serverClose
  assert.strictEqual(code, 4001)
  assert.strictEqual(String(reason), 'bye')
  const [ccode] = await waitFor(client, 'close')
  assert.strictEqual(ccode, 4001)

  const second = await pair(wss)
  const clientClose = waitFor(second.client, 'close')
  second.ws.close(4002, 'server says')
  const [c2, r2] = await clientClose
  assert.strictEqual(c2, 4002)
  assert.strictEqual(String(r2), 'server says')
  assert.deepStrictEqual(await within(second.ws.closeReason), { code: 4002, reason: 'server says', initiator: 'local' })
  await stop(wss)
})

test('hostLoop: a paused socket delivers nothing until resumed, then everything in order', async () => {
  const wss = await listen({ hostLoop: true })
  const { client, ws } = await pair(wss)
  const got = []
  ws.on('message', (data) => got.push(String(data)))
  ws.pause()
  assert.strictEqual(ws.isPaused, true)
  // The echo of a ping proves the earlier messages reached the server while it was paused.
  client.send('a')
  client.send('b')
  const pong = waitFor(client, 'pong')
  client.ping('probe')
  await pong
  assert.deepStrictEqual(got, [])
  const all = within(
    new Promise((resolve) => ws.on('message', () => got.length === 3 && resolve())),
  )
  ws.resume()
  client.send('c')
  await all
  assert.deepStrictEqual(got, ['a', 'b', 'c'])
  await stop(wss)
})

test('hostLoop: messages a client sends with its upgrade request are delivered after the open', async () => {
  const wss = await echoServer()
  const opened = []
  wss.on('connection', (ws) => opened.push(ws))
  const sock = net.connect(wss.address().port, '127.0.0.1')
  await waitFor(sock, 'connect')
  // The request and a masked text frame "hi" in one write.
  const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2])
  sock.write(
    Buffer.concat([
      Buffer.from(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
      frame,
    ]),
  )
  let received = Buffer.alloc(0)
  const echoed = within(
    new Promise((resolve) => {
      sock.on('data', (d) => {
        received = Buffer.concat([received, d])
        const head = received.indexOf('\r\n\r\n')
        if (head >= 0 && received.length >= head + 4 + 4) resolve(received.subarray(head + 4))
      })
    }),
  )
  const body = await echoed
  assert.ok(received.toString().startsWith('HTTP/1.1 101'))
  assert.deepStrictEqual([...body.subarray(0, 4)], [0x81, 0x02, 'h'.charCodeAt(0), 'i'.charCodeAt(0)])
  assert.strictEqual(opened.length, 1)
  sock.destroy()
  await stop(wss)
})

test('hostLoop: pings are answered with their payload and reported to JS', async () => {
  const wss = await listen({ hostLoop: true })
  const { client, ws } = await pair(wss)
  const seen = waitFor(ws, 'ping')
  const pong = waitFor(client, 'pong')
  client.ping('abc')
  assert.strictEqual(String((await seen)[0]), 'abc')
  assert.strictEqual(String((await pong)[0]), 'abc')
  // And the server's pings reach the client.
  const clientPing = waitFor(client, 'ping')
  const serverPong = waitFor(ws, 'pong')
  ws.ping('from server')
  assert.strictEqual(String((await clientPing)[0]), 'from server')
  assert.strictEqual(String((await serverPong)[0]), 'from server')
  await stop(wss)
})

test('hostLoop: terminate ends the connection at once with 1006 on both sides', async () => {
  const wss = await echoServer()
  const { client, ws } = await pair(wss)
  const serverClose = waitFor(ws, 'close')
  const clientClose = waitFor(client, 'close')
  ws.terminate()
  assert.strictEqual((await serverClose)[0], 1006)
  assert.strictEqual((await clientClose)[0], 1006)
  // The server still serves new connections.
  const again = await pair(wss)
  const got = waitFor(again.client, 'message')
  again.client.send('still here')
  assert.strictEqual(String((await got)[0]), 'still here')
  await stop(wss)
})

test('hostLoop: a client that goes away without a Close is reported as 1006', async () => {
  const wss = await echoServer()
  const { client, ws } = await pair(wss)
  const serverClose = waitFor(ws, 'close')
  client.terminate()
  assert.strictEqual((await serverClose)[0], 1006)
  await stop(wss)
})

test('hostLoop with tls is refused by name when the server is made', () => {
  assert.throws(
    () => new WebSocketServer({ port: 0, hostLoop: true, tls: { cert: '/nonexistent.pem', key: '/nonexistent.pem' } }),
    (e) => /host_read/.test(e.message) && /tls/.test(e.message),
  )
  assert.throws(() => new WebSocketServer({ port: 0, hostLoop: 'yes' }), TypeError)
})

test('hostLoop: the process exits once the server is closed and its clients are gone', async () => {
  const { spawn } = require('node:child_process')
  const script = `
    const { WebSocketServer } = require('wssession')
    const WsClient = require(${JSON.stringify(require.resolve('ws'))})
    const wss = new WebSocketServer({ port: 0, hostLoop: true })
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)))
    wss.on('listening', () => {
      const c = new WsClient('ws://127.0.0.1:' + wss.address().port)
      c.on('open', () => c.send('x'))
      c.on('message', () => { c.close(); wss.close() })
    })
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: 'inherit', cwd: __dirname })
  const [code] = await waitFor(child, 'exit', 10000)
  assert.strictEqual(code, 0)
})

test('hostLoop sockets are ws WebSocket-compatible for a ws client that speaks first', async () => {
  const wss = await echoServer()
  const client = new WsClient(`ws://127.0.0.1:${wss.address().port}`)
  // Sent as soon as the handshake completes, before the server's 'connection' handler may have run.
  client.on('open', () => client.send('early'))
  const [data] = await waitFor(client, 'message')
  assert.strictEqual(String(data), 'early')
  client.close()
  await stop(wss)
})

test('hostLoop with an http.Server: the upgraded sockets handed over by descriptor are read by Node\'s loop', async () => {
  const http = require('node:http')
  const server = http.createServer((req, res) => res.end('plain'))
  server.listen(0, '127.0.0.1')
  await waitFor(server, 'listening')
  const wss = new WebSocketServer({ server, hostLoop: true })
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
  try {
    const client = new WsClient(`ws://127.0.0.1:${server.address().port}`)
    await waitFor(client, 'open')
    const got = waitFor(client, 'message')
    client.send('via http.Server')
    assert.strictEqual(String((await got)[0]), 'via http.Server')
    client.close(1000)
    await waitFor(client, 'close')
  } finally {
    await within(wss.shutdown({ grace: 0 }))
    server.close()
  }
})

test('hostLoop: an exception thrown by a message handler reaches process uncaughtException', async () => {
  const { spawn } = require('node:child_process')
  const script = `
    const { WebSocketServer } = require('wssession')
    const WsClient = require(${JSON.stringify(require.resolve('ws'))})
    const wss = new WebSocketServer({ port: 0, hostLoop: true })
    wss.on('connection', (ws) => ws.on('message', (d) => { throw new Error('thrown by ' + d) }))
    process.on('uncaughtException', (e) => { console.log('caught: ' + e.message); process.exit(0) })
    wss.on('listening', () => {
      const c = new WsClient('ws://127.0.0.1:' + wss.address().port)
      c.on('open', () => c.send('the handler'))
    })
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: __dirname })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const [code] = await waitFor(child, 'exit', 10000)
  assert.strictEqual(code, 0)
  assert.match(out, /caught: thrown by the handler/)
})

// ---- The handshake on the JS thread: with a port, hostLoop accepts and reads the request heads there too ----

const UPGRADE_HEAD =
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'

/** Everything the server sends on a raw connection given `chunks` (written in order), until it closes. */
async function rawExchange(port, chunks, gapMs = 0) {
  const sock = net.connect(port, '127.0.0.1')
  sock.on('error', () => {})
  let answer = Buffer.alloc(0)
  sock.on('data', (d) => (answer = Buffer.concat([answer, d])))
  const closed = waitFor(sock, 'close')
  await waitFor(sock, 'connect')
  for (const chunk of chunks) {
    sock.write(chunk)
    // Only makes separate reads at the server likely; what is asserted holds however the bytes arrive.
    if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs))
  }
  await closed
  return answer.toString('latin1')
}

test('hostLoop: many connect/close cycles each see their open and their close on both sides', async () => {
  const wss = await echoServer()
  const n = 200
  let opened = 0
  let closed = 0
  const allClosed = within(
    new Promise((resolve) => {
      wss.on('connection', (ws) => {
        opened++
        ws.on('close', (code) => {
          assert.strictEqual(code, 1000)
          if (++closed === n) resolve()
        })
      })
    }),
    20000,
    'every server-side close',
  )
  for (let i = 0; i < n; i++) {
    const client = new WsClient(`ws://127.0.0.1:${wss.address().port}`)
    await waitFor(client, 'open')
    client.close(1000)
    const [code] = await waitFor(client, 'close')
    assert.strictEqual(code, 1000)
  }
  await allClosed
  assert.strictEqual(opened, n)
  assert.strictEqual(wss.clients.size, 0)
  await stop(wss)
})

test('hostLoop: a malformed request head gets 400 and the connection is closed', async () => {
  const wss = await echoServer()
  const answer = await rawExchange(wss.address().port, ['NOT HTTP AT ALL\r\n\r\n'])
  assert.match(answer, /^HTTP\/1\.1 400 /)
  // A plain HTTP request without the upgrade gets 426, as in the default mode.
  const plain = await rawExchange(wss.address().port, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n'])
  assert.match(plain, /^HTTP\/1\.1 426 /)
  await stop(wss)
})

test('hostLoop: a request head arriving in several pieces is completed across reads', async () => {
  const wss = await echoServer()
  const opened = waitFor(wss, 'connection')
  const sock = net.connect(wss.address().port, '127.0.0.1')
  sock.on('error', () => {})
  await waitFor(sock, 'connect')
  let answer = ''
  const upgraded = within(
    new Promise((resolve) => {
      sock.on('data', (d) => {
        answer += d.toString('latin1')
        if (answer.includes('\r\n\r\n')) resolve()
      })
    }),
  )
  for (const piece of [UPGRADE_HEAD.slice(0, 5), UPGRADE_HEAD.slice(5, 60), UPGRADE_HEAD.slice(60)]) {
    sock.write(piece)
    // Only makes separate reads at the server likely; the upgrade must succeed however the bytes arrive.
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await upgraded
  assert.match(answer, /^HTTP\/1\.1 101 /)
  assert.match(answer, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i)
  await opened
  sock.destroy()
  await stop(wss)
})

test('hostLoop: a request head over the size limit is refused with 431', async () => {
  const wss = await echoServer()
  // One byte over the default 16 KiB limit and still unfinished: the server reads all of it (nothing is
  // left unread to turn its close into a reset) and refuses.
  const start = 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: '
  const answer = await rawExchange(wss.address().port, [start + 'a'.repeat(16 * 1024 + 1 - start.length)])
  assert.match(answer, /^HTTP\/1\.1 431 /)
  await stop(wss)
})

test('hostLoop: a request head that does not arrive within handshakeTimeout gets 408', async () => {
  const wss = await echoServer({ handshakeTimeout: 50 })
  const answer = await rawExchange(wss.address().port, ['GET / HTTP/1.1\r\nHost: x\r\n'])
  assert.match(answer, /^HTTP\/1\.1 408 /)
  // The server goes on serving.
  const { client } = await pair(wss)
  client.close()
  await stop(wss)
})

test('hostLoop: verifyClient still decides; a refusal gets its status and no connection opens', async () => {
  let asked = 0
  const wss = await listen({
    hostLoop: true,
    verifyClient: (info, cb) => {
      asked++
      if (info.req.url === '/no') cb(false, 403, 'Forbidden')
      else cb(true)
    },
  })
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)))
  const refused = new WsClient(`ws://127.0.0.1:${wss.address().port}/no`)
  refused.on('error', () => {})
  const [, res] = await waitFor(refused, 'unexpected-response')
  assert.strictEqual(res.statusCode, 403)
  const { client } = await pair(wss, '/yes')
  const echoed = waitFor(client, 'message')
  client.send('verified')
  assert.strictEqual(String((await echoed)[0]), 'verified')
  assert.strictEqual(asked, 2)
  assert.strictEqual(wss.clients.size, 1)
  await stop(wss)
})

test('hostLoop: maxConnections answers the connection beyond it with 503', async () => {
  const wss = await echoServer({ maxConnections: 1 })
  const { client } = await pair(wss)
  const answer = await rawExchange(wss.address().port, [UPGRADE_HEAD])
  assert.match(answer, /^HTTP\/1\.1 503 /)
  client.close()
  await stop(wss)
})

test('hostLoop: once the server is closed its port refuses connections; open sockets go on', async () => {
  const wss = await echoServer()
  const { client } = await pair(wss)
  const port = wss.address().port
  wss.close()
  const sock = net.connect(port, '127.0.0.1')
  const [err] = await waitFor(sock, 'error')
  assert.strictEqual(err.code, 'ECONNREFUSED')
  const echoed = waitFor(client, 'message')
  client.send('still open')
  assert.strictEqual(String((await echoed)[0]), 'still open')
  client.close()
  await waitFor(wss, 'close')
})
