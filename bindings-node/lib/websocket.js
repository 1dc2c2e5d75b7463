'use strict'
// The server-side socket: ws's WebSocket surface plus Ktor's session members, over a NativeSession.
// No protocol logic here: framing, limits, closing and timers are the core's.

const { EventEmitter } = require('node:events')
const { isUtf8 } = require('node:buffer')
const { makeError, call, wrap, fromNative } = require('./errors')
const { JsonConverter } = require('./converter')
const { Position } = require('./position')
const { installEventTarget } = require('./event-target')

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3
const READY_STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']
const BINARY_TYPES = ['nodebuffer', 'arraybuffer', 'fragments']
/** Messages buffered for `incoming` before the socket stops being read (core default, SPEC §3.4). */
const INCOMING_QUEUE = 16
/** Events held back in JS (paused, or one message per tick) above which the socket stops being read. */
const HELD_MAX = 256
/** The first constructor argument of a socket created by WebSocketServer (anything else is a client attempt). */
const kServerSide = Symbol('wssession.serverSide')

// Bits of `_flags` (one number instead of a field each keeps an idle socket small).
/** Message delivery paused by pause(). */
const F_PAUSED = 1
/** A message, ping or pong was emitted this tick (allowSynchronousEvents: false). */
const F_DEFERRED = 2
/** The peer's Close frame arrived (ws's wasClean). */
const F_PEER_CLOSED = 4
/** A send may not be queued for the end of a batch callback (see `_send`). */
const F_UNSENDABLE = 8
/** close() or terminate() was called, or the session ended. */
const F_CLOSING = 16
/** allowSynchronousEvents: false. */
const F_ASYNC_EVENTS = 32
/** binaryType 'arraybuffer'. */
const F_ARRAYBUFFER = 64
/** binaryType 'fragments'. */
const F_FRAGMENTS = 128
const F_BINARY_TYPE = F_ARRAYBUFFER | F_FRAGMENTS

/**
 * The listener table of a socket's EventEmitter: a plain class with a prototype-less prototype, so that the
 * table stays a small fast-properties object (EventEmitter's own `{ __proto__: null }` is a dictionary of
 * ~200 bytes per socket) and no key is inherited.
 */
function Listeners() {}
Listeners.prototype = Object.create(null)

/**
 * EventEmitter's prototype and statics without its constructor: `EventEmitter.init` gives every instance
 * three more fields (`_maxListeners`, the capture and shape-mode symbols) whose absence reads the same
 * (undefined: the default limit; the prototype's capture setting; not in shape mode). A socket sets the two
 * fields EventEmitter's methods need itself.
 */
function Emitter() {}
Emitter.prototype = EventEmitter.prototype
Object.setPrototypeOf(Emitter, EventEmitter)

function noop() {}

/** Largest message (string length or bytes) a send inside a batch callback queues for the batch's end. */
const DEFER_MAX = 16384

/** What send() returns without a callback when the frame was queued at once (shared: nothing to allocate). */
const QUEUED = Promise.resolve()

/** A promise the caller may ignore without an unhandled rejection (ws code never awaits send). */
function quiet(p) {
  p.catch(noop)
  return p
}

function toPayload(data) {
  if (typeof data === 'string') return { payload: data, binary: false }
  if (Buffer.isBuffer(data)) return { payload: data, binary: true }
  if (ArrayBuffer.isView(data)) {
    return { payload: Buffer.from(data.buffer, data.byteOffset, data.byteLength), binary: true }
  }
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return { payload: Buffer.from(data), binary: true }
  if (typeof data === 'number') return { payload: String(data), binary: false }
  if (Array.isArray(data) && data.every(Buffer.isBuffer)) return { payload: Buffer.concat(data), binary: true }
  throw new TypeError(
    'The data argument must be a string, Buffer, TypedArray, DataView, ArrayBuffer or number' +
      ` (received ${data === null ? 'null' : typeof data})`,
  )
}

/** A topic name: a string (UTF-8 on the wire; its length limits are the core's). */
function topicName(topic) {
  if (typeof topic !== 'string') throw new TypeError(`The topic must be a string (received ${topic === null ? 'null' : typeof topic})`)
  return topic
}

