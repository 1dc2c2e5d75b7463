// Type-checked (tsc --noEmit) against the package's declarations; never run.
import WebSocket, { WebSocketServer, type CloseReason, type Frame } from 'wssession'

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
