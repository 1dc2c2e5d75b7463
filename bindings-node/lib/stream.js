'use strict'
// createWebSocketStream(ws): a Duplex over a server-side WebSocket, as ws provides. Reading yields the
// messages' bytes (pausing the socket when the stream's buffer is full); writing sends each chunk as a
// message; end() closes the WebSocket; destroy() terminates it.

const { Duplex } = require('node:stream')

/** Returns a Duplex stream reading the messages of `ws` and sending what is written to it. */
function createWebSocketStream(ws, options) {
  if (ws === null || typeof ws !== 'object' || typeof ws.send !== 'function' || typeof ws.pause !== 'function') {
    throw new TypeError('createWebSocketStream expects a wssession WebSocket')
  }
  let terminateOnDestroy = true
  let closeEmitted = false
  const duplex = new Duplex({ ...options, autoDestroy: false, emitClose: false, objectMode: false, writableObjectMode: false })
  const emitClose = () => {
    if (closeEmitted) return
    closeEmitted = true
    duplex.emit('close')
  }

  ws.on('message', (data, isBinary) => {
    const chunk = !isBinary && duplex.readableObjectMode ? data.toString() : data
    if (!duplex.push(chunk)) ws.pause()
  })
  ws.once('error', (err) => {
    if (duplex.destroyed) return
    // The session already closes itself after a protocol error; terminating would cut its Close frame.
    terminateOnDestroy = false
    duplex.destroy(err)
  })
  ws.once('close', () => {
    if (!duplex.destroyed) duplex.push(null)
  })

  duplex._destroy = (err, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(err)
      process.nextTick(emitClose)
      return
    }
    ws.once('close', () => {
      callback(err)
      process.nextTick(emitClose)
    })
    if (terminateOnDestroy) ws.terminate()
  }

  // end(): the WebSocket's closing handshake; the writable side finishes once the session has ended.
  duplex._final = (callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback()
      return
    }
    ws.once('close', () => callback())
    ws.close()
  }

  duplex._read = () => {
    if (ws.isPaused) ws.resume()
  }

  duplex._write = (chunk, _encoding, callback) => {
    ws.send(chunk, callback)
  }

  // Destroyed (and 'close' emitted) once both sides are done, whichever finishes last.
  const destroyWhenDone = () => {
    if (!duplex.destroyed && duplex.readableEnded && duplex.writableFinished) duplex.destroy()
  }
  duplex.on('end', destroyWhenDone)
  duplex.on('finish', destroyWhenDone)
  const onError = (err) => {
    duplex.removeListener('error', onError)
    duplex.destroy()
    // Without another listener the error is rethrown, as any stream error would be.
    if (duplex.listenerCount('error') === 0) duplex.emit('error', err)
  }
  duplex.on('error', onError)
  return duplex
}

module.exports = { createWebSocketStream }
