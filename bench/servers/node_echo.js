#!/usr/bin/env node
// Echo server for benchmarks and cross-language tests:
//   node bench/servers/node_echo.js --port PORT [--deflate] [--http]
// Listens on 127.0.0.1:PORT, echoes every message unchanged (text stays text, binary stays binary),
// offers permessage-deflate with --deflate, runs until SIGTERM/SIGINT. With --http the port belongs to a
// Node http.Server and each upgraded socket is handed to the engine by descriptor ({ server } mode).
'use strict'
const { WebSocketServer } = require('wssession')

const args = process.argv.slice(2)
let port = 9001
let deflate = false
let external = false
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i])
  else if (args[i] === '--deflate') deflate = true
  else if (args[i] === '--http') external = true
  else {
    console.error(`usage: node bench/servers/node_echo.js --port PORT [--deflate] [--http] (unknown argument ${args[i]})`)
    process.exit(2)
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be 0-65535 (got ${port})`)
  process.exit(2)
}

const common = { perMessageDeflate: deflate ? { threshold: 0 } : false, clientTracking: false }
const server = external ? require('node:http').createServer((req, res) => res.end()) : null
const wss = new WebSocketServer(external ? { server, ...common } : { host: '127.0.0.1', port, ...common })
wss.on('error', (e) => {
  console.error(`node_echo: ${e.message}`)
  process.exit(1)
})
wss.on('listening', () => console.log(`node_echo listening on 127.0.0.1:${wss.address().port}`))
if (server) server.listen(port, '127.0.0.1')
wss.on('connection', (ws) => {
  ws.on('error', () => {})
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary })
  })
})
const stop = () => process.exit(0)
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
