'use strict'
// The upgrade request as ws users see it: an object shaped like http.IncomingMessage for the core's
// RequestInfo (own listener), and the header helpers shared with external servers' real requests.

/** `headers` from Node-style `rawHeaders` (repeats joined with ", ", set-cookie kept as an array). */
function headersOf(raw) {
  const headers = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const value = raw[i + 1]
    if (name === 'set-cookie') (headers[name] || (headers[name] = [])).push(value)
    else headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  return headers
}

/** An object shaped like http.IncomingMessage, for `connection` and `verifyClient` (own listener). */
function makeRequest(info) {
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
    headers: headersOf(info.rawHeaders),
    rawHeaders: info.rawHeaders,
    socket,
    connection: socket,
  }
}

/**
 * Response headers given as ws and Node's `setHeader` take them (`{ name: value }`, values strings,
 * numbers or arrays of them) as a flat [name, value, ...] list; an array value gives one line per item.
 */
function flatHeaders(headers) {
  if (headers === undefined || headers === null) return undefined
  if (typeof headers !== 'object') throw new TypeError('headers must be an object of header names to values')
  const out = []
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new TypeError(`header ${name} must be a string, a number or an array of them (got ${typeof v})`)
      }
      out.push(name, String(v))
    }
  }
  return out
}

/**
 * The same object as `makeRequest`, built on first access: a 'connection' listener that never looks
 * at the request costs no native call and no header parsing. `ws` is the socket whose request it is.
 */
class LazyRequest {
  constructor(ws) {
    this._ws = ws
    this._req = null
  }
  _get() {
    if (this._req === null) this._req = makeRequest(this._ws._request)
    return this._req
  }
  get method() {
    return this._get().method
  }
  get url() {
    return this._get().url
  }
  get httpVersion() {
    return this._get().httpVersion
  }
  get headers() {
    return this._get().headers
  }
  get rawHeaders() {
    return this._get().rawHeaders
  }
  get socket() {
    return this._get().socket
  }
  get connection() {
    return this._get().socket
  }
  /** The materialised request (its properties are getters on the prototype, not own ones). */
  toJSON() {
    return this._get()
  }
}


module.exports = { headersOf, makeRequest, LazyRequest, flatHeaders }
