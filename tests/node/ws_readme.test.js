'use strict'
// The ws README's server examples, unchanged apart from the import (and port 0 instead of 8080).
const test = require('node:test')
const assert = require('node:assert')
const WebSocket = require('ws') // the client side stays the real ws
const { WebSocketServer } = require('wssession')
const { waitFor, within, track, tlsCredentials } = require('./helpers')

/** Collects what console.log prints (the README examples report through it) until `restore()`. */
function captureConsole() {
  const lines = []
  const original = { log: console.log, error: console.error }
  console.log = (...args) => lines.push(require('node:util').format(...args))
  console.error = (...args) => lines.push(`error: ${require('node:util').format(...args)}`)
  return { lines, restore: () => Object.assign(console, original) }
}

/** Resolves once `lines` holds `line` (checked on every console.log). */
async function printed(lines, line) {
  while (!lines.includes(line)) await new Promise((r) => setImmediate(r))
}

function client(wss, protocols, opts) {
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}`, protocols, opts)
  c.on('error', () => {})
  return c
}

test('simple server: greets each client and receives its messages', async () => {
  const received = []
  // --- README: "Simple server" ---
  const wss = new WebSocketServer({ port: 0 })
  wss.on('connection', function connection(ws) {
    ws.on('error', console.error)
    ws.on('message', function message(data) {
      received.push(String(data))
    })
    ws.send('something')
  })
  // ---
  await waitFor(track(wss), 'listening')
  const c = client(wss)
  const [greeting] = await waitFor(c, 'message')
  assert.strictEqual(String(greeting), 'something')
  c.send('hello')
  c.close()
  await waitFor(c, 'close')
  await within(new Promise((r) => wss.close(r)))
  assert.deepStrictEqual(received, ['hello'])
})

test('broadcast to all connected clients, including the sender', async () => {
  // --- README: "Server broadcast" ---
  const wss = new WebSocketServer({ port: 0 })
  wss.on('connection', function connection(ws) {
    ws.on('error', console.error)
    ws.on('message', function message(data, isBinary) {
      wss.clients.forEach(function each(client) {
        if (client.readyState === WebSocket.OPEN) {
          client.send(data, { binary: isBinary })
        }
      })
    })
  })
  // ---
  await waitFor(track(wss), 'listening')
  const a = client(wss)
  const b = client(wss)
  await Promise.all([waitFor(a, 'open'), waitFor(b, 'open')])
  while (wss.clients.size < 2) await new Promise((r) => setImmediate(r))
  const got = Promise.all([waitFor(a, 'message'), waitFor(b, 'message')])
  a.send(Buffer.from([1, 2, 3]))
  const [[da, ba], [db, bb]] = await got
  assert.deepStrictEqual([...da], [1, 2, 3])
  assert.deepStrictEqual([...db], [1, 2, 3])
  assert.strictEqual(ba, true)
  assert.strictEqual(bb, true)
  a.close()
  b.close()
  await Promise.all([waitFor(a, 'close'), waitFor(b, 'close')])
  await within(new Promise((r) => wss.close(r)))
})

test('verifyClient rejects a request with its status code and accepts others', async () => {
  const wss = new WebSocketServer({
    port: 0,
    verifyClient: (info, cb) => {
      if (info.req.headers['x-token'] !== 'secret') return cb(false, 401, 'Unauthorized')
      cb(true)
    },
  })
  await waitFor(track(wss), 'listening')
  const bad = client(wss)
  const [, res] = await waitFor(bad, 'unexpected-response')
  assert.strictEqual(res.statusCode, 401)
  res.resume()
  const good = client(wss, undefined, { headers: { 'x-token': 'secret' } })
  await waitFor(good, 'open')
  good.close()
  await waitFor(good, 'close')
  const sync = new WebSocketServer({ port: 0, verifyClient: () => false })
  await waitFor(track(sync), 'listening')
  const [, res2] = await waitFor(client(sync), 'unexpected-response')
  assert.strictEqual(res2.statusCode, 401)
  res2.resume()
  await within(new Promise((r) => wss.close(r)))
  await within(new Promise((r) => sync.close(r)))
})

test('handleProtocols picks the subprotocol the server answers with', async () => {
  const wss = new WebSocketServer({
    port: 0,
    handleProtocols: (protocols, request) => {
      assert.ok(protocols instanceof Set)
      assert.strictEqual(typeof request.headers, 'object')
      return protocols.has('chat.v2') ? 'chat.v2' : false
    },
  })
  await waitFor(track(wss), 'listening')
  const conn = waitFor(wss, 'connection')
  const c = client(wss, ['chat.v1', 'chat.v2'])
  await waitFor(c, 'open')
  const [ws] = await conn
  assert.strictEqual(c.protocol, 'chat.v2')
  assert.strictEqual(ws.protocol, 'chat.v2')
  c.close()
  await waitFor(c, 'close')
  await within(new Promise((r) => wss.close(r)))
})

test('without handleProtocols the first offered subprotocol is chosen, as ws does', async () => {
  const wss = new WebSocketServer({ port: 0 })
  await waitFor(track(wss), 'listening')
  const c = client(wss, ['a', 'b'])
  await waitFor(c, 'open')
  assert.strictEqual(c.protocol, 'a')
  c.close()
  await waitFor(c, 'close')
  await within(new Promise((r) => wss.close(r)))
})

test('external HTTP/S server: an https.Server carries the WebSocket server (README example)', async () => {
  const out = captureConsole()
  const { certPath, keyPath } = tlsCredentials()
  const { createServer } = require('node:https')
  const { readFileSync } = require('node:fs')
  try {
    // --- README: "External HTTP/S server" (cert paths: the test's own) ---
    const server = createServer({
      cert: readFileSync(certPath),
      key: readFileSync(keyPath)
    });
    const wss = new WebSocketServer({ server });

    wss.on('connection', function connection(ws) {
      ws.on('error', console.error);

      ws.on('message', function message(data) {
        console.log('received: %s', data);
      });

      ws.send('something');
    });

    server.listen(0);
    // ---
    await waitFor(server, 'listening')
    const c = new WebSocket(`wss://127.0.0.1:${server.address().port}`, { ca: readFileSync(certPath) })
    c.on('error', () => {})
    const [greeting] = await waitFor(c, 'message')
    assert.strictEqual(String(greeting), 'something')
    c.send('hello over TLS')
    await within(printed(out.lines, 'received: hello over TLS'))
    c.close()
    await waitFor(c, 'close')
    await within(new Promise((r) => wss.close(r)))
    await within(new Promise((r) => server.close(r)))
  } finally {
    out.restore()
  }
})

