'use strict'
// wssession: a ws-compatible WebSocketServer whose sockets also carry Ktor's session members.
// `const { WebSocketServer } = require('wssession')` works like ws; so does `require('wssession').Server`.

const { WebSocketServer } = require('./server')
const { WebSocket } = require('./websocket')
const { JsonConverter } = require('./converter')
const { createWebSocketStream } = require('./stream')
const { Position } = require('./position')

module.exports = WebSocket
module.exports.WebSocket = WebSocket
module.exports.WebSocketServer = WebSocketServer
module.exports.Server = WebSocketServer
module.exports.JsonConverter = JsonConverter
module.exports.createWebSocketStream = createWebSocketStream
module.exports.Position = Position
