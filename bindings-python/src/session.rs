//! The connection object: websockets' `ServerConnection` surface plus every Ktor session member.
//!
//! Receiving: the core hands over each frame as it arrives (`deliver_fragments`, so that
//! `recv_streaming` yields one item per frame, as websockets does); frames are moved from the core's
//! queue into a per-connection buffer in batches (`try_recv` without any wake-up when frames are
//! already queued, else one `recv_many` per wake-up), and `recv` takes a message once its last frame
//! is there. Python objects are built on the event loop thread when a message is handed out.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyString};
use tokio::sync::oneshot;
use wssession_core::{CloseReason, Error, Frame, FrameType, Session, State, TrySend};

use crate::awaitable::{self, Step};
use crate::bridge;
use crate::errors::{self, type_error};
use crate::frame::{PyCloseReason, PyFrame, bytes_like};
use crate::request::{PyRequest, addr_tuple};
use crate::topics::PyPublished;
use crate::wake;

/// Messages moved out of the core per wake-up.
const BATCH: usize = 64;

/// Batches taken in one poll while the pending receive still lacks what it needs (a message of many
/// frames); then the loop is woken to poll again later, so a stream of empty fragments cannot keep
/// the event loop's thread in one call.
const MAX_BATCHES: usize = 16;

/// Frames of the message in progress kept apart in the buffer (one `recv_streaming` item each);
/// beyond this, a new frame joins the last one, so the buffer stays bounded by the message limit
/// even for a peer sending endless empty fragments.
const MAX_PIECES: usize = 64;

/// How the incoming side ended.
#[derive(Clone)]
struct End {
    /// The peer closed cleanly (as opposed to a failure: violation, timeout, abort).
    clean: bool,
    reason: CloseReason,
}

/// A whole message was asked for while `recv_streaming` has handed out part of one.
struct MidStream;

/// Waits for the close reason once the incoming side ended; polled on the loop thread, never spawned.
type Ending = Pin<Box<dyn Future<Output = End> + Send>>;

/// The inbox's state, behind one lock.
#[derive(Default)]
struct InboxState {
    /// Frames already taken from the core (a message's last one has `fin`).
    buf: VecDeque<Frame>,
    /// Messages in `buf` whose last frame is there.
    complete: usize,
    /// Frames after the last complete message in `buf` (the message in progress).
    pieces: usize,
    /// The pending receive takes one frame (`recv_streaming`), not a whole message.
    piece_wanted: bool,
    /// A `recv_streaming` handed out part of a message and not yet its last frame.
    streaming: bool,
    /// How the incoming side ended.
    end: Option<End>,
    /// The waiter a waiting receive is parked on (completed by the loop's waker).
    waiter: Option<Py<wake::Waiter>>,
    /// The wait for the close reason, once the core's queue has ended.
    ending: Option<Ending>,
    /// Reused for each batch taken from the core.
    scratch: Vec<Frame>,
    /// The last two waiters, reused for a later park once nothing else refers to them.
    spares: Vec<Py<wake::Waiter>>,
}

impl InboxState {
    /// Moves what the core has queued into the buffer; when nothing is, `waker` is registered with
    /// the core (woken when messages or the end arrive). At the end, waits for the close reason.
    fn poll_fill(&mut self, session: &Session, waker: &Waker) {
        let mut cx = Context::from_waker(waker);
        // Until what the pending receive needs is there: the frames of an incomplete message alone
        // would leave no waker with the core.
        let mut batches = 0;
        while self.ending.is_none() && self.end.is_none() && !self.ready() {
            if batches == MAX_BATCHES {
                waker.wake_by_ref();
                return;
            }
            batches += 1;
            match session.poll_recv_many(&mut cx, &mut self.scratch, BATCH) {
                Poll::Pending => return,
                Poll::Ready(Ok(n)) if n > 0 => {
                    let mut got = std::mem::take(&mut self.scratch);
                    got.drain(..).for_each(|f| self.push(f));
                    self.scratch = got;
                }
                Poll::Ready(r) => {
                    let session = session.clone();
                    self.ending = Some(Box::pin(async move { ended(&session, r).await }));
                }
            }
        }
        if let Some(ending) = self.ending.as_mut()
            && let Poll::Ready(end) = ending.as_mut().poll(&mut cx)
        {
            self.ending = None;
            self.end = Some(end);
        }
    }

    /// What the pending receive needs is there: a frame (`recv_streaming`), a whole message, or the end.
    fn ready(&self) -> bool {
        (if self.piece_wanted { !self.buf.is_empty() } else { self.complete > 0 }) || self.end.is_some()
    }

    /// Buffers a frame from the core (see `MAX_PIECES`).
    fn push(&mut self, frame: Frame) {
        if self.pieces >= MAX_PIECES
            && let Some(last) = self.buf.back_mut()
        {
            let mut joined = bytes::BytesMut::from(&last.data[..]);
            joined.extend_from_slice(&frame.data);
            last.data = joined.freeze();
            last.fin = frame.fin;
        } else {
            self.pieces += 1;
            self.buf.push_back(frame);
        }
        if self.buf.back().is_some_and(|f| f.fin) {
            self.complete += 1;
            self.pieces = 0;
        }
    }

    /// The next frame (`recv_streaming`).
    fn pop_piece(&mut self) -> Option<Frame> {
        let f = self.buf.pop_front()?;
        if f.fin {
            self.complete -= 1;
        } else if self.complete == 0 {
            self.pieces -= 1;
        }
        self.streaming = !f.fin;
        Some(f)
    }

    /// The next whole message, its frames joined.
    fn pop_message(&mut self) -> Option<Frame> {
        if self.complete == 0 {
            return None;
        }
        self.complete -= 1;
        let first = self.buf.pop_front().expect("a complete message is buffered");
        if first.fin {
            return Some(first);
        }
        let mut data = bytes::BytesMut::from(&first.data[..]);
        while let Some(f) = self.buf.pop_front() {
            data.extend_from_slice(&f.data);
            if f.fin {
                break;
            }
        }
        Some(Frame::new(first.kind, data.freeze()))
    }
}

