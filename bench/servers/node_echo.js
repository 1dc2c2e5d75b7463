#!/usr/bin/env node
// Echo server for benchmarks and cross-language tests:
//   node bench/servers/node_echo.js --port PORT [--deflate] [--host-loop] [--http | --https CERT.pem KEY.pem]
// Listens on 127.0.0.1:PORT, echoes every message unchanged (text stays text, binary stays binary),
// offers permessage-deflate with --deflate, runs until SIGTERM/SIGINT. With --http the port belongs to a
// Node http.Server and each upgraded socket is handed to the engine by descriptor ({ server } mode).
// With --https it belongs to a Node https.Server with that certificate and key: Node terminates TLS
// and the engine is fed through the byte pump. With --host-loop Node's own loop reads the sockets
// (`hostLoop: true`).
'use strict'
const fs = require('node:fs')
const { WebSocketServer } = require('wssession')

const USAGE = 'usage: node bench/servers/node_echo.js --port PORT [--deflate] [--host-loop] [--http | --https CERT.pem KEY.pem]'

const args = process.argv.slice(2)
let port = 9001
let deflate = false
let hostLoop = false
let external = null
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i])
  else if (args[i] === '--deflate') deflate = true
  else if (args[i] === '--host-loop') hostLoop = true
  else if (args[i] === '--http' && !external) external = { kind: 'http' }
  else if (args[i] === '--https' && !external && i + 2 < args.length) {
    external = { kind: 'https', cert: args[++i], key: args[++i] }
  } else {
    console.error(`${USAGE} (unexpected argument ${args[i]})`)
    process.exit(2)
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be 0-65535 (got ${port})`)
  process.exit(2)
}

const common = { perMessageDeflate: deflate ? { threshold: 0 } : false, clientTracking: false, ...(hostLoop && { hostLoop }) }
const plainResponse = (req, res) => res.end()
const server = !external
  ? null
  : external.kind === 'http'
    ? require('node:http').createServer(plainResponse)
    : require('node:https').createServer({ cert: fs.readFileSync(external.cert), key: fs.readFileSync(external.key) }, plainResponse)
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
