'use strict'
// WebSocketServer: ws's server surface over NativeServer. Events arrive in batches from the native
// pump (one JS call per batch); this file only routes them to sockets and user callbacks.

const { EventEmitter } = require('node:events')
const util = require('node:util')
const { NativeServer } = require('../index.js')
const { WebSocket } = require('./websocket')
const { makeError, call, wrap, fromNative } = require('./errors')

const KIND_REQUEST = 0
const KIND_OPEN = 1
const KIND_MESSAGE = 2
const KIND_PING = 3
const KIND_PONG = 4
const KIND_DRAIN = 5
const KIND_CLOSE = 6
const KIND_PACKED_BINARY = 7
const KIND_OTHER = 8
/** Bytes of queued sends above which they are handed over before the batch callback ends. */
const OUT_MAX_BYTES = 1 << 20
/** NODE_DEBUG=wssession: the engine's records at 'debug' and above go to stderr. */
const debug = util.debuglog('wssession')
const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace']
const RUNNING = 0
const CLOSING = 1
const CLOSED = 2

function rethrowLater(e) {
  process.nextTick(() => {
    throw e
  })
}

function optNumber(options, name, { min = 0, max = Number.MAX_SAFE_INTEGER, integer = true } = {}) {
  const v = options[name]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`options.${name} must be a number (got ${typeof v})`)
  if ((integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new RangeError(`options.${name} must be an integer between ${min} and ${max} (got ${v})`)
  }
  return v
}

function deflateOptions(pmd) {
  if (pmd === undefined || pmd === false || pmd === null) return undefined
  if (pmd === true) pmd = {}
  if (typeof pmd !== 'object') throw new TypeError('options.perMessageDeflate must be a boolean or an object')
  const bits = (name) => {
    const v = pmd[name]
    if (v === undefined || v === true || v === false) return undefined
    if (!Number.isInteger(v) || v < 8 || v > 15) throw new RangeError(`perMessageDeflate.${name} must be 8-15 (got ${v})`)
    return Math.max(9, v)
  }
  const zlib = (name, min) => {
    const v = pmd.zlibDeflateOptions && pmd.zlibDeflateOptions[name]
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > 9)) {
      throw new RangeError(`perMessageDeflate.zlibDeflateOptions.${name} must be ${min}-9 (got ${v})`)
    }
    return v
  }
  const level = zlib('level', 0)
  return {
    level,
    memLevel: zlib('memLevel', 1),
    threshold: pmd.threshold === undefined ? 1024 : optNumber(pmd, 'threshold'),
    serverNoContextTakeover: Boolean(pmd.serverNoContextTakeover),
    clientNoContextTakeover: Boolean(pmd.clientNoContextTakeover),
    serverMaxWindowBits: bits('serverMaxWindowBits'),
    clientMaxWindowBits: bits('clientMaxWindowBits'),
  }
}

/** An object shaped like http.IncomingMessage, for `connection` and `verifyClient`. */
function makeRequest(info) {
  const headers = {}
  const raw = info.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const value = raw[i + 1]
    if (name === 'set-cookie') (headers[name] || (headers[name] = [])).push(value)
    else headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  const socket = {
    remoteAddress: info.remoteAddress,
    remotePort: info.remotePort,
    remoteFamily: info.remoteAddress.includes(':') ? 'IPv6' : 'IPv4',
    localAddress: info.localAddress,
    localPort: info.localPort,
    encrypted: info.secure || undefined,
  }
  return {
    method: info.method,
    url: info.url,
    httpVersion: info.httpVersion,
    headers,
    rawHeaders: raw,
    socket,
    connection: socket,
  }
}

/** The native log level: `logLevel` if given, 'debug' under NODE_DEBUG=wssession, else none (no records). */
function logLevel(level) {
  if (level === undefined) return debug.enabled ? 'debug' : undefined
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`options.logLevel must be one of ${LOG_LEVELS.join(', ')}`)
  return level
}

