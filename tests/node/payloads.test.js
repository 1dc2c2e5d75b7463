'use strict'
// Large payloads cross the binding without copies: a received Buffer is the engine's memory and must
// stay valid for as long as JS holds it; a large sent Buffer is written from the caller's memory.
const test = require('node:test')
const assert = require('node:assert')
const v8 = require('node:v8')
const vm = require('node:vm')
const { waitFor, within, listen, pair, stop } = require('./helpers')
const { WebSocket } = require('ws')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

/** Distinct bytes per message, so a buffer reused or freed under JS shows as wrong content. */
function pattern(size, seed) {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7) & 0xff
  return b
}

test('received large messages stay intact after the session closes and after GC pressure', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const sent = [0, 1, 2, 3].map((seed) => pattern(64 * 1024 + seed, seed))
  const got = []
  const all = new Promise((resolve) => {
    ws.on('message', (data, isBinary) => {
      assert.strictEqual(isBinary, true)
      got.push(data)
      if (got.length === sent.length) resolve()
    })
  })
  for (const b of sent) client.send(b)
  await within(all)
  client.close(1000)
  await waitFor(ws, 'close')
  await stop(wss)
  // Churn the heap: the received buffers must not be freed or reused while they are referenced.
  for (let i = 0; i < 20; i++) {
    let junk = []
    for (let j = 0; j < 64; j++) junk.push(Buffer.alloc(64 * 1024, 0xee))
    junk = null
    gc()
  }
  assert.deepStrictEqual(got.map((b) => b.length), sent.map((b) => b.length))
  for (let i = 0; i < sent.length; i++) assert.ok(got[i].equals(sent[i]), `message ${i} changed`)
})

test('a large Buffer sent without a copy reaches the peer intact, also after the sender drops it', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const want = pattern(256 * 1024, 9)
  const received = waitFor(client, 'message')
  ws.send(Buffer.from(want), { binary: true })
  gc()
  const [data, isBinary] = await received
  assert.strictEqual(isBinary, true)
  assert.ok(Buffer.from(data).equals(want))
  client.close(1000)
  await waitFor(ws, 'close')
  await stop(wss)
})

test('a received large message, or a slice of it, sent back reaches the peer intact', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const want = pattern(96 * 1024, 5)
  ws.on('message', (data) => {
    ws.send(data, { binary: true })
    ws.send(data.subarray(1000, 1000 + 40 * 1024), { binary: true })
  })
  const replies = []
  const both = new Promise((resolve) =>
    client.on('message', (data) => {
      replies.push(Buffer.from(data))
      if (replies.length === 2) resolve()
    }),
  )
  client.send(want)
  await within(both)
  gc()
  assert.ok(replies[0].equals(want), 'the whole message changed')
  assert.ok(replies[1].equals(want.subarray(1000, 1000 + 40 * 1024)), 'the slice changed')
  client.close(1000)
  await waitFor(ws, 'close')
  await stop(wss)
})

test("the 'connection' request, built on first access, reads the upgrade request even after the session closed", async () => {
  const wss = await listen()
  const seen = new Promise((resolve) => wss.on('connection', (ws, req) => resolve({ ws, req })))
  const client = new WebSocket(`ws://127.0.0.1:${wss.address().port}/room?x=1`, { headers: { 'X-Custom': 'yes' } })
  const { ws, req } = await within(seen)
  client.close(1000)
  await waitFor(ws, 'close')
  assert.strictEqual(req.url, '/room?x=1')
  assert.strictEqual(req.method, 'GET')
  assert.strictEqual(req.headers['x-custom'], 'yes')
  assert.ok(req.rawHeaders.includes('X-Custom'))
  assert.strictEqual(req.socket.remoteAddress, '127.0.0.1')
  assert.strictEqual(req.connection, req.socket)
  assert.strictEqual(JSON.parse(JSON.stringify(req)).headers['x-custom'], 'yes')
  assert.strictEqual(ws.protocol, '')
  await stop(wss)
})
