//! `NativeSession`: one WebSocket session; every method forwards to the core `Session`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use napi::Env;
use napi::JsValue;
use napi::bindgen_prelude::{Either, FromNapiValue, Object, Uint8Array, Unknown};
use napi_derive::napi;
use wssession_core::{Bytes, Frame, FrameType, Session, State, TrySend};

use crate::error::{invalid, to_js};
use crate::hub::SessState;
use crate::lane::Lane;
use crate::positions::NativePosition;
use crate::request::RequestInfo;
use crate::topics::PublishResult;

/// A session's close reason.
#[napi(object)]
pub struct CloseInfo {
    /// The close code (1005 when the peer sent none, 1006 when there was no Close).
    pub code: u32,
    /// The close reason text.
    pub reason: String,
    /// "local", "remote" or "abnormal".
    pub initiator: String,
}

/// Per-session counters.
#[napi(object)]
pub struct SessionStats {
    /// Messages received.
    pub messages_in: f64,
    /// Payload bytes received.
    pub bytes_in: f64,
    /// Messages sent.
    pub messages_out: f64,
    /// Payload bytes sent.
    pub bytes_out: f64,
}

/// One accepted WebSocket session (the JS `WebSocket` wraps it).
#[napi]
pub struct NativeSession {
    s: Session,
    st: Arc<SessState>,
}

impl NativeSession {
    pub(crate) fn new(s: Session) -> Self {
        let st = SessState::of(&s);
        NativeSession { s, st }
    }

    /// The session with its adapter state, already looked up.
    pub(crate) fn with_state(s: Session, st: Arc<SessState>) -> Self {
        NativeSession { s, st }
    }
}

/// `readyState` of a session that ended.
pub(crate) const CLOSED: u32 = 3;

/// A core state as a `WebSocket.readyState` value.
pub(crate) fn ready_state(state: State) -> u32 {
    match state {
        State::Connecting => 0,
        State::Open => 1,
        State::Closing => 2,
        State::Closed => CLOSED,
    }
}

fn bytes(data: Option<Either<String, Uint8Array>>) -> Bytes {
    match data {
        None => Bytes::new(),
        Some(Either::A(s)) => Bytes::from(s),
        Some(Either::B(b)) => Bytes::copy_from_slice(&b),
    }
}

impl NativeSession {
    fn try_send_frame(&self, data: Bytes, flags: u32) -> napi::Result<u32> {
        if self.st.lane.busy() {
            return Ok(2); // behind sends waiting for room: `sendAsync` queues it after them
        }
        let (frame, compress) = crate::hub::data_frame(data, flags);
        match self.s.try_send_with(frame, compress) {
            Ok(TrySend::Sent) => Ok(0),
            Ok(TrySend::Buffered) => Ok(1),
            Ok(TrySend::Dropped) | Err(wssession_core::Error::Dropped) => Ok(2),
            Err(e) => Err(to_js(e)),
        }
    }
}

fn data_frame(data: Either<String, Uint8Array>, binary: bool, fin: bool) -> Frame {
    let kind = if binary { FrameType::Binary } else { FrameType::Text };
    Frame::new(kind, bytes(Some(data))).with_fin(fin)
}

#[napi]
impl NativeSession {
    /// Begins a session the host upgraded itself (Ktor's `start(negotiatedExtensions)`):
    /// `extensions` is the `Sec-WebSocket-Extensions` value its 101 sent (absent: the one recorded
    /// on the request; "": none), whose permessage-deflate parameters the session then speaks.
    #[napi]
    pub fn start(&self, extensions: Option<String>) -> napi::Result<()> {
        let value = extensions.unwrap_or_else(|| self.s.request().extensions.clone());
        let negotiated = crate::adopt::negotiated(&self.s, &value)?;
        self.s.start(negotiated).map_err(to_js)
    }

    /// Unique session id within the process.
    #[napi(getter)]
    pub fn id(&self) -> i64 {
        self.s.id() as i64
    }

