//! The session: one accepted WebSocket connection and every member of the Ktor session model.

mod engine;
mod events;
mod host_read;
mod incoming;
mod lifecycle;
mod outbox;
mod pinger;
mod pump;
mod read_room;
mod registry;
#[cfg(unix)]
pub(crate) mod send_ring;
mod settings;
mod shared_send;
mod woken;
mod written;

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, oneshot};

pub use events::EventHandler;
pub(crate) use host_read::HostTcp;
pub use host_read::{HostRead, HostReader};
pub use lifecycle::State;
pub use outbox::MAX_QUEUED_REPLIES;
pub use pump::{BytePump, PUMP_BUFFER, pump};
pub(crate) use registry::Registry;
pub(crate) use shared_send::{Delivery, FlushNow, FlushSend, SharedMessage, SharedNow, SharedSend, more_input_read};

pub use crate::metrics::Stats;
pub use crate::transport::{DirectWrite, NoSigPipeTcp, TcpSide, Transport};

use crate::config::SessionConfig;
use crate::convert::Converter;
use crate::deflate::DeflateParams;
use crate::error::{Error, Result};
use crate::handshake::LazyRequest;
use crate::protocol::close::{self, CloseReason};
use crate::protocol::{Frame, Violation};
use crate::request::Request;
use events::Callbacks;
use incoming::{End, Incoming};
use lifecycle::Lifecycle;
use outbox::Outbox;
use settings::{Limits, Settings};

/// What `try_send` did with the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySend {
    /// Queued, and the queue is under its high-water mark.
    Sent,
    /// Queued, but the queue is over its high-water mark: slow down until `drain`.
    Buffered,
    /// Not queued: the queue is over its hard limit.
    Dropped,
}

/// Traffic counters, each updated by one thread at a time (see `bump`).
#[derive(Default)]
pub(crate) struct Counters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
}

/// What every handle of one session shares: its identity, then one part per concern, each
/// changed only through the methods of the module that owns it.
pub(crate) struct Shared {
    id: u64,
    /// The connection's span (id, peer, path): the parent of every event about this session.
    span: tracing::Span,
    created: Instant,
    request: LazyRequest,
    /// Size limit, pinger, timeouts, write limits and the fixed receive switches.
    settings: Settings,
    /// State, termination, the close timer and the close reason.
    life: Lifecycle,
    /// The send half of the protocol connection and what is queued for the socket (outbox.rs).
    outbox: Mutex<Outbox>,
    /// Wakes the writer task: something was queued that the direct write did not take (made on first
    /// use: sessions without a writer task keep one pointer for it).
    writer_wake: OnceLock<Box<Notify>>,
    /// Wakes senders waiting for the queue to drain below its low-water mark (made by the first
    /// sender that waits).
    space: OnceLock<Box<Notify>>,
    /// How far the writing has got (flushes and the closing handshake wait on it).
    written: written::Written,
    /// The pull-style queue, how it ended and the pause switch.
    incoming: Incoming,
    /// The event handler and the lock that serialises its callbacks.
    callbacks: Callbacks,
    /// Pings awaiting their Pong, the last round trip and the pinger task.
    pings: pinger::Pings,
    /// Messages and bytes each way (`Session::stats`).
    stats: Counters,
    /// Whoever keeps track of the session (the server that accepted it), if any.
    registry: Option<Weak<dyn Registry>>,
    /// Spawns the I/O tasks at `start` (taken once).
    starter: Mutex<Option<Starter>>,
    /// The converter, the attachment and the host's reader, boxed once one of them is set.
    slots: Mutex<Option<Box<Slots>>>,
}

/// The slots few sessions use (boxed on first use: a session that uses none keeps one pointer).
#[derive(Default)]
struct Slots {
    /// How `send_serialized`/`receive_deserialized` turn values into messages: `None` for the
    /// default (JSON), `Some(None)` once removed.
    converter: Option<Option<Arc<dyn Converter>>>,
    /// The application's (or binding's) value kept with the session.
    attachment: Option<Arc<dyn Any + Send + Sync>>,
    /// With `SessionConfig::host_read`: the reader, from `start` until the host takes it.
    host_reader: Option<Box<host_read::HostReader>>,
}

