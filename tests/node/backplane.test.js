'use strict'
// The backplane URL ({ backplane }): checked by the core, refused by name; an unreachable broker
// never stops the server from listening (the backplane retries in the background).
const test = require('node:test')
const assert = require('node:assert')
const { listen, stop } = require('./helpers')
const { WebSocketServer } = require('wssession')

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