function checkMillis(name, v) {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number (got ${typeof v})`)
  if (v < 0 || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number >= 0 (got ${v})`)
  return v
}

/** The error thrown by `new WebSocket(url)`: this package has no client. */
function clientError(address) {
  const what = typeof address === 'string' || address instanceof URL ? `new WebSocket(${JSON.stringify(String(address))})` : 'new WebSocket()'
  return makeError(
    'WSSESSION_ERR_NO_CLIENT',
    `${what}: wssession is server-side only and cannot open client connections; ` +
      "use the ws package (require('ws')) or Node's global WebSocket as the client",
    TypeError,
  )
}

class WebSocket extends Emitter {
  /**
   * Server-side sockets are created by WebSocketServer (subclasses given as its `WebSocket` option must pass
   * their constructor arguments on). Called with a URL, as a client would, it throws WSSESSION_ERR_NO_CLIENT.
   */
  constructor(token, native, server) {
    if (token !== kServerSide) throw clientError(token)
    super()
    this._events = new Listeners()
    this._eventsCount = 0
    // The NativeSession, or (a socket of the server's own listener) null until first used: `native` is
    // then the session id (see `_native`).
    const id = typeof native === 'number' ? native : native.id
    this._nativeSession = typeof native === 'number' ? null : native
    this._server = server
    // Ids below 2^31 are kept as small integers: a field ever given a non-integer-typed number (the batch's
    // Float64Array yields those) is boxed by V8, 16 more bytes per socket.
    this._id = id <= 0x7fffffff ? id | 0 : id
    this._flags = server.options.allowSynchronousEvents === false ? F_ASYNC_EVENTS : 0
    this._closeInfo = null
    this._more = null // what few sockets use, made on first use (see `_extra`)
  }

  /** @internal Events held back while paused, or until the next tick (allowSynchronousEvents: false). */
  get _held() {
    return this._more === null ? null : this._more.held
  }
  set _held(v) {
    if (v !== null || this._more !== null) this._extra().held = v
  }

  /** @internal The `incoming` iterable, once asked for. */
  get _incoming() {
    return this._more === null ? null : this._more.incoming
  }

  /** @internal The NativeSession, fetched from the server on first use. */
  get _native() {
    let n = this._nativeSession
    if (n === null) n = this._nativeSession = this._server._nativeSession(this._id)
    return n
  }

  /**
   * @internal The rarely used state: the request (fetched from native code on first use), the converter,
   * `closeReason`'s promise and resolver, the `outgoing` object, the held-back events, `incoming`.
   */
  _extra() {
    if (this._more === null) {
      this._more = {
        request: null,
        converter: JsonConverter,
        closeReason: null,
        resolveClose: null,
        outgoing: null,
        held: null,
        incoming: null,
      }
    }
    return this._more
  }

