'use strict'
// wssession fan-out server for the topics benchmark (Node, `wss.publish`):
// node node_fanout.js --port N [--host-loop] (with --host-loop Node's own loop reads the sockets: `hostLoop: true`).
// A connection to /sub/<topic> subscribes to <topic>; each message from /pub is published with
// wss.publish to the topic named by its text up to the first space.
const { WebSocketServer } = require('wssession')

const args = process.argv.slice(2)
const portIdx = args.indexOf('--port')
if (portIdx < 0 || !args[portIdx + 1]) {
  console.error('usage: node_fanout.js --port N [--host-loop]')
  process.exit(2)
}

// The send-queue limit as uWebSockets.js's maxBackpressure in bench/peers/uws_fanout.js (64 MiB).
const hostLoop = args.includes('--host-loop')
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(args[portIdx + 1]), backlog: 4096, maxBufferedAmount: 64 << 20, ...(hostLoop && { hostLoop }) })
wss.on('connection', (ws, req) => {
  if (req.url.startsWith('/sub/')) {
    ws.subscribe(req.url.slice(5))
    return
  }
  ws.on('message', (data, isBinary) => {
    let end = data.indexOf(32)
    if (end < 0) end = data.length
    wss.publish(data.toString('latin1', 0, end), data, { binary: isBinary })
  })
})
wss.on('listening', () => console.error(`wssession node fan-out on 127.0.0.1:${wss.address().port}`))