/// Messages already taken from the core, and how the incoming side ended.
pub struct Inbox {
    session: Session,
    state: Mutex<InboxState>,
    /// A receive is waiting (websockets forbids two concurrent `recv`: ConcurrencyError).
    busy: AtomicBool,
    /// Wakes the loop when the core has messages for a pending wait (queues this inbox with the
    /// loop's waker); a no-op waker without one.
    waker: Waker,
}

impl Inbox {
    fn new(session: Session, loop_waker: Option<Arc<wake::Shared>>) -> Arc<Self> {
        Arc::new_cyclic(|me| {
            let waker = match loop_waker {
                Some(shared) => Waker::from(Arc::new(wake::InboxWaker { inbox: me.clone(), shared })),
                None => Waker::noop().clone(),
            };
            Self { session, state: Mutex::default(), busy: AtomicBool::new(false), waker }
        })
    }

    /// On the loop's wake-up: polls the wait under way; the parked waiter if messages (or the end)
    /// are now in the buffer, for the caller to complete.
    pub(crate) fn wake_up(&self) -> Option<Py<wake::Waiter>> {
        let mut st = self.state.lock().unwrap();
        st.poll_fill(&self.session, &self.waker);
        if st.ready() { st.waiter.take() } else { None }
    }
}

enum Converter {
    Json,
    Disabled,
    Custom(Py<PyAny>),
}

/// What a pending receive hands out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `recv()`: str/bytes; the end raises ConnectionClosed.
    Message(Option<bool>),
    /// `async for message in ws`: str/bytes; an OK end stops iteration.
    Iterate,
    /// `incoming`: Frame objects; a clean end stops iteration.
    Frames,
    /// `incoming.receive()`: a Frame; the end raises ConnectionClosed.
    Frame,
    /// `receive_deserialized()`: the converter's value.
    Deserialize,
    /// `recv_streaming()`'s next item: (bytes, is_text, fin) of one frame, decoded by the caller.
    Piece,
}

/// A WebSocket connection on the server (websockets' `ServerConnection`, Ktor's session).
#[pyclass(name = "ServerConnection", module = "wssession._wssession", frozen, weakref, dict)]
pub struct Connection {
    pub(crate) session: Session,
    pub(crate) inbox: Arc<Inbox>,
    waker: Option<Arc<wake::Shared>>,
    /// The running loop (bound on the first parked receive).
    event_loop: pyo3::sync::PyOnceLock<Py<PyAny>>,
    done: Mutex<Option<oneshot::Sender<Result<(), String>>>>,
    server: Option<Py<PyAny>>,
    converter: Mutex<Converter>,
    /// `request`: made on first use (a handler that never looks at it costs no copy of it).
    request: pyo3::sync::PyOnceLock<Py<PyRequest>>,
    /// `id`: a `uuid.UUID`, made on first use.
    uuid: pyo3::sync::PyOnceLock<Py<PyAny>>,
    /// A fragmented message from an async iterable is being sent: other `send`s wait (websockets).
    fragmenting: AtomicBool,
    /// With `serve(host_loop=True)`: the reader the asyncio loop drives.
    pub(crate) host: crate::hostloop::HostSlot,
}

impl Connection {
    /// Wraps a started core session; `done` reports the Python handler's outcome to the core task.
    pub fn new(
        session: Session,
        done: Option<oneshot::Sender<Result<(), String>>>,
        server: Option<Py<PyAny>>,
        waker: Option<Arc<wake::Shared>>,
    ) -> Self {
        Self {
            inbox: Inbox::new(session.clone(), waker.clone()),
            session,
            waker,
            event_loop: pyo3::sync::PyOnceLock::new(),
            done: Mutex::new(done),
            server,
            converter: Mutex::new(Converter::Json),
            request: pyo3::sync::PyOnceLock::new(),
            uuid: pyo3::sync::PyOnceLock::new(),
            fragmenting: AtomicBool::new(false),
            host: Default::default(),
        }
    }

    /// The `Request` object, made on first use.
    fn request_object(&self, py: Python<'_>) -> PyResult<Py<PyRequest>> {
        let r = self.request.get_or_try_init(py, || Py::new(py, PyRequest::new(self.session.request().clone())))?;
        Ok(r.clone_ref(py))
    }

    /// A message (one frame with `piece`) from the buffer, else from the core without waiting;
    /// `Err` once ended.
    ///
    /// With a loop waker, the inbox waker registered here stays with the core when nothing is
    /// queued, so the loop is woken as soon as a message arrives (no task, no thread handoff).
    ///
    /// `Err(MidStream)` when a whole message is wanted while `recv_streaming` is partway through one
    /// (checked under the same lock).
    fn take(&self, piece: bool) -> Result<Option<Result<Frame, End>>, MidStream> {
        let mut st = self.inbox.state.lock().unwrap();
        if !piece && st.streaming {
            return Err(MidStream);
        }
        st.piece_wanted = piece;
        if !st.ready() {
            st.poll_fill(&self.session, &self.inbox.waker);
        }
        let next = if piece { st.pop_piece() } else { st.pop_message() };
        if let Some(f) = next {
            return Ok(Some(Ok(f)));
        }
        Ok(st.end.clone().map(Err))
    }

