'use strict';
// ws (Node) echo server for the wssession benchmark: node ws_echo.js --port N [--deflate]
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const portIdx = args.indexOf('--port');
if (portIdx < 0 || !args[portIdx + 1]) {
  console.error('usage: ws_echo.js --port N [--deflate]');
  process.exit(2);
}
const port = Number(args[portIdx + 1]);
const deflate = args.includes('--deflate');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  backlog: 4096,
  perMessageDeflate: deflate,
  maxPayload: 64 * 1024 * 1024,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.error(`ws echo on 127.0.0.1:${port} deflate=${deflate}`));
