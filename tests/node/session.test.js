'use strict'
// Ktor session members and SPEC behaviours observable from Node, driven by the real ws client.
const test = require('node:test')
const assert = require('node:assert')
const { waitFor, within, listen, track, pair, rawPair, stop, WsClient } = require('./helpers')
const { WebSocketServer, WebSocket } = require('wssession')

test('incoming yields complete messages as frames in order and ends on a clean close', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const frames = []
  const done = (async () => {
    for await (const f of ws.incoming) frames.push(f)
  })()
  client.send('one')
  client.send(Buffer.from('two'))
  client.send('three', { fin: true })
  client.close(1000)
  await within(done)
  assert.deepStrictEqual(
    frames.map((f) => [f.type, String(f.data), f.fin]),
    [
      ['text', 'one', true],
      ['binary', 'two', true],
      ['text', 'three', true],
    ],
  )
  assert.deepStrictEqual(await within(ws.closeReason), { code: 1000, reason: '', initiator: 'remote' })
  await stop(wss)
})

test('send returns a promise that rejects with WSSESSION_ERR_CLOSED after close', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const got = waitFor(client, 'message')
  await ws.send('hi')
  assert.strictEqual(String((await got)[0]), 'hi')
  ws.close(1000, 'done')
  await assert.rejects(ws.send('late'), { code: 'WSSESSION_ERR_CLOSED' })
  const [code, reason] = await waitFor(client, 'close')
  assert.strictEqual(code, 1000)
  assert.strictEqual(String(reason), 'done')
  assert.deepStrictEqual(await within(ws.closeReason), { code: 1000, reason: 'done', initiator: 'local' })
  await stop(wss)
})

test('a socket that made no native call before the peer closed still reports its state, stats and request, and refuses sends', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  // Messages echoed from the handler are queued for the batch's end (no call on the socket's own session).
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  const echoed = waitFor(client, 'message')
  client.send('one')
  assert.strictEqual(String((await within(echoed))[0]), 'one')
  assert.strictEqual(ws.readyState, WebSocket.OPEN)
  client.close(4000, 'bye')
  const [code, reason] = await waitFor(ws, 'close')
  assert.strictEqual(code, 4000)
  assert.strictEqual(String(reason), 'bye')
  assert.strictEqual(ws.readyState, WebSocket.CLOSED)
  assert.strictEqual(ws.stats.messagesIn, 1)
  assert.strictEqual(ws.stats.messagesOut, 1)
  assert.strictEqual(ws.protocol, '')
  assert.strictEqual(ws.bufferedAmount, 0)
  await assert.rejects(ws.send('late'), { code: 'WSSESSION_ERR_CLOSED' })
  assert.deepStrictEqual(await within(ws.closeReason), { code: 4000, reason: 'bye', initiator: 'remote' })
  await stop(wss)
})

test('a socket closed by its peer without a reason reports the codes of both Close frames, and wasClean', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const closed = new Promise((resolve) => ws.addEventListener('close', resolve))
  client.close(1000)
  const ev = await within(closed)
  assert.strictEqual(ev.code, 1000)
  assert.strictEqual(ev.reason, '')
  assert.strictEqual(ev.wasClean, true)
  assert.deepStrictEqual(await within(ws.closeReason), { code: 1000, reason: '', initiator: 'remote' })
  await stop(wss)
})

test('close() without a code sends a Close with an empty body, as ws does (the peer reads 1005)', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  ws.close()
  const [code, reason] = await waitFor(client, 'close')
  assert.strictEqual(code, 1005)
  assert.strictEqual(String(reason), '')
  assert.deepStrictEqual(await within(ws.closeReason), { code: 1005, reason: '', initiator: 'local' })
  await stop(wss)
})

test('close(code) sends that code with an empty reason', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  ws.close(4000)
  const [code, reason] = await waitFor(client, 'close')
  assert.strictEqual(code, 4000)
  assert.strictEqual(String(reason), '')
  await stop(wss)
})

test('send with a callback calls it once the data is written, and flush resolves', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  await within(new Promise((resolve, reject) => ws.send(Buffer.alloc(1000), { binary: true }, (e) => (e ? reject(e) : resolve()))))
  ws.send('x')
  await within(ws.flush())
  assert.strictEqual(ws.bufferedAmount, 0)
  client.close()
  await stop(wss)
})

