'use strict'
// WebSocketServer: ws's server surface over NativeServer. Events arrive in batches from the native
// pump (one JS call per batch); this file only routes them to sockets and user callbacks.

const { EventEmitter } = require('node:events')
const util = require('node:util')
const { NativeServer } = require('../index.js')
const { WebSocket, kServerSide, toPayload, topicName } = require('./websocket')
const { call, wrap, fromNative, makeError } = require('./errors')
const { resolveOptions } = require('./options')
const { makeRequest, LazyRequest } = require('./request')
const { decideUpgrade, upgradeHeaders, rethrowLater } = require('./handshake')
const { handleUpgrade, handshakeResponse, adoptUpgraded } = require('./upgrade')

const { Position } = require('./position')

/** The `{ binary, compress }` options of `wss.publish` and `wss.publishPositioned`, type-checked. */
function publishOptions(options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw new TypeError('options must be an object')
  for (const name of ['binary', 'compress']) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') {
      throw new TypeError(`options.${name} must be a boolean (got ${typeof options[name]})`)
    }
  }
  return { binary: options.binary, compress: options.compress }
}

/** A publish's payload (string or bytes) and its `trySend`-style flags: bit 0 binary, bits 2-3 compress. */
function publishArgs(topic, data, binary, compress) {
  topicName(topic)
  let payload = data
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    const p = toPayload(data)
    payload = p.payload
    if (binary === undefined) binary = p.binary
  }
  if (binary === undefined) binary = typeof payload !== 'string'
  return { payload, flags: (binary ? 1 : 0) | (compress === undefined ? 0 : compress ? 8 : 4) }
}

const KIND_REQUEST = 0
const KIND_OPEN = 1
const KIND_MESSAGE = 2
const KIND_PING = 3
const KIND_PONG = 4
const KIND_DRAIN = 5
const KIND_CLOSE = 6
const KIND_PACKED_BINARY = 7
const KIND_OTHER = 8
const KIND_ADOPT_FAILED = 9
const KIND_BUFFER_TEXT = 10
const KIND_BUFFER_BINARY = 11
/** A packed close's `initiator` (its meta length field). */
const INITIATORS = ['local', 'remote', 'abnormal']
/** Bytes of queued sends above which they are handed over before the batch callback ends. */
const OUT_MAX_BYTES = 1 << 20
/** NODE_DEBUG=wssession: the engine's records at 'debug' and above go to stderr. */
const debug = util.debuglog('wssession')
const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace']
const RUNNING = 0
const CLOSING = 1
const CLOSED = 2

/** The native log level: `logLevel` if given, 'debug' under NODE_DEBUG=wssession, else none (no records). */
function logLevel(level) {
  if (level === undefined) return debug.enabled ? 'debug' : undefined
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`options.logLevel must be one of ${LOG_LEVELS.join(', ')}`)
  return level
}

