//! The bridge from runtime threads to the JS thread: one event queue and one
//! `ThreadsafeFunction` per server. Runtime threads push events and schedule at most one pending
//! JS call; that call drains everything queued so far, so one JS turn delivers many messages.
//! A session whose undelivered messages pile up is paused (core `pause`) until JS catches up, so
//! neither the queue nor the TSFN grows without bound.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use napi::bindgen_prelude::{Buffer, Float64Array, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use tokio::sync::oneshot;
use wssession_core::{
    Bytes, CloseReason, Decision, EventHandler, Frame, FrameType, Initiator, Session, TrySend, ViolationKind,
};

use crate::hostloop::{self, HostLoop};
use crate::lane::{Lane, LaneOwner, OutFrame};
use crate::payload::Payload;
use crate::request::RequestInfo;
use crate::session::NativeSession;

/// Undelivered messages of one session above which it is paused. High enough that a publisher's
/// burst reaches JS in one batch, whose publishes then leave in one write per subscriber (at 256, a
/// 100-topic fan-out wrote ~4 messages per write and cost 3.6× the CPU per delivery); the bytes
/// are bounded by [`PAUSE_BYTES`].
const PAUSE_MESSAGES: usize = 4096;
/// Undelivered bytes of one session above which it is paused.
const PAUSE_BYTES: usize = 8 << 20;

/// Messages up to this size are packed into the batch's one `data` buffer (larger ones get their own).
const PACK_MESSAGE: usize = 1024;
/// Packed bytes per batch above which messages get their own buffer (bounds what a kept slice retains).
const PACK_BATCH: usize = 256 << 10;

/// The JS callback receiving batches; strong (keeps Node alive) until `unref`.
pub(crate) type EventsFn = ThreadsafeFunction<(), Unknown<'static>, NativeBatch, Status, false, false>;

/// Event kinds in [`NativeEvent::kind`].
pub(crate) mod kind {
    pub const REQUEST: u32 = 0;
    pub const OPEN: u32 = 1;
    pub const MESSAGE: u32 = 2;
    pub const PING: u32 = 3;
    pub const PONG: u32 = 4;
    pub const DRAIN: u32 = 5;
    pub const CLOSE: u32 = 6;
    /// In [`NativeBatch::meta`]: a binary message packed in `data` (`MESSAGE` is a packed text one).
    pub const PACKED_BINARY: u32 = 7;
    /// In [`NativeBatch::meta`]: the event is `events[offset]`.
    pub const OTHER: u32 = 8;
    /// In [`NativeBatch::meta`]: a text message too large to pack, `buffers[offset]`.
    pub const BUFFER_TEXT: u32 = 10;
    /// In [`NativeBatch::meta`]: a binary message too large to pack, `buffers[offset]`.
    pub const BUFFER_BINARY: u32 = 11;
    /// A connection handed over by `adoptFd`/`adoptPump` ended without becoming a session.
    pub const ADOPT_FAILED: u32 = 9;
}

/// One JS turn's events. `meta` holds four numbers per event, in order: kind, session id, offset,
/// length. Kind 2 (text) and 7 (binary) are small messages packed in `data[offset..offset + length]`;
/// kind 1 is an open (offset: the adoption id, or -1); kind 6 a close without failure and with empty
/// reasons (offset: code + 65536 × the peer's code, length: 0 local, 1 remote, 2 abnormal initiator);
/// kind 10 (text) and 11 (binary) are larger messages, `buffers[offset]`; kind 8 is `events[offset]`.
/// Packing saves one napi object per event (and one external buffer per small message).
#[napi(object, object_from_js = false)]
pub struct NativeBatch {
    /// kind, id, offset, length per event.
    pub meta: Float64Array,
    /// The payloads of the packed messages, back to back.
    pub data: Buffer,
    /// The messages too large to pack, each over the engine's memory.
    #[napi(ts_type = "Buffer[]")]
    pub buffers: Vec<Payload>,
    /// Every other event (request, ping, pong, drain, a close with a failure or a reason, adoption failed).
    pub events: Vec<NativeEvent>,
}

