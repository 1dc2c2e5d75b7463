'use strict'
// Topics (SPEC §14) with uWebSockets.js's names: ws.subscribe/unsubscribe/isSubscribed/getTopics/publish,
// wss.publish/numSubscribers and the slowSubscriber option, observed through the real ws client.
const test = require('node:test')
const assert = require('node:assert')
const { waitFor, within, listen, pair, stop } = require('./helpers')
const { randomBytes } = require('node:crypto')
const { WebSocketServer } = require('wssession')

/** A payload large enough that a client that stops reading fills its socket buffers in a few dozen messages. */
const BIG = randomBytes(256 * 1024)

/** A listening server stopped when the test ends, whether it passed or not. */
async function server(t, options) {
  const wss = await listen(options)
  t.after(() => stop(wss))
  return wss
}

/** `n` open pairs `{ client, ws }` on `wss`; the clients are terminated when the test ends (a paused one would
 * never see the server go away). */
async function pairs(t, wss, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    const p = await pair(wss)
    t.after(() => p.client.terminate())
    out.push(p)
  }
  return out
}

/** The client's next message, as `[text or Buffer, isBinary]`. */
async function next(client) {
  const [data, isBinary] = await waitFor(client, 'message')
  return [isBinary ? data : String(data), isBinary]
}

/** The client's next `n` messages, as text. */
function messages(client, n) {
  return new Promise((resolve) => {
    const got = []
    client.on('message', (data) => {
      got.push(String(data))
      if (got.length === n) resolve(got)
    })
  })
}

/** The client's next message is `marker`: anything published to it before the marker would come first. */
async function nextIsMarker(ws, client) {
  const got = next(client)
  ws.send('marker')
  assert.deepStrictEqual(await got, ['marker', false])
}

test('wss.publish reaches every subscriber of the topic and no one else', async (t) => {
  const wss = await server(t)
  const [a, b, other] = await pairs(t, wss, 3)
  assert.strictEqual(a.ws.subscribe('news'), true)
  assert.strictEqual(b.ws.subscribe('news'), true)
  const got = Promise.all([next(a.client), next(b.client)])
  assert.deepStrictEqual(wss.publish('news', 'hello'), { delivered: 2, dropped: 0, closed: 0 })
  assert.deepStrictEqual(await got, [
    ['hello', false],
    ['hello', false],
  ])
  await nextIsMarker(other.ws, other.client)
})

test('a string is published as text and bytes as binary unless { binary } says otherwise', async (t) => {
  const wss = await server(t)
  const [a] = await pairs(t, wss, 1)
  a.ws.subscribe('t')
  const got = []
  const all = new Promise((resolve) =>
    a.client.on('message', (data, isBinary) => {
      got.push([isBinary ? [...data] : String(data), isBinary])
      if (got.length === 4) resolve()
    }),
  )
  wss.publish('t', 'é')
  wss.publish('t', Buffer.from([0, 255]))
  wss.publish('t', Buffer.from('ab'), { binary: false })
  wss.publish('t', 'cd', { binary: true, compress: false })
  await within(all)
  assert.deepStrictEqual(got, [
    ['é', false],
    [[0, 255], true],
    ['ab', false],
    [[99, 100], true],
  ])
})

test('ws.publish reaches the other subscribers but not the sender', async (t) => {
  const wss = await server(t)
  const [a, b] = await pairs(t, wss, 2)
  a.ws.subscribe('room')
  b.ws.subscribe('room')
  const got = next(b.client)
  assert.strictEqual(a.ws.publish('room', 'from a'), true)
  assert.deepStrictEqual(await got, ['from a', false])
  await nextIsMarker(a.ws, a.client)
})

test('ws.publish returns false when no other session is subscribed to the topic', async (t) => {
  const wss = await server(t)
  const [a] = await pairs(t, wss, 1)
  a.ws.subscribe('room')
  assert.strictEqual(a.ws.publish('room', 'alone'), false)
  assert.strictEqual(a.ws.publish('empty', 'nobody'), false)
  await nextIsMarker(a.ws, a.client)
})

test('subscribe, unsubscribe, isSubscribed, getTopics and numSubscribers', async (t) => {
  const wss = await server(t)
  const [a, b] = await pairs(t, wss, 2)
  assert.strictEqual(a.ws.subscribe('x'), true)
  assert.strictEqual(a.ws.subscribe('x'), false) // already subscribed
  a.ws.subscribe('y')
  b.ws.subscribe('y')
  assert.strictEqual(a.ws.isSubscribed('x'), true)
  assert.strictEqual(b.ws.isSubscribed('x'), false)
  assert.deepStrictEqual(a.ws.getTopics().sort(), ['x', 'y'])
  assert.deepStrictEqual([wss.numSubscribers('x'), wss.numSubscribers('y'), wss.numSubscribers('z')], [1, 2, 0])
  assert.strictEqual(a.ws.unsubscribe('x'), true)
  assert.strictEqual(a.ws.unsubscribe('x'), false) // no longer subscribed
  assert.deepStrictEqual(a.ws.getTopics(), ['y'])
  assert.strictEqual(wss.numSubscribers('x'), 0)
})

test('an unsubscribed socket no longer receives the topic', async (t) => {
  const wss = await server(t)
  const [a] = await pairs(t, wss, 1)
  a.ws.subscribe('t')
  a.ws.unsubscribe('t')
  assert.deepStrictEqual(wss.publish('t', 'missed'), { delivered: 0, dropped: 0, closed: 0 })
  await nextIsMarker(a.ws, a.client)
})