    /// Parks a receive on a new waiter, completed by the loop's waker once the wait started by
    /// `take` has messages (or the end). None: they arrived meanwhile, take again.
    fn park(&self, py: Python<'_>) -> PyResult<Option<Py<wake::Waiter>>> {
        let spares = std::mem::take(&mut self.inbox.state.lock().unwrap().spares);
        // One whose task and receive are done with it (only the inbox refers to it): rearmed. Two
        // alternate, as a receive parks again while its connection's last waiter is completing.
        // SAFETY: reads the reference count of a live object, attached.
        let free = spares.iter().position(|w| {
            (unsafe { pyo3::ffi::Py_REFCNT(w.as_ptr()) }) == 1
                && w.bind(py).try_borrow_mut().is_ok_and(|mut w| w.rearm())
        });
        let (waiter, others) = match free {
            Some(i) => {
                let mut spares = spares;
                let w = spares.swap_remove(i);
                (w, spares)
            }
            None => {
                let event_loop =
                    self.event_loop.get_or_try_init(py, || Ok::<_, PyErr>(bridge::running_loop(py)?.unbind()))?;
                let mut spares = spares;
                if spares.len() > 1 {
                    spares.remove(0); // keep the newer one
                }
                (Py::new(py, wake::Waiter::new(event_loop.clone_ref(py)))?, spares)
            }
        };
        let mut st = self.inbox.state.lock().unwrap();
        st.spares = others;
        st.spares.push(waiter.clone_ref(py));
        if st.ready() {
            return Ok(None);
        }
        st.waiter = Some(waiter.clone_ref(py));
        Ok(Some(waiter))
    }

    /// Starts one batched wait for messages (or the end) on the runtime.
    fn fill<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.session.clone();
        let inbox = self.inbox.clone();
        crate::bridge::future_into_py(py, async move {
            let mut got = Vec::with_capacity(8);
            let r = session.recv_many(&mut got, BATCH).await;
            if !got.is_empty() {
                let mut st = inbox.state.lock().unwrap();
                got.into_iter().for_each(|f| st.push(f));
                return Ok(());
            }
            let end = ended(&session, r).await;
            inbox.state.lock().unwrap().end = Some(end);
            Ok(())
        })
    }

    fn closed_error(&self, py: Python<'_>) -> PyErr {
        errors::connection_closed(py, self.session.close_reason_now().as_ref())
    }

    fn check_pull(&self, py: Python<'_>) -> PyResult<()> {
        if self.session.has_event_handler() {
            return Err(errors::err(
                py,
                "InvalidState",
                "this connection delivers messages to its callback handler; recv is unavailable",
            ));
        }
        Ok(())
    }

    /// Queues `frames` without waiting when the queue has room; otherwise returns a future.
    pub(crate) fn send_frames(&self, py: Python<'_>, frames: Vec<Frame>) -> PyResult<Py<PyAny>> {
        let mut rest = frames.into_iter().peekable();
        let mut buffered = false;
        while let Some(f) = rest.peek() {
            match self.session.try_send(f.clone()) {
                Ok(TrySend::Sent) => {}
                Ok(TrySend::Buffered) => buffered = true,
                Ok(TrySend::Dropped) => break,
                Err(e) => return Err(errors::to_py(py, e)),
            }
            rest.next();
        }
        self.pending_send(py, rest.collect(), buffered)
    }

    /// Ready when nothing is left to do; otherwise a future that sends `rest` (waiting for room)
    /// and, when frames were `buffered` over the high-water mark, waits until they are written.
    fn pending_send(&self, py: Python<'_>, rest: Vec<Frame>, buffered: bool) -> PyResult<Py<PyAny>> {
        if rest.is_empty() && !buffered {
            return Ok(awaitable::ready_none(py));
        }
        let session = self.session.clone();
        let fut = crate::bridge::future_into_py(py, async move {
            for f in rest {
                errors::map(session.send(f).await)?;
            }
            if buffered {
                errors::map(session.flush().await)?;
            }
            Ok(())
        })?;
        Ok(fut.unbind())
    }

    fn converter_obj(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(match &*self.converter.lock().unwrap() {
            Converter::Json => Some(bridge::types(py)?.getattr("JSON")?.unbind()),
            Converter::Disabled => None,
            Converter::Custom(c) => Some(c.clone_ref(py)),
        })
    }

    fn recv_await(slf: &Bound<'_, Self>, mode: Mode) -> PyResult<Py<PyAny>> {
        slf.get().check_pull(slf.py())?;
        awaitable::new(slf.py(), RecvAwait { conn: slf.clone().unbind(), mode, iter: None, parked: None, owner: false })
    }
}

/// How the incoming side ended, once `recv_many` returned `r` with no message.
async fn ended(session: &Session, r: Result<usize, Error>) -> End {
    End { clean: matches!(r, Ok(_) | Err(Error::Closed(_))), reason: session.close_reason().await }
}

/// What `send` accepts besides str/bytes-like messages and Frames.
const EXPECTED: &str = "str, bytes-like, a Frame, or an iterable of str or bytes-like fragments";

/// Frames for one message: a str/bytes-like message, a Frame, or an iterable of fragments.
fn frames_from(message: &Bound<'_, PyAny>) -> PyResult<Vec<Frame>> {
    if let Ok(f) = message.cast::<PyFrame>() {
        return Ok(vec![f.get().inner.clone()]);
    }
    if let Some((data, text)) = bytes_like(message)? {
        return Ok(vec![data_frame(data, text)]);
    }
    match fragments(message, None)? {
        (frames, None) => Ok(frames),
        (_, Some(e)) => Err(e),
    }
}

/// The frames of an iterable of fragments, all of the first one's type (``text`` overrides the
/// opcode), the last one with FIN. A dict-like or non-iterable message is a TypeError; a bad
/// fragment ends the iteration and comes back with the frames before it, for the caller to
/// decide what a half-built message means (websockets' `send` closes the connection with 1011).
fn fragments(message: &Bound<'_, PyAny>, text: Option<bool>) -> PyResult<(Vec<Frame>, Option<PyErr>)> {
    if message.is_instance_of::<PyDict>() || message.hasattr("keys")? {
        return Err(PyTypeError::new_err("data is a dict-like object; send its keys() to send them as fragments"));
    }
    let it = PyIterator::from_object(message).map_err(|_| type_error("message", EXPECTED, message))?;
    let mut frames: Vec<Frame> = vec![];
    let mut kind: Option<bool> = None;
    for frag in it {
        let frag = match frag {
            Ok(f) => f,
            Err(e) => return Ok((frames, Some(e))),
        };
        let (data, is_text) = match bytes_like(&frag)? {
            Some(d) => d,
            None => return Ok((frames, Some(type_error("a message fragment", "str or bytes-like", &frag)))),
        };
        if kind.is_some_and(|k| k != is_text) {
            let e = PyTypeError::new_err("all fragments of a message must be of the same type (str or bytes)");
            return Ok((frames, Some(e)));
        }
        kind = Some(is_text);
        let opcode = if frames.is_empty() { text.unwrap_or(is_text) } else { frames[0].kind == FrameType::Text };
        frames.push(data_frame(data, opcode).with_fin(false));
    }
    if let Some(last) = frames.last_mut() {
        last.fin = true;
    }
    Ok((frames, None))
}