test('outgoing.send sends frames, fragments included, and outgoing.close closes with 1000', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const msgs = []
  client.on('message', (d, b) => msgs.push([String(d), b]))
  await ws.outgoing.send({ type: 'text', data: 'hel', fin: false })
  await ws.outgoing.send({ type: 'text', data: 'lo', fin: true })
  await ws.outgoing.send({ type: 'binary', data: Buffer.from('bin') })
  const closed = waitFor(client, 'close')
  await within(ws.outgoing.close())
  const [code] = await closed
  assert.strictEqual(code, 1000)
  assert.deepStrictEqual(msgs, [
    ['hello', false],
    ['bin', true],
  ])
  await stop(wss)
})

test('sendSerialized and receiveDeserialized use JSON by default and report stable error codes', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const got = waitFor(client, 'message')
  await ws.sendSerialized({ a: 1, b: [true] })
  const [data, isBinary] = await got
  assert.strictEqual(isBinary, false)
  assert.deepStrictEqual(JSON.parse(data), { a: 1, b: [true] })
  client.send(JSON.stringify({ hello: 'world' }))
  assert.deepStrictEqual(await within(ws.receiveDeserialized()), { hello: 'world' })
  client.send('{not json')
  await assert.rejects(ws.receiveDeserialized(), (e) => e.code === 'WSSESSION_ERR_DESERIALIZE' && String(e.frame.data) === '{not json')
  assert.strictEqual(ws.readyState, WebSocket.OPEN, 'the session stays open after a decode failure')
  ws.converter = {
    serialize: (v) => ({ type: 'binary', data: Buffer.from(String(v)) }),
    deserialize: (f) => Number(String(f.data)),
  }
  client.send('42')
  assert.strictEqual(await within(ws.receiveDeserialized()), 42)
  ws.converter = null
  await assert.rejects(ws.sendSerialized(1), { code: 'WSSESSION_ERR_NO_CONVERTER' })
  await assert.rejects(ws.receiveDeserialized(), { code: 'WSSESSION_ERR_NO_CONVERTER' })
  assert.throws(() => {
    ws.converter = 5
  }, TypeError)
  ws.converter = require('wssession').JsonConverter
  client.close()
  await within(ws.closeReason)
  await assert.rejects(ws.receiveDeserialized(), { code: 'WSSESSION_ERR_CLOSED' })
  await stop(wss)
})

test('session settings are readable and live-settable, with TypeError/RangeError on bad values', async () => {
  const wss = await listen({ maxPayload: 1234, closeTimeout: 2000 })
  const { client, ws } = await pair(wss)
  assert.strictEqual(ws.maxFrameSize, 1234)
  assert.strictEqual(ws.closeTimeoutMillis, 2000)
  assert.strictEqual(ws.masking, false)
  assert.strictEqual(ws.pingIntervalMillis, 0)
  assert.strictEqual(ws.timeoutMillis, 15000)
  ws.maxFrameSize = 4096
  ws.timeoutMillis = 500
  ws.closeTimeoutMillis = 100
  assert.deepStrictEqual([ws.maxFrameSize, ws.timeoutMillis, ws.closeTimeoutMillis], [4096, 500, 100])
  assert.throws(() => {
    ws.pingIntervalMillis = -1
  }, RangeError)
  assert.throws(() => {
    ws.masking = 'yes'
  }, TypeError)
  assert.strictEqual(ws.application, wss)
  assert.strictEqual(ws.server, wss)
  assert.strictEqual(ws.call.method, 'GET')
  assert.strictEqual(typeof ws.id, 'number')
  client.close()
  await stop(wss)
})