  /** Unique session id within the process. */
  get id() {
    return this._id
  }
  get CONNECTING() {
    return CONNECTING
  }
  get OPEN() {
    return OPEN
  }
  get CLOSING() {
    return CLOSING
  }
  get CLOSED() {
    return CLOSED
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED. */
  get readyState() {
    if (this._closeInfo) return CLOSED
    const n = this._nativeSession
    const s = n !== null ? n.readyState : this._server._readyStateOf(this._id)
    return s === CLOSED ? CLOSING : s // CLOSED only once 'close' has been emitted
  }
  /** @internal The upgrade request's RequestInfo, fetched from native code on first use. */
  get _request() {
    const x = this._extra()
    if (x.request === null) x.request = this._native.request
    return x.request
  }
  /** The chosen subprotocol ('' when none). */
  get protocol() {
    return this._request.subprotocol || ''
  }
  /** Negotiated extension names, comma separated ('' when none). */
  get extensions() {
    return this._request.extensions
      .split(',')
      .map((e) => e.split(';')[0].trim())
      .filter(Boolean)
      .join()
  }
  /** Always undefined on the server side (as ws). */
  get url() {
    return undefined
  }
  /** Bytes accepted by send() and not yet written to the socket (framing included), as ws defines it. */
  get bufferedAmount() {
    this._server._flushSends()
    return this._native.bufferedAmount
  }
  /** How binary messages are presented: 'nodebuffer' (default), 'arraybuffer' or 'fragments'. */
  get binaryType() {
    const f = this._flags
    return f & F_ARRAYBUFFER ? 'arraybuffer' : f & F_FRAGMENTS ? 'fragments' : 'nodebuffer'
  }
  set binaryType(t) {
    if (t === 'blob') throw new TypeError("binaryType 'blob' is not supported by wssession (use 'nodebuffer', 'arraybuffer' or 'fragments')")
    if (!BINARY_TYPES.includes(t)) return // ws ignores unknown values too
    const bit = t === 'arraybuffer' ? F_ARRAYBUFFER : t === 'fragments' ? F_FRAGMENTS : 0
    this._flags = (this._flags & ~F_BINARY_TYPE) | bit
  }
  /** Whether message delivery is paused. */
  get isPaused() {
    return (this._flags & F_PAUSED) !== 0
  }
  /** The upgrade request (Ktor's `call`). */
  get call() {
    return this._request
  }

  // ---- Ktor members ----
  /** The server that owns this session. */
  get application() {
    return this._server
  }
  /** Same as `application`. */
  get server() {
    return this._server
  }
  /** Promise of `{ code, reason, initiator }`, resolved once when the session ends. */
  get closeReason() {
    const x = this._extra()
    if (x.closeReason === null) {
      x.closeReason =
        this._closeInfo !== null
          ? Promise.resolve(this._closeInfo)
          : new Promise((resolve) => {
              x.resolveClose = resolve
            })
    }
    return x.closeReason
  }
  /** Whether this side masks its frames (off by default; browsers reject masked server frames). */
  get masking() {
    return this._native.masking
  }
  set masking(v) {
    if (typeof v !== 'boolean') throw new TypeError(`masking must be a boolean (got ${typeof v})`)
    this._native.masking = v
  }
  /** Limit in bytes on a frame, a message and an inflated message. */
  get maxFrameSize() {
    return this._native.maxFrameSize
  }
  set maxFrameSize(v) {
    checkMillis('maxFrameSize', v)
    call(() => {
      this._native.maxFrameSize = v
    })
  }
  /** Pinger period in ms; 0 disables it. Setting it restarts the pinger. */
  get pingIntervalMillis() {
    return this._native.pingIntervalMillis
  }
  set pingIntervalMillis(v) {
    this._native.pingIntervalMillis = checkMillis('pingIntervalMillis', v)
  }
  /** How long the pinger waits for the matching Pong, in ms. */
  get timeoutMillis() {
    return this._native.timeoutMillis
  }
  set timeoutMillis(v) {
    checkMillis('timeoutMillis', v)
    call(() => {
      this._native.timeoutMillis = v
    })
  }
  /** Bound on the closing handshake, in ms. */
  get closeTimeoutMillis() {
    return this._native.closeTimeoutMillis
  }
  set closeTimeoutMillis(v) {
    this._native.closeTimeoutMillis = checkMillis('closeTimeoutMillis', v)
  }
  /** Round trip of the last matched Ping/Pong in ms, or null. */
  get latency() {
    return this._native.latency
  }
  /** Message and byte counters. */
  get stats() {
    this._server._flushSends()
    return this._native.stats
  }
  /** The converter used by sendSerialized/receiveDeserialized (JSON by default; null for none). */
  get converter() {
    return this._more === null ? JsonConverter : this._more.converter
  }
  set converter(c) {
    if (c !== null && (typeof c !== 'object' || typeof c.serialize !== 'function' || typeof c.deserialize !== 'function')) {
      throw new TypeError('converter must be null or an object with serialize(value) and deserialize(frame) methods')
    }
    this._extra().converter = c
  }

  /** The complete messages from the peer as an async iterable of frames. */
  get incoming() {
    const x = this._extra()
    if (x.incoming === null) x.incoming = new Incoming(this)
    return x.incoming
  }

  /** The send side as an object: `send(frame)` and `close()` (= close(1000)). */
  get outgoing() {
    const x = this._extra()
    if (!x.outgoing) {
      const ws = this
      x.outgoing = Object.freeze({
        send: (frame) => ws._sendFrame(frame),
        close: () => {
          ws.close(1000)
          return ws.closeReason.then(noop)
        },
      })
    }
    return x.outgoing
  }

  /**
   * Sends a message. With a callback (ws style) it is called once the data is written or the send failed;
   * without one, returns a Promise resolved once queued (rejected with code WSSESSION_ERR_CLOSED after close).
   */
  send(data, options, cb) {
    if (typeof options === 'function') {
      cb = options
      options = undefined
    }
    if (cb !== undefined && typeof cb !== 'function') throw new TypeError('cb must be a function')
    let binary
    let fin = true
    let compress
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object') throw new TypeError('options must be an object')
      if (options.binary !== undefined) binary = Boolean(options.binary)
      if (options.fin !== undefined) fin = Boolean(options.fin)
      if (options.compress !== undefined) compress = Boolean(options.compress)
    }
    let payload = data
    if (typeof data === 'string') {
      if (binary === undefined) binary = false
    } else if (data instanceof Uint8Array) {
      if (binary === undefined) binary = true
    } else {
      const p = toPayload(data)
      payload = p.payload
      if (binary === undefined) binary = p.binary
    }
    return this._send(payload, binary, fin, compress, cb)
  }

