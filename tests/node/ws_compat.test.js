'use strict'
// ws 8's documented server behaviour (doc/ws.md), driven by the real ws client: every ws option is honoured
// (a test shows its effect) or refused by name.
const test = require('node:test')
const assert = require('node:assert')
const { waitFor, within, listen, track, pair, stop, refusedResponse, WsClient } = require('./helpers')
const wssession = require('wssession')
const { WebSocketServer, WebSocket, createWebSocketStream } = wssession

test('autoPong (default true) answers a ping with a pong', async () => {
  const wss = await listen({ autoPong: true })
  const { client } = await pair(wss)
  const pong = waitFor(client, 'pong')
  client.ping('are you there')
  assert.strictEqual(String((await pong)[0]), 'are you there')
  client.close()
  await stop(wss)
})

test("autoPong: false sends no pong by itself: the 'ping' event comes and ws.pong() answers by hand", async () => {
  const wss = await listen({ autoPong: false })
  assert.strictEqual(wss.options.autoPong, false)
  const { client, ws } = await pair(wss)
  const pongs = []
  client.on('pong', (data) => pongs.push(String(data)))
  const ping = waitFor(ws, 'ping')
  client.ping('are you there')
  assert.strictEqual(String((await ping)[0]), 'are you there')
  // A message sent after the ping arrived overtakes no automatic pong: none was queued.
  const marker = waitFor(client, 'message')
  ws.send('after the ping')
  assert.strictEqual(String((await marker)[0]), 'after the ping')
  assert.deepStrictEqual(pongs, [])
  const pong = waitFor(client, 'pong')
  ws.pong('by hand')
  assert.strictEqual(String((await pong)[0]), 'by hand')
  assert.deepStrictEqual(pongs, ['by hand'])
  client.close()
  await stop(wss)
})

test('skipUTF8Validation: false (the default) closes a connection sending invalid UTF-8 with 1007', async () => {
  const wss = await listen({ skipUTF8Validation: false })
  const { client, ws } = await pair(wss)
  const errors = []
  ws.on('error', (e) => errors.push(e.code))
  const closed = waitFor(client, 'close')
  client.send(Buffer.from([0x68, 0xff, 0x69]), { binary: false })
  const [code] = await closed
  assert.strictEqual(code, 1007)
  await within(ws.closeReason)
  assert.deepStrictEqual(errors, ['WS_ERR_INVALID_UTF8'])
  await stop(wss)
})

test('skipUTF8Validation: true delivers a text message with invalid UTF-8 as sent, and a close reason with it closes normally', async () => {
  const wss = await listen({ skipUTF8Validation: true })
  assert.strictEqual(wss.options.skipUTF8Validation, true)
  const { client, ws } = await pair(wss)
  const message = waitFor(ws, 'message')
  client.send(Buffer.from([0x68, 0xff, 0x69]), { binary: false })
  const [data, isBinary] = await message
  assert.strictEqual(isBinary, false)
  assert.deepStrictEqual([...data], [0x68, 0xff, 0x69])
  const closed = waitFor(ws, 'close')
  client.close(4000, Buffer.from([0x62, 0xff]))
  const [code, reason] = await closed
  assert.strictEqual(code, 4000)
  assert.strictEqual(String(reason), 'b\ufffd') // the engine decodes the reason lossily (ws hands the raw bytes)
  await stop(wss)
})

/** For each message after the first: whether a microtask queued by the previous message's listener ran first. */
async function ticksBetweenMessages(options) {
  const wss = await listen(options)
  const { client, ws } = await pair(wss)
  const N = 200
  const ranBefore = []
  let lastTickDone = true
  const done = new Promise((resolve) => {
    ws.on('message', () => {
      ranBefore.push(lastTickDone)
      lastTickDone = false
      queueMicrotask(() => (lastTickDone = true))
      if (ranBefore.length === N) resolve()
    })
  })
  for (let i = 0; i < N; i++) client.send(String(i))
  await within(done, 10000)
  client.close()
  await stop(wss)
  return ranBefore.slice(1)
}

test('allowSynchronousEvents: false emits each message in its own tick; by default a burst shares one', async () => {
  const separate = await ticksBetweenMessages({ allowSynchronousEvents: false })
  assert.ok(separate.every(Boolean), 'with allowSynchronousEvents: false no two messages are emitted in the same tick')
  const together = await ticksBetweenMessages({})
  assert.ok(together.some((ran) => !ran), 'by default messages that arrive together are emitted in one tick')
})

