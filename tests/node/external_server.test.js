'use strict'
// Bring your own server (issue 12): a WebSocketServer on an http.Server (plain TCP sockets handed to the
// core by descriptor) or an https.Server (TLS sockets carried through the core's byte pump), with ws's
// { server }, { noServer } + handleUpgrade, shouldHandle, path, verifyClient, 'headers' and 'wsClientError'.
// Every behaviour runs on both transports; the clients are the real ws.
const test = require('node:test')
const assert = require('node:assert')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const tls = require('node:tls')
const { waitFor, within, stop, refusedResponse, WsClient, tlsCredentials } = require('./helpers')
const { WebSocketServer } = require('wssession')

const TRANSPORTS = [
  {
    name: 'http.Server (fd handover)',
    scheme: 'ws',
    create: (handler) => http.createServer(handler),
    clientOptions: () => ({}),
    connect: (port) => net.connect(port, '127.0.0.1'),
  },
  {
    name: 'https.Server (byte pump)',
    scheme: 'wss',
    create: (handler) => https.createServer({ cert: tlsCredentials().cert, key: tlsCredentials().key }, handler),
    clientOptions: () => ({ ca: tlsCredentials().cert }),
    connect: (port) => tls.connect({ port, host: '127.0.0.1', ca: tlsCredentials().cert }),
  },
]

async function listening(server) {
  server.listen(0, '127.0.0.1')
  await waitFor(server, 'listening')
  return server
}

function closeHost(server) {
  server.closeAllConnections()
  return within(new Promise((resolve) => server.close(resolve)), 5000, 'http server close')
}

/** A ws client to `path` on `server`, errors swallowed (tests wait for events instead). */
function client(t, server, path = '/', options = {}) {
  const c = new WsClient(`${t.scheme}://127.0.0.1:${server.address().port}${path}`, { ...t.clientOptions(), ...options })
  c.on('error', () => {})
  return c
}

/** An open client and the server-side socket of the same connection. */
async function connected(t, server, wss) {
  const conn = waitFor(wss, 'connection')
  const c = client(t, server)
  await waitFor(c, 'open')
  const [ws] = await conn
  return { c, ws }
}

/** The body of a plain HTTP GET of `path` on `server`. */
function httpGet(t, server, path) {
  const lib = t.scheme === 'wss' ? https : http
  return new Promise((resolve, reject) => {
    lib
      .get({ host: '127.0.0.1', port: server.address().port, path, ...t.clientOptions() }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve(body))
      })
      .on('error', reject)
  })
}

/** Sends `head` on a raw connection and resolves with everything the server answers until it closes. */
async function rawExchange(t, port, head) {
  const sock = t.connect(port)
  sock.on('error', () => {})
  let answer = ''
  sock.setEncoding('latin1')
  sock.on('data', (d) => (answer += d))
  sock.write(head)
  await waitFor(sock, 'close')
  return answer
}

