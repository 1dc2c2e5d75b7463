#!/usr/bin/env node
// Node scenario server for the cross-surface suite (tests/surfaces/README.md: the control messages).
//   node tests/surfaces/servers/scenario_server.js --port PORT [--tls CERT KEY]
// Paths other than /events run the control messages on a ws-style socket; /events fills the queue
// with send() and records 'drain'.
'use strict'
const { WebSocketServer } = require('wssession')

const args = process.argv.slice(2)
let port = 0
let tls
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i])
  else if (args[i] === '--tls') tls = { cert: args[++i], key: args[++i] }
  else {
    console.error(`scenario_server.js: unknown argument ${args[i]}`)
    process.exit(2)
  }
}

/** Process-wide notes the driver reads back with `!note KEY`. */
const notes = new Map()

/** The suite's custom converter: `custom:` + JSON in a Binary frame. */
const Custom = {
  serialize: (value) => ({ type: 'binary', data: Buffer.from(`custom:${JSON.stringify(value)}`) }),
  deserialize: (frame) => JSON.parse(Buffer.from(frame.data).toString().replace(/^custom:/, '')),
}

async function outcome(promise) {
  try {
    await promise
    return 'sent'
  } catch (e) {
    return e.code === 'WSSESSION_ERR_CLOSED' ? 'closed' : 'error'
  }
}

function refused(fn) {
  try {
    fn()
    return 'accepted'
  } catch {
    return 'invalid'
  }
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: { threshold: 0 },
  maxPayload: 16 << 20,
  pingTimeout: 60000,
  closeTimeout: 60000,
  maxBufferedAmount: 1 << 20,
  clientTracking: false,
  handleProtocols: (offered) => (offered.has('beta') ? 'beta' : offered.has('alpha') ? 'alpha' : false),
  verifyClient: (info, cb) => (info.req.url === '/reject' ? cb(false, 403, 'rejected by hook') : cb(true)),
  tls,
})
wss.on('error', (e) => {
  console.error(`scenario_server.js: ${e.message}`)
  process.exit(1)
})
wss.on('listening', () => console.log(`node scenario server on 127.0.0.1:${wss.address().port}`))