test('subscriptions end when the session closes', async (t) => {
  const wss = await server(t)
  const [a, b] = await pairs(t, wss, 2)
  a.ws.subscribe('t')
  b.ws.subscribe('t')
  const closed = waitFor(a.ws, 'close')
  a.client.close()
  await closed
  assert.strictEqual(wss.numSubscribers('t'), 1)
  assert.deepStrictEqual(a.ws.getTopics(), [])
  const got = next(b.client)
  assert.deepStrictEqual(wss.publish('t', 'after'), { delivered: 1, dropped: 0, closed: 0 })
  assert.deepStrictEqual(await got, ['after', false])
})

test('a publish made in a message handler comes after the sends made before it', async (t) => {
  const wss = await server(t)
  const [a] = await pairs(t, wss, 1)
  a.ws.subscribe('t')
  a.ws.on('message', () => {
    a.ws.send('first')
    wss.publish('t', 'second')
  })
  const both = messages(a.client, 2)
  a.client.send('go')
  assert.deepStrictEqual(await within(both), ['first', 'second'])
})

test('every publish the message handlers make reaches every subscriber in order, the last one without a later event', async (t) => {
  const wss = await server(t)
  const [publisher, ...subscribers] = await pairs(t, wss, 4)
  for (const s of subscribers) s.ws.subscribe('feed')
  // Many messages at once: the handlers of one delivered batch publish them all before it ends.
  publisher.ws.on('message', (data) => wss.publish('feed', data, { binary: false }))
  const sent = Array.from({ length: 200 }, (_, i) => `m${i}`)
  const received = subscribers.map((s) => messages(s.client, sent.length))
  for (const m of sent) publisher.client.send(m)
  for (const got of await within(Promise.all(received))) assert.deepStrictEqual(got, sent)
})

test("a handler's publishes and its own sends reach a subscriber in the order they were made", async (t) => {
  const wss = await server(t)
  const [a] = await pairs(t, wss, 1)
  a.ws.subscribe('t')
  a.ws.on('message', () => {
    wss.publish('t', 'first')
    a.ws.send('second')
    wss.publish('t', 'third')
  })
  const all = messages(a.client, 3)
  a.client.send('go')
  assert.deepStrictEqual(await within(all), ['first', 'second', 'third'])
})

test('topics are strings of 1 to 1024 UTF-8 bytes: anything else is refused with a TypeError', async (t) => {
  const wss = await server(t)
  const [a] = await pairs(t, wss, 1)
  assert.throws(() => a.ws.subscribe(42), TypeError)
  assert.throws(() => a.ws.subscribe(''), { name: 'TypeError', code: 'WSSESSION_ERR_INVALID_ARGUMENT' })
  assert.throws(() => wss.publish('é'.repeat(513), 'x'), { code: 'WSSESSION_ERR_INVALID_ARGUMENT' })
  assert.strictEqual(a.ws.subscribe('é'.repeat(512)), true) // 1024 bytes
  assert.throws(() => wss.publish(undefined, 'x'), TypeError)
  assert.throws(() => wss.publish('t', 'x', { binary: 'yes' }), TypeError)
})

/** Publishes BIG to `topic` until the slow subscriber hit the policy; the fast client gets every message in turn. */
async function publishUntilSlow(wss, topic, fast, field) {
  for (let i = 0; i < 2000; i++) {
    const got = next(fast.client)
    const r = wss.publish(topic, BIG)
    const [data, isBinary] = await got
    assert.ok(isBinary && data.equals(BIG), 'the fast subscriber got the message')
    if (r[field] > 0) return r
  }
  throw new Error(`the slow subscriber was never ${field}`)
}

test('a subscriber that stops reading does not hold up the others; its messages are dropped and counted', async (t) => {
  const wss = await server(t, { slowSubscriber: 'drop' })
  const [fast, slow] = await pairs(t, wss, 2)
  slow.client.pause() // ws stops reading its socket
  fast.ws.subscribe('feed')
  slow.ws.subscribe('feed')
  const r = await publishUntilSlow(wss, 'feed', fast, 'dropped')
  assert.deepStrictEqual(r, { delivered: 1, dropped: 1, closed: 0 })
  assert.strictEqual(slow.ws.readyState, slow.ws.OPEN)
  assert.ok(wss.stats().publishDrops >= 1)
})

test('with slowSubscriber set to a close code, a subscriber that stops reading is closed with it', async (t) => {
  const wss = await server(t, { slowSubscriber: 1013, closeTimeout: 500 })
  const [fast, slow] = await pairs(t, wss, 2)
  slow.client.pause()
  fast.ws.subscribe('feed')
  slow.ws.subscribe('feed')
  const r = await publishUntilSlow(wss, 'feed', fast, 'closed')
  assert.deepStrictEqual(r, { delivered: 1, dropped: 0, closed: 1 })
  const reason = await within(slow.ws.closeReason)
  assert.deepStrictEqual([reason.code, reason.initiator], [1013, 'local'])
  assert.strictEqual(wss.numSubscribers('feed'), 1)
  assert.strictEqual(wss.stats().slowSubscriberCloses, 1)
})

test('the slowSubscriber option is checked: a policy other than drop or a close code is refused by name', () => {
  assert.throws(() => new WebSocketServer({ port: 0, slowSubscriber: 'block' }), (e) => e instanceof TypeError && /slowSubscriber/.test(e.message))
  assert.throws(() => new WebSocketServer({ port: 0, slowSubscriber: 1000 }), /1008.*1013/)
})