for (const t of TRANSPORTS) {
  test(`${t.name}: { server } serves WebSocket upgrades beside the server's own HTTP requests`, async () => {
    const server = await listening(t.create((req, res) => res.end(`http ${req.url}`)))
    const wss = new WebSocketServer({ server })
    try {
      assert.deepStrictEqual(wss.address(), server.address())
      wss.on('connection', (ws, req) => {
        assert.ok(req instanceof http.IncomingMessage, 'the request is the http server\'s own IncomingMessage')
        ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }))
      })
      const c = client(t, server, '/chat?room=1')
      await waitFor(c, 'open')
      const echoed = waitFor(c, 'message')
      c.send('over the external server')
      assert.strictEqual(String((await echoed)[0]), 'over the external server')
      assert.strictEqual(await within(httpGet(t, server, '/page')), 'http /page')
      const closed = waitFor(c, 'close')
      c.close(4000, 'bye')
      assert.strictEqual((await closed)[0], 4000)
      assert.strictEqual(wss.clients.size, 0)
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: sessions behave as on the own listener (ping/pong, close codes, 1006 on a dropped connection)`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ server })
    try {
      const { c, ws } = await connected(t, server, wss)
      const ping = waitFor(ws, 'ping')
      c.ping('p1')
      assert.strictEqual(String((await ping)[0]), 'p1')
      const clientPing = waitFor(c, 'ping')
      ws.ping('p2')
      assert.strictEqual(String((await clientPing)[0]), 'p2')
      c.terminate()
      assert.deepStrictEqual(await within(ws.closeReason), { code: 1006, reason: '', initiator: 'abnormal' })

      const conn2 = waitFor(wss, 'connection')
      const c2 = client(t, server)
      const [ws2] = await conn2
      const closed = waitFor(c2, 'close')
      ws2.close(4001, 'server says bye')
      const [code, reason] = await closed
      assert.deepStrictEqual([code, String(reason)], [4001, 'server says bye'])
      assert.deepStrictEqual(await within(ws2.closeReason), { code: 4001, reason: 'server says bye', initiator: 'local' })
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: large messages cross both ways while the other side is not reading (backpressure)`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ server })
    try {
      const { c, ws } = await connected(t, server, wss)
      const big = Buffer.alloc(16 << 20)
      for (let i = 0; i < big.length; i += 4096) big[i] = i >> 12
      c.pause()
      ws.send(big)
      assert.ok(ws.bufferedAmount > 0)
      const atClient = waitFor(c, 'message', 30000)
      c.resume()
      assert.ok((await atClient)[0].equals(big), 'the server->client message arrives intact')
      ws.pause()
      c.send(big)
      const atServer = waitFor(ws, 'message', 30000)
      ws.resume()
      assert.ok((await atServer)[0].equals(big), 'the client->server message arrives intact')
      c.close()
      await within(ws.closeReason)
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: path with an external server answers other paths with 400 and leaves HTTP to the server`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ server, path: '/ws' })
    try {
      assert.strictEqual(wss.shouldHandle({ url: '/ws?x=1' }), true)
      assert.strictEqual(wss.shouldHandle({ url: '/other' }), false)
      const wrong = await within(refusedResponse(client(t, server, '/other')))
      assert.strictEqual(wrong.status, 400)
      const ok = client(t, server, '/ws?x=1')
      await waitFor(ok, 'open')
      ok.close()
      await waitFor(ok, 'close')
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: several WebSocketServers share one server, routed by pathname (noServer + handleUpgrade)`, async () => {
    const server = await listening(t.create())
    const a = new WebSocketServer({ noServer: true })
    const b = new WebSocketServer({ noServer: true })
    assert.throws(() => a.address(), /noServer/)
    server.on('upgrade', (req, socket, head) => {
      const target = req.url.startsWith('/a') ? a : req.url.startsWith('/b') ? b : null
      if (!target) return socket.destroy()
      target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req))
    })
    try {
      const seen = []
      a.on('connection', (ws, req) => seen.push(['a', req.url]) && ws.send('from a'))
      b.on('connection', (ws, req) => seen.push(['b', req.url]) && ws.send('from b'))
      const ca = client(t, server, '/a')
      const cb = client(t, server, '/b')
      const [[ma], [mb]] = await Promise.all([waitFor(ca, 'message'), waitFor(cb, 'message')])
      assert.deepStrictEqual([String(ma), String(mb)], ['from a', 'from b'])
      assert.deepStrictEqual(seen.sort(), [['a', '/a'], ['b', '/b']])
      assert.strictEqual(a.clients.size + b.clients.size, 2)
      const [err] = await waitFor(client(t, server, '/nowhere'), 'error')
      assert.strictEqual(err.code, 'ECONNRESET')
      ca.close()
      cb.close()
      await Promise.all([waitFor(ca, 'close'), waitFor(cb, 'close')])
    } finally {
      await Promise.all([stop(a), stop(b)])
      await closeHost(server)
    }
  })

  test(`${t.name}: verifyClient (sync and async) and a 'headers' listener apply to handed-over connections`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({
      server,
      verifyClient(info, cb) {
        assert.strictEqual(info.secure, t.scheme === 'wss')
        setImmediate(() => (info.req.headers['x-token'] === 'ok' ? cb(true) : cb(false, 403, 'No token', { 'X-Why': ['missing', 'token'] })))
      },
    })
    wss.on('headers', (headers, req) => headers.push(`X-Path: ${req.url}`))
    try {
      const refused = await within(refusedResponse(client(t, server, '/')))
      assert.deepStrictEqual([refused.status, refused.body, refused.headers['x-why']], [403, 'No token', 'missing, token'])
      const c = client(t, server, '/p', { headers: { 'x-token': 'ok' } })
      const opened = waitFor(c, 'open')
      const [res] = await waitFor(c, 'upgrade')
      assert.strictEqual(res.headers['x-path'], '/p')
      await opened
      c.close()
      await waitFor(c, 'close')
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: an invalid upgrade gets the core's 4xx, or goes to a 'wsClientError' listener with its socket`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ server })
    const bad = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n'
    try {
      const answer = await within(rawExchange(t, server.address().port, bad))
      assert.match(answer, /^HTTP\/1\.1 400 /)
      const seen = []
      wss.on('wsClientError', (err, socket, req) => {
        seen.push([err instanceof Error, req.headers['sec-websocket-key']])
        socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\n\r\n')
      })
      const custom = await within(rawExchange(t, server.address().port, bad))
      assert.match(custom, /^HTTP\/1\.1 418 /)
      assert.deepStrictEqual(seen, [[true, 'short']])
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: wss.close() keeps open sessions and reports 'close' when they end; later upgrades get 503`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ noServer: true })
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)))
    try {
      const conn = waitFor(wss, 'connection')
      const c = client(t, server)
      const [ws] = await conn
      let closed = false
      wss.close(() => (closed = true))
      const late = await within(refusedResponse(client(t, server)))
      assert.strictEqual(late.status, 503)
      const echo = waitFor(c, 'message')
      ws.send('still here')
      assert.strictEqual(String((await echo)[0]), 'still here')
      assert.strictEqual(closed, false)
      c.close()
      await waitFor(wss, 'close')
      assert.strictEqual(closed, true)
    } finally {
      await closeHost(server)
    }
  })

  test(`${t.name}: frames sent in the same packet as the request (the 'upgrade' head) reach the session`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ server })
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`echo ${d}`)))
    try {
      const mask = Buffer.from([1, 2, 3, 4])
      const payload = Buffer.from('early')
      const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4])])
      const request =
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
      const sock = t.connect(server.address().port)
      sock.on('error', () => {})
      let answer = Buffer.alloc(0)
      const echoed = new Promise((resolve) =>
        sock.on('data', (d) => {
          answer = Buffer.concat([answer, d])
          if (answer.includes('echo early')) resolve()
        }),
      )
      sock.write(Buffer.concat([Buffer.from(request), frame]))
      await within(echoed)
      assert.match(answer.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/)
      sock.destroy()
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: maxConnections counts handed-over connections: beyond it the core answers 503 and the callback never runs`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ noServer: true, maxConnections: 1 })
    let callbacks = 0
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        callbacks++
        wss.emit('connection', ws, req)
      }),
    )
    try {
      const first = client(t, server)
      await waitFor(first, 'open')
      const second = await within(refusedResponse(client(t, server)))
      assert.strictEqual(second.status, 503)
      assert.strictEqual(callbacks, 1)
      // Nothing is kept for the refused connection once the core reports it (bounded wait, no sleep).
      await within((async () => {
        while (wss._adopting.size > 0) await new Promise((r) => setImmediate(r))
      })())
      first.close()
      await waitFor(first, 'close')
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })

  test(`${t.name}: a host that wrote the 101 itself starts the session with the negotiated permessage-deflate (Ktor start)`, async () => {
    const server = await listening(t.create())
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: { serverMaxWindowBits: 10, threshold: 0 } })
    server.on('upgrade', (req, socket, head) => {
      const response = wss.handshakeResponse(req)
      socket.write(`${response.lines.join('\r\n')}\r\n\r\n`, () => {
        const ws = wss.adoptUpgraded(req, socket, head, { protocol: response.protocol, extensions: response.extensions })
        assert.strictEqual(ws.readyState, ws.CONNECTING)
        ws.start()
        wss.emit('connection', ws, req)
      })
    })
    try {
      const conn = waitFor(wss, 'connection')
      let wire = null
      const c = client(t, server, '/', {
        perMessageDeflate: { clientMaxWindowBits: 11 },
        createConnection: (opts) => (wire = t.scheme === 'wss' ? tls.connect({ ...opts, servername: '' }) : net.connect(opts)),
      })
      const opened = waitFor(c, 'open')
      const [res] = await waitFor(c, 'upgrade')
      const agreed = res.headers['sec-websocket-extensions']
      assert.match(agreed, /^permessage-deflate/)
      assert.match(agreed, /server_max_window_bits=10/)
      assert.match(agreed, /client_max_window_bits=11/)
      const [ws] = await conn
      assert.strictEqual(ws.extensions, 'permessage-deflate')
      ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }))
      await opened
      const text = 'compress me '.repeat(100000)
      const before = wire.bytesRead
      const echoed = waitFor(c, 'message')
      c.send(text)
      assert.strictEqual(String((await echoed)[0]), text)
      assert.ok(wire.bytesRead - before < text.length / 10, `the echo crossed the wire compressed (${wire.bytesRead - before} bytes)`)
      c.close()
      await within(ws.closeReason)
    } finally {
      await stop(wss)
      await closeHost(server)
    }
  })
}