  _send(payload, binary, fin, compress, cb) {
    const flags = (binary ? 1 : 0) | (fin ? 2 : 0) | (compress === undefined ? 0 : compress ? 8 : 4)
    const server = this._server
    // Inside a batch callback a small complete message of a session open as far as JS knows is queued
    // for one native call at the end of the callback. Text from bytes must be valid UTF-8 there: the
    // core would reject it, and only the direct path can report that.
    if (server._batching && fin && cb === undefined && (this._flags & F_UNSENDABLE) === 0) {
      if (typeof payload === 'string') {
        if (payload.length <= DEFER_MAX) {
          server._queueSend(this._id, payload, payload.length * 3, flags)
          return QUEUED
        }
      } else if (payload.length <= DEFER_MAX && (binary || isUtf8(payload))) {
        server._queueSend(this._id, payload, payload.length, flags)
        return QUEUED
      }
    }
    server._flushSends()
    let p = null
    try {
      // Payloads past DEFER_MAX are sent from their own memory (no copy); smaller ones are copied,
      // which costs less than the reference the engine would otherwise hold.
      const status =
        typeof payload === 'string'
          ? this._native.trySendText(payload, flags)
          : payload.length > DEFER_MAX
            ? this._native.trySendOwned(payload, flags)
            : this._native.trySend(payload, flags)
      if (status === 2) p = wrap(this._native.sendAsync(payload, binary, fin, compress))
      if (!fin) this._flags |= F_UNSENDABLE
      else if ((this._flags & F_CLOSING) === 0) this._flags &= ~F_UNSENDABLE
    } catch (e) {
      p = Promise.reject(fromNative(e))
    }
    if (cb) {
      const done = p || QUEUED
      done.then(() => wrap(this._native.flush())).then(() => cb(), (e) => cb(e))
      return undefined
    }
    return p === null ? QUEUED : quiet(p)
  }

  _sendFrame(frame) {
    if (frame === null || typeof frame !== 'object' || Buffer.isBuffer(frame) || ArrayBuffer.isView(frame)) {
      return this.send(frame)
    }
    const type = frame.type
    if (type === 'ping' || type === 'pong') {
      try {
        this[type](frame.data)
        return Promise.resolve()
      } catch (e) {
        return quiet(Promise.reject(e))
      }
    }
    if (type !== 'text' && type !== 'binary') {
      throw new TypeError(`frame.type must be 'text', 'binary', 'ping' or 'pong' (got ${String(type)}); use close() to close`)
    }
    const { payload } = toPayload(frame.data === undefined ? '' : frame.data)
    const fin = frame.fin === undefined ? true : Boolean(frame.fin)
    const compress = frame.rsv1 === undefined ? undefined : Boolean(frame.rsv1)
    return this._send(payload, type === 'binary', fin, compress)
  }

  /**
   * Begins a session the host upgraded itself (from wss.adoptUpgraded; Ktor's start(negotiatedExtensions)):
   * `extensions` is the Sec-WebSocket-Extensions value its 101 sent (default: the one given to adoptUpgraded).
   */
  start(extensions) {
    if (extensions !== undefined && typeof extensions !== 'string') throw new TypeError('extensions must be a string')
    call(() => this._native.start(extensions))
  }