/// One event delivered to JS that is not packed in the batch's `meta`: 0 request, 3 ping, 4 pong,
/// 5 drain, 6 close, 9 adoption failed.
#[napi(object, object_from_js = false)]
pub struct NativeEvent {
    /// 0 request, 3 ping, 4 pong, 5 drain, 6 close, 9 adoption failed.
    pub kind: u32,
    /// The session id (the request id for kind 0).
    pub id: i64,
    /// The payload (ping, pong).
    #[napi(ts_type = "Buffer")]
    pub data: Option<Payload>,
    /// Close code (close).
    pub code: Option<u32>,
    /// Close reason (close).
    pub reason: Option<String>,
    /// "local", "remote" or "abnormal" (close).
    pub initiator: Option<String>,
    /// A `ws`-style error code when the session failed (close), e.g. `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`.
    pub error_code: Option<String>,
    /// The error message matching `errorCode`.
    pub error_message: Option<String>,
    /// The code of the Close frame the peer sent (close): 1005 for an empty one, 1006 when none
    /// arrived; `ws` reports these in its `'close'` event.
    pub peer_code: Option<u32>,
    /// The reason of the Close frame the peer sent (close), "" when none.
    pub peer_reason: Option<String>,
    /// The request to decide on (request).
    pub request: Option<RequestInfo>,
    /// The 101's headers the core would answer the request with, names and values alternating
    /// (request; absent for an invalid upgrade).
    pub response_headers: Option<Vec<String>>,
    /// The id `adoptFd`/`adoptPump`/`upgraded*` returned, for a connection JS handed over (adoption
    /// failed).
    pub adoption: Option<u32>,
}

pub(crate) enum Ev {
    Request {
        rid: u32,
        req: Box<RequestInfo>,
        response: Option<Vec<String>>,
    },
    AdoptFailed {
        id: u32,
    },
    Open {
        s: Session,
    },
    Message {
        sid: u64,
        st: Arc<SessState>,
        data: Bytes,
        binary: bool,
    },
    Ping {
        sid: u64,
        data: Bytes,
    },
    Pong {
        sid: u64,
        data: Bytes,
    },
    Drain {
        sid: u64,
    },
    Close {
        sid: u64,
        reason: CloseReason,
        err: Option<(&'static str, String)>,
    },
    /// `hostLoop`: the session's reads may go on (its reader's resume hook fired).
    Resume {
        sid: u64,
    },
}

/// Adapter state of one session (stored as the core session's attachment).
#[derive(Default)]
pub(crate) struct SessState {
    pending: AtomicUsize,
    pending_bytes: AtomicUsize,
    auto_paused: AtomicBool,
    pub(crate) user_paused: AtomicBool,
    /// The adoption id of a connection JS handed over (reported with the open event); ids start at 1,
    /// so the niche keeps this at four bytes.
    pub(crate) adoption: Option<NonZeroU32>,
    /// Sends waiting for room in the core's queue, in order (part of `bufferedAmount`).
    pub(crate) lane: Lane,
}

impl LaneOwner for SessState {
    fn lane(&self) -> &Lane {
        &self.lane
    }
}

impl SessState {
    /// The state of the session of adoption `id`.
    pub(crate) fn adopted(id: u32) -> SessState {
        SessState { adoption: NonZeroU32::new(id), ..SessState::default() }
    }

    /// The state attached to `s` (every session accepted by a Node server has one).
    pub(crate) fn of(s: &Session) -> Arc<SessState> {
        s.attachment().and_then(|a| a.downcast::<SessState>().ok()).unwrap_or_default()
    }

    /// Bytes accepted by `send` and not yet written to the socket: the core's queue plus the frames
    /// still waiting for room in it.
    pub(crate) fn buffered_amount(&self, s: &Session) -> usize {
        s.buffered_amount() + self.lane.bytes()
    }