test('maxPayload: 0 means no limit (ws), not a limit of zero bytes', async () => {
  const wss = await listen({ maxPayload: 0 })
  const { client, ws } = await pair(wss)
  assert.strictEqual(ws.maxFrameSize, Number.MAX_SAFE_INTEGER)
  const big = Buffer.alloc(1 << 20, 1)
  const got = waitFor(ws, 'message')
  client.send(big)
  assert.ok((await got)[0].equals(big))
  client.close()
  await stop(wss)
  const dflt = await listen()
  const p = await pair(dflt)
  assert.strictEqual(p.ws.maxFrameSize, 100 * 1024 * 1024, "ws's default maxPayload is 100 MiB")
  p.client.close()
  await stop(dflt)
})

test('clientTracking: false leaves wss.clients undefined; by default clients holds the open sockets', async () => {
  const untracked = await listen({ clientTracking: false })
  assert.strictEqual(untracked.clients, undefined)
  const a = await pair(untracked)
  const echo = waitFor(a.client, 'message')
  a.ws.send('tracked or not')
  assert.strictEqual(String((await echo)[0]), 'tracked or not')
  a.client.close()
  await stop(untracked)

  const tracked = await listen()
  const b = await pair(tracked)
  assert.deepStrictEqual([...tracked.clients], [b.ws])
  b.client.close()
  await waitFor(b.ws, 'close')
  assert.strictEqual(tracked.clients.size, 0)
  await stop(tracked)
})

test("a server socket is an EventEmitter as ws's is: the default listener limit warns, setMaxListeners and captureRejections act", async () => {
  const { EventEmitter } = require('node:events')
  const wss = await listen()
  const { client, ws } = await pair(wss)
  assert.ok(ws instanceof EventEmitter)
  assert.strictEqual(ws.getMaxListeners(), EventEmitter.defaultMaxListeners)
  // Past the default limit Node warns, naming the event.
  const warned = waitFor(process, 'warning')
  for (let i = 0; i <= EventEmitter.defaultMaxListeners; i++) ws.on('pong', () => {})
  const [warning] = await warned
  assert.strictEqual(warning.name, 'MaxListenersExceededWarning')
  assert.strictEqual(warning.type, 'pong')
  ws.removeAllListeners('pong')
  assert.strictEqual(ws.listenerCount('pong'), 0)
  ws.setMaxListeners(50)
  assert.strictEqual(ws.getMaxListeners(), 50)
  // once/off keep their meaning, and a message still arrives after listeners came and went.
  const seen = []
  const off = (data) => seen.push(`off ${data}`)
  ws.on('message', off)
  ws.off('message', off)
  ws.once('message', (data) => seen.push(`once ${data}`))
  const got = waitFor(ws, 'message')
  client.send('one')
  await got
  assert.deepStrictEqual(seen, ['once one'])
  client.close()
  await stop(wss)

  // EventEmitter.captureRejections: a rejected async listener becomes the socket's 'error'.
  EventEmitter.captureRejections = true
  try {
    const capturing = await listen()
    const p = await pair(capturing)
    const failed = waitFor(p.ws, 'error')
    p.ws.on('message', async () => {
      throw new Error('listener failed')
    })
    p.client.send('boom')
    assert.strictEqual((await failed)[0].message, 'listener failed')
    p.client.close()
    await stop(capturing)
  } finally {
    EventEmitter.captureRejections = false
  }
})

test('the WebSocket option makes connections instances of the given subclass; other classes are refused', async () => {
  class Tagged extends WebSocket {
    tag() {
      return `session ${this.id}`
    }
  }
  const wss = await listen({ WebSocket: Tagged })
  const { client, ws } = await pair(wss)
  assert.ok(ws instanceof Tagged)
  assert.strictEqual(ws.tag(), `session ${ws.id}`)
  client.close()
  await stop(wss)
  assert.throws(() => new WebSocketServer({ port: 0, WebSocket: WsClient }), (e) => e instanceof TypeError && /WebSocket/.test(e.message))
})

