//! The Redis side of a topic's history: a stream of messages bounded by length and age, and a
//! small hash holding the epoch and the last offset. Two scripts keep each step atomic: a publish
//! (number it, append it, trim, announce it) and a read of what followed a given offset.

use bytes::Bytes;
use redis::Value;

use super::BackplaneUrl;
use super::position::Position;

/// KEYS: stream, meta. ARGV: envelope, channel, max length, age in ms, meta ttl in ms, new epoch.
/// Numbers the message (a new epoch when the meta hash is gone), appends it to the stream, trims
/// the stream by length and age, and publishes `<offset>:<epoch>:<envelope>` on the channel.
pub(crate) const PUBLISH: &str = r#"
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[6]
  redis.call('HSET', KEYS[2], 'e', epoch)
end
local offset = redis.call('HINCRBY', KEYS[2], 's', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local now = redis.call('TIME')
local oldest = (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) - tonumber(ARGV[4])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'o', offset, 'd', ARGV[1])
if oldest > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[2], offset .. ':' .. epoch .. ':' .. ARGV[1])
return {offset, epoch}
"#;

/// KEYS: stream, meta. ARGV: offset, limit. Returns {epoch or false, last offset, entries newest
/// first or false when more than `limit` followed}. Offsets are dense (one per publish) and
/// trimming removes the oldest, so the entries after an offset are the newest `last - offset`.
pub(crate) const SINCE: &str = r#"
local epoch = redis.call('HGET', KEYS[2], 'e')
local top = tonumber(redis.call('HGET', KEYS[2], 's') or '0')
local n = top - tonumber(ARGV[1])
if not epoch or n <= 0 then
  return {epoch, top, {}}
end
if n > tonumber(ARGV[2]) then
  return {epoch, top, false}
end
return {epoch, top, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', n)}
"#;

/// The key of `topic`'s stream.
pub(crate) fn stream_key(url: &BackplaneUrl, topic: &str) -> String {
    format!("{}:h:{topic}", url.prefix)
}

/// The key of `topic`'s epoch and offset counter.
pub(crate) fn meta_key(url: &BackplaneUrl, topic: &str) -> String {
    format!("{}:m:{topic}", url.prefix)
}

/// A fresh epoch name.
pub(crate) fn new_epoch() -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(8).collect()
}

/// Reads the script's `{offset, epoch}`.
pub(crate) fn parse_published(v: &Value) -> Option<Position> {
    let Value::Array(items) = v else { return None };
    let offset = int(items.first()?)?;
    let epoch = text(items.get(1)?)?;
    Some(Position { offset, epoch })
}

/// What followed an offset in a topic's history.
#[derive(Debug)]
pub(crate) struct Since {
    /// The topic's epoch; none when it has no history (never published, or expired).
    pub(crate) epoch: Option<String>,
    /// The last offset given out in that epoch.
    pub(crate) top: u64,
    /// The messages after the offset, oldest first, as (offset, envelope); none when more followed
    /// than the read allows. May start later than asked when the stream was trimmed.
    pub(crate) entries: Option<Vec<(u64, Bytes)>>,
}

/// Reads the `SINCE` script's reply.
pub(crate) fn parse_since(v: &Value) -> Option<Since> {
    let Value::Array(items) = v else { return None };
    let epoch = match items.first()? {
        Value::Nil => None,
        other => Some(text(other)?),
    };
    let top = int(items.get(1)?)?;
    let entries = match items.get(2)? {
        Value::Array(list) => {
            let mut out = Vec::with_capacity(list.len());
            for entry in list.iter().rev() {
                out.push(parse_entry(entry)?);
            }
            Some(out)
        }
        _ => None,
    };
    Some(Since { epoch, top, entries })
}

/// One stream entry `[id, [o, <offset>, d, <envelope>]]`.
fn parse_entry(v: &Value) -> Option<(u64, Bytes)> {
    let Value::Array(pair) = v else { return None };
    let Value::Array(fields) = pair.get(1)? else { return None };
    let (mut offset, mut data) = (None, None);
    for kv in fields.chunks(2) {
        match (kv.first()?, kv.get(1)?) {
            (Value::BulkString(k), v) if k == b"o" => offset = Some(int(v)?),
            (Value::BulkString(k), Value::BulkString(d)) if k == b"d" => data = Some(Bytes::copy_from_slice(d)),
            _ => {}
        }
    }
    Some((offset?, data?))
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Splits a history channel message `<offset>:<epoch>:<envelope>`.
pub(crate) fn split_announced(message: &[u8]) -> Option<(Position, Bytes)> {
    let (position, rest) = Position::split_prefixed(message)?;
    Some((position, Bytes::copy_from_slice(rest)))
}