class WebSocketServer extends EventEmitter {
  /**
   * Listens on `options.port` (0 = ephemeral), or takes the upgrades of `options.server` (an http or https
   * server, e.g. an Express app's), or with `noServer` only those given to handleUpgrade(). ws's options are
   * honoured or refused by name (see lib/options.js); wssession adds pingInterval, pingTimeout,
   * maxBufferedAmount, maxConnections, handshakeTimeout and tls ({ cert, key } PEM file paths).
   */
  constructor(options, callback) {
    super()
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('callback must be a function')
    const resolved = resolveOptions(options, WebSocket)
    this.options = resolved.options
    const nativeOptions = resolved.native
    this._mode = resolved.mode
    nativeOptions.logLevel = logLevel(options.logLevel)
    if (options.metricsPath !== undefined && typeof options.metricsPath !== 'string') {
      throw new TypeError('options.metricsPath must be a string')
    }
    nativeOptions.metricsPath = options.metricsPath
    if (options.backplane !== undefined && typeof options.backplane !== 'string') {
      throw new TypeError('options.backplane must be a string (a redis:// or nats:// URL)')
    }
    nativeOptions.backplane = options.backplane
    this.clients = this.options.clientTracking ? new Set() : undefined
    this._sockets = new Map()
    /** Connections handed to the core by handleUpgrade, by adoption id: `{ req, cb }` until open. */
    this._adopting = new Map()
    this._state = RUNNING
    this._native = null
    this._server = null
    this._removeListeners = null
    // Sends made during a batch callback, handed to native code in one call at its end (see _queueSend).
    this._batching = false
    this._outMeta = new Float64Array(256)
    this._outData = Buffer.allocUnsafe(16384)
    this._outCount = 0
    this._outBytes = 0
    if (callback) this.once('listening', callback)
    // A 'headers' listener makes the own listener's upgrades wait for JS (verifyClient/handleProtocols do anyway).
    const hook = () => nativeOptions.jsHook || this.listenerCount('headers') > 0
    this.on('newListener', (event) => event === 'headers' && this._native && this._native.setJsHook(true))
    this.on('removeListener', (event) => event === 'headers' && this._native && this._native.setJsHook(hook()))
    try {
      this._native = new NativeServer(
        nativeOptions,
        (events) => this._onEvents(events),
        nativeOptions.logLevel ? (entry) => this._onLog(entry) : undefined,
      )
    } catch (e) {
      // Options the core refuses throw now, as ws throws for bad options.
      if (e && e.code === 'InvalidArg') throw fromNative(e)
      const err = fromNative(e)
      this._state = CLOSED
      process.nextTick(() => this.emit('error', err))
      return
    }
    if (this._mode === 'port') {
      process.nextTick(() => this.emit('listening'))
    } else if (this._mode === 'server') {
      this._attach(this.options.server)
    }
  }

  /** Server-wide figures since the server started (one snapshot), or null if it never started. */
  stats() {
    return this._native ? this._native.stats() : null
  }

  /** The same figures in the Prometheus (OpenMetrics) text format ('' if the server never started). */
  metrics() {
    return this._native ? this._native.metrics() : ''
  }

  // ---- topics (uWebSockets.js's names) ----

  /**
   * Publishes `data` to every socket subscribed to `topic` (ws.subscribe), framed once, without waiting.
   * `binary` defaults to the data's type (string: text), as send() does; `compress` overrides the deflate
   * threshold. A subscriber over its write limit gets the `slowSubscriber` policy.
   * Returns `{ delivered, dropped, closed }`.
   */
  publish(topic, data, options) {
    const { binary, compress } = publishOptions(options)
    return this._publish(this._native, topic, data, binary, compress)
  }

  /**
   * Publishes as `publish` through the backplane's Redis history (`{ backplane: 'redis://...?history=N' }`)
   * and resolves with the message's `Position` once Redis placed it; every subscriber, this server's too,
   * receives it from Redis in position order. Rejects with `WSSESSION_ERR_RECOVERY` (`reason: 'no_history'`)
   * without a history, `WSSESSION_ERR_BACKPLANE` when Redis cannot take it.
   */
  async publishPositioned(topic, data, options) {
    if (!this._native) throw makeError('WSSESSION_ERR_INVALID_ARGUMENT', 'the server is not listening')
    return this._publishPositioned(this._native, topic, data, options)
  }

  /** How many sockets are subscribed to `topic`. */
  numSubscribers(topic) {
    topicName(topic)
    return this._native ? this._native.numSubscribers(topic) : 0
  }

  /** Every topic with at least one subscriber, sorted. */
  getTopics() {
    return this._native ? this._native.topics() : []
  }

  /** @internal A publish through `target` (the server, or the publishing session), after the sends queued so far. */
  _publish(target, topic, data, binary, compress) {
    const { payload, flags } = publishArgs(topic, data, binary, compress)
    if (!target) return { delivered: 0, dropped: 0, closed: 0 }
    this._flushSends()
    return call(() => (typeof payload === 'string' ? target.publishText(topic, payload, flags) : target.publish(topic, payload, flags)))
  }

  /** @internal A positioned publish through `target` (the server, or the publishing session). */
  async _publishPositioned(target, topic, data, options) {
    const { binary, compress } = publishOptions(options)
    const { payload, flags } = publishArgs(topic, data, binary, compress)
    this._flushSends()
    return wrap(call(() => target.publishPositioned(topic, payload, flags))).then(Position._from)
  }