test('the pinger measures latency, and a missing pong closes with 1011 ping timeout', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  assert.strictEqual(ws.latency, null)
  ws.pingIntervalMillis = 20
  const started = Date.now()
  while (ws.latency === null && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10))
  assert.strictEqual(typeof ws.latency, 'number')
  client.close()
  await within(ws.closeReason)

  const { client: mute, ws: ws2 } = await pair(wss, '/', { autoPong: false })
  const errors = []
  ws2.on('error', (e) => errors.push(e.code))
  ws2.timeoutMillis = 50
  ws2.pingIntervalMillis = 20
  const reason = await within(ws2.closeReason)
  assert.deepStrictEqual(reason, { code: 1011, reason: 'ping timeout', initiator: 'local' })
  assert.deepStrictEqual(errors, ['WSSESSION_ERR_TIMEOUT'])
  mute.terminate()
  await stop(wss)
})

test('an oversize message emits error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH before close 1009', async () => {
  const wss = await listen({ maxPayload: 100 })
  const { client, ws } = await pair(wss)
  const order = []
  ws.on('error', (e) => order.push(`error:${e.code}`))
  ws.on('close', (code) => order.push(`close:${code}`))
  const clientClose = waitFor(client, 'close')
  client.send(Buffer.alloc(101))
  const [code] = await clientClose
  assert.strictEqual(code, 1009)
  await within(ws.closeReason)
  // As ws: 'close' reports the peer's Close frame; the connection was failed, so none came (1006).
  assert.deepStrictEqual(order, ['error:WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'close:1006'])
  assert.strictEqual((await ws.closeReason).initiator, 'local')
  await stop(wss)
})

test('each violation emits the ws error code of its kind before close; a close chosen by the app emits none', async () => {
  const frame = (b0, payload, masked = true) =>
    Buffer.concat([Buffer.from([b0, (masked ? 0x80 : 0) | payload.length]), masked ? Buffer.alloc(4) : Buffer.alloc(0), payload])
  const cases = [
    [frame(0x81, Buffer.from('hi'), false), 1002, 'WS_ERR_EXPECTED_MASK'],
    [frame(0xa1, Buffer.from('hi')), 1002, 'WS_ERR_UNEXPECTED_RSV_2_3'],
    [frame(0x80, Buffer.from('x')), 1002, 'WS_ERR_INVALID_OPCODE'],
    [frame(0x88, Buffer.from([3])), 1002, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
    [frame(0x88, Buffer.from([0, 0])), 1002, 'WS_ERR_INVALID_CLOSE_CODE'],
    [frame(0x81, Buffer.from([0xff])), 1007, 'WS_ERR_INVALID_UTF8'],
  ]
  const wss = await listen()
  for (const [bytes, code, errorCode] of cases) {
    const { sock, ws } = await rawPair(wss)
    const order = []
    ws.on('error', (e) => order.push(e.code))
    ws.on('close', (c) => order.push(c))
    const closed = within(new Promise((resolve) => ws.once('close', resolve)))
    sock.write(bytes)
    await closed
    assert.deepStrictEqual(order, [errorCode, 1006], 'no Close came back from the failed peer')
    assert.strictEqual((await ws.closeReason).code, code)
    sock.destroy()
  }
  const { sock, ws } = await rawPair(wss)
  const events = []
  ws.on('error', (e) => events.push(e.code))
  ws.close(1002, 'the app speaks of RSV1 and masks')
  sock.write(frame(0x88, Buffer.from([0x03, 0xea])))
  const [code] = await waitFor(ws, 'close')
  assert.deepStrictEqual([code, events], [1002, []])
  sock.destroy()
  await stop(wss)
})

test("'close' reports the Close frame the peer sent, as ws does; closeReason keeps ours", async () => {
  const wss = await listen()
  const { sock, ws } = await rawPair(wss)
  sock.on('data', () => {})
  const closed = within(new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, String(reason)]))))
  ws.close(4000, 'going')
  const payload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('ok then')])
  sock.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length, 0, 0, 0, 0]), payload]))
  assert.deepStrictEqual(await closed, [1000, 'ok then'])
  assert.deepStrictEqual(await within(ws.closeReason), { code: 4000, reason: 'going', initiator: 'local' })
  sock.destroy()
  await stop(wss)
})