    /// The upgrade request.
    #[napi(getter)]
    pub fn request(&self) -> RequestInfo {
        RequestInfo::from(self.s.request())
    }

    /// 0 connecting, 1 open, 2 closing, 3 closed (the `WebSocket.readyState` values).
    #[napi(getter)]
    pub fn ready_state(&self) -> u32 {
        ready_state(self.s.state())
    }

    /// Queues a data frame from bytes without waiting. `flags`: bit 0 binary, bit 1 fin, bits 2-3
    /// compress (0 default, 1 off, 2 on). Returns 0 sent, 1 buffered over the high-water mark,
    /// 2 not queued because the queue is over its hard limit (use `sendAsync`).
    #[napi]
    pub fn try_send(&self, data: &[u8], flags: u32) -> napi::Result<u32> {
        self.try_send_frame(Bytes::copy_from_slice(data), flags)
    }

    /// `trySend` without a copy, for large payloads: the frame is written from `data`'s own memory,
    /// which the engine references until the frame is written (as `ws` hands a Buffer to its socket
    /// without copying, bytes changed before then go out changed). A received payload sent back is
    /// referenced through the engine's own `Bytes`, any other Buffer through a JS reference.
    #[napi]
    pub fn try_send_owned(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "Uint8Array")] data: Unknown<'_>,
        flags: u32,
    ) -> napi::Result<u32> {
        let view = data.raw();
        // SAFETY: `view` is a live value of this call; the borrowed slice is not kept past it.
        let bytes = match crate::payload::engine_bytes(unsafe { <&[u8]>::from_napi_value(env.raw(), view)? }) {
            Some(b) => b,
            // SAFETY: as above; the Uint8Array holds a JS reference until the engine drops it.
            None => Bytes::from_owner(unsafe { Uint8Array::from_napi_value(env.raw(), view)? }),
        };
        self.try_send_frame(bytes, flags)
    }

    /// `trySend` for a string payload (UTF-8 encoded here).
    #[napi]
    pub fn try_send_text(&self, data: String, flags: u32) -> napi::Result<u32> {
        self.try_send_frame(Bytes::from(data), flags)
    }

    /// Queues a frame, waiting while the queue is over its high-water mark; resolves once queued.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn send_async<'env>(
        &self,
        env: &'env Env,
        data: Either<String, Uint8Array>,
        binary: bool,
        fin: bool,
        compress: Option<bool>,
    ) -> napi::Result<Object<'env>> {
        let queued = Lane::send(&self.st, &self.s, vec![(data_frame(data, binary, fin), compress)]);
        promise(env, async move { queued.await.unwrap_or(Err(wssession_core::Error::Closed(None))) })
    }

    /// Resolves when every frame queued before the call has been written to the socket.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let s = self.s.clone();
        promise(env, async move { s.flush().await })
    }

    /// Sends a Ping (payload at most 125 bytes) without waiting.
    #[napi]
    pub fn ping(&self, data: Option<Either<String, Uint8Array>>) -> napi::Result<()> {
        self.control(FrameType::Ping, bytes(data))
    }

    /// Sends an unsolicited Pong (payload at most 125 bytes) without waiting.
    #[napi]
    pub fn pong(&self, data: Option<Either<String, Uint8Array>>) -> napi::Result<()> {
        self.control(FrameType::Pong, bytes(data))
    }

    fn control(&self, kind: FrameType, data: Bytes) -> napi::Result<()> {
        match self.s.try_send(Frame::new(kind, data)) {
            Ok(_) | Err(wssession_core::Error::Dropped) => Ok(()),
            Err(e) => Err(to_js(e)),
        }
    }

    /// Starts the closing handshake (idempotent; the first reason wins). Without a code the Close
    /// frame has an empty body (as `ws`) and `reason` is ignored.
    #[napi]
    pub fn close(&self, code: Option<u32>, reason: Option<String>) -> napi::Result<()> {
        let how = match code {
            None => None,
            Some(code) => {
                let code =
                    u16::try_from(code).map_err(|_| invalid(format!("close code {code} is not a valid code")))?;
                Some((code, reason.unwrap_or_default()))
            }
        };
        // After the sends still waiting for room, as ws keeps send(); close() in order.
        Lane::close(&self.st, &self.s, how).map_err(to_js)?;
        Ok(())
    }

    /// Aborts now: no Close frame; the close reason is 1006.
    #[napi]
    pub fn terminate(&self) {
        self.s.terminate();
    }

    /// The close reason once the session has ended, else null.
    #[napi(getter)]
    pub fn close_reason(&self) -> Option<CloseInfo> {
        self.s.close_reason_now().map(|r| CloseInfo {
            code: r.code as u32,
            reason: r.reason,
            initiator: r.initiator.as_str().to_owned(),
        })
    }

    /// Bytes accepted by `send` and not yet written to the socket (framing included once queued).
    #[napi(getter)]
    pub fn buffered_amount(&self) -> f64 {
        self.st.buffered_amount(&self.s) as f64
    }

    /// Round trip of the last matched Ping/Pong in ms, or null.
    #[napi(getter)]
    pub fn latency(&self) -> Option<f64> {
        self.s.latency().map(|d| d.as_secs_f64() * 1000.0)
    }

    /// Whether outgoing frames are masked.
    #[napi(getter)]
    pub fn get_masking(&self) -> bool {
        self.s.masking()
    }

    /// Masks outgoing frames (Ktor parity; browsers reject masked server frames).
    #[napi(setter)]
    pub fn set_masking(&self, on: bool) {
        self.s.set_masking(on)
    }

    /// Limit on frames and messages in bytes.
    #[napi(getter)]
    pub fn get_max_frame_size(&self) -> f64 {
        self.s.max_frame_size() as f64
    }

    /// Changes the frame/message limit.
    #[napi(setter)]
    pub fn set_max_frame_size(&self, bytes: f64) -> napi::Result<()> {
        self.s.set_max_frame_size(bytes as usize).map_err(to_js)
    }

    /// Pinger period in ms (0 = off).
    #[napi(getter)]
    pub fn get_ping_interval_millis(&self) -> f64 {
        self.s.ping_interval_ms() as f64
    }

    /// Changes the pinger period (restarts the pinger).
    #[napi(setter)]
    pub fn set_ping_interval_millis(&self, ms: f64) {
        self.s.set_ping_interval_ms(ms as u64)
    }

    /// How long the pinger waits for a Pong, in ms.
    #[napi(getter)]
    pub fn get_timeout_millis(&self) -> f64 {
        self.s.timeout_ms() as f64
    }

    /// Changes the pong timeout (restarts the pinger).
    #[napi(setter)]
    pub fn set_timeout_millis(&self, ms: f64) -> napi::Result<()> {
        self.s.set_timeout_ms(ms as u64).map_err(to_js)
    }

    /// Bound on the closing handshake in ms.
    #[napi(getter)]
    pub fn get_close_timeout_millis(&self) -> f64 {
        self.s.close_timeout_ms() as f64
    }

    /// Changes the closing-handshake bound.
    #[napi(setter)]
    pub fn set_close_timeout_millis(&self, ms: f64) {
        self.s.set_close_timeout_ms(ms as u64)
    }

    /// Stops reading the socket until `resume` (TCP backpressure reaches the peer).
    #[napi]
    pub fn pause(&self) {
        self.st.set_user_paused(&self.s, true);
    }

    /// Resumes reading after `pause`.
    #[napi]
    pub fn resume(&self) {
        self.st.set_user_paused(&self.s, false);
    }

    /// Whether the user paused reading.
    #[napi(getter)]
    pub fn is_paused(&self) -> bool {
        self.st.user_paused.load(Ordering::Acquire)
    }

    /// Subscribes to `topic`: true if newly subscribed, false if it already was.
    #[napi]
    pub fn subscribe(&self, topic: String) -> napi::Result<bool> {
        self.s.subscribe(&topic).map_err(to_js)
    }

    /// Unsubscribes from `topic`: false if it was not subscribed.
    #[napi]
    pub fn unsubscribe(&self, topic: String) -> bool {
        self.s.unsubscribe(&topic)
    }

    /// Whether the session is subscribed to `topic`.
    #[napi]
    pub fn is_subscribed(&self, topic: String) -> bool {
        self.s.is_subscribed(&topic)
    }

    /// The topics the session is subscribed to, sorted (none once it closed).
    #[napi]
    pub fn topics(&self) -> Vec<String> {
        self.s.subscriptions()
    }

    /// Publishes bytes to every subscriber of `topic` but this session, without waiting. `flags`:
    /// bit 0 binary, bits 2-3 compress (0 default, 1 off, 2 on), as `trySend`.
    #[napi]
    pub fn publish(&self, topic: String, data: &[u8], flags: u32) -> napi::Result<PublishResult> {
        crate::topics::publish(flags, |text, compress| self.s.publish(&topic, data, text, compress))
    }

    /// `publish` for a string payload.
    #[napi]
    pub fn publish_text(&self, topic: String, data: String, flags: u32) -> napi::Result<PublishResult> {
        self.publish(topic, data.as_bytes(), flags)
    }

    /// Publishes through a Redis history to every subscriber of `topic` but this session (`flags` as
    /// `publish`); resolves with the message's position once the broker placed it.
    #[napi(ts_return_type = "Promise<NativePosition>")]
    pub fn publish_positioned<'env>(
        &self,
        env: &'env Env,
        topic: String,
        data: Either<String, Uint8Array>,
        flags: u32,
    ) -> napi::Result<Object<'env>> {
        let s = self.s.clone();
        crate::positions::publish_positioned(env, data, flags, |data, text, compress| async move {
            s.publish_positioned(&topic, &data, text, compress).await
        })
    }

    /// Subscribes to `topic` after first sending every message published after `since`
    /// ("<offset>:<epoch>", parsed by the core), in order, none missing or repeated; resolves with the
    /// last one's position (null when the topic has no history yet), or rejects with
    /// WSSESSION_ERR_RECOVERY (not subscribed).
    #[napi(ts_return_type = "Promise<NativePosition | null>")]
    pub fn subscribe_from<'env>(&self, env: &'env Env, topic: String, since: String) -> napi::Result<Object<'env>> {
        let since: wssession_core::Position = since.parse().map_err(to_js)?;
        let s = self.s.clone();
        crate::positions::promise(env, async move {
            s.subscribe_from(&topic, since).await.map(|p| p.map(NativePosition::from))
        })
    }

    /// Message and byte counters.
    #[napi(getter)]
    pub fn stats(&self) -> SessionStats {
        let s = self.s.stats();
        SessionStats {
            messages_in: s.messages_in as f64,
            bytes_in: s.bytes_in as f64,
            messages_out: s.messages_out as f64,
            bytes_out: s.bytes_out as f64,
        }
    }
}

/// A JS promise settled from a future run on the core runtime (never on napi's own runtime).
pub(crate) fn promise<'env, F>(env: &'env Env, fut: F) -> napi::Result<Object<'env>>
where
    F: std::future::Future<Output = wssession_core::Result<()>> + Send + 'static,
{
    let (deferred, promise) =
        env.create_deferred::<(), _>().map_err(|e| invalid(format!("cannot create a promise: {e}")))?;
    wssession_core::runtime::spawn(async move {
        match fut.await {
            Ok(()) => deferred.resolve(|_| Ok(())),
            Err(e) => deferred.reject(to_js(e)),
        }
    });
    Ok(promise)
}