  // One engine log record: 'log' event, NODE_DEBUG output, and 'handshakeRefused' for an upgrade the engine
  // refused on its own listener (not 'wsClientError': ws hands that listener the socket, and here the engine
  // has already answered and closed it).
  _onLog(entry) {
    if (debug.enabled) debug('%s %s %j', entry.level, entry.message, entry.fields)
    this.emit('log', entry)
    if (entry.message === 'handshake refused' && this.listenerCount('handshakeRefused') > 0) {
      const f = entry.fields
      const err = makeError('WSS_ERR_HANDSHAKE_REFUSED', `handshake refused with ${f.status}: ${f.reason}`)
      err.status = Number(f.status)
      this.emit('handshakeRefused', err, { url: f.path, remoteAddress: f.peer })
    }
  }

  /** The bound address `{ address, family, port }`, or null when not listening. */

  /** Takes `server`'s upgrades and forwards its 'listening' and 'error' (ws's `server` option). */
  _attach(server) {
    const listeners = {
      listening: () => this.emit('listening'),
      error: (err) => this.emit('error', err),
      upgrade: (req, socket, head) => this.handleUpgrade(req, socket, head, (ws, request) => this.emit('connection', ws, request)),
    }
    for (const [event, fn] of Object.entries(listeners)) server.on(event, fn)
    this._server = server
    this._removeListeners = () => {
      for (const [event, fn] of Object.entries(listeners)) server.removeListener(event, fn)
    }
  }

  /** The bound address `{ address, family, port }` (the external server's with `server`), or null. */
  address() {
    if (this._mode === 'noServer') throw new Error('The server is operating in "noServer" mode')
    if (this._mode === 'server') return this._server ? this._server.address() : null
    if (!this._native || this._state === CLOSED) return null
    return this._native.address()
  }

  /** Whether this server takes `req`: by default, when `path` is set, its pathname must equal it (ws). */
  shouldHandle(req) {
    const path = this.options.path
    if (!path) return true
    const q = req.url.indexOf('?')
    return (q === -1 ? req.url : req.url.slice(0, q)) === path
  }

  /**
   * Upgrades `req` (from an http server's 'upgrade' event) and calls `cb(ws, req)` with the open socket.
   * Plain TCP sockets are handed to the core by descriptor; TLS sockets go through a byte pump.
   */
  handleUpgrade(req, socket, head, cb) {
    handleUpgrade(this, req, socket, head, cb)
  }

  /** The 101 for a host that writes it itself: `{ lines, protocol, extensions }` (then adoptUpgraded). */
  handshakeResponse(req) {
    return handshakeResponse(this, req)
  }

  /**
   * A session on a connection the host upgraded itself (its 101 answered with `{ protocol, extensions }`);
   * the socket returned is CONNECTING until `ws.start()` (Ktor's start(negotiatedExtensions)).
   */
  adoptUpgraded(req, socket, head, agreed) {
    return adoptUpgraded(this, req, socket, head, agreed)
  }

  /** @internal Whether upgrades are still taken. */
  _running() {
    return this._state === RUNNING && this._native !== null
  }

  /** @internal Registers the socket of a session the host upgraded. */
  _adopted(native) {
    const ws = new this.options.WebSocket(kServerSide, native, this)
    this._sockets.set(native.id, ws)
    if (this.clients) this.clients.add(ws)
    return ws
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
    if (this._mode !== 'port') {
      if (this._removeListeners) this._removeListeners()
      this._removeListeners = this._server = null
      // ws: without client tracking an external-server wss reports 'close' at once (next tick).
      if (!this.clients) {
        process.nextTick(() => {
          this._state = CLOSED
          this.emit('close')
        })
        return
      }
    }
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
    if (this._state === RUNNING || this._sockets.size > 0) return
    call(() => this._native.unref())
    if (this._state !== CLOSING || (this._mode !== 'port' && !this.clients)) return
    this._state = CLOSED
    process.nextTick(() => this.emit('close'))
  }

  // One batch per JS turn: `meta` has kind, id, offset, length per event; small messages are slices of
  // `data`, larger ones `buffers[offset]`, opens and plain closes are in `meta` only, everything else is
  // `events[offset]` (see NativeBatch in src/hub.rs).
  _onEvents(batch) {
    this._batching = true
    try {
      this._deliverBatch(batch.meta, batch.data, batch.buffers, batch.events)
    } finally {
      this._batching = false
      this._flushSends(true)
    }
  }