test('a failed connection sends its Close and ends TCP at once, without waiting closeTimeout', async () => {
  // A frame header declaring 2^40 bytes, then more bytes: 1009 and EOF right after it
  // (RFC 6455 §7.1.7), though closeTimeout is a minute.
  const wss = await listen({ closeTimeout: 60000 })
  const { sock, ws } = await rawPair(wss)
  let received = Buffer.alloc(0)
  sock.on('data', (d) => {
    received = Buffer.concat([received, d])
  })
  const header = Buffer.alloc(14)
  header[0] = 0x82
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(1n << 40n, 2)
  sock.write(Buffer.concat([header, Buffer.alloc(4096, 0x5a)]))
  await waitFor(sock, 'end')
  const body = received.subarray(received.indexOf('\r\n\r\n') + 4)
  assert.deepStrictEqual([body[0], body.readUInt16BE(2)], [0x88, 1009], 'a Close 1009, then EOF')
  assert.strictEqual((await within(ws.closeReason)).code, 1009)
  sock.destroy()
  await stop(wss)
})

test('a ping flood from a client that reads nothing queues a bounded amount of pongs', async () => {
  // The benchmark server's write limit (128 MiB); the automatic Pongs stop at their own bound
  // (64 KiB) and the server stops reading, so the flood of a million pings is held back by TCP.
  const wss = await listen({ maxBufferedAmount: 128 << 20 })
  const { sock, ws } = await rawPair(wss)
  sock.pause() // read nothing
  const ping = Buffer.concat([Buffer.from([0x89, 0x80 | 125, 0, 0, 0, 0]), Buffer.alloc(125, 0x70)])
  const burst = Buffer.concat(Array(1000).fill(ping))
  let bursts = 0
  let stopped = false
  const flood = (async () => {
    while (bursts < 1000 && !stopped) {
      bursts++
      if (!sock.write(burst)) await new Promise((resolve) => sock.once('drain', resolve))
    }
  })()
  const bound = 64 * 1024 + 127
  await within(
    (async () => {
      // Half the bound: where the queue stops depends on how much of a pong the last write took.
      while (ws.bufferedAmount < 32 * 1024) await new Promise((resolve) => setTimeout(resolve, 5))
    })(),
  )
  for (let i = 0; i < 20; i++) {
    assert.ok(ws.bufferedAmount <= bound, `queue holds ${ws.bufferedAmount}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.ok(bursts < 1000, 'TCP backpressure holds the flood back')
  stopped = true
  sock.destroy()
  flood.catch(() => {})
  await stop(wss)
})

test('a failed session ends incoming with an error; terminate gives 1006 abnormal', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const it = ws.incoming[Symbol.asyncIterator]()
  const next = it.next()
  client.terminate()
  await assert.rejects(within(next), { code: 'WSSESSION_ERR_CLOSED' })
  assert.deepStrictEqual(await within(ws.closeReason), { code: 1006, reason: '', initiator: 'abnormal' })

  const p2 = await pair(wss)
  const closed = waitFor(p2.ws, 'close')
  p2.ws.terminate()
  const [code] = await closed
  assert.strictEqual(code, 1006)
  assert.strictEqual(p2.ws.readyState, WebSocket.CLOSED)
  await stop(wss)
})

test('close events carry the peer code and reason; an empty Close gives 1005', async () => {
  const wss = await listen()
  const a = await pair(wss)
  const closeA = waitFor(a.ws, 'close')
  a.client.close(4001, 'custom')
  const [code, reason] = await closeA
  assert.strictEqual(code, 4001)
  assert.ok(Buffer.isBuffer(reason))
  assert.strictEqual(String(reason), 'custom')
  const b = await pair(wss)
  b.client.close()
  assert.deepStrictEqual(await within(b.ws.closeReason), { code: 1005, reason: '', initiator: 'remote' })
  await stop(wss)
})

test('a verifyClient rejection is checked by the core: status 100-599 but not 101, no CR/LF; else 500', () => {
  // In a child: the invalid decision is the app's bug, rethrown as an uncaught exception (as a throw
  // in its callback would be), which the child records instead of dying.
  const { spawnSync } = require('node:child_process')
  const child = spawnSync(
    process.execPath,
    [
      '-e',
      `
    const { WebSocketServer } = require('wssession'); const WS = require('ws')
    const thrown = []
    process.on('uncaughtException', (e) => thrown.push(e.code))
    const cases = [[599], [403, { 'X-Why': 'tab\\tis fine' }], [101], [600], [99],
      [403, { 'X-Why': 'a\\r\\nSet-Cookie: x=1' }], [403, { 'Bad Name': 'v' }]]
    let current
    const wss = new WebSocketServer({ port: 0, verifyClient: (info, cb) => cb(false, current[0], 'no', current[1]) })
    wss.on('listening', async () => {
      const statuses = []
      for (current of cases) {
        const c = new WS('ws://127.0.0.1:' + wss.address().port)
        c.on('error', () => {})
        statuses.push(await new Promise((resolve) => c.on('unexpected-response', (req, res) => { res.resume(); resolve(res.statusCode) })))
        c.terminate()
      }
      console.log(JSON.stringify({ statuses, thrown }))
      wss.close()
    })`,
    ],
    { encoding: 'utf8', timeout: 15000, cwd: __dirname },
  )
  assert.strictEqual(child.status, 0, child.stderr)
  assert.deepStrictEqual(JSON.parse(child.stdout), {
    statuses: [599, 403, 500, 500, 500, 500, 500],
    thrown: Array(5).fill('WSSESSION_ERR_INVALID_ARGUMENT'),
  })
})

test('bad arguments throw TypeError or RangeError with a code', async () => {
  assert.throws(() => new WebSocketServer(), TypeError)
  assert.throws(() => new WebSocketServer({}), TypeError)
  assert.throws(() => new WebSocketServer({ port: 70000 }), RangeError)
  assert.throws(() => new WebSocketServer({ port: 0, verifyClient: 'no' }), TypeError)
  assert.throws(() => new WebSocketServer({ port: 0, perMessageDeflate: { serverMaxWindowBits: 20 } }), RangeError)
  for (const zlibDeflateOptions of [{ level: 10 }, { memLevel: 0 }, { memLevel: 10 }, { memLevel: 2.5 }]) {
    assert.throws(() => new WebSocketServer({ port: 0, perMessageDeflate: { zlibDeflateOptions } }), RangeError)
  }
  // The core's ranges, the same on every surface: window bits 8-15 (8 is kept, not raised to 9).
  assert.throws(() => new WebSocketServer({ port: 0, perMessageDeflate: { serverMaxWindowBits: 7 } }), {
    name: 'RangeError',
    code: 'WSSESSION_ERR_INVALID_ARGUMENT',
    message: /server_max_window_bits must be 8-15/,
  })
  const eight = await listen({ perMessageDeflate: { serverMaxWindowBits: 8 } })
  const c8 = new WsClient(`ws://127.0.0.1:${eight.address().port}`, { perMessageDeflate: true })
  c8.on('error', () => {})
  const [res] = await waitFor(c8, 'upgrade')
  assert.match(res.headers['sec-websocket-extensions'], /server_max_window_bits=8/)
  c8.terminate()
  await stop(eight)
  const wss = await listen()
  const { client, ws } = await pair(wss)
  assert.throws(() => ws.send({}), TypeError)
  assert.throws(() => ws.close(1005), (e) => e instanceof TypeError && e.code === 'WSSESSION_ERR_INVALID_ARGUMENT')
  assert.throws(() => ws.close('x'), TypeError)
  assert.throws(() => ws.close(1000, 'x'.repeat(124)), RangeError)
  assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError)
  client.close()
  await stop(wss)
})

test('ping and pong events arrive, and ping() reaches the client', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const ping = waitFor(ws, 'ping')
  client.ping('abc')
  assert.strictEqual(String((await ping)[0]), 'abc')
  const pong = waitFor(ws, 'pong')
  client.pong('def')
  assert.strictEqual(String((await pong)[0]), 'def')
  const clientPing = waitFor(client, 'ping')
  ws.ping('xyz')
  assert.strictEqual(String((await clientPing)[0]), 'xyz')
  client.close()
  await stop(wss)
})

