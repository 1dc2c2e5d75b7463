'use strict'
// Positions in a topic's Redis history (BACKPLANE.md): what publishPositioned resolves with and what
// ws.subscribe(topic, { since }) resumes from.

/** A message's place in its topic's history: `offset` (one more per publish) in `epoch` (the history it counts in). */
class Position {
  constructor(offset, epoch) {
    this.offset = offset
    this.epoch = epoch
    Object.freeze(this)
  }

  /** `"<offset>:<epoch>"`: the form clients see with `positions=1`, and what `since` accepts. */
  toString() {
    return `${this.offset}:${this.epoch}`
  }

  /** @internal From the native object (or null). */
  static _from(native) {
    return native === null || native === undefined ? null : new Position(native.offset, native.epoch)
  }
}

module.exports = { Position }