impl Shared {
    /// The writer task's wake-up.
    pub(crate) fn writer_wake(&self) -> &Notify {
        self.writer_wake.get_or_init(|| Box::new(Notify::new()))
    }

    /// Wakes the writer task if it ever waited (one that never did checks the session's end before
    /// it waits, and waits for it too).
    pub(crate) fn wake_writer_if_waiting(&self) {
        if let Some(wake) = self.writer_wake.get() {
            wake.notify_one();
        }
    }

    /// Where senders wait for the queue to drain.
    pub(crate) fn space(&self) -> &Notify {
        self.space.get_or_init(|| Box::new(Notify::new()))
    }

    /// Wakes the senders waiting for the queue to drain, if any ever waited.
    pub(crate) fn notify_space(&self) {
        if let Some(space) = self.space.get() {
            space.notify_waiters();
        }
    }

    /// Runs `f` on the slots; `make`: box them first if none is set yet (else `f` sees the defaults).
    fn with_slots<R>(&self, make: bool, f: impl FnOnce(&mut Slots) -> R) -> R {
        let mut slots = self.slots.lock().unwrap();
        match slots.as_mut() {
            Some(set) => f(set),
            None if make => f(slots.insert(Box::default())),
            None => f(&mut Slots::default()),
        }
    }

    /// Keeps (or with `None` lets go of) the host's reader.
    pub(crate) fn set_host_reader(&self, reader: Option<Box<host_read::HostReader>>) {
        let make = reader.is_some();
        self.with_slots(make, |slots| slots.host_reader = reader);
    }

    /// Takes the host's reader, if one is kept.
    pub(crate) fn take_host_reader(&self) -> Option<Box<host_read::HostReader>> {
        self.with_slots(false, |slots| slots.host_reader.take())
    }
}

/// A handle to one WebSocket session; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Session {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id()).field("state", &self.state()).finish()
    }
}