test('pause holds messages back until resume, in order', async () => {
  const wss = await listen()
  const other = await pair(wss) // its messages share the server's one event queue: a barrier
  // A raw client, so 'a', 'b' and 'c' reach the server in one TCP write: the server reads all three
  // at once, and only pause() can keep 'b' and 'c' from the listener.
  const { sock, ws } = await rawPair(wss)
  const got = []
  ws.on('message', (d) => {
    got.push(String(d))
    if (String(d) === 'a') ws.pause()
  })
  const frame = (text) => Buffer.concat([Buffer.from([0x81, 0x80 | text.length, 0, 0, 0, 0]), Buffer.from(text)])
  sock.write(Buffer.concat(['a', 'b', 'c'].map(frame))) // masked with a zero key
  await within(
    (async () => {
      while (ws.stats.messagesIn < 3) await new Promise(setImmediate)
    })(),
    undefined,
    'all three messages read by the server',
  )
  // Their events were queued before 'z' was even sent, so they have reached JS once 'z' has.
  const z = waitFor(other.ws, 'message')
  other.client.send('z')
  await z
  assert.strictEqual(ws.isPaused, true)
  assert.deepStrictEqual(got, ['a'], 'b and c held back while paused')
  ws.resume()
  assert.deepStrictEqual(got, ['a', 'b', 'c'])
  sock.destroy()
  other.client.close()
  await stop(wss)
})

