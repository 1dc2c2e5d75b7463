'use strict'
// Carries a stream's bytes through a native byte pump (TLS sockets of an https.Server, any duplex):
// what the stream receives is pushed to the session, what the session writes is written to the stream,
// with backpressure both ways (the stream is paused while the pump is full; the pump is not pulled
// while the stream's write buffer is full). End and errors travel both ways as on a TCP connection.

/** Resolves when `stream` can take more writes, or is gone. */
function writable(stream) {
  return new Promise((resolve) => {
    const done = () => {
      stream.removeListener('drain', done)
      stream.removeListener('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
  })
}

/** Connects `stream` to `pump` until either side ends. */
function pumpStream(pump, stream) {
  let failed = false
  const fail = () => {
    if (failed) return
    failed = true
    pump.fail()
  }
  let pushing = Promise.resolve()
  stream.on('data', (chunk) => {
    const taken = pump.tryPush(chunk)
    if (taken === chunk.length) return
    // The session is behind: stop reading until it took the rest.
    stream.pause()
    pushing = pump.push(chunk.subarray(taken)).then(
      () => stream.resume(),
      () => stream.destroy(),
    )
  })
  stream.on('end', () => pushing.then(() => pump.end()))
  stream.on('error', fail)
  stream.on('close', () => pushing.then(fail))
  ;(async () => {
    for (;;) {
      const out = await pump.pull()
      if (out === null) break
      if (stream.destroyed) return fail()
      if (!stream.write(out)) await writable(stream)
    }
    stream.end()
  })().catch(fail)
  stream.resume()
}

module.exports = { pumpStream }