    /// Applies the user's pause: reading stops while either the user or the adapter wants it.
    pub(crate) fn set_user_paused(&self, s: &Session, paused: bool) {
        self.user_paused.store(paused, Ordering::SeqCst);
        if paused {
            s.pause();
        } else if !self.auto_paused.load(Ordering::SeqCst) {
            s.resume();
        }
    }
}

/// The per-server event bridge.
pub(crate) struct Hub {
    queue: Mutex<Vec<Ev>>,
    scheduled: AtomicBool,
    pub(crate) tsfn: Mutex<Option<EventsFn>>,
    pub(crate) requests: Mutex<HashMap<u32, oneshot::Sender<Decision>>>,
    next_rid: AtomicU32,
    /// Sessions JS knows as open, by id, with their state (for [`Hub::send_batch`] and a socket's
    /// first native call); only the JS thread touches it.
    open: Mutex<HashMap<u64, (Session, Arc<SessState>)>>,
    /// Sessions whose close the batch in progress delivers: they leave `open` when it ends, so that
    /// JS can still fetch their `NativeSession` while handling the close.
    closed: Mutex<Vec<u64>>,
    /// Whether the runtime's threads run under `SCHED_BATCH` for the batch callback in progress.
    batch_policy: AtomicBool,
    /// Whether a host batch (`wssession_core::topics::HostBatch`) is open on the JS thread for the
    /// batch callback in progress: every publish its handlers make leaves in one flush at its end.
    host_batch: AtomicBool,
    /// With `hostLoop`: the JS thread's libuv loop reads the sockets (see [`hostloop`]).
    host: OnceLock<HostLoop>,
}

impl Hub {
    pub(crate) fn new() -> Arc<Hub> {
        Arc::new(Hub {
            queue: Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
            tsfn: Mutex::new(None),
            requests: Mutex::new(HashMap::new()),
            next_rid: AtomicU32::new(1),
            open: Mutex::new(HashMap::new()),
            closed: Mutex::new(Vec::new()),
            batch_policy: AtomicBool::new(false),
            host_batch: AtomicBool::new(false),
            host: OnceLock::new(),
        })
    }

    /// Makes the JS thread's loop read this server's sockets (once, at construction).
    pub(crate) fn set_host(&self, host: HostLoop) {
        let _ = self.host.set(host);
    }

    /// The host loop, with `hostLoop`.
    pub(crate) fn host(&self) -> Option<&HostLoop> {
        self.host.get()
    }

    /// From any thread: a `hostLoop` session may read again; the JS thread watches it again.
    pub(crate) fn resume_host_read(&self, sid: u64) {
        self.emit(Ev::Resume { sid });
    }

    /// Queues an event and makes sure one JS call is pending to deliver it.
    pub(crate) fn emit(&self, ev: Ev) {
        self.queue.lock().unwrap().push(ev);
        // A host read on the JS thread hands its events to JS itself, in the same turn.
        if !hostloop::reading_here() {
            self.wake();
        }
    }

    /// Makes sure one JS call is pending if events are queued.
    pub(crate) fn schedule(&self) {
        if !self.queue.lock().unwrap().is_empty() {
            self.wake();
        }
    }

    /// Makes sure one JS call is pending.
    fn wake(&self) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let guard = self.tsfn.lock().unwrap();
            match guard.as_ref() {
                Some(f) if f.call((), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok => {}
                // Node is exiting (or the server was disposed): nobody will read the queue.
                _ => {
                    self.scheduled.store(false, Ordering::Release);
                    self.queue.lock().unwrap().clear();
                }
            }
        }
    }

    /// Registers a pending accept decision and asks JS for it.
    pub(crate) fn ask(&self, req: RequestInfo, response: Option<Vec<String>>) -> oneshot::Receiver<Decision> {
        let (tx, rx) = oneshot::channel();
        let rid = self.next_rid.fetch_add(1, Ordering::Relaxed);
        self.requests.lock().unwrap().insert(rid, tx);
        self.emit(Ev::Request { rid, req: Box::new(req), response });
        rx
    }

    /// On the JS thread: takes every queued event and converts it for JS, resuming sessions
    /// that were paused because JS had fallen behind.
    pub(crate) fn drain(&self, _env: &Env) -> NativeBatch {
        self.scheduled.store(false, Ordering::Release);
        let events = std::mem::take(&mut *self.queue.lock().unwrap());
        self.batch(events)
    }

    /// On the JS thread, after a host read: the queued events as a batch, none if nothing is queued
    /// (a pending threadsafe call then finds the queue empty).
    pub(crate) fn collect_here(&self) -> Option<NativeBatch> {
        let events = std::mem::take(&mut *self.queue.lock().unwrap());
        (!events.is_empty()).then(|| self.batch(events))
    }

