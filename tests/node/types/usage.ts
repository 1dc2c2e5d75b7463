// Type-checked (tsc --noEmit) against the package's declarations; never run.
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import WebSocket, { WebSocketServer, createWebSocketStream, type CloseReason, type Frame } from 'wssession'

const wss = new WebSocketServer({ port: 0, perMessageDeflate: { threshold: 0 }, handleProtocols: (p) => p.values().next().value ?? false })
wss.on('connection', async (ws: WebSocket, req) => {
  const ua: string | string[] | undefined = req.headers['user-agent']
  void ua
  ws.on('message', (data, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }))
  ws.on('error', (e) => console.log(e.code))
  ws.on('close', (code: number, reason: Buffer) => console.log(code, reason.toString()))
  await ws.send('hi')
  ws.send('cb', (err) => err && console.error(err))
  await ws.flush()
  for await (const frame of ws.incoming) {
    const f: Frame = frame
    if (f.type === 'text') console.log(f.data.toString(), f.fin)
  }
  await ws.outgoing.send({ type: 'binary', data: Buffer.from('x'), fin: true })
  ws.pingIntervalMillis = 1000
  ws.timeoutMillis = 500
  ws.maxFrameSize = 1 << 20
  ws.masking = false
  const lat: number | null = ws.latency
  void lat
  await ws.sendSerialized({ a: 1 })
  const v = await ws.receiveDeserialized<{ a: number }>()
  console.log(v.a, ws.readyState === WebSocket.OPEN, ws.application === wss)
  const r: CloseReason = await ws.closeReason
  console.log(r.initiator)
})
wss.close(() => undefined)
void wss.shutdown({ grace: 100 })

// ws's namespace types, as code written against @types/ws references them.
function onMessage(this: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
  const copy: WebSocket.Data = isBinary ? (data as Buffer) : data.toString()
  void copy
}
const options: WebSocket.ServerOptions = { noServer: true, maxPayload: 0, allowSynchronousEvents: false, clientTracking: false }
const detached = new WebSocket.Server(options)
const viaAlias: WebSocket.WebSocketServer = new WebSocket.WebSocketServer({ port: 0 })
void viaAlias
const verify: WebSocket.VerifyClientCallbackAsync = (info, cb) => cb(false, 429, 'Slow down', { 'Retry-After': 120, 'X-Reason': ['a', 'b'] })
void new WebSocketServer({ port: 0, verifyClient: verify })
detached.on('headers', (headers: string[]) => headers.push('X-Powered-By: wssession'))
detached.on('wsClientError', (err: Error, socket) => socket.destroy(err))
const http = createServer()
http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  if (!detached.shouldHandle(req)) return socket.destroy()
  detached.handleUpgrade(req, socket, head, (ws: WebSocket) => {
    ws.on('message', onMessage)
    ws.onmessage = (ev: WebSocket.MessageEvent) => console.log(ev.data, ev.target.readyState)
    ws.onclose = (ev: WebSocket.CloseEvent) => console.log(ev.code, ev.reason, ev.wasClean)
    ws.addEventListener('error', (ev: WebSocket.ErrorEvent) => console.log(ev.message), { once: true })
    const stream = WebSocket.createWebSocketStream(ws, { encoding: 'utf8' })
    stream.pipe(stream)
    detached.emit('connection', ws, req)
  })
})
const shared = new WebSocket.Server({ server: http, path: '/ws' })
http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  const response: WebSocket.HandshakeResponse = shared.handshakeResponse(req)
  socket.write(`${response.lines.join('\r\n')}\r\n\r\n`, () => shared.adoptUpgraded(req, socket, head, response).start(response.extensions))
})
class Tagged extends WebSocket {
  tag = 'x'
}
const tagged = new WebSocketServer({ port: 0, WebSocket: Tagged })
tagged.on('connection', (ws) => console.log(ws.tag))
tagged.clients.forEach((ws) => console.log(ws.tag))
void shared
void createWebSocketStream
// @ts-expect-error wssession has no client: the constructor is not public
void new WebSocket('ws://example.com')

// Topics, with uWebSockets.js's names.
const rooms = new WebSocketServer({ port: 0, slowSubscriber: 1013 })
rooms.on('connection', (ws: WebSocket) => {
  const added: boolean = ws.subscribe('room')
  const mine: string[] = ws.getTopics()
  ws.on('message', (data, isBinary) => ws.publish('room', data as Buffer, isBinary, false))
  console.log(added, mine, ws.isSubscribed('room'), ws.unsubscribe('other'))
})
const published: WebSocket.PublishResult = rooms.publish('room', 'hello', { binary: false, compress: true })
console.log(published.delivered + published.dropped + published.closed, rooms.numSubscribers('room'), rooms.getTopics())
