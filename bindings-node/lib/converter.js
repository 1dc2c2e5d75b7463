'use strict'
// Converters for sendSerialized/receiveDeserialized: { serialize(value) -> frame, deserialize(frame) -> value }.

/** JSON in Text frames (the default); it also reads JSON from Binary frames. */
const JsonConverter = Object.freeze({
  serialize(value) {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`cannot serialize a value of type ${typeof value} as JSON`)
    return { type: 'text', data: text }
  },
  deserialize(frame) {
    return JSON.parse(Buffer.isBuffer(frame.data) ? frame.data.toString('utf8') : String(frame.data))
  },
})

module.exports = { JsonConverter }