async function command(ws, state, line) {
  const [name, ...rest] = line.split(' ')
  const tag = state.tag
  switch (name) {
    case 'tag':
      state.tag = rest[0]
      ws.closeReason.then((r) => notes.set(`close:${rest[0]}`, `${r.code} ${r.initiator} ${r.reason}`))
      return ws.send('ok')
    case 'note':
      return ws.send(notes.has(rest[0]) ? notes.get(rest[0]) : '-')
    case 'masking':
      ws.masking = rest[0] === '1'
      return ws.send('ok')
    case 'max_frame_size':
      ws.maxFrameSize = Number(rest[0])
      return ws.send('ok')
    case 'ping_interval':
      ws.pingIntervalMillis = Number(rest[0])
      return ws.send('ok')
    case 'timeout':
      ws.timeoutMillis = Number(rest[0])
      return ws.send('ok')
    case 'close_timeout':
      ws.closeTimeoutMillis = Number(rest[0])
      return ws.send('ok')
    case 'latency':
      return ws.send(ws.latency === null ? 'none' : ws.latency.toFixed(3))
    case 'fragments':
      rest.forEach((word, i) => ws.send(word, { fin: i + 1 === rest.length }))
      return
    case 'close':
      return ws.close(Number(rest[0]), rest.slice(1).join(' '))
    case 'terminate':
      return ws.terminate()
    case 'flush': {
      notes.set(`flush:${tag}`, 'sending')
      await ws.send(Buffer.alloc(Number(rest[0])))
      notes.set(`flush:${tag}`, 'flushing')
      await ws.flush()
      notes.set(`flush:${tag}`, 'flushed')
      return
    }
    case 'send_wait': {
      notes.set(`send:${tag}`, '0')
      const [size, count] = rest.map(Number)
      for (let i = 0; i < count; i++) {
        const data = Buffer.alloc(size)
        data[0] = i % 256
        try {
          await ws.outgoing.send({ type: 'binary', data })
        } catch (e) {
          notes.set(`send:${tag}`, 'error')
          return
        }
        notes.set(`send:${tag}`, String(i + 1))
      }
      return
    }
    case 'serialize':
      try {
        return await ws.sendSerialized({ n: 1, s: 'é' })
      } catch (e) {
        if (e.code === 'WSSESSION_ERR_NO_CONVERTER') return ws.send('error:no_converter')
        throw e
      }
    case 'deserialize':
      try {
        return await ws.sendSerialized({ got: await ws.receiveDeserialized() })
      } catch (e) {
        if (e.code !== 'WSSESSION_ERR_DESERIALIZE') throw e
        return ws.send(`error:deserialize ${Buffer.from(e.frame.data).toString()}`)
      }
    case 'converter':
      ws.converter = rest[0] === 'custom' ? Custom : rest[0] === 'none' ? null : state.json
      return ws.send('ok')
    case 'after_close':
      ws.close(1000, 'after')
      notes.set(`after_close_send:${tag}`, await outcome(ws.outgoing.send({ type: 'text', data: 'x' })))
      notes.set(`after_close_ser:${tag}`, await outcome(ws.sendSerialized(1)))
      return
    case 'bad_args':
      return ws.send(
        [
          refused(() => ws.close(1005)),
          refused(() => ws.close(1000, 'r'.repeat(124))),
          refused(() => ws.ping(Buffer.alloc(126))),
        ].join(' '),
      )
    case 'shutdown':
      return ws.application.shutdown({ grace: 2000 })
    case 'events_port':
      return ws.send(String(wss.address().port))
    case 'application':
      return ws.send(String(ws.application.address().port))
    case 'subprotocol':
      return ws.send(ws.protocol || 'none')
    case 'call': {
      const req = ws.call
      const tests = []
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i].toLowerCase() === 'x-test') tests.push(req.rawHeaders[i + 1])
      }
      return ws.send(`${req.method} ${req.path} ${req.query || ''} ${tests.join(',')}`)
    }
    case 'tls':
      return ws.send(String(ws.call.secure))
    case 'subscribe':
      return ws.send(String(ws.subscribe(rest[0])))
    case 'unsubscribe':
      return ws.send(String(ws.unsubscribe(rest[0])))
    case 'topics':
      return ws.send(ws.getTopics().join(',') || '-')
    case 'publish':
      ws.publish(rest[0], rest.slice(1).join(' '))
      return ws.send('ok')
    case 'server_publish':
      return ws.send(String(wss.publish(rest[0], rest.slice(1).join(' ')).delivered))
    case 'subscribers':
      return ws.send(String(wss.numSubscribers(rest[0])))
    default:
      return ws.send(`unknown command ${name}`)
  }
}

/** Ktor style: one loop pulls `ws.incoming` and runs each control message in order, as the other surfaces' handlers do. */
async function scenarios(ws) {
  const state = { tag: '', json: ws.converter }
  for (;;) {
    let next
    try {
      next = await ws.incoming.next()
    } catch {
      return // the session failed; its closeReason says how
    }
    if (next.done) return
    const frame = next.value
    const text = frame.type === 'text' ? frame.data.toString() : null
    try {
      if (text !== null && text.startsWith('!')) await command(ws, state, text.slice(1))
      else await ws.send(frame.data, { binary: frame.type === 'binary' })
    } catch (e) {
      if (e.code !== 'WSSESSION_ERR_CLOSED') console.error(`${text}: ${e.message}`)
    }
  }
}

function events(ws) {
  let tag = ''
  ws.on('message', (data) => {
    const [name, ...rest] = data.toString().replace(/^!/, '').split(' ')
    if (name === 'tag') {
      tag = rest[0]
      ws.send('ok')
    } else if (name === 'fill') {
      const [size, count] = rest.map(Number)
      for (let i = 0; i < count; i++) ws.send(Buffer.alloc(size))
      notes.set(`try:${tag}`, '-'.repeat(count))
    }
  })
  ws.on('drain', () => notes.set(`drain:${tag}`, '1'))
}

wss.on('connection', (ws, req) => {
  ws.on('error', () => {})
  if (req.url === '/events') events(ws)
  else scenarios(ws)
})

const stop = () => process.exit(0)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
