'use strict'
// The backplane URL ({ backplane }): checked by the core, refused by name; an unreachable broker
// never stops the server from listening (the backplane retries in the background). Two servers on one
// real redis-server share topics; with a Redis history publishes have positions and a reconnecting
// client resumes from one (ws.subscribe(topic, { since })).
const test = require('node:test')
const assert = require('node:assert')
const { listen, stop, WsClient, waitFor, startRedis, redisListening, Inbox } = require('./helpers')
const { WebSocketServer, Position } = require('wssession')

test('an unsupported backplane URL or option is refused by name', () => {
  for (const [url, name] of [['kafka://broker', /kafka/], ['redis://127.0.0.1?colour=red', /colour/], ['nats://127.0.0.1?history=5', /history/]]) {
    assert.throws(() => new WebSocketServer({ port: 0, backplane: url }), (e) => e.code === 'WSSESSION_ERR_INVALID_ARGUMENT' && name.test(e.message), url)
  }
  assert.throws(() => new WebSocketServer({ port: 0, backplane: 6379 }), (e) => e instanceof TypeError && /backplane/.test(e.message))
})

test('a server with a backplane listens while its broker is unreachable', async () => {
  const wss = await listen({ backplane: 'redis://127.0.0.1:1' })
  assert.ok(wss.address().port > 0)
  await stop(wss)
})

/**
 * A server whose sockets follow "news": from `?since=<offset>:<epoch>` when given (what was missed first),
 * then 'subscribed'; every message a socket sends is published to the others ("positioned:TEXT" through the
 * history, answered with "published:<position>"); a refused recovery closes with 4000 and its reason.
 */
async function newsServer(backplane) {
  const wss = await listen({ backplane })
  wss.on('connection', async (ws, req) => {
    const since = new URL(req.url, 'ws://x').searchParams.get('since')
    try {
      if (since === null) ws.subscribe('news')
      else await ws.subscribe('news', { since })
    } catch (e) {
      ws.close(4000, e.code === 'WSSESSION_ERR_RECOVERY' ? e.reason : e.message)
      return
    }
    ws.send('subscribed')
    ws.on('message', async (data, isBinary) => {
      const text = data.toString()
      if (!isBinary && text.startsWith('positioned:')) {
        const placed = await ws.publishPositioned('news', text.slice('positioned:'.length))
        ws.send(`published:${placed}`)
      } else {
        ws.publish('news', data, isBinary)
      }
    })
  })
  return wss
}