test('async verifyClient rejects with its code, message and headers (numbers and arrays as setHeader takes them)', async () => {
  const wss = await listen({
    verifyClient(info, cb) {
      setImmediate(() => {
        if (info.req.headers.authorization === 'Bearer ok') return cb(true)
        cb(false, 429, 'Slow down', { 'Retry-After': 120, 'X-Reason': ['quota', 'burst'] })
      })
    },
  })
  const url = `ws://127.0.0.1:${wss.address().port}`
  const refused = new WsClient(url)
  refused.on('error', () => {})
  const res = await within(refusedResponse(refused))
  assert.strictEqual(res.status, 429)
  assert.strictEqual(res.headers['retry-after'], '120')
  assert.strictEqual(res.headers['x-reason'], 'quota, burst')
  assert.strictEqual(res.body, 'Slow down')
  const plain = new WebSocketServer({ port: 0, verifyClient: (info, cb) => cb(false) })
  await waitFor(track(plain), 'listening')
  const r2 = new WsClient(`ws://127.0.0.1:${plain.address().port}`)
  r2.on('error', () => {})
  const res2 = await within(refusedResponse(r2))
  assert.deepStrictEqual([res2.status, res2.body], [401, 'Unauthorized'])
  const ok = new WsClient(url, { headers: { authorization: 'Bearer ok' } })
  await waitFor(ok, 'open')
  ok.close()
  await stop(wss)
  await stop(plain)
})

test('bufferedAmount is > 0 right after a large send to a client that is not reading, and 0 once written', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  client.pause()
  const big = Buffer.alloc(32 << 20, 7)
  ws.send(big)
  const queued = ws.bufferedAmount
  assert.ok(queued > 0, `bufferedAmount right after send is ${queued}`)
  const got = waitFor(client, 'message', 20000)
  client.resume()
  const [data] = await got
  assert.strictEqual(data.length, big.length)
  await within(ws.flush())
  assert.strictEqual(ws.bufferedAmount, 0)
  client.close()
  await stop(wss)
})

test('wss.close(cb) waits for open connections, which keep working; a second close reports the server is not running', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  let closed = false
  const closedEvent = waitFor(wss, 'close')
  wss.close(() => (closed = true))
  const echo = waitFor(client, 'message')
  ws.send('still open')
  assert.strictEqual(String((await echo)[0]), 'still open')
  assert.strictEqual(closed, false)
  client.close()
  await closedEvent
  assert.strictEqual(closed, true)
  const err = await within(new Promise((resolve) => wss.close(resolve)))
  assert.ok(err instanceof Error)
  assert.strictEqual(err.message, 'The server is not running')
})

test('onmessage, onclose, onerror and addEventListener deliver DOM-style events, as ws does', async () => {
  const wss = await listen({ maxPayload: 10 })
  const { client, ws } = await pair(wss)
  assert.strictEqual(ws.onmessage, null)
  assert.strictEqual(ws.onopen, null)
  const events = []
  const first = (ev) => events.push(['first', ev.data])
  ws.onmessage = first
  assert.strictEqual(ws.onmessage, first)
  ws.onmessage = (ev) => events.push(['attr', ev.type, ev.data, ev.target === ws])
  const once = { handleEvent: (ev) => events.push(['once', Buffer.isBuffer(ev.data)]) }
  ws.addEventListener('message', once, { once: true })
  const removed = () => events.push(['removed'])
  ws.addEventListener('message', removed)
  ws.removeEventListener('message', removed)
  ws.addEventListener('nonsense', removed)
  const twoMessages = new Promise((resolve) => ws.on('message', () => events.filter((e) => e[0] === 'attr').length === 2 && resolve()))
  client.send(Buffer.from('bin'))
  client.send('text')
  await within(twoMessages)
  assert.deepStrictEqual(events, [
    ['attr', 'message', Buffer.from('bin'), true],
    ['once', true],
    ['attr', 'message', 'text', true],
  ])
  const closeEvent = new Promise((resolve) => (ws.onclose = resolve))
  const errorEvent = new Promise((resolve) => ws.addEventListener('error', resolve))
  client.send('more than ten bytes')
  const err = await within(errorEvent)
  assert.strictEqual(err.type, 'error')
  assert.strictEqual(err.error.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
  assert.strictEqual(err.message, err.error.message)
  const close = await within(closeEvent)
  assert.strictEqual((await ws.closeReason).code, 1009)
  // The connection was failed (RFC 6455 §7.1.7: TCP closed right after our Close), so no Close came
  // back: as ws reports it then, 1006 and not clean.
  assert.deepStrictEqual([close.type, close.code, close.reason, close.wasClean], ['close', 1006, '', false])
  await stop(wss)
})

test('createWebSocketStream reads messages and writes them back as a Duplex; end() closes the connection', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const duplex = createWebSocketStream(ws, { encoding: 'utf8' })
  duplex.pipe(duplex)
  const got = []
  const echoed = new Promise((resolve) => client.on('message', (d) => got.push(String(d)) === 2 && resolve()))
  client.send('one')
  client.send('two')
  await within(echoed)
  assert.deepStrictEqual(got, ['one', 'two'])
  duplex.unpipe(duplex)
  duplex.resume()
  const clientClosed = waitFor(client, 'close')
  const streamClosed = waitFor(duplex, 'close')
  duplex.end()
  const [code] = await clientClosed
  assert.strictEqual(code, 1005)
  await streamClosed
  assert.strictEqual(ws.readyState, WebSocket.CLOSED)
  await stop(wss)
})

