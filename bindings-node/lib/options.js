'use strict'
// The WebSocketServer options: ws's names and defaults, checked and mapped onto the native server's.
// Every option is either honoured or refused by name; nothing is accepted and ignored.

/** ws 8's defaults for the options it documents. */
const WS_DEFAULTS = {
  allowSynchronousEvents: true,
  autoPong: true,
  maxPayload: 100 * 1024 * 1024,
  maxFragments: 16 * 1024,
  skipUTF8Validation: false,
  perMessageDeflate: false,
  handleProtocols: null,
  clientTracking: true,
  closeTimeout: 30000,
  verifyClient: null,
  noServer: false,
  backlog: null,
  server: null,
  host: null,
  path: null,
  port: null,
}

/** Options only meaningful when wssession owns the listener (`port`). */
const LISTENER_ONLY = ['host', 'backlog', 'tls']

/** Options wssession adds to ws's. */
const EXTRA = ['pingInterval', 'pingTimeout', 'maxBufferedAmount', 'maxConnections', 'handshakeTimeout', 'tls', 'logLevel', 'metricsPath', 'backplane', 'slowSubscriber', 'hostLoop']

/** ws options the core cannot honour, with the reason given in the error. */
const REFUSED = {
  maxBufferedChunks: [undefined, 'the core reads into one buffer bounded by maxPayload, it keeps no list of chunks to count'],
  maxPendingAutoPongs: [undefined, 'the core stops reading while too many Pongs wait to be written instead of terminating'],
}

/** perMessageDeflate keys wssession maps onto the core; the others are refused by name. */
const DEFLATE_KEYS = [
  'serverNoContextTakeover',
  'clientNoContextTakeover',
  'serverMaxWindowBits',
  'clientMaxWindowBits',
  'zlibDeflateOptions',
  'threshold',
]
const ZLIB_KEYS = ['level', 'memLevel']

/** The largest message size with `maxPayload: 0` (ws: no limit; 2^53 - 1 is also ws's hard ceiling). */
const NO_LIMIT = Number.MAX_SAFE_INTEGER