/// Spawns a session's I/O tasks; kept until `start` (type-erases the transport).
type Starter = Box<dyn FnOnce(Session, Option<DeflateParams>) + Send>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Adds `n` to a counter that one thread at a time updates (the reader task, or whoever holds
/// the outbox lock): a plain load and store instead of a locked read-modify-write per message.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Session {
    /// Wraps an upgraded connection (the 101 already sent). `leftover` holds bytes read past
    /// the request head. I/O begins with [`Session::start`]. With `handler`, messages are pushed
    /// to it; without, they queue for [`Session::recv`].
    pub fn new<T: Transport>(
        transport: T,
        request: Request,
        config: SessionConfig,
        leftover: BytesMut,
        handler: Option<Arc<dyn EventHandler>>,
    ) -> Session {
        Self::with_registry(transport, request.into(), config, leftover, handler, None)
    }

    pub(crate) fn with_registry<T: Transport>(
        transport: T,
        request: LazyRequest,
        config: SessionConfig,
        leftover: BytesMut,
        handler: Option<Arc<dyn EventHandler>>,
        registry: Option<Weak<dyn Registry>>,
    ) -> Session {
        let (incoming, tx) = Incoming::new(handler.is_none(), config.incoming_queue);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let parent = registry.as_ref().and_then(Weak::upgrade).and_then(|r| r.span().id());
        let span =
            tracing::info_span!(parent: parent, "session", id, peer = %request.remote_addr(), path = %request.path());
        let shared = Arc::new(Shared {
            id,
            span,
            created: Instant::now(),
            request,
            settings: Settings::new(&config),
            life: Lifecycle::new(),
            outbox: Mutex::new(Outbox::new(config.masking)),
            writer_wake: OnceLock::new(),
            space: OnceLock::new(),
            written: Default::default(),
            incoming,
            callbacks: Callbacks::new(handler),
            pings: pinger::Pings::new(),
            stats: Default::default(),
            registry,
            starter: Mutex::new(None),
            slots: Mutex::new(None),
        });
        let session = Session { shared };
        let (host_read, no_idle_tasks) = (config.host_read, config.no_idle_tasks);
        let starter: Starter = Box::new(move |s, ext| {
            if host_read {
                host_read::spawn(s, transport, leftover, tx, ext)
            } else if no_idle_tasks {
                engine::spawn_woken(s, transport, leftover, tx, ext)
            } else {
                engine::spawn(s, transport, leftover, tx, ext)
            }
        });
        *session.shared.starter.lock().unwrap() = Some(starter);
        session
    }

    /// Begins reading and writing with the extensions negotiated in the handshake. Exactly once:
    /// a second call fails with [`Error::AlreadyStarted`]. Servers call it right after the upgrade.
    pub fn start(&self, negotiated: Option<DeflateParams>) -> Result<()> {
        let starter = self.shared.starter.lock().unwrap().take().ok_or(Error::AlreadyStarted)?;
        self.shared.life.open();
        tracing::info!(parent: &self.shared.span, deflate = negotiated.is_some(), "session open");
        starter(self.clone(), negotiated);
        Ok(())
    }

    /// Runs `f` right after the session's I/O begins (when `start` is called), e.g. a pull-style
    /// handler's task; nothing happens if the session already started.
    pub(crate) fn after_start(&self, f: impl FnOnce(&Session) + Send + 'static) {
        let mut slot = self.shared.starter.lock().unwrap();
        if let Some(start) = slot.take() {
            *slot = Some(Box::new(move |s: Session, ext| {
                start(s.clone(), ext);
                f(&s);
            }));
        }
    }

    /// Unique id of this session within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The session's `tracing` span (fields `id`, `peer`, `path`), parent of the engine's events about it.
    pub fn span(&self) -> &tracing::Span {
        &self.shared.span
    }

    /// Runs `f` with the counters of the server that accepted this session, if any (rare events only).
    fn count(&self, f: impl FnOnce(&crate::metrics::Counters)) {
        if let Some(registry) = self.registry() {
            f(registry.counters());
        }
    }

    /// Whoever keeps track of the session (the server that accepted it), while it exists.
    pub(crate) fn registry(&self) -> Option<Arc<dyn Registry>> {
        self.shared.registry.as_ref().and_then(Weak::upgrade)
    }

    /// The upgrade request, with the chosen subprotocol and extensions (Ktor's `call`).
    pub fn request(&self) -> &Request {
        self.shared.request.get()
    }

    /// Where the session is in its life.
    pub fn state(&self) -> State {
        self.shared.life.state()
    }

    /// Queues `frame`, waiting while the outgoing queue is over its high-water mark.
    /// Fails with [`Error::Closed`] once closing has begun.
    pub async fn send(&self, frame: Frame) -> Result<()> {
        self.send_with(frame, None).await
    }

    /// As [`Session::send`], overriding whether a data message is compressed (when deflate is on).
    pub async fn send_with(&self, frame: Frame, compress: Option<bool>) -> Result<()> {
        let mut waited = false;
        loop {
            let notified = self.shared.space().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut ob = self.shared.outbox.lock().unwrap();
                if ob.buffered <= self.shared.settings.limits().high_water || self.is_closing(&ob) {
                    return self.enqueue(&mut ob, &frame, compress).map(|_| ());
                }
                ob.need_drain = true;
            }
            if !waited {
                waited = true;
                tracing::debug!(parent: &self.shared.span, "send waits: the queue is over its high-water mark");
                self.count(|c| crate::metrics::inc(&c.backpressure_waits));
            }
            notified.await;
        }
    }

    /// Queues `frame` without waiting: `Sent`, `Buffered` (over the high-water mark) or `Dropped`
    /// (over the hard limit, nothing queued).
    pub fn try_send(&self, frame: Frame) -> Result<TrySend> {
        self.try_send_with(frame, None)
    }

    /// As [`Session::try_send`] with a compression override.
    pub fn try_send_with(&self, frame: Frame, compress: Option<bool>) -> Result<TrySend> {
        let Limits { high_water: high, hard_limit: hard, .. } = self.shared.settings.limits();
        let mut ob = self.shared.outbox.lock().unwrap();
        if !self.is_closing(&ob) && ob.buffered + frame.data.len() > hard {
            ob.need_drain = true;
            drop(ob);
            tracing::debug!(parent: &self.shared.span, len = frame.data.len(), "frame dropped: the queue is over its hard limit");
            self.count(|c| crate::metrics::inc(&c.backpressure_drops));
            return Ok(TrySend::Dropped);
        }
        self.enqueue(&mut ob, &frame, compress)?;
        if ob.buffered > high {
            ob.need_drain = true;
            Ok(TrySend::Buffered)
        } else {
            Ok(TrySend::Sent)
        }
    }

    fn is_closing(&self, ob: &Outbox) -> bool {
        !ob.conn.is_open() || self.shared.life.is_terminated()
    }

    fn enqueue(&self, ob: &mut Outbox, frame: &Frame, compress: Option<bool>) -> Result<()> {
        if self.is_closing(ob) || self.state() == State::Closed {
            return Err(self.closed_error_locked(ob));
        }
        ob.push_user(frame, compress)?;
        tracing::trace!(parent: &self.shared.span, len = frame.data.len(), kind = ?frame.kind, "frame queued");
        // Updated only under the outbox lock.
        bump(&self.shared.stats.messages_out, 1);
        bump(&self.shared.stats.bytes_out, frame.data.len() as u64);
        engine::kick(self, ob);
        Ok(())
    }

    pub(crate) fn closed_error(&self) -> Error {
        let reason = self.shared.life.reason();
        Error::Closed(reason.or_else(|| self.shared.outbox.lock().unwrap().conn.cause().cloned()))
    }

    /// As `closed_error`, for a caller holding the outbox lock.
    fn closed_error_locked(&self, ob: &Outbox) -> Error {
        let reason = self.shared.life.reason();
        Error::Closed(reason.or_else(|| ob.conn.cause().cloned()))
    }

    /// Completes when every frame queued before the call has been handed to the socket.
    /// Returns normally on a closed session.
    pub async fn flush(&self) -> Result<()> {
        self.flush_checked().await.or(Ok(()))
    }

    /// As [`Session::flush`], but fails with [`Error::Closed`] when the session ends before every
    /// frame queued before the call was handed to the socket (completion-callback surfaces report
    /// that as "cancelled").
    pub async fn flush_checked(&self) -> Result<()> {
        let target = self.shared.outbox.lock().unwrap().seq();
        let waiting = self.shared.written.waiter();
        loop {
            let notified = waiting.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.written.seq() >= target {
                return Ok(());
            }
            if self.state() == State::Closed {
                return Err(self.closed_error());
            }
            notified.await;
        }
    }

    /// Starts the closing handshake: queues Close(code, reason) after every frame already queued,
    /// then waits (in the background) for the peer's Close or `close_timeout_ms`. Idempotent: the
    /// first reason wins. Invalid codes or a reason over 123 bytes are rejected.
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        close::validate(code, reason)?;
        self.close_queued(|ob| ob.close(code, reason));
        Ok(())
    }

    /// As [`Session::close`], but the Close frame has an empty body (no status code, as `ws.close()`
    /// without arguments); the close reason reads 1005 unless the session was already closing.
    pub fn close_without_status(&self) {
        self.close_queued(|ob| ob.close(close::NO_STATUS, ""));
    }

    /// Fails the session because the peer broke the protocol (or left a Ping unanswered): records
    /// the violation as the cause (first wins), queues its Close and stops parsing.
    pub(crate) fn fail(&self, violation: Violation) {
        let (kind, code, reason) = (violation.kind, violation.code(), violation.reason);
        if kind == crate::protocol::ViolationKind::PingTimeout {
            tracing::info!(parent: &self.shared.span, %kind, code, "ping timeout: no pong in time");
            self.count(|c| crate::metrics::inc(&c.ping_timeouts));
        } else {
            tracing::warn!(parent: &self.shared.span, %kind, code, reason, "protocol violation");
        }
        self.count(|c| c.violation(kind));
        self.close_queued(|ob| ob.fail(violation));
    }

    /// Runs a closing step of the connection under the outbox lock (unless terminated); when it
    /// queued a Close, starts writing it, moves the session to `Closing`, starts the close timer
    /// and wakes whoever waits on the session.
    pub(crate) fn close_queued(&self, step: impl FnOnce(&mut Outbox) -> bool) -> bool {
        let queued = {
            let mut ob = self.shared.outbox.lock().unwrap();
            if self.shared.life.is_terminated() {
                false
            } else if step(&mut ob) {
                engine::kick(self, &mut ob);
                true
            } else {
                false
            }
        };
        if queued {
            self.shared.life.closing();
            self.shared.notify_space();
        }
        queued
    }

    /// Aborts now: no Close frame, the socket is shut, pending sends fail, `incoming` ends and
    /// the close reason is 1006 (abnormal).
    pub fn terminate(&self) {
        if self.state() == State::Closed {
            return;
        }
        self.shared.outbox.lock().unwrap().conn.terminate();
        self.abort();
    }

    /// Shuts the socket keeping the recorded cause (close timeout, shutdown grace).
    pub(crate) fn abort(&self) {
        self.shared.life.terminate();
        self.shared.wake_writer_if_waiting();
        self.shared.notify_space();
        if self.state() == State::Connecting {
            // Never started: nothing runs to finish it, so finish here.
            self.shared.starter.lock().unwrap().take();
            engine::finish(self);
        }
    }

    /// Resolves once, when the session has ended, with how it ended.
    pub async fn close_reason(&self) -> CloseReason {
        self.shared.life.reason_when_ended().await
    }

    /// The close reason if the session has ended.
    pub fn close_reason_now(&self) -> Option<CloseReason> {
        self.shared.life.reason()
    }

    /// Sends a Ping with `payload` and resolves with the round trip when its Pong arrives
    /// (a Pong also acknowledges earlier pings). Fails with Closed if the session ends first.
    pub async fn ping(&self, payload: Bytes) -> Result<Duration> {
        self.start_ping(payload)?.await
    }

    /// As [`Session::ping`], but the Ping is queued (or refused: closing, a payload over 125 bytes,
    /// too many unanswered) before this returns; the future resolves with the round trip.
    pub fn start_ping(&self, payload: Bytes) -> Result<impl Future<Output = Result<Duration>> + Send + 'static> {
        let rx = self.send_ping(payload)?;
        let s = self.clone();
        Ok(async move { rx.await.map_err(|_| s.closed_error()) })
    }

    pub(crate) fn send_ping(&self, payload: Bytes) -> Result<oneshot::Receiver<Duration>> {
        // A bad payload is refused as such, whatever the state.
        crate::protocol::encoder::check_control_payload(&payload)?;
        let (tx, rx) = oneshot::channel();
        let mut ob = self.shared.outbox.lock().unwrap();
        if self.is_closing(&ob) {
            return Err(self.closed_error_locked(&ob));
        }
        let mut pings = self.shared.pings.state.lock().unwrap();
        let pending = &mut pings.get_or_insert_with(Box::default).pending;
        if pending.len() >= pinger::MAX_PENDING_PINGS {
            return Err(Error::WouldBlock);
        }
        ob.push_ping(&payload)?;
        pending.push_back(pinger::PendingPing { payload, sent: Instant::now(), done: Some(tx) });
        drop(pings);
        engine::kick(self, &mut ob);
        drop(ob);
        self.count(|c| crate::metrics::inc(&c.pings_sent));
        Ok(rx)
    }

    pub(crate) fn next_ping_payload(&self) -> Bytes {
        let n = self.shared.pings.seq.fetch_add(1, Ordering::Relaxed);
        let mut p = Vec::with_capacity(12);
        p.extend_from_slice(b"wss");
        p.extend_from_slice(&(self.shared.id as u32).to_be_bytes());
        p.extend_from_slice(&(n as u32).to_be_bytes());
        Bytes::from(p)
    }

    /// Bytes queued for writing and not yet handed to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.outbox.lock().unwrap().buffered
    }

    /// Round trip of the last matched Ping/Pong.
    pub fn latency(&self) -> Option<Duration> {
        match self.shared.pings.latency_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Traffic counters.
    pub fn stats(&self) -> Stats {
        let s = &self.shared.stats;
        Stats {
            messages_in: s.messages_in.load(Ordering::Relaxed),
            bytes_in: s.bytes_in.load(Ordering::Relaxed),
            messages_out: s.messages_out.load(Ordering::Relaxed),
            bytes_out: s.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Whether outgoing frames are masked.
    pub fn masking(&self) -> bool {
        self.shared.outbox.lock().unwrap().conn.masking()
    }

    /// Masks outgoing frames from now on (non-standard for servers: browsers reject it).
    pub fn set_masking(&self, on: bool) {
        self.shared.outbox.lock().unwrap().conn.set_masking(on);
    }

    /// Limit on frames, messages and inflated messages.
    pub fn max_frame_size(&self) -> usize {
        self.shared.settings.max_frame_size()
    }

    /// Changes the size limit (at least 1); applies from the next frame.
    pub fn set_max_frame_size(&self, bytes: usize) -> Result<()> {
        self.shared.settings.set_max_frame_size(bytes)?;
        self.shared.life.wake();
        Ok(())
    }

    /// Pinger period in ms (0 = off).
    pub fn ping_interval_ms(&self) -> u64 {
        self.shared.settings.ping_interval_ms()
    }

    /// Changes the pinger period; restarts the pinger (0 stops it).
    pub fn set_ping_interval_ms(&self, ms: u64) {
        self.shared.settings.set_ping_interval_ms(ms);
        pinger::restart(self);
    }

    /// How long the pinger waits for a Pong, in ms.
    pub fn timeout_ms(&self) -> u64 {
        self.shared.settings.timeout_ms()
    }

    /// Changes the Pong timeout (at least 1 ms); restarts the pinger.
    pub fn set_timeout_ms(&self, ms: u64) -> Result<()> {
        self.shared.settings.set_timeout_ms(ms)?;
        pinger::restart(self);
        Ok(())
    }

    /// Bound on the closing handshake, in ms.
    pub fn close_timeout_ms(&self) -> u64 {
        self.shared.settings.close_timeout_ms()
    }

    /// Changes the closing-handshake bound (also for a close already in progress).
    pub fn set_close_timeout_ms(&self, ms: u64) {
        self.shared.settings.set_close_timeout_ms(ms);
        self.shared.life.wake();
    }

    /// The converter for `send_serialized`/`receive_deserialized` (JSON by default).
    pub fn converter(&self) -> Option<Arc<dyn Converter>> {
        self.shared.with_slots(false, |slots| slots.converter.clone().unwrap_or_else(|| Some(crate::convert::json())))
    }

    /// Replaces (or with `None` removes) the converter.
    pub fn set_converter(&self, converter: Option<Arc<dyn Converter>>) {
        self.shared.with_slots(true, |slots| slots.converter = Some(converter));
    }

    /// Serializes `value` with the converter and sends the resulting frame.
    pub async fn send_serialized<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let converter = self.converter().ok_or(Error::NoConverter)?;
        let value = serde_json::to_value(value).map_err(|e| Error::invalid(format!("cannot serialize: {e}")))?;
        let frame = converter.serialize(&value)?;
        self.send(frame).await
    }

    /// Receives the next message and deserializes it with the converter. A frame the converter
    /// cannot decode fails with [`Error::Deserialize`] carrying it; the session stays open.
    pub async fn receive_deserialized<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let converter = self.converter().ok_or(Error::NoConverter)?;
        let frame = self.recv().await?.ok_or_else(|| self.closed_error())?;
        let value = converter.deserialize(&frame)?;
        serde_json::from_value(value).map_err(|e| Error::Deserialize { frame: Box::new(frame), message: e.to_string() })
    }

    /// Attaches an embedder's value to the session (bindings keep their per-session state here).
    pub fn set_attachment(&self, value: Option<Arc<dyn Any + Send + Sync>>) {
        let make = value.is_some();
        self.shared.with_slots(make, |slots| slots.attachment = value);
    }

    /// The value set with `set_attachment`.
    pub fn attachment(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.shared.with_slots(false, |slots| slots.attachment.clone())
    }

    /// Whether this is the same session as `other`.
    pub fn same_as(&self, other: &Session) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
