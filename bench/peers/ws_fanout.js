'use strict';
// ws (Node) fan-out server for the wssession topics benchmark: node ws_fanout.js --port N.
// The idiomatic room loop: a connection to /sub/<topic> joins a Set per topic; each message from
// /pub is sent with ws.send to every member of the topic named by its text up to the first space
// (ws frames, and would compress, the message once per client). With one topic the Set holds every
// subscriber: the `wss.clients` loop of the ws README.
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const portIdx = args.indexOf('--port');
if (portIdx < 0 || !args[portIdx + 1]) {
  console.error('usage: ws_fanout.js --port N');
  process.exit(2);
}
const port = Number(args[portIdx + 1]);
const rooms = new Map();

const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  if (req.url.startsWith('/sub/')) {
    const topic = req.url.slice(5);
    if (!rooms.has(topic)) rooms.set(topic, new Set());
    rooms.get(topic).add(ws);
    ws.on('close', () => rooms.get(topic).delete(ws));
    return;
  }
  ws.on('message', (data, isBinary) => {
    let end = data.indexOf(32);
    if (end < 0) end = data.length;
    const room = rooms.get(data.toString('latin1', 0, end));
    if (!room) return;
    for (const client of room) client.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => console.error(`ws fan-out on 127.0.0.1:${port}`));
