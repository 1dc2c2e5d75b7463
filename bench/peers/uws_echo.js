'use strict';
// uWebSockets.js (npm `uwebsockets`, which republishes its prebuilt binaries) echo server for the
// wssession benchmark: node uws_echo.js --port N [--deflate]
const uWS = require('uwebsockets');

const args = process.argv.slice(2);
const portIdx = args.indexOf('--port');
if (portIdx < 0 || !args[portIdx + 1]) {
  console.error('usage: uws_echo.js --port N [--deflate]');
  process.exit(2);
}
const port = Number(args[portIdx + 1]);
const deflate = args.includes('--deflate');

uWS.App()
  .ws('/*', {
    // A dedicated compressor is what permessage-deflate with context takeover means in uWS.js;
    // the loadgen offers client_no_context_takeover, which it accepts.
    compression: deflate ? uWS.DEDICATED_COMPRESSOR_32KB : uWS.DISABLED,
    maxPayloadLength: 64 * 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    // No idle timeout: the idle scenarios hold connections open without traffic.
    idleTimeout: 0,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary, deflate);
    },
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uws: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    console.error(`uws echo on 127.0.0.1:${port} deflate=${deflate}`);
  });