fn data_frame(data: Bytes, text: bool) -> Frame {
    Frame::new(if text { FrameType::Text } else { FrameType::Binary }, data)
}

fn seconds(ms: u64) -> Option<f64> {
    (ms > 0).then(|| ms as f64 / 1000.0)
}

/// Milliseconds from a number of seconds (None → `none_ms`); negative or non-finite → ValueError.
fn millis(name: &str, value: &Bound<'_, PyAny>, none_ms: u64) -> PyResult<u64> {
    if value.is_none() {
        return Ok(none_ms);
    }
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(type_error(name, "a number of seconds or None", value));
    }
    let s: f64 = value.extract().map_err(|_| type_error(name, "a number of seconds or None", value))?;
    if !s.is_finite() || s < 0.0 {
        return Err(PyValueError::new_err(format!("{name} must be a finite number >= 0, not {s}")));
    }
    Ok((s * 1000.0).round() as u64)
}

fn int_arg(name: &str, value: &Bound<'_, PyAny>, min: i64, max: i64) -> PyResult<i64> {
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(type_error(name, "an int", value));
    }
    let v: i64 = match value.extract::<i64>() {
        Ok(v) => v,
        Err(_) if value.is_instance_of::<pyo3::types::PyInt>() => {
            return Err(PyValueError::new_err(format!("{name} must be between {min} and {max}")));
        }
        Err(_) => return Err(type_error(name, "an int", value)),
    };
    if v < min || v > max {
        return Err(PyValueError::new_err(format!("{name} must be between {min} and {max}, not {v}")));
    }
    Ok(v)
}