  /** Resolves when everything queued before the call has been written to the socket. */
  flush() {
    this._server._flushSends()
    return wrap(this._native.flush())
  }

  /** Sends a Ping (at most 125 bytes). `mask` is ignored (servers do not mask unless `masking`). */
  ping(data, mask, cb) {
    return this._control('ping', data, mask, cb)
  }

  /** Sends an unsolicited Pong (at most 125 bytes). */
  pong(data, mask, cb) {
    return this._control('pong', data, mask, cb)
  }

  _control(kind, data, mask, cb) {
    if (typeof data === 'function') {
      cb = data
      data = undefined
    } else if (typeof mask === 'function') {
      cb = mask
    }
    if (this.readyState === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)')
    const payload = data === undefined ? undefined : toPayload(data).payload
    this._server._flushSends()
    try {
      call(() => this._native[kind](payload))
    } catch (e) {
      if (e.code === 'WSSESSION_ERR_CLOSED') {
        if (cb) process.nextTick(cb, e)
        return
      }
      throw e
    }
    if (cb) process.nextTick(cb)
  }

  /**
   * Starts the closing handshake with `code` and `reason`; idempotent. Without a code the Close frame has an
   * empty body (as ws; the peer reads 1005) and `reason` is ignored.
   */
  close(code, reason) {
    if (this.readyState === CLOSED) return
    let text
    if (code !== undefined) {
      if (typeof code !== 'number' || !Number.isInteger(code)) {
        throw makeError('WSSESSION_ERR_INVALID_ARGUMENT', 'First argument must be a valid error code number', TypeError)
      }
      text = reason === undefined ? '' : Buffer.isBuffer(reason) ? reason.toString() : String(reason)
    }
    this._server._flushSends()
    try {
      call(() => (code === undefined ? this._native.close() : this._native.close(code, text)))
    } catch (e) {
      if (e.code !== 'WSSESSION_ERR_CLOSED') throw e
    }
    this._flags |= F_CLOSING | F_UNSENDABLE
  }

  /** Aborts the connection now (no Close frame; close code 1006). */
  terminate() {
    if (this.readyState === CLOSED) return
    this._server._flushSends()
    this._flags |= F_CLOSING | F_UNSENDABLE
    this._native.terminate()
  }

  /** Stops delivering messages and reading the socket until resume(). */
  pause() {
    if (this.readyState === CONNECTING || this.readyState === CLOSED) return
    this._flags |= F_PAUSED
    this._native.pause()
  }

  /** Resumes after pause(); held-back events are delivered first. */
  resume() {
    if ((this._flags & F_PAUSED) === 0) return
    this._flags &= ~F_PAUSED
    this._release()
  }

  /** Emits held-back events until paused again or (allowSynchronousEvents: false) one message was emitted. */
  _release() {
    const held = this._held
    const wasFull = held !== null && held.length >= HELD_MAX
    while (this._held !== null && this._held.length && (this._flags & (F_PAUSED | F_DEFERRED)) === 0) {
      const [name, args] = this._held.shift()
      this._emitNow(name, args)
    }
    if (this._held !== null && this._held.length === 0) this._held = null
    if (wasFull || (this._flags & F_PAUSED) === 0) this._updateNativePause()
  }

  _hold(name, args) {
    if (this._held === null) this._held = []
    this._held.push([name, args])
    if (this._held.length === HELD_MAX) this._updateNativePause()
  }

  /** Whether an event must wait: delivery paused or deferred to the next tick, or events held before it. */
  _mustHold() {
    return (this._flags & (F_PAUSED | F_DEFERRED)) !== 0 || this._held !== null
  }

  /** allowSynchronousEvents: false: the next message, ping or pong waits for the next tick. */
  _deferRest() {
    this._flags |= F_DEFERRED
    setImmediate(() => {
      this._flags &= ~F_DEFERRED
      this._release()
    })
  }

  _updateNativePause() {
    if (this._closeInfo) return
    const full =
      (this._incoming !== null && this._incoming._queue.length >= INCOMING_QUEUE) ||
      (this._held !== null && this._held.length >= HELD_MAX)
    if ((this._flags & F_PAUSED) !== 0 || full) this._native.pause()
    else this._native.resume()
  }