class WebSocketServer extends EventEmitter {
  /**
   * Starts listening on `options.port` (0 = ephemeral). Supported ws options: port, host, path, maxPayload,
   * perMessageDeflate, handleProtocols, verifyClient, clientTracking, backlog; plus pingInterval, pingTimeout,
   * closeTimeout, maxBufferedAmount, maxConnections, handshakeTimeout, tls ({ cert, key } PEM file paths).
   */
  constructor(options, callback) {
    super()
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('callback must be a function')
    if (options.noServer || options.server) {
      throw new TypeError('wssession owns its listener: the "server" and "noServer" options are not supported; use "port"')
    }
    if (options.port === undefined || options.port === null) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified')
    }
    const port = optNumber(options, 'port', { max: 65535 })
    if (options.host !== undefined && typeof options.host !== 'string') throw new TypeError('options.host must be a string')
    if (options.path !== undefined && typeof options.path !== 'string') throw new TypeError('options.path must be a string')
    for (const fn of ['verifyClient', 'handleProtocols']) {
      if (options[fn] !== undefined && options[fn] !== null && typeof options[fn] !== 'function') {
        throw new TypeError(`options.${fn} must be a function`)
      }
    }
    this.options = {
      maxPayload: 100 * 1024 * 1024,
      perMessageDeflate: false,
      clientTracking: true,
      closeTimeout: 30000,
      ...options,
    }
    const tls = options.tls
    const nativeOptions = {
      host: options.host,
      port,
      path: options.path,
      jsHook: Boolean(options.verifyClient || options.handleProtocols),
      backlog: optNumber(options, 'backlog', { max: 0x7fffffff }),
      maxPayload: optNumber(this.options, 'maxPayload', { min: 1 }),
      deflate: deflateOptions(this.options.perMessageDeflate),
      pingIntervalMs: optNumber(options, 'pingInterval', { max: 0x7fffffff }),
      timeoutMs: optNumber(options, 'pingTimeout', { max: 0x7fffffff }),
      closeTimeoutMs: optNumber(this.options, 'closeTimeout', { max: 0x7fffffff }),
      maxBufferedAmount: optNumber(options, 'maxBufferedAmount', { min: 1 }),
      maxConnections: optNumber(options, 'maxConnections', { min: 1, max: 0xffffffff }),
      handshakeTimeoutMs: optNumber(options, 'handshakeTimeout', { min: 1, max: 0x7fffffff }),
      tls: tls ? { certPath: String(tls.cert), keyPath: String(tls.key) } : undefined,
      logLevel: logLevel(options.logLevel),
      metricsPath: options.metricsPath,
    }
    if (options.metricsPath !== undefined && typeof options.metricsPath !== 'string') {
      throw new TypeError('options.metricsPath must be a string')
    }
    this.clients = this.options.clientTracking ? new Set() : undefined
    this._sockets = new Map()
    this._state = RUNNING
    this._native = null
    // Sends made during a batch callback, handed to native code in one call at its end (see _queueSend).
    this._batching = false
    this._outMeta = new Float64Array(256)
    this._outData = Buffer.allocUnsafe(16384)
    this._outCount = 0
    this._outBytes = 0
    if (callback) this.once('listening', callback)
    try {
      this._native = new NativeServer(
        nativeOptions,
        (events) => this._onEvents(events),
        nativeOptions.logLevel ? (entry) => this._onLog(entry) : undefined,
      )
    } catch (e) {
      const err = fromNative(e)
      if (/in use/i.test(err.message)) err.code = 'EADDRINUSE'
      else if (/permission denied/i.test(err.message)) err.code = 'EACCES'
      this._state = CLOSED
      process.nextTick(() => this.emit('error', err))
      return
    }
    process.nextTick(() => this.emit('listening'))
  }

  /** Server-wide figures since the server started (one snapshot), or null if it never started. */
  stats() {
    return this._native ? this._native.stats() : null
  }

  /** The same figures in the Prometheus (OpenMetrics) text format ('' if the server never started). */
  metrics() {
    return this._native ? this._native.metrics() : ''
  }

  // One engine log record: 'log' event, NODE_DEBUG output, and 'wsClientError' for a refused upgrade.
  _onLog(entry) {
    if (debug.enabled) debug('%s %s %j', entry.level, entry.message, entry.fields)
    this.emit('log', entry)
    if (entry.message === 'handshake refused' && this.listenerCount('wsClientError') > 0) {
      const f = entry.fields
      const err = makeError('WSS_ERR_HANDSHAKE_REFUSED', `handshake refused with ${f.status}: ${f.reason}`)
      err.status = Number(f.status)
      // The engine answered and closed the connection itself: there is no socket to hand over.
      this.emit('wsClientError', err, null, { url: f.path, remoteAddress: f.peer })
    }
  }

  /** The bound address `{ address, family, port }`, or null when not listening. */
  address() {
    if (!this._native || this._state === CLOSED) return null
    return this._native.address()
  }

  /**
   * Stops accepting connections. Open connections are NOT closed (ws semantics; see shutdown()).
   * 'close' is emitted (and `cb` called) once the listener is closed and every session has ended.
   */
  close(cb) {
    if (cb !== undefined && typeof cb !== 'function') throw new TypeError('cb must be a function')
    if (this._state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')))
      process.nextTick(() => this.emit('close'))
      return
    }
    if (cb) this.once('close', cb)
    if (this._state === CLOSING) return
    this._state = CLOSING
    this._native.close()
    this._maybeClosed()
  }

  /** Graceful shutdown: Close 1001 to every session, wait up to `grace` ms, then shut the rest. */
  async shutdown({ grace = 5000 } = {}) {
    if (typeof grace !== 'number' || !(grace >= 0)) throw new RangeError(`grace must be a number >= 0 (got ${grace})`)
    if (!this._native) return
    const closed = new Promise((resolve) => this.once('close', resolve))
    if (this._state === CLOSED) return
    this._native.close()
    await wrap(this._native.shutdown(Math.min(grace, 0x7fffffff)))
    this.close()
    await closed
  }

  _maybeClosed() {
    if (this._state !== CLOSING || this._sockets.size > 0) return
    this._state = CLOSED
    call(() => this._native.unref())
    process.nextTick(() => this.emit('close'))
  }

  // One batch per JS turn: `meta` has kind, id, offset, length per event; small messages are slices of
  // `data`, everything else is `events[offset]` (see NativeBatch in src/hub.rs).
  _onEvents(batch) {
    const meta = batch.meta
    const data = batch.data
    const events = batch.events
    this._batching = true
    try {
      this._deliverBatch(meta, data, events)
    } finally {
      this._batching = false
      this._flushSends(true)
    }
  }

  _deliverBatch(meta, data, events) {
    for (let i = 0; i < meta.length; i += 4) {
      const kind = meta[i]
      try {
        if (kind === KIND_OTHER) {
          this._dispatch(events[meta[i + 2]])
        } else {
          const ws = this._sockets.get(meta[i + 1])
          if (ws !== undefined) {
            const off = meta[i + 2]
            ws._message(data.subarray(off, off + meta[i + 3]), kind === KIND_PACKED_BINARY)
          }
        }
      } catch (e) {
        rethrowLater(e)
      }
    }
  }

  /**
   * @internal Queues a small fin data frame of an open session for the end of the batch callback (one
   * native call and no per-send napi round trip); `size` bounds its encoded length.
   */
  _queueSend(id, payload, size, flags) {
    let n = this._outCount
    let off = this._outBytes
    if (off + size > this._outData.length) {
      if (off + size > OUT_MAX_BYTES) {
        this._flushSends()
        n = 0
        off = 0
      }
      if (size > this._outData.length - off) {
        const grown = Buffer.allocUnsafe(Math.max(this._outData.length * 2, off + size))
        this._outData.copy(grown, 0, 0, off)
        this._outData = grown
      }
    }
    if (n * 4 === this._outMeta.length) {
      const grown = new Float64Array(this._outMeta.length * 2)
      grown.set(this._outMeta)
      this._outMeta = grown
    }
    let len
    if (typeof payload === 'string') len = this._outData.write(payload, off)
    else {
      this._outData.set(payload, off)
      len = payload.length
    }
    const m = this._outMeta
    const j = n * 4
    m[j] = id
    m[j + 1] = off
    m[j + 2] = len
    m[j + 3] = flags
    this._outCount = n + 1
    this._outBytes = off + len
  }

  /**
   * @internal Hands the queued sends to native code; called before any other native call on a session,
   * and with `end` when the batch callback ends (native code then lets the runtime preempt again).
   */
  _flushSends(end = false) {
    const n = this._outCount
    if (n === 0 && !end) return
    this._outCount = 0
    this._outBytes = 0
    this._native.sendBatch(this._outMeta.subarray(0, n * 4), this._outData, end)
  }

  _dispatch(ev) {
    if (ev.kind === KIND_MESSAGE) {
      const ws = this._sockets.get(ev.id)
      if (ws) ws._message(ev.data, ev.binary)
      return
    }
    switch (ev.kind) {
      case KIND_REQUEST:
        return this._onRequest(ev.id, ev.request)
      case KIND_OPEN: {
        const ws = new WebSocket(ev.session, this)
        this._sockets.set(ev.id, ws)
        if (this.clients) this.clients.add(ws)
        this.emit('connection', ws, makeRequest(ws._request))
        return
      }
      case KIND_PING:
      case KIND_PONG:
      case KIND_DRAIN: {
        const ws = this._sockets.get(ev.id)
        const name = ev.kind === KIND_PING ? 'ping' : ev.kind === KIND_PONG ? 'pong' : 'drain'
        if (ws) ws._deliver(name, ev.kind === KIND_DRAIN ? [] : [ev.data])
        return
      }
      case KIND_CLOSE: {
        const ws = this._sockets.get(ev.id)
        if (!ws) return
        this._sockets.delete(ev.id)
        if (this.clients) this.clients.delete(ws)
        try {
          ws._onClose(ev)
        } finally {
          this._maybeClosed()
        }
        return
      }
    }
  }

  _onRequest(id, info) {
    const req = makeRequest(info)
    const decide = (d) => {
      if (this._state !== CLOSED) call(() => this._native.decide(id, d))
    }
    const reject = (code, message, headers) =>
      decide({ accept: false, status: code || 401, message, headers: headers || undefined })
    const complete = () => {
      const offered = (req.headers['sec-websocket-protocol'] || '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      let protocol
      if (offered.length) {
        if (this.options.handleProtocols) {
          const chosen = this.options.handleProtocols(new Set(offered), req)
          protocol = chosen === false || chosen === undefined || chosen === null ? undefined : String(chosen)
        } else {
          protocol = offered[0]
        }
      }
      decide({ accept: true, subprotocol: protocol })
    }
    try {
      const verify = this.options.verifyClient
      if (!verify) return complete()
      const vinfo = {
        origin: req.headers[`${req.headers['sec-websocket-version'] === '8' ? 'sec-websocket-origin' : 'origin'}`],
        secure: Boolean(info.secure),
        req,
      }
      if (verify.length === 2) {
        let answered = false
        verify(vinfo, (verified, code, message, headers) => {
          if (answered) return
          answered = true
          try {
            if (!verified) reject(code, message, headers)
            else complete()
          } catch (e) {
            reject(500)
            rethrowLater(e)
          }
        })
        return
      }
      if (!verify(vinfo)) return reject(401)
      complete()
    } catch (e) {
      reject(500)
      throw e
    }
  }
}

module.exports = { WebSocketServer, makeRequest, makeError }