    /// Converts `events` for JS (see [`Hub::drain`]).
    fn batch(&self, events: Vec<Ev>) -> NativeBatch {
        self.forget_closed();
        // Several events: their handlers' publishes leave in one flush when the batch ends. A lone
        // event's publishes go as any publish outside a batch (a lone publish is written at once,
        // straight from its shared frame: the low-rate case, where nothing would batch with it).
        if events.len() > 1 && !self.host_batch.swap(true, Ordering::AcqRel) {
            wssession_core::topics::begin_host_batch();
        }
        // While JS handles this batch, a packet arriving for the runtime must not preempt the JS
        // thread (two context switches per packet on a shared core): the runtime reads it when JS
        // is done, together with whatever else arrived. `end_batch` switches back, so a runtime
        // thread woken while JS is idle still preempts whatever else runs on the core.
        if wssession_core::runtime::batch_worthwhile(events.len()) && !self.batch_policy.swap(true, Ordering::AcqRel) {
            wssession_core::runtime::set_threads_batch(true);
        }
        let mut meta: Vec<f64> = Vec::with_capacity(events.len() * 4);
        let mut data: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut buffers = Vec::new();
        let mut touched: Vec<(Session, Arc<SessState>)> = Vec::new();
        // hostLoop: sessions to start watching, and to watch again.
        let mut started: Vec<Session> = Vec::new();
        let mut resumed: Vec<u64> = Vec::new();
        let mut open = self.open.lock().unwrap();
        let mut closed = self.closed.lock().unwrap();
        for ev in events {
            let other = match ev {
                Ev::Request { rid, req, response } => {
                    NativeEvent { request: Some(*req), response_headers: response, ..event(kind::REQUEST, rid as u64) }
                }
                Ev::AdoptFailed { id } => NativeEvent { adoption: Some(id), ..event(kind::ADOPT_FAILED, 0) },
                Ev::Open { s } => {
                    let id = s.id();
                    let st = SessState::of(&s);
                    let adoption = st.adoption.map_or(-1.0, |a| f64::from(a.get()));
                    if self.host.get().is_some() {
                        started.push(s.clone());
                    }
                    open.insert(id, (s, st));
                    meta.extend_from_slice(&[kind::OPEN as f64, id as f64, adoption, 0.0]);
                    continue;
                }
                Ev::Message { sid: id, st, data: payload, binary } => {
                    st.pending.fetch_sub(1, Ordering::AcqRel);
                    st.pending_bytes.fetch_sub(payload.len(), Ordering::AcqRel);
                    if st.auto_paused.load(Ordering::Relaxed)
                        && let Some((s, _)) = open.get(&id)
                    {
                        touched.push((s.clone(), st));
                    }
                    if payload.len() <= PACK_MESSAGE && data.len() + payload.len() <= PACK_BATCH {
                        let k = if binary { kind::PACKED_BINARY } else { kind::MESSAGE };
                        meta.extend_from_slice(&[k as f64, id as f64, data.len() as f64, payload.len() as f64]);
                        data.extend_from_slice(&payload);
                    } else {
                        let k = if binary { kind::BUFFER_BINARY } else { kind::BUFFER_TEXT };
                        meta.extend_from_slice(&[k as f64, id as f64, buffers.len() as f64, payload.len() as f64]);
                        buffers.push(buffer(payload));
                    }
                    continue;
                }
                // Control payloads (≤ 125 bytes) are copied: the engine may still send a Ping's as
                // the Pong's, and JS may write to the Buffer it gets.
                Ev::Ping { sid, data } => NativeEvent { data: Some(copied(&data)), ..event(kind::PING, sid) },
                Ev::Pong { sid, data } => NativeEvent { data: Some(copied(&data)), ..event(kind::PONG, sid) },
                Ev::Drain { sid } => event(kind::DRAIN, sid),
                Ev::Resume { sid } => {
                    resumed.push(sid);
                    continue;
                }
                Ev::Close { sid, reason, err } => {
                    closed.push(sid);
                    let (peer_code, peer_reason) = match &reason.received {
                        Some(f) => (f.code.unwrap_or(1005), f.reason.clone()),
                        None => (1006, String::new()),
                    };
                    if err.is_none() && reason.reason.is_empty() && peer_reason.is_empty() {
                        let codes = f64::from(reason.code) + 65536.0 * f64::from(peer_code);
                        let initiator = match reason.initiator {
                            Initiator::Local => 0.0,
                            Initiator::Remote => 1.0,
                            Initiator::Abnormal => 2.0,
                        };
                        meta.extend_from_slice(&[kind::CLOSE as f64, sid as f64, codes, initiator]);
                        continue;
                    }
                    let (error_code, error_message) = err.map(|(c, m)| (c.to_owned(), m)).unzip();
                    NativeEvent {
                        peer_code: Some(peer_code.into()),
                        peer_reason: Some(peer_reason),
                        code: Some(reason.code as u32),
                        reason: Some(reason.reason),
                        initiator: Some(reason.initiator.as_str().to_owned()),
                        error_code,
                        error_message,
                        ..event(kind::CLOSE, sid)
                    }
                }
            };
            meta.extend_from_slice(&[kind::OTHER as f64, other.id as f64, out.len() as f64, 0.0]);
            out.push(other);
        }
        drop(closed);
        drop(open);
        // Everything converted is handed to JS in this turn, so these sessions may read again.
        for (s, st) in touched {
            if st.pending.load(Ordering::Acquire) < PAUSE_MESSAGES / 2
                && st.auto_paused.swap(false, Ordering::AcqRel)
                && !st.user_paused.load(Ordering::Acquire)
            {
                s.resume();
            }
        }
        // The reads these start are delivered by the next batch, after this one's opens.
        if let Some(host) = self.host.get() {
            for s in &started {
                host.start(s);
            }
            for sid in resumed {
                host.resume(sid);
            }
        }
        NativeBatch { meta: Float64Array::new(meta), data: Buffer::from(data), buffers, events: out }
    }
}