fn payload(name: &str, data: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Bytes>> {
    match data {
        None => Ok(None),
        Some(d) if d.is_none() => Ok(None),
        Some(d) => Ok(Some(bytes_like(d)?.ok_or_else(|| type_error(name, "str or bytes-like", d))?.0)),
    }
}

#[pymethods]
impl Connection {
    // ---- websockets' ServerConnection ----

    /// Receives the next message: str for Text, bytes for Binary (``decode`` forces one or the other).
    #[pyo3(signature = (decode=None))]
    fn recv(slf: &Bound<'_, Self>, decode: Option<bool>) -> PyResult<Py<PyAny>> {
        Self::recv_await(slf, Mode::Message(decode))
    }

    /// Receives the next message as an async iterator of pieces (websockets' ``recv_streaming``):
    /// one item per frame, as the client sent them.
    #[pyo3(signature = (decode=None))]
    fn recv_streaming(slf: &Bound<'_, Self>, decode: Option<bool>) -> PyResult<Py<PyAny>> {
        slf.get().check_pull(slf.py())?;
        let helper = bridge::types(slf.py())?.getattr("recv_streaming")?;
        Ok(helper.call1((slf, decode))?.unbind())
    }

    /// One frame of the message in progress as ``(data: bytes, text: bool, fin: bool)``, for
    /// ``recv_streaming`` (which decodes text incrementally).
    fn _recv_piece(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::recv_await(slf, Mode::Piece)
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::recv_await(slf, Mode::Iterate)
    }

    /// Sends a message: str → Text, bytes-like → Binary (``text`` forces one or the other), an
    /// iterable of fragments → a fragmented message, a Frame as is. Waits only while the send queue
    /// is over its limit. A fragment of the wrong type fails the send with TypeError and, as the
    /// message cannot be completed, closes the connection with 1011 (as websockets does).
    #[pyo3(signature = (message, text=None))]
    fn send(slf: &Bound<'_, Self>, message: &Bound<'_, PyAny>, text: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let text = match text {
            Some(t) if !t.is_none() => {
                Some(t.cast::<pyo3::types::PyBool>().map_err(|_| type_error("text", "a bool or None", t))?.is_true())
            }
            _ => None,
        };
        let conn = slf.get();
        if conn.fragmenting.load(Ordering::Acquire) {
            let helper = bridge::types(py)?.getattr("send_when_free")?;
            return Ok(helper.call1((slf, message, text))?.unbind());
        }
        if let Some((data, is_text)) = bytes_like(message)? {
            // The common case, without a copy of the frame: queued (or written) now, or — only when
            // over the hard limit — the message is converted again for the waiting send.
            let kind = text.unwrap_or(is_text);
            return match conn.session.try_send(data_frame(data, kind)) {
                Ok(TrySend::Sent) => Ok(awaitable::ready_none(py)),
                Ok(TrySend::Buffered) => conn.pending_send(py, vec![], true),
                Ok(TrySend::Dropped) => {
                    let (data, _) = bytes_like(message)?.expect("converted above");
                    conn.send_frames(py, vec![data_frame(data, kind)])
                }
                Err(e) => Err(errors::to_py(py, e)),
            };
        }
        if let Ok(f) = message.cast::<PyFrame>() {
            if text.is_some() {
                return Err(PyTypeError::new_err("text cannot be used with a Frame (its opcode decides)"));
            }
            return conn.send_frames(py, vec![f.get().inner.clone()]);
        }
        if message.hasattr("__aiter__")? {
            let helper = bridge::types(py)?.getattr("send_async_fragments")?;
            return Ok(helper.call1((slf, message, text))?.unbind());
        }
        match fragments(message, text)? {
            (frames, None) => conn.send_frames(py, frames),
            (frames, Some(e)) => {
                for f in frames {
                    if conn.session.try_send(f).is_err() {
                        break;
                    }
                }
                if conn.session.state() != State::Closed {
                    let _ = conn.session.close(1011, "error in fragmented message");
                }
                Err(e)
            }
        }
    }

    /// Starts the closing handshake with ``code`` and ``reason`` and waits until the connection is closed.
    #[pyo3(signature = (code=None, reason=None))]
    fn close(
        &self,
        py: Python<'_>,
        code: Option<&Bound<'_, PyAny>>,
        reason: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let code = match code {
            None => 1000,
            Some(c) => int_arg("code", c, 0, 65535)? as u16,
        };
        let reason: String = match reason {
            None => String::new(),
            Some(r) => r.extract().map_err(|_| type_error("reason", "str", r))?,
        };
        if self.session.state() != State::Closed {
            errors::map(self.session.close(code, &reason))?;
        }
        if self.session.close_reason_now().is_some() {
            return Ok(awaitable::ready_none(py));
        }
        let s = self.session.clone();
        Ok(crate::bridge::future_into_py(py, async move {
            s.close_reason().await;
            Ok(())
        })?
        .unbind())
    }

    /// Waits until the connection is closed; returns the CloseReason.
    fn wait_closed(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(r) = self.session.close_reason_now() {
            let r = Py::new(py, PyCloseReason::from(r))?.into_any();
            return awaitable::ready(py, r);
        }
        let s = self.session.clone();
        Ok(crate::bridge::future_into_py(py, async move { Ok(PyCloseReason::from(s.close_reason().await)) })?.unbind())
    }

    /// Sends a Ping; the result is an awaitable that resolves with the round-trip time in seconds
    /// when the matching Pong arrives.
    #[pyo3(signature = (data=None))]
    fn ping(&self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let data = payload("data", data)?.unwrap_or_else(|| {
            let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Bytes::copy_from_slice(&(n.subsec_nanos() ^ (self.session.id() as u32).rotate_left(16)).to_be_bytes())
        });
        let pong = match self.session.start_ping(data) {
            Ok(pong) => pong,
            Err(wssession_core::Error::Closed(_)) => return Err(self.closed_error(py)),
            Err(e) => return Err(errors::to_py(py, e)),
        };
        let waiter =
            crate::bridge::future_into_py(py, async move { errors::map(pong.await).map(|d| d.as_secs_f64()) })?;
        awaitable::ready(py, waiter.unbind())
    }

    /// Sends a Pong with ``data`` (unsolicited pongs serve as a unidirectional heartbeat).
    #[pyo3(signature = (data=None))]
    fn pong(&self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let data = payload("data", data)?.unwrap_or_default();
        errors::map(self.session.try_send(Frame::new(FrameType::Pong, data)))?;
        Ok(awaitable::ready_none(py))
    }

    /// Round-trip time of the last matched Ping/Pong, in seconds (0.0 before any).
    #[getter]
    fn latency(&self) -> f64 {
        self.session.latency().map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }

    /// The close code once the connection is closed, else None.
    #[getter]
    fn close_code(&self) -> Option<u16> {
        self.session.close_reason_now().map(|r| r.code)
    }

    /// The close reason once the connection is closed, else None.
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.session.close_reason_now().map(|r| r.reason)
    }

    /// The upgrade request (path, headers, ...).
    #[getter]
    fn request(&self, py: Python<'_>) -> PyResult<Py<PyRequest>> {
        self.request_object(py)
    }

    /// The upgrade request (Ktor's `call`).
    #[getter]
    fn call(&self, py: Python<'_>) -> PyResult<Py<PyRequest>> {
        self.request_object(py)
    }

    /// The peer's (host, port).
    #[getter]
    fn remote_address(&self) -> (String, u16) {
        addr_tuple(&self.session.request().remote_addr)
    }

    /// Our (host, port).
    #[getter]
    fn local_address(&self) -> (String, u16) {
        addr_tuple(&self.session.request().local_addr)
    }

    /// The negotiated subprotocol, or None.
    #[getter]
    fn subprotocol(&self) -> Option<String> {
        self.session.request().subprotocol.clone()
    }

    /// A unique identifier of the connection (a random `uuid.UUID`, as websockets'), for logs.
    #[getter]
    fn id(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let id =
            self.uuid.get_or_try_init(py, || Ok::<_, PyErr>(py.import("uuid")?.call_method0("uuid4")?.unbind()))?;
        Ok(id.clone_ref(py))
    }

    /// The engine's session number, unique within the process (what `id` was before it became a UUID).
    #[getter]
    fn session_id(&self) -> u64 {
        self.session.id()
    }

    /// The logger of this connection: the server's logger with ``{"websocket": connection}`` as extra.
    #[getter]
    fn logger(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(bridge::types(slf.py())?.getattr("connection_logger")?.call1((slf,))?.unbind())
    }

    /// The handshake response the connection was opened with (websockets' ``Response``: 101, headers).
    #[getter]
    fn response(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(bridge::types(slf.py())?.getattr("handshake_response")?.call1((slf,))?.unbind())
    }

    /// The connection state: a `wssession.State` (CONNECTING, OPEN, CLOSING, CLOSED).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let n = self.session.state() as u8;
        Ok(bridge::types(py)?.getattr("State")?.call1((n,))?.unbind())
    }

    // ---- Ktor session members ----

    /// The incoming messages as Frame objects (an async iterator; ends at a clean close).
    #[getter]
    fn incoming(slf: &Bound<'_, Self>) -> Incoming {
        Incoming { conn: slf.clone().unbind() }
    }

    /// The send side as an object: ``send(frame)``, ``try_send(frame)``, ``close()``.
    #[getter]
    fn outgoing(slf: &Bound<'_, Self>) -> Outgoing {
        Outgoing { conn: slf.clone().unbind() }
    }

    /// Waits until every frame queued so far has been written to the socket.
    fn flush(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let s = self.session.clone();
        Ok(crate::bridge::future_into_py(py, async move { errors::map(s.flush().await) })?.unbind())
    }

    /// Aborts now: no Close frame, the socket is shut, the close code is 1006.
    fn terminate(&self) {
        self.session.terminate();
    }

    /// An awaitable resolving with the CloseReason when the session ends (Ktor's `closeReason`).
    #[getter]
    fn close_reason_future(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.wait_closed(py)
    }

    /// Queues a message without waiting: "sent", "buffered" (over the high-water mark) or "dropped".
    fn try_send<'py>(&self, py: Python<'py>, message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
        let outcome = |r: TrySend| match r {
            TrySend::Sent => pyo3::intern!(py, "sent").clone(),
            TrySend::Buffered => pyo3::intern!(py, "buffered").clone(),
            TrySend::Dropped => pyo3::intern!(py, "dropped").clone(),
        };
        // One frame (the callback handler's echo): no list of frames.
        if let Ok(f) = message.cast::<PyFrame>() {
            return Ok(outcome(self.session.try_send(f.get().inner.clone()).map_err(|e| errors::to_py(py, e))?));
        }
        let mut last = TrySend::Sent;
        for f in frames_from(message)? {
            last = self.session.try_send(f).map_err(|e| errors::to_py(py, e))?;
            if last == TrySend::Dropped {
                break;
            }
        }
        Ok(outcome(last))
    }

    /// Whether outgoing frames are masked (off by default; browsers reject masked server frames).
    #[getter]
    fn get_masking(&self) -> bool {
        self.session.masking()
    }

    #[setter]
    fn set_masking(&self, on: &Bound<'_, PyAny>) -> PyResult<()> {
        let on: bool = on.extract().map_err(|_| type_error("masking", "a bool", on))?;
        self.session.set_masking(on);
        Ok(())
    }

    /// Limit in bytes on a frame, a message and an inflated message.
    #[getter]
    fn get_max_frame_size(&self) -> usize {
        self.session.max_frame_size()
    }

    #[setter]
    fn set_max_frame_size(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = int_arg("max_frame_size", v, 1, i64::MAX)?;
        errors::map(self.session.set_max_frame_size(v as usize))
    }

    /// Pinger period in milliseconds (0 = off); setting it restarts the pinger.
    #[getter]
    fn get_ping_interval_millis(&self) -> u64 {
        self.session.ping_interval_ms()
    }

    #[setter]
    fn set_ping_interval_millis(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.session.set_ping_interval_ms(int_arg("ping_interval_millis", v, 0, i64::MAX)? as u64);
        Ok(())
    }

    /// Pinger period in seconds (None = off); setting it restarts the pinger.
    #[getter]
    fn get_ping_interval(&self) -> Option<f64> {
        seconds(self.session.ping_interval_ms())
    }

    #[setter]
    fn set_ping_interval(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.session.set_ping_interval_ms(millis("ping_interval", v, 0)?);
        Ok(())
    }

    /// How long the pinger waits for the Pong, in milliseconds.
    #[getter]
    fn get_timeout_millis(&self) -> u64 {
        self.session.timeout_ms()
    }

    #[setter]
    fn set_timeout_millis(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        errors::map(self.session.set_timeout_ms(int_arg("timeout_millis", v, 1, i64::MAX)? as u64))
    }

    /// How long the pinger waits for the Pong, in seconds.
    #[getter]
    fn get_timeout(&self) -> Option<f64> {
        seconds(self.session.timeout_ms())
    }

    #[setter]
    fn set_timeout(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let ms = millis("timeout", v, 1 << 40)?;
        if ms == 0 {
            return Err(PyValueError::new_err("timeout must be > 0"));
        }
        errors::map(self.session.set_timeout_ms(ms))
    }

    /// Bound on the closing handshake, in seconds.
    #[getter]
    fn get_close_timeout(&self) -> Option<f64> {
        seconds(self.session.close_timeout_ms())
    }

    #[setter]
    fn set_close_timeout(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.session.set_close_timeout_ms(millis("close_timeout", v, 1 << 40)?);
        Ok(())
    }

    /// Bound on the closing handshake, in milliseconds.
    #[getter]
    fn get_close_timeout_millis(&self) -> u64 {
        self.session.close_timeout_ms()
    }

    #[setter]
    fn set_close_timeout_millis(&self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.session.set_close_timeout_ms(int_arg("close_timeout_millis", v, 0, i64::MAX)? as u64);
        Ok(())
    }

    /// Bytes queued for writing and not yet handed to the socket.
    #[getter]
    fn buffered_amount(&self) -> usize {
        self.session.buffered_amount()
    }

    /// The server that accepted this connection (Ktor's `application`).
    #[getter]
    fn server(&self, py: Python<'_>) -> Py<PyAny> {
        self.server.as_ref().map(|s| s.clone_ref(py)).unwrap_or_else(|| py.None())
    }

    /// The server that accepted this connection (alias of ``server``).
    #[getter]
    fn application(&self, py: Python<'_>) -> Py<PyAny> {
        self.server(py)
    }

    /// The converter of send_serialized/receive_deserialized: an object with ``dumps`` and ``loads``
    /// (JSON by default), or None.
    #[getter]
    fn get_converter(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.converter_obj(py)
    }

    #[setter]
    fn set_converter(&self, c: &Bound<'_, PyAny>) -> PyResult<()> {
        let new = if c.is_none() {
            Converter::Disabled
        } else if c.hasattr("dumps")? && c.hasattr("loads")? {
            Converter::Custom(c.clone().unbind())
        } else {
            return Err(type_error("converter", "an object with dumps() and loads(), or None", c));
        };
        *self.converter.lock().unwrap() = new;
        Ok(())
    }

    /// Encodes ``obj`` with the converter (str → Text, bytes → Binary) and sends it.
    fn send_serialized(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Some(conv) = self.converter_obj(py)? else {
            return Err(errors::to_py(py, Error::NoConverter));
        };
        let data = conv.bind(py).call_method1("dumps", (obj,))?;
        let (bytes, text) =
            bytes_like(&data)?.ok_or_else(|| type_error("the converter's dumps() result", "str or bytes", &data))?;
        self.send_frames(py, vec![data_frame(bytes, text)])
    }

    /// Receives the next message and decodes it with the converter; DeserializeError carries the frame.
    fn receive_deserialized(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        if slf.get().converter_obj(slf.py())?.is_none() {
            return Err(errors::to_py(slf.py(), Error::NoConverter));
        }
        Self::recv_await(slf, Mode::Deserialize)
    }

    /// Traffic counters: messages_in, bytes_in, messages_out, bytes_out.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.session.stats();
        let d = PyDict::new(py);
        d.set_item("messages_in", s.messages_in)?;
        d.set_item("bytes_in", s.bytes_in)?;
        d.set_item("messages_out", s.messages_out)?;
        d.set_item("bytes_out", s.bytes_out)?;
        Ok(d)
    }

    // ---- topics (SPEC §14) ----

    /// Subscribes to ``topic``: True if newly subscribed, False if it already was.
    fn subscribe(&self, py: Python<'_>, topic: &str) -> PyResult<bool> {
        self.session.subscribe(topic).map_err(|e| errors::to_py(py, e))
    }

    /// Unsubscribes from ``topic``: False if it was not subscribed.
    fn unsubscribe(&self, topic: &str) -> bool {
        self.session.unsubscribe(topic)
    }

    /// Whether the connection is subscribed to ``topic``.
    fn is_subscribed(&self, topic: &str) -> bool {
        self.session.is_subscribed(topic)
    }

    /// The topics the connection is subscribed to, sorted (none once it is closed).
    fn subscriptions(&self) -> Vec<String> {
        self.session.subscriptions()
    }

    /// Publishes ``message`` to every subscriber of ``topic`` but this connection, without waiting.
    #[pyo3(signature = (topic, message, text=None))]
    fn publish(&self, topic: &str, message: &Bound<'_, PyAny>, text: Option<bool>) -> PyResult<PyPublished> {
        let session = &self.session;
        crate::topics::publish(message, text, |data, text| session.publish(topic, data, text, None))
    }

    /// Publishes through a Redis history to every subscriber of ``topic`` but this connection;
    /// resolves with the message's `Position` once the broker placed it.
    #[pyo3(signature = (topic, message, text=None))]
    fn publish_positioned<'py>(
        &self,
        topic: String,
        message: &Bound<'py, PyAny>,
        text: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let session = self.session.clone();
        crate::positions::publish_positioned(message, text, |data, text| async move {
            session.publish_positioned(&topic, &data, text, None).await
        })
    }

    /// Subscribes to ``topic`` after first sending every message published after ``since`` (a
    /// `Position` or its str), in order, none missing or repeated; resolves with the last one's
    /// position (None when the topic has no history yet). RecoveryError (``reason``) when that is
    /// impossible: the connection is then not subscribed.
    fn subscribe_from<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        since: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let since = crate::positions::position_arg(since)?;
        let session = self.session.clone();
        crate::bridge::future_into_py(py, async move {
            errors::map(session.subscribe_from(&topic, since).await).map(|p| p.map(crate::positions::PyPosition))
        })
    }

    /// Stops reading the socket (TCP backpressure) until ``resume()``.
    fn pause(&self) {
        self.session.pause();
    }

    /// Resumes reading after ``pause()``.
    fn resume(&self) {
        self.session.resume();
    }

    /// With ``serve(host_loop=True)``: the running loop starts (or resumes) watching the socket;
    /// False for a connection the engine reads, or whose reads are over.
    fn _host_watch(slf: &Bound<'_, Self>) -> PyResult<bool> {
        crate::hostloop::watch(slf)
    }

    /// The loop's reader callback (``host_loop=True``): reads and delivers what the socket holds.
    fn _host_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        crate::hostloop::read(slf)
    }

    /// What the accept hook handed over (attributes set on the connection in process_request).
    #[getter]
    fn _handshake_state(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let a = self.session.attachment()?;
        a.downcast_ref::<Py<PyAny>>().map(|p| p.clone_ref(py))
    }

    /// Marks a fragmented message from an async iterable as in progress (or done): meanwhile `send`
    /// waits for it, as websockets' does.
    fn _fragmenting(&self, on: bool) {
        self.fragmenting.store(on, Ordering::Release);
    }

    /// Reports the Python handler's outcome (None: returned → 1000; a message: raised → 1011).
    #[pyo3(signature = (error=None))]
    fn _handler_done(&self, error: Option<String>) {
        if let Some(tx) = self.done.lock().unwrap().take() {
            let _ = tx.send(error.map_or(Ok(()), Err));
        }
    }

    fn __repr__(&self) -> String {
        format!("<ServerConnection id={} {:?}>", self.session.id(), self.session.state())
    }
}

