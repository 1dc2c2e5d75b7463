'use strict'
// The ws README's server examples, unchanged apart from the import (and port 0 instead of 8080).
const test = require('node:test')
const assert = require('node:assert')
const WebSocket = require('ws') // the client side stays the real ws
const { WebSocketServer } = require('wssession')
const { waitFor, within } = require('./helpers')

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
  await waitFor(wss, 'listening')
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
  await waitFor(wss, 'listening')
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
  await waitFor(wss, 'listening')
  const bad = client(wss)
  const [, res] = await waitFor(bad, 'unexpected-response')
  assert.strictEqual(res.statusCode, 401)
  res.resume()
  const good = client(wss, undefined, { headers: { 'x-token': 'secret' } })
  await waitFor(good, 'open')
  good.close()
  await waitFor(good, 'close')
  const sync = new WebSocketServer({ port: 0, verifyClient: () => false })
  await waitFor(sync, 'listening')
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
  await waitFor(wss, 'listening')
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
  await waitFor(wss, 'listening')
  const c = client(wss, ['a', 'b'])
  await waitFor(c, 'open')
  assert.strictEqual(c.protocol, 'a')
  c.close()
  await waitFor(c, 'close')
  await within(new Promise((r) => wss.close(r)))
})