test('an Express app serves its HTTP routes and WebSocket upgrades on one port', async () => {
  const express = require('express')
  const app = express()
  app.use(express.json())
  app.get('/health', (req, res) => res.json({ ok: true }))
  app.post('/echo', (req, res) => res.json(req.body))
  const server = await listening(http.createServer(app))
  const wss = new WebSocketServer({ server, path: '/live' })
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ hello: new URL(req.url, 'http://x').searchParams.get('user') }))
    ws.on('message', (d) => ws.send(`got ${d}`))
  })
  try {
    const base = `http://127.0.0.1:${server.address().port}`
    assert.deepStrictEqual(await (await fetch(`${base}/health`)).json(), { ok: true })
    const posted = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' })
    assert.deepStrictEqual(await posted.json(), { a: [1, 2] })
    const c = new WsClient(`ws://127.0.0.1:${server.address().port}/live?user=ada`)
    c.on('error', () => {})
    const [hello] = await waitFor(c, 'message')
    assert.deepStrictEqual(JSON.parse(hello), { hello: 'ada' })
    const reply = waitFor(c, 'message')
    c.send('ping over express')
    assert.strictEqual(String((await reply)[0]), 'got ping over express')
    assert.strictEqual((await fetch(`${base}/missing`)).status, 404)
    c.close()
    await waitFor(c, 'close')
  } finally {
    await stop(wss)
    await closeHost(server)
  }
})
