//! Topics: `wss_session_subscribe` & co., `wss_server_publish`, and `wss_topic_list`.

use std::ffi::{CString, c_char};

use wssession_core::{Published, SlowSubscriber};

use crate::error::{FfiError, wss_status};
use crate::handle::{arg, arg_bytes, arg_str, frame_type_in, out_ptr, write};
use crate::server::wss_server;
use crate::session::wss_session;

/// Whether a publish is compressed (for subscribers that negotiated permessage-deflate).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_compress {
    /// Each subscriber's deflate threshold decides.
    Auto = 0,
    /// Compressed for every deflate subscriber.
    Always = 1,
    /// Sent uncompressed to everyone (no compression CPU at all).
    Never = 2,
}

fn compress_in(value: u32) -> Result<Option<bool>, FfiError> {
    match value {
        0 => Ok(None),
        1 => Ok(Some(true)),
        2 => Ok(Some(false)),
        other => Err(FfiError::invalid(format!(
            "unknown compress value {other}; use WSS_COMPRESS_AUTO (0), _ALWAYS (1) or _NEVER (2)"
        ))),
    }
}

/// What a publish does with a subscriber over its write high-water mark
/// (`wss_server_config_set_slow_subscriber`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_slow_subscriber {
    /// Skip the message for that subscriber and count it (the default).
    Drop = 0,
    /// Close that subscriber with the given code (1008 or 1013).
    Close = 1,
}

pub(crate) fn slow_subscriber_in(policy: u32, close_code: u16) -> Result<SlowSubscriber, FfiError> {
    match policy {
        0 => Ok(SlowSubscriber::Drop),
        1 => Ok(SlowSubscriber::Close(close_code)),
        other => Err(FfiError::invalid(format!(
            "unknown slow-subscriber policy {other}; use WSS_SLOW_SUBSCRIBER_DROP (0) or _CLOSE (1)"
        ))),
    }
}

/// What one publish did with this server's subscribers.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wss_published {
    /// Subscribers the message was queued to.
    pub delivered: usize,
    /// Subscribers it was skipped for (over their write limit under the DROP policy, or in the
    /// middle of sending a fragmented message).
    pub dropped: usize,
    /// Subscribers closed by the CLOSE policy (they did not get the message).
    pub closed: usize,
}

/// A snapshot of topic names (`wss_session_subscriptions`, `wss_server_topics`), sorted; owned by
/// the caller: free it with `wss_topic_list_free`.
pub struct wss_topic_list {
    names: Vec<CString>,
}

/// Writes `value` through an output pointer the caller may leave NULL.
fn write_optional<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        write(ptr, value);
    }
}

/// The arguments of a publish, translated (the core checks the topic and the text).
pub(crate) struct PublishArgs<'a> {
    pub(crate) topic: &'a str,
    pub(crate) data: &'a [u8],
    pub(crate) text: bool,
    pub(crate) compress: Option<bool>,
}

impl<'a> PublishArgs<'a> {
    pub(crate) fn new(
        topic: *const c_char,
        kind: u32,
        data: *const u8,
        len: usize,
        compress: u32,
    ) -> Result<Self, FfiError> {
        let text = match frame_type_in(kind)? {
            wssession_core::FrameType::Text => true,
            wssession_core::FrameType::Binary => false,
            _ => return Err(FfiError::invalid("a publish is WSS_FRAME_TYPE_TEXT or WSS_FRAME_TYPE_BINARY")),
        };
        Ok(Self {
            topic: arg_str(topic, "topic")?,
            data: arg_bytes(data, len, "data")?,
            text,
            compress: compress_in(compress)?,
        })
    }
}

fn published_out(p: Published) -> wss_published {
    wss_published { delivered: p.delivered, dropped: p.dropped, closed: p.closed }
}

fn list_out(names: Vec<String>, out: *mut *mut wss_topic_list) {
    // Topic names never hold NUL (the core refuses them).
    let names = names.into_iter().filter_map(|n| CString::new(n).ok()).collect();
    write(out, Box::into_raw(Box::new(wss_topic_list { names })));
}

/// Subscribes the session to `topic` (NUL-terminated UTF-8, 1 to 1024 bytes). `newly` (may be NULL)
/// is set to true if it was not subscribed before. WSS_STATUS_CLOSED once the session is closing;
/// WSS_STATUS_INVALID_ARGUMENT for a bad name or past 10,000 topics. Subscriptions end when the
/// session closes. Callable anywhere, callbacks included.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_subscribe(
    session: *const wss_session,
    topic: *const c_char,
    newly: *mut bool,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let topic = arg_str(topic, "topic")?;
        write_optional(newly, s.session.subscribe(topic)?);
        Ok(())
    }
}

