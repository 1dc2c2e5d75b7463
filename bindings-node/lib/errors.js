'use strict'
// Native errors arrive as "WSSESSION_ERR_<KIND>: message"; this moves the code into `err.code`
// (the ws idiom) and turns argument errors into TypeError/RangeError.

const PREFIX = /^(WSSESSION_ERR_[A-Z_]+): ([\s\S]*)$/

/** Makes an Error (or TypeError/RangeError) carrying a stable `code`. */
function makeError(code, message, Ctor = Error) {
  const err = new Ctor(message)
  err.code = code
  return err
}

/** Rewrites an error thrown by the native module. */
function fromNative(err) {
  const m = err && typeof err.message === 'string' ? PREFIX.exec(err.message) : null
  if (!m) return err
  const [, code, message] = m
  if (code === 'WSSESSION_ERR_INVALID_ARGUMENT') {
    const Ctor = /\bbytes\b|out of range|greater than|must be (at least|\d)/.test(message) ? RangeError : TypeError
    return makeError(code, message, Ctor)
  }
  err.code = code
  err.message = message
  if (code === 'WSSESSION_ERR_RECOVERY') {
    // "[trimmed] ...": why the topic cannot be resumed (trimmed, epoch_changed, no_history, unavailable).
    const r = /^\[([a-z_]+)\] ([\s\S]*)$/.exec(message)
    if (r) [, err.reason, err.message] = r
  }
  return err
}

/** Calls a native function, rewriting what it throws. */
function call(fn) {
  try {
    return fn()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Adapts a native promise so its rejection carries `code`. */
function wrap(promise) {
  return promise.then(undefined, (e) => {
    throw fromNative(e)
  })
}

module.exports = { makeError, fromNative, call, wrap }
