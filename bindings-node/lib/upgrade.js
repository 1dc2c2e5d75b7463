'use strict'
// handleUpgrade for connections an external http/https server accepted: the application decides in JS
// (shouldHandle, verifyClient, handleProtocols, 'headers'), then the connection goes to the core. A
// plain TCP socket is handed over by its descriptor (the core owns it: no JS on the data path); a TLS
// socket, or any other duplex, through a byte pump (lib/pump.js). The request checks are the core's.

const net = require('node:net')
const { STATUS_CODES } = require('node:http')
const { decideUpgrade, chooseProtocol, upgradeHeaders, rethrowLater } = require('./handshake')
const { pumpStream } = require('./pump')
const { call } = require('./errors')

/** Marks a socket handleUpgrade took (ws refuses a second call with the same socket). */
const kHandled = Symbol('wssession.handled')
/** Synthetic ports for streams without addresses (the core keys a handed-over connection by its addresses). */
let nextSyntheticPort = 0

function destroyOnError() {
  this.destroy()
}

/** `req`'s request line and headers, for the core to parse. */
function rawRequest(req) {
  return { method: req.method, url: req.url, httpVersion: req.httpVersion, rawHeaders: req.rawHeaders }
}

/** Both ends of `socket` (made up, but unique, for a stream without addresses). */
function peerAddress(socket) {
  const secure = Boolean(socket.encrypted || socket.authorized)
  if (socket.remoteAddress && socket.localAddress) {
    return {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      secure,
    }
  }
  nextSyntheticPort = (nextSyntheticPort % 65535) + 1
  return { remoteAddress: '0.0.0.0', remotePort: nextSyntheticPort, localAddress: '0.0.0.0', localPort: 0, secure }
}

/** The descriptor of a plain TCP socket the core can take over, or -1 (TLS, or not a socket). */
function plainFd(socket) {
  if (!(socket instanceof net.Socket) || socket.encrypted || !socket._handle) return -1
  const fd = socket._handle.fd
  return typeof fd === 'number' ? fd : -1
}

/** Everything the host read after the request head: `head`, plus what arrived since into the socket's buffer. */
function leftover(socket, head) {
  const chunks = head && head.length ? [head] : []
  let chunk
  while (socket.readableLength > 0 && (chunk = socket.read()) !== null) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}

/** Answers the handshake with an HTTP error (the core builds the bytes) and closes the socket. */
function abortHandshake(wss, socket, status, message, headers) {
  const bytes = call(() =>
    wss._native.refusal({ accept: false, status, message: message || STATUS_CODES[status] || '', headers }),
  )
  socket.once('finish', socket.destroy)
  socket.end(bytes)
}

/** ws: 'wsClientError' when someone listens (they answer), else the core's error response. */
function clientError(wss, req, socket, hs) {
  if (wss.listenerCount('wsClientError')) {
    wss.emit('wsClientError', new Error(hs.message || STATUS_CODES[hs.status]), socket, req)
    return
  }
  abortHandshake(wss, socket, hs.status, hs.message, hs.headers)
}

/**
 * ws's `handleUpgrade(req, socket, head, cb)`: `cb(ws, req)` once the connection is upgraded (after
 * the core wrote the 101, so always asynchronously).
 */