test('WebSocket used as a client throws a clear error saying the package is server-side', () => {
  for (const Ctor of [WebSocket, wssession]) {
    assert.throws(
      () => new Ctor('ws://127.0.0.1:9/'),
      (e) => e instanceof TypeError && e.code === 'WSSESSION_ERR_NO_CLIENT' && /server-side only/.test(e.message) && /ws:\/\/127/.test(e.message),
    )
  }
})

test('options ws documents but the core cannot honour, and unknown options, are refused by name', () => {
  const refused = [
    [{ maxBufferedChunks: 10 }, /maxBufferedChunks/],
    [{ maxPendingAutoPongs: 10 }, /maxPendingAutoPongs is not supported by wssession: the core stops reading/],
    [{ perMessageDeflate: { concurrencyLimit: 4 } }, /concurrencyLimit/],
    [{ perMessageDeflate: { zlibInflateOptions: {} } }, /zlibInflateOptions/],
    [{ perMessageDeflate: { zlibDeflateOptions: { strategy: 1 } } }, /strategy/],
    [{ maxPayLoad: 10 }, /maxPayLoad/],
  ]
  for (const [opts, name] of refused) {
    assert.throws(() => new WebSocketServer({ port: 0, ...opts }), (e) => e instanceof TypeError && name.test(e.message), JSON.stringify(opts))
  }
  assert.throws(() => new WebSocketServer({ port: 0, maxPayload: -1 }), RangeError)
})

test("binaryType 'blob' is refused by name; ws's other binary types are kept", async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  assert.throws(() => (ws.binaryType = 'blob'), (e) => e instanceof TypeError && /blob/.test(e.message))
  ws.binaryType = 'fragments'
  assert.strictEqual(ws.binaryType, 'fragments')
  const got = waitFor(ws, 'message')
  client.send(Buffer.from([1, 2]))
  const [data] = await got
  assert.ok(Array.isArray(data) && data[0].equals(Buffer.from([1, 2])))
  client.close()
  await stop(wss)
})

test('a send over the queue limit keeps its place: later sends and close() follow it, as ws keeps send order', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const got = []
  client.on('message', (d) => got.push(d.length > 100 ? d.length : String(d)))
  client.pause()
  const big = Buffer.alloc(8 << 20, 2)
  ws.send('before')
  ws.send(big)
  ws.send('after')
  ws.close(4002, 'done')
  const closed = waitFor(client, 'close', 20000)
  client.resume()
  const [code] = await closed
  assert.strictEqual(code, 4002)
  assert.deepStrictEqual(got, ['before', big.length, 'after'])
  await stop(wss)
})

test("'headers' listeners add response headers to the 101 on the own listener too, after handleProtocols", async () => {
  const wss = await listen({ handleProtocols: () => 'chat' })
  const seen = []
  wss.on('headers', (headers, req) => {
    seen.push(headers.slice())
    headers.push(`Set-Cookie: session=${req.url.slice(1)}`)
  })
  const c = new WsClient(`ws://127.0.0.1:${wss.address().port}/abc`, ['chat'])
  c.on('error', () => {})
  const opened = waitFor(c, 'open')
  const [res] = await waitFor(c, 'upgrade')
  await opened
  assert.deepStrictEqual(res.headers['set-cookie'], ['session=abc'])
  assert.strictEqual(seen[0][0], 'HTTP/1.1 101 Switching Protocols')
  assert.ok(seen[0].includes('Sec-WebSocket-Protocol: chat'))
  assert.ok(seen[0].some((l) => l.startsWith('Sec-WebSocket-Accept: ')))
  c.close()
  await waitFor(c, 'close')
  await stop(wss)
})