  // ---- topics (uWebSockets.js's names) ----
  /**
   * Subscribes to `topic` (a string): true if newly subscribed, false if it already was. With `{ since }`
   * (a `Position` or its `"<offset>:<epoch>"`, the last message the client received; needs a Redis
   * history) it returns a promise: the socket first gets every message published after `since`, in order,
   * none missing or repeated, then the live ones; it resolves with the last one's `Position` (null when the
   * topic has no history yet), or rejects with `WSSESSION_ERR_RECOVERY` and its `reason` ('trimmed',
   * 'epoch_changed', 'no_history', 'unavailable'): the socket is then not subscribed.
   */
  subscribe(topic, options) {
    if (options === undefined) return call(() => this._native.subscribe(topicName(topic)))
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
    if (typeof options.since !== 'string' && !(options.since instanceof Position)) {
      throw new TypeError('options.since must be a Position or its "<offset>:<epoch>" string')
    }
    const since = String(options.since)
    return wrap(call(() => this._native.subscribeFrom(topicName(topic), since))).then(Position._from)
  }

  /** Unsubscribes from `topic`: false if it was not subscribed. */
  unsubscribe(topic) {
    return this._native.unsubscribe(topicName(topic))
  }

  /** Whether this socket is subscribed to `topic`. */
  isSubscribed(topic) {
    return this._native.isSubscribed(topicName(topic))
  }

  /** The topics this socket is subscribed to, sorted (none once closed). */
  getTopics() {
    return this._native.topics()
  }

  /**
   * Publishes `data` to every subscriber of `topic` but this socket, framed once, without waiting (uWS's
   * `ws.publish`). `isBinary` defaults to the data's type (string: text), as send() does; `compress`
   * overrides the deflate threshold. Returns whether any other socket was subscribed to the topic.
   */
  publish(topic, data, isBinary, compress) {
    const r = this._server._publish(this._native, topic, data, isBinary, compress)
    return r.delivered + r.dropped + r.closed > 0
  }

  /**
   * Publishes as `publish` (every subscriber of `topic` but this socket) through the backplane's Redis
   * history, and resolves with the message's `Position` once Redis placed it (see `wss.publishPositioned`).
   */
  publishPositioned(topic, data, options) {
    return this._server._publishPositioned(this._native, topic, data, options)
  }

  /** Serializes `value` with the converter and sends it. */
  sendSerialized(value) {
    const c = this.converter
    if (!c) return quiet(Promise.reject(makeError('WSSESSION_ERR_NO_CONVERTER', 'no converter is configured for this session')))
    let frame
    try {
      frame = c.serialize(value)
    } catch (e) {
      const err = makeError('WSSESSION_ERR_INVALID_ARGUMENT', `cannot serialize: ${e.message}`, TypeError)
      err.cause = e
      return quiet(Promise.reject(err))
    }
    return this._sendFrame(frame)
  }

  /** Receives the next message and deserializes it with the converter. */
  async receiveDeserialized() {
    const c = this.converter
    if (!c) throw makeError('WSSESSION_ERR_NO_CONVERTER', 'no converter is configured for this session')
    const r = await this.incoming.next()
    if (r.done) throw this._closedError()
    try {
      return c.deserialize(r.value)
    } catch (e) {
      const err = makeError('WSSESSION_ERR_DESERIALIZE', `cannot deserialize frame: ${e.message}`)
      err.frame = r.value
      err.cause = e
      throw err
    }
  }

  _closedError() {
    const info = this._closeInfo
    const err = makeError('WSSESSION_ERR_CLOSED', info ? `session closed: ${info.code} ${info.reason}`.trim() : 'session closed')
    err.closeReason = info
    return err
  }

  // ---- events from the server's batch pump ----
  _emitNow(name, args) {
    if (name === '__close') {
      args[0]()
    } else if (name === 'message') {
      const [data, isBinary] = args
      if (this._incoming) this._incoming._push(data, isBinary)
      this.emit('message', this._present(data, isBinary), isBinary)
      if ((this._flags & F_ASYNC_EVENTS) !== 0) this._deferRest()
    } else {
      this.emit(name, ...args)
      if ((this._flags & F_ASYNC_EVENTS) !== 0 && (name === 'ping' || name === 'pong')) this._deferRest()
    }
  }