function handleUpgrade(wss, req, socket, head, cb) {
  if (typeof cb !== 'function') throw new TypeError('handleUpgrade needs a callback')
  socket.on('error', destroyOnError)
  if (!socket.readable || !socket.writable) return socket.destroy()
  if (socket[kHandled]) {
    throw new Error('server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration')
  }
  socket[kHandled] = true
  socket.pause()
  if (!wss._running()) return abortHandshake(wss, socket, 503)
  const raw = rawRequest(req)
  const peer = peerAddress(socket)
  const hs = call(() => wss._native.handshake(raw, peer))
  if (hs.status !== 101) return clientError(wss, req, socket, hs)
  if (!wss.shouldHandle(req)) return abortHandshake(wss, socket, 400)
  decideUpgrade(wss, req, peer.secure, (d) => {
    if (!d.accept) return abortHandshake(wss, socket, d.status, d.message, d.headers)
    if (!socket.readable || !socket.writable) return socket.destroy()
    if (!wss._running()) return abortHandshake(wss, socket, 503)
    let extra
    try {
      extra = upgradeHeaders(wss, hs.headers, d.subprotocol, req)
    } catch (e) {
      abortHandshake(wss, socket, 500)
      return rethrowLater(e)
    }
    const decision = { accept: true, subprotocol: d.subprotocol, headers: extra }
    try {
      handOver(wss, req, socket, leftover(socket, head), raw, peer, decision, cb)
    } catch (e) {
      // The core refused the connection itself (it is not a connected socket any more): drop it and
      // report on the server, as ws reports errors of its HTTP server.
      socket.destroy()
      process.nextTick(() => wss.emit('error', e))
    }
  })
}

/** Gives the connection to the core: by descriptor for a plain TCP socket, else through a byte pump. */
function handOver(wss, req, socket, rest, raw, peer, decision, cb) {
  const fd = plainFd(socket)
  if (fd >= 0) {
    const id = call(() => wss._native.adoptFd(fd, raw, rest, decision))
    wss._adopting.set(id, { req, cb })
    socket.removeListener('error', destroyOnError)
    socket.destroy() // closes Node's descriptor; the core holds its own duplicate
    return
  }
  const pump = call(() => wss._native.adoptPump(raw, rest, peer, decision))
  wss._adopting.set(pump.id, { req, cb })
  socket.removeListener('error', destroyOnError)
  pumpStream(pump, socket)
}

/**
 * The 101 a host writes itself for `req` (then `adoptUpgraded`): `lines` (status line first; join with
 * CRLF and end with an empty line), the chosen `protocol` (the first offered, or handleProtocols'),
 * and the negotiated `extensions` value.
 */
function handshakeResponse(wss, req) {
  const hs = call(() => wss._native.handshake(rawRequest(req), peerAddress(req.socket)))
  if (hs.status !== 101) {
    const err = new Error(hs.message || STATUS_CODES[hs.status])
    err.code = 'WSSESSION_ERR_HANDSHAKE'
    err.status = hs.status
    throw err
  }
  const protocol = chooseProtocol(wss, req)
  const lines = ['HTTP/1.1 101 Switching Protocols']
  for (let i = 0; i < hs.headers.length; i += 2) lines.push(`${hs.headers[i]}: ${hs.headers[i + 1]}`)
  if (protocol !== undefined) lines.splice(4, 0, `Sec-WebSocket-Protocol: ${protocol}`)
  return { lines, protocol, extensions: hs.extensions }
}

/**
 * A session on a connection the host upgraded itself (it wrote the 101, e.g. from handshakeResponse):
 * returns the socket in CONNECTING state; `ws.start()` begins it with the negotiated extensions.
 */
function adoptUpgraded(wss, req, socket, head, agreed = {}) {
  if (agreed === null || typeof agreed !== 'object') throw new TypeError('options must be an object')
  if (socket.writableLength > 0) {
    throw new Error("the 101 is still being written: call adoptUpgraded from socket.write's callback")
  }
  const raw = rawRequest(req)
  const rest = leftover(socket, head)
  const opts = { protocol: agreed.protocol || undefined, extensions: agreed.extensions || undefined }
  const fd = plainFd(socket)
  let native
  if (fd >= 0) {
    native = call(() => wss._native.upgradedFd(fd, raw, rest, opts))
    socket.destroy()
  } else {
    const up = call(() => wss._native.upgradedPump(raw, rest, peerAddress(socket), opts))
    native = up.session
    pumpStream(up.pump, socket)
  }
  return wss._adopted(native)
}

module.exports = { handleUpgrade, handshakeResponse, adoptUpgraded }