/// Unsubscribes the session from `topic`; `was_subscribed` (may be NULL) says whether it was.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_unsubscribe(
    session: *const wss_session,
    topic: *const c_char,
    was_subscribed: *mut bool,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let topic = arg_str(topic, "topic")?;
        write_optional(was_subscribed, s.session.unsubscribe(topic));
        Ok(())
    }
}

/// Whether the session is subscribed to `topic`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_is_subscribed(
    session: *const wss_session,
    topic: *const c_char,
    out: *mut bool,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let topic = arg_str(topic, "topic")?;
        write(out_ptr(out, "out")?, s.session.is_subscribed(topic));
        Ok(())
    }
}

/// The session's topics (a new list, sorted; empty once it closed): free it with `wss_topic_list_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_subscriptions(
    session: *const wss_session,
    out: *mut *mut wss_topic_list,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        list_out(s.session.subscriptions(), out);
        Ok(())
    }
}

/// Publishes `len` bytes at `data` to every subscriber of `topic` but this session (the
/// uWebSockets semantics; the session need not be subscribed). `kind` is WSS_FRAME_TYPE_TEXT (valid
/// UTF-8) or WSS_FRAME_TYPE_BINARY; `compress` a `wss_compress`. Never blocks: a subscriber over its
/// write high-water mark gets the server's slow-subscriber policy. `out` (may be NULL) receives what
/// happened. WSS_STATUS_CLOSED once the session has closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_publish(
    session: *const wss_session,
    topic: *const c_char,
    kind: u32,
    data: *const u8,
    len: usize,
    compress: u32,
    out: *mut wss_published,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let m = PublishArgs::new(topic, kind, data, len, compress)?;
        write_optional(out, published_out(s.session.publish(m.topic, m.data, m.text, m.compress)?));
        Ok(())
    }
}

/// Publishes to every subscriber of `topic`; the arguments are those of `wss_session_publish`.
/// The message is framed once, and compressed once per shared deflate setting (sessions that
/// negotiated server_no_context_takeover); a session that keeps its compression context compresses
/// it itself. Never blocks. WSS_STATUS_NOT_STARTED before `wss_server_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_publish(
    server: *const wss_server,
    topic: *const c_char,
    kind: u32,
    data: *const u8,
    len: usize,
    compress: u32,
    out: *mut wss_published,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?.running()?;
        let m = PublishArgs::new(topic, kind, data, len, compress)?;
        write_optional(out, published_out(srv.publish(m.topic, m.data, m.text, m.compress)?));
        Ok(())
    }
}

/// How many sessions are subscribed to `topic`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_subscriber_count(
    server: *const wss_server,
    topic: *const c_char,
    out: *mut usize,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?.running()?;
        let topic = arg_str(topic, "topic")?;
        write(out_ptr(out, "out")?, srv.subscriber_count(topic));
        Ok(())
    }
}

/// Every topic with at least one subscriber (a new list, sorted): free it with `wss_topic_list_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_topics(server: *const wss_server, out: *mut *mut wss_topic_list) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?.running()?;
        let out = out_ptr(out, "out")?;
        list_out(srv.topics(), out);
        Ok(())
    }
}

/// The number of names in the list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_topic_list_count(list: *const wss_topic_list, out: *mut usize) -> wss_status {
    ffi_status! {
        let l = arg(list, "list")?;
        write(out_ptr(out, "out")?, l.names.len());
        Ok(())
    }
}

/// Name `index` (0-based), NUL-terminated, borrowed from the list until it is freed;
/// WSS_STATUS_INVALID_ARGUMENT when `index` >= the count.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_topic_list_at(
    list: *const wss_topic_list,
    index: usize,
    out: *mut *const c_char,
) -> wss_status {
    ffi_status! {
        let l = arg(list, "list")?;
        let out = out_ptr(out, "out")?;
        let name = l.names.get(index).ok_or_else(|| {
            FfiError::invalid(format!("topic index {index} is out of range (the list has {})", l.names.len()))
        })?;
        write(out, name.as_ptr());
        Ok(())
    }
}

/// Frees a list; NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_topic_list_free(list: *mut wss_topic_list) {
    ffi_boundary! {
        if !list.is_null() {
            // SAFETY: non-NULL lists come from this library and are freed once (header contract).
            drop(unsafe { Box::from_raw(list) });
        }
    }
}