test('multiple servers sharing a single HTTP/S server, routed by pathname (README example)', async () => {
  const { createServer } = require('node:http')
  // --- README: "Multiple servers sharing a single HTTP/S server" ---
  const server = createServer();
  const wss1 = new WebSocketServer({ noServer: true });
  const wss2 = new WebSocketServer({ noServer: true });

  wss1.on('connection', function connection(ws) {
    ws.on('error', console.error);

    // ...
  });

  wss2.on('connection', function connection(ws) {
    ws.on('error', console.error);

    // ...
  });

  server.on('upgrade', function upgrade(request, socket, head) {
    const { pathname } = new URL(request.url, 'wss://base.url');

    if (pathname === '/foo') {
      wss1.handleUpgrade(request, socket, head, function done(ws) {
        wss1.emit('connection', ws, request);
      });
    } else if (pathname === '/bar') {
      wss2.handleUpgrade(request, socket, head, function done(ws) {
        wss2.emit('connection', ws, request);
      });
    } else {
      socket.destroy();
    }
  });

  server.listen(0);
  // ---
  await waitFor(server, 'listening')
  const url = (p) => `ws://127.0.0.1:${server.address().port}${p}`
  const atFoo = waitFor(wss1, 'connection')
  const foo = new WebSocket(url('/foo?x=1'))
  const fooOpen = waitFor(foo, 'open')
  const [, fooReq] = await atFoo
  assert.strictEqual(fooReq.url, '/foo?x=1')
  const atBar = waitFor(wss2, 'connection')
  const bar = new WebSocket(url('/bar'))
  const barOpen = waitFor(bar, 'open')
  await atBar
  await Promise.all([fooOpen, barOpen])
  assert.deepStrictEqual([wss1.clients.size, wss2.clients.size], [1, 1])
  const other = new WebSocket(url('/baz'))
  const [err] = await waitFor(other, 'error')
  assert.strictEqual(err.code, 'ECONNRESET')
  foo.close()
  bar.close()
  await Promise.all([waitFor(foo, 'close'), waitFor(bar, 'close')])
  await within(Promise.all([new Promise((r) => wss1.close(r)), new Promise((r) => wss2.close(r))]))
  await within(new Promise((r) => server.close(r)))
})

test('client authentication in the upgrade handler: 401 before the handshake, the user passed to connection (README example)', async () => {
  const out = captureConsole()
  const { createServer } = require('node:http')
  // The README leaves authenticate() to the application: a token header names the user.
  function authenticate(request, next) {
    const user = request.headers['x-user-token']
    setImmediate(() => (user ? next(null, user) : next(new Error('no token'))))
  }
  try {
    // --- README: "Client authentication" ---
    function onSocketError(err) {
      console.error(err);
    }

    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });

    wss.on('connection', function connection(ws, request, client) {
      ws.on('error', console.error);

      ws.on('message', function message(data) {
        console.log(`Received message ${data} from user ${client}`);
      });
    });

    server.on('upgrade', function upgrade(request, socket, head) {
      socket.on('error', onSocketError);

      // This function is not defined on purpose. Implement it with your own logic.
      authenticate(request, function next(err, client) {
        if (err || !client) {
          socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
          socket.destroy();
          return;
        }

        socket.removeListener('error', onSocketError);

        wss.handleUpgrade(request, socket, head, function done(ws) {
          wss.emit('connection', ws, request, client);
        });
      });
    });

    server.listen(0);
    // ---
    await waitFor(server, 'listening')
    const url = `ws://127.0.0.1:${server.address().port}`
    const anonymous = new WebSocket(url)
    anonymous.on('error', () => {})
    const [, res] = await waitFor(anonymous, 'unexpected-response')
    assert.strictEqual(res.statusCode, 401)
    res.resume()
    const ada = new WebSocket(url, { headers: { 'x-user-token': 'ada' } })
    await waitFor(ada, 'open')
    ada.send('hi')
    await within(printed(out.lines, 'Received message hi from user ada'))
    ada.close()
    await waitFor(ada, 'close')
    await within(new Promise((r) => wss.close(r)))
    await within(new Promise((r) => server.close(r)))
  } finally {
    out.restore()
  }
})