test('sends over the hard limit wait their turn: no later send overtakes them, flush waits for them', async () => {
  const wss = await listen({ maxBufferedAmount: 1 << 20 }) // hard limit 2 MiB: each 3 MiB send waits
  const { client, ws } = await pair(wss)
  const got = []
  const all = new Promise((resolve) => {
    client.on('message', (d) => {
      got.push(d.length > 100 ? `big${d[0]}` : String(d))
      if (got.length === 5) resolve()
    })
  })
  const big = (n) => Buffer.alloc(3 << 20, n)
  const sends = [ws.send(big(1)), ws.send(big(2)), ws.send('s3'), ws.send(big(4)), ws.send('s5')]
  await within(ws.flush())
  await within(Promise.all(sends))
  await within(all)
  assert.deepStrictEqual(got, ['big1', 'big2', 's3', 'big4', 's5'])
  client.close()
  await stop(wss)
})

test('close() refuses a bad code or reason the same way while sends wait for room (the core\'s one check)', async () => {
  const wss = await listen({ maxBufferedAmount: 1 << 20 }) // hard limit 2 MiB: a 3 MiB send waits
  const { client, ws } = await pair(wss)
  const refusals = () =>
    [() => ws.close(1005), () => ws.close(1000, 'x'.repeat(124))].map((f) => {
      try {
        f()
      } catch (e) {
        return [e.constructor.name, e.code, e.message]
      }
      return null
    })
  const idle = refusals()
  const waiting = ws.send(Buffer.alloc(3 << 20, 1))
  const busy = refusals()
  assert.deepStrictEqual(busy, idle)
  assert.deepStrictEqual(
    idle.map((e) => e && e.slice(0, 2)),
    [
      ['TypeError', 'WSSESSION_ERR_INVALID_ARGUMENT'],
      ['RangeError', 'WSSESSION_ERR_INVALID_ARGUMENT'],
    ],
  )
  await within(waiting)
  assert.strictEqual(ws.readyState, WebSocket.OPEN, 'nothing was closed by the refused calls')
  client.close()
  await stop(wss)
})

test('many messages arrive in order and complete (batched delivery with backpressure)', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const N = 5000
  let count = 0
  let ok = true
  const done = new Promise((resolve) => {
    ws.on('message', (d) => {
      if (Number(String(d)) !== count) ok = false
      if (++count === N) resolve()
    })
  })
  for (let i = 0; i < N; i++) client.send(String(i))
  await within(done, 20000)
  assert.ok(ok, 'messages arrived in order')
  client.close()
  await stop(wss)
})

