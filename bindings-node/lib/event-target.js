'use strict'
// The browser-style listener surface ws puts on its WebSocket: addEventListener/removeEventListener and
// the onopen/onmessage/onclose/onerror attributes, delivering Event objects shaped like the DOM's.

/** Marks a wrapper added by an `on<type>` attribute (one per type, replaced on assignment). */
const kAttribute = Symbol('wssession.eventAttribute')
/** The user's listener behind a wrapper. */
const kListener = Symbol('wssession.listener')

const TYPES = ['open', 'error', 'close', 'message']

/** A DOM-style event: `type` and `target`. */
class Event {
  constructor(type, target = null) {
    this.type = type
    this.target = target
  }
}

/** 'message': `data` is a string for text messages, the binary message otherwise. */
class MessageEvent extends Event {
  constructor(type, { data = null } = {}, target = null) {
    super(type, target)
    this.data = data
  }
}

/** 'close': `code`, `reason` (a string) and whether the closing handshake completed. */
class CloseEvent extends Event {
  constructor(type, { code = 0, reason = '', wasClean = false } = {}, target = null) {
    super(type, target)
    this.code = code
    this.reason = reason
    this.wasClean = wasClean
  }
}

/** 'error': the `error` and its `message`. */
class ErrorEvent extends Event {
  constructor(type, { error = null, message = '' } = {}, target = null) {
    super(type, target)
    this.error = error
    this.message = message
  }
}

function invoke(listener, target, event) {
  if (typeof listener === 'object' && listener !== null && typeof listener.handleEvent === 'function') {
    listener.handleEvent(event)
  } else {
    listener.call(target, event)
  }
}

/** Turns the emitter's arguments for `type` into the DOM event. */
function toEvent(type, target, args) {
  switch (type) {
    case 'message': {
      const [data, isBinary] = args
      return new MessageEvent('message', { data: isBinary ? data : data.toString() }, target)
    }
    case 'close': {
      const [code, reason] = args
      return new CloseEvent('close', { code, reason: reason.toString(), wasClean: target._closedCleanly() }, target)
    }
    case 'error': {
      const [error] = args
      return new ErrorEvent('error', { error, message: error.message }, target)
    }
    default:
      return new Event(type, target)
  }
}

/** Methods mixed into WebSocket.prototype. */
const EventTarget = {
  /** Adds a listener called with a DOM-style event; ignored for other types than open/error/close/message. */
  addEventListener(type, listener, options = {}) {
    if (!TYPES.includes(type)) return
    if (typeof listener !== 'function' && (typeof listener !== 'object' || listener === null)) return
    const attribute = Boolean(options[kAttribute])
    if (!attribute && this.listeners(type).some((l) => l[kListener] === listener && !l[kAttribute])) return
    const wrapper = function (...args) {
      invoke(listener, this, toEvent(type, this, args))
    }
    wrapper[kListener] = listener
    wrapper[kAttribute] = attribute
    if (options.once) this.once(type, wrapper)
    else this.on(type, wrapper)
  },

  /** Removes a listener added with addEventListener. */
  removeEventListener(type, listener) {
    const found = this.listeners(type).find((l) => l[kListener] === listener && !l[kAttribute])
    if (found) this.removeListener(type, found)
  },
}

/** Adds addEventListener/removeEventListener and the on<type> attributes to `Class`. */
function installEventTarget(Class) {
  Object.assign(Class.prototype, EventTarget)
  for (const type of TYPES) {
    Object.defineProperty(Class.prototype, `on${type}`, {
      enumerable: true,
      configurable: true,
      get() {
        const found = this.listeners(type).find((l) => l[kAttribute])
        return found ? found[kListener] : null
      },
      set(listener) {
        const found = this.listeners(type).find((l) => l[kAttribute])
        if (found) this.removeListener(type, found)
        if (typeof listener === 'function') this.addEventListener(type, listener, { [kAttribute]: true })
      },
    })
  }
}

module.exports = { installEventTarget, Event, MessageEvent, CloseEvent, ErrorEvent }