function optNumber(options, name, { min = 0, max = Number.MAX_SAFE_INTEGER, integer = true, where = 'options' } = {}) {
  const v = options[name]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${where}.${name} must be a number (got ${typeof v})`)
  if ((integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new RangeError(`${where}.${name} must be an integer between ${min} and ${max} (got ${v})`)
  }
  return v
}

function optBoolean(options, name) {
  const v = options[name]
  if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`options.${name} must be a boolean (got ${typeof v})`)
  return v
}

function refuseUnknown(obj, known, where, why) {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw new TypeError(`${where}.${key} is not supported by wssession${why ? `: ${why}` : ''}`)
  }
}

function deflateOptions(pmd) {
  if (pmd === undefined || pmd === false || pmd === null) return undefined
  if (pmd === true) pmd = {}
  if (typeof pmd !== 'object') throw new TypeError('options.perMessageDeflate must be a boolean or an object')
  refuseUnknown(pmd, DEFLATE_KEYS, 'options.perMessageDeflate', 'compression runs on the core, which has no such setting')
  // Ranges are the core's (ServerConfig::validate); here only the ws shapes are translated.
  const integer = (v, name) => {
    if (v !== undefined && !Number.isInteger(v)) throw new RangeError(`perMessageDeflate.${name} must be an integer`)
    return v
  }
  const bits = (name) => {
    const v = pmd[name]
    return v === true || v === false ? undefined : integer(v, name)
  }
  const zlibOptions = pmd.zlibDeflateOptions || {}
  if (typeof zlibOptions !== 'object') throw new TypeError('perMessageDeflate.zlibDeflateOptions must be an object')
  refuseUnknown(zlibOptions, ZLIB_KEYS, 'options.perMessageDeflate.zlibDeflateOptions', 'only level and memLevel map onto the core')
  const zlib = (name) => integer(zlibOptions[name], `zlibDeflateOptions.${name}`)
  return {
    level: zlib('level'),
    memLevel: zlib('memLevel'),
    threshold: pmd.threshold === undefined ? 1024 : optNumber(pmd, 'threshold', { where: 'perMessageDeflate' }),
    serverNoContextTakeover: Boolean(pmd.serverNoContextTakeover),
    clientNoContextTakeover: Boolean(pmd.clientNoContextTakeover),
    serverMaxWindowBits: bits('serverMaxWindowBits'),
    clientMaxWindowBits: bits('clientMaxWindowBits'),
  }
}

/** The close code of `slowSubscriber` ('drop', the default, is none); which codes are allowed is the core's call. */
function slowSubscriberClose(v) {
  if (v === undefined || v === 'drop') return undefined
  if (Number.isInteger(v)) return v >= 0 && v <= 0xffffffff ? v : 0
  throw new TypeError(`options.slowSubscriber must be 'drop' or a close code, 1008 or 1013 (got ${typeof v === 'string' ? JSON.stringify(v) : typeof v})`)
}

/** How the server gets its connections: 'port' (own listener), 'server' (an http/https.Server) or 'noServer'. */
function serverMode(options) {
  const hasPort = options.port !== undefined && options.port !== null
  const modes = [hasPort, Boolean(options.server), Boolean(options.noServer)].filter(Boolean).length
  if (modes !== 1) throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified')
  if (options.server && (typeof options.server.on !== 'function' || typeof options.server.listen !== 'function')) {
    throw new TypeError('options.server must be an http.Server or https.Server')
  }
  return hasPort ? 'port' : options.server ? 'server' : 'noServer'
}

/**
 * Checks `options` and returns `{ mode, options, native }`: `options` is ws's view (defaults filled in, as
 * `wss.options`), `native` the NativeServer's. `WebSocket` is the default socket class.
 */
function resolveOptions(options, WebSocket) {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  refuseUnknown(options, [...Object.keys(WS_DEFAULTS), ...EXTRA, ...Object.keys(REFUSED), 'WebSocket'], 'options', 'unknown option')
  const mode = serverMode(options)
  for (const [name, [bad, why]] of Object.entries(REFUSED)) {
    if (options[name] !== undefined && (bad === undefined || options[name] === bad)) {
      throw new TypeError(`options.${name}${bad === undefined ? '' : ` = ${bad}`} is not supported by wssession: ${why}`)
    }
  }
  if (mode !== 'port') {
    for (const name of LISTENER_ONLY) {
      if (options[name] !== undefined && options[name] !== null) {
        throw new TypeError(`options.${name} only applies with "port" (the external server owns the listener)`)
      }
    }
  }
  for (const name of ['allowSynchronousEvents', 'autoPong', 'skipUTF8Validation', 'clientTracking']) optBoolean(options, name)
  if (options.host !== undefined && options.host !== null && typeof options.host !== 'string') {
    throw new TypeError('options.host must be a string')
  }
  if (options.path !== undefined && options.path !== null && typeof options.path !== 'string') {
    throw new TypeError('options.path must be a string')
  }
  for (const fn of ['verifyClient', 'handleProtocols']) {
    if (options[fn] !== undefined && options[fn] !== null && typeof options[fn] !== 'function') {
      throw new TypeError(`options.${fn} must be a function`)
    }
  }
  const Cls = options.WebSocket === undefined ? WebSocket : options.WebSocket
  if (typeof Cls !== 'function' || (Cls !== WebSocket && !(Cls.prototype instanceof WebSocket))) {
    throw new TypeError("options.WebSocket must be wssession's WebSocket class or a class that extends it")
  }
  const merged = { ...WS_DEFAULTS, ...options, WebSocket: Cls }
  if (merged.perMessageDeflate === true) merged.perMessageDeflate = {}
  const maxPayload = optNumber(merged, 'maxPayload')
  const tls = options.tls
  const native = {
    host: mode === 'port' ? options.host || undefined : undefined,
    port: mode === 'port' ? optNumber(options, 'port', { max: 65535 }) : undefined,
    path: merged.path || undefined,
    jsHook: Boolean(options.verifyClient || options.handleProtocols),
    backlog: optNumber(options, 'backlog', { max: 0x7fffffff }),
    maxPayload: maxPayload === 0 ? NO_LIMIT : maxPayload,
    deflate: deflateOptions(merged.perMessageDeflate),
    pingIntervalMs: optNumber(options, 'pingInterval', { max: 0x7fffffff }),
    timeoutMs: optNumber(options, 'pingTimeout', { max: 0x7fffffff }),
    closeTimeoutMs: optNumber(merged, 'closeTimeout', { max: 0x7fffffff }),
    autoPong: merged.autoPong,
    skipUtf8Validation: merged.skipUTF8Validation,
    maxFragments: optNumber(merged, 'maxFragments', { max: 0x7fffffff }),
    maxBufferedAmount: optNumber(options, 'maxBufferedAmount', { min: 1 }),
    // Lower bounds the core has (max_connections, handshake_timeout_ms: at least 1) are its to refuse
    // (a RangeError naming its setting); the upper bounds here keep a number within the native u32.
    maxConnections: optNumber(options, 'maxConnections', { max: 0xffffffff }),
    handshakeTimeoutMs: optNumber(options, 'handshakeTimeout', { max: 0x7fffffff }),
    tls: tls ? { certPath: String(tls.cert), keyPath: String(tls.key) } : undefined,
    hostLoop: optBoolean(options, 'hostLoop'),
    slowSubscriberClose: slowSubscriberClose(options.slowSubscriber),
  }
  return { mode, options: merged, native }
}

module.exports = { resolveOptions, optNumber }