/// A pending receive; awaiting it never blocks the loop and drains many messages per wake-up.
/// (The Python object is made by `awaitable`, which gives it the `am_send` slot.)
pub struct RecvAwait {
    conn: Py<Connection>,
    mode: Mode,
    iter: Option<Py<PyAny>>,
    /// The waiter this receive is parked on (yielded to the task).
    parked: Option<Py<wake::Waiter>>,
    /// This receive holds the connection's `busy` flag.
    owner: bool,
}

impl Drop for RecvAwait {
    fn drop(&mut self) {
        self.release();
    }
}

impl RecvAwait {
    fn release(&mut self) {
        if std::mem::take(&mut self.owner) {
            self.conn.get().inbox.busy.store(false, Ordering::Release);
        }
    }

    fn step(&mut self, py: Python<'_>) -> PyResult<Step> {
        // Resumed after the parked future completed (the task only resumes a receive then; a
        // cancellation comes through `throw`).
        self.parked = None;
        loop {
            if let Some(it) = &self.iter {
                match it.bind(py).call_method0(pyo3::intern!(py, "__next__")) {
                    Ok(v) => return Ok(Step::Yield(v.unbind())),
                    Err(e) if e.is_instance_of::<PyStopIteration>(py) => self.iter = None,
                    Err(e) => return Err(e),
                }
            }
            let conn = self.conn.get();
            if !self.owner && conn.inbox.busy.load(Ordering::Acquire) {
                return Err(errors::err(
                    py,
                    "ConcurrencyError",
                    "cannot call recv while another coroutine is already waiting for the next message",
                ));
            }
            match conn.take(self.mode == Mode::Piece) {
                Err(MidStream) => {
                    return Err(errors::err(
                        py,
                        "ConcurrencyError",
                        "cannot call recv while recv_streaming has not yet returned the last frame of a message",
                    ));
                }
                Ok(Some(Ok(frame))) => return Ok(Step::Return(self.deliver(py, frame)?)),
                Ok(Some(Err(end))) => return Err(self.ended(py, end)),
                Ok(None) => {
                    if !self.owner {
                        conn.inbox.busy.store(true, Ordering::Release);
                        self.owner = true;
                    }
                    if conn.waker.is_none() {
                        let fut = conn.fill(py)?;
                        self.iter = Some(fut.call_method0(pyo3::intern!(py, "__await__"))?.unbind());
                        continue;
                    }
                    let Some(waiter) = conn.park(py)? else { continue };
                    self.parked = Some(waiter.clone_ref(py));
                    return Ok(Step::Yield(waiter.into_any()));
                }
            }
        }
    }