test('small and large messages of one batch keep their own bytes, type and order, also as ArrayBuffers', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const sizes = [0, 1, 31, 1024, 1025, 5000, 7, 70000, 2]
  const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1))
  const got = []
  const done = new Promise((resolve) => {
    ws.on('message', (d, isBinary) => {
      got.push({ isBinary, data: d })
      if (got.length === 2 * sizes.length) resolve()
    })
  })
  ws.binaryType = 'arraybuffer'
  for (const b of sent) {
    client.send(b, { binary: true })
    client.send(b.toString('latin1'))
  }
  await within(done, 10000)
  for (let i = 0; i < sizes.length; i++) {
    const bin = got[2 * i]
    const text = got[2 * i + 1]
    assert.strictEqual(bin.isBinary, true)
    assert.ok(bin.data instanceof ArrayBuffer, 'binary messages are ArrayBuffers with binaryType arraybuffer')
    assert.ok(Buffer.from(bin.data).equals(sent[i]), `binary message ${i} (${sizes[i]} bytes) intact`)
    assert.strictEqual(text.isBinary, false)
    assert.ok(Buffer.isBuffer(text.data), 'text messages stay Buffers')
    assert.strictEqual(text.data.toString('latin1'), sent[i].toString('latin1'))
  }
  // A Buffer handed out is the message only, whatever it shares underneath.
  const one = new Promise((resolve) => ws.once('message', resolve))
  ws.binaryType = 'nodebuffer'
  client.send(Buffer.from([9, 8, 7]), { binary: true })
  const d = await within(one)
  assert.deepStrictEqual([...d], [9, 8, 7])
  client.close()
  await stop(wss)
})

test('sends made in a message handler reach the peer in order, small, large, fragmented and strings alike', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  try {
    const big = Buffer.alloc(70000, 7)
    const mid = Buffer.alloc(5000, 3)
    const got = []
    const done = new Promise((resolve) => {
      client.on('message', (d, isBinary) => {
        got.push([isBinary, Buffer.from(d)])
        if (got.length === 8) resolve()
      })
    })
    ws.on('message', (d) => {
      ws.send('a')
      ws.send(d, { binary: true })
      ws.send(mid)
      ws.send(big)
      ws.send('é€😀')
      ws.send('frag', { fin: false })
      ws.send('ment')
      ws.send(Buffer.from('text from bytes'), { binary: false })
      ws.send(new Uint8Array([1, 2, 3]))
    })
    client.send(Buffer.from([5, 6]))
    await within(done)
    assert.deepStrictEqual(got, [
      [false, Buffer.from('a')],
      [true, Buffer.from([5, 6])],
      [true, mid],
      [true, big],
      [false, Buffer.from('é€😀')],
      [false, Buffer.from('fragment')],
      [false, Buffer.from('text from bytes')],
      [true, Buffer.from([1, 2, 3])],
    ])
  } finally {
    client.terminate()
    await stop(wss)
  }
})

test('in a message handler, invalid UTF-8 text still rejects, bufferedAmount counts the sends not yet written and close follows them', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  try {
    const got = []
    client.on('message', (d) => got.push(d.length > 100 ? d.length : String(d)))
    const big = Buffer.alloc(32 << 20, 1)
    const handled = new Promise((resolve) => {
      ws.on('message', () => {
        const bad = ws.send(Buffer.from([0xff, 0xfe]), { binary: false })
        for (let i = 0; i < 3; i++) ws.send(`m${i}`)
        ws.send(big)
        const amount = ws.bufferedAmount
        ws.close(4001, 'after the sends')
        resolve({ bad, amount })
      })
    })
    client.send('go')
    client.pause() // the client reads nothing until the server's sends are queued
    const { bad, amount } = await within(handled)
    await assert.rejects(bad, { code: 'WSSESSION_ERR_INVALID_ARGUMENT' })
    assert.ok(amount > 0, `bufferedAmount after a 32 MiB send to a client that is not reading is ${amount}`)
    const closed = waitFor(client, 'close', 20000)
    client.resume()
    const [code] = await closed
    assert.strictEqual(code, 4001)
    assert.deepStrictEqual(got, ['m0', 'm1', 'm2', big.length])
  } finally {
    client.terminate()
    await stop(wss)
  }
})