/** Waits until the server's backplane is connected to its broker (positioned publishes need it). */
async function connected(wss) {
  for (let i = 0; i < 1000 && !wss.stats().backplane.connected; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  assert.ok(wss.stats().backplane.connected, 'the backplane connected')
}

async function client(wss, path = '/') {
  const c = new WsClient(`ws://127.0.0.1:${wss.address().port}${path}`)
  c.on('error', () => {})
  const inbox = new Inbox(c)
  await waitFor(c, 'open')
  return { c, inbox }
}

test('two servers on one redis deliver each other\'s publishes', async (t) => {
  const redis = await startRedis(t)
  const a = await newsServer(redis.url)
  const b = await newsServer(redis.url)
  const ca = await client(a)
  const cb = await client(b)
  assert.strictEqual(await ca.inbox.next(), 'subscribed')
  assert.strictEqual(await cb.inbox.next(), 'subscribed')
  await redisListening(redis.port, 'wss:c:news', 2)
  assert.strictEqual(a.publish('news', 'from a').delivered, 1) // a's own subscriber at once, b's through Redis
  assert.strictEqual(await ca.inbox.next(), 'from a')
  assert.strictEqual(await cb.inbox.next(), 'from a')
  cb.c.send("from b's client") // a socket's publish reaches the other node, not its sender
  assert.strictEqual(await ca.inbox.next(), "from b's client")
  b.publish('news', 'marker')
  assert.strictEqual(await cb.inbox.next(), 'marker') // nothing came back to the sender before it
  ca.c.close()
  cb.c.close()
  await stop(a)
  await stop(b)
})

test('a reconnecting client resumes from its last position with nothing missing or repeated', async (t) => {
  const redis = await startRedis(t)
  const wss = await newsServer(`${redis.url}?history=100&positions=1`)
  await connected(wss)
  const first = await client(wss)
  assert.strictEqual(await first.inbox.next(), 'subscribed')
  await redisListening(redis.port, 'wss:c:news', 1) // the node follows the topic on Redis
  const published = [await wss.publishPositioned('news', 'm1'), await wss.publishPositioned('news', 'm2')]
  assert.ok(published[0] instanceof Position)
  assert.strictEqual(published[1].offset, published[0].offset + 1)
  assert.strictEqual(published[1].epoch, published[0].epoch)
  const received = [await first.inbox.next(), await first.inbox.next()]
  assert.deepStrictEqual(received, [`${published[0]}:m1`, `${published[1]}:m2`])
  first.c.close()
  await waitFor(first.c, 'close')

  const last = received[1].slice(0, received[1].lastIndexOf(':')) // the client read up to m2
  const missed = [await wss.publishPositioned('news', 'm3'), await wss.publishPositioned('news', 'm4')]
  const again = await client(wss, `/?since=${last}`)
  // What it missed comes first, then the handler's 'subscribed', then the live messages.
  assert.deepStrictEqual(
    [await again.inbox.next(), await again.inbox.next(), await again.inbox.next()],
    [`${missed[0]}:m3`, `${missed[1]}:m4`, 'subscribed'],
  )
  const live = await wss.publishPositioned('news', Buffer.from('m5'), { binary: false })
  assert.strictEqual(await again.inbox.next(), `${live}:m5`)
  // A socket's positioned publish: the others get it, its own client does not.
  again.c.send('positioned:from the client')
  const placed = await again.inbox.next()
  assert.strictEqual(placed, `published:${live.offset + 1}:${live.epoch}`)
  const marker = await wss.publishPositioned('news', 'm7')
  assert.strictEqual(await again.inbox.next(), `${marker}:m7`) // delivered in offset order: no echo before it
  again.c.close()
  await stop(wss)
})

test('recovery is refused with its reason once the history was trimmed', async (t) => {
  const redis = await startRedis(t)
  const wss = await newsServer(`${redis.url}?history=10`)
  await connected(wss)
  const follower = await client(wss)
  assert.strictEqual(await follower.inbox.next(), 'subscribed')
  await redisListening(redis.port, 'wss:c:news', 1)
  const first = await wss.publishPositioned('news', '0')
  // MAXLEN ~ trims whole stream nodes (100 entries by default): 300 messages leave ~110.
  for (let i = 1; i < 300; i++) await wss.publishPositioned('news', String(i))
  const late = await client(wss, `/?since=${first}`)
  assert.deepStrictEqual(await late.inbox.next(), { code: 4000, reason: 'trimmed' })
  assert.strictEqual(wss.numSubscribers('news'), 1) // the follower only
  follower.c.close()
  await stop(wss)
})

test('without a history positions are refused with no_history, and a bad since by name', async (t) => {
  const redis = await startRedis(t)
  const wss = await newsServer(redis.url)
  await connected(wss)
  assert.strictEqual(wss.stats().backplane.kind, 'redis')
  await assert.rejects(wss.publishPositioned('news', 'x'), (e) => e.code === 'WSSESSION_ERR_RECOVERY' && e.reason === 'no_history')
  const c = await client(wss, '/?since=1:abc')
  assert.deepStrictEqual(await c.inbox.next(), { code: 4000, reason: 'no_history' })
  const d = await client(wss, '/?since=nonsense')
  const closed = await d.inbox.next()
  assert.strictEqual(closed.code, 4000)
  assert.match(closed.reason, /nonsense/)
  assert.strictEqual(String(new Position(42, 'k3j')), '42:k3j')
  await stop(wss)
})
