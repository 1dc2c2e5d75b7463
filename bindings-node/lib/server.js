'use strict'
// WebSocketServer: ws's server surface over NativeServer. Events arrive in batches from the native
// pump (one JS call per batch); this file only routes them to sockets and user callbacks.

const { EventEmitter } = require('node:events')
const { NativeServer } = require('../index.js')
const { WebSocket, kServerSide } = require('./websocket')
const { call, wrap, fromNative } = require('./errors')
const { resolveOptions } = require('./options')
const { makeRequest } = require('./request')
const { decideUpgrade, rethrowLater } = require('./handshake')

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
const RUNNING = 0
const CLOSING = 1
const CLOSED = 2

class WebSocketServer extends EventEmitter {
  /**
   * Starts listening on `options.port` (0 = ephemeral). ws's options are honoured or refused by name (see
   * lib/options.js); wssession adds pingInterval, pingTimeout, maxBufferedAmount, maxConnections,
   * handshakeTimeout and tls ({ cert, key } PEM file paths).
   */
  constructor(options, callback) {
    super()
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError('callback must be a function')
    const resolved = resolveOptions(options, WebSocket)
    this.options = resolved.options
    const nativeOptions = resolved.native
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
      this._native = new NativeServer(nativeOptions, (events) => this._onEvents(events))
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
        const ws = new this.options.WebSocket(kServerSide, ev.session, this)
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
    decideUpgrade(this, makeRequest(info), Boolean(info.secure), (d) => {
      if (this._state !== CLOSED) call(() => this._native.decide(id, d))
    })
  }
}

module.exports = { WebSocketServer }