impl Hub {
    /// On the JS thread: queues the data frames JS collected during one batch callback. `meta` holds
    /// four numbers per frame: session id, offset and length in `data`, `trySend` flags. A session
    /// closed meanwhile drops its frames (as `ws` does after close); a frame over a session's hard limit
    /// waits in its lane (see [`Lane`]), and so do that session's later frames.
    pub(crate) fn send_batch(&self, meta: &[f64], data: &[u8]) {
        if meta.is_empty() {
            return;
        }
        // One copy of the payloads for the whole batch; a small frame is a slice of it (the core copies
        // small frames into the session's coalescing buffer, so the slice is released at once), a larger
        // one gets its own copy (a queued slice would keep the whole batch alive).
        let end = meta.chunks_exact(4).map(|m| m[1] as usize + m[2] as usize).max().unwrap_or(0);
        let all = Bytes::copy_from_slice(&data[..end.min(data.len())]);
        let open = self.open.lock().unwrap();
        for m in meta.chunks_exact(4) {
            let id = m[0] as u64;
            let (off, len, flags) = (m[1] as usize, m[2] as usize, m[3] as u32);
            let Some((s, st)) = open.get(&id) else { continue };
            if off + len > all.len() {
                continue;
            }
            let payload = || {
                if len <= PACK_MESSAGE {
                    all.slice(off..off + len)
                } else {
                    Bytes::copy_from_slice(&all[off..off + len])
                }
            };
            let frame = || data_frame(payload(), flags);
            if st.lane.busy() {
                Lane::send(st, s, vec![frame()]);
                continue;
            }
            let (f, compress) = frame();
            if let Ok(TrySend::Dropped) | Err(wssession_core::Error::Dropped) = s.try_send_with(f, compress) {
                Lane::send(st, s, vec![frame()]);
            }
        }
    }
}

impl Hub {
    /// On the JS thread, at the end of a batch callback: the publishes its handlers made are written,
    /// the runtime's threads preempt again, and the sessions whose close it delivered are forgotten.
    pub(crate) fn end_batch(&self) {
        if self.host_batch.swap(false, Ordering::AcqRel) {
            wssession_core::topics::end_host_batch();
        }
        if self.batch_policy.swap(false, Ordering::AcqRel) {
            wssession_core::runtime::set_threads_batch(false);
        }
        self.forget_closed();
    }

    /// Drops the sessions whose close was delivered from the open ones.
    fn forget_closed(&self) {
        let mut closed = self.closed.lock().unwrap();
        if closed.is_empty() {
            return;
        }
        let mut open = self.open.lock().unwrap();
        for sid in closed.drain(..) {
            open.remove(&sid);
        }
    }

    /// On the JS thread: the `NativeSession` of an open session (made when JS first needs it).
    pub(crate) fn session(&self, id: u64) -> Option<NativeSession> {
        let open = self.open.lock().unwrap();
        open.get(&id).map(|(s, st)| NativeSession::with_state(s.clone(), Arc::clone(st)))
    }

    /// On the JS thread: the `readyState` of an open session, CLOSED for any other id.
    pub(crate) fn ready_state(&self, id: u64) -> u32 {
        let open = self.open.lock().unwrap();
        open.get(&id).map_or(crate::session::CLOSED, |(s, _)| crate::session::ready_state(s.state()))
    }
}