  _deliverBatch(meta, data, buffers, events) {
    for (let i = 0; i < meta.length; i += 4) {
      const kind = meta[i]
      try {
        if (kind === KIND_MESSAGE || kind === KIND_PACKED_BINARY) {
          const ws = this._sockets.get(meta[i + 1])
          if (ws !== undefined) {
            const off = meta[i + 2]
            ws._message(data.subarray(off, off + meta[i + 3]), kind === KIND_PACKED_BINARY)
          }
        } else if (kind === KIND_BUFFER_TEXT || kind === KIND_BUFFER_BINARY) {
          const ws = this._sockets.get(meta[i + 1])
          if (ws !== undefined) ws._message(buffers[meta[i + 2]], kind === KIND_BUFFER_BINARY)
        } else if (kind === KIND_OTHER) {
          this._dispatch(events[meta[i + 2]])
        } else if (kind === KIND_OPEN) {
          const adoption = meta[i + 2]
          this._onOpen(meta[i + 1], adoption < 0 ? undefined : adoption)
        } else if (kind === KIND_CLOSE) {
          // Packed: no failure and empty reasons; `offset` is code + 65536 × the peer's code.
          const codes = meta[i + 2]
          const code = codes % 65536
          const peerCode = (codes - code) / 65536
          this._onClose(meta[i + 1], { code, reason: '', initiator: INITIATORS[meta[i + 3]], peerCode, peerReason: '' })
        }
      } catch (e) {
        rethrowLater(e)
      }
    }
  }

  /** A session opened: its socket (a NativeSession is fetched on first use) and the 'connection' event. */
  _onOpen(id, adoption) {
    if (this._sockets.has(id)) return // a session the host upgraded: its socket exists
    const ws = new this.options.WebSocket(kServerSide, id, this)
    this._sockets.set(id, ws)
    if (this.clients) this.clients.add(ws)
    const adopted = adoption === undefined ? undefined : this._adopting.get(adoption)
    if (adopted === undefined) {
      this.emit('connection', ws, new LazyRequest(ws))
    } else {
      this._adopting.delete(adoption)
      adopted.cb(ws, adopted.req)
    }
  }

  /** A session ended: its socket gets its NativeSession now if it never used one (the hub forgets it after this batch). */
  _onClose(id, ev) {
    const ws = this._sockets.get(id)
    if (!ws) return
    this._sockets.delete(id)
    if (this.clients) this.clients.delete(ws)
    try {
      if (ws._nativeSession === null) ws._nativeSession = this._native.session(id)
      ws._onClose(ev)
    } finally {
      this._maybeClosed()
    }
  }

  /** @internal The NativeSession of open session `id` (for a socket's first native call). */
  _nativeSession(id) {
    return this._native.session(id)
  }

  /** @internal The core's readyState of open session `id`, without making its NativeSession. */
  _readyStateOf(id) {
    return this._native.readyStateOf(id)
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
    switch (ev.kind) {
      case KIND_REQUEST:
        return this._onRequest(ev.id, ev.request, ev.responseHeaders)
      case KIND_ADOPT_FAILED:
        this._adopting.delete(ev.adoption)
        return
      case KIND_PING:
      case KIND_PONG:
      case KIND_DRAIN: {
        const ws = this._sockets.get(ev.id)
        const name = ev.kind === KIND_PING ? 'ping' : ev.kind === KIND_PONG ? 'pong' : 'drain'
        if (ws) ws._deliver(name, ev.kind === KIND_DRAIN ? [] : [ev.data])
        return
      }
      case KIND_CLOSE:
        return this._onClose(ev.id, ev)
    }
  }

  _onRequest(id, info, responseHeaders) {
    const req = makeRequest(info)
    decideUpgrade(this, req, Boolean(info.secure), (d) => {
      if (this._state === CLOSED) return
      if (d.accept && responseHeaders) {
        try {
          d.headers = upgradeHeaders(this, responseHeaders, d.subprotocol, req)
        } catch (e) {
          call(() => this._native.decide(id, { accept: false, status: 500, message: 'Internal Server Error' }))
          return rethrowLater(e)
        }
      }
      call(() => this._native.decide(id, d))
    })
  }
}

module.exports = { WebSocketServer }