  _present(data, isBinary) {
    const f = this._flags
    if (!isBinary || (f & F_BINARY_TYPE) === 0) return data
    if (f & F_ARRAYBUFFER) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
    return [data]
  }

  /** A message from the batch pump (the hot path: no array per message unless held back). */
  _message(data, isBinary) {
    const f = this._flags
    if ((f & (F_PAUSED | F_DEFERRED)) !== 0 || this._held !== null) {
      this._hold('message', [data, isBinary])
      return
    }
    if (this._incoming !== null) this._incoming._push(data, isBinary)
    this.emit('message', !isBinary || (f & F_BINARY_TYPE) === 0 ? data : this._present(data, isBinary), isBinary)
    if ((f & F_ASYNC_EVENTS) !== 0) this._deferRest()
  }

  _deliver(name, args) {
    if (this._mustHold()) this._hold(name, args)
    else this._emitNow(name, args)
  }

  _onClose(ev) {
    const info = { code: ev.code, reason: ev.reason, initiator: ev.initiator }
    const failure = ev.errorCode ? makeError(ev.errorCode, ev.errorMessage) : null
    if (failure) failure[Symbol.for('wssession.closeCode')] = ev.code
    this._flags |= F_CLOSING | F_UNSENDABLE
    const finish = () => {
      this._closeInfo = info
      // ws's wasClean: a Close frame each way (the peer's arrived: we always answer one unless aborted).
      if (ev.peerCode !== 1006 && info.initiator !== 'abnormal') this._flags |= F_PEER_CLOSED
      if (this._incoming) this._incoming._end(failure || (info.initiator === 'abnormal' ? this._closedError() : null))
      if (this._more !== null && this._more.resolveClose !== null) this._more.resolveClose(info)
      if (failure && this.listenerCount('error') > 0) this.emit('error', failure)
      // As ws: the Close frame the peer sent (1005 empty, 1006 none), not the one we sent.
      this.emit('close', ev.peerCode, Buffer.from(ev.peerReason))
    }
    if (this._mustHold()) {
      if (this._held === null) this._held = []
      this._held.push(['__close', [finish]])
    } else finish()
  }

  /** @internal Whether the session ended with a Close frame each way (CloseEvent.wasClean). */
  _closedCleanly() {
    return this._closeInfo !== null && (this._flags & F_PEER_CLOSED) !== 0
  }
}

installEventTarget(WebSocket)

for (const [i, name] of READY_STATES.entries()) {
  Object.defineProperty(WebSocket, name, { enumerable: true, value: i })
}

/** The async iterable behind `ws.incoming`: frames `{ type, data, fin, rsv1, rsv2, rsv3 }`. */
class Incoming {
  constructor(ws) {
    this._ws = ws
    this._queue = []
    this._waiters = []
    this._ended = false
    this._error = null
    if (ws._closeInfo) this._ended = true
  }

  _push(data, isBinary) {
    const frame = { type: isBinary ? 'binary' : 'text', data, fin: true, rsv1: false, rsv2: false, rsv3: false }
    const w = this._waiters.shift()
    if (w) w.resolve({ value: frame, done: false })
    else {
      this._queue.push(frame)
      if (this._queue.length >= INCOMING_QUEUE) this._ws._updateNativePause()
    }
  }

  _end(error) {
    this._ended = true
    this._error = error
    for (const w of this._waiters.splice(0)) {
      if (error) w.reject(error)
      else w.resolve({ value: undefined, done: true })
    }
  }

  /** The next message; `{ done: true }` after a clean close; rejects once if the session failed. */
  next() {
    if (this._queue.length) {
      const value = this._queue.shift()
      if (this._queue.length === INCOMING_QUEUE - 1) this._ws._updateNativePause()
      return Promise.resolve({ value, done: false })
    }
    if (this._ended) {
      const e = this._error
      this._error = null
      return e ? Promise.reject(e) : Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }))
  }

  /** Stops iterating (the session stays open). */
  return() {
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator]() {
    return this
  }
}

module.exports = { WebSocket, Incoming, kServerSide, toPayload, topicName, CONNECTING, OPEN, CLOSING, CLOSED }
