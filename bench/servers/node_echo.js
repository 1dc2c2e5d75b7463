#!/usr/bin/env node
// Echo server for benchmarks and cross-language tests:
//   node bench/servers/node_echo.js --port PORT [--deflate]
// Listens on 127.0.0.1:PORT, echoes every message unchanged (text stays text, binary stays binary),
// offers permessage-deflate with --deflate, runs until SIGTERM/SIGINT.
'use strict'
const { WebSocketServer } = require('wssession')

const args = process.argv.slice(2)
let port = 9001
let deflate = false
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i])
  else if (args[i] === '--deflate') deflate = true
  else {
    console.error(`usage: node bench/servers/node_echo.js --port PORT [--deflate] (unknown argument ${args[i]})`)
    process.exit(2)
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be 0-65535 (got ${port})`)
  process.exit(2)
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  clientTracking: false,
})
wss.on('error', (e) => {
  console.error(`node_echo: ${e.message}`)
  process.exit(1)
})
wss.on('listening', () => console.log(`node_echo listening on 127.0.0.1:${wss.address().port}`))
wss.on('connection', (ws) => {
  ws.on('error', () => {})
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary })
  })
})
const stop = () => process.exit(0)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