test('replies sent from many sessions in one batch all arrive in order (one native call per batch)', async () => {
  const wss = await listen()
  wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })))
  const clients = []
  try {
    for (let k = 0; k < 20; k++) {
      const c = new WsClient(`ws://127.0.0.1:${wss.address().port}/`)
      c.on('error', () => {})
      clients.push(c)
      await waitFor(c, 'open')
    }
    const N = 50
    const echoed = clients.map(
      (c, k) =>
        new Promise((resolve, reject) => {
          let i = 0
          c.on('message', (d) => {
            if (String(d) !== `${k}:${i}`) reject(new Error(`client ${k} got ${d} instead of ${k}:${i}`))
            if (++i === N) resolve()
          })
        }),
    )
    clients.forEach((c, k) => {
      for (let i = 0; i < N; i++) c.send(`${k}:${i}`)
    })
    await within(Promise.all(echoed), 20000)
  } finally {
    for (const c of clients) c.terminate()
    await stop(wss)
  }
})

test('server.close stops accepting but keeps open sessions; shutdown closes them with 1001', async () => {
  const wss = await listen()
  const { client, ws } = await pair(wss)
  const port = wss.address().port
  let closedEmitted = false
  wss.close(() => {
    closedEmitted = true
  })
  const refused = new WsClient(`ws://127.0.0.1:${port}`)
  await waitFor(refused, 'error')
  const echo = waitFor(client, 'message')
  ws.send('still here')
  assert.strictEqual(String((await echo)[0]), 'still here')
  assert.strictEqual(closedEmitted, false)
  const closing = waitFor(client, 'close')
  ws.close(1000)
  await closing
  await within(new Promise((r) => (closedEmitted ? r() : wss.once('close', r))))

  const wss2 = await listen()
  const p = await pair(wss2)
  const clientClosed = waitFor(p.client, 'close')
  await within(wss2.shutdown({ grace: 1000 }))
  const [code] = await clientClosed
  assert.strictEqual(code, 1001)
  assert.strictEqual((await p.ws.closeReason).code, 1001)
  assert.strictEqual(wss2.clients.size, 0)
})

test('path and plain HTTP requests are refused like ws does; address reports the bound port', async () => {
  const wss = await listen({ path: '/chat' })
  const addr = wss.address()
  assert.strictEqual(addr.family, 'IPv4')
  assert.ok(addr.port > 0)
  const wrong = new WsClient(`ws://127.0.0.1:${addr.port}/other`)
  wrong.on('error', () => {})
  const [, res] = await waitFor(wrong, 'unexpected-response')
  assert.strictEqual(res.statusCode, 400)
  res.resume()
  const { client, req, ws } = await pair(wss, '/chat?room=1')
  assert.strictEqual(req.url, '/chat?room=1')
  assert.strictEqual(req.headers.host, `127.0.0.1:${addr.port}`)
  assert.strictEqual(req.socket.remoteAddress, '127.0.0.1')
  assert.strictEqual(ws.call.query, 'room=1')
  const http = require('node:http')
  const status = await within(
    new Promise((resolve, reject) => http.get(`http://127.0.0.1:${addr.port}/chat`, (r) => resolve(r.statusCode)).on('error', reject)),
  )
  assert.strictEqual(status, 426)
  client.close()
  await stop(wss)
})

test('permessage-deflate is negotiated when enabled and round-trips large messages', async () => {
  const wss = await listen({ perMessageDeflate: { threshold: 0, zlibDeflateOptions: { level: 9, memLevel: 1 } } })
  const { client, ws } = await pair(wss)
  assert.strictEqual(ws.extensions, 'permessage-deflate')
  assert.match(client.extensions, /permessage-deflate/)
  const big = 'x'.repeat(100000)
  ws.on('message', (d, b) => ws.send(d, { binary: b }))
  const got = waitFor(client, 'message')
  client.send(big)
  assert.strictEqual(String((await got)[0]), big)
  client.close()
  await stop(wss)
  const plain = await listen()
  const p = await pair(plain)
  assert.strictEqual(p.ws.extensions, '')
  p.client.close()
  await stop(plain)
})

test('a port in use is reported as an error event with code EADDRINUSE', async () => {
  const wss = await listen()
  const dup = track(new WebSocketServer({ port: wss.address().port }))
  const [err] = await waitFor(dup, 'error')
  assert.strictEqual(err.code, 'EADDRINUSE')
  assert.strictEqual(dup.address(), null)
  await stop(wss)
})