    fn deliver(&self, py: Python<'_>, frame: Frame) -> PyResult<Py<PyAny>> {
        let text = frame.kind == FrameType::Text;
        let as_text = |data: &Bytes| -> PyResult<Py<PyAny>> {
            match std::str::from_utf8(data) {
                Ok(s) => Ok(PyString::new(py, s).into_any().unbind()),
                Err(e) => Err(PyValueError::new_err(format!("message is not valid UTF-8: {e}"))),
            }
        };
        match self.mode {
            Mode::Message(Some(true)) => as_text(&frame.data),
            Mode::Message(Some(false)) => Ok(PyBytes::new(py, &frame.data).into_any().unbind()),
            Mode::Message(None) | Mode::Iterate => {
                if text {
                    as_text(&frame.data)
                } else {
                    Ok(PyBytes::new(py, &frame.data).into_any().unbind())
                }
            }
            Mode::Frames | Mode::Frame => Ok(Py::new(py, PyFrame::from(frame))?.into_any()),
            Mode::Piece => Ok((PyBytes::new(py, &frame.data), text, frame.fin).into_pyobject(py)?.into_any().unbind()),
            Mode::Deserialize => {
                let conn = self.conn.get();
                let Some(conv) = conn.converter_obj(py)? else {
                    return Err(errors::to_py(py, Error::NoConverter));
                };
                let arg = if text { as_text(&frame.data)? } else { PyBytes::new(py, &frame.data).into_any().unbind() };
                match conv.bind(py).call_method1("loads", (arg,)) {
                    Ok(v) => Ok(v.unbind()),
                    Err(e) => {
                        let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                        let out = errors::to_py(py, Error::Deserialize { frame: Box::new(frame), message: msg });
                        out.set_cause(py, Some(e));
                        Err(out)
                    }
                }
            }
        }
    }