/// A data frame from `trySend` flags: bit 0 binary, bit 1 fin, bits 2-3 compress (0 default, 1 off, 2 on).
pub(crate) fn data_frame(data: Bytes, flags: u32) -> OutFrame {
    let kind = if is_binary(flags) { FrameType::Binary } else { FrameType::Text };
    (Frame::new(kind, data).with_fin(flags & 2 != 0), compress_of(flags))
}

/// Whether send flags ask for a Binary message (bit 0).
pub(crate) fn is_binary(flags: u32) -> bool {
    flags & 1 != 0
}

/// The compress override of send flags (bits 2-3: 0 default, 1 off, 2 on).
pub(crate) fn compress_of(flags: u32) -> Option<bool> {
    match (flags >> 2) & 3 {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

fn event(kind: u32, id: u64) -> NativeEvent {
    NativeEvent {
        kind,
        id: id as i64,
        data: None,
        code: None,
        reason: None,
        initiator: None,
        error_code: None,
        error_message: None,
        peer_code: None,
        peer_reason: None,
        request: None,
        response_headers: None,
        adoption: None,
    }
}

/// The payload as a Node Buffer over the engine's memory: never copied (see [`Payload`]).
fn buffer(data: Bytes) -> Payload {
    Payload(data)
}

/// A control frame's payload as a Buffer of its own.
fn copied(data: &[u8]) -> Payload {
    Payload(Bytes::copy_from_slice(data))
}

/// Push-style core handler forwarding every session event to the hub.
pub(crate) struct Events(pub(crate) Arc<Hub>);

impl EventHandler for Events {
    fn on_open(&self, session: &Session) {
        self.0.emit(Ev::Open { s: session.clone() });
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        let st = SessState::of(session);
        let n = st.pending.fetch_add(1, Ordering::AcqRel) + 1;
        let b = st.pending_bytes.fetch_add(frame.data.len(), Ordering::AcqRel) + frame.data.len();
        if (n >= PAUSE_MESSAGES || b >= PAUSE_BYTES) && !st.auto_paused.swap(true, Ordering::AcqRel) {
            session.pause();
        }
        let binary = frame.kind == FrameType::Binary;
        self.0.emit(Ev::Message { sid: session.id(), st, data: frame.data, binary });
    }

    fn on_ping(&self, session: &Session, payload: &Bytes) {
        self.0.emit(Ev::Ping { sid: session.id(), data: payload.clone() });
    }

    fn on_pong(&self, session: &Session, payload: &Bytes) {
        self.0.emit(Ev::Pong { sid: session.id(), data: payload.clone() });
    }

    fn on_drain(&self, session: &Session) {
        self.0.emit(Ev::Drain { sid: session.id() });
    }

    fn on_close(&self, session: &Session, reason: &CloseReason) {
        self.0.emit(Ev::Close { sid: session.id(), reason: reason.clone(), err: ws_error(reason) });
    }
}

/// The `ws` error code for a session failed because of the peer (SPEC §12): `ws` emits `'error'`
/// with these codes before `'close'`. Mapped from the kind the core recorded where it detected the
/// violation.
fn ws_error(reason: &CloseReason) -> Option<(&'static str, String)> {
    let code = match reason.violation? {
        ViolationKind::Unmasked => "WS_ERR_EXPECTED_MASK",
        ViolationKind::UnexpectedRsv1 => "WS_ERR_UNEXPECTED_RSV_1",
        ViolationKind::UnexpectedRsv23 => "WS_ERR_UNEXPECTED_RSV_2_3",
        ViolationKind::ReservedOpcode | ViolationKind::UnexpectedContinuation | ViolationKind::InterruptedMessage => {
            "WS_ERR_INVALID_OPCODE"
        }
        ViolationKind::FragmentedControl => "WS_ERR_EXPECTED_FIN",
        ViolationKind::ControlPayloadLength => "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
        ViolationKind::InvalidCloseCode => "WS_ERR_INVALID_CLOSE_CODE",
        ViolationKind::InvalidUtf8 => "WS_ERR_INVALID_UTF8",
        ViolationKind::CorruptCompressedData => "WS_ERR_INVALID_COMPRESSED_DATA",
        ViolationKind::TooBig => "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
        ViolationKind::PingTimeout => "WSSESSION_ERR_TIMEOUT",
        ViolationKind::TooManyFragments => "WS_ERR_TOO_MANY_BUFFERED_PARTS",
    };
    Some((code, format!("{} (closed with {})", reason.reason, reason.code)))
}
