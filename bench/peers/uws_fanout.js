'use strict';
// uWebSockets.js (npm `uwebsockets`) fan-out server for the wssession topics benchmark:
// node uws_fanout.js --port N. A connection to /sub/<topic> subscribes to <topic>; each message
// from /pub is published with app.publish to the topic named by its text up to the first space.
const uWS = require('uwebsockets');

const args = process.argv.slice(2);
const portIdx = args.indexOf('--port');
if (portIdx < 0 || !args[portIdx + 1]) {
  console.error('usage: uws_fanout.js --port N');
  process.exit(2);
}
const port = Number(args[portIdx + 1]);

const app = uWS.App();
app
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      res.upgrade({ url: req.getUrl() }, req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const url = ws.getUserData().url;
      if (url.startsWith('/sub/')) ws.subscribe(url.slice(5));
    },
    message: (ws, message, isBinary) => {
      const bytes = new Uint8Array(message);
      let end = bytes.indexOf(32);
      if (end < 0) end = bytes.length;
      const topic = Buffer.from(message, 0, end).toString('latin1');
      app.publish(topic, message, isBinary);
    },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uws: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    console.error(`uws fan-out on 127.0.0.1:${port}`);
  });
