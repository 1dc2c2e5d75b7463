'use strict'
// The application's say in an upgrade, as ws asks for it: verifyClient (sync or with a callback), then
// handleProtocols (or the first offered subprotocol). The protocol checks themselves are the core's.

const { STATUS_CODES } = require('node:http')
const { flatHeaders } = require('./request')

function rethrowLater(e) {
  process.nextTick(() => {
    throw e
  })
}

/** The subprotocol to answer with: handleProtocols' choice, else the first offered one (ws). */
function chooseProtocol(wss, req) {
  const offered = (req.headers['sec-websocket-protocol'] || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (!offered.length) return undefined
  if (!wss.options.handleProtocols) return offered[0]
  const chosen = wss.options.handleProtocols(new Set(offered), req)
  return chosen === false || chosen === undefined || chosen === null ? undefined : String(chosen)
}

/**
 * Decides on `req` and calls `done` once with `{ accept: true, subprotocol }` or
 * `{ accept: false, status, message, headers }` (headers as a flat name/value list).
 * An exception from a user hook rejects with 500 and is rethrown on the next tick.
 */
function decideUpgrade(wss, req, secure, done) {
  let answered = false
  const answer = (d) => {
    if (answered) return
    answered = true
    done(d)
  }
  const reject = (code, message, headers) => {
    let flat
    try {
      flat = flatHeaders(headers)
    } catch (e) {
      answer({ accept: false, status: 500, message: STATUS_CODES[500] })
      throw e
    }
    const status = code || 401
    answer({ accept: false, status, message: message || STATUS_CODES[status] || '', headers: flat })
  }
  const complete = () => answer({ accept: true, subprotocol: chooseProtocol(wss, req) })
  const guarded = (fn) => {
    try {
      fn()
    } catch (e) {
      answer({ accept: false, status: 500, message: STATUS_CODES[500] })
      rethrowLater(e)
    }
  }
  const verify = wss.options.verifyClient
  if (!verify) return guarded(complete)
  const info = {
    origin: req.headers[req.headers['sec-websocket-version'] === '8' ? 'sec-websocket-origin' : 'origin'],
    secure,
    req,
  }
  guarded(() => {
    if (verify.length === 2) {
      verify(info, (verified, code, message, headers) => guarded(() => (verified ? complete() : reject(code, message, headers))))
    } else if (!verify(info)) {
      reject(401)
    } else {
      complete()
    }
  })
}

/**
 * ws's 'headers' event: listeners see the 101's lines (status line first) and may add headers; returns
 * the added ones as a flat name/value list. Changing the computed lines is refused (the core writes them).
 */
function upgradeHeaders(wss, responseHeaders, subprotocol, req) {
  if (!wss.listenerCount('headers')) return undefined
  const lines = ['HTTP/1.1 101 Switching Protocols']
  for (let i = 0; i < responseHeaders.length; i += 2) lines.push(`${responseHeaders[i]}: ${responseHeaders[i + 1]}`)
  if (subprotocol !== undefined) lines.splice(4, 0, `Sec-WebSocket-Protocol: ${subprotocol}`)
  const computed = lines.slice()
  wss.emit('headers', lines, req)
  const changed = computed.findIndex((line, i) => lines[i] !== line)
  if (changed >= 0) {
    throw new TypeError(`'headers' listeners may add response headers but not change or remove "${computed[changed]}"`)
  }
  const extra = []
  for (const line of lines.slice(computed.length)) {
    const colon = typeof line === 'string' ? line.indexOf(':') : -1
    if (colon <= 0) throw new TypeError(`'headers' listeners must add "Name: value" lines (got ${JSON.stringify(line)})`)
    extra.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  return extra
}

module.exports = { decideUpgrade, chooseProtocol, upgradeHeaders, rethrowLater }
