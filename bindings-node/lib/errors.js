'use strict'
// Native errors arrive as "WSSESSION_ERR_<KIND>[ DETAIL]: message", the detail taken from the core's
// error kind (never guessed from the text): "RangeError" for an argument out of its range, or Node's
// own code for an I/O error ("EADDRINUSE", "EACCES"), or why a topic cannot be resumed ("trimmed",
// "epoch_changed", "no_history", "unavailable"). This moves the code into `err.code` (the ws idiom;
// Node's code when there is one), a recovery failure's reason into `err.reason`, and makes argument
// errors TypeError or RangeError.

const PREFIX = /^(WSSESSION_ERR_[A-Z_]+)(?: ([A-Za-z_]+))?: ([\s\S]*)$/

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
  const [, code, detail, message] = m
  if (code === 'WSSESSION_ERR_INVALID_ARGUMENT') {
    return makeError(code, message, detail === 'RangeError' ? RangeError : TypeError)
  }
  err.message = message
  if (code === 'WSSESSION_ERR_RECOVERY') {
    err.code = code
    err.reason = detail
  } else {
    err.code = detail || code
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