    fn ended(&self, py: Python<'_>, end: End) -> PyErr {
        let closed = errors::connection_closed(py, Some(&end.reason));
        match self.mode {
            Mode::Iterate => {
                let ok = errors::class(py, "ConnectionClosedOK").map(|c| closed.is_instance(py, &c)).unwrap_or(false);
                if ok { PyStopAsyncIteration::new_err(()) } else { closed }
            }
            Mode::Frames if end.clean => PyStopAsyncIteration::new_err(()),
            _ => closed,
        }
    }
}

impl RecvAwait {
    /// One step for the awaiting coroutine (`send`/`__next__`); a finished receive drops its claim.
    pub(crate) fn next(&mut self, py: Python<'_>) -> PyResult<Step> {
        let r = self.step(py);
        if !matches!(r, Ok(Step::Yield(_))) {
            // Done: delivered, ended or failed.
            self.release();
        }
        r
    }

    /// Abandons the receive and raises the exception in `args` (a waiting fallback passes it on).
    pub(crate) fn throw(&mut self, py: Python<'_>, args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<Py<PyAny>> {
        self.abandon();
        match self.iter.take() {
            Some(it) => Ok(it.bind(py).call_method1("throw", args)?.unbind()),
            None => {
                let exc = args.get_item(0)?;
                Err(PyErr::from_value(if exc.is_instance_of::<pyo3::types::PyType>() { exc.call0()? } else { exc }))
            }
        }
    }

    /// Gives up the receive (`close`, or before `throw`): the connection can be received from again.
    pub(crate) fn abandon(&mut self) {
        self.release();
        self.parked = None;
    }
}

/// The incoming messages as Frame objects (Ktor's `incoming`).
#[pyclass(module = "wssession._wssession", frozen)]
pub struct Incoming {
    conn: Py<Connection>,
}

#[pymethods]
impl Incoming {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Connection::recv_await(self.conn.bind(py), Mode::Frames)
    }

    /// The next message as a Frame; raises ConnectionClosed at the end.
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Connection::recv_await(self.conn.bind(py), Mode::Frame)
    }
}

/// The send side as an object (Ktor's `outgoing`).
#[pyclass(module = "wssession._wssession", frozen)]
pub struct Outgoing {
    conn: Py<Connection>,
}

#[pymethods]
impl Outgoing {
    /// Sends a Frame (or a str/bytes message); waits only while the queue is over its limit.
    fn send(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.conn.get().send_frames(py, frames_from(frame)?)
    }

    /// Queues without waiting: "sent", "buffered" or "dropped".
    fn try_send<'py>(&self, py: Python<'py>, frame: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
        self.conn.get().try_send(py, frame)
    }

    /// Closes the send side: the same as ``close(1000)`` without waiting.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let s = &self.conn.get().session;
        if s.state() != State::Closed {
            s.close(1000, "").map_err(|e| errors::to_py(py, e))?;
        }
        Ok(())
    }
}

/// Seconds as a Duration, for the shutdown grace.
pub fn duration(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.clamp(0.0, 1e9))
}
