// The README's Node quick start (an echo server), on 127.0.0.1 and the port given as argv[2]
// (0: any free one). Prints "listening on port N" once it accepts connections.
const { WebSocketServer } = require('wssession') // was: require('ws')
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]), perMessageDeflate: true })
wss.on('listening', () => console.log(`listening on port ${wss.address().port}`))
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
})
